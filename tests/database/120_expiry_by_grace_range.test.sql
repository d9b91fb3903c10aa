-- Expiry of ended terms (private.expire_ended_terms, read per line and frequency since
-- 20261130192757): a term without a case expires once its own grace is over, by its line and
-- payment frequency (GRACE_DAYS: motor 0, health 30, life 30, life paid monthly 15); a term with a
-- case never expires that way; a lost case's term expires after its end date and not before.
begin;
select plan(12);
select tests.create_test_org();

-- 2032-03-01 09:00 IST: the business date is 2032-03-01.
create temporary table clock as select '2032-03-01 03:30+00'::timestamptz as as_of;
insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000120', 'Expiry Customer');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, payment_frequency, start_date, end_date)
select number, line::public.product_line, 'Test', 'c0000000-0000-4000-8000-000000000120',
       tests.get_user_id('agent_a'), 1200000, 100000000, frequency::public.payment_frequency,
       date '2032-03-01' - ended_ago - 365, date '2032-03-01' - ended_ago
  from (values
    ('T-EX-LIFE-M-16', 'life', 'monthly', 16),
    ('T-EX-LIFE-M-15', 'life', 'monthly', 15),
    ('T-EX-LIFE-A-16', 'life', 'annual', 16),
    ('T-EX-LIFE-A-31', 'life', 'annual', 31),
    ('T-EX-HEALTH-Q-31', 'health', 'quarterly', 31),
    ('T-EX-HEALTH-Q-30', 'health', 'quarterly', 30),
    ('T-EX-MOTOR-1', 'motor', 'annual', 1),
    ('T-EX-MOTOR-0', 'motor', 'annual', 0),
    ('T-EX-CASED-40', 'life', 'annual', 40),
    ('T-EX-LOST-1', 'health', 'annual', 1),
    ('T-EX-LOST-FUTURE', 'health', 'annual', -5)
  ) as p (number, line, frequency, ended_ago);
-- Cases of their own: one still open long past its grace, two lost.
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end, stage, lost_reason)
select p.id, p.customer_id, p.agent_id, p.end_date, p.end_date + 30,
       case when p.policy_number like 'T-EX-LOST%' then 'lost' else 'new' end::public.case_stage,
       case when p.policy_number like 'T-EX-LOST%' then 'Renewed with another insurer' end
  from public.policies p where p.policy_number in ('T-EX-CASED-40', 'T-EX-LOST-1', 'T-EX-LOST-FUTURE');

create temporary view ex as
  select p.policy_number, p.status::text as status from public.policies p where p.policy_number like 'T-EX-%';

create temporary table first_run as select private.expire_ended_terms((select as_of from clock)) as expired;
select is((select count(*)::integer from ex where status = 'expired'), 5, 'five of these terms expire');
select is((select status from ex where policy_number = 'T-EX-LIFE-M-16'), 'expired',
  'life paid monthly: 16 days after its end, past its 15 days of grace');
select is((select status from ex where policy_number = 'T-EX-LIFE-M-15'), 'active',
  'and not on the last day of its grace');
select is((select status from ex where policy_number = 'T-EX-LIFE-A-16'), 'active',
  'life paid yearly has 30 days of grace: 16 days after its end it is still active');
select is((select status from ex where policy_number = 'T-EX-LIFE-A-31'), 'expired',
  'and expires 31 days after');
select is((select status from ex where policy_number = 'T-EX-HEALTH-Q-31'), 'expired',
  'health paid quarterly: 30 days of grace, whatever the frequency');
select is((select status from ex where policy_number = 'T-EX-HEALTH-Q-30'), 'active',
  'still active on the last day of its grace');
select is((select status from ex where policy_number = 'T-EX-MOTOR-1'), 'expired',
  'motor has no grace: expired the day after its end');
select is((select status from ex where policy_number = 'T-EX-MOTOR-0'), 'active',
  'and active on its last day');
select is((select status from ex where policy_number = 'T-EX-CASED-40'), 'active',
  'a term with an open case does not expire for want of a case, however long ago it ended');
select is((select array_agg(status order by policy_number) from ex where policy_number like 'T-EX-LOST%'),
  array['expired', 'active'],
  'a lost case''s term expires after its end date, and keeps its cover until then');
select is(private.expire_ended_terms((select as_of from clock)), 0, 'a second run expires nothing');

select * from finish();
rollback;
