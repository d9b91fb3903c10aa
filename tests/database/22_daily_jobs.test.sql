-- The daily jobs with a moved clock: which policies open cases, who gets them, grace and lapse,
-- overdue installments, idempotency, and the pg_cron schedule.
begin;
select plan(30);
select tests.create_test_org();
select tests.create_user('agent_a2', 'agent', 'T_TEAM_A');
select tests.create_user('agent_a3', 'agent', 'T_TEAM_A');
select tests.create_user('agent_gone', 'agent', 'T_TEAM_A');
update public.profiles set active = false where id = tests.get_user_id('agent_gone');

-- The business day of 2030-03-01 09:00 IST; far from the demo book's dates.
create temporary table clock as select '2030-03-01 03:30+00'::timestamptz as as_of;

insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000001', 'Jobs Customer');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, payment_frequency, status)
select number, line::public.product_line, 'Test', 'c0000000-0000-4000-8000-000000000001',
       tests.get_user_id(agent), premium, 100000000, date '2029-03-01', date '2030-03-01' + ends_in,
       frequency::public.payment_frequency, status::public.policy_status
  from (values
    ('T-MOTOR-30', 'motor', 30, 'agent_a', 1200000, 'annual', 'active'),
    ('T-MOTOR-61', 'motor', 61, 'agent_a', 1200000, 'annual', 'active'),
    ('T-HEALTH-60', 'health', 60, 'agent_a', 9000000, 'annual', 'active'),
    ('T-LIFE-89', 'life', 89, 'agent_a', 1000001, 'quarterly', 'active'),
    ('T-LIFE-M-10', 'life', 10, 'agent_a', 1200000, 'monthly', 'active'),
    ('T-HOME-61', 'home', 61, 'agent_a', 500000, 'annual', 'active'),
    ('T-MOTOR-PAST-5', 'motor', -5, 'agent_a', 1200000, 'annual', 'active'),
    ('T-HEALTH-PAST-10', 'health', -10, 'agent_a', 1200000, 'annual', 'active'),
    ('T-CANCELLED', 'motor', 20, 'agent_a', 1200000, 'annual', 'cancelled'),
    ('T-GONE-1', 'motor', 11, 'agent_gone', 1200000, 'annual', 'active'),
    ('T-GONE-2', 'motor', 12, 'agent_gone', 1200000, 'annual', 'active'),
    ('T-GONE-3', 'motor', 13, 'agent_gone', 1200000, 'annual', 'active'),
    ('T-GONE-4', 'motor', 14, 'agent_gone', 1200000, 'annual', 'active')
  ) as p (number, line, ends_in, agent, premium, frequency, status);

create temporary view test_cases as
  select p.policy_number, c.*, pr.full_name as assignee
    from public.renewal_cases c
    join public.policies p on p.id = c.policy_id
    join public.profiles pr on pr.id = c.assignee_id
   where p.policy_number like 'T-%';

select is(private.business_date('2030-03-01 20:00+00'), date '2030-03-02',
  'the business day follows Asia/Kolkata: 20:00 UTC is already the next day');

select is(private.open_renewal_cases((select as_of from clock)), 9,
  'the first run opens nine cases');
select set_eq('select policy_number from test_cases',
  array['T-MOTOR-30', 'T-HEALTH-60', 'T-LIFE-89', 'T-LIFE-M-10', 'T-HEALTH-PAST-10',
        'T-GONE-1', 'T-GONE-2', 'T-GONE-3', 'T-GONE-4'],
  'cases open within each line''s lead days, and in grace; not beyond, not after grace, not for cancelled policies');
select is_empty($$select 1 from test_cases where policy_number in ('T-MOTOR-61', 'T-HOME-61')$$,
  'motor and home open at 60 days, not 61');
select is((select count(*)::int from test_cases where assignee = 'agent_gone'), 0,
  'an inactive agent gets no new cases');
select is(
  (select array_agg(n order by n) from (
     select count(*)::int as n from test_cases where policy_number like 'T-GONE-%' group by assignee) t),
  array[1, 1, 2],
  'their policies go round the three active agents of the branch');
select is((select grace_end - due_date from test_cases where policy_number = 'T-MOTOR-30'), 0,
  'motor has no grace');
select is((select grace_end - due_date from test_cases where policy_number = 'T-HEALTH-60'), 30,
  'health grace comes from GRACE_DAYS');
select is((select grace_end - due_date from test_cases where policy_number = 'T-LIFE-89'), 30,
  'life: 30 days of grace');
select is((select grace_end - due_date from test_cases where policy_number = 'T-LIFE-M-10'), 15,
  'life paid monthly: 15 days');
