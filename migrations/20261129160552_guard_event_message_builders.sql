-- The event triggers (the previous migration) built their gate requests outside the block that
-- turns a failure into a warning: an error while building them (an admin's malformed
-- NCB_RETENTION_DAYS setting, say) undid the stage change or the opt-out, and with it the whole
-- daily lapse job. Building and queuing are now guarded together: the change stands, a warning
-- says what was not queued.

create or replace function private.tg_renewal_cases__enqueue_messages() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  as_of timestamptz := private.job_clock();
  changed uuid[];
begin
  -- Planned on every run (execute): the transition tables' sizes differ from run to run.
  execute $q$
    select coalesce(array_agg(n.id order by n.id), '{}')
      from new_rows n
      join old_rows o on o.id = n.id
     where n.stage is distinct from o.stage
       and n.stage in ('quoted', 'lapsed', 'renewed')
       -- Renewed by a payment credited in this transaction: its receipt is the confirmation.
       and not (n.stage = 'renewed' and exists (
             select 1 from public.payment_allocations a
              where a.case_id = n.id and a.amount > 0 and a.refund_id is null
                and a.created_at = now()))$q$
    into changed;
  if cardinality(changed) > 0 then
    begin
      perform private.queue_event_messages(
        (select jsonb_agg(r) from private.case_event_requests(changed, as_of) r), as_of);
    exception when others then
      raise warning 'the event messages of % cases were not queued: % (%)',
        cardinality(changed), sqlerrm, sqlstate;
    end;
  end if;
  return null;
end;
$$;

create or replace function private.tg_consents__enqueue_messages() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  as_of timestamptz := now();
  withdrawn uuid[];
begin
  -- An opt-out recorded by the webhooks from a customer's reply; not the desk's own records.
  if tg_op = 'INSERT' then
    execute $q$
      select coalesce(array_agg(n.id order by n.id), '{}') from new_rows n
       where n.status = 'withdrawn' and n.purpose = 'marketing' and n.channel in ('sms', 'whatsapp')
         and n.source in ('sms_stop', 'whatsapp_reply') and n.recorded_by is null
         and n.evidence ? 'reply'$q$
      into withdrawn;
  else
    execute $q$
      select coalesce(array_agg(n.id order by n.id), '{}') from new_rows n
        join old_rows o on o.id = n.id
       where n.status = 'withdrawn' and o.status <> 'withdrawn'
         and n.purpose = 'marketing' and n.channel in ('sms', 'whatsapp')
         and n.source in ('sms_stop', 'whatsapp_reply') and n.recorded_by is null
         and n.evidence ? 'reply'$q$
      into withdrawn;
  end if;
  if cardinality(withdrawn) > 0 then
    begin
      perform private.queue_event_messages(
        (select jsonb_agg(r) from private.opt_out_confirmation_requests(withdrawn, as_of) r), as_of);
    exception when others then
      raise warning 'the confirmations of % opt-outs were not queued: % (%)',
        cardinality(withdrawn), sqlerrm, sqlstate;
    end;
  end if;
  return null;
end;
$$;

