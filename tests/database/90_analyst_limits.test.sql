-- The analysts' enforced limits (migration 20261129235619_enforce_analyst_limits, review of issue
-- 11 defect 4): the watchdog is scheduled every minute with its settings; it sets
-- temp_file_limit on an analyst login that lacks it, and on no other role; limits out of range
-- fall back to the defaults; it refuses a clock that is not finite; only pg_cron and
-- service_role run it. Cancelling a real analyst's statement needs a second connection, and the
-- analyst's own refusals a login: Deno tests/functions/analyst_limits.test.ts.
begin;
select plan(9);

select is((select (schedule, command, active)::text from cron.job where jobname = 'enforce-analyst-limits'),
  '("* * * * *","select private.enforce_analyst_limits()",t)', 'pg_cron runs the watchdog every minute');
select is(
  (select jsonb_object_agg(key, value) from public.app_settings
    where key in ('ANALYST_STATEMENT_LIMIT_SECONDS', 'ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS', 'ANALYST_TEMP_FILE_LIMIT')),
  '{"ANALYST_STATEMENT_LIMIT_SECONDS": 60, "ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS": 300, "ANALYST_TEMP_FILE_LIMIT": "1GB"}',
  'the limits are settings: 60 s a statement, 5 minutes idle in a transaction, 1 GB of temporary files');

create role analyst_t90 login in role analyst;
create role not_analyst_t90 login;
select is(
  private.enforce_analyst_limits(now()) - 'cancelled' - 'terminated',
  '{"statement_limit_seconds": 60, "idle_in_transaction_limit_seconds": 300}',
  'it runs with the settings'' limits');
select is(
  (select d.setconfig from pg_db_role_setting d where d.setrole = 'analyst_t90'::regrole and d.setdatabase = 0),
  array['temp_file_limit=1GB'], 'an analyst login without temp_file_limit gets it');
select is(
  (select count(*)::integer from pg_db_role_setting d where d.setrole = 'not_analyst_t90'::regrole),
  0, 'a login outside analyst is left alone');

-- Settings out of range fall back to the defaults instead of lifting the limits (refused on
-- write since 20261130230500: written past the rules).
select tests.write_settings_unchecked(
  '{"ANALYST_STATEMENT_LIMIT_SECONDS": 0, "ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS": "never"}');
select is(
  private.enforce_analyst_limits(now()) - 'cancelled' - 'terminated',
  '{"statement_limit_seconds": 60, "idle_in_transaction_limit_seconds": 300}',
  'a limit of 0 or not a number falls back to the default');
update public.app_settings set value = '120' where key = 'ANALYST_STATEMENT_LIMIT_SECONDS';
select is(private.enforce_analyst_limits(now()) -> 'statement_limit_seconds', '120'::jsonb,
  'a limit in range is used');

select throws_ok($$select private.enforce_analyst_limits('infinity')$$, '22023',
  'as_of must be a finite time', 'a clock that is not finite is refused');
select is(
  array(select r from unnest(array['anon', 'authenticated', 'service_role', 'analyst']) r
         where has_function_privilege(r, 'private.enforce_analyst_limits(timestamptz)', 'execute')),
  array['service_role'], 'only service_role (and pg_cron''s postgres) may run it');

select * from finish();
rollback;
