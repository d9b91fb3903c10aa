-- One rule for cancelling a case's stale reminders (tidy-up after issue 9's reviews).
--
-- Three triggers of renewal_cases each wrote the same update of the outbox: a deleted case
-- (20261130221132), a case moved to another customer (20261130234153) and a re-dated case
-- (20261130235711) cancel the case's queued messages that are not transactional and free the
-- cadence steps among them (key suffix :<why>:<message id>), so that the step may be queued
-- again for the case as it now is. The update now stands once, in
-- private.cancel_stale_reminders(case, why, customer kept), and one trigger function calls it for
-- the three events; what each cancels, and the keys it writes, are unchanged (pgTAP 121, 124, 132).

create function private.cancel_stale_reminders(case_id uuid, why text, customer_kept uuid default null)
returns integer
language sql
security definer
set search_path = ''
as $$
  with cancelled as (
    update public.messages m
       set status = 'cancelled', cancelled_at = now(), deferred_reason = null,
           next_attempt_at = now(), updated_at = now(),
           -- The step is free again: the case's next visit (or its term's next case) may queue it.
           idempotency_key = case when m.idempotency_key like 'cadence:%'
                                  then format('%s:%s:%s', m.idempotency_key, why, m.id)
                                  else m.idempotency_key end
     where m.case_id = cancel_stale_reminders.case_id and m.status = 'queued'
       and m.purpose <> 'transactional'
       and m.customer_id is distinct from customer_kept
    returning 1)
  select count(*)::integer from cancelled
$$;
comment on function private.cancel_stale_reminders(uuid, text, uuid) is
  'Cancels the queued messages of case `case_id` that are not transactional (receipts still go), '
  'except those to customer_kept, and frees the cadence steps among them (key suffix '
  ':<why>:<message id>). Returns how many. Called by _850_cancel_stale_reminders. Security '
  'definer: whoever changes the case, its stale reminders stop.';
revoke execute on function private.cancel_stale_reminders(uuid, text, uuid)
  from public, anon, authenticated, service_role;

create function private.tg_renewal_cases__cancel_stale_reminders() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    perform private.cancel_stale_reminders(old.id, 'case-deleted');
    return old;
  end if;
  if old.customer_id is distinct from new.customer_id then
    -- Its policy moved to another customer: nothing more to the former one.
    perform private.cancel_stale_reminders(new.id, 'customer-changed', new.customer_id);
  end if;
  if old.due_date is distinct from new.due_date or old.grace_end is distinct from new.grace_end then
    -- What is queued names the old dates.
    perform private.cancel_stale_reminders(new.id, 'case-redated');
  end if;
  return null;
end;
$$;
comment on function private.tg_renewal_cases__cancel_stale_reminders() is
  'Triggers _850_cancel_stale_reminders (before delete) and _850_cancel_stale_reminders_on_change '
  '(after an update that changes customer_id, due_date or grace_end), per row: a deleted case''s '
  'queued reminders are cancelled (case-deleted), a moved case''s to its former customer '
  '(customer-changed), a re-dated case''s all (case-redated), each through '
  'private.cancel_stale_reminders. Security definer.';
revoke execute on function private.tg_renewal_cases__cancel_stale_reminders()
  from public, anon, authenticated, service_role;

drop trigger _850_cancel_reminders_of_deleted_case on public.renewal_cases;
drop trigger _850_cancel_reminders_of_former_customer on public.renewal_cases;
drop trigger _850_cancel_reminders_of_old_dates on public.renewal_cases;
drop function private.tg_renewal_cases__cancel_reminders_of_deleted_case();
drop function private.tg_renewal_cases__cancel_reminders_of_former_customer();
drop function private.tg_renewal_cases__cancel_reminders_of_old_dates();

-- Before the delete: the row is locked first, so a cadence run that queued for the case has
-- committed, and its reminders are seen (tests/functions/closing_race.test.ts).
create trigger _850_cancel_stale_reminders before delete on public.renewal_cases
  for each row execute function private.tg_renewal_cases__cancel_stale_reminders();
-- Per row, and only when the customer or a date changes (rare): no cost to the jobs' bulk updates.
create trigger _850_cancel_stale_reminders_on_change
  after update of customer_id, due_date, grace_end on public.renewal_cases
  for each row when (old.customer_id is distinct from new.customer_id
                     or old.due_date is distinct from new.due_date
                     or old.grace_end is distinct from new.grace_end)
  execute function private.tg_renewal_cases__cancel_stale_reminders();
