-- Agent tasks (issue 9): the cadence's -15 call task opened for high-value policies only, once;
-- private.escalate_overdue_tasks moving a task past its SLA to the nearest manager above, then
-- the next one up, recorded in audit_log; a task done in time not escalated; who sees and who
-- updates a task, and how.
begin;
select plan(27);
select tests.create_test_book();
-- Only this file's cases are open (the test book's and any seed's are closed).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the tasks test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable
as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- A motor case of a customer of its own, held by the agent; returns the case.
create function pg_temp.make_case(n integer, agent text, premium bigint) returns uuid
language plpgsql
as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Task ' || n, '+9196000000' || lpad(n::text, 2, '0'), 'task' || n || '@tests.py360.test')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  values ('T-TASK-' || n, 'motor', 'Test General', customer, tests.get_user_id(agent), premium,
          90000000, current_date - 335, current_date + 30)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id(agent), current_date + 30, current_date + 30)
  returning id into renewal;
  return renewal;
end;
$$;

create function pg_temp.escalate(at timestamptz) returns jsonb
language sql
as $$ select jsonb_object_agg(e.outcome, e.tasks) from private.escalate_overdue_tasks(at) e $$;

create temporary table cases (name text, id uuid);
insert into cases values ('high_b', pg_temp.make_case(1, 'agent_b', 6000000)),
                         ('high_a', pg_temp.make_case(2, 'agent_a', 5000000)),
                         ('low_a', pg_temp.make_case(3, 'agent_a', 4999999));
create function pg_temp.task(case_name text) returns public.tasks
language sql stable
as $$ select t.* from public.tasks t join cases c on c.id = t.case_id where c.name = case_name $$;
grant select on cases to authenticated;
grant execute on function pg_temp.task(text) to authenticated;

-- 15 days before expiry (T0): the call step.
select is(
  (select c.cases from private.run_reminder_cadence(pg_temp.ist(current_date + 15)) c
    where c.outcome = 'tasks_opened'),
  2::bigint, 'the -15 step opens a call task for each policy at or above CALL_TASK_MIN_PREMIUM_PAISE');
select is(
  (select (t.assignee_id = tests.get_user_id('agent_b'), t.kind, t.status, t.due_at, t.sla_due_at - t.due_at,
           t.escalation_level)::text
     from pg_temp.task('high_b') t),
  format('(t,call,open,"%s","2 days",0)', pg_temp.ist(current_date + 15)),
  'for the case''s assignee, a call due now, with the step''s SLA (48 hours)');
select is((select count(*)::integer from public.tasks t join cases c on c.id = t.case_id where c.name = 'low_a'),
  0, 'none for a policy below the threshold');
select is(
  (select c.cases from private.run_reminder_cadence(pg_temp.ist(current_date + 16)) c
    where c.outcome = 'tasks_opened'),
  0::bigint, 'the next day opens no second task for the same case and step');
select is((select count(*)::integer from public.tasks t join cases c on c.id = t.case_id), 2,
  'still one task per case');

-- Escalation.
select is(pg_temp.escalate(pg_temp.ist(current_date + 15) + interval '47 hours'),
  '{"at_top": 0, "escalated": 0}'::jsonb, 'nothing escalates within the SLA');
select is(pg_temp.escalate(pg_temp.ist(current_date + 15) + interval '49 hours'),
  '{"at_top": 0, "escalated": 2}'::jsonb, 'past it, both tasks escalate');
select is(
  (select (t.escalation_level, t.escalated_to = tests.get_user_id('branch_b_manager'),
           t.escalated_at = pg_temp.ist(current_date + 15) + interval '49 hours',
           t.sla_due_at = pg_temp.ist(current_date + 15) + interval '97 hours')::text
     from pg_temp.task('high_b') t),
  '(1,t,t,t)', 'agent B''s task to the manager of B''s branch (the nearest above), its SLA restarted');
select is(
  (select (t.escalation_level, t.escalated_to = tests.get_user_id('zone_manager'))::text
     from pg_temp.task('high_a') t),
  '(1,t)', 'agent A''s to the zone manager: the nearest manager above A, past the empty nodes');
