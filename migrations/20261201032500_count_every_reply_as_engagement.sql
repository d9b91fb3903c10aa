-- Every reply counts as engagement (review of the reminder cadence). The cadence sends no next
-- reminder to a customer who "replied recently" (CADENCE_RECENT_REPLY_HOURS), but it read only
-- public.whatsapp_windows, the last inbound WhatsApp message: a customer who answered by SMS ("I
-- will pay tomorrow", recorded by private.record_message_events from Twilio's inbound webhook) or
-- in their Telegram chat with our bot got the next reminder an hour later.
-- * private.customer_last_replies: per customer, when they last wrote to us and on which channel,
--   whatever they wrote (a STOP too: it withdraws marketing anyway, and a service reminder right
--   after it would still follow a reply). Written where inbound messages are recorded:
--   private.record_message_events (SMS), a statement trigger on public.whatsapp_windows (every
--   inbound WhatsApp message opens or extends the window there, whoever writes it), and
--   private.record_telegram_update (text from a customer's linked chat, but /start). Inbound email
--   is not received (SES and SendGrid send delivery reports only). Backfilled from
--   whatsapp_windows and the inbound events whose payload still names the sender (erased or
--   retention-emptied payloads name nobody).
-- * whatsapp_windows is unchanged and still only WhatsApp: Meta's 24-hour customer-service window,
--   which the gate reads; an SMS opens no window.
-- * private.run_reminder_cadence reads the new table instead of whatsapp_windows: the same one
--   probe of a primary key per due case.
-- * And a lapsed case past its ladder's last day is left alone on every visit, as it is when the
--   visits are chosen (issue 9, third review): after the regular day, an old day replayed
--   re-planned the visits from that day and sent its step, and the regular day run again then
--   sent the +30 step, whose day had long gone, to the same customers (two reminders in one real
--   day to six lapsed cases of the demo book). The regular day now gives what it gave before the
--   replay. record_message_events (with
--   `set jit = off` again, 20261129174102) and record_telegram_update are restated with their one
--   insert added. The setting's description no longer says WhatsApp.

create table private.customer_last_replies (
  customer_id uuid primary key references public.customers (id) on delete cascade,
  last_reply_at timestamptz not null,
  channel public.channel_type not null
);

comment on table private.customer_last_replies is
  'Per customer, their latest message to us on any channel we receive (SMS, WhatsApp, Telegram), '
  'whatever it said (STOP included): what the reminder cadence reads for "the customer replied '
  'recently" (CADENCE_RECENT_REPLY_HOURS). Written by private.record_message_events (SMS), the '
  'triggers _100_note_replies_* on public.whatsapp_windows (WhatsApp) and '
  'private.record_telegram_update (Telegram); a later reply replaces an earlier one, never the '
  'reverse.';
comment on column private.customer_last_replies.last_reply_at is
  'When the customer''s latest message reached us (the vendor''s time).';
comment on column private.customer_last_replies.channel is 'The channel of that latest message.';

alter table private.customer_last_replies enable row level security;
revoke all on private.customer_last_replies from public, anon, authenticated, service_role;

insert into private.customer_last_replies (customer_id, last_reply_at, channel)
select distinct on (x.customer_id) x.customer_id, x.at, x.channel
  from (
    select w.customer_id, w.last_inbound_at as at, 'whatsapp'::public.channel_type as channel
      from public.whatsapp_windows w
    union all
    -- SMS from Twilio (its WhatsApp messages opened windows: above).
    select cu.id, e.occurred_at, 'sms'
      from public.message_events e
      join public.customers cu on cu.phone = private.inbound_address(e.provider, e.payload)
     where e.kind = 'inbound' and e.provider = 'twilio' and e.payload ->> 'From' !~ '^whatsapp:'
    union all
    -- Telegram: text from a private chat linked to a customer, but /start.
    select sa.customer_id, e.occurred_at, 'telegram'
      from public.message_events e
      join public.customer_social_accounts sa
        on sa.platform = 'telegram' and sa.external_id = e.payload #>> '{message,chat,id}'
     where e.kind = 'inbound' and e.provider = 'telegram'
       and coalesce(e.payload #>> '{message,chat,type}', 'private') = 'private'
       and btrim(e.payload #>> '{message,text}') !~ '^/start(@[A-Za-z0-9_]+)?(\s|$)'
  ) x
 order by x.customer_id, x.at desc;

create function private.tg_whatsapp_windows__note_replies() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.customer_last_replies as r (customer_id, last_reply_at, channel)
  select f.customer_id, f.last_inbound_at, 'whatsapp'
    from fresh f
  on conflict (customer_id) do update
    set last_reply_at = excluded.last_reply_at, channel = excluded.channel
   where r.last_reply_at < excluded.last_reply_at;
  return null;
end;
$$;

comment on function private.tg_whatsapp_windows__note_replies() is
  'Statement triggers _100_note_replies_on_insert and _100_note_replies_on_update on '
  'public.whatsapp_windows: a window opened or extended is the customer''s WhatsApp message, '
  'noted as their latest reply in private.customer_last_replies (when later than the one there). '
  'Security definer: whoever may write the windows may not write that private table.';

revoke execute on function private.tg_whatsapp_windows__note_replies() from public;

create trigger _100_note_replies_on_insert after insert on public.whatsapp_windows
  referencing new table as fresh
  for each statement execute function private.tg_whatsapp_windows__note_replies();
create trigger _100_note_replies_on_update after update on public.whatsapp_windows
  referencing new table as fresh
  for each statement execute function private.tg_whatsapp_windows__note_replies();

update public.app_settings
   set description = 'The cadence sends no reminder (and opens no task) to a customer who wrote to '
                     'us on any channel (SMS, WhatsApp, Telegram; a STOP too) within this many '
                     'hours.'
 where key = 'CADENCE_RECENT_REPLY_HOURS';

-- As in 20261129144923 (and 20261129174102's jit = off), noting SMS replies.
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

comment on function private.record_message_events(text, jsonb) is
  'Records a vendor''s events, each once per (provider, event_key): [{event_key, kind status|'
  'inbound, provider_message_id or message_id (ours), status (ours: sent, delivered, read, '
  'failed, undeliverable; null to record only), vendor_status, error_code, error, occurred_at, '
  'cost_paise, suppress (hard_bounce|complaint|invalid_number|unsubscribed), address and channel '
  '(inbound: who wrote; suppress: which address, else the message''s), reply (inbound text), '
  'payload}]. New events only: statuses move forward (private.message_status_rank), addresses '
  'are suppressed, inbound WhatsApp opens the window, every inbound message notes the '
  'customer''s reply (private.customer_last_replies: SMS here, WhatsApp through the window''s '
  'trigger), an opt-out reply withdraws marketing '
  'consent on that channel and cancels queued marketing there. Events for unknown messages are '
  'kept with message_id null; a key repeated in one call counts once; our id wins over the '
  'vendor''s when both match. Waits for a dispatcher still recording those messages. Returns '
  '{received, new, messages_moved, suppressed, opted_out}. '
  'Raises 22023 for an unknown provider or a body that is not an array. Security definer: the '
  'webhooks (service_role) may not write these tables themselves.';


-- As in 20261130025311, noting a customer's Telegram replies.
create or replace function private.record_telegram_update(
  update_id bigint,
  chat_id text,
  text_body text,
  payload jsonb,
  as_of timestamptz default now()
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  event uuid;
  command text[];
  hash text;
  token private.telegram_link_tokens;
  customer uuid;
  handle text := nullif(payload #>> '{message,from,username}', '');
  evidence jsonb;
  changed integer;
  member text;
  linked boolean;
begin
  if update_id is null or update_id < 0 then
    raise exception 'update_id is a non-negative integer' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  insert into public.message_events as me (provider, event_key, kind, status, occurred_at, payload)
  values ('telegram', format('update:%s', update_id), 'inbound', 'message', as_of,
          coalesce(payload, '{}'))
  on conflict on constraint message_events_provider_event_key_key do nothing
  returning me.id into event;
  if event is null then
    return jsonb_build_object('new', false, 'action', 'duplicate');
  end if;
  if chat_id is null or chat_id !~ '^-?[0-9]{1,20}$' then
    return jsonb_build_object('new', true, 'action', 'ignored');
  end if;
  evidence := jsonb_build_object('provider', 'telegram', 'event_id', event,
                                 'update_id', update_id, 'chat_id', chat_id);

  -- The user blocked the bot (my_chat_member, status kicked): the chat is suppressed at once;
  -- unblocked (member): lifted. Only for a chat someone linked.
  member := payload #>> '{my_chat_member,new_chat_member,status}';
  if member is not null then
    linked := exists (select 1 from public.customer_social_accounts sa
                       where sa.platform = 'telegram' and sa.external_id = record_telegram_update.chat_id)
              or exists (select 1 from private.staff_telegram_chats s
                          where s.chat_id = record_telegram_update.chat_id);
    if not linked then
      return jsonb_build_object('new', true, 'action', 'ignored');
    end if;
    if member = 'kicked' then
      insert into public.suppressions (channel, address, reason, source)
      values ('telegram', chat_id, 'unsubscribed', 'telegram_blocked')
      on conflict (channel, address) do nothing;
      return jsonb_build_object('new', true, 'action', 'blocked');
    elsif member = 'member' then
      delete from public.suppressions s
       where s.channel = 'telegram' and s.address = record_telegram_update.chat_id;
      return jsonb_build_object('new', true, 'action', 'unblocked');
    end if;
    return jsonb_build_object('new', true, 'action', 'ignored');
  end if;
  if text_body is null then
    return jsonb_build_object('new', true, 'action', 'ignored');
  end if;

  command := regexp_match(btrim(text_body), '^/start(?:@[A-Za-z0-9_]+)?(?:\s+(\S+))?$');
  if command is not null then
    if command[1] is null then
      -- A bare /start (the Restart button after unblocking the bot) from a linked chat: reachable
      -- again (its consents are as they were); from any other chat: nothing to link.
      delete from public.suppressions s
       where s.channel = 'telegram' and s.address = record_telegram_update.chat_id
         and (exists (select 1 from public.customer_social_accounts sa
                       where sa.platform = 'telegram' and sa.external_id = record_telegram_update.chat_id)
              or exists (select 1 from private.staff_telegram_chats c
                          where c.chat_id = record_telegram_update.chat_id));
      if exists (select 1 from public.customer_social_accounts sa
                  where sa.platform = 'telegram' and sa.external_id = record_telegram_update.chat_id)
         or exists (select 1 from private.staff_telegram_chats c
                     where c.chat_id = record_telegram_update.chat_id) then
        return jsonb_build_object('new', true, 'action', 'restarted');
      end if;
      return jsonb_build_object('new', true, 'action', 'link_refused', 'reason', 'no_token');
    end if;
    hash := encode(sha256(convert_to(command[1], 'UTF8')), 'hex');
    update private.telegram_link_tokens t
       set used_at = as_of, used_by_chat = record_telegram_update.chat_id
     where t.token_hash = hash and t.used_at is null and t.expires_at > as_of
    returning * into token;
    if token.token_hash is null then
      select t.* into token from private.telegram_link_tokens t where t.token_hash = hash;
      return jsonb_build_object(
        'new', true, 'action', 'link_refused',
        'reason', case when token.token_hash is null then 'unknown'
                       when token.used_at is not null then 'used'
                       else 'expired' end);
    end if;

    if token.staff_id is not null then
      delete from private.staff_telegram_chats s
       where s.chat_id = record_telegram_update.chat_id and s.staff_id <> token.staff_id;
      insert into private.staff_telegram_chats as s (staff_id, chat_id, handle, linked_at)
      values (token.staff_id, chat_id, handle, as_of)
      on conflict (staff_id) do update
        set chat_id = excluded.chat_id, handle = excluded.handle, linked_at = excluded.linked_at;
    else
      customer := token.customer_id;
      -- One chat, one customer: the newest link wins (an older customer's link to this chat goes).
      delete from public.customer_social_accounts sa
       where sa.platform = 'telegram' and sa.external_id = record_telegram_update.chat_id
         and sa.customer_id <> customer;
      insert into public.customer_social_accounts as sa (customer_id, platform, external_id,
                                                         handle, source, verified_at, linked_at)
      values (customer, 'telegram', chat_id, handle, 'deep_link', as_of, as_of)
      on conflict (customer_id, platform) do update
        set external_id = excluded.external_id, handle = excluded.handle,
            source = 'deep_link', verified_at = excluded.verified_at,
            linked_at = case when sa.external_id = excluded.external_id then sa.linked_at
                             else excluded.linked_at end;
      -- Opening our link and pressing Start is the customer's request for our messages there:
      -- receipts and reminders (marketing needs its own consent).
      insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                         recorded_at, recorded_by)
      select customer, 'telegram', p.purpose, 'granted', 'telegram_start', evidence, as_of, null
        from unnest(array['transactional', 'service']::public.consent_purpose[]) as p (purpose)
      on conflict (customer_id, channel, purpose) do update
        set status = 'granted', source = excluded.source, evidence = excluded.evidence,
            recorded_at = excluded.recorded_at, recorded_by = null;
    end if;
    -- A user who blocked the bot and starts it again can be reached again.
    delete from public.suppressions s
     where s.channel = 'telegram' and s.address = record_telegram_update.chat_id;
    return jsonb_build_object('new', true, 'action', 'linked',
                              'customer_id', customer, 'staff', token.staff_id is not null);
  end if;

  -- Any other text from a customer's chat is their reply (a STOP too): the reminder cadence
  -- leaves them alone for a while.
  insert into private.customer_last_replies as r (customer_id, last_reply_at, channel)
  select sa.customer_id, as_of, 'telegram'
    from public.customer_social_accounts sa
   where sa.platform = 'telegram' and sa.external_id = record_telegram_update.chat_id
  on conflict (customer_id) do update
    set last_reply_at = excluded.last_reply_at, channel = excluded.channel
   where r.last_reply_at < excluded.last_reply_at;

  if private.is_opt_out_reply(text_body) or btrim(lower(text_body)) ~ '^/stop(@[a-z0-9_]+)?$' then
    select sa.customer_id into customer from public.customer_social_accounts sa
     where sa.platform = 'telegram' and sa.external_id = record_telegram_update.chat_id;
    if customer is not null then
      insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                         recorded_at, recorded_by)
      select customer, 'telegram', p.purpose, 'withdrawn', 'telegram_stop',
             evidence || jsonb_build_object('reply', left(text_body, 100)), as_of, null
        from unnest(enum_range(null::public.consent_purpose)) as p (purpose)
      on conflict (customer_id, channel, purpose) do update
        set status = 'withdrawn', source = excluded.source, evidence = excluded.evidence,
            recorded_at = excluded.recorded_at, recorded_by = null;
      update public.messages m
         set status = 'cancelled', cancelled_at = as_of, locked_by = null, locked_until = null
       where m.customer_id = customer and m.channel = 'telegram' and m.status = 'queued';
      return jsonb_build_object('new', true, 'action', 'opted_out', 'customer_id', customer);
    end if;
    delete from private.staff_telegram_chats s where s.chat_id = record_telegram_update.chat_id;
    get diagnostics changed = row_count;
    return jsonb_build_object('new', true, 'action', case when changed > 0 then 'opted_out'
                                                          else 'ignored' end,
                              'staff', changed > 0);
  end if;
  return jsonb_build_object('new', true, 'action', 'ignored');
end;
$$;

comment on function private.record_telegram_update(bigint, text, text, jsonb, timestamptz) is
  'Records one Telegram update the webhook received (its secret header already checked): once '
  'per update_id (message_events, provider telegram, event_key update:<id>; a repeat returns '
  '{new: false, action: duplicate} and changes nothing). "/start <token>" consumes the token '
  '(unused, unexpired) and links the chat to its customer (customer_social_accounts, source '
  'deep_link; the chat leaves any other customer; transactional and service telegram consents '
  'granted, source telegram_start, the update as evidence) or its admin '
  '(staff_telegram_chats), and lifts a telegram suppression of the chat: {action: linked}; an '
  'unknown, used or expired token: {action: link_refused, reason: unknown|used|expired}, '
  'nothing changed. A bare /start from a linked chat lifts its suppression ({action: '
  'restarted}), from another chat {action: link_refused, reason: no_token}. A my_chat_member '
  'update (payload) for a linked chat: kicked suppresses it ({action: blocked}), member lifts '
  'that ({action: unblocked}). Any other text from a customer''s linked chat notes their reply '
  '(private.customer_last_replies, which the reminder cadence reads). An opt-out word '
  '(private.is_opt_out_reply, or /stop) withdraws '
  'every telegram consent of the chat''s customer (source telegram_stop) and cancels its queued '
  'telegram messages, or unlinks an admin''s chat: {action: opted_out}. Anything else: '
  '{action: ignored}. Errors: 22023 for a bad update_id or as_of. Security definer: webhooks '
  '(service_role) write none of these tables themselves.';

-- As in 20261130234153, reading the replies of every channel.
create or replace function private.run_reminder_cadence(as_of timestamptz default now())
returns table (outcome text, cases bigint)
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  today date;
  ncb_days integer := coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90);
  payment_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_PAYMENT_IN_PROGRESS_HOURS') #>> '{}')::integer, 24));
  reply_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_RECENT_REPLY_HOURS') #>> '{}')::integer, 24));
  link_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_LINK_OPENED_HOURS') #>> '{}')::integer, 24));
  bounce_window interval := make_interval(days => coalesce(
    (private.setting('CADENCE_BOUNCE_LOOKBACK_DAYS') #>> '{}')::integer, 30));
  task_min bigint := coalesce((private.setting('CALL_TASK_MIN_PREMIUM_PAISE') #>> '{}')::bigint, 5000000);
  link_base text := private.setting('LINK_BASE_URL') #>> '{}';
  links_ok boolean;
  requests private.gate_request[];
  queued bigint;
  blocked bigint;
  duplicates bigint;
  engaged bigint;
  no_channel bigint;
  opened bigint;
  ladder_fingerprint text;
  last_run_day date;
  -- This run's day comes before the last run's: an earlier day replayed.
  walked_back boolean;
  -- The last day of any ladder, in days after expiry: a lapsed case is done with after it.
  ladder_end integer;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'run_reminder_cadence needs a finite as_of' using errcode = '22023';
  end if;
  today := private.business_date(as_of);
  -- One run at a time: a second waits, then finds the first one's visits done.
  perform pg_advisory_xact_lock(hashtext('py360.run_reminder_cadence'));
  ladder_fingerprint := md5(concat_ws('|',
    (select string_agg(r::text, ';' order by r.id) from public.reminder_rules r),
    private.setting('NCB_RETENTION_DAYS')::text, private.setting('CALL_TASK_MIN_PREMIUM_PAISE')::text));
  select s.last_day into last_run_day
    from private.cadence_state s where s.fingerprint = ladder_fingerprint;
  -- Whatever ladder the runs had.
  walked_back := coalesce((select s.latest_day > today from private.cadence_state s), false);
  ladder_end := coalesce((select max(r.offset_days) from public.reminder_rules r where r.active), 0);
  if last_run_day is null or last_run_day > today then
    -- Another ladder or settings (or no run yet, or a day before the last): visit every open case.
    delete from private.cadence_next_visits;
    insert into private.cadence_next_visits (case_id, visit_on)
    select c.id, '-infinity' from public.renewal_cases c
     where c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
        or (c.stage = 'lapsed' and c.due_date + ladder_end >= today);
    analyze private.cadence_next_visits;
  end if;
  insert into private.cadence_state as s (last_day, latest_day, fingerprint)
  values (today, today, ladder_fingerprint)
  on conflict (id) do update
    set last_day = excluded.last_day, latest_day = greatest(s.latest_day, excluded.latest_day),
        fingerprint = excluded.fingerprint;
  -- A bad LINK_BASE_URL must not cost every customer their reminder: the links are left out
  -- (a template that needs one is blocked as missing_variables, visibly) and the log says why.
  links_ok := coalesce(link_base, 'http://') ~* '^https?://[!-~]+$';
  if not links_ok then
    raise warning 'LINK_BASE_URL is not an http(s) URL (%): reminders go without payment links',
      left(link_base, 80);
  end if;

  with visiting as materialized (
    -- The cases whose visit day has come, with the row version read (see moved, below).
    select v.case_id, v.xmin as version from private.cadence_next_visits v where v.visit_on <= today
  ),
  open_cases as materialized (
    select c.id as case_id, c.policy_id, c.customer_id, c.assignee_id, c.case_number, c.due_date, c.grace_end,
           c.stage, p.product_line, p.policy_number, p.premium, p.ncb_percent
      from visiting v
      join public.renewal_cases c on c.id = v.case_id
      join public.policies p on p.id = c.policy_id
     where c.stage not in ('renewed', 'lost', 'not_taken')
       -- A lapsed case hears its ladder's steps after expiry, unless it was renewed after all,
       -- until the ladder's last day (as the visits are chosen above): a visit planned by a
       -- replayed earlier day sends no step whose day has long gone.
       and (c.stage <> 'lapsed'
            or (c.due_date + ladder_end >= today
                and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id)))
  ),
  latest as (
    -- Per case and kind, the latest step whose day has come.
    select distinct on (o.case_id, r.kind)
           o.*, r.id as rule_id, r.kind, r.offset_days, r.channels, r.template_code, r.purpose,
           r.applies_until, r.min_premium, r.sla_hours
      from open_cases o
      join public.reminder_rules r
        on r.product_line = o.product_line and r.active and o.due_date + r.offset_days <= today
       and (o.stage <> 'lapsed' or r.offset_days > 0)
     order by o.case_id, r.kind, r.offset_days desc
  ),
  due as (
    select l.*,
           exists (select 1 from public.payment_orders po
                    where po.case_id = l.case_id and po.status in ('creating', 'created', 'attempted')
                      and po.created_at > as_of - payment_window and po.created_at <= as_of)
           or exists (select 1 from public.payment_links pl
                       where pl.case_id = l.case_id and pl.status = 'partially_paid'
                         and pl.updated_at > as_of - payment_window and pl.updated_at <= as_of)
           -- The customer wrote to us lately, on any channel: one probe of the table's key.
           or exists (select 1 from private.customer_last_replies lr
                       where lr.customer_id = l.customer_id
                         and lr.last_reply_at > as_of - reply_window
                         and lr.last_reply_at <= as_of)
           -- A tracked link of the case (the payment link of an earlier reminder) opened lately.
           or exists (select 1 from public.link_clicks lc
                       where lc.case_id = l.case_id
                         and lc.clicked_at > as_of - link_window and lc.clicked_at <= as_of) as engaged
      from latest l
     where (l.applies_until is null
            or (l.applies_until = 'grace_end' and today <= l.grace_end)
            or (l.applies_until = 'ncb_deadline' and today <= l.due_date + ncb_days
                and l.ncb_percent > 0))
       and case l.kind
             when 'message' then not exists (
               select 1 from public.messages m
                where m.idempotency_key = format('cadence:%s:%s', l.policy_id, l.rule_id))
             else l.premium >= coalesce(l.min_premium, task_min)
                  and not exists (select 1 from public.tasks t
                                   where t.case_id = l.case_id and t.reminder_rule_id = l.rule_id)
           end
       -- A replayed earlier day: not a step the case's ladder has already moved past.
       and not (walked_back and exists (
             select 1 from public.reminder_rules r
              where r.product_line = l.product_line and r.kind = l.kind
                and r.offset_days > l.offset_days
                and case l.kind
                      when 'message' then exists (
                        select 1 from public.messages m
                         where m.idempotency_key = format('cadence:%s:%s', l.policy_id, r.id))
                      else exists (select 1 from public.tasks t
                                    where t.case_id = l.case_id and t.reminder_rule_id = r.id)
                    end))
  ),
  new_tasks as (
    insert into public.tasks (case_id, reminder_rule_id, assignee_id, kind, due_at, sla_hours, sla_due_at)
    select d.case_id, d.rule_id, d.assignee_id, 'call', as_of, d.sla_hours,
           as_of + make_interval(hours => d.sla_hours)
      from due d
     where d.kind = 'task' and not d.engaged
    on conflict (case_id, reminder_rule_id) do nothing
    returning 1
  ),
  reachable as materialized (
    -- Each channel of each message step due, with what the request needs from its customer
    -- (read once here), carried along so that nothing below joins two CTEs (the planner,
    -- estimating a handful of rows for each, nested-looped them: quadratic).
    select d.case_id, d.policy_id, d.rule_id, ch.channel, ch.ord,
           d.customer_id, d.purpose, d.template_code, d.policy_number, d.case_number,
           d.product_line, d.due_date, d.premium, d.grace_end, d.ncb_percent,
           cu.full_name as customer_name, cu.language,
           ch.channel = cu.preferred_channel as preferred,
           case ch.channel when 'email' then lower(cu.email) else cu.phone end as recipient
      from due d
      join public.customers cu on cu.id = d.customer_id
      cross join lateral unnest(d.channels) with ordinality as ch (channel, ord)
     where d.kind = 'message' and not d.engaged
  ),
  variants as materialized (
    -- The variant the gate will pick, once per template, channel and customer language (not
    -- per case): the customer's language, else English, else any.
    select distinct on (w.template_code, w.channel, w.language)
           w.template_code as code, w.channel, w.language, t.id, t.purpose
      from (select distinct r.template_code, r.channel, r.language from reachable r) w
      join public.templates t on t.code = w.template_code and t.channel = w.channel and t.active
     order by w.template_code, w.channel, w.language,
              t.language = w.language desc, t.language = 'en' desc, t.language
  ),
  offered as materialized (
    select r.case_id, r.policy_id, r.rule_id, r.channel, r.ord, r.customer_id, r.purpose, r.template_code,
           r.policy_number, r.case_number, r.product_line, r.due_date, r.premium, r.grace_end,
           r.ncb_percent, r.customer_name, r.preferred, r.recipient,
           row_number() over (partition by r.case_id order by r.preferred desc, r.ord) as rank,
           row_number() over () as qn,
           v.id as template_id,
           v.purpose as template_purpose,
           case
             when v.id is null then 'no_template'
             when exists (select 1 from public.messages m
                           where m.customer_id = r.customer_id and m.channel = r.channel
                             and m.status = 'undeliverable' and m.recipient = r.recipient
                             and coalesce(m.failed_at, m.updated_at) > as_of - bounce_window)
               then 'recent_undeliverable'
           end as prior_refusal
      from reachable r
      left join variants v
        on v.code = r.template_code and v.channel = r.channel
       and v.language is not distinct from r.language
  ),
  asked as materialized (
    -- The gate's rules for every channel still in the running, in one call.
    select b.n, b.reason
      from private.message_block_reasons((
             select array_agg(row(o.customer_id, o.channel, o.template_purpose, o.recipient,
                                  o.template_id)::private.send_question order by o.qn)
               from offered o where o.prior_refusal is null), as_of) b
  ),
  candidates as (
    select o.*, coalesce(o.prior_refusal, a.reason) as refusal
      from offered o
      left join (select row_number() over (order by x.qn) as n, x.qn
                   from offered x where x.prior_refusal is null) p on p.qn = o.qn
      left join asked a on a.n = p.n
  ),
  chosen as (
    select distinct on (c.case_id) c.*
      from candidates c
     where c.refusal is null or c.refusal not in ('no_template', 'recent_undeliverable')
     order by c.case_id, c.refusal is null desc, c.rank
  ),
  explained as (
    -- The channels refused before the chosen one (all of them when none was allowed): a join
    -- and a group, not a subquery per case over the materialised candidates.
    select ch.case_id, ch.policy_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
           ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
           ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name,
           string_agg(format('%s: %s', c.channel, c.refusal), ', ' order by c.rank)
             filter (where c.refusal is not null and (ch.refusal is not null or c.rank < ch.rank))
             as refused
      from chosen ch
      join candidates c on c.case_id = ch.case_id
     group by ch.case_id, ch.policy_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
              ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
              ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name
  ),
  wanted as (
    -- The gate's request as a row (n, customer_id, case_id, channel, purpose, template_code,
    -- language, variables, body, subject, priority, idempotency_key, not_before, created_by,
    -- choice_reason, campaign_id): no JSON to build here and read back there.
    select row(null, e.customer_id, e.case_id, e.channel, e.purpose, e.template_code, null,
             jsonb_strip_nulls(jsonb_build_object(
               'customer_name', e.customer_name,
               'policy_number', e.policy_number,
               'case_number', e.case_number,
               'product_line', e.product_line,
               'expiry_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'due_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'premium', private.format_inr(e.premium),
               -- What is still owed on the case (what a grace reminder asks for).
               'amount_due', private.format_inr(owed.amount),
               'grace_end', to_char(e.grace_end, 'FMDD Mon YYYY'),
               'ncb_percent', e.ncb_percent::text,
               'ncb_deadline', to_char(e.due_date + ncb_days, 'FMDD Mon YYYY'),
               -- Our tracked redirect to it, so that opening it counts (one call per
               -- message that carries a link; the same URL for every message of the case).
               'payment_link', case when links_ok and pl.short_url ~* '^https?://[!-~]+$'
                                         and length(pl.short_url) <= 2048 then
                                 private.tracked_link(e.case_id, pl.short_url, 'payment_link',
                                                      pl.expire_by)
                               end)),
             null, null, 5, format('cadence:%s:%s', e.policy_id, e.rule_id), null, null,
             -- Why this channel, written on the message by the gate.
             case
               when e.refusal is not null then format('none_allowed (%s)', e.refused)
               when e.refused is null then
                 case when e.preferred then 'preferred_channel' else 'first_choice' end
               else format('first_allowed (%s)', e.refused)
             end,
             null)::private.gate_request as request
      from explained e
      -- public.case_outstanding's sum, in the statement.
      cross join lateral (
        select coalesce(sum(o.amount - o.amount_paid), 0)::bigint as amount
          from public.outstanding_amounts o
         where o.case_id = e.case_id and o.status in ('pending', 'overdue')
      ) owed
      -- The case's open payment link, if any: the newest still payable.
      left join lateral (
        select p.short_url, p.expire_by from public.payment_links p
         where p.case_id = e.case_id and p.short_url is not null
           and p.status in ('created', 'partially_paid') and p.expire_by > as_of
         order by p.created_at desc
         limit 1
      ) pl on true
  ),
  next_visits as (
    -- Per case visited: the same day again while a step is still owed (engaged, or no channel
    -- took it), else the day of its ladder's next step; none when no step is left.
    select x.case_id, min(x.visit_on) as visit_on
      from (select d.case_id, today as visit_on from due d where d.engaged
            union all
            select o.case_id, today
              from (select d.case_id from due d where d.kind = 'message' and not d.engaged
                    except
                    select ch.case_id from chosen ch) o
            union all
            select o.case_id, o.due_date + r.offset_days
              from open_cases o
              join public.reminder_rules r
                on r.product_line = o.product_line and r.active
               and o.due_date + r.offset_days > today) x
     group by x.case_id
  ),
  moved as (
    -- Only rows no other transaction changed since they were read: a case re-dated meanwhile
    -- keeps its -infinity (an update re-checks the newer row version, whose xmin differs).
    update private.cadence_next_visits v
       set visit_on = n.visit_on
      from visiting w
      join next_visits n on n.case_id = w.case_id
     where v.case_id = w.case_id and v.xmin = w.version
  ),
  dropped as (
    -- Closed cases, and open ones with no step left.
    delete from private.cadence_next_visits v
     using visiting w
     where v.case_id = w.case_id and v.xmin = w.version
       and w.case_id not in (select n.case_id from next_visits n)
  )
  select (select array_agg(w.request) from wanted w),
         (select count(*) from due d where d.engaged),
         (select count(distinct c.case_id) from candidates c
           where not exists (select 1 from chosen ch where ch.case_id = c.case_id)),
         (select count(*) from new_tasks)
    into requests, engaged, no_channel, opened;

  -- One call of the gate for every message.
  select count(*) filter (where e.created and e.status <> 'blocked'),
         count(*) filter (where e.created and e.status = 'blocked'),
         count(*) filter (where not e.created)
    into queued, blocked, duplicates
    from private.enqueue_message_batch(coalesce(requests, '{}'), as_of) e;

  return query
  select o.outcome,
         case o.outcome
           when 'queued' then queued
           when 'blocked' then blocked
           when 'duplicate' then duplicates
           when 'skipped_engaged' then engaged
           when 'no_channel' then no_channel
           else opened
         end
    from unnest(array['queued', 'blocked', 'duplicate', 'skipped_engaged', 'no_channel',
                      'tasks_opened']) as o (outcome);
end;
$$;

comment on function private.run_reminder_cadence(timestamptz) is
  'The daily reminder cadence (pg_cron; as_of moves the clock in tests). For every open case, and '
  'every lapsed one for its ladder''s steps after expiry (none once a successor term is loaded), whose '
  'visit day (private.cadence_next_visits) has come, the latest due step of its ladder '
  '(public.reminder_rules) per kind, once per policy term and step (message key '
  'cadence:<term>:<rule id>: a term''s next case after a deleted one repeats no step, nor does a '
  'step whose day an admin moved; rules are deactivated, never deleted; task unique per case and '
  'step); after-expiry steps while their applies_until holds; engaged customers (payment in '
  'progress within CADENCE_PAYMENT_IN_PROGRESS_HOURS, a reply on any channel within '
  'CADENCE_RECENT_REPLY_HOURS: private.customer_last_replies, a tracked link opened within '
  'CADENCE_LINK_OPENED_HOURS) left for another day; the channel chosen as the comment on '
  'messages.choice_reason says, all messages in one call '
  'of the gate; {{payment_link}} is the tracked redirect to the case''s open payment link '
  '(private.tracked_link); {{premium}} is the yearly premium, {{amount_due}} what the case still '
  'owes (public.case_outstanding). A visited case comes back on its next step''s day, or the same '
  'day while a step is still owed; every open case is visited when the ladder or its settings '
  'change (private.cadence_state). One run at a time (advisory lock). Returns a row per outcome: '
  'queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the gate), duplicate '
  '(its key already taken when the gate stored the batch: runs take a lock, so only a writer '
  'outside the cadence could), skipped_engaged, no_channel (no channel with a '
  'template and no recent bounce), tasks_opened. Security definer: a job.';
