-- A policy term's whole life in the daily jobs, on a moved clock: terms renewed outside the desk,
-- terms that end lost or not taken, terms loaded too late for a case, and renewals with nobody
-- left to work them.
begin;
select plan(14);
select tests.create_test_org();
select tests.create_user('agent_gone', 'agent', 'T_TEAM_B');
update public.profiles set active = false where id = tests.get_user_id('agent_gone');

-- 2031-06-01 09:00 IST, far from the demo book.
create temporary table clock as select '2031-06-01 03:30+00'::timestamptz as as_of;
insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000027', 'Lifecycle Customer');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
select number, line::public.product_line, 'Test', 'c0000000-0000-4000-8000-000000000027',
       tests.get_user_id(agent), 1200000, 100000000, date '2030-06-01' + ends_in - 365,
       date '2030-06-01' + 365 + ends_in
  from (values
    ('T-LC-SUCCEEDED-OPEN', 'health', 20, 'agent_a'),   -- has a case; successor loaded later
    ('T-LC-SUCCEEDED-NEW', 'motor', 30, 'agent_a'),     -- successor loaded before any case
    ('T-LC-LOST', 'motor', 10, 'agent_a'),              -- the customer goes elsewhere
    ('T-LC-LATE', 'motor', -20, 'agent_a'),             -- loaded 20 days after a graceless expiry
    ('T-LC-LATE-GRACE', 'health', -20, 'agent_a'),      -- loaded in its 30 days of grace
    ('T-LC-ORPHAN', 'motor', 15, 'agent_gone')          -- its agent left; T_TEAM_B has agent_b
  ) as p (number, line, ends_in, agent);
-- The successor of T-LC-SUCCEEDED-NEW is already loaded.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, renewed_from_policy_id)
select 'T-LC-SUCCESSOR-NEW', 'motor', 'Test', customer_id, agent_id, 1300000, 100000000,
       end_date + 1, end_date + 365, id
  from public.policies where policy_number = 'T-LC-SUCCEEDED-NEW';

create temporary view lc as
  select p.policy_number, p.status::text as policy_status, c.stage::text as stage, c.id as case_id
    from public.policies p left join public.renewal_cases c on c.policy_id = p.id
   where p.policy_number like 'T-LC-%';

select private.run_daily_renewal_jobs((select as_of from clock));
select is((select stage from lc where policy_number = 'T-LC-SUCCEEDED-NEW'), null,
  'a term whose successor is already loaded gets no renewal case');
select is((select policy_status from lc where policy_number = 'T-LC-SUCCEEDED-NEW'), 'renewed',
  'and is marked renewed');
select is((select policy_status from lc where policy_number = 'T-LC-LATE'), 'expired',
  'a term loaded after its grace ended expires without a case');
select is((select stage from lc where policy_number = 'T-LC-LATE-GRACE'), 'pending_lapse',
  'one loaded inside its grace gets a case, already pending lapse');
select is((select stage from lc where policy_number = 'T-LC-ORPHAN'), 'new',
  'a term whose agent left opens for a colleague');

-- The customer of T-LC-LOST went elsewhere; the successor of T-LC-SUCCEEDED-OPEN arrives.
update public.renewal_cases set stage = 'lost', lost_reason = 'Renewed with another insurer'
 where id = (select case_id from lc where policy_number = 'T-LC-LOST');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, renewed_from_policy_id)
select 'T-LC-SUCCESSOR-OPEN', 'health', 'Test', customer_id, agent_id, 1300000, 100000000,
       end_date + 1, end_date + 365, id
  from public.policies where policy_number = 'T-LC-SUCCEEDED-OPEN';
select private.run_daily_renewal_jobs((select as_of from clock));
select is((select policy_status from lc where policy_number = 'T-LC-LOST'), 'active',
  'a lost term keeps its cover until its end date');
select results_eq(
  $$select lc.stage, lc.policy_status, a.status::text, a.reason
      from lc join public.outstanding_amounts a on a.case_id = lc.case_id
     where lc.policy_number = 'T-LC-SUCCEEDED-OPEN'$$,
  $$values ('renewed', 'renewed', 'waived', 'Renewed: successor term T-LC-SUCCESSOR-OPEN loaded')$$,
  'a loaded successor renews the open case by settling what it owed, naming the successor');

update clock set as_of = as_of + interval '11 days';
select private.run_daily_renewal_jobs((select as_of from clock));
select is((select policy_status from lc where policy_number = 'T-LC-LOST'), 'expired',
  'the lost term expires the day after its end date');

-- An agent leaves: their open cases go to a colleague of the branch.
select tests.create_user('agent_b2', 'agent', 'T_TEAM_B');
update public.profiles set active = false where id = tests.get_user_id('agent_b');
select private.run_daily_renewal_jobs((select as_of from clock));
select is((select p.full_name from lc join public.renewal_cases c on c.id = lc.case_id
             join public.profiles p on p.id = c.assignee_id where lc.policy_number = 'T-LC-ORPHAN'),
  'agent_b2', 'the open case of an agent who left goes to an active colleague of the branch');

-- Nobody left in the branch: the renewal waits and is counted.
update public.profiles set active = false where id = tests.get_user_id('agent_b2');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('T-LC-NOBODY', 'motor', 'Test', 'c0000000-0000-4000-8000-000000000027',
        tests.get_user_id('agent_gone'), 1200000, 100000000, date '2031-01-01', date '2031-07-01');
select is((private.run_daily_renewal_jobs((select as_of from clock)) ->> 'unassigned')::int, 2,
  'with no active agent left in the branch the new renewal and the open case both wait, counted as unassigned');
select is((select stage from lc where policy_number = 'T-LC-NOBODY'), null,
  'rather than landing on someone who cannot work it');

-- Idempotent, and every transition audited.
select is(private.run_daily_renewal_jobs((select as_of from clock)) - 'business_date' - 'unassigned',
  '{"renewed_by_successor": 0, "reassigned": 0, "opened": 0, "pending_lapse": 0, "lapsed": 0, "expired": 0, "overdue": 0}'::jsonb,
  'the same day again changes nothing');
select is((select count(*)::int from public.policies where policy_number like 'T-LC-%' and status = 'active'
             and end_date < private.business_date((select as_of from clock))
             and not exists (select 1 from public.renewal_cases c where c.policy_id = policies.id
                              and not private.case_stage_is_final(c.stage))),
  0, 'no ended term without an open case is left active');
select is((select count(*)::int from public.audit_log a join lc on lc.case_id = a.row_id
            where a.table_name = 'renewal_cases' and a.action = 'update'
              and a.new_row ->> 'stage' = 'renewed' and a.actor_role = 'system'),
  1, 'the successor renewal is in the audit log, as the system');

select * from finish();
rollback;
