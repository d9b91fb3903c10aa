-- The dispatch schedule (migration 20261129010700_schedule_dispatch) exists only where pg_net
-- and Vault do, as on Supabase; the local stack drains with its worker instead.
begin;
select plan(2);
select is(exists (select 1 from pg_available_extensions where name = 'pg_net'), false,
  'this cluster has no pg_net (the local stack)');
select is((select count(*)::integer from cron.job where jobname = 'dispatch-messages'), 0,
  'so nothing schedules the dispatch function here');
select * from finish();
rollback;
