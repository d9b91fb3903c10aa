-- On Supabase, the `housekeeping` edge function (POST /housekeeping/run, service_role key) builds
-- the pending data exports (POST /api/customers/{id}/export), hands exports past their download
-- end to the object-deletion queue and deletes the queued objects (erasures, retention, expired
-- exports) from the object store. pg_cron calls it every minute through pg_net, as it calls
-- `reconcile` and `oauth/refresh` (20261130022214_schedule_social_token_refresh).
-- The URL and the service_role key come from Supabase Vault (never settings or GUCs):
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1/housekeeping/run', 'housekeeping_url');
--   select vault.create_secret('<service_role key>', 'service_role_key');  -- once, shared
-- Where pg_net or Vault is missing (the local stack, a self-hosted Postgres) nothing is
-- scheduled: the worker of `npm start` (scripts/worker.ts, its housekeeper) runs it instead.
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net')
     and to_regnamespace('vault') is not null then
    create extension if not exists pg_net;
    perform cron.schedule('housekeeping', '* * * * *', $job$
      select net.http_post(
        url := (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'housekeeping_url'),
        headers := jsonb_build_object(
          'content-type', 'application/json',
          'authorization', 'Bearer ' || (select s.decrypted_secret from vault.decrypted_secrets s
                                           where s.name = 'service_role_key')),
        body := '{}'::jsonb,
        timeout_milliseconds := 55000)
      where exists (select 1 from vault.decrypted_secrets s where s.name = 'housekeeping_url')
    $job$);
  end if;
end
$$;
