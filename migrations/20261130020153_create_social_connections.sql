-- Social integrations (issue 12): one connection per platform (Facebook, X, LinkedIn, Telegram),
-- its encrypted tokens and the pending OAuth states. The database never sees a plaintext token:
-- the functions encrypt with AES-256-GCM (functions/_shared/social/crypto.ts, key from the
-- environment) and store ciphertexts here. The desk reads public.social_connections (what is
-- connected, account, scopes, expiry, last error); tokens and states live in private tables that
-- only security-definer functions granted to service_role touch.

create table public.social_connections (
  platform text primary key check (platform in ('facebook', 'x', 'linkedin', 'telegram')),
  status text not null default 'disconnected'
    check (status in ('connected', 'error', 'disconnected')),
  account_id text,
  account_name text,
  scopes text[] not null default '{}',
  expires_at timestamptz,
  refresh_expires_at timestamptz,
  last_refreshed_at timestamptz,
  last_error text,
  last_error_at timestamptz,
  connected_by uuid references auth.users (id) on delete set null,
  connected_at timestamptz,
  updated_at timestamptz not null default now()
);

comment on table public.social_connections is
  'One row per social platform the organisation has connected (facebook, x, linkedin, telegram): '
  'status, the connected account, granted scopes, token expiry and the last error. Tokens are '
  'never here (private.social_tokens, encrypted). Written only by the integrations API and the '
  'oauth function through private functions; desk members read it.';
comment on column public.social_connections.status is
  'connected: tokens stored and usable; error: the last refresh or call failed (see last_error; '
  'reconnect may be needed); disconnected: revoked by an admin, tokens deleted.';
comment on column public.social_connections.account_id is
  'The provider''s id of the connected account (Facebook user id, X user id, LinkedIn sub, '
  'Telegram bot id).';
comment on column public.social_connections.scopes is 'The scopes the provider granted.';
comment on column public.social_connections.expires_at is
  'When the access token expires (null: does not expire, e.g. a Telegram bot token).';
comment on column public.social_connections.refresh_expires_at is
  'When the refresh token expires, where the provider says (null: unknown or none).';
comment on column public.social_connections.connected_by is 'The admin who connected it.';

create trigger _100_timestamps before update on public.social_connections
  for each row execute function private.tg__set_updated_at();

alter table public.social_connections enable row level security;
revoke all on public.social_connections from anon, authenticated, service_role;
grant select on public.social_connections to authenticated, service_role;

create policy social_connections_select_desk on public.social_connections
  for select to authenticated
  using ((select private.is_desk_member()));

create table private.social_tokens (
  platform text primary key references public.social_connections (platform) on delete cascade,
  access_token bytea,
  refresh_token bytea,
  webhook_secret bytea,
  key_id text not null,
  updated_at timestamptz not null default now()
);

comment on table private.social_tokens is
  'The encrypted secrets of each connection: AES-256-GCM ciphertexts (12-byte IV prefixed, AAD '
  '"<platform>:<field>") made by the functions with SOCIAL_TOKEN_ENCRYPTION_KEY; key_id names the '
  'key (rotation). Unreadable without the key, which the database never holds. Backend only.';

create trigger _100_timestamps before update on private.social_tokens
  for each row execute function private.tg__set_updated_at();

alter table private.social_tokens enable row level security;
revoke all on private.social_tokens from public, anon, authenticated, service_role;

create table private.oauth_states (
  state_hash text primary key check (state_hash ~ '^[0-9a-f]{64}$'),
  platform text not null check (platform in ('facebook', 'x', 'linkedin')),
  code_verifier bytea,
  key_id text,
  created_by uuid,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '10 minutes',
  used_at timestamptz
);

comment on table private.oauth_states is
  'Pending OAuth authorisations: the sha256 (hex) of the state we sent, the PKCE code verifier '
  '(encrypted like the tokens), who started it, and when it expires (10 minutes). Consumed once '
  '(used_at). Backend only.';

create index oauth_states_expires_idx on private.oauth_states (expires_at);

