-- Telegram updates about the bot itself (issue 12): when a user blocks the bot, Telegram sends a
-- my_chat_member update (new status kicked), and when they unblock it, another (member) and,
-- from the Restart button, a bare /start. record_telegram_update (20261130020727's version,
-- otherwise unchanged) now suppresses a linked chat at once when it is blocked (reason
-- unsubscribed, source telegram_blocked), and lifts that suppression when it is unblocked or
-- restarted with a bare /start ({action: restarted}); its consents stay as they were (a STOP
-- still withdraws them). Unlinked chats' member updates are recorded and ignored.

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
  'that ({action: unblocked}). An opt-out word (private.is_opt_out_reply, or /stop) withdraws '
  'every telegram consent of the chat''s customer (source telegram_stop) and cancels its queued '
  'telegram messages, or unlinks an admin''s chat: {action: opted_out}. Anything else: '
  '{action: ignored}. Errors: 22023 for a bad update_id or as_of. Security definer: webhooks '
  '(service_role) write none of these tables themselves.';
