-- Reminders stop when their case closes: when a renewal case reaches a final stage (renewed by a
-- payment or the desk, lapsed, lost, not taken), every message of the case still queued that is
-- not transactional (reminders, offers) is cancelled in the same transaction, before the next
-- dispatcher claim can see it. Receipts and other transactional messages still go. A message a
-- dispatcher has already claimed (sending) is beyond this trigger's reach.

create function private.tg_renewal_cases__cancel_queued_reminders() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Planned on every run (execute): the transition tables' sizes differ from run to run.
  execute $q$
    update public.messages m
       set status = 'cancelled', cancelled_at = now(), deferred_reason = null,
           next_attempt_at = now(), updated_at = now()
      from new_rows n
      join old_rows o on o.id = n.id
     where m.case_id = n.id
       and private.case_stage_is_final(n.stage)
       and not private.case_stage_is_final(o.stage)
       and m.status = 'queued'
       and m.purpose <> 'transactional'$q$;
  return null;
end;
$$;

comment on function private.tg_renewal_cases__cancel_queued_reminders() is
  'Statement trigger: cancels the queued, non-transactional messages of cases that just reached '
  'a final stage (renewed, lapsed, lost, not_taken). Security definer: whoever closes the case, '
  'its reminders stop.';

create trigger _850_cancel_queued_reminders after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__cancel_queued_reminders();

revoke execute on function private.tg_renewal_cases__cancel_queued_reminders() from public;