alter table private.oauth_states enable row level security;
revoke all on private.oauth_states from public, anon, authenticated, service_role;

create function private.save_social_connection(
  platform text, account_id text, account_name text, scopes text[], expires_at timestamptz,
  refresh_expires_at timestamptz, tokens jsonb, key_id text, connected_by uuid default null
) returns public.social_connections
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  saved public.social_connections;
  bad_key text;
begin
  if platform is null or platform not in ('facebook', 'x', 'linkedin', 'telegram') then
    raise exception 'unknown social platform: %', platform using errcode = '22023';
  end if;
  if tokens is null or jsonb_typeof(tokens) <> 'object' then
    raise exception 'tokens must be a json object' using errcode = '22023';
  end if;
  select k into bad_key from jsonb_object_keys(tokens) k
   where k not in ('access_token', 'refresh_token', 'webhook_secret') limit 1;
  if bad_key is not null then
    raise exception 'unknown token field: %', bad_key using errcode = '22023';
  end if;
  if nullif(key_id, '') is null then
    raise exception 'key_id is required' using errcode = '22023';
  end if;
  insert into public.social_connections as c
    (platform, status, account_id, account_name, scopes, expires_at, refresh_expires_at,
     last_refreshed_at, last_error, last_error_at, connected_by, connected_at)
  values
    (platform, 'connected', account_id, account_name, coalesce(scopes, '{}'), expires_at,
     refresh_expires_at, now(), null, null, connected_by, now())
  on conflict on constraint social_connections_pkey do update set
    status = 'connected',
    account_id = excluded.account_id,
    account_name = excluded.account_name,
    scopes = excluded.scopes,
    expires_at = excluded.expires_at,
    refresh_expires_at = excluded.refresh_expires_at,
    last_refreshed_at = now(),
    last_error = null,
    last_error_at = null,
    connected_by = coalesce(excluded.connected_by, c.connected_by),
    connected_at = case when c.status = 'disconnected' or excluded.connected_by is not null
                        then now() else c.connected_at end
  returning * into saved;
  insert into private.social_tokens as t (platform, access_token, refresh_token, webhook_secret, key_id)
  values (platform,
          decode(tokens ->> 'access_token', 'base64'),
          decode(tokens ->> 'refresh_token', 'base64'),
          decode(tokens ->> 'webhook_secret', 'base64'),
          key_id)
  on conflict on constraint social_tokens_pkey do update set
    access_token = excluded.access_token,
    refresh_token = excluded.refresh_token,
    webhook_secret = excluded.webhook_secret,
    key_id = excluded.key_id;
  return saved;
end;
$$;

comment on function private.save_social_connection(text, text, text, text[], timestamptz, timestamptz, jsonb, text, uuid) is
  'Stores a connection (status connected, error cleared) and replaces its encrypted tokens. '
  'tokens = {"access_token": base64 ciphertext, "refresh_token": ..., "webhook_secret": ...} '
  '(absent fields are stored null), key_id = the encryption key''s id. connected_by: the admin '
  'on a new connection, null on a refresh (kept). Errors: 22023 for an unknown platform or '
  'field or a missing key_id. Security definer (tokens are private); service_role only.';

create function private.social_token(platform text)
returns table (tokens jsonb, key_id text)
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_strip_nulls(jsonb_build_object(
           'access_token', translate(encode(t.access_token, 'base64'), E'\n', ''),
           'refresh_token', translate(encode(t.refresh_token, 'base64'), E'\n', ''),
           'webhook_secret', translate(encode(t.webhook_secret, 'base64'), E'\n', ''))),
         t.key_id
    from private.social_tokens t
   where t.platform = social_token.platform;
$$;

comment on function private.social_token(text) is
  'The encrypted tokens of a platform as {"access_token": base64 ciphertext, ...} (absent '
  'fields omitted) and the key id; no row when none are stored. Security definer; service_role '
  'only.';

