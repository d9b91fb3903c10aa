-- The cadence's next visits (private.cadence_next_visits, issue 9's speed): a case is visited
-- when new, on its ladder's next step day, the same day again while a step is still owed, and at
-- once when its dates, its policy's line, premium or NCB, the ladder or the settings it reads
-- change, or when a run goes back in time; a closed case and one with no step left drop out; a
-- missed day is caught up; nobody but the cadence reads or writes the table.
begin;
select plan(35);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the cadence test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
-- Lapsed ones would still hear their ladder's steps after expiry: their successors are loaded.
do $$ begin perform tests.load_successors_of_lapsed_cases(); end $$;

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable
as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- A motor (or other) case of its own customer, opted in on WhatsApp; returns the case.
create function pg_temp.make_case(n integer, line public.product_line, due date)
returns uuid
language plpgsql
as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Visit ' || n, '+9197100000' || lpad(n::text, 2, '0'), 'visit' || n || '@tests.py360.test')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  values ('T-VIS-' || n, line, 'Test General', customer, tests.get_user_id('agent_a'), 1200000,
          50000000, due - 365, due, 35)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), due, due)
  returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, due, 1200000);
  insert into public.consents (customer_id, channel, purpose, status, source)
  values (customer, 'whatsapp', 'service', 'granted', 'import');
  return renewal;
end;
$$;

create function pg_temp.run(day date) returns jsonb
language sql
as $$ select jsonb_object_agg(c.outcome, c.cases) from private.run_reminder_cadence(pg_temp.ist(day)) c $$;

create function pg_temp.visit_on(renewal uuid) returns date
language sql stable
as $$ select v.visit_on from private.cadence_next_visits v where v.case_id = renewal $$;

create function pg_temp.messages_of(renewal uuid) returns bigint
language sql stable
as $$ select count(*) from public.messages m where m.case_id = renewal $$;

insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values
  ('renewal_due', 'whatsapp', 'en', 'service',
   'Hello {{customer_name}}, {{policy_number}} expires on {{expiry_date}}. Premium {{premium}}.',
   'renewal_due_en', 'utility', 'approved', 4),
  ('ncb_at_risk', 'whatsapp', 'en', 'service',
   'Hello {{customer_name}}, renew {{policy_number}} by {{ncb_deadline}} to keep your {{ncb_percent}}% NCB.',
   'ncb_at_risk_en', 'utility', 'approved', 4);

create temporary table cases (name text primary key, id uuid);
grant select on cases to public;

-- 1. A new case is visited at once; then on its ladder's next step day, and not before.
insert into cases values ('walk', pg_temp.make_case(1, 'motor', current_date + 100));
select is(pg_temp.visit_on((select id from cases where name = 'walk')), '-infinity'::date,
  'a new case is due for a visit at once');
select is(pg_temp.run(current_date + 30) -> 'queued', '0'::jsonb, '70 days before expiry nothing is due');
select is(pg_temp.visit_on((select id from cases where name = 'walk')), current_date + 40,
  'it comes back on the day of its first step (-60)');
delete from private.cadence_next_visits where case_id = (select id from cases where name = 'walk');
insert into private.cadence_next_visits values ((select id from cases where name = 'walk'), current_date + 40);
select is(pg_temp.run(current_date + 39) -> 'queued', '0'::jsonb, 'the day before, nothing');
select is(pg_temp.run(current_date + 40) -> 'queued', '1'::jsonb, 'on its day, the -60 step');
select is(pg_temp.visit_on((select id from cases where name = 'walk')), current_date + 70,
  'then the -30 step''s day');

-- 2. A missed day is caught up: the next run, days late, sends the latest step only.
select is(pg_temp.run(current_date + 87) -> 'queued', '1'::jsonb,
  'three weeks without a run: one message, the latest step''s');
