-- Lighter analytics refreshes (issue 11), after bench:analytics on the 1,000,000-policy book
-- (a day's facts 4.5 s, the 5-minute refresh 7 s, the nightly pass 140 s):
-- 1. The 5-minute refresh no longer recomputes older days holding the last touch of a case
--    renewed since: each such day was a full recompute of a day's message facts (1-3 s on that
--    book), and a few renewals can point at many days. Touches within the refresh's 3 days are
--    counted as before; those within 8 days by the nightly pass's recompute; older ones by the
--    nightly pass, for the cases renewed since the previous one (private.analytics_state.
--    nightly_checked_at), as daily rows.
-- 2. The renewal cohorts of some due dates are read by the due-date indexes (an `is null or`
--    condition scanned every case), the rollups' rows deleted by new indexes on their dates.
-- 3. analytics.latency_facts keeps a plain index on (grain, bucket_start) instead of a unique one
--    over its nine grain columns: its rows are one per group by construction, and the wide
--    unique index cost about as much as computing them.

alter table private.analytics_state add column nightly_checked_at timestamptz;
comment on column private.analytics_state.nightly_checked_at is
  'Wall-clock start of the last nightly pass: the next one recounts the older last touches of '
  'cases renewed since (less an hour).';

create index node_renewal_facts_due_day_idx on analytics.node_renewal_facts (due_day);
create index node_activity_facts_day_idx on analytics.node_activity_facts (day);
drop index analytics.latency_facts_grain_key;
create index latency_facts_bucket_idx on analytics.latency_facts (grain, bucket_start);

create or replace function private.compute_renewal_facts(due_days date[], as_of timestamptz)
returns integer
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  written integer;
begin
  if as_of is null then
    raise exception 'as_of is required' using errcode = '22023';
  end if;
  if due_days is not null and cardinality(due_days) = 0 then
    return 0;
  end if;

  -- Two statements each, all cohorts or some: an `is null or ... = any` condition kept the
  -- planner from the due-date indexes (a whole scan of the cases to refresh one day).
  if due_days is null then
    delete from analytics.renewal_facts;
    delete from analytics.node_renewal_facts;
    insert into analytics.renewal_facts
      (due_day, agent_id, node_id, product_line, stage, cases, premium_paise, renew_days_sum,
       refreshed_at)
    select c.due_date, c.assignee_id, a.node_id, po.product_line, c.stage, count(*),
           sum(po.premium),
           coalesce(sum(extract(epoch from c.closed_at - c.created_at) / 86400)
                      filter (where c.stage = 'renewed'), 0),
           as_of
      from public.renewal_cases c
      join public.policies po on po.id = c.policy_id
      left join public.profiles a on a.id = c.assignee_id
     group by c.due_date, c.assignee_id, a.node_id, po.product_line, c.stage;
    get diagnostics written = row_count;
    insert into analytics.node_renewal_facts
      (node_id, due_day, product_line, stage, cases, premium_paise, renew_days_sum, refreshed_at)
    select an.ancestor_id, f.due_day, f.product_line, f.stage, sum(f.cases),
           sum(f.premium_paise), sum(f.renew_days_sum), as_of
      from analytics.renewal_facts f
      join (select n.id as node_id, anc.id as ancestor_id
              from public.hierarchy_nodes n
              join public.hierarchy_nodes anc on anc.path operator(extensions.@>) n.path) an
        on an.node_id = f.node_id
     group by an.ancestor_id, f.due_day, f.product_line, f.stage;
  else
    delete from analytics.renewal_facts f where f.due_day = any (due_days);
    delete from analytics.node_renewal_facts f where f.due_day = any (due_days);
    insert into analytics.renewal_facts
      (due_day, agent_id, node_id, product_line, stage, cases, premium_paise, renew_days_sum,
       refreshed_at)
    select c.due_date, c.assignee_id, a.node_id, po.product_line, c.stage, count(*),
           sum(po.premium),
           coalesce(sum(extract(epoch from c.closed_at - c.created_at) / 86400)
                      filter (where c.stage = 'renewed'), 0),
           as_of
      from public.renewal_cases c
      join public.policies po on po.id = c.policy_id
      left join public.profiles a on a.id = c.assignee_id
     where c.due_date = any (due_days)
     group by c.due_date, c.assignee_id, a.node_id, po.product_line, c.stage;
    get diagnostics written = row_count;
    insert into analytics.node_renewal_facts
      (node_id, due_day, product_line, stage, cases, premium_paise, renew_days_sum, refreshed_at)
    select an.ancestor_id, f.due_day, f.product_line, f.stage, sum(f.cases),
           sum(f.premium_paise), sum(f.renew_days_sum), as_of
      from analytics.renewal_facts f
      join (select n.id as node_id, anc.id as ancestor_id
              from public.hierarchy_nodes n
              join public.hierarchy_nodes anc on anc.path operator(extensions.@>) n.path) an
        on an.node_id = f.node_id
     where f.due_day = any (due_days)
     group by an.ancestor_id, f.due_day, f.product_line, f.stage;
  end if;
  return written;
