-- Extensions where Supabase puts them: none in `public` (the schema PostgREST exposes; Supabase's
-- lint `extension_in_public`), and pg_cron in pg_catalog with its jobs in `cron`, as Supabase's
-- Cron install does. Migration 20261129009000 moved pg_cron there from public; the daily renewal
-- job must have come through the move whole, and new jobs must not reuse its id.
begin;
select plan(5);

select is(
  array(select extname::text from pg_extension
         where extnamespace = 'public'::regnamespace order by 1),
  '{}'::text[],
  'no extension is installed in public'
);

select is(
  (select extnamespace::regnamespace::text from pg_extension where extname = 'pg_cron'),
  'pg_catalog',
  'pg_cron is installed in pg_catalog, as on Supabase'
);

select is(
  (select array_agg(distinct pg_describe_object(d.classid, d.objid, 0)::text)
     from pg_depend d
    where d.refobjid = (select oid from pg_extension where extname = 'pg_cron')
      and d.deptype = 'e'
      and d.classid = 'pg_namespace'::regclass),
  array['schema cron'],
  'pg_cron''s jobs and functions live in its own schema, cron'
);

select results_eq(
  $$select schedule, command, username::text, active from cron.job
     where jobname = 'py360-daily-renewal-jobs'$$,
  $$values ('30 0 * * *'::text, 'select private.run_daily_renewal_jobs()'::text, 'postgres'::text, true)$$,
  'the daily renewal job survived the move: same schedule, command, owner, and still active'
);

-- The job ids go on from where they were: a new job gets an id after every kept one (a fresh
-- sequence would hand out a kept job's id and fail on cron.job's primary key).
select cmp_ok(
  cron.schedule('tests-extensions-probe', '0 0 1 1 *', 'select 1'),
  '>',
  (select max(jobid) from cron.job where jobname is distinct from 'tests-extensions-probe'),
  'a new pg_cron job gets an id after every kept job'
);

select * from finish();
rollback;
