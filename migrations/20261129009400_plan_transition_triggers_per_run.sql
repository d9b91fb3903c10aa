-- The daily jobs' first run over a large book never finished. Each run now starts with updates
-- that usually change no rows (terms renewed by a successor, orphaned cases); they fire the
-- statement triggers that pair old and new transition rows, and PL/pgSQL keeps those triggers'
-- plans for the session, planned for empty transition tables. The later updates of the same run
-- (38,000 lapses at 1,000,000 policies) then paired every row with every row: 263 s instead of
-- 21.7 s at 300,000 policies, unfinished after 30 minutes at 1,000,000 (bench/renewals.ts).
-- The pairing statements now run through `execute`, planned for the rows they get each time, and
-- the successor step skips its updates when no term names a predecessor.

create or replace function private.renew_succeeded_terms(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  renewed integer;
begin
  if not exists (select 1 from public.policies s where s.renewed_from_policy_id is not null) then
    return 0;
  end if;
  perform set_config('py360.as_of', as_of::text, true);
  update public.outstanding_amounts a
     set status = 'waived',
         reason = 'Renewed: successor term ' || s.policy_number || ' loaded'
    from public.renewal_cases c
    join public.policies s on s.renewed_from_policy_id = c.policy_id
   where a.case_id = c.id
     and a.status in ('pending', 'overdue')
     and not private.case_stage_is_final(c.stage);

  update public.policies p
     set status = 'renewed'
   where p.status in ('active', 'expired')
     and exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  get diagnostics renewed = row_count;
  return renewed;
end;
$$;

-- The statement triggers that pair transition rows, planned on every run (execute).
create or replace function private.tg__audit() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := (select auth.uid());
  actor_role text := coalesce((select auth.role()), 'system');
begin
  if tg_op = 'INSERT' then
    insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, new_row)
    select tg_table_name, n.id, 'insert', actor, actor_role, to_jsonb(n) from new_rows n;
  elsif tg_op = 'UPDATE' then
    execute $q$
      insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, old_row, new_row)
      select $1, n.id, 'update', $2, $3, to_jsonb(o), to_jsonb(n)
        from new_rows n
        join old_rows o on o.id = n.id
       where to_jsonb(n) - 'updated_at' is distinct from to_jsonb(o) - 'updated_at'$q$
      using tg_table_name, actor, actor_role;
  else
    insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, old_row)
    select tg_table_name, o.id, 'delete', actor, actor_role, to_jsonb(o) from old_rows o;
  end if;
  return null;
end;
$$;

create or replace function private.tg_outstanding_amounts__renew_settled_cases() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute $q$
    update public.renewal_cases c
       set stage = 'renewed'
     where c.id in (select n.case_id from new_rows n where n.status in ('paid', 'waived'))
       and not private.case_stage_is_final(c.stage)
       and not exists (
         select 1 from public.outstanding_amounts a
          where a.case_id = c.id and a.status in ('pending', 'overdue')
       )$q$;
  return null;
end;
$$;

create or replace function private.tg_renewal_cases__settle_policies() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute $q$
    update public.policies p
       set status = case n.stage when 'renewed' then 'renewed' else 'lapsed' end::public.policy_status
      from new_rows n
      join old_rows o on o.id = n.id
     where p.id = n.policy_id
       and n.stage is distinct from o.stage
       and n.stage in ('renewed', 'lapsed')
       and p.status = 'active'$q$;
  return null;
end;
$$;
