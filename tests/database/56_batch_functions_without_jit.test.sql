-- The batch functions run without JIT (migration 20261129174102): on a large book JIT compiled
-- their statements on every run and cost more than it saved. A `create or replace` that forgets
-- `set jit = off` drops the setting; this names the function that lost it.
begin;
select plan(2);
create temporary table batch_functions on commit drop as
select p.oid::regprocedure::text as name, p.proconfig
  from pg_catalog.pg_proc p
 where p.pronamespace = 'private'::regnamespace
   and p.proname in ('run_daily_renewal_jobs', 'run_reminder_cadence', 'escalate_overdue_tasks',
                     'enqueue_messages', 'queue_event_messages', 'claim_messages', 'lease_messages',
                     'lease_batch', 'apply_daily_quotas',
                     'release_messages', 'record_send_results', 'record_message_events',
                     'run_campaign_launch', 'preview_campaign', 'launch_campaign',
                     'launch_scheduled_campaigns', 'advance_campaign_flows',
                     'message_block_reasons', 'score_lapse_risk');
-- launch_campaign twice: the owner's form taking as_of and the desk's on now() (20261202062257).
select is((select count(*)::integer from batch_functions), 20, 'the nineteen batch functions exist (launch_campaign in two forms)');
select is(array(select name from batch_functions
                 where not coalesce('jit=off' = any (proconfig), false) order by 1),
          '{}'::text[], 'every batch function runs with jit = off');
select * from finish();
rollback;
