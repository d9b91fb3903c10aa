-- The manager a task is escalated to may act on it (found in review of issue 9's tasks). An
-- overdue task escalates to the nearest manager above its holder, and each escalation restarts
-- the SLA "for the new holder" (escalated_to); but only the assignee could update a task (policy
-- tasks_update_assignee), so the holder saw it and could do nothing: PATCH /api/tasks/{id}
-- answered 404, and a task the manager had handled (a call made) went on escalating.
--
-- Now the holder closes it with an outcome or snoozes it exactly as the assignee does: the same
-- columns (the grant on status, outcome and snoozed_until is unchanged; the SLA, the escalation
-- and who holds it stay the job's), the same rules (a done task stays done, with its outcome; the
-- SLA still runs while snoozed, so a snoozed task escalates on at its next breach), each change in
-- audit_log with the holder as actor. Who may act is kept to two people:
--   * the assignee, as before;
--   * the current holder (escalated_to), while an active manager: escalation only ever hands a
--     task to an active manager, and a holder since deactivated, or made an analyst or an agent,
--     no longer acts on the desk's tasks (they keep seeing it, as tasks_select_member says).
-- Nobody else: not the managers it passed through on its way up (no longer holders), not the
-- managers above the holder (they see the task, and get it at the next breach), not other
-- managers, agents or analysts, not admins (as before).
--
-- One update policy for authenticated (house rule: one policy per operation and role), so the
-- assignee's policy is replaced by one naming both.

drop policy tasks_update_assignee on public.tasks;

create policy tasks_update_assignee_or_holder on public.tasks
  for update to authenticated
  using (assignee_id = (select auth.uid())
         or (escalated_to = (select auth.uid())
             and (select private.current_app_role()) = 'manager'))
  with check (assignee_id = (select auth.uid())
              or (escalated_to = (select auth.uid())
                  and (select private.current_app_role()) = 'manager'));

comment on table public.tasks is
  'Work for an agent about a renewal case (a call to a high-value customer), opened by the '
  'cadence''s task steps. Past its SLA a task not done escalates up the hierarchy. The assignee '
  'and the manager it is escalated to (escalated_to) may close or snooze it; nobody else.';
comment on column public.tasks.outcome is
  'What came of it, in the words of whoever closed it (the assignee, or the manager holding it '
  'after an escalation; audit_log says which); required when done.';
comment on column public.tasks.snoozed_until is
  'Until when the assignee or the manager holding it put it off (status snoozed); the SLA still runs.';
comment on column public.tasks.escalated_to is
  'The manager it was last escalated to (its holder, who may close or snooze it as the assignee '
  'may, while an active manager); null if never.';