select is(pg_temp.escalate(pg_temp.ist(current_date + 15) + interval '96 hours'),
  '{"at_top": 0, "escalated": 0}'::jsonb, 'not again within the new SLA');
select is(pg_temp.escalate(pg_temp.ist(current_date + 15) + interval '98 hours'),
  '{"at_top": 1, "escalated": 1}'::jsonb,
  'at the next breach B''s goes one level up; A''s has nobody above the zone manager');
select is(
  (select (t.escalation_level, t.escalated_to = tests.get_user_id('zone_manager'))::text
     from pg_temp.task('high_b') t),
  '(2,t)', 'B''s task is now with the zone manager, level 2');
select is(
  (select (t.escalation_level, t.escalated_to = tests.get_user_id('zone_manager'))::text
     from pg_temp.task('high_a') t),
  '(1,t)', 'A''s stays where it was');
select is(
  (select array_agg(format('%s %s', a.new_row ->> 'escalation_level',
                           case (a.new_row ->> 'escalated_to')::uuid
                             when tests.get_user_id('branch_b_manager') then 'branch_b_manager'
                             when tests.get_user_id('zone_manager') then 'zone_manager' end) order by a.id)
     from public.audit_log a
    where a.table_name = 'tasks' and a.action = 'update' and a.row_id = (pg_temp.task('high_b')).id),
  array['1 branch_b_manager', '2 zone_manager'],
  'each escalation is recorded: level and to whom (and when, in the row)');

-- Who sees a task: the assignee, the managers above (and whoever holds it), admins.
select is(tests.affected_rows_as('agent_b', 'select 1 from public.tasks'), '1', 'agent B sees their task');
select is(tests.affected_rows_as('agent_a', 'select 1 from public.tasks'), '1', 'agent A sees only theirs');
select is(tests.affected_rows_as('branch_b_manager', 'select 1 from public.tasks'), '1',
  'B''s branch manager sees B''s task only');
select is(tests.affected_rows_as('zone_manager', 'select 1 from public.tasks'), '2', 'the zone manager both');
select is(tests.affected_rows_as('analyst', 'select 1 from public.tasks'), '0', 'an analyst none');

-- The assignee updates status, outcome and snoozed_until, and nothing else.
select is(tests.affected_rows_as('agent_b',
  format('update public.tasks set status = ''done'' where id = %L', (pg_temp.task('high_b')).id)),
  '23514', 'done needs an outcome');
select is(tests.affected_rows_as('agent_a',
  format('update public.tasks set status = ''snoozed'' where id = %L', (pg_temp.task('high_a')).id)),
  '23514', 'snoozed needs snoozed_until');
select is(tests.affected_rows_as('agent_b',
  format('update public.tasks set sla_due_at = now() + interval ''1 year'' where id = %L', (pg_temp.task('high_b')).id)),
  '42501', 'the assignee cannot move the SLA');
select is(tests.affected_rows_as('branch_b_manager',
  format('update public.tasks set status = ''done'', outcome = ''x'' where id = %L', (pg_temp.task('high_b')).id)),
  '0', 'a manager does not close the agent''s task');

select tests.authenticate_as('agent_b');
update public.tasks set status = 'done', outcome = 'Called: renewing this week'
 where id = (pg_temp.task('high_b')).id;
reset role;
select set_config('request.jwt.claims', '', true);
select is((select (t.status, t.done_at is not null)::text from pg_temp.task('high_b') t), '(done,t)',
  'the assignee closes it with an outcome; done_at stamped');
select is(tests.affected_rows_as('agent_b',
  format('update public.tasks set status = ''open'' where id = %L', (pg_temp.task('high_b')).id)),
  '22023', 'a done task stays done');
select is(pg_temp.escalate(pg_temp.ist(current_date + 30)),
  '{"at_top": 1, "escalated": 0}'::jsonb, 'a done task no longer escalates');

-- Only the job escalates.
select tests.authenticate_as('admin');
select throws_ok($$select * from private.escalate_overdue_tasks()$$, '42501', null,
  'not even an admin runs the escalation');
select * from finish();
rollback;
