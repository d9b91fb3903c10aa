-- Telegram webhook secret rotation without downtime (issue 13). Connecting the bot again makes a
-- new secret_token: it is stored before setWebhook is called, and until Telegram has taken it
-- (or when setWebhook fails and Telegram keeps the old one) updates still arrive with the old
-- secret. The old secret is therefore kept accepted for a window
-- (TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS, an hour by default).
--
-- What is kept is the SHA-256 of the old secret, not a second ciphertext: the webhook compares
-- SHA-256 digests anyway, a 256-bit random secret cannot be recovered from its digest, and a
-- digest needs no encryption key, so SOCIAL_TOKEN_ENCRYPTION_KEY's own rotation (rekey) has
-- nothing more to re-encrypt. Disconnecting deletes the row, and with it the previous digest.

alter table private.social_tokens
  add column previous_webhook_secret_sha256 text
    check (previous_webhook_secret_sha256 ~ '^[0-9a-f]{64}$'),
  add column previous_webhook_secret_until timestamptz,
  add constraint social_tokens_previous_webhook_secret_pair
    check ((previous_webhook_secret_sha256 is null) = (previous_webhook_secret_until is null));

comment on column private.social_tokens.previous_webhook_secret_sha256 is
  'After a reconnect: the SHA-256 (hex) of the webhook secret replaced, still accepted until '
  'previous_webhook_secret_until (updates Telegram sent before it took the new one). Null: none.';
comment on column private.social_tokens.previous_webhook_secret_until is
  'When the previous webhook secret stops being accepted (exclusive).';

create function private.keep_previous_webhook_secret(
  platform text, secret_sha256 text, until timestamptz
) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if (secret_sha256 is null) <> (until is null) then
    raise exception 'secret_sha256 and until go together' using errcode = '22023';
  end if;
  if secret_sha256 is not null and secret_sha256 !~ '^[0-9a-f]{64}$' then
    raise exception 'secret_sha256 must be 64 lowercase hex digits' using errcode = '22023';
  end if;
  update private.social_tokens t
     set previous_webhook_secret_sha256 = secret_sha256,
         previous_webhook_secret_until = until
   where t.platform = keep_previous_webhook_secret.platform;
end;
$$;

comment on function private.keep_previous_webhook_secret(text, text, timestamptz) is
  'Keeps the SHA-256 (hex) of a platform''s replaced webhook secret accepted until `until` '
  '(both null: none kept, the previous one refused at once). Called by the reconnect in the '
  'same transaction that stores the new secret. Security definer (private.social_tokens is '
  'closed to every API role); service_role only.';

create function private.previous_webhook_secret(platform text, as_of timestamptz default now())
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select t.previous_webhook_secret_sha256
    from private.social_tokens t
    join public.social_connections c on c.platform = t.platform
   where t.platform = previous_webhook_secret.platform
     and c.status <> 'disconnected'
     and t.previous_webhook_secret_until > as_of;
$$;

comment on function private.previous_webhook_secret(text, timestamptz) is
  'The SHA-256 (hex) of the platform''s previous webhook secret while it is still accepted at '
  '`as_of` (the connection not disconnected); null otherwise. Security definer (reads '
  'private.social_tokens); service_role only.';

revoke all on function private.keep_previous_webhook_secret(text, text, timestamptz)
  from public, anon, authenticated;
revoke all on function private.previous_webhook_secret(text, timestamptz)
  from public, anon, authenticated;
grant execute on function private.keep_previous_webhook_secret(text, text, timestamptz)
  to service_role;
grant execute on function private.previous_webhook_secret(text, timestamptz) to service_role;