select is((select priority::text from test_cases where policy_number = 'T-HEALTH-60'), 'high',
  'a high premium opens a high-priority case');
select is((select a.amount from public.outstanding_amounts a join test_cases c on c.id = a.case_id
            where c.policy_number = 'T-LIFE-89'), 250001::bigint,
  'the first installment of a quarterly premium is a quarter, with the odd paisa');
select matches((select case_number from test_cases where policy_number = 'T-MOTOR-30'),
  '^RC-2030-[0-9]{6,}$', 'cases get readable numbers of their opening year');

-- Idempotency: the same day again changes nothing.
create temporary table audit_before as select count(*) as n from public.audit_log;
select is(private.run_daily_renewal_jobs((select as_of from clock)) ->> 'opened', '0',
  'the full run the same day has nothing new to open (it also lapses the demo book''s old cases)');
select is((select stage::text from test_cases where policy_number = 'T-HEALTH-PAST-10'), 'pending_lapse',
  'a case past its due date but in grace is pending lapse');
create temporary table audit_after_first as select count(*) as n from public.audit_log;
select is(private.run_daily_renewal_jobs((select as_of from clock)),
  jsonb_build_object('business_date', '2030-03-01', 'renewed_by_successor', 0, 'reassigned', 0, 'opened', 0,
                     'unassigned', 0, 'pending_lapse', 0, 'lapsed', 0, 'expired', 0, 'overdue', 0),
  'a second run the same day does nothing');
select is((select count(*) from public.audit_log), (select n from audit_after_first),
  'and writes no audit rows');

-- Least loaded first: agent_a now holds five more cases than the others.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
select 'T-GONE-LATE-' || i, 'motor', 'Test', 'c0000000-0000-4000-8000-000000000001',
       tests.get_user_id('agent_gone'), 1200000, 100000000, date '2029-03-01', date '2030-03-20'
  from generate_series(1, 2) i;
select private.open_renewal_cases((select as_of from clock));
select is_empty(
  $$select 1 from test_cases where policy_number like 'T-GONE-LATE-%' and assignee = 'agent_a'$$,
  'a colleague covering for someone who left gets new cases only when least loaded');

-- Moving the clock: expiry, grace, lapse.
update clock set as_of = as_of + interval '31 days';  -- 2030-04-01
select private.run_daily_renewal_jobs((select as_of from clock));
select is((select stage::text from test_cases where policy_number = 'T-MOTOR-30'), 'lapsed',
  'an unpaid motor policy lapses the day after expiry: no grace');
select is((select p.status::text from public.policies p where p.policy_number = 'T-MOTOR-30'), 'lapsed',
  'and its policy is lapsed');
select is((select stage::text from test_cases where policy_number = 'T-LIFE-M-10'), 'lapsed',
  'life paid monthly lapses after 15 days of grace');
select is((select stage::text from test_cases where policy_number = 'T-HEALTH-PAST-10'), 'lapsed',
  'health lapses once its 30 days of grace are over');
select is((select a.status::text from public.outstanding_amounts a join test_cases c on c.id = a.case_id
            where c.policy_number = 'T-MOTOR-30'), 'overdue',
  'an unpaid installment past its due date is overdue');
select is((select stage::text from test_cases where policy_number = 'T-LIFE-89'), 'new',
  'a case not yet due is untouched');
select is((select count(*)::int from test_cases where policy_number in ('T-MOTOR-61', 'T-HOME-61')), 2,
  'policies entering their lead window later get their case then');

update clock set as_of = as_of + interval '60 days';  -- 2030-05-31: life 89 expired on 05-29
select private.run_daily_renewal_jobs((select as_of from clock));
select is((select stage::text from test_cases where policy_number = 'T-LIFE-89'), 'pending_lapse',
  'a life policy past expiry is pending lapse during its 30 days of grace');
select is((select p.status::text from public.policies p where p.policy_number = 'T-LIFE-89'), 'active',
  'and its cover still stands');

select is((select count(*)::int from public.audit_log a join test_cases c on c.id = a.row_id
            where a.table_name = 'renewal_cases' and a.action = 'insert' and a.actor_role = 'system'),
  (select count(*)::int from test_cases),
  'the jobs audit every case they open, as system');
select results_eq(
  $$select a.new_row ->> 'stage' from public.audit_log a
     where a.row_id = (select id from test_cases where policy_number = 'T-MOTOR-30')
       and a.action = 'update' and a.actor_role = 'system' order by a.id$$,
  array['pending_lapse', 'lapsed'],
  'and every stage they move, in order');

select is((select schedule from cron.job where jobname = 'py360-daily-renewal-jobs'), '30 0 * * *',
  'pg_cron runs the jobs daily at 00:30 UTC (06:00 IST)');

select * from finish();
rollback;