end
$$;

create or replace function private.analytics_changes(since timestamptz, before_day date)
returns table (renewal_due_days date[], touch_days date[], hierarchy_changed boolean)
language sql
stable
security invoker
set search_path = ''
set jit = off
as $$
  select
    -- Due dates of cases changed since, or of cases of agents moved since.
    (select coalesce(array_agg(distinct d.due_date order by d.due_date), '{}')
       from (select c.due_date from public.renewal_cases c where c.updated_at >= since
             union
             select c.due_date
               from public.profiles p
               join public.renewal_cases c on c.assignee_id = p.id
              where p.updated_at >= since) d),
    -- IST days (before before_day) of the last touches of cases renewed since.
    (select coalesce(array_agg(distinct t.day order by t.day), '{}')
       from (select (lt.created_at at time zone
                      coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata'))::date
                      as day
               from public.renewal_cases c
              cross join lateral (select m.created_at, m.sent_at <= c.closed_at as touched
                                    from public.messages m
                                   where m.case_id = c.id
                                   order by (m.sent_at <= c.closed_at) desc nulls last,
                                            m.sent_at desc, m.id desc
                                   limit 1) lt
              where c.updated_at >= since and c.stage = 'renewed' and lt.touched
                and before_day is not null) t
      where t.day < before_day),
    exists (select 1 from public.hierarchy_nodes n where n.updated_at >= since)
$$;

create or replace function private.refresh_analytics_window(
  from_day date,
  to_day date,
  as_of timestamptz,
  activity_from date,
  since timestamptz
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  hours_from date := today - 7;
  changes record;
  message_rows integer := 0;
  activity_rows integer := 0;
  renewal_rows integer := 0;
begin
  message_rows := message_rows
    + private.compute_message_facts(greatest(from_day, hours_from), to_day, true, as_of)
    + private.compute_message_facts(from_day, least(to_day, hours_from - 1), false, as_of);
  activity_rows := private.compute_activity_facts(activity_from, to_day, as_of);

  if since is null then
    -- Never refreshed: every cohort.
    renewal_rows := private.compute_renewal_facts(null, as_of);
    return jsonb_build_object('message_rows', message_rows, 'activity_rows', activity_rows,
                              'renewal_rows', renewal_rows, 'renewal_due_days', null);
  end if;

  -- The cohorts of cases changed since; last touches on older days are the nightly pass's.
  select * into changes from private.analytics_changes(since, null);
  renewal_rows := private.compute_renewal_facts(changes.renewal_due_days, as_of);
  if changes.hierarchy_changed then
    -- A node moved: every rollup is recomputed from the agents' facts (their nodes at refresh).
    perform private.compute_renewal_facts(null, as_of);
    perform private.compute_activity_facts(
      coalesce((select min(f.day) from analytics.activity_facts f), activity_from),
      to_day, as_of);
  end if;
  return jsonb_build_object('message_rows', message_rows, 'activity_rows', activity_rows,
                            'renewal_rows', renewal_rows,
                            'renewal_due_days', cardinality(changes.renewal_due_days),
                            'hierarchy_changed', changes.hierarchy_changed);
end
$$;

create or replace function private.refresh_analytics_nightly(as_of timestamptz default now())
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  started timestamptz := now();
  today date;
  state private.analytics_state;
  done jsonb;
  touch_days date[];
  touch_day date;
  touch_rows integer := 0;
  pruned integer;
  pruned_latency integer;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(hashtext('py360.refresh_analytics'));
  today := private.business_date(as_of);
  select * into state from private.analytics_state s where s.id;
  -- Cases changed in the last two days again, for transactions still open at earlier refreshes.
  done := private.refresh_analytics_window(
    today - 7, today, as_of, today - 7,
    case when state.changes_checked_at is not null
         then least(state.changes_checked_at - interval '1 hour', started - interval '2 days') end);
  -- Renewals since the last nightly pass whose last touch went before the 8 days: the days of
  -- those messages again, daily rows (the 5-minute refresh counts touches within its 3 days,
  -- this pass within its 8).
  select c.touch_days into touch_days
    from private.analytics_changes(
           coalesce(state.nightly_checked_at, started - interval '2 days') - interval '1 hour',
           today - 7) c;
  foreach touch_day in array touch_days loop
    touch_rows := touch_rows + private.compute_message_facts(touch_day, touch_day, false, as_of);
  end loop;
  delete from analytics.message_facts f where f.grain = 'hour' and f.day < today - 7;
  get diagnostics pruned = row_count;
  delete from analytics.latency_facts f where f.grain = 'hour' and f.day < today - 7;
  get diagnostics pruned_latency = row_count;
  update private.analytics_state s
     set refreshed_at = as_of, finished_at = clock_timestamp(), changes_checked_at = started,
         nightly_at = as_of, nightly_checked_at = started
   where s.id;
  return jsonb_build_object('as_of', as_of, 'hourly_rows_pruned', pruned + pruned_latency,
                            'touch_days', to_jsonb(touch_days), 'touch_rows', touch_rows)
         || done;
end
$$;

comment on function private.refresh_analytics_nightly(timestamptz) is
  'The nightly pass over the analytics facts (pg_cron "refresh-analytics-nightly"): recomputes '
  'the message, latency and activity facts of the last 8 IST days (today and the 7 before) and '
  'the cohorts of cases changed in the last 2 days; recounts the older days holding the last '
  'touch of a case renewed since the previous pass (daily rows); then deletes hourly rows of '
  'days before the 8 (daily rows are kept for ever). Waits for a running refresh. Security '
  'definer: a job.';
comment on function private.refresh_analytics_window(date, date, timestamptz, date, timestamptz) is
  'The work of a refresh: message and latency facts of the IST days from_day..to_day (hours '
  'for the last 8 days), activity facts of activity_from..to_day, then the renewal cohorts of '
  'cases changed since `since` (all when since is null) and the rollups after a hierarchy '
  'change. Refresh helper; the caller holds the lock.';
comment on function private.refresh_analytics(timestamptz) is
  'The 5-minute refresh of the analytics facts (pg_cron "refresh-analytics"): message and '
  'latency facts of the IST days of [as_of - 2 days, as_of], hourly and daily; activity facts of '
  'today and yesterday; renewal facts of the due dates of cases changed since the last refresh '
  '(all of them the first time). A renewal whose last touch went before those days is counted '
  'by the nightly pass. Skips (skipped: true) when another refresh holds the lock. Returns what '
  'it rewrote. Security definer: a job that writes the analytics tables nobody else may.';
comment on function private.analytics_changes(timestamptz, date) is
  'What a refresh must recompute beyond its window: the due dates of cases changed since `since` '
  '(or of cases of agents whose profile changed), the IST days before before_day holding the '
  'last touch of a case renewed since (none when before_day is null), and whether the hierarchy '
  'changed. Refresh helper.';
