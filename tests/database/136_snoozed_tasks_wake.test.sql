-- Regression test from the review of issue 9's tasks, once a defect: a snoozed task stayed
-- 'snoozed' for good, its snooze over or not, so the desk's open tasks never listed it again.
-- Now private.wake_snoozed_tasks(as_of) (pg_cron every minute) opens a task again once its
-- snoozed_until has passed, and not before; a second run changes nothing; the due date, SLA and
-- escalation stay (a snoozed task still escalates at its breach, and wakes with its holder); a done
-- task is never touched; the wake is in audit_log; clients cannot run the job, service_role can.
-- GET /api/tasks?status=open listing it again: tests/functions/tasks.test.ts.
begin;
select plan(22);
select tests.create_test_book();
-- Only this file's cases are open (the test book's and any seed's are closed).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the snooze test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create temporary table made on commit drop as
select * from tests.campaign_customers('Snooze', 'Snoozepur', 3, policy_prefix => 'T-SNOOZE-',
                                       phone_prefix => '+91976600000', email_prefix => 'snooze');

-- The clock: the test's transaction time, and the tasks' times from it.
create temporary table t0 on commit drop as select now() as at;

-- Three call tasks of agent_a, due now: "hour" (48-hour SLA), "later" (2-hour SLA) and "closed".
create temporary table named on commit drop as
select case m.customer_no when 1 then 'hour' when 2 then 'later' else 'closed' end as name, m.case_id
  from made m;
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
select n.case_id, tests.get_user_id('agent_a'), t0.at, h, t0.at + make_interval(hours => h)
  from named n, t0, lateral (select case n.name when 'later' then 2 else 48 end as h) s;
create function pg_temp.task(task_name text) returns public.tasks
language sql stable
as $$ select t.* from public.tasks t join named n on n.case_id = t.case_id where n.name = task_name $$;
grant select on named, t0 to authenticated, service_role;
grant execute on function pg_temp.task(text) to authenticated;

create function pg_temp.wake(minutes integer) returns integer
language sql
as $$ select private.wake_snoozed_tasks((select at from t0) + make_interval(mins => minutes)) $$;

select is((select (schedule, command, active)::text from cron.job where jobname = 'wake-snoozed-tasks'),
  '("* * * * *","select private.wake_snoozed_tasks()",t)', 'pg_cron wakes snoozed tasks every minute');

-- The assignee snoozes "hour" for an hour, "later" for three, and "closed" for an hour, then
-- closes it.
select tests.authenticate_as('agent_a');
update public.tasks set status = 'snoozed', snoozed_until = (select at from t0) + interval '1 hour'
 where id = (pg_temp.task('hour')).id;
update public.tasks set status = 'snoozed', snoozed_until = (select at from t0) + interval '3 hours'
 where id = (pg_temp.task('later')).id;
update public.tasks set status = 'snoozed', snoozed_until = (select at from t0) + interval '1 hour'
 where id = (pg_temp.task('closed')).id;
update public.tasks set status = 'done', outcome = 'Called: renewing online'
 where id = (pg_temp.task('closed')).id;
reset role;
select set_config('request.jwt.claims', '', true);
select is((select array_agg(format('%s %s', n.name, t.status) order by n.name)
             from public.tasks t join named n on n.case_id = t.case_id),
  array['closed done', 'hour snoozed', 'later snoozed'], 'the assignee snoozed two tasks and closed one');
create temporary table closed_before on commit drop as select to_jsonb(t) as row from pg_temp.task('closed') t;

-- Clients cannot run the job.
select tests.authenticate_as('agent_a');
select throws_ok($$select private.wake_snoozed_tasks(now() + interval '1 day')$$, '42501',
  'permission denied for function wake_snoozed_tasks', 'an agent cannot run the job');
reset role;
select tests.authenticate_as('admin');
select throws_ok($$select private.wake_snoozed_tasks(now() + interval '1 day')$$, '42501',
  'permission denied for function wake_snoozed_tasks', 'nor an admin');
reset role;
select tests.clear_authentication();
select throws_ok($$select private.wake_snoozed_tasks(now() + interval '1 day')$$, '42501',
  'permission denied for schema private', 'nor anon');
