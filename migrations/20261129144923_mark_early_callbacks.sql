-- Vendor callbacks that come while their message is `sending` wait for its dispatcher's result
-- (20261129010400): the trigger _300_apply_early_callbacks applies them as the message leaves
-- `sending`. It ran, as a security-definer plpgsql call with an index probe of message_events,
-- for every message every dispatcher claimed back or recorded, about 2 ms per batch of 100 with
-- nothing to apply in almost every case. record_message_events now marks a message that got a
-- status event while sending (callbacks_waiting), and the trigger runs only for marked messages;
-- the mark stays (a marked message is checked each time it leaves `sending`, as before). Every
-- message that already has a status event is marked here.

alter table public.messages add column callbacks_waiting boolean not null default false;

comment on column public.messages.callbacks_waiting is
  'A vendor status callback came while the message was sending: applied when it leaves sending '
  '(trigger _300_apply_early_callbacks, which runs only for such messages).';

update public.messages m
   set callbacks_waiting = true
 where exists (select 1 from public.message_events e
                where e.message_id = m.id and e.message_status is not null);

drop trigger _300_apply_early_callbacks on public.messages;
create trigger _300_apply_early_callbacks before update of status, stalls on public.messages
  for each row when (old.status = 'sending' and old.callbacks_waiting)
  execute function private.tg_messages__apply_early_callbacks();

-- As in 20261129012500, marking messages still being sent.
create or replace function private.record_message_events(provider text, events jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  vendor text := provider;
  fresh integer;
  moved integer;
  suppressed integer := 0;
  opted_out integer := 0;
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
                 channel public.channel_type, reply text, payload jsonb))
               with ordinality as r (
                 event_key, provider_message_id, message_id, kind, status, vendor_status,
                 error_code, error, occurred_at, cost_paise, suppress, address, channel, reply,
                 payload, n)
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
                                             payload)
    select vendor, i.event_key, i.matched, i.provider_message_id, i.kind,
           coalesce(i.vendor_status, i.status::text), i.status, i.error_code,
           coalesce(i.occurred_at, now()), coalesce(i.payload, '{}')
      from incoming i
    on conflict on constraint message_events_provider_event_key_key do nothing
    returning me.id, me.event_key
  )
  select coalesce(array_agg(row(s.id, i.matched, i.kind, i.status, coalesce(i.occurred_at, now()),
                                i.error_code, left(i.error, 500), i.cost_paise, i.suppress,
                                i.address, i.channel, i.reply)::private.fresh_event), '{}')
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

  -- WhatsApp failures the vendor reported by webhook with a code SMS can get round (the
  -- webhook marks them `fallback`): the SMS twin, once per message whatever the repeats.
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
