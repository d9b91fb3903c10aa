-- Agent tasks (issue 9, "A step can be an agent task"): a cadence step of kind `task` opens one
-- call task per case and step for the case's assignee (high-value policies: the -15 call). A task
-- not done within its SLA escalates to the nearest manager up the hierarchy of the assignee's
-- node, then, at each further breach, to the next manager above (private.escalate_overdue_tasks,
-- in the cadence migration). Read by the assignee, whoever it was escalated to, and the managers
-- above the assignee (RLS); the assignee updates status, outcome and snoozed_until only (column
-- grants). Every change is in audit_log (the escalations too: who, when, level).

create table public.tasks (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete cascade,
  reminder_rule_id uuid references public.reminder_rules (id) on delete set null,
  assignee_id uuid not null references public.profiles (id) on delete restrict,
  kind text not null default 'call' check (kind in ('call')),
  status text not null default 'open' check (status in ('open', 'snoozed', 'done')),
  outcome text check (length(btrim(outcome)) between 1 and 2000),
  due_at timestamptz not null,
  sla_hours integer not null check (sla_hours between 1 and 720),
  sla_due_at timestamptz not null,
  snoozed_until timestamptz,
  done_at timestamptz,
  escalation_level smallint not null default 0 check (escalation_level >= 0),
  escalated_to uuid references public.profiles (id) on delete set null,
  escalated_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (case_id, reminder_rule_id),
  check (status <> 'done' or (outcome is not null and done_at is not null)),
  check (status <> 'snoozed' or snoozed_until is not null),
  check ((escalation_level = 0) = (escalated_to is null and escalated_at is null))
);

comment on table public.tasks is
  'Work for an agent about a renewal case (a call to a high-value customer), opened by the '
  'cadence''s task steps. Past its SLA a task not done escalates up the hierarchy.';
comment on column public.tasks.case_id is 'The renewal case the task is about.';
comment on column public.tasks.reminder_rule_id is
  'The cadence step that opened it (one task per case and step); null for tasks opened otherwise.';
comment on column public.tasks.assignee_id is 'Who must do it: the case''s assignee when it was opened.';
comment on column public.tasks.kind is 'What to do: call (phone the customer).';
comment on column public.tasks.status is
  'open: to do. snoozed: put off until snoozed_until (the SLA still runs). done: finished, with '
  'its outcome; a done task stays done.';
comment on column public.tasks.outcome is 'What came of it, in the assignee''s words; required when done.';
comment on column public.tasks.due_at is 'When it became due (the cadence run that opened it).';
comment on column public.tasks.sla_hours is
  'Hours allowed: the first SLA runs from due_at, each escalation restarts it for the new holder.';
comment on column public.tasks.sla_due_at is 'When the current SLA ends; past it, not done, the task escalates.';
comment on column public.tasks.snoozed_until is 'Until when the assignee put it off (status snoozed).';
comment on column public.tasks.done_at is 'When it was marked done (stamped by the database).';
comment on column public.tasks.escalation_level is
  'How many times it escalated: 0 none, 1 to the assignee''s nearest manager, 2 the one above, ...';
comment on column public.tasks.escalated_to is 'The manager it was last escalated to; null if never.';
comment on column public.tasks.escalated_at is 'When it was last escalated; null if never.';

create index tasks_assignee_idx on public.tasks (assignee_id, status, due_at);
create index tasks_escalated_to_idx on public.tasks (escalated_to) where escalated_to is not null;
create index tasks_sla_idx on public.tasks (sla_due_at) where status <> 'done';
create index tasks_rule_idx on public.tasks (reminder_rule_id);

-- A done task stays done, and is stamped when it becomes so.
create function private.tg_tasks__stamp_done() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status = 'done' and new.status <> 'done' then
    raise exception 'a done task stays done' using errcode = '22023';
  end if;
  if new.status = 'done' and old.status <> 'done' then
    new.done_at := now();
  end if;
  if new.status <> 'snoozed' then
    new.snoozed_until := null;
  end if;
  return new;
end;
$$;

comment on function private.tg_tasks__stamp_done() is
  'Before update on tasks: refuses to reopen a done task (22023), stamps done_at when it becomes '
  'done, clears snoozed_until when it is no longer snoozed.';

revoke execute on function private.tg_tasks__stamp_done() from public;

create trigger _100_timestamps before update on public.tasks
  for each row execute function private.tg__set_updated_at();
create trigger _200_stamp_done before update on public.tasks
  for each row execute function private.tg_tasks__stamp_done();
create trigger _900_audit_insert after insert on public.tasks
  referencing new table as new_rows for each statement execute function private.tg__audit();
create trigger _900_audit_update after update on public.tasks
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg__audit();
create trigger _900_audit_delete after delete on public.tasks
  referencing old table as old_rows for each statement execute function private.tg__audit();

alter table public.tasks enable row level security;
revoke all on public.tasks from anon, authenticated;
grant select on public.tasks to authenticated;
grant update (status, outcome, snoozed_until) on public.tasks to authenticated;

-- The assignee, whoever it was escalated to, and everyone who sees the assignee's book (the
-- managers above the assignee's node, admins).
create policy tasks_select_member on public.tasks
  for select to authenticated
  using (assignee_id = (select auth.uid())
         or escalated_to = (select auth.uid())
         or assignee_id = any ((select private.visible_agent_ids())::uuid[]));

create policy tasks_update_assignee on public.tasks
  for update to authenticated
  using (assignee_id = (select auth.uid()))
  with check (assignee_id = (select auth.uid()));