select is(
  (select tests.cadence_step(m.idempotency_key) from public.messages m
    where m.case_id = (select id from cases where name = 'walk') and m.idempotency_key like 'cadence:%'
    order by m.queued_at desc limit 1),
  -15, 'the -15 step, not the -30 one it skipped');
select is(pg_temp.visit_on((select id from cases where name = 'walk')), current_date + 93,
  'and the case comes back for the -7 step');

-- 3. A case not due for a visit is not looked at: its owed step waits for its visit day.
delete from public.messages
 where case_id = (select id from cases where name = 'walk') and queued_at = pg_temp.ist(current_date + 87);
select is(pg_temp.run(current_date + 88) -> 'queued', '0'::jsonb,
  'a run before its visit day does not look at the case');

-- 4. Re-dated: the next run visits the case at once.
update public.renewal_cases set due_date = current_date + 95, grace_end = current_date + 95
 where id = (select id from cases where name = 'walk');
select is(pg_temp.visit_on((select id from cases where name = 'walk')), '-infinity'::date,
  'a new due date puts the case first');
select is(pg_temp.run(current_date + 89) -> 'queued', '1'::jsonb,
  'and the run visits it: the latest step (-7 of the new date) goes');
update public.renewal_cases set priority = 'high' where id = (select id from cases where name = 'walk');
select isnt(pg_temp.visit_on((select id from cases where name = 'walk')), '-infinity'::date,
  'a change of priority does not');

-- A case moved to another policy is visited again too.
update private.cadence_next_visits set visit_on = current_date + 300
 where case_id = (select id from cases where name = 'walk');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, ncb_percent)
select 'T-VIS-1B', 'motor', 'Test General', c.customer_id, tests.get_user_id('agent_a'), 1200000,
       50000000, current_date + 95 - 365, current_date + 95, 35
  from public.renewal_cases c where c.id = (select id from cases where name = 'walk');
create temporary table first_policy as
  select policy_id as id from public.renewal_cases where id = (select id from cases where name = 'walk');
update public.renewal_cases set policy_id = (select id from public.policies where policy_number = 'T-VIS-1B')
 where id = (select id from cases where name = 'walk');
select is(pg_temp.visit_on((select id from cases where name = 'walk')), '-infinity'::date,
  'a case moved to another policy is visited at the next run');
update public.renewal_cases set policy_id = (select id from first_policy)
 where id = (select id from cases where name = 'walk');
select pg_temp.run(current_date + 89);

-- 5. The policy's premium, line or NCB: visited again; its sum insured: not.
update public.policies set sum_insured = sum_insured + 1
 where id = (select policy_id from public.renewal_cases where id = (select id from cases where name = 'walk'));
select isnt(pg_temp.visit_on((select id from cases where name = 'walk')), '-infinity'::date,
  'a new sum insured does not move the visit');
update public.policies set ncb_percent = 45
 where id = (select policy_id from public.renewal_cases where id = (select id from cases where name = 'walk'));
select is(pg_temp.visit_on((select id from cases where name = 'walk')), '-infinity'::date,
  'a new NCB does');
update public.policies set premium = premium + 100
 where id = (select policy_id from public.renewal_cases where id = (select id from cases where name = 'walk'));
select is(pg_temp.run(current_date + 89) -> 'queued', '0'::jsonb, 'visited again, nothing new is owed');

-- 6. Engaged: the step is owed, the case comes back the same day and the next until it goes.
insert into cases values ('engaged', pg_temp.make_case(2, 'motor', current_date + 120));
insert into public.whatsapp_windows (customer_id, last_inbound_at)
select c.customer_id, pg_temp.ist(current_date + 60, '09:00')
  from public.renewal_cases c where c.id = (select id from cases where name = 'engaged');
select is(pg_temp.run(current_date + 60) -> 'skipped_engaged', '1'::jsonb,
  'the customer who wrote today is left alone');