create function private.record_social_error(platform text, error text)
returns public.social_connections
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  saved public.social_connections;
begin
  update public.social_connections c
     set status = case when c.status = 'disconnected' then c.status else 'error' end,
         last_error = left(record_social_error.error, 500),
         last_error_at = now()
   where c.platform = record_social_error.platform
  returning * into saved;
  if saved.platform is null then
    raise exception 'no social connection for %', platform using errcode = 'P0002';
  end if;
  return saved;
end;
$$;

comment on function private.record_social_error(text, text) is
  'Marks a connection as failing: status error (a disconnected one stays disconnected), '
  'last_error (at most 500 characters; never a token) and last_error_at. Errors: P0002 when '
  'the platform has no connection. Security definer; service_role only.';

create function private.disconnect_social(platform text)
returns public.social_connections
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  saved public.social_connections;
begin
  delete from private.social_tokens t where t.platform = disconnect_social.platform;
  update public.social_connections c
     set status = 'disconnected', expires_at = null, refresh_expires_at = null
   where c.platform = disconnect_social.platform
  returning * into saved;
  if saved.platform is null then
    raise exception 'no social connection for %', platform using errcode = 'P0002';
  end if;
  return saved;
end;
$$;

comment on function private.disconnect_social(text) is
  'Deletes the stored tokens of a platform and marks it disconnected (account and last error '
  'kept for the record). Errors: P0002 when the platform was never connected. Security definer; '
  'service_role only.';

create function private.create_oauth_state(
  state_hash text, platform text, code_verifier text, key_id text, created_by uuid,
  ttl interval default interval '10 minutes'
) returns timestamptz
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  expiry timestamptz := now() + coalesce(ttl, interval '10 minutes');
begin
  if platform is null or platform not in ('facebook', 'x', 'linkedin') then
    raise exception 'unknown oauth platform: %', platform using errcode = '22023';
  end if;
  delete from private.oauth_states s where s.expires_at < now() - interval '1 day';
  insert into private.oauth_states (state_hash, platform, code_verifier, key_id, created_by, expires_at)
  values (state_hash, platform, decode(code_verifier, 'base64'), key_id, created_by, expiry);
  return expiry;
end;
$$;

comment on function private.create_oauth_state(text, text, text, text, uuid, interval) is
  'Records a pending authorisation: sha256 hex of the state, platform, the encrypted PKCE code '
  'verifier (base64 ciphertext or null) with its key id, the admin, and a lifetime (default 10 '
  'minutes). Returns its expiry. Day-old states are swept. Errors: 22023 for an unknown '
  'platform or a malformed hash (check). Security definer; service_role only.';

create function private.consume_oauth_state(state_hash text, platform text)
returns table (code_verifier text, key_id text, created_by uuid)
language sql
volatile
security definer
set search_path = ''
as $$
  update private.oauth_states s
     set used_at = now()
   where s.state_hash = consume_oauth_state.state_hash
     and s.platform = consume_oauth_state.platform
     and s.used_at is null
     and s.expires_at > now()
  returning translate(encode(s.code_verifier, 'base64'), E'\n', ''), s.key_id, s.created_by;
$$;

comment on function private.consume_oauth_state(text, text) is
  'Consumes a pending authorisation once: returns its encrypted code verifier (base64), key id '
  'and admin, and marks it used; no row for an unknown, reused, expired or other-platform state '
  '(the caller refuses). Security definer; service_role only.';

revoke execute on function
  private.save_social_connection(text, text, text, text[], timestamptz, timestamptz, jsonb, text, uuid),
  private.social_token(text),
  private.record_social_error(text, text),
  private.disconnect_social(text),
  private.create_oauth_state(text, text, text, text, uuid, interval),
  private.consume_oauth_state(text, text)
  from public;
grant execute on function
  private.save_social_connection(text, text, text, text[], timestamptz, timestamptz, jsonb, text, uuid),
  private.social_token(text),
  private.record_social_error(text, text),
  private.disconnect_social(text),
  private.create_oauth_state(text, text, text, text, uuid, interval),
  private.consume_oauth_state(text, text)
  to service_role;
