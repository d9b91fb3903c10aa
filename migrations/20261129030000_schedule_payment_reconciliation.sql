-- On Supabase, payment reconciliation runs in the `reconcile` edge function, which pg_cron calls
-- every five minutes through pg_net, as it calls `dispatch` (20261129010700_schedule_dispatch).
-- The URL and the service_role key come from Supabase Vault (never settings or GUCs):
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1/reconcile', 'reconcile_url');
--   select vault.create_secret('<service_role key>', 'service_role_key');  -- once, shared
-- Where pg_net or Vault is missing (the local stack, a self-hosted Postgres) nothing is
-- scheduled: the worker of `npm start` (scripts/worker.ts) reconciles instead.
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net')
     and to_regnamespace('vault') is not null then
    create extension if not exists pg_net;
    perform cron.schedule('reconcile-payments', '*/5 * * * *', $job$
      select net.http_post(
        url := (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'reconcile_url'),
        headers := jsonb_build_object(
          'content-type', 'application/json',
          'authorization', 'Bearer ' || (select s.decrypted_secret from vault.decrypted_secrets s
                                           where s.name = 'service_role_key')),
        body := '{"max_items": 200}'::jsonb,
        timeout_milliseconds := 120000)
      where exists (select 1 from vault.decrypted_secrets s where s.name = 'reconcile_url')
    $job$);
  end if;
end
$$;
