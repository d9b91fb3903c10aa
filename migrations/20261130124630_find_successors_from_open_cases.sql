-- The daily jobs' successor step (private.renew_succeeded_terms, 20261129009400) looked for the
-- open cases whose term a successor renews with a merge join that walked the whole index on
-- policies.renewed_from_policy_id, fetching every term of the book from the heap: on a regular day
-- at 1,000,000 policies (2.1 M terms with their history) it took 2.9 s to find that no case had a
-- successor, the larger part of the step's 4.1 s, itself about a third of the day's jobs. It now
-- asks the index once per open case (a lateral look-up, 221,671 probes: 0.9 - 1.0 s), and runs
-- without JIT like the jobs that call it. Measured on that book (bench/renewals.ts's, quiet
-- 2-core machine), the regular day rolled back and run again: the step 1.9 - 3.3 s against 4.1 s,
-- the day's jobs 10.0 - 10.4 s against 10.6 - 11.6 s. What it does is unchanged: the open
-- installments of an open case whose term has a successor are waived, then every active or
-- expired term with a successor is marked renewed (a hash semi-join over the book, about 1 s:
-- which terms gained a successor is not recorded anywhere cheaper).

create or replace function private.renew_succeeded_terms(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
set jit = off
as $$
declare
  renewed integer;
begin
  if not exists (select 1 from public.policies s where s.renewed_from_policy_id is not null) then
    return 0;
  end if;
  perform set_config('py360.as_of', as_of::text, true);
  with succeeded as materialized (
    -- The open cases whose term a successor renews: the index on renewed_from_policy_id asked
    -- once per open case.
    select c.id as case_id, s.policy_number
      from public.renewal_cases c
     cross join lateral (
       select s.policy_number from public.policies s
        where s.renewed_from_policy_id = c.policy_id
        limit 1
     ) s
     where not private.case_stage_is_final(c.stage)
  )
  update public.outstanding_amounts a
     set status = 'waived',
         reason = 'Renewed: successor term ' || x.policy_number || ' loaded'
    from succeeded x
   where a.case_id = x.case_id
     and a.status in ('pending', 'overdue');

  update public.policies p
     set status = 'renewed'
   where p.status in ('active', 'expired')
     and exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  get diagnostics renewed = row_count;
  return renewed;
end;
$$;
