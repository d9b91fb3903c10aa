-- A task's snooze is checked in the database (issue 9, third review).
--
-- PATCH /api/tasks/{id} refused a snoozed_until in the past or more than 30 days ahead, but the
-- rule stood in the API only: the assignee may update status and snoozed_until over REST (column
-- grant), and a snooze of a year hid a call from its agent's list until then. The rule now stands
-- in a trigger, whoever writes, whenever snoozed_until is set or changed on a snoozed task: it
-- must be after now and at most 30 days ahead (22023, so 422 in the API, which no longer checks
-- it itself). A snooze already stored is not judged again when other columns change (the wake
-- job, the escalation).

create function private.tg_tasks__check_snooze() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status = 'snoozed'
     and (tg_op = 'INSERT' or new.snoozed_until is distinct from old.snoozed_until
          or old.status is distinct from 'snoozed')
     and (new.snoozed_until <= now() or new.snoozed_until > now() + interval '30 days') then
    raise exception 'snoozed_until must be in the future, at most 30 days ahead'
      using errcode = '22023';
  end if;
  return new;
end;
$$;
comment on function private.tg_tasks__check_snooze() is
  'Trigger (_150_check_snooze, before insert or update of status or snoozed_until on tasks): a '
  'snooze being set must end after now and at most 30 days ahead (22023).';
revoke execute on function private.tg_tasks__check_snooze() from public, anon, authenticated, service_role;

create trigger _150_check_snooze before insert or update of status, snoozed_until on public.tasks
  for each row execute function private.tg_tasks__check_snooze();
