-- Regression test from review, once a defect (issue 9, agent tasks): a task escalated past its
-- SLA went to a manager (escalated_to, "the new holder") who could not update it: only the
-- assignee could, so the holder's update touched 0 rows and a task they had handled escalated on.
-- Now the holder closes or snoozes it as the assignee does; nobody else may. Each persona tried
-- on an escalated task: the holder and the assignee yes; the managers it passed on its way up,
-- the managers above the holder, a manager of another zone, other agents, an analyst and an admin
-- no (0 rows); the holder neither moves the SLA nor the escalation (42501); a holder no longer an
-- active manager no longer acts. The SLA still runs while snoozed; a done task stays done.
begin;
select plan(28);
select tests.create_test_book();
-- Only this file's cases are open (the test book's and any seed's are closed).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the holders test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
select tests.create_user('other_zone_manager', 'manager', 'T_ZONE2');
select tests.create_user('agent_b2', 'agent', 'T_TEAM_B');

-- A motor case of a customer of its own, held by the agent, with a call task due at `due`
-- (SLA sla_hours); returns the task.
create function pg_temp.make_task(n integer, agent text, due timestamptz, sla_hours integer) returns uuid
language plpgsql
as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
  task uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Holder ' || n, '+9196200000' || lpad(n::text, 2, '0'), 'holder' || n || '@tests.py360.test')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  values ('T-HOLD-' || n, 'motor', 'Test General', customer, tests.get_user_id(agent), 6000000,
          90000000, current_date - 335, current_date + 30)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id(agent), current_date + 30, current_date + 30)
  returning id into renewal;
  insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
  values (renewal, tests.get_user_id(agent), due, sla_hours, due + make_interval(hours => sla_hours))
  returning id into task;
  return task;
end;
$$;

create function pg_temp.escalate(at timestamptz) returns jsonb
language sql
as $$ select jsonb_object_agg(e.outcome, e.tasks) from private.escalate_overdue_tasks(at) e $$;

-- Two tasks of agent B, due at T0: "one" with a 48-hour SLA, "two" with a 1-hour SLA.
create temporary table t0 as select date_trunc('hour', now()) as at;
create temporary table tasks (name text, id uuid);
insert into tasks
select 'one', pg_temp.make_task(1, 'agent_b', (select at from t0), 48)
union all
select 'two', pg_temp.make_task(2, 'agent_b', (select at from t0), 1);
grant select on t0, tasks to authenticated;
create function pg_temp.task(task_name text) returns public.tasks
language sql stable
as $$ select t.* from public.tasks t join tasks n on n.id = t.id where n.name = task_name $$;
grant execute on function pg_temp.task(text) to authenticated;

