-- An SMS fallback of a failed WhatsApp reminder is not queued once the reminder's case has closed
-- (issue 9 review). WhatsApp may report a failure after the customer paid: the renewal cancelled
-- the case's queued reminders, and the fallback then queued an SMS "your policy expires" twin for
-- a renewed case. As the cancellation of a closing case does (_850_cancel_queued_reminders), a
-- message that is not transactional gets no fallback when its case is renewed, lost or not taken;
-- a lapsed case's still do (its ladder's steps after expiry go on), and transactional messages
-- (receipts, notices) always do.

create or replace function private.queue_sms_fallbacks(message_ids uuid[], as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  requests jsonb;
  created integer;
begin
  select jsonb_agg(jsonb_build_object(
           'customer_id', m.customer_id, 'case_id', m.case_id, 'channel', 'sms',
           'template_code', t.code, 'language', t.language, 'variables', m.variables,
           'priority', m.priority, 'created_by', m.created_by,
           'idempotency_key', 'sms-fallback:' || m.id))
    into requests
    from public.messages m
    join public.templates t on t.id = m.template_id
   where m.id = any (message_ids) and m.channel = 'whatsapp'
     and exists (select 1 from public.templates s
                  where s.code = t.code and s.channel = 'sms' and s.active)
     -- Not a reminder of a case that has closed since.
     and not (m.purpose <> 'transactional'
              and exists (select 1 from public.renewal_cases c
                           where c.id = m.case_id and c.stage in ('renewed', 'lost', 'not_taken')));
  if requests is null then
    return 0;
  end if;
  created := (select count(*) from private.enqueue_messages(requests, as_of) e where e.created);
  -- A campaign's fallback belongs to the campaign: paused with it (held), cancelled with it.
  update public.messages f
     set campaign_id = w.campaign_id,
         status = case when c.status = 'cancelled' then 'cancelled' else f.status end,
         cancelled_at = case when c.status = 'cancelled' then as_of else f.cancelled_at end,
         next_attempt_at = case when c.status = 'paused' then 'infinity' else f.next_attempt_at end,
         deferred_reason = case when c.status = 'paused' then 'campaign_paused' else f.deferred_reason end
    from public.messages w
    join public.campaigns c on c.id = w.campaign_id
   where w.id = any (message_ids) and w.campaign_id is not null
     and f.idempotency_key = 'sms-fallback:' || w.id and f.campaign_id is null
     and f.status = 'queued';
  return created;
end;
$$;
comment on function private.queue_sms_fallbacks(uuid[], timestamptz) is
  'Queues, through the gate, the SMS twin of each failed WhatsApp message whose template has an '
  'active SMS version (key sms-fallback:<message id>, so once per message); free text and '
  'templates without a twin get none, nor does a message that is not transactional whose case is '
  'renewed, lost or not taken. A campaign''s fallback joins its campaign (held while it is paused, '
  'cancelled with it). Returns how many it queued.';
