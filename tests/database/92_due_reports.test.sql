-- Scheduled reports in any BUSINESS_TIME_ZONE (migration 20261129235206_generate_due_reports,
-- review of issue 11 defect 10): the hourly job private.generate_due_reports runs over two days
-- of a moved clock, at :05 UTC each hour as pg_cron does, under IST and under America/New_York
-- (UTC-4 in June): each kind's latest complete period in that zone is generated once the zone's
-- clock is past 03:00 of the day after it, once; the weekly report after a Sunday is that week
-- (the old fixed UTC jobs reported the week before last west of UTC). The old jobs are gone.
begin;
select plan(10);
select tests.create_test_book('2025-05-12');

select is(
  (select array_agg(jobname::text order by jobname) from cron.job where jobname like 'report-%'),
  array['report-due'], 'one report job is scheduled; the fixed daily, weekly and monthly ones are gone');
select is((select (schedule, command)::text from cron.job where jobname = 'report-due'),
  '("5 * * * *","select count(*) from private.generate_due_reports()")', 'hourly, at :05');

-- The hourly runs from Sunday 29 June 2025 12:05 UTC to Tuesday 1 July 12:05 UTC: what each made.
create function pg_temp.run_hours() returns table (as_of timestamptz, kind text, period_start date, period_end date)
language sql
as $$
  select h, r.kind, r.period_start, r.period_end
    from generate_series(timestamptz '2025-06-29 12:05+00', timestamptz '2025-07-01 12:05+00',
                         interval '1 hour') h
   cross join lateral private.generate_due_reports(h) r
   order by h, r.kind
$$;

create function pg_temp.use_zone(zone text) returns void
language sql
as $$
  update public.app_settings set value = to_jsonb(zone) where key = 'BUSINESS_TIME_ZONE';
  delete from public.reports;
$$;

-- IST (UTC+05:30): the runs fall at :35 IST; 03:00 IST is 21:30 UTC the day before.
select pg_temp.use_zone('Asia/Kolkata');
create temporary table ist_runs on commit drop as select * from pg_temp.run_hours();
select results_eq(
  $$select as_of, kind, period_start, period_end from ist_runs$$,
  $$values
    -- The first run (Sunday 17:35 IST) finds the latest complete periods due and missing.
    (timestamptz '2025-06-29 12:05+00', 'daily', date '2025-06-28', date '2025-06-28'),
    (timestamptz '2025-06-29 12:05+00', 'monthly', date '2025-05-01', date '2025-05-31'),
    (timestamptz '2025-06-29 12:05+00', 'weekly', date '2025-06-16', date '2025-06-22'),
    -- Monday 03:35 IST: Sunday, and the week that ended on it.
    (timestamptz '2025-06-29 22:05+00', 'daily', date '2025-06-29', date '2025-06-29'),
    (timestamptz '2025-06-29 22:05+00', 'weekly', date '2025-06-23', date '2025-06-29'),
    -- Tuesday 1 July 03:35 IST: Monday 30 June, and June.
    (timestamptz '2025-06-30 22:05+00', 'daily', date '2025-06-30', date '2025-06-30'),
    (timestamptz '2025-06-30 22:05+00', 'monthly', date '2025-06-01', date '2025-06-30')$$,
  'IST: each period generated at the first run past 03:00 IST of the day after it'
);
select is((select count(*)::integer from public.reports), 7, 'IST: one report per kind and period');
select is((select count(*)::integer from pg_temp.run_hours()), 0, 'IST: the same hours again generate nothing');

-- America/New_York (UTC-04:00 in summer): 03:00 there is 07:00 UTC.
select pg_temp.use_zone('America/New_York');
create temporary table ny_runs on commit drop as select * from pg_temp.run_hours();
select results_eq(
  $$select as_of, kind, period_start, period_end from ny_runs$$,
  $$values
    (timestamptz '2025-06-29 12:05+00', 'daily', date '2025-06-28', date '2025-06-28'),
    (timestamptz '2025-06-29 12:05+00', 'monthly', date '2025-05-01', date '2025-05-31'),
    (timestamptz '2025-06-29 12:05+00', 'weekly', date '2025-06-16', date '2025-06-22'),
    -- Monday 03:05 in New York: Sunday 29 June and the week of 23 to 29 June (the old weekly
    -- job, Sunday 21:45 UTC, ran there on Sunday afternoon and reported 16 to 22 June).
    (timestamptz '2025-06-30 07:05+00', 'daily', date '2025-06-29', date '2025-06-29'),
    (timestamptz '2025-06-30 07:05+00', 'weekly', date '2025-06-23', date '2025-06-29'),
    -- Tuesday 1 July 03:05 there: 30 June, and June (the old monthly job, 1 July 00:00 UTC,
    -- ran there on 30 June and reported May).
    (timestamptz '2025-07-01 07:05+00', 'daily', date '2025-06-30', date '2025-06-30'),
    (timestamptz '2025-07-01 07:05+00', 'monthly', date '2025-06-01', date '2025-06-30')$$,
  'New York: each period generated at the first run past 03:00 there of the day after it'
);
select is((select count(*)::integer from pg_temp.run_hours()), 0, 'New York: the same hours again generate nothing');
select is(
  (select count(*)::integer from public.messages m
    where m.staff_id is not null and m.idempotency_key like '%:report:weekly:2025-06-23'),
  (select count(*)::integer from public.profiles where role = 'admin' and active),
  'the week''s report is emailed once to each active admin');

select throws_ok($$select * from private.generate_due_reports('infinity')$$, '22023',
  'as_of must be a finite time', 'a clock that is not finite is refused');
select tests.authenticate_as('admin');
select throws_ok($$select * from private.generate_due_reports(now())$$, '42501', null,
  'an admin cannot run it (pg_cron and service_role only)');
reset role;

select * from finish();
rollback;
