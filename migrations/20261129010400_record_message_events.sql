-- What the webhooks call once a vendor's signature has been checked: the vendor's events,
-- already read into one shape, recorded in one statement per delivery. Each event is stored
-- once (per vendor event identity); only new events change anything: a message's status moves
-- forward only (a late `sent` never undoes `delivered`), dead addresses are suppressed, an
-- inbound WhatsApp message opens the 24-hour window, and an opt-out reply (STOP, UNSUBSCRIBE,
-- रोकें ...) withdraws the customer's marketing consent on that channel at once.
--
-- A callback can arrive while the dispatcher that sent the message has not yet recorded the
-- send (the message is still `sending`), or after its lease ran out. Such a callback is kept and
-- applied when the message leaves `sending`: when the dispatcher records its result, or when a
-- claim finds the lease expired, which then knows the vendor took the message and does not send
-- it again.

alter table public.message_events add column message_status public.message_status;

comment on column public.message_events.message_status is
  'The status the event means for our message (sent, delivered, read, failed, undeliverable), '
  'or null when it only informs.';

-- How far along each status is. Failures rank with delivery: a failure report cannot undo a
-- delivery, and a late `sent` cannot undo a failure.
create function private.message_status_rank(status public.message_status) returns integer
language sql immutable
set search_path = ''
as $$
  select case status
           when 'queued' then 0 when 'sending' then 1 when 'sent' then 2
           when 'delivered' then 3 when 'failed' then 3 when 'undeliverable' then 3
           when 'read' then 4
           else 5 -- blocked, cancelled, dead: final, no callback moves them
         end
$$;

comment on function private.message_status_rank(public.message_status) is
  'Order of message statuses for vendor callbacks: queued 0, sending 1, sent 2, delivered / '
  'failed / undeliverable 3, read 4; blocked, cancelled and dead 5 (callbacks never move them). '
  'A callback applies only when it ranks higher than the message''s status.';

