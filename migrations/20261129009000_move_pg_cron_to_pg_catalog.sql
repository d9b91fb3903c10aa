-- pg_cron where Supabase puts it. Supabase installs it `with schema pg_catalog` (its Cron docs:
-- `create extension pg_cron with schema pg_catalog;` then usage on schema cron and its tables to
-- postgres); its objects live in their own schema `cron` either way. Our
-- 20261128000300_enable_extensions.sql said only `create extension if not exists pg_cron;`, and
-- pg_cron's control file names no schema, so the extension was recorded in the first schema of the
-- search path: `public`, the schema PostgREST exposes (Supabase's lint `extension_in_public`).
--
-- pg_cron is not relocatable (`alter extension ... set schema` refuses it), so it is dropped and
-- created again, at the same version, in one transaction. Dropping it would delete the jobs and
-- their run history (cron.job and cron.job_run_details belong to the extension), so both are copied
-- aside first and put back with their ids, and the id sequences go on from where they were: the
-- daily renewal job keeps its id, schedule, command, owner and active flag, on a fresh database and
-- on a kept one (`npm start`). A database where pg_cron already sits in pg_catalog is left alone.

do $$
declare
  installed_version text;
  job_ids record;
  run_ids record;
begin
  select e.extversion into installed_version
    from pg_catalog.pg_extension e
   where e.extname = 'pg_cron'
     and e.extnamespace <> 'pg_catalog'::pg_catalog.regnamespace;
  if installed_version is null then
    return;
  end if;

  create temporary table pg_temp.saved_cron_jobs on commit drop as select * from cron.job;
  create temporary table pg_temp.saved_cron_runs on commit drop as select * from cron.job_run_details;
  select last_value, is_called into job_ids from cron.jobid_seq;
  select last_value, is_called into run_ids from cron.runid_seq;

  drop extension pg_cron;
  execute format('create extension pg_cron with schema pg_catalog version %L', installed_version);

  -- Same version, so the same columns in the same order.
  insert into cron.job select * from pg_temp.saved_cron_jobs;
  insert into cron.job_run_details select * from pg_temp.saved_cron_runs;
  perform pg_catalog.setval('cron.jobid_seq', job_ids.last_value, job_ids.is_called);
  perform pg_catalog.setval('cron.runid_seq', run_ids.last_value, run_ids.is_called);

  -- As Supabase's install steps do (harmless where postgres owns the schema, as locally).
  grant usage on schema cron to postgres;
  grant all privileges on all tables in schema cron to postgres;
end
$$;
