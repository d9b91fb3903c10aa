-- Consent from the desk and withdrawal by one tap (issue 13).
-- * private.record_consent: the desk's one way to record a consent (POST
--   /api/customers/{id}/consents): appends a ledger row for a customer the caller sees (the
--   customers select policy's rule), stamped with the caller and the notice version.
-- * Withdrawal links: every marketing message carries <CONSENT_PAGE_BASE_URL>/w/<token>, served by
--   the public `consent` edge function. The token is signed here, in SQL, with HMAC-SHA256
--   (pgcrypto) under a key of private.link_signing_keys; no secret lives in the environment.
--     token = base64url(version 0x01 || kid (2 bytes) || message id (16 bytes)
--                       || expiry (unix seconds, 4 bytes, unsigned) || HMAC-SHA256(first 23 bytes)[0:16])
--   52 characters. The customer is the message's customer: nothing in the request names them,
--   so a link can withdraw only the person it was sent to. Links expire CONSENT_LINK_DAYS (30)
--   days after the message and are single use (private.consent_link_uses).
-- * Rotation without downtime: private.rotate_link_signing_key(overlap) makes a new current key
--   and lets the old one verify until now() + overlap (retire_at); then it is refused.
-- * private.withdraw_by_consent_link: verifies and withdraws marketing on every channel by ledger
--   rows (source withdrawal_link, evidence {message_id}); the gate blocks the next marketing
--   message at once (consent_withdrawn).

insert into public.app_settings (key, value, description) values
  ('CONSENT_LINK_DAYS', '30',
   'How many days a withdrawal link in a marketing message works (a whole number, 1 to 3650; '
   'anything else counts as 30). A link used once stops working.'),
  ('CONSENT_PAGE_BASE_URL', '"http://127.0.0.1:54321/functions/v1/consent"',
   'Where withdrawal links point: the URL of the `consent` edge function, without a trailing '
   'slash; a link is <CONSENT_PAGE_BASE_URL>/w/<token>. Set it to the project''s functions URL, '
   'e.g. https://<project-ref>.supabase.co/functions/v1/consent.')
on conflict (key) do nothing;

-- The desk records a consent.
create function private.record_consent(
  customer uuid,
  consent_channel public.channel_type,
  consent_purpose public.consent_purpose,
  consent_status public.consent_status,
  consent_source text,
  consent_evidence jsonb default '{}',
  consent_notice_version text default null
) returns public.consent_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  recorded public.consent_ledger;
begin
  if customer is null or not exists (
       select 1 from public.customers c
        where c.id = customer and c.book_keys && private.visible_book_keys()) then
    raise exception 'no such customer' using errcode = 'P0002';
  end if;
  if consent_channel is null or consent_purpose is null or consent_status is null then
    raise exception 'channel, purpose and status are required' using errcode = '22023';
  end if;
  if consent_source is null or consent_source !~ '^[a-z][a-z0-9_]{1,39}$' then
    raise exception 'source is a snake_case code of 2 to 40 characters' using errcode = '22023';
  end if;
  if consent_source in ('withdrawal_link', 'erasure', 'sms_stop', 'whatsapp_reply') then
    raise exception 'source % is recorded by the system only', consent_source using errcode = '22023';
  end if;
  if consent_evidence is null or jsonb_typeof(consent_evidence) <> 'object' then
    raise exception 'evidence is a JSON object' using errcode = '22023';
  end if;
  if consent_status = 'granted' and consent_evidence = '{}' then
    raise exception 'a consent granted on the desk needs its evidence: the form, message or call it came from'
      using errcode = '23514';
  end if;
  insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                     notice_version, recorded_by, recorded_at)
  values (customer, consent_channel, consent_purpose, consent_status, consent_source,
          consent_evidence,
          coalesce(consent_notice_version, private.setting('CONSENT_NOTICE_VERSION') #>> '{}'),
          (select auth.uid()), now())
  returning * into recorded;
  return recorded;
end;
$$;

comment on function private.record_consent(uuid, public.channel_type, public.consent_purpose,
  public.consent_status, text, jsonb, text) is
  'The desk records a consent given or withdrawn (POST /api/customers/{id}/consents): appends a '
  'consent_ledger row (which becomes the state in consents) stamped with auth.uid(), now() and the '
  'notice version (CONSENT_NOTICE_VERSION unless given). P0002 for a customer the caller does not '
  'see (the customers select policy''s rule); 22023 for a malformed source or evidence, or a '
  'system source (withdrawal_link, erasure, sms_stop, whatsapp_reply); 23514 for a grant without '
  'evidence. Security definer: the desk may not write the ledger itself.';

revoke execute on function private.record_consent(uuid, public.channel_type, public.consent_purpose,
  public.consent_status, text, jsonb, text) from public;
grant execute on function private.record_consent(uuid, public.channel_type, public.consent_purpose,
  public.consent_status, text, jsonb, text) to authenticated;

-- Signing keys.
create table private.link_signing_keys (
  kid integer generated always as identity primary key check (kid between 1 and 65535),
  key bytea not null default extensions.gen_random_bytes(32) check (length(key) = 32),
  created_at timestamptz not null default now(),
  retire_at timestamptz
);

comment on table private.link_signing_keys is
  'Keys signing our withdrawal links (HMAC-SHA256). The current key (retire_at null; exactly one) '
  'signs; every key verifies until its retire_at. Rotated by private.rotate_link_signing_key. '
  'Nobody outside the owner reads it.';
comment on column private.link_signing_keys.kid is 'Key id, written into each token (2 bytes).';
comment on column private.link_signing_keys.key is '32 random bytes (gen_random_bytes).';
comment on column private.link_signing_keys.retire_at is
  'From this instant tokens signed with the key are refused; null for the current key.';

create unique index link_signing_keys_one_current_idx
  on private.link_signing_keys ((true)) where retire_at is null;

alter table private.link_signing_keys enable row level security;
revoke all on private.link_signing_keys from anon, authenticated, service_role;

insert into private.link_signing_keys default values;

create table private.consent_link_uses (
  message_id uuid primary key,
  customer_id uuid not null,
  used_at timestamptz not null default now()
);

comment on table private.consent_link_uses is
  'Withdrawal links already used (one per message): a second use of the same link is refused.';

alter table private.consent_link_uses enable row level security;
revoke all on private.consent_link_uses from anon, authenticated, service_role;

create function private.rotate_link_signing_key(overlap interval) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  new_kid integer;
begin
  if overlap is null or overlap < interval '0' or overlap > interval '365 days' then
    raise exception 'overlap is an interval of 0 to 365 days' using errcode = '22023';
  end if;
  update private.link_signing_keys set retire_at = now() + overlap where retire_at is null;
  insert into private.link_signing_keys default values returning kid into new_kid;
  return new_kid;
end;
$$;

comment on function private.rotate_link_signing_key(interval) is
  'Rotates the withdrawal links'' signing key without downtime: a new current key signs from now; '
  'the previous one still verifies until now() + overlap (e.g. ''7 days''; 0 revokes it at once: '
  'a leaked key). Returns the new kid. 22023 for an overlap outside 0 to 365 days. Security '
  'definer: the keys are the owner''s only.';

revoke execute on function private.rotate_link_signing_key(interval) from public;
grant execute on function private.rotate_link_signing_key(interval) to service_role;

-- Base64url without padding, and back (null when malformed).
create function private.base64url_encode(raw bytea) returns text
language sql immutable strict
set search_path = ''
as $$
  select translate(rtrim(replace(encode(raw, 'base64'), E'\n', ''), '='), '+/', '-_')
$$;

comment on function private.base64url_encode(bytea) is 'Bytes as base64url (RFC 4648 s. 5), no padding.';

create function private.base64url_decode(encoded text) returns bytea
language plpgsql immutable strict
set search_path = ''
as $$
begin
  if encoded !~ '^[A-Za-z0-9_-]*$' or length(encoded) % 4 = 1 then
    return null;
  end if;
  return decode(translate(encoded, '-_', '+/') || repeat('=', (4 - length(encoded) % 4) % 4), 'base64');
exception when others then
  return null;
end;
$$;

comment on function private.base64url_decode(text) is
  'base64url (no padding) to bytes; null when it is not base64url.';

create function private.consent_link_token(message uuid, expires_at timestamptz)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  signing record;
  expiry bigint := floor(extract(epoch from expires_at))::bigint;
  payload bytea;
begin
  if message is null or expires_at is null or expiry not between 1 and 4294967295 then
    raise exception 'a message id and an expiry within 1970 to 2106 are required' using errcode = '22023';
  end if;
  select k.kid, k.key into signing from private.link_signing_keys k where k.retire_at is null;
  payload := '\x01'::bytea
             || substring(int4send(signing.kid) from 3 for 2)
             || uuid_send(message)
             || substring(int8send(expiry) from 5 for 4);
  return private.base64url_encode(
    payload || substring(extensions.hmac(payload, signing.key, 'sha256') from 1 for 16));
end;
$$;

comment on function private.consent_link_token(uuid, timestamptz) is
  'A withdrawal link token for a message, signed with the current key: base64url(0x01 || kid '
  '(2 bytes) || message id (16) || expiry unix seconds (4, unsigned) || first 16 bytes of '
  'HMAC-SHA256 of the 23 before), 52 characters. Security definer: reads the signing key.';

create function private.consent_link_url(message uuid, as_of timestamptz default now())
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  days integer;
  raw text := private.setting('CONSENT_LINK_DAYS') #>> '{}';
begin
  days := case when raw ~ '^\d{1,4}$' and raw::integer between 1 and 3650 then raw::integer else 30 end;
  return rtrim(coalesce(private.setting('CONSENT_PAGE_BASE_URL') #>> '{}',
                        'http://127.0.0.1:54321/functions/v1/consent'), '/')
         || '/w/' || private.consent_link_token(message, as_of + make_interval(days => days));
end;
$$;

comment on function private.consent_link_url(uuid, timestamptz) is
  'The withdrawal link of a message: <CONSENT_PAGE_BASE_URL>/w/<token>, expiring CONSENT_LINK_DAYS '
  '(30) days after as_of. Security definer: signs with the current key.';

-- What a token says, checked: state valid | malformed | forged | expired | used | unknown_message.
create function private.consent_link_check(token text, as_of timestamptz default now())
returns table (state text, message_id uuid, customer_id uuid, language text, expires_at timestamptz)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  raw bytea := case when token ~ '^[A-Za-z0-9_-]{52}$' then private.base64url_decode(token) end;
  signing_key bytea;
  payload bytea;
  message uuid;
  expiry timestamptz;
  customer uuid;
  customer_language text;
begin
  if raw is null or length(raw) <> 39 or get_byte(raw, 0) <> 1 then
    return query select 'malformed', null::uuid, null::uuid, null::text, null::timestamptz;
    return;
  end if;
  payload := substring(raw from 1 for 23);
  select k.key into signing_key
    from private.link_signing_keys k
   where k.kid = get_byte(raw, 1) * 256 + get_byte(raw, 2)
     and (k.retire_at is null or k.retire_at > as_of);
  -- The MAC compared in full by digests (no early exit on the first differing byte).
  if signing_key is null
     or extensions.digest(substring(raw from 24 for 16), 'sha256')
        <> extensions.digest(substring(extensions.hmac(payload, signing_key, 'sha256') from 1 for 16), 'sha256') then
    return query select 'forged', null::uuid, null::uuid, null::text, null::timestamptz;
    return;
  end if;
  message := encode(substring(payload from 4 for 16), 'hex')::uuid;
  expiry := to_timestamp(((get_byte(raw, 19)::bigint * 256 + get_byte(raw, 20)) * 256
                          + get_byte(raw, 21)) * 256 + get_byte(raw, 22));
  select m.customer_id, cu.language into customer, customer_language
    from public.messages m join public.customers cu on cu.id = m.customer_id
   where m.id = message;
  return query select
    case
      when expiry <= as_of then 'expired'
      when customer is null then 'unknown_message'
      when exists (select 1 from private.consent_link_uses u where u.message_id = message) then 'used'
      else 'valid'
    end,
    message, customer, customer_language, expiry;
end;
$$;

comment on function private.consent_link_check(text, timestamptz) is
  'Checks a withdrawal link token: state valid, malformed (not 52 base64url characters of '
  'version 1), forged (unknown or retired key, or a MAC that does not match), expired, '
  'unknown_message (no such message any more) or used (withdrawn with it already); with the '
  'message, its customer, their language and the expiry when the signature holds. Changes '
  'nothing. Security definer: reads the keys; service_role only (the consent function).';

create function private.withdraw_by_consent_link(token text, as_of timestamptz default now())
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  checked record;
  withdrawn integer;
begin
  select * into checked from private.consent_link_check(token, as_of);
  if checked.state <> 'valid' then
    return jsonb_build_object('state', checked.state, 'language', checked.language);
  end if;
  insert into private.consent_link_uses (message_id, customer_id, used_at)
  values (checked.message_id, checked.customer_id, as_of)
  on conflict (message_id) do nothing;
  if not found then
    -- A concurrent tap won the race.
    return jsonb_build_object('state', 'used', 'language', checked.language);
  end if;
  insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                     notice_version, recorded_by, recorded_at)
  select checked.customer_id, ch, 'marketing', 'withdrawn', 'withdrawal_link',
         jsonb_build_object('message_id', checked.message_id),
         private.setting('CONSENT_NOTICE_VERSION') #>> '{}', null, as_of
    from unnest(enum_range(null::public.channel_type)) as ch;
  get diagnostics withdrawn = row_count;
  return jsonb_build_object('state', 'withdrawn', 'language', checked.language,
                            'customer_id', checked.customer_id, 'channels', withdrawn);
end;
$$;

comment on function private.withdraw_by_consent_link(text, timestamptz) is
  'The withdrawal page''s tap: when the token checks valid (private.consent_link_check), marks the '
  'link used and appends a withdrawn marketing row for every channel of the message''s customer '
  '(source withdrawal_link, evidence {message_id}); the gate blocks their next marketing message '
  '(consent_withdrawn). Returns {state: withdrawn, language, customer_id, channels} or {state: '
  'malformed|forged|expired|unknown_message|used, language} having changed nothing. Security '
  'definer; service_role only.';

revoke execute on function private.base64url_encode(bytea), private.base64url_decode(text),
  private.consent_link_token(uuid, timestamptz), private.consent_link_url(uuid, timestamptz),
  private.consent_link_check(text, timestamptz),
  private.withdraw_by_consent_link(text, timestamptz) from public;
grant execute on function private.consent_link_check(text, timestamptz),
  private.withdraw_by_consent_link(text, timestamptz) to service_role;
