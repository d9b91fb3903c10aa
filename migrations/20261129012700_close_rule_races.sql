-- Races an adversarial review found in the renewal rules (each replayed in
-- tests/database/38_rule_races.test.sql where one session can stand for two):
-- * Two reassignments of one customer's cases at once computed the customer's book keys each from
--   its own snapshot; the later commit dropped the other's assignee, who then lost the case's
--   customer. The keys are now computed after the customers are locked.
-- * The daily overdue sweep aborted, with the whole day's jobs, when a desk user closed a case
--   while it ran (the settlement rule refuses a closed case's installments). It now locks the open
--   cases it will touch first and skips any closed meanwhile.
-- * A case could go to an agent being deactivated at that moment: is_active_agent now waits for
--   a change of that profile in flight.
-- * The desk could empty the evidence of a granted consent; a granted consent it touches keeps
--   evidence.

create or replace function private.refresh_customer_book_keys(customer_ids uuid[]) returns void
language plpgsql
set search_path = ''
as $$
begin
  -- The customers first, locked in id order; the keys are then computed by the next statement,
  -- which sees what another transaction changing the same customers committed meanwhile (in one
  -- statement, a reassignment racing another computed from a snapshot without it, and one of the
  -- two assignees lost the customer).
  perform 1 from public.customers cu
   where cu.id = any (customer_ids)
   order by cu.id
     for no key update;
  update public.customers cu
     set book_keys = fresh.book_keys
    from (select distinct x.id from unnest(customer_ids) as x (id)) as changed
    cross join lateral (
      select coalesce(array_agg(distinct k.key order by k.key), '{}') as book_keys
        from (
          select held.key
            from public.policies p
           cross join lateral
                 unnest(array[p.agent_id, '00000000-0000-0000-0000-000000000000'::uuid])
                   as held (key)
           where p.customer_id = changed.id
          union all
          select c.assignee_id
            from public.policies p
            join public.renewal_cases c on c.policy_id = p.id
           where p.customer_id = changed.id
        ) as k
    ) as fresh
   where cu.id = changed.id
     and cu.book_keys is distinct from fresh.book_keys;
end;
$$;


create or replace function private.mark_overdue_installments(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  marked integer;
begin
  -- The open cases with installments falling overdue, locked first: a case the desk closes
  -- meanwhile is seen closed by the update below (a new snapshot) and skipped.
  perform 1 from public.renewal_cases c
   where not private.case_stage_is_final(c.stage)
     and exists (select 1 from public.outstanding_amounts a
                  where a.case_id = c.id and a.status = 'pending'
                    and a.due_date < private.business_date(as_of))
   order by c.id
     for no key update;
  update public.outstanding_amounts a
     set status = 'overdue'
   where a.status = 'pending'
     and a.due_date < private.business_date(as_of)
     and exists (select 1 from public.renewal_cases c
                  where c.id = a.case_id and not private.case_stage_is_final(c.stage));
  get diagnostics marked = row_count;
  return marked;
end;
$$;

create or replace function private.is_active_agent(profile_id uuid) returns boolean
language plpgsql volatile
security definer
set search_path = ''
as $$
begin
  -- Waits for a change of the profile in flight (a deactivation), then reads what it committed.
  perform 1 from public.profiles p where p.id = profile_id for share;
  return exists (
    select 1 from public.profiles p where p.id = profile_id and p.active and p.role = 'agent'
  );
end;
$$;

create or replace function private.tg_consents__require_evidence() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.is_api_caller()
     and new.status = 'granted'
     and (tg_op = 'INSERT' or old.status is distinct from 'granted'
          or old.evidence is distinct from new.evidence)
     and coalesce(new.evidence, '{}') = '{}' then
    raise exception 'a consent granted on the desk needs its evidence: the form, message or call it came from'
      using errcode = '23514';
  end if;
  return new;
end;
$$;
