-- A day replayed after the regular day does not change what the regular day sends (issue 9,
-- third review; 20261201032500): the replay re-planned the visits from its day, and the regular
-- day run again then sent a lapsed case's +30 step, whose day had long gone, on top of the step
-- the replay had just sent: two reminders in one real day. A lapsed case past its ladder's last
-- day is now left alone on every visit, as when the visits are chosen.
begin;
select plan(5);
select tests.create_test_org();

create function pg_temp.ist(day date, clock time) returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- A motor policy with a no-claim bonus, due on 2035-03-01, WhatsApp opted in.
with cu as (
  insert into public.customers (full_name, phone, email)
  values ('Replay Lapse', '+919710001381', 'replay.lapse@tests.py360.test') returning id
), po as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  select 'T-138', 'motor', 'Test', cu.id, tests.get_user_id('agent_a'), 1200000, 50000000,
         date '2035-03-01' - 365, '2035-03-01', 35 from cu returning id, customer_id
), rc as (
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  select po.id, po.customer_id, tests.get_user_id('agent_a'), '2035-03-01', '2035-03-01' from po
  returning id
)
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select rc.id, 1, '2035-03-01', 1200000 from rc;
insert into public.consents (customer_id, channel, purpose, status, source)
select id, 'whatsapp', 'service', 'granted', 'import' from public.customers where full_name = 'Replay Lapse';

select private.run_daily_renewal_jobs(pg_temp.ist('2035-03-02', '00:30'));
select is((select stage::text from public.renewal_cases where due_date = '2035-03-01'), 'lapsed',
  'the case lapsed the day after expiry');

create function pg_temp.queued(day date) returns bigint
language sql as $$
  select c.cases from private.run_reminder_cadence(pg_temp.ist(day, '00:45')) c where c.outcome = 'queued'
$$;
-- The regular day, 40 days after expiry (the ladder's last step, +30, ten days gone).
select is(pg_temp.queued('2035-04-10'), 0::bigint, 'the regular day sends nothing: the ladder is over');
select is(pg_temp.queued('2035-03-21'), 1::bigint, 'a replay of day +20 sends that day''s step (+15)');
select is(pg_temp.queued('2035-04-10'), 0::bigint,
  'the regular day run again sends nothing either (it sent the +30, ten days late)');
select is((select array_agg(tests.cadence_step(m.idempotency_key)) from public.messages m
            join public.renewal_cases c on c.id = m.case_id
           where c.due_date = '2035-03-01' and m.idempotency_key like 'cadence:%'),
  array[15], 'one step in all (the lapse notice aside)');

select * from finish();
rollback;
