-- A snoozed task is open again once its snooze ends (found in review of issue 9's tasks). The
-- assignee, or the manager holding a task, snoozes it until a time (status snoozed,
-- snoozed_until), but nothing ever brought it back: its status stayed 'snoozed' for good, so the
-- desk's list of open tasks (GET /api/tasks?status=open) never showed it again, and analytics.tasks
-- showed it snoozed for ever.
--
-- Now private.wake_snoozed_tasks(as_of), run by pg_cron every minute ("wake-snoozed-tasks"), sets
-- every task snoozed until as_of or earlier back to open; snoozed_until is cleared, as
-- private.tg_tasks__stamp_done clears it whenever a task is not snoozed. The status column stays
-- the one source of truth: the API, the analytics views and the audit log read it, and none of them
-- works out a snooze's end for itself. A snooze ends at most a minute late (pg_cron's resolution).
--
-- Only the status changes (its triggers fire as for any update: updated_at, audit_log with no actor,
-- the analytics days). due_at, the SLA and the escalation stay as they were: the SLA still runs
-- while a task is snoozed (deliberately), so a snoozed task may have escalated meanwhile, and it
-- wakes with its holder. A done task is never touched. A task snoozed again to a later time, or
-- closed, while the job waits for its row keeps its new state (the update rechecks a row it waited
-- for). Idempotent: a second run finds nothing left to wake.
--
-- Clients are unchanged: authenticated keeps its column grants (status, outcome, snoozed_until)
-- and policy, so the assignee or holder may still end a snooze early (status open) or snooze again;
-- the job is a security definer that pg_cron (as the owner) and service_role run, nobody else.

-- The job reads only snoozed tasks: every minute, without a walk over the done ones.
create index tasks_snoozed_until_idx on public.tasks (snoozed_until) where status = 'snoozed';

create function private.wake_snoozed_tasks(as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  woken integer;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'wake_snoozed_tasks needs a finite as_of' using errcode = '22023';
  end if;

  update public.tasks t
     set status = 'open',
         snoozed_until = null
   where t.status = 'snoozed' and t.snoozed_until <= as_of;
  get diagnostics woken = row_count;
  return woken;
end;
$$;

comment on function private.wake_snoozed_tasks(timestamptz) is
  'The snooze''s end (pg_cron every minute, wake-snoozed-tasks; as_of for tests): every task '
  'snoozed until as_of or earlier is open again, snoozed_until cleared; its due date, SLA and '
  'escalation unchanged, each change in audit_log (no actor: the job). Returns how many it woke; a '
  'second run wakes none. Done tasks are never touched. Errors: 22023 for a non-finite as_of. '
  'Security definer: a job, pg_cron and service_role only.';

revoke execute on function private.wake_snoozed_tasks(timestamptz) from public;
grant execute on function private.wake_snoozed_tasks(timestamptz) to service_role;

comment on column public.tasks.status is
  'open: to do. snoozed: put off until snoozed_until (the SLA still runs), open again once it has '
  'passed (private.wake_snoozed_tasks, every minute). done: finished, with its outcome; a done '
  'task stays done.';
comment on column public.tasks.snoozed_until is
  'Until when the assignee or the manager holding it put it off (status snoozed); the SLA still '
  'runs. Once it has passed the task is open again (within a minute) and this is cleared.';

-- Every minute, as the other tasks' job (escalate-overdue-tasks, hourly) is scheduled.
select cron.schedule('wake-snoozed-tasks', '* * * * *', 'select private.wake_snoozed_tasks()');
