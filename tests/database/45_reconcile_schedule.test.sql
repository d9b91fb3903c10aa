-- The reconciliation schedule (migration 20261129030000_schedule_payment_reconciliation) exists
-- only where pg_net and Vault do, as on Supabase; the local stack reconciles with its worker.
begin;
select plan(2);
select is(exists (select 1 from pg_available_extensions where name = 'pg_net'), false,
  'this cluster has no pg_net (the local stack)');
select is((select count(*)::integer from cron.job where jobname = 'reconcile-payments'), 0,
  'so nothing schedules the reconcile function here');
select * from finish();
rollback;
