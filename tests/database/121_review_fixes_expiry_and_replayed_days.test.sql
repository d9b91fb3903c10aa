-- Review fixes of 20261130203652, 20261130203658 and 20261130221132: a term never expires before
-- its end date, whatever GRACE_DAYS holds; a cadence day replayed after a later one (or after
-- other replays) sends no step the case's ladder has moved past, while a day run in order still
-- sends its step; a step moved by a day is not sent again, and steps cannot be deleted. (The
-- expiry's re-check of a row another transaction changes while the update waits for it takes two
-- sessions: tests/functions/expiry_race.test.ts.)
begin;
select plan(11);
select tests.create_test_org();

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- 1. A negative grace (an admin's typo, before GRACE_DAYS had a rule: 20261130230500; written
--    past the rule here, as only the table's owner still can).
insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000121', 'Grace Typo');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, payment_frequency, start_date, end_date)
values ('T-RF-HOME', 'home', 'Test', 'c0000000-0000-4000-8000-000000000121',
        tests.get_user_id('agent_a'), 1200000, 100000000, 'annual', date '2033-01-20' - 365, '2033-01-20');
select tests.write_settings_unchecked(
  '{"GRACE_DAYS": {"motor": 0, "health": 30, "life": 30, "life_monthly": 15, "home": -30}}');
select private.expire_ended_terms(pg_temp.ist('2033-01-01'));
select is((select status::text from public.policies where policy_number = 'T-RF-HOME'), 'active',
  'a term 19 days before its end date does not expire, even with a grace of -30 days');
select private.expire_ended_terms(pg_temp.ist('2033-01-21'));
select is((select status::text from public.policies where policy_number = 'T-RF-HOME'), 'expired',
  'it expires the day after its end date');
update public.app_settings set value = value || '{"home": 0}' where key = 'GRACE_DAYS';

-- 2. A case first reached at its -15 step, then the day before replayed.
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('renewal_due', 'whatsapp', 'en', 'service',
   'Hello {{customer_name}}, {{policy_number}} expires on {{expiry_date}}. Premium {{premium}}.',
   'renewal_due_en', 'utility', 'approved', 4)
on conflict do nothing;
create temporary table walked (case_id uuid);
with cu as (
  insert into public.customers (full_name, phone, email)
  values ('Walked Back', '+919710000121', 'walked@tests.py360.test') returning id
), po as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  select 'T-RF-WALK', 'motor', 'Test', cu.id, tests.get_user_id('agent_a'), 1200000, 50000000,
         date '2033-06-01' - 365, '2033-06-01' from cu returning id, customer_id
), ca as (
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  select po.id, po.customer_id, tests.get_user_id('agent_a'), '2033-06-01', '2033-06-01'
    from po returning id, customer_id
), ob as (
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  select ca.id, 1, '2033-06-01', 1200000 from ca
), co as (
  insert into public.consents (customer_id, channel, purpose, status, source)
  select ca.customer_id, 'whatsapp', 'service', 'granted', 'import' from ca
)
insert into walked select id from ca;
create temporary view steps as
  select tests.cadence_step(m.idempotency_key) as offset_days
    from public.messages m
   where m.case_id = (select case_id from walked) and m.idempotency_key like 'cadence:%';

select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 15));
select is((select array_agg(offset_days) from steps), array[-15], 'day -15: the -15 step');
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 16));
select is((select array_agg(offset_days) from steps), array[-15],
  'day -16 replayed after it: no -30 step after the -15 one');
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 15));
select is((select count(*)::integer from steps), 1, 'day -15 again: nothing more');
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 7));
select is((select array_agg(offset_days order by offset_days) from steps), array[-15, -7],
  'the next step still comes on its day');

-- 3. Walking back past every step taken sends nothing either; a later step is never withheld.
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 40));
select is((select array_agg(offset_days order by offset_days) from steps), array[-15, -7],
  'day -40 replayed: the -60 step is long superseded');
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 30));
select is((select array_agg(offset_days order by offset_days) from steps), array[-15, -7],
  'day -30 replayed after day -40: still no -30 step (the guard is against the latest day run)');
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01' - 1));
select is((select array_agg(offset_days order by offset_days) from steps), array[-15, -7, -1],
  'and the -1 step comes on its day after the replay');

-- 4. An admin moves the -1 step to -2 (the day after it went): it is not sent again; and a
--    step cannot be deleted (and created again under a new id), only switched off.
update public.reminder_rules set offset_days = -2
 where product_line = 'motor' and kind = 'message' and offset_days = -1;
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2033-06-01'));
select is((select array_agg(offset_days order by offset_days) from steps), array[-15, -7, -2],
  'the step moved a day is the same step: not sent again');
select tests.authenticate_as('admin');
select throws_ok($$delete from public.reminder_rules where product_line = 'motor' and offset_days = -2$$,
  '42501', null, 'an admin cannot delete a step, only deactivate it');
reset role;

select * from finish();
rollback;
