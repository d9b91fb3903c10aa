-- Telegram as a channel of the outbound pipeline (issue 12), for customers who linked it and
-- for admins' alerts:
-- * public.customer_social_accounts: a customer's account on a social platform (for Telegram,
--   the private chat with our bot, linked by the customer through a deep link); the desk reads
--   the rows of customers it sees, nothing writes them but definer functions.
-- * private.telegram_link_tokens: the deep links' tokens (`https://t.me/<bot>?start=<token>`):
--   128 random bits, base64url, stored only as sha256 hex, single use, 7 days. A random token
--   looked up by hash is as unforgeable as a signed one and can be revoked (delete the row).
--   A token is for a customer (the desk asks for it, for a customer it sees) or for an admin
--   (alerts by Telegram); admins' chats live in private.staff_telegram_chats.
-- * private.record_telegram_update: what the webhook calls once the secret header matched: one
--   message_events row per update_id (vendor telegram), `/start <token>` links the chat and
--   records a granted telegram consent (transactional and service; source telegram_start), an
--   opt-out word (STOP..., private.is_opt_out_reply, or /stop) withdraws every telegram consent
--   of that chat's customer (source telegram_stop) and cancels its queued telegram messages, or
--   unlinks an admin's chat.
-- * The gate (enqueue_messages, 20261129191000's version, jit off kept) takes channel telegram:
--   its address is the linked chat (none: blocked no_address), its estimated cost 0; every other
--   rule is the same (consent withdrawn, marketing without granted consent, suppressed). The
--   claim's send-time re-check needs no change: it reads the same consents and suppressions.
-- * messages and suppressions take channel telegram; staff messages may be telegram; a telegram
--   channel (provider telegram, 30 sends/s: the Bot API's overall soft limit) is seeded.
-- * notify_admins (20261129225450's version) also queues a Telegram message for each active
--   admin who linked a chat, when a telegram channel is enabled.

alter table public.messages drop constraint messages_channel_check;
alter table public.messages add constraint messages_channel_check
  check (channel in ('sms', 'email', 'whatsapp', 'telegram'));
alter table public.messages drop constraint messages_staff_by_email;
alter table public.messages add constraint messages_staff_by_email
  check (staff_id is null or channel in ('email', 'telegram'));
alter table public.suppressions drop constraint suppressions_channel_check;
alter table public.suppressions add constraint suppressions_channel_check
  check (channel in ('sms', 'email', 'whatsapp', 'telegram'));

comment on column public.messages.channel is 'sms, email, whatsapp or telegram.';
comment on column public.messages.recipient is
  'The address as it was when queued: E.164 phone for SMS and WhatsApp, email address for email, '
  'the linked chat id for Telegram. Null only when the customer had none (then blocked: '
  'no_address).';
comment on column public.messages.staff_id is
  'The desk user it is for (profiles.id), for staff notifications such as alerts and scheduled '
  'reports (private.notify_admins); null for customers'' messages. Email, or Telegram for an '
  'admin who linked a chat.';
comment on column public.consents.source is
  'Where it was given or withdrawn: web_form, agent_call, whatsapp_reply, sms_stop, import, '
  'telegram_start (the customer opened our deep link in Telegram), telegram_stop, ...';

insert into public.channels (type, name, provider, fallback_provider, cost_per_message, daily_quota)
values ('telegram', 'Telegram messages', 'telegram', null, 0, null);
insert into public.provider_state (provider, rate_per_second, tokens)
values ('telegram', 30, 30)
on conflict (provider) do nothing;

create table public.customer_social_accounts (
  id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references public.customers (id) on delete cascade,
  platform text not null check (platform in ('facebook', 'x', 'linkedin', 'telegram')),
  external_id text not null check (length(external_id) between 1 and 100),
  handle text check (length(handle) between 1 and 100),
  source text not null check (source in ('deep_link', 'lookup')),
  verified_at timestamptz,
  linked_at timestamptz not null default now(),
  unique (platform, external_id),
  unique (customer_id, platform)
);

comment on table public.customer_social_accounts is
  'A customer''s account on a social platform, one per platform: for Telegram the private chat '
  'with our bot (linked by the customer through a deep link), for X or Facebook an id looked up. '
  'Personal data: read by whoever sees the customer; written only by backend functions.';
comment on column public.customer_social_accounts.platform is 'facebook, x, linkedin or telegram.';
comment on column public.customer_social_accounts.external_id is
  'The platform''s id: the Telegram chat id (the address of Telegram messages), the X user id, '
  'the Facebook page-scoped id.';
comment on column public.customer_social_accounts.handle is
  'The username as the platform showed it when linked (Telegram @username, X handle), if any.';
comment on column public.customer_social_accounts.source is
  'deep_link: the customer linked it themselves (Telegram /start); lookup: found by the API.';
comment on column public.customer_social_accounts.verified_at is
  'When the platform last confirmed the account (the /start, a lookup).';
comment on column public.customer_social_accounts.linked_at is 'When it was first linked.';

alter table public.customer_social_accounts enable row level security;
revoke all on public.customer_social_accounts from anon, authenticated, service_role;
grant select on public.customer_social_accounts to authenticated, service_role;

create policy customer_social_accounts_select_member on public.customer_social_accounts
  for select to authenticated
  using (exists (select 1 from public.customers c where c.id = customer_social_accounts.customer_id));

create table private.staff_telegram_chats (
  staff_id uuid primary key references public.profiles (id) on delete cascade,
  chat_id text not null unique check (length(chat_id) between 1 and 100),
  handle text,
  linked_at timestamptz not null default now()
);

comment on table private.staff_telegram_chats is
  'The Telegram chat an admin linked through a deep link, where notify_admins sends alerts '
  'beside the email. Backend only.';

alter table private.staff_telegram_chats enable row level security;
revoke all on private.staff_telegram_chats from public, anon, authenticated, service_role;

create table private.telegram_link_tokens (
  token_hash text primary key check (token_hash ~ '^[0-9a-f]{64}$'),
  customer_id uuid references public.customers (id) on delete cascade,
  staff_id uuid references public.profiles (id) on delete cascade,
  created_by uuid,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  used_by_chat text,
  check (num_nonnulls(customer_id, staff_id) = 1),
  check (expires_at > created_at)
);

comment on table private.telegram_link_tokens is
  'Deep-link tokens (https://t.me/<bot>?start=<token>): the sha256 hex of a random 128-bit '
  'token, for a customer or an admin, single use (used_at, the chat that used it), valid 7 '
  'days. The token itself is never stored. Backend only.';

create index telegram_link_tokens_customer_idx on private.telegram_link_tokens (customer_id)
  where customer_id is not null;
create index telegram_link_tokens_staff_idx on private.telegram_link_tokens (staff_id)
  where staff_id is not null;

alter table private.telegram_link_tokens enable row level security;
revoke all on private.telegram_link_tokens from public, anon, authenticated, service_role;

create function private.create_telegram_link_token(
  customer_id uuid default null,
  staff_id uuid default null,
  as_of timestamptz default now()
) returns table (token text, expires_at timestamptz)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  raw text;
  expiry timestamptz;
  -- The backend (service_role, jobs) may link anyone; a desk user only whom they see. The
  -- session's role, not current_user (the definer's).
  trusted boolean := coalesce(current_setting('role', true), 'none') not in ('authenticated', 'anon');
begin
  if num_nonnulls(customer_id, staff_id) <> 1 then
    raise exception 'a link token is for one customer or one staff member' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  if customer_id is not null and not exists (
       select 1 from public.customers cu
        where cu.id = create_telegram_link_token.customer_id
          and (trusted or cu.book_keys && private.visible_book_keys())) then
    raise exception 'no such customer, or not yours to see' using errcode = 'P0002';
  end if;
  if staff_id is not null then
    if not trusted and staff_id is distinct from auth.uid() then
      raise exception 'a staff member links their own Telegram' using errcode = '42501';
    end if;
    if not exists (select 1 from public.profiles p
                    where p.id = create_telegram_link_token.staff_id and p.active
                      and p.role = 'admin') then
      raise exception 'only active admins get alerts by Telegram' using errcode = '42501';
    end if;
  end if;
  -- 16 random bytes as base64url (22 characters: what a /start parameter may hold).
  raw := rtrim(translate(encode(extensions.gen_random_bytes(16), 'base64'), '+/', '-_'), '=');
  expiry := as_of + interval '7 days';
  delete from private.telegram_link_tokens t where t.expires_at < as_of - interval '30 days';
  insert into private.telegram_link_tokens (token_hash, customer_id, staff_id, created_by,
                                            created_at, expires_at)
  values (encode(sha256(convert_to(raw, 'UTF8')), 'hex'), create_telegram_link_token.customer_id,
          create_telegram_link_token.staff_id, auth.uid(), as_of, expiry);
  return query select raw, expiry;
end;
$$;

comment on function private.create_telegram_link_token(uuid, uuid, timestamptz) is
  'A new deep-link token for a customer (the caller must see them; service_role any) or for an '
  'active admin (the admin themselves; service_role any): returns the token (22 characters, '
  'base64url of 128 random bits; shown once, only its sha256 is stored) and its expiry (as_of + '
  '7 days). Month-old expired tokens are swept. Errors: 22023 unless exactly one of customer_id '
  'and staff_id; P0002 for a customer not seen; 42501 for another staff member or a non-admin. '
  'Security definer: the tokens table is private.';

create function private.record_telegram_update(
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
  if chat_id is null or chat_id !~ '^-?[0-9]{1,20}$' or text_body is null then
    return jsonb_build_object('new', true, 'action', 'ignored');
  end if;
  evidence := jsonb_build_object('provider', 'telegram', 'event_id', event,
                                 'update_id', update_id, 'chat_id', chat_id);

  command := regexp_match(btrim(text_body), '^/start(?:@[A-Za-z0-9_]+)?(?:\s+(\S+))?$');
  if command is not null then
    if command[1] is null then
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
  'unknown, used or expired token: {action: link_refused, reason: unknown|used|expired|'
  'no_token}, nothing changed. An opt-out word (private.is_opt_out_reply, or /stop) withdraws '
  'every telegram consent of the chat''s customer (source telegram_stop) and cancels its queued '
  'telegram messages, or unlinks an admin''s chat: {action: opted_out}. Anything else: '
  '{action: ignored}. Errors: 22023 for a bad update_id or as_of. Security definer: webhooks '
  '(service_role) write none of these tables themselves.';

create function private.telegram_chat(customer_id uuid)
returns table (chat_id text, handle text, linked_at timestamptz, verified_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select sa.external_id, sa.handle, sa.linked_at, sa.verified_at
    from public.customer_social_accounts sa
   where sa.customer_id = telegram_chat.customer_id and sa.platform = 'telegram';
$$;

comment on function private.telegram_chat(uuid) is
  'The Telegram chat a customer linked (chat id, @username, when linked and last confirmed); no '
  'row when none. Security definer for the verify endpoint, which checks first that its caller '
  'sees the customer; service_role only.';

create function private.delete_telegram_link_tokens()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  deleted integer;
begin
  delete from private.telegram_link_tokens t where t.used_at is null;
  get diagnostics deleted = row_count;
  return deleted;
end;
$$;

comment on function private.delete_telegram_link_tokens() is
  'Revokes every unused deep-link token (the bot is being disconnected); linked chats stay, so '
  'a reconnected bot reaches them again. Returns how many were deleted. Security definer; '
  'service_role only.';

revoke execute on function
  private.create_telegram_link_token(uuid, uuid, timestamptz),
  private.record_telegram_update(bigint, text, text, jsonb, timestamptz),
  private.telegram_chat(uuid),
  private.delete_telegram_link_tokens()
  from public;
grant execute on function private.create_telegram_link_token(uuid, uuid, timestamptz)
  to authenticated, service_role;
grant execute on function
  private.record_telegram_update(bigint, text, text, jsonb, timestamptz),
  private.telegram_chat(uuid),
  private.delete_telegram_link_tokens()
  to service_role;


-- The gate: 20261129191000's version with channel telegram (its address and cost); jit off kept.
create or replace function private.enqueue_messages(requests jsonb, as_of timestamptz default now())
returns table (
  message_id uuid,
  idempotency_key text,
  status public.message_status,
  blocked_reason text,
  deferred_reason text,
  next_attempt_at timestamptz,
  created boolean
)
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  caps jsonb := coalesce(private.setting('MESSAGE_FREQUENCY_CAPS'), '{}');
  rates jsonb := coalesce(private.setting('MESSAGE_RATES_PAISE'), '{}');
  inserted uuid[];
  unknown_templates text;
  unknown_customers text;
  batch private.gate_request[];
begin
  if requests is null or jsonb_typeof(requests) not in ('array', 'object') then
    raise exception 'enqueue_messages takes a JSON object or an array of them' using errcode = '22023';
  end if;
  if jsonb_typeof(requests) = 'object' then
    requests := jsonb_build_array(requests);
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  -- One row per key: a key repeated inside the batch is the same message.
  batch := array(
    select row(r.n, r.customer_id, r.case_id, r.channel, r.purpose, r.template_code, r.language,
               coalesce(r.variables, '{}'), r.body, r.subject, coalesce(r.priority, 5),
               r.idempotency_key, r.not_before, r.created_by, r.choice_reason,
               r.campaign_id)::private.gate_request
      from (
        select distinct on (x.idempotency_key) x.*
          from rows from (jsonb_to_recordset(requests) as (
                 customer_id uuid, case_id uuid, channel public.channel_type,
                 purpose public.consent_purpose, template_code text, language text,
                 variables jsonb, body text, subject text, priority smallint,
                 idempotency_key text, not_before timestamptz, created_by uuid,
                 choice_reason text, campaign_id uuid))
               with ordinality as x (customer_id, case_id, channel, purpose, template_code,
                                     language, variables, body, subject, priority,
                                     idempotency_key, not_before, created_by, choice_reason,
                                     campaign_id, n)
         order by x.idempotency_key, x.n
      ) r);

  if exists (select 1 from unnest(batch) g
              where g.customer_id is null or g.channel is null or g.idempotency_key is null
                 or (g.template_code is null and (g.body is null or g.purpose is null))
                 or g.channel not in ('sms', 'email', 'whatsapp', 'telegram')
                 or jsonb_typeof(g.variables) <> 'object'
                 or g.priority not between 0 and 9) then
    raise exception 'each request needs customer_id, channel (sms, email, whatsapp or telegram), '
                    'idempotency_key, and a template_code or a body with a purpose; '
                    'variables an object; priority 0-9'
      using errcode = '22023';
  end if;
  select string_agg(distinct format('%s (%s)', g.template_code, g.channel), ', ')
    into unknown_templates
    from unnest(batch) g
   where g.template_code is not null
     and not exists (select 1 from public.templates t
                      where t.code = g.template_code and t.channel = g.channel and t.active);
  if unknown_templates is not null then
    raise exception 'no active template %', unknown_templates using errcode = '22023';
  end if;
  -- A request for a customer who does not exist is a producer's error (a key seen before
  -- returns its message whatever the rest of the request says).
  select string_agg(distinct g.customer_id::text, ', ') into unknown_customers
    from unnest(batch) g
   where not exists (select 1 from public.customers cu where cu.id = g.customer_id)
     and not exists (select 1 from public.messages m where m.idempotency_key = g.idempotency_key);
  if unknown_customers is not null then
    raise exception 'no such customer: %', unknown_customers using errcode = '22023';
  end if;

  with addressed as materialized (
    select g.*,
           cu.dnd,
           case g.channel
             when 'email' then lower(cu.email)
             -- Telegram: the chat the customer linked through the bot's deep link (/start).
             when 'telegram' then (select sa.external_id from public.customer_social_accounts sa
                                    where sa.customer_id = cu.id and sa.platform = 'telegram')
             else cu.phone
           end as recipient,
           coalesce(g.language, cu.language, 'en') as wanted_language
      from unnest(batch) g
      join public.customers cu on cu.id = g.customer_id
     where not exists (select 1 from public.messages m where m.idempotency_key = g.idempotency_key)
  ),
  picked as materialized (
    -- The template variant for each code, channel and language asked for, chosen once, not
    -- per message: the language asked for, else English, else any the template has.
    select distinct on (w.template_code, w.channel, w.wanted_language)
           w.template_code, w.channel, w.wanted_language, t.id
      from (select distinct a.template_code, a.channel, a.wanted_language
              from addressed a where a.template_code is not null) w
      join public.templates t on t.code = w.template_code and t.channel = w.channel and t.active
     order by w.template_code, w.channel, w.wanted_language,
              t.language = w.wanted_language desc, t.language = 'en' desc, t.language
  ),
  resolved as (
    select a.*,
           t.id as template_id,
           t.purpose as template_purpose,
           t.subject as template_subject,
           t.body as template_body,
           t.whatsapp_category,
           t.whatsapp_status,
           t.lint -> 'variables' as template_variables,
           t.whatsapp_name,
           t.language as template_language,
           t.dlt_entity_id,
           t.dlt_header,
           t.dlt_template_id
      from addressed a
      left join picked p
        on p.template_code = a.template_code and p.channel = a.channel
       and p.wanted_language = a.wanted_language
      left join public.templates t on t.id = p.id
  ),
  shapes as materialized (
    -- Each template of the batch cut at its placeholders once; filling it for a message is
    -- then array work, not a regular expression per message.
    select t.id,
           private.template_parts(t.body) as body_parts,
           private.template_names(t.body) as body_names,
           private.template_parts(t.subject) as subject_parts,
           private.template_names(t.subject) as subject_names
      from public.templates t
     where t.id in (select r.template_id from resolved r)
  ),
  judged as materialized (
    select r.*,
           row_number() over (order by r.n) as qn,
           coalesce(r.template_purpose, r.purpose) as final_purpose,
           coalesce(private.fill_template(s.body_parts, s.body_names, r.variables), r.body) as final_body,
           coalesce(private.fill_template(s.subject_parts, s.subject_names, r.variables), r.subject)
             as final_subject,
           case when r.template_id is not null then jsonb_strip_nulls(jsonb_build_object(
             'whatsapp_name', r.whatsapp_name, 'whatsapp_language', r.template_language,
             'whatsapp_parameters', case when r.channel = 'whatsapp' then to_jsonb(array(
               select coalesce(r.variables ->> v.name, '')
                 from unnest(s.body_names) with ordinality as v (name, i) order by v.i)) end,
             'dlt_entity_id', r.dlt_entity_id, 'dlt_header', r.dlt_header,
             'dlt_template_id', r.dlt_template_id)) end as template_snapshot
      from resolved r
      left join shapes s on s.id = r.template_id
  ),
  asked as materialized (
    -- The gate's rules for the whole batch in one call (message_block_reasons), by position.
    select b.n, b.reason
      from private.message_block_reasons((
             select array_agg(row(j.customer_id, j.channel, j.final_purpose, j.recipient,
                                  j.template_id)::private.send_question order by j.qn)
               from judged j), as_of) b
  ),
  fated as materialized (
    select j.*,
           coalesce(
             a.reason,
             case
               when j.final_body ~ '\{\{\s*[a-z][a-z0-9_]*\s*\}\}'
                    or coalesce(j.final_subject, '') ~ '\{\{\s*[a-z][a-z0-9_]*\s*\}\}'
                 then 'missing_variables'
               -- DLT takes at most 30 characters in a {#var#} slot (TRAI).
               when j.channel = 'sms' and exists (
                      select 1 from jsonb_array_elements_text(j.template_variables) v
                       where length(j.variables ->> v) > 30)
                 then 'dlt_variable_too_long'
             end) as gate_reason
      from judged j
      left join asked a on a.n = j.qn
  ),
  capped as materialized (
    -- The frequency cap counts what the customer already has for the purpose in the window
    -- (messages that never reached them do not count), then this batch in key order. Two
    -- concurrent batches for one customer may each pass it once: a cap, not a lock.
    select f.*,
           case
             when f.gate_reason is null and caps ? f.final_purpose::text
                  and (select count(*) from public.messages m
                        where m.customer_id = f.customer_id and m.purpose = f.final_purpose
                          and m.status not in ('blocked', 'cancelled', 'failed', 'undeliverable', 'dead')
                          and m.queued_at > as_of - make_interval(days => (caps -> f.final_purpose::text ->> 'days')::integer))
                      + row_number() over (partition by f.customer_id, f.final_purpose, f.gate_reason is null
                                               order by f.priority, f.n)
                      > (caps -> f.final_purpose::text ->> 'max')::integer
               then 'frequency_cap'
             else f.gate_reason
           end as reason,
           greatest(as_of, coalesce(f.not_before, as_of)) as earliest
      from fated f
  ),
  timed as materialized (
    -- The send window per message (not through a join on the distinct start times: under a
    -- generic plan that join was a nested loop, quadratic for a spread campaign). Sorted, so
    -- that every frequency-cap count above is taken before the first row is inserted: counted
    -- while the insert runs, with the outbox believed empty, each count scanned the rows this
    -- statement had inserted so far (quadratic).
    select c.*,
           case
             when c.final_purpose = 'marketing'
               then private.next_allowed_time(c.earliest, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time)
             when c.final_purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(c.earliest, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time)
             else c.earliest
           end as due
      from capped c
     order by c.n
  ),
  stored as (
    insert into public.messages as m (
      customer_id, case_id, channel, purpose, template_id, variables, subject, body, recipient,
      priority, status, blocked_reason, blocked_at, deferred_reason, idempotency_key,
      next_attempt_at, estimated_cost_paise, created_by, queued_at, provider, template_snapshot,
      choice_reason, campaign_id)
    select t.customer_id, t.case_id, t.channel, t.final_purpose, t.template_id, t.variables,
           t.final_subject, t.final_body, t.recipient, t.priority,
           case when t.reason is null then 'queued' else 'blocked' end::public.message_status,
           t.reason,
           case when t.reason is not null then as_of end,
           case
             when t.reason is not null then null
             when t.due > t.earliest and t.final_purpose = 'marketing' then 'promotional_hours'
             when t.due > t.earliest then 'quiet_hours'
             when t.earliest > as_of then 'scheduled'
           end,
           t.idempotency_key,
           t.due,
           case t.channel
             when 'sms' then private.sms_segments(t.final_body) * (rates ->> 'sms_segment')::numeric
             when 'email' then (rates ->> 'email')::numeric
             -- The Bot API charges nothing per message.
             when 'telegram' then 0
             else (rates ->> case when t.template_id is null then 'whatsapp_service'
                                  else 'whatsapp_' || coalesce(t.whatsapp_category::text, 'utility') end)::numeric
           end,
           t.created_by,
           as_of,
           case when t.reason is null then (
             select ch.provider from public.channels ch
              where ch.type = t.channel and ch.enabled order by ch.name limit 1) end,
           t.template_snapshot,
           left(t.choice_reason, 500),
           t.campaign_id
      from timed t
    on conflict on constraint messages_idempotency_key_key do nothing
    returning m.id
  )
  select coalesce(array_agg(stored.id), '{}') into inserted from stored;

  if exists (select 1 from public.messages m where m.id = any (inserted) and m.status = 'queued') then
    perform pg_notify('messages_queued', '');
  end if;

  -- Created or not by a join with the new ids, not `m.id = any (inserted)`: that scans the
  -- array for every row, quadratic in the batch (a 100,000-message launch: 10^10 comparisons).
  return query
  select m.id, m.idempotency_key, m.status, m.blocked_reason, m.deferred_reason,
         m.next_attempt_at, i.id is not null
    from unnest(batch) g
    join public.messages m on m.idempotency_key = g.idempotency_key
    left join unnest(inserted) as i (id) on i.id = m.id
   order by g.n;
end;
$$;

comment on function private.enqueue_messages(jsonb, timestamptz) is
  'The gate. Takes a JSON request or an array of them: {customer_id, channel (sms|email|whatsapp|'
  'telegram), idempotency_key, template_code + variables (the template in the customer''s '
  'language, else en) or body + purpose, [case_id, subject, language, priority 0-9 (default 5), '
  'not_before, created_by, choice_reason, campaign_id]}. The address: the phone for SMS and '
  'WhatsApp, the email for email, the linked chat (customer_social_accounts) for Telegram. For '
  'each key not seen before it stores one message, queued (next_attempt_at deferred to '
  'promotional hours for marketing, past quiet hours for service, or to not_before) or blocked '
  'with the first reason that applies: channel_disabled (no enabled channel, or '
  'ENABLE_<CHANNEL>_CAMPAIGNS off for service and marketing), no_address, '
  'sms_needs_dlt_template (in India an SMS outside a registered DLT template is dropped), '
  'consent_withdrawn, no_consent (marketing needs a granted consent), whatsapp_not_opted_in, '
  'dnd (marketing SMS to an NCPR number), suppressed, whatsapp_window_closed (free text outside '
  'the 24-hour window), template_not_approved, missing_variables, frequency_cap '
  '(MESSAGE_FREQUENCY_CAPS). Returns one row per distinct key, in request order: the message '
  '(the first one for a key seen before, created false). Notifies messages_queued. Raises 22023 '
  'on a malformed request or a template code with no active template on its channel. Security '
  'definer: producers may not write messages themselves.';

create or replace function private.notify_admins(
  kind text,
  subject text,
  html text,
  text_body text,
  key text,
  as_of timestamptz default now()
) returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  rates jsonb := coalesce(private.setting('MESSAGE_RATES_PAISE'), '{}');
  provider text;
  telegram_provider text;
  created integer;
  created_telegram integer := 0;
begin
  if kind is null or kind !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'kind is a code of lowercase letters, digits and _ (at most 40)' using errcode = '22023';
  end if;
  if key is null or length(key) not between 1 and 150 then
    raise exception 'key is 1 to 150 characters' using errcode = '22023';
  end if;
  if nullif(btrim(subject), '') is null or length(subject) > 300 then
    raise exception 'subject is 1 to 300 characters' using errcode = '22023';
  end if;
  if nullif(btrim(text_body), '') is null then
    raise exception 'text_body is required (the text part of the email)' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  select ch.provider into provider
    from public.channels ch where ch.type = 'email' and ch.enabled order by ch.name limit 1;

  with admins as (
    select p.id, lower(coalesce(u.email, p.email::text)) as recipient
      from public.profiles p
      left join auth.users u on u.id = p.id
     where p.role = 'admin' and p.active
  ),
  judged as (
    select a.*,
           case
             when provider is null then 'channel_disabled'
             when a.recipient is null or a.recipient = '' then 'no_address'
             when exists (select 1 from public.suppressions s
                           where s.channel = 'email' and s.address = a.recipient)
               then 'suppressed'
           end as reason
      from admins a
  ),
  stored as (
    insert into public.messages as m (
      staff_id, channel, purpose, variables, subject, body, body_html, recipient, priority,
      status, blocked_reason, blocked_at, idempotency_key, next_attempt_at, estimated_cost_paise,
      queued_at, provider, choice_reason)
    select j.id, 'email', 'transactional', jsonb_build_object('kind', kind), subject, text_body,
           html, j.recipient, 1,
           case when j.reason is null then 'queued' else 'blocked' end::public.message_status,
           j.reason,
           case when j.reason is not null then as_of end,
           format('staff:%s:%s', j.id, key),
           as_of,
           (rates ->> 'email')::numeric,
           as_of,
           case when j.reason is null then provider end,
           left(format('notify_admins: %s', kind), 500)
      from judged j
    on conflict on constraint messages_idempotency_key_key do nothing
    returning m.status
  )
  select count(*) filter (where stored.status = 'queued') into created from stored;

  -- Telegram (issue 12): admins who linked a chat get the subject and the text too, when a
  -- telegram channel is enabled; an admin without a chat gets nothing there (no blocked row).
  select ch.provider into telegram_provider
    from public.channels ch where ch.type = 'telegram' and ch.enabled order by ch.name limit 1;
  if telegram_provider is not null then
    with chats as (
      select p.id, c.chat_id,
             exists (select 1 from public.suppressions s
                      where s.channel = 'telegram' and s.address = c.chat_id) as suppressed
        from public.profiles p
        join private.staff_telegram_chats c on c.staff_id = p.id
       where p.role = 'admin' and p.active
    ),
    stored as (
      insert into public.messages as m (
        staff_id, channel, purpose, variables, body, recipient, priority, status, blocked_reason,
        blocked_at, idempotency_key, next_attempt_at, estimated_cost_paise, queued_at, provider,
        choice_reason)
      select c.id, 'telegram', 'transactional', jsonb_build_object('kind', kind),
             left(format(E'%s\n\n%s', subject, text_body), 4096), c.chat_id, 1,
             case when c.suppressed then 'blocked' else 'queued' end::public.message_status,
             case when c.suppressed then 'suppressed' end,
             case when c.suppressed then as_of end,
             format('staff:%s:%s:telegram', c.id, key),
             as_of, 0, as_of,
             case when not c.suppressed then telegram_provider end,
             left(format('notify_admins: %s', kind), 500)
        from chats c
      on conflict on constraint messages_idempotency_key_key do nothing
      returning m.status
    )
    select count(*) filter (where stored.status = 'queued') into created_telegram from stored;
  end if;

  if created + created_telegram > 0 then
    perform pg_notify('messages_queued', '');
  end if;
  return created + created_telegram;
end;
$$;

comment on function private.notify_admins(text, text, text, text, text, timestamptz) is
  'Queues one email per active admin (to their sign-in address) through the outbound pipeline, '
  'and one Telegram message (subject and text, at most 4096 characters) per active admin who '
  'linked a chat (private.staff_telegram_chats) when a telegram channel is enabled: kind (a code '
  'kept in variables.kind, e.g. alert_raised, report_daily), subject, html (the HTML part, may '
  'be null), text_body (the text part, required), key (1-150 characters: one message per admin, '
  'channel and key; idempotency keys staff:<admin>:<key> and staff:<admin>:<key>:telegram), '
  'as_of (queued at). Transactional, priority 1, on the enabled channel''s provider. An admin '
  'whose address is suppressed, or with no enabled email channel, gets a blocked message saying '
  'why. Returns how many messages this call queued (0 when the key was used before). Errors: '
  '22023 for a bad argument. Security definer: writes the outbox, which no API role may, and '
  'reads admins'' auth emails and chats; for the evaluator, the reports and service_role.';
