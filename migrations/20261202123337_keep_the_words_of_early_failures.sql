-- A failure reported while its message was still `sending` kept its code and lost its words
-- (issue 7, found by a break-test): the trigger _300_apply_early_callbacks applies the stored
-- event as the message leaves `sending`, and message_events had no column for the vendor's text,
-- so last_error stayed null (the same 131047 arriving after the send was recorded keeps Meta's
-- "Re-engagement message ..." text). The event now keeps the text (message_events.error, at most
-- 500 characters, as messages.last_error), the trigger copies it, and it is erased with the
-- event's payload: vendors quote the recipient in their error text (Twilio 21211 names the
-- number), so whatever blanks the payload (a customer's erasure, the purge of old events) blanks
-- it too, by a trigger.

alter table public.message_events add column error text;
comment on column public.message_events.error is
  'The vendor''s words for a failure (at most 500 characters), as messages.last_error takes them; '
  'set to null with the payload when the payload is erased or purged (trigger '
  '_100_erase_error_with_payload).';
insert into private.personal_data_columns (table_name, column_name, treatment, why) values
  ('public.message_events', 'error', 'erased',
   'Set to null with the payload (trigger _100_erase_error_with_payload): vendors quote the '
   'recipient in their error text (Twilio 21211 names the number).');

create function private.tg_message_events__erase_error_with_payload() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.error := null;
  return new;
end;
$$;
comment on function private.tg_message_events__erase_error_with_payload() is
  'Blanks an event''s error text when its payload is blanked (erased: {"erased": true}, or purged: '
  '{}), so the vendor''s words go with the rest of what it sent (trigger '
  '_100_erase_error_with_payload).';
revoke execute on function private.tg_message_events__erase_error_with_payload() from public;

create trigger _100_erase_error_with_payload before update of payload on public.message_events
  for each row
  when (new.error is not null and new.payload is distinct from old.payload
        and new.payload in ('{"erased": true}'::jsonb, '{}'::jsonb))
  execute function private.tg_message_events__erase_error_with_payload();

create or replace function private.record_message_events(provider text, events jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  vendor text := provider;
  fresh integer;
  moved integer;
  suppressed integer := 0;
  opted_out integer := 0;
  unsubscribed integer := 0;
  fresh_rows private.fresh_event[];
begin
  if vendor is null or not exists (select 1 from public.vendors v where v.code = vendor) then
    raise exception 'unknown provider %', vendor using errcode = '22023';
  end if;
  if events is null or jsonb_typeof(events) <> 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;

  with incoming as (
    select e.*, m.id as matched
      from (
        -- A key repeated within one delivery is one event (the first).
        select distinct on (r.event_key) r.*
          from rows from (jsonb_to_recordset(events) as (
                 event_key text, provider_message_id text, message_id uuid, kind text,
                 status public.message_status, vendor_status text, error_code text, error text,
                 occurred_at timestamptz, cost_paise numeric, suppress text, address text,
                 channel public.channel_type, reply text, opt_out boolean, fallback boolean,
                 payload jsonb))
               with ordinality as r (
                 event_key, provider_message_id, message_id, kind, status, vendor_status,
                 error_code, error, occurred_at, cost_paise, suppress, address, channel, reply,
                 opt_out, fallback, payload, n)
         order by r.event_key, r.n
      ) e
      left join lateral (
        -- Our id when the vendor echoed one we know, else the vendor's id.
        select found.id from (
          select m.id, 1 as preference from public.messages m
           where m.id = e.message_id
          union all
          select m.id, 2 from public.messages m
           where e.provider_message_id is not null
             and m.provider = vendor and m.provider_message_id = e.provider_message_id
        ) found
         order by found.preference
         limit 1
      ) m on true
  ),
  stored as (
    insert into public.message_events as me (provider, event_key, message_id, provider_message_id,
                                             kind, status, message_status, error_code, occurred_at,
                                             falls_back, error, payload)
    select vendor, i.event_key, i.matched, i.provider_message_id, i.kind,
           coalesce(i.vendor_status, i.status::text), i.status, i.error_code,
           coalesce(i.occurred_at, now()), coalesce(i.fallback, false), left(i.error, 500),
           coalesce(i.payload, '{}')
      from incoming i
    on conflict on constraint message_events_provider_event_key_key do nothing
    returning me.id, me.event_key
  )
  select coalesce(array_agg(row(s.id, i.matched, i.kind, i.status, coalesce(i.occurred_at, now()),
                                i.error_code, left(i.error, 500), i.cost_paise, i.suppress,
                                i.address, i.channel, i.reply,
                                coalesce(i.opt_out, false))::private.fresh_event), '{}')
    into fresh_rows
    from stored s
    join incoming i on i.event_key = s.event_key;
  fresh := cardinality(fresh_rows);

  -- Wait for a dispatcher recording these messages' sends: otherwise a callback arriving while
  -- its message is still `sending` would be left unapplied, the dispatcher's transaction not
  -- seeing this (uncommitted) event either. `for no key update`, the lock the dispatcher's
  -- update takes: `for update` also waits for the key-share lock another webhook's event insert
  -- holds on the same message, and two webhooks for one message deadlocked.
  perform 1 from public.messages m
   where m.id in (select f.message_id from unnest(fresh_rows) f where f.message_id is not null)
   order by m.id
     for no key update;

  -- Status forward only; with several new events for one message, the furthest wins.
  with best as (
    select distinct on (f.message_id) f.*
      from unnest(fresh_rows) f
     where f.kind = 'status' and f.message_id is not null and f.status is not null
     order by f.message_id, private.message_status_rank(f.status) desc, f.occurred_at desc
  ),
  reached as (
    select f.message_id,
           min(f.occurred_at) filter (where f.status in ('delivered', 'read')) as delivered_at,
           min(f.occurred_at) filter (where f.status = 'read') as read_at,
           max(f.cost_paise) as cost_paise
      from unnest(fresh_rows) f
     where f.kind = 'status' and f.message_id is not null
     group by f.message_id
  )
  update public.messages m
     set status = case when m.status = 'dead'
                         or private.message_status_rank(b.status) > private.message_status_rank(m.status)
                       then b.status else m.status end,
         -- A vendor's clock in whole seconds (WhatsApp) can put a report before our own stamp
         -- of the step before it: no stamp goes before the one it follows.
         sent_at = coalesce(m.sent_at, case when b.status in ('sent', 'delivered', 'read')
                                            then greatest(b.occurred_at, m.queued_at) end),
         delivered_at = coalesce(m.delivered_at,
                                 case when r.delivered_at is not null
                                      then greatest(r.delivered_at, m.sent_at, m.queued_at) end),
         read_at = coalesce(m.read_at,
                            case when r.read_at is not null
                                 then greatest(r.read_at, m.delivered_at, r.delivered_at, m.sent_at,
                                               m.queued_at) end),
         failed_at = case when b.status in ('failed', 'undeliverable')
                           and private.message_status_rank(b.status) > private.message_status_rank(m.status)
                          then b.occurred_at else m.failed_at end,
         last_error_code = case when b.status in ('failed', 'undeliverable')
                                 and private.message_status_rank(b.status) > private.message_status_rank(m.status)
                                then b.error_code else m.last_error_code end,
         last_error = case when b.status in ('failed', 'undeliverable')
                            and private.message_status_rank(b.status) > private.message_status_rank(m.status)
                           then b.error else m.last_error end,
         cost_paise = coalesce(r.cost_paise, m.cost_paise),
         dead_reason = case when m.status = 'dead' then null else m.dead_reason end,
         dead_at = case when m.status = 'dead' then null else m.dead_at end,
         next_attempt_at = m.next_attempt_at,
         deferred_reason = case when private.message_status_rank(b.status) >= 2 then null
                                else m.deferred_reason end
    from best b
    join reached r on r.message_id = b.message_id
   where m.id = b.message_id
     -- A message being sent is left to its dispatcher (see the top of this file); a dead letter
     -- the vendor reports on was not dead after all.
     and m.status <> 'sending'
     and (private.message_status_rank(m.status) < 5 or m.status = 'dead');
  get diagnostics moved = row_count;

  -- A message still being sent keeps its status event for its dispatcher's result (the trigger
  -- _300_apply_early_callbacks applies it as the message leaves `sending`); the mark tells that
  -- trigger there is something to apply.
  update public.messages m
     set callbacks_waiting = true
   where m.id in (select f.message_id from unnest(fresh_rows) f
                   where f.kind = 'status' and f.message_id is not null and f.status is not null)
     and m.status = 'sending' and not m.callbacks_waiting;

  -- Dead addresses: bounces, complaints, invalid numbers.
  if exists (select 1 from unnest(fresh_rows) f where f.suppress is not null) then
  insert into public.suppressions (channel, address, reason, source, message_id)
  select distinct on (coalesce(f.channel, m.channel), coalesce(f.address, m.recipient))
         coalesce(f.channel, m.channel), coalesce(f.address, m.recipient), f.suppress,
         format('%s_%s', vendor, coalesce(f.error_code, f.suppress)), f.message_id
    from unnest(fresh_rows) f
    left join public.messages m on m.id = f.message_id
   where f.suppress in ('hard_bounce', 'complaint', 'invalid_number', 'unsubscribed')
     and coalesce(f.channel, m.channel) is not null
     and coalesce(f.address, m.recipient) is not null
  on conflict (channel, address) do nothing;
  get diagnostics suppressed = row_count;
  end if;

  if exists (select 1 from unnest(fresh_rows) f where f.kind = 'inbound') then
  -- Inbound WhatsApp messages open the customer-service window of every customer on that number.
  insert into public.whatsapp_windows as w (customer_id, last_inbound_at)
  select cu.id, max(f.occurred_at)
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and f.channel = 'whatsapp'
   group by cu.id
  on conflict (customer_id) do update
    set last_inbound_at = greatest(w.last_inbound_at, excluded.last_inbound_at);

  -- Any inbound message is the customer's reply, whatever it says (STOP too): the reminder
  -- cadence leaves them alone for a while. WhatsApp's were just noted by the window's trigger
  -- (_100_note_replies_*); SMS here. No vendor of ours forwards inbound email.
  insert into private.customer_last_replies as r (customer_id, last_reply_at, channel)
  select distinct on (cu.id) cu.id, f.occurred_at, f.channel
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and f.channel = 'sms'
   order by cu.id, f.occurred_at desc
  on conflict (customer_id) do update
    set last_reply_at = excluded.last_reply_at, channel = excluded.channel
   where r.last_reply_at < excluded.last_reply_at;

  -- An opt-out reply withdraws the marketing consent on that channel, with the reply as evidence.
  insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                     recorded_at, recorded_by)
  select distinct on (cu.id, f.channel)
         cu.id, f.channel, 'marketing', 'withdrawn',
         case f.channel when 'whatsapp' then 'whatsapp_reply' else 'sms_stop' end,
         jsonb_build_object('provider', vendor, 'event_id', f.event_id, 'reply', f.reply),
         f.occurred_at, null
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and f.channel in ('sms', 'whatsapp') and private.is_opt_out_reply(f.reply)
   order by cu.id, f.channel, f.occurred_at desc
  on conflict (customer_id, channel, purpose) do update
    set status = 'withdrawn', source = excluded.source, evidence = excluded.evidence,
        recorded_at = excluded.recorded_at, recorded_by = null;
  get diagnostics opted_out = row_count;

  -- Queued marketing for those customers on that channel will not go.
  update public.messages m
     set status = 'cancelled', cancelled_at = now(), locked_by = null, locked_until = null
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and private.is_opt_out_reply(f.reply)
     and m.customer_id = cu.id and m.channel = f.channel and m.purpose = 'marketing'
     and m.status = 'queued';
  end if;

  -- An email opt-out the vendor reported (SendGrid's unsubscribe and group_unsubscribe, and a
  -- drop for an address on its unsubscribe list): like an SMS STOP, it withdraws marketing
  -- consent on email for every customer at that address (lower-cased, as recipients are) and
  -- cancels their queued marketing email. It suppresses nothing: receipts and service reminders
  -- still go. A consent the customer already withdrew themselves is left as it is (SendGrid
  -- drops every later email to the address with the same reason; one ledger row says it); one the
  -- desk withdrew is recorded again as the customer's own, so the desk cannot lift it
  -- (private.is_customer_consent_source, 20261202055416).
  if exists (select 1 from unnest(fresh_rows) f where f.opt_out) then
  insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                     recorded_at, recorded_by)
  select distinct on (cu.id)
         cu.id, 'email', 'marketing', 'withdrawn', 'email_unsubscribe',
         jsonb_build_object('provider', vendor, 'event_id', f.event_id), f.occurred_at, null
    from unnest(fresh_rows) f
    join public.customers cu on lower(cu.email) = f.address
   where f.opt_out and f.channel = 'email'
   order by cu.id, f.occurred_at desc
  on conflict (customer_id, channel, purpose) do update
    set status = 'withdrawn', source = excluded.source, evidence = excluded.evidence,
        recorded_at = excluded.recorded_at, recorded_by = null
   where c.status <> 'withdrawn' or not private.is_customer_consent_source(c.source);
  get diagnostics unsubscribed = row_count;
  opted_out := opted_out + unsubscribed;

  update public.messages m
     set status = 'cancelled', cancelled_at = now(), locked_by = null, locked_until = null
    from unnest(fresh_rows) f
    join public.customers cu on lower(cu.email) = f.address
   where f.opt_out and f.channel = 'email'
     and m.customer_id = cu.id and m.channel = 'email' and m.purpose = 'marketing'
     and m.status = 'queued';
  end if;

  -- WhatsApp failures the vendor reported by webhook with a code SMS can get round (the
  -- webhook marks them `fallback`): the SMS twin, once per message whatever the repeats. (One
  -- still being sent gets it as it leaves `sending`: trigger _920_fall_back_early_failures.)
  if exists (select 1 from jsonb_to_recordset(events) as e (fallback boolean) where e.fallback) then
    perform private.queue_sms_fallbacks(array(
      select m.id
        from jsonb_to_recordset(events) as e (message_id uuid, provider_message_id text,
                                               fallback boolean)
        join public.messages m
          on m.id = e.message_id
          or (e.message_id is null and m.provider = vendor
              and m.provider_message_id = e.provider_message_id)
       where e.fallback and m.channel = 'whatsapp' and m.status in ('failed', 'undeliverable')),
      now());
  end if;
  return jsonb_build_object('received', jsonb_array_length(events), 'new', fresh,
                            'messages_moved', moved, 'suppressed', suppressed,
                            'opted_out', opted_out);
