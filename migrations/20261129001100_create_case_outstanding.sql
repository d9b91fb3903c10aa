-- What a case still owes, said once: the API, the stage machine and the jobs all ask this
-- function rather than summing installments their own way.

create function public.case_outstanding(case_id uuid) returns bigint
language sql stable
set search_path = ''
as $$
  select coalesce(sum(o.amount), 0)::bigint
    from public.outstanding_amounts o
   where o.case_id = case_outstanding.case_id
     and o.status in ('pending', 'overdue')
$$;

comment on function public.case_outstanding(uuid) is
  'Paise still owed on a renewal case: the sum of its pending and overdue installments (0 when '
  'settled). Security invoker: a caller who cannot see the case''s installments gets 0.';

revoke execute on function public.case_outstanding(uuid) from public, anon;
grant execute on function public.case_outstanding(uuid) to authenticated, service_role;