select is(pg_temp.visit_on((select id from cases where name = 'engaged')), current_date + 60,
  'the owed step keeps the case due');
select is(pg_temp.run(current_date + 62) -> 'queued', '1'::jsonb, 'two days later the step goes');
select is(pg_temp.visit_on((select id from cases where name = 'engaged')), current_date + 90,
  'then the next step''s day');

-- 7. A closed case drops out at its visit; so does one whose ladder is over.
update public.renewal_cases set stage = 'lost', lost_reason = 'Sold the car'
 where id = (select id from cases where name = 'engaged');
select is(pg_temp.run(current_date + 90) -> 'queued', '0'::jsonb, 'a lost case gets nothing');
select is(pg_temp.visit_on((select id from cases where name = 'engaged')), null,
  'and leaves the visits');
insert into cases values ('home', pg_temp.make_case(3, 'home', current_date + 50));
select is(pg_temp.run(current_date + 90) -> 'queued', '1'::jsonb, 'a home case 40 days past expiry: +30');
select is(pg_temp.visit_on((select id from cases where name = 'home')), null,
  'its ladder is over: no next visit');

-- 8. Another ladder: every open case is visited again, and a new step already due goes.
insert into cases values ('ladder', pg_temp.make_case(4, 'motor', current_date + 150));
select is(pg_temp.run(current_date + 91) -> 'queued', '1'::jsonb, 'the -60 step of a new case');
insert into public.reminder_rules (product_line, offset_days, kind, channels, template_code, purpose)
values ('motor', -58, 'message', '{whatsapp}', 'renewal_due', 'service');
select is(pg_temp.run(current_date + 92) -> 'queued', '1'::jsonb,
  'a step added at -58: the next run visits every case and sends it');
select is((select count(*) from private.cadence_next_visits where visit_on <= current_date + 92), 0::bigint,
  'after that run no visit is left due');

-- 9. A setting the ladder reads (the NCB deadline) also means a full visit.
update public.app_settings set value = '45' where key = 'NCB_RETENTION_DAYS';
insert into cases values ('ncb', pg_temp.make_case(6, 'motor', current_date + 40));
select is(pg_temp.run(current_date + 92) -> 'queued', '0'::jsonb,
  'a motor case 52 days past expiry, NCB deadline 45 days: no NCB message');
select is(pg_temp.visit_on((select id from cases where name = 'ncb')), null,
  'its last step (+30) no longer applies: no next visit');
update public.app_settings set value = '120' where key = 'NCB_RETENTION_DAYS';
select is(pg_temp.run(current_date + 92) -> 'queued', '1'::jsonb,
  'a deadline of 120 days: the next run visits every case and the +30 NCB message goes');

-- 10. Back in time (an earlier day replayed): every case is visited as of that day, and no step
-- goes that a case has moved past (20261130203658; before it, the home and NCB cases, opened later
-- than that day, got their -30 steps after their later ones).
select is(pg_temp.run(current_date + 20) -> 'queued', '0'::jsonb,
  'a run 72 days earlier sends nothing: the -30 steps of the home and NCB cases, never sent, are '
  'behind the steps they already had');
select is(pg_temp.visit_on((select id from cases where name = 'ladder')), current_date + 90,
  'and sets the visit to that day''s next step');

-- 11. Bulk loads in replica mode still register new cases; nobody else touches the table.
set local session_replication_role = replica;
insert into cases values ('replica', pg_temp.make_case(5, 'motor', current_date + 200));
reset session_replication_role;
select is(pg_temp.visit_on((select id from cases where name = 'replica')), '-infinity'::date,
  'a case inserted under replica role is due for a visit');
select ok(not has_table_privilege('service_role', 'private.cadence_next_visits', 'select, insert, update, delete')
          and not has_table_privilege('authenticated', 'private.cadence_state', 'select, insert, update, delete'),
  'service_role and signed-in users can neither read nor write the visits or the state');

select * from finish();
rollback;