end;
$$;

comment on function private.record_message_events(text, jsonb) is
  'Records a vendor''s events, each once per (provider, event_key): [{event_key, kind status|'
  'inbound, provider_message_id or message_id (ours), status (ours: sent, delivered, read, '
  'failed, undeliverable; null to record only), vendor_status, error_code, error, occurred_at, '
  'cost_paise, suppress (hard_bounce|complaint|invalid_number|unsubscribed), address and channel '
  '(inbound: who wrote; suppress: which address, else the message''s; opt_out: which address), '
  'reply (inbound text), opt_out (true: the person at that email address opted out), fallback '
  '(true: a WhatsApp failure SMS can get round; its SMS twin is queued once the message has '
  'failed, kept in message_events.falls_back), payload}]. '
  'New events only: statuses move forward (private.message_status_rank), addresses are '
  'suppressed, inbound WhatsApp opens the window, every inbound message notes the customer''s '
  'reply (private.customer_last_replies: SMS here, WhatsApp through the window''s trigger), an '
  'opt-out reply withdraws marketing consent on that channel and cancels queued marketing there, '
  'and an email opt_out does the same on email for every customer at the address (source '
  'email_unsubscribe; a consent already withdrawn is left alone) and suppresses nothing. Events '
  'for unknown messages are kept with message_id null; a key repeated in one call counts once; '
  'our id wins over the vendor''s when both match. Waits for a dispatcher still recording those '
  'messages. Returns {received, new, messages_moved, suppressed, opted_out}. Raises 22023 for an '
  'unknown provider or a body that is not an array. Security definer: the webhooks '
  '(service_role) may not write these tables themselves.';

