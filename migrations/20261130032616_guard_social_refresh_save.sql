-- A token refresh never brings back a connection an admin disconnected (issue 12 review): the
-- refresh stored its new tokens with private.save_social_connection, which sets status connected
-- whatever the row had become while the refresh waited on the platform. Refreshed tokens now go
-- through private.save_refreshed_social_tokens, which updates only the connection the refresh
-- started from: still connected (or error), with the same connected_at (a reconnect makes a new
-- one), and its tokens still stored. Otherwise it stores nothing and returns no row; the caller
-- revokes the tokens it was given.

create function private.save_refreshed_social_tokens(
  platform text, connected_at timestamptz, scopes text[], expires_at timestamptz,
  refresh_expires_at timestamptz, tokens jsonb, key_id text
) returns setof public.social_connections
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
  if connected_at is null then
    raise exception 'connected_at is required' using errcode = '22023';
  end if;
  if tokens is null or jsonb_typeof(tokens) <> 'object' or not tokens ? 'access_token' then
    raise exception 'tokens must be a json object with an access_token' using errcode = '22023';
  end if;
  select k into bad_key from jsonb_object_keys(tokens) k
   where k not in ('access_token', 'refresh_token', 'webhook_secret') limit 1;
  if bad_key is not null then
    raise exception 'unknown token field: %', bad_key using errcode = '22023';
  end if;
  if nullif(key_id, '') is null then
    raise exception 'key_id is required' using errcode = '22023';
  end if;
  -- The connection's row first (the order private.save_social_connection locks in); a
  -- disconnection or reconnection committed meanwhile is seen here.
  select c.* into saved from public.social_connections c
   where c.platform = save_refreshed_social_tokens.platform
     and c.status in ('connected', 'error')
     and c.connected_at = save_refreshed_social_tokens.connected_at
     and exists (select 1 from private.social_tokens t where t.platform = c.platform)
     for update;
  if saved.platform is null then
    return;
  end if;
  update private.social_tokens t
     set access_token = decode(tokens ->> 'access_token', 'base64'),
         refresh_token = decode(tokens ->> 'refresh_token', 'base64'),
         webhook_secret = coalesce(decode(tokens ->> 'webhook_secret', 'base64'), t.webhook_secret),
         key_id = save_refreshed_social_tokens.key_id
   where t.platform = save_refreshed_social_tokens.platform;
  if not found then
    return;
  end if;
  update public.social_connections c
     set status = 'connected',
         scopes = coalesce(save_refreshed_social_tokens.scopes, c.scopes),
         expires_at = save_refreshed_social_tokens.expires_at,
         refresh_expires_at = save_refreshed_social_tokens.refresh_expires_at,
         last_refreshed_at = now(),
         last_error = null,
         last_error_at = null
   where c.platform = save_refreshed_social_tokens.platform
  returning * into saved;
  return next saved;
end;
$$;

comment on function private.save_refreshed_social_tokens(text, timestamptz, text[], timestamptz, timestamptz, jsonb, text) is
  'Stores a refresh''s new encrypted tokens (tokens = {"access_token": base64 ciphertext, '
  '"refresh_token": ...}; a stored webhook_secret is kept when absent) with the new expiry and '
  'scopes (null keeps them), status connected, error cleared: only on the connection the '
  'refresh started from, i.e. status connected or error, connected_at equal to the given one '
  'and tokens still stored. Otherwise (disconnected or reconnected meanwhile) it stores nothing '
  'and returns no row, and the caller revokes the tokens it holds. Errors: 22023 for an unknown '
  'platform or field, no access_token, no connected_at or no key_id. Security definer; '
  'service_role only.';

revoke execute on function
  private.save_refreshed_social_tokens(text, timestamptz, text[], timestamptz, timestamptz, jsonb, text)
  from public;
grant execute on function
  private.save_refreshed_social_tokens(text, timestamptz, text[], timestamptz, timestamptz, jsonb, text)
  to service_role;