-- A snooze (or, with an outcome, a close) of the named task, as a statement for affected_rows_as.
create function pg_temp.snooze(task_name text) returns text
language sql stable
as $$
  select format('update public.tasks set status = ''snoozed'', snoozed_until = now() + interval ''1 day''
                  where id = %L', (pg_temp.task(task_name)).id)
$$;
create function pg_temp.close(task_name text, said text) returns text
language sql stable
as $$
  select format('update public.tasks set status = ''done'', outcome = %L where id = %L',
                said, (pg_temp.task(task_name)).id)
$$;

-- "two" escalates twice (branch B's manager, then the zone manager), "one" once.
select pg_temp.escalate((select at from t0) + interval '2 hours');
select pg_temp.escalate((select at from t0) + interval '4 hours');
select pg_temp.escalate((select at from t0) + interval '49 hours');
select is(
  (select array_agg(format('%s %s %s', n.name, t.escalation_level,
                           case t.escalated_to
                             when tests.get_user_id('branch_b_manager') then 'branch_b_manager'
                             when tests.get_user_id('zone_manager') then 'zone_manager' end)
                    order by n.name)
     from tasks n join public.tasks t on t.id = n.id),
  array['one 1 branch_b_manager', 'two 2 zone_manager'],
  'set-up: "one" is held by branch B''s manager (level 1), "two" by the zone manager (level 2)');

-- "one", held by branch B's manager: who may snooze it.
select is(tests.affected_rows_as('branch_b_manager', pg_temp.snooze('one')), '1',
  'the holder (branch B''s manager) may snooze it');
select is(tests.affected_rows_as('branch_b_manager', pg_temp.close('one', 'Called: paying today')), '1',
  'and close it with an outcome');
select is(tests.affected_rows_as('agent_b', pg_temp.snooze('one')), '1',
  'the assignee still may');
select is(tests.affected_rows_as('zone_manager', pg_temp.snooze('one')), '0',
  'the manager above the holder may not (sees it, gets it at the next breach)');
select is(tests.affected_rows_as('other_zone_manager', pg_temp.snooze('one')), '0',
  'a manager outside the subtree may not');
select is(tests.affected_rows_as('agent_b2', pg_temp.snooze('one')), '0',
  'another agent of the same team may not');
select is(tests.affected_rows_as('agent_a', pg_temp.snooze('one')), '0',
  'an agent of another branch may not');
select is(tests.affected_rows_as('analyst', pg_temp.snooze('one')), '0', 'an analyst may not');
select is(tests.affected_rows_as('admin', pg_temp.snooze('one')), '0',
  'an admin may not (sees every task, acts on none: as before)');

-- The holder's columns are the assignee's: not the SLA, the escalation or the assignee.
select is(tests.affected_rows_as('branch_b_manager',
  format('update public.tasks set sla_due_at = now() + interval ''1 year'' where id = %L', (pg_temp.task('one')).id)),
  '42501', 'the holder cannot move the SLA');
select is(tests.affected_rows_as('branch_b_manager',
  format('update public.tasks set escalated_to = null, escalation_level = 0, escalated_at = null where id = %L',
         (pg_temp.task('one')).id)),
  '42501', 'nor hand the escalation back');
select is(tests.affected_rows_as('branch_b_manager',
  format('update public.tasks set assignee_id = %L where id = %L', tests.get_user_id('agent_b2'),
         (pg_temp.task('one')).id)),
  '42501', 'nor give the task to another agent');

-- The holder snoozes it for real; the SLA still runs, and it escalates on at its breach.
select tests.authenticate_as('branch_b_manager');
update public.tasks set status = 'snoozed', snoozed_until = (select at from t0) + interval '120 hours'
 where id = (pg_temp.task('one')).id;
reset role;
select set_config('request.jwt.claims', '', true);
select is(
  (select (t.status, t.snoozed_until = (select at from t0) + interval '120 hours')::text
     from pg_temp.task('one') t),
  '(snoozed,t)', 'the holder''s snooze is kept');
select is(
  (select (a.actor_id = tests.get_user_id('branch_b_manager'), a.new_row ->> 'status')::text
     from public.audit_log a
    where a.table_name = 'tasks' and a.action = 'update' and a.row_id = (pg_temp.task('one')).id
    order by a.id desc limit 1),
  '(t,snoozed)', 'recorded in audit_log with the holder as actor');
select is(pg_temp.escalate((select at from t0) + interval '98 hours'),
  '{"at_top": 1, "escalated": 1}'::jsonb,
  'snoozed, its SLA still ran out: "one" escalates to the zone manager ("two" is at the top)');
select is(tests.affected_rows_as('branch_b_manager', pg_temp.snooze('one')), '0',
  'branch B''s manager, no longer its holder, may no longer act on it');
select is(tests.affected_rows_as('zone_manager', pg_temp.snooze('one')), '1',
  'the zone manager, its new holder, may');

-- "two", held by the zone manager after branch B's manager.
select is(tests.affected_rows_as('branch_b_manager', pg_temp.snooze('two')), '0',
  'a manager it passed through on its way up may not act on it');
select is(tests.affected_rows_as('agent_b', pg_temp.close('two', 'Reached the customer')), '1',
  'its assignee may');

-- A holder no longer an active manager no longer acts (still sees it).
update public.profiles set active = false where id = tests.get_user_id('zone_manager');
select is(tests.affected_rows_as('zone_manager', pg_temp.snooze('two')), '0',
  'a deactivated holder may not');
update public.profiles set active = true, role = 'analyst', node_id = null
 where id = tests.get_user_id('zone_manager');
select is(tests.affected_rows_as('zone_manager', pg_temp.snooze('two')), '0',
  'a holder made an analyst may not');
update public.profiles set role = 'manager', node_id = (select id from public.hierarchy_nodes where code = 'T_ZONE')
 where id = tests.get_user_id('zone_manager');

-- The zone manager closes "two": done with the holder's outcome, and it stays done.
select tests.authenticate_as('zone_manager');
update public.tasks set status = 'done', outcome = 'Called: renewing online tonight'
 where id = (pg_temp.task('two')).id;
reset role;
select set_config('request.jwt.claims', '', true);
select is(
  (select (t.status, t.outcome, t.done_at is not null, t.escalation_level)::text from pg_temp.task('two') t),
  '(done,"Called: renewing online tonight",t,2)', 'the holder closes it with an outcome; done_at stamped');
select is(
  (select a.actor_id = tests.get_user_id('zone_manager')
     from public.audit_log a
    where a.table_name = 'tasks' and a.action = 'update' and a.row_id = (pg_temp.task('two')).id
    order by a.id desc limit 1),
  true, 'audit_log says the holder closed it');
select is(tests.affected_rows_as('zone_manager',
  format('update public.tasks set status = ''open'' where id = %L', (pg_temp.task('two')).id)),
  '22023', 'a done task stays done, for the holder');
select is(tests.affected_rows_as('zone_manager', pg_temp.close('two', 'Changed my story')),
  '22023', 'with its outcome');
select is(tests.affected_rows_as('agent_b', pg_temp.close('two', 'Changed my story')),
  '22023', 'and for the assignee');
select is(pg_temp.escalate((select at from t0) + interval '400 hours'),
  '{"at_top": 1, "escalated": 0}'::jsonb,
  'the task the holder closed no longer escalates (only "one", at the top, is still overdue)');

select * from finish();
rollback;
