-- On Supabase, the social platforms' tokens are refreshed by the `oauth` edge function
-- (POST /oauth/refresh, service_role key), which pg_cron calls every ten minutes through pg_net,
-- as it calls `reconcile` (20261129030000_schedule_payment_reconciliation). X's access tokens
-- last 2 hours and are refreshed in their last 30 minutes; Facebook's long-lived ones in their
-- last day; LinkedIn's are marked "reconnect" in their last day (no refresh token for us).
-- The URL and the service_role key come from Supabase Vault (never settings or GUCs):
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1/oauth/refresh', 'oauth_refresh_url');
--   select vault.create_secret('<service_role key>', 'service_role_key');  -- once, shared
-- Where pg_net or Vault is missing (the local stack, a self-hosted Postgres) nothing is
-- scheduled: the worker of `npm start` (scripts/worker.ts) refreshes instead.
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net')
     and to_regnamespace('vault') is not null then
    create extension if not exists pg_net;
    perform cron.schedule('social-token-refresh', '*/10 * * * *', $job$
      select net.http_post(
        url := (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'oauth_refresh_url'),
        headers := jsonb_build_object(
          'content-type', 'application/json',
          'authorization', 'Bearer ' || (select s.decrypted_secret from vault.decrypted_secrets s
                                           where s.name = 'service_role_key')),
        body := '{}'::jsonb,
        timeout_milliseconds := 60000)
      where exists (select 1 from vault.decrypted_secrets s where s.name = 'oauth_refresh_url')
    $job$);
  end if;
end
$$;
