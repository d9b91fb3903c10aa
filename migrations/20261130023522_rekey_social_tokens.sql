-- Key rotation for the social tokens (issue 12): after SOCIAL_TOKEN_ENCRYPTION_KEY changes (the
-- old key moved to SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS), the refresh job re-encrypts what is
-- still stored under the old key, so the old key can be dropped. The functions decrypt and
-- encrypt (the database never sees plaintext); this swaps the ciphertexts only if they are still
-- the ones read (same key id and bytes), so a refresh that wrote new tokens meanwhile wins.

create function private.rekey_social_tokens(
  platform text, tokens jsonb, key_id text, previous jsonb, previous_key_id text
) returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  changed integer;
begin
  if nullif(key_id, '') is null then
    raise exception 'key_id is required' using errcode = '22023';
  end if;
  update private.social_tokens t
     set access_token = decode(tokens ->> 'access_token', 'base64'),
         refresh_token = decode(tokens ->> 'refresh_token', 'base64'),
         webhook_secret = decode(tokens ->> 'webhook_secret', 'base64'),
         key_id = rekey_social_tokens.key_id
   where t.platform = rekey_social_tokens.platform
     and t.key_id = previous_key_id
     and t.access_token is not distinct from decode(previous ->> 'access_token', 'base64')
     and t.refresh_token is not distinct from decode(previous ->> 'refresh_token', 'base64')
     and t.webhook_secret is not distinct from decode(previous ->> 'webhook_secret', 'base64');
  get diagnostics changed = row_count;
  return changed = 1;
end;
$$;

comment on function private.rekey_social_tokens(text, jsonb, text, jsonb, text) is
  'Replaces a platform''s ciphertexts with the same secrets encrypted under key_id, only if the '
  'stored ones are still `previous` under previous_key_id (as private.social_token gave them); '
  'true when it replaced them. Connection status and times are untouched. Errors: 22023 for a '
  'missing key_id. Security definer (tokens are private); service_role only.';

revoke execute on function private.rekey_social_tokens(text, jsonb, text, jsonb, text) from public;
grant execute on function private.rekey_social_tokens(text, jsonb, text, jsonb, text) to service_role;