create or replace function private.tg_messages__apply_early_callbacks() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  best public.message_status;
  first_at timestamptz;
  delivered timestamptz;
  opened timestamptz;
  failure public.message_events;
begin
  select e.message_status into best
    from public.message_events e
   where e.message_id = new.id and e.message_status is not null
   order by private.message_status_rank(e.message_status) desc
   limit 1;
  -- A dead letter ranks above every callback, but a callback still shows it was no such thing.
  if best is null or (new.status <> 'dead'
                      and private.message_status_rank(best) <= private.message_status_rank(new.status)) then
    return new;
  end if;
  select min(e.occurred_at),
         min(e.occurred_at) filter (where e.message_status in ('delivered', 'read')),
         min(e.occurred_at) filter (where e.message_status = 'read')
    into first_at, delivered, opened
    from public.message_events e
   where e.message_id = new.id and e.message_status is not null;
  -- The vendor has the message: whatever the dispatcher concluded (a timeout, an expired lease,
  -- retries exhausted), it is not sent again.
  new.status := best;
  new.sent_at := coalesce(new.sent_at, first_at);
  new.delivered_at := coalesce(new.delivered_at, delivered);
  new.read_at := coalesce(new.read_at, opened);
  if best in ('failed', 'undeliverable') then
    select e.* into failure from public.message_events e
     where e.message_id = new.id and e.message_status = best
     order by e.occurred_at limit 1;
    new.failed_at := failure.occurred_at;
    new.last_error_code := failure.error_code;
    new.last_error := failure.error;
  end if;
  new.dead_reason := null;
  new.dead_at := null;
  new.deferred_reason := null;
  new.locked_by := null;
  new.locked_until := null;
  return new;
end;
$$;
comment on function private.tg_messages__apply_early_callbacks() is
  'Before a message leaves sending: if vendor callbacks stored for it say it got further (sent, '
  'delivered, read, failed), it takes that status and its times instead (a failure its code and '
  'words), so a message the vendor accepted is never sent again after a timeout or an expired '
  'lease.';