reset role;
select set_config('request.jwt.claims', '', true);
select is(tests.affected_rows_as('agent_a', format(
  'update public.tasks set status = ''open'' where id = %L', (pg_temp.task('closed')).id)), '22023',
  'nor can the assignee reopen a done task themselves');

-- Not before the hour.
select is(pg_temp.wake(59), 0, 'a minute before the hour, nothing wakes');
select is((select (t.status, t.snoozed_until = (select at from t0) + interval '1 hour')::text
             from pg_temp.task('hour') t), '(snoozed,t)', 'the task is still snoozed, until the hour');

-- At the hour: open again, snoozed_until cleared, nothing else changed.
select is(pg_temp.wake(60), 1, 'at the hour, it wakes');
select is((select (t.status, t.snoozed_until, t.due_at = t0.at, t.sla_due_at = t0.at + interval '48 hours',
                   t.escalation_level, t.escalated_to)::text
             from pg_temp.task('hour') t, t0),
  '(open,,t,t,0,)', 'open again, snoozed_until cleared; due date, SLA and escalation unchanged');
select is(tests.affected_rows_as('agent_a', format(
  'select 1 from public.tasks where status = ''open'' and id = %L', (pg_temp.task('hour')).id)), '1',
  'the assignee finds it among their open tasks again');
select is(
  (select array_agg((a.old_row ->> 'status') || ' -> ' || (a.new_row ->> 'status') || ' by '
                    || coalesce(a.actor_id::text, 'nobody') || ' as ' || a.actor_role order by a.id)
     from public.audit_log a
    where a.table_name = 'tasks' and a.action = 'update' and a.row_id = (pg_temp.task('hour')).id),
  array['open -> snoozed by ' || tests.get_user_id('agent_a') || ' as authenticated',
        'snoozed -> open by nobody as system'],
  'audit_log has the snooze (the assignee) and the wake (the job)');

-- Idempotent.
create temporary table hour_after on commit drop as select to_jsonb(t) as row from pg_temp.task('hour') t;
select is(pg_temp.wake(60), 0, 'a second run at the same time wakes nothing');
select is(pg_temp.wake(120), 0, 'nor one an hour later ("later" sleeps three hours)');
select is((select to_jsonb(t) from pg_temp.task('hour') t), (select row from hour_after),
  'the woken task is left as it was');
select is((select count(*)::integer from public.audit_log a
            where a.table_name = 'tasks' and a.action = 'update' and a.row_id = (pg_temp.task('hour')).id),
  2, 'and the reruns wrote nothing to audit_log');

-- Snoozed, a task still escalates at its breach; it wakes with its holder.
select is((select jsonb_object_agg(e.outcome, e.tasks)
             from private.escalate_overdue_tasks((select at from t0) + interval '150 minutes') e),
  '{"at_top": 0, "escalated": 1}'::jsonb, 'the snoozed "later" escalates at its 2-hour breach');
select is(pg_temp.wake(181), 1, 'past its three hours, it wakes');
select is((select (t.status, t.snoozed_until, t.escalation_level,
                   t.escalated_to = tests.get_user_id('zone_manager'),
                   t.sla_due_at = (select at from t0) + interval '270 minutes')::text
             from pg_temp.task('later') t),
  '(open,,1,t,t)', 'open again, still with the manager it escalated to, its SLA as the escalation set it');

-- A done task is never touched.
select is((select to_jsonb(t) from pg_temp.task('closed') t), (select row from closed_before),
  'the task closed after its snooze stays done, exactly as it was closed');

-- service_role (and pg_cron, as the owner) runs it; a clock that is not finite is refused.
select tests.authenticate_as_service_role();
select is(private.wake_snoozed_tasks((select at from t0) + interval '1 day'), 0,
  'service_role may run it (nothing left to wake)');
select throws_ok($$select private.wake_snoozed_tasks('infinity')$$, '22023',
  'wake_snoozed_tasks needs a finite as_of', 'a clock that is not finite is refused');
reset role;

select * from finish();
rollback;
