-- On Supabase the outbox is drained by the `dispatch` edge function, which pg_cron calls every
-- minute through pg_net (each call drains for up to 50 s, so the calls overlap and the queue is
-- never left for long). The call needs the function's URL and the service_role key, which live in
-- Supabase Vault (secrets `dispatch_url` and `service_role_key`; never in settings or GUCs):
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1/dispatch', 'dispatch_url');
--   select vault.create_secret('<service_role key>', 'service_role_key');
-- Where pg_net or Vault is missing (the local stack, a self-hosted Postgres) nothing is
-- scheduled: the worker of `npm start` (scripts/worker.ts) drains instead.
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net')
     and to_regnamespace('vault') is not null then
    create extension if not exists pg_net;
    perform cron.schedule('dispatch-messages', '* * * * *', $job$
      select net.http_post(
        url := (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'dispatch_url'),
        headers := jsonb_build_object(
          'content-type', 'application/json',
          'authorization', 'Bearer ' || (select s.decrypted_secret from vault.decrypted_secrets s
                                           where s.name = 'service_role_key')),
        body := '{"budget_ms": 50000}'::jsonb,
        timeout_milliseconds := 55000)
      where exists (select 1 from vault.decrypted_secrets s where s.name = 'dispatch_url')
    $job$);
  end if;
end
$$;