-- Opt-out words in English and Hindi (TRAI TCCCPR; Meta's opt-out guidance), matched on the
-- whole reply, case and spacing ignored.
create function private.is_opt_out_reply(reply text) returns boolean
language sql immutable
set search_path = ''
as $$
  select lower(regexp_replace(btrim(coalesce(reply, '')), '[\s.!]+', ' ', 'g')) in (
    'stop', 'stop all', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit', 'opt out', 'optout',
    'opt-out', 'stop promo', 'रोकें', 'रोको', 'बंद', 'बंद करें', 'बंद करो', 'सदस्यता समाप्त')
$$;

comment on function private.is_opt_out_reply(text) is
  'True when a customer''s whole reply is an opt-out word: STOP, STOP ALL, UNSUBSCRIBE, CANCEL, '
  'END, QUIT, OPT OUT, or Hindi रोकें / रोको / बंद / बंद करें / बंद करो / सदस्यता समाप्त (case and '
  'spacing ignored).';

-- Callbacks that came while the message was `sending`, applied as it leaves that state (its
-- dispatcher records a result, or a claim finds its lease expired).
create function private.tg_messages__apply_early_callbacks() returns trigger
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
  'delivered, read, failed), it takes that status and its times instead, so a message the '
  'vendor accepted is never sent again after a timeout or an expired lease.';

create trigger _300_apply_early_callbacks before update of status, stalls on public.messages
  for each row when (old.status = 'sending')
  execute function private.tg_messages__apply_early_callbacks();

create function private.record_message_events(provider text, events jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  vendor text := provider;
  fresh integer;
  moved integer;
  suppressed integer;
  opted_out integer;
begin
  if vendor is null or not exists (select 1 from public.vendors v where v.code = vendor) then
    raise exception 'unknown provider %', vendor using errcode = '22023';
  end if;
  if events is null or jsonb_typeof(events) <> 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;

  if to_regclass('pg_temp.fresh_events') is null then
    create temporary table fresh_events (
      event_id uuid, message_id uuid, kind text, status public.message_status,
      occurred_at timestamptz, error_code text, error text, cost_paise numeric,
      suppress text, address text, channel public.channel_type, reply text
    ) on commit drop;
  end if;
  truncate pg_temp.fresh_events;

  with incoming as (
    select e.*, m.id as matched
      from jsonb_to_recordset(events) as e (
             event_key text, provider_message_id text, message_id uuid, kind text,
             status public.message_status, vendor_status text, error_code text, error text,
             occurred_at timestamptz, cost_paise numeric, suppress text, address text,
             channel public.channel_type, reply text, payload jsonb)
      left join lateral (
        select m.id from public.messages m
         where (e.message_id is not null and m.id = e.message_id)
            or (e.message_id is null and e.provider_message_id is not null
                and m.provider = vendor and m.provider_message_id = e.provider_message_id)
         limit 1
      ) m on true
  ),
  stored as (
    insert into public.message_events as me (provider, event_key, message_id, provider_message_id,
                                             kind, status, message_status, error_code, occurred_at,
                                             payload)
    select vendor, i.event_key, i.matched, i.provider_message_id, i.kind,
           coalesce(i.vendor_status, i.status::text), i.status, i.error_code,
           coalesce(i.occurred_at, now()), coalesce(i.payload, '{}')
      from incoming i
    on conflict on constraint message_events_provider_event_key_key do nothing
    returning me.id, me.event_key
  )
  insert into pg_temp.fresh_events
  select s.id, i.matched, i.kind, i.status, coalesce(i.occurred_at, now()), i.error_code,
         left(i.error, 500), i.cost_paise, i.suppress, i.address, i.channel, i.reply
    from stored s
    join incoming i on i.event_key = s.event_key;
  get diagnostics fresh = row_count;

  -- Status forward only; with several new events for one message, the furthest wins.
  with best as (
    select distinct on (f.message_id) f.*
      from pg_temp.fresh_events f
     where f.kind = 'status' and f.message_id is not null and f.status is not null
     order by f.message_id, private.message_status_rank(f.status) desc, f.occurred_at desc
  ),
  reached as (
    select f.message_id,
           min(f.occurred_at) filter (where f.status in ('delivered', 'read')) as delivered_at,
           min(f.occurred_at) filter (where f.status = 'read') as read_at,
           max(f.cost_paise) as cost_paise
      from pg_temp.fresh_events f
     where f.kind = 'status' and f.message_id is not null
     group by f.message_id
  )
  update public.messages m
     set status = case when private.message_status_rank(b.status) > private.message_status_rank(m.status)
                       then b.status else m.status end,
         sent_at = coalesce(m.sent_at, case when b.status in ('sent', 'delivered', 'read') then b.occurred_at end),
         delivered_at = coalesce(m.delivered_at, r.delivered_at),
         read_at = coalesce(m.read_at, r.read_at),
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
         next_attempt_at = m.next_attempt_at,
         deferred_reason = case when private.message_status_rank(b.status) >= 2 then null
                                else m.deferred_reason end
    from best b
    join reached r on r.message_id = b.message_id
   where m.id = b.message_id
     -- A message being sent is left to its dispatcher (see the top of this file).
     and m.status <> 'sending'
     and private.message_status_rank(m.status) < 5;
  get diagnostics moved = row_count;

  -- Dead addresses: bounces, complaints, invalid numbers.
  insert into public.suppressions (channel, address, reason, source, message_id)
  select distinct on (coalesce(f.channel, m.channel), coalesce(f.address, m.recipient))
         coalesce(f.channel, m.channel), coalesce(f.address, m.recipient), f.suppress,
         format('%s_%s', vendor, coalesce(f.error_code, f.suppress)), f.message_id
    from pg_temp.fresh_events f
    left join public.messages m on m.id = f.message_id
   where f.suppress in ('hard_bounce', 'complaint', 'invalid_number', 'unsubscribed')
     and coalesce(f.channel, m.channel) is not null
     and coalesce(f.address, m.recipient) is not null
  on conflict (channel, address) do nothing;
  get diagnostics suppressed = row_count;

  -- Inbound WhatsApp messages open the customer-service window of every customer on that number.
  insert into public.whatsapp_windows as w (customer_id, last_inbound_at)
  select cu.id, max(f.occurred_at)
    from pg_temp.fresh_events f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and f.channel = 'whatsapp'
   group by cu.id
  on conflict (customer_id) do update
    set last_inbound_at = greatest(w.last_inbound_at, excluded.last_inbound_at);

  -- An opt-out reply withdraws the marketing consent on that channel, with the reply as evidence.
  insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                     recorded_at, recorded_by)
  select distinct on (cu.id, f.channel)
         cu.id, f.channel, 'marketing', 'withdrawn',
         case f.channel when 'whatsapp' then 'whatsapp_reply' else 'sms_stop' end,
         jsonb_build_object('provider', vendor, 'event_id', f.event_id, 'reply', f.reply),
         f.occurred_at, null
    from pg_temp.fresh_events f
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
    from pg_temp.fresh_events f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and private.is_opt_out_reply(f.reply)
     and m.customer_id = cu.id and m.channel = f.channel and m.purpose = 'marketing'
     and m.status = 'queued';

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
  '(inbound: who wrote; suppress: which address, else the message''s), reply (inbound text), '
  'payload}]. New events only: statuses move forward (private.message_status_rank), addresses '
  'are suppressed, inbound WhatsApp opens the window, an opt-out reply withdraws marketing '
  'consent on that channel and cancels queued marketing there. Events for unknown messages are '
  'kept with message_id null. Returns {received, new, messages_moved, suppressed, opted_out}. '
  'Raises 22023 for an unknown provider or a body that is not an array. Security definer: the '
  'webhooks (service_role) may not write these tables themselves.';

revoke execute on function private.record_message_events(text, jsonb) from public;
grant execute on function private.record_message_events(text, jsonb) to service_role;
