-- Refreshing the analytics facts (issue 11), always delete + insert per bucket in one transaction,
-- one set-based statement per table and window:
--   private.refresh_analytics(as_of)          pg_cron every 5 minutes ("refresh-analytics"):
--       message and latency facts of the IST days of [as_of - 2 days, as_of] (hours and days),
--       and of the older days whose last-touch renewals changed (a case renewed since the last
--       refresh credits the last message sent before it, which may be older); activity facts of
--       today and yesterday; renewal facts of the due dates of cases changed since the last
--       refresh. Under an advisory lock: a refresh that finds another running skips.
--   private.refresh_analytics_nightly(as_of)  pg_cron nightly ("refresh-analytics-nightly"):
--       the same for the last 8 IST days, then drops hourly rows older than those 8 days.
--   private.rebuild_analytics(from_day, to_day)  any range (null, null: everything); the seed,
--       the big-book generator and the tests call it.
-- private.analytics_state.refreshed_at says how fresh the facts are (the API's facts_as_of).
--
-- Staff messages (alerts and reports to desk users, messages.staff_id) are counted apart:
-- message_facts.audience. The indexes the windows read by: messages.sent_at, installments'
-- due_date and paid_at, payments' captured_at, tasks' sla_due_at, cases' updated_at.

alter table analytics.message_facts
  add column audience text not null default 'customer' check (audience in ('customer', 'staff'));
alter table analytics.message_facts alter column audience drop default;
drop index analytics.message_facts_grain_key;
create unique index message_facts_grain_key on analytics.message_facts
  (grain, bucket_start, audience, channel, provider, template_id, purpose, node_id, status,
   failure_cause, error_code) nulls not distinct;
comment on column analytics.message_facts.audience is
  'customer: messages to customers (reminders, receipts, campaigns); staff: alerts and reports '
  'sent to desk users (messages.staff_id). Filter on customer for the desk''s own reach.';
comment on column analytics.message_facts.error_code is
  'The vendor''s code of the message''s last failed attempt (messages.last_error_code: 21211, '
  '131047, Bounce.Permanent, timeout, ...; a delivered message may carry the code of an attempt '
  'retried before), else the gate''s reason for a blocked message (dnd, no_consent, ...) or a '
  'dead letter''s (stalled, retries_exhausted). Null when no attempt failed.';

create index messages_sent_idx on public.messages (sent_at) where sent_at is not null;
create index outstanding_amounts_due_idx on public.outstanding_amounts (due_date);
create index outstanding_amounts_paid_idx on public.outstanding_amounts (paid_at)
  where paid_at is not null;
create index payments_captured_idx on public.payments (captured_at) where captured_at is not null;
create index tasks_sla_due_idx on public.tasks (sla_due_at);
create index renewal_cases_updated_idx on public.renewal_cases (updated_at);

-- Message and latency facts of the IST days from_day..to_day ----------------------------------

create function private.compute_message_facts(
  from_day date,
  to_day date,
  with_hours boolean,
  as_of timestamptz
)
returns integer
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  from_ts timestamptz := from_day::timestamp at time zone tz;
  to_ts timestamptz := (to_day + 1)::timestamp at time zone tz;
  unit text := case when with_hours then 'hour' else 'day' end;
  written integer;
begin
  if from_day is null or to_day is null or as_of is null or with_hours is null then
    raise exception 'from_day, to_day, with_hours and as_of are required' using errcode = '22023';
  end if;
  if to_day < from_day then
    return 0;
  end if;

  -- The finest grain first, from the messages (the hours, or the days when hours are not kept).
  delete from analytics.message_facts f
   where f.grain = unit and f.bucket_start >= from_ts and f.bucket_start < to_ts;
  insert into analytics.message_facts
    (grain, bucket_start, day, audience, channel, provider, template_id, purpose, node_id,
     status, failure_cause, error_code, messages, sent, delivered, read, unconfirmed, cost_paise,
     actual_cost_paise, priced_messages, renewals, refreshed_at)
  select unit, x.bucket_start, (x.bucket_start at time zone tz)::date, x.audience, x.channel,
         x.provider, x.template_id, x.purpose, x.node_id, x.status, x.failure_cause, x.error_code,
         count(*), count(x.sent_at), count(x.delivered_at), count(x.read_at),
         count(x.unconfirmed_at),
         coalesce(sum(coalesce(x.cost_paise, x.estimated_cost_paise))
                    filter (where x.sent_at is not null), 0),
         coalesce(sum(x.cost_paise) filter (where x.sent_at is not null), 0),
         count(*) filter (where x.sent_at is not null and x.cost_paise is not null),
         count(*) filter (where x.last_touch),
         as_of
    from (
      select date_trunc(unit, m.created_at at time zone tz) at time zone tz as bucket_start,
             case when m.staff_id is null then 'customer' else 'staff' end as audience,
             m.channel, m.provider, m.template_id, m.purpose, a.node_id, m.status,
             private.failure_cause(m.status, m.last_error_code, m.blocked_reason, m.dead_reason)
               as failure_cause,
             coalesce(m.last_error_code,
                      case m.status when 'blocked' then m.blocked_reason
                                    when 'dead' then m.dead_reason end) as error_code,
             m.sent_at, m.delivered_at, m.read_at, m.unconfirmed_at, m.cost_paise,
             m.estimated_cost_paise,
             -- Last touch: the case was renewed, this message went before it closed, and no
             -- other message of the case went later (ties broken by id) before it closed.
             case
               when c.stage = 'renewed' and m.sent_at <= c.closed_at then
                 not exists (select 1
                               from public.messages l
                              where l.case_id = m.case_id
                                and l.sent_at <= c.closed_at
                                and (l.sent_at > m.sent_at or (l.sent_at = m.sent_at and l.id > m.id)))
               else false
             end as last_touch
        from public.messages m
        left join public.renewal_cases c on c.id = m.case_id
        left join public.profiles a on a.id = c.assignee_id
       where m.created_at >= from_ts and m.created_at < to_ts
    ) x
   group by x.bucket_start, x.audience, x.channel, x.provider, x.template_id, x.purpose,
            x.node_id, x.status, x.failure_cause, x.error_code;
  get diagnostics written = row_count;

  delete from analytics.latency_facts f
   where f.grain = unit and f.bucket_start >= from_ts and f.bucket_start < to_ts;
  insert into analytics.latency_facts
    (grain, bucket_start, day, channel, provider, template_id, node_id, stage, latency_bucket,
     messages, refreshed_at)
  select unit, x.bucket_start, (x.bucket_start at time zone tz)::date, x.channel, x.provider,
         x.template_id, x.node_id, l.stage, l.latency_bucket, count(*), as_of
    from (
      select date_trunc(unit, m.created_at at time zone tz) at time zone tz as bucket_start,
             m.channel, m.provider, m.template_id, a.node_id, m.queued_at, m.sent_at,
             m.delivered_at
        from public.messages m
        left join public.renewal_cases c on c.id = m.case_id
        left join public.profiles a on a.id = c.assignee_id
       where m.created_at >= from_ts and m.created_at < to_ts
         and m.sent_at is not null
    ) x
   cross join lateral (
     values ('sent', analytics.latency_bucket(extract(epoch from x.sent_at - x.queued_at)::float8)),
            ('delivered',
             analytics.latency_bucket(extract(epoch from x.delivered_at - x.queued_at)::float8))
   ) as l (stage, latency_bucket)
   where l.latency_bucket is not null
   group by x.bucket_start, x.channel, x.provider, x.template_id, x.node_id, l.stage,
            l.latency_bucket;

  if with_hours then
    -- The days, as the sums of their hours (the hours of each day were all just recomputed).
    delete from analytics.message_facts f
     where f.grain = 'day' and f.bucket_start >= from_ts and f.bucket_start < to_ts;
    insert into analytics.message_facts
      (grain, bucket_start, day, audience, channel, provider, template_id, purpose, node_id,
       status, failure_cause, error_code, messages, sent, delivered, read, unconfirmed,
       cost_paise, actual_cost_paise, priced_messages, renewals, refreshed_at)
    select 'day', f.day::timestamp at time zone tz, f.day, f.audience, f.channel, f.provider,
           f.template_id, f.purpose, f.node_id, f.status, f.failure_cause, f.error_code,
           sum(f.messages), sum(f.sent), sum(f.delivered), sum(f.read), sum(f.unconfirmed),
           sum(f.cost_paise), sum(f.actual_cost_paise), sum(f.priced_messages), sum(f.renewals),
           as_of
      from analytics.message_facts f
     where f.grain = 'hour' and f.bucket_start >= from_ts and f.bucket_start < to_ts
     group by f.day, f.audience, f.channel, f.provider, f.template_id, f.purpose, f.node_id,
              f.status, f.failure_cause, f.error_code;

    delete from analytics.latency_facts f
     where f.grain = 'day' and f.bucket_start >= from_ts and f.bucket_start < to_ts;
    insert into analytics.latency_facts
      (grain, bucket_start, day, channel, provider, template_id, node_id, stage, latency_bucket,
       messages, refreshed_at)
    select 'day', f.day::timestamp at time zone tz, f.day, f.channel, f.provider, f.template_id,
           f.node_id, f.stage, f.latency_bucket, sum(f.messages), as_of
      from analytics.latency_facts f
     where f.grain = 'hour' and f.bucket_start >= from_ts and f.bucket_start < to_ts
     group by f.day, f.channel, f.provider, f.template_id, f.node_id, f.stage, f.latency_bucket;
  end if;
  return written;
end
$$;
comment on function private.compute_message_facts(date, date, boolean, timestamptz) is
  'Recomputes analytics.message_facts and latency_facts for the IST days from_day..to_day: with '
  'hours, the hourly rows from the messages and the daily rows as their sums; without, the '
  'daily rows from the messages. Deletes the rows it replaces. Returns the rows of the finest '
  'grain written. Called by the refresh functions only.';

-- Activity facts of the IST days from_day..to_day ---------------------------------------------

create function private.compute_activity_facts(from_day date, to_day date, as_of timestamptz)
returns integer
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  from_ts timestamptz := from_day::timestamp at time zone tz;
  to_ts timestamptz := (to_day + 1)::timestamp at time zone tz;
  written integer;
begin
  if from_day is null or to_day is null or as_of is null then
    raise exception 'from_day, to_day and as_of are required' using errcode = '22023';
  end if;
  if to_day < from_day then
    return 0;
  end if;

  delete from analytics.activity_facts f where f.day between from_day and to_day;
  insert into analytics.activity_facts
    (day, agent_id, node_id, product_line, premium_due_paise, installments_due,
     premium_collected_paise, payments_captured, installments_paid_paise, tasks_due,
     sla_breaches, messages_sent, message_cost_paise, refreshed_at)
  select e.day, e.agent_id, a.node_id, e.product_line,
         sum(e.premium_due), sum(e.installments_due), sum(e.collected), sum(e.payments),
         sum(e.installments_paid), sum(e.tasks_due), sum(e.breaches), sum(e.sent), sum(e.cost),
         as_of
    from (
      -- Installments falling due (waived ones are not owed).
      select oa.due_date as day, c.assignee_id as agent_id, po.product_line,
             oa.amount as premium_due, 1 as installments_due, 0::bigint as collected,
             0 as payments, 0::bigint as installments_paid, 0 as tasks_due, 0 as breaches,
             0 as sent, 0::numeric as cost
        from public.outstanding_amounts oa
        join public.renewal_cases c on c.id = oa.case_id
        join public.policies po on po.id = c.policy_id
       where oa.due_date between from_day and to_day and oa.status <> 'waived'
      union all
      -- Installments settled as paid (online or recorded by the desk).
      select (oa.paid_at at time zone tz)::date, c.assignee_id, po.product_line,
             0, 0, 0, 0, oa.amount, 0, 0, 0, 0
        from public.outstanding_amounts oa
        join public.renewal_cases c on c.id = oa.case_id
        join public.policies po on po.id = c.policy_id
       where oa.paid_at >= from_ts and oa.paid_at < to_ts and oa.status = 'paid'
      union all
      -- Payments captured.
      select (p.captured_at at time zone tz)::date, c.assignee_id, po.product_line,
             0, 0, p.amount, 1, 0, 0, 0, 0, 0
        from public.payments p
        join public.renewal_cases c on c.id = p.case_id
        join public.policies po on po.id = c.policy_id
       where p.captured_at >= from_ts and p.captured_at < to_ts
      union all
      -- Call tasks whose SLA deadline fell in the window, and whether it was missed.
      select (t.sla_due_at at time zone tz)::date, t.assignee_id, po.product_line,
             0, 0, 0, 0, 0, 1,
             case when t.done_at > t.sla_due_at or (t.done_at is null and t.sla_due_at <= as_of)
                  then 1 else 0 end,
             0, 0
        from public.tasks t
        join public.renewal_cases c on c.id = t.case_id
        join public.policies po on po.id = c.policy_id
       where t.sla_due_at >= from_ts and t.sla_due_at < to_ts
      union all
      -- Messages of the cases, sent (accepted by the vendor).
      select (m.sent_at at time zone tz)::date, c.assignee_id, po.product_line,
             0, 0, 0, 0, 0, 0, 0, 1, coalesce(m.cost_paise, m.estimated_cost_paise, 0)
        from public.messages m
        join public.renewal_cases c on c.id = m.case_id
        join public.policies po on po.id = c.policy_id
       where m.sent_at >= from_ts and m.sent_at < to_ts
    ) e
    left join public.profiles a on a.id = e.agent_id
   group by e.day, e.agent_id, a.node_id, e.product_line;
  get diagnostics written = row_count;

  delete from analytics.node_activity_facts f where f.day between from_day and to_day;
  insert into analytics.node_activity_facts
    (node_id, day, product_line, premium_due_paise, installments_due, premium_collected_paise,
     payments_captured, installments_paid_paise, tasks_due, sla_breaches, messages_sent,
     message_cost_paise, refreshed_at)
  select an.ancestor_id, f.day, f.product_line, sum(f.premium_due_paise),
         sum(f.installments_due), sum(f.premium_collected_paise), sum(f.payments_captured),
         sum(f.installments_paid_paise), sum(f.tasks_due), sum(f.sla_breaches),
         sum(f.messages_sent), sum(f.message_cost_paise), as_of
    from analytics.activity_facts f
    join (select n.id as node_id, anc.id as ancestor_id
            from public.hierarchy_nodes n
            join public.hierarchy_nodes anc on anc.path operator(extensions.@>) n.path) an
      on an.node_id = f.node_id
   where f.day between from_day and to_day
   group by an.ancestor_id, f.day, f.product_line;
  return written;
end
$$;
comment on function private.compute_activity_facts(date, date, timestamptz) is
  'Recomputes analytics.activity_facts and node_activity_facts for the IST days '
  'from_day..to_day (installments due and paid, payments captured, task SLAs, messages sent); '
  'as_of decides which open tasks have breached. Returns the agent rows written. Called by the '
  'refresh functions only.';

-- Renewal facts of some due dates (null: all) -------------------------------------------------

create function private.compute_renewal_facts(due_days date[], as_of timestamptz)
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

  delete from analytics.renewal_facts f where due_days is null or f.due_day = any (due_days);
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
   where due_days is null or c.due_date = any (due_days)
   group by c.due_date, c.assignee_id, a.node_id, po.product_line, c.stage;
  get diagnostics written = row_count;

  delete from analytics.node_renewal_facts f where due_days is null or f.due_day = any (due_days);
  insert into analytics.node_renewal_facts
    (node_id, due_day, product_line, stage, cases, premium_paise, renew_days_sum, refreshed_at)
  select an.ancestor_id, f.due_day, f.product_line, f.stage, sum(f.cases), sum(f.premium_paise),
         sum(f.renew_days_sum), as_of
    from analytics.renewal_facts f
    join (select n.id as node_id, anc.id as ancestor_id
            from public.hierarchy_nodes n
            join public.hierarchy_nodes anc on anc.path operator(extensions.@>) n.path) an
      on an.node_id = f.node_id
   where due_days is null or f.due_day = any (due_days)
   group by an.ancestor_id, f.due_day, f.product_line, f.stage;
  return written;
end
$$;
comment on function private.compute_renewal_facts(date[], timestamptz) is
  'Recomputes analytics.renewal_facts and node_renewal_facts for the cases due on due_days '
  '(null: every case). Returns the agent rows written. Called by the refresh functions only.';

-- What changed since the last refresh ---------------------------------------------------------

create function private.analytics_changes(since timestamptz, before_day date)
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
              cross join lateral (select m.created_at
                                    from public.messages m
                                   where m.case_id = c.id and m.sent_at <= c.closed_at
                                   order by m.sent_at desc, m.id desc
                                   limit 1) lt
              where c.updated_at >= since and c.stage = 'renewed') t
      where t.day < before_day),
    exists (select 1 from public.hierarchy_nodes n where n.updated_at >= since)
$$;
comment on function private.analytics_changes(timestamptz, date) is
  'What a refresh must recompute beyond its window: the due dates of cases changed since `since` '
  '(or of cases of agents whose profile changed), the IST days before before_day holding the '
  'last touch of a case renewed since, and whether the hierarchy changed. Refresh helper.';

-- The refresh functions -----------------------------------------------------------------------

create function private.refresh_analytics_window(
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
  touch_day date;
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
                              'renewal_rows', renewal_rows, 'renewal_due_days', null,
                              'touch_days', '[]'::jsonb);
  end if;

  select * into changes from private.analytics_changes(since, from_day);
  foreach touch_day in array changes.touch_days loop
    message_rows := message_rows
      + private.compute_message_facts(touch_day, touch_day, touch_day >= hours_from, as_of);
  end loop;
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
                            'touch_days', to_jsonb(changes.touch_days),
                            'hierarchy_changed', changes.hierarchy_changed);
end
$$;
comment on function private.refresh_analytics_window(date, date, timestamptz, date, timestamptz) is
  'The work of a refresh: message and latency facts of the IST days from_day..to_day (hours '
  'for the last 8 days), activity facts of activity_from..to_day, then what changed since '
  '`since` (renewal cohorts, older last-touch days, rollups after a hierarchy change; all '
  'cohorts when since is null). Refresh helper; the caller holds the lock.';

create function private.refresh_analytics(as_of timestamptz default now())
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
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  if not pg_try_advisory_xact_lock(hashtext('py360.refresh_analytics')) then
    return jsonb_build_object('skipped', true, 'reason', 'another refresh is running');
  end if;
  today := private.business_date(as_of);
  select * into state from private.analytics_state s where s.id;
  done := private.refresh_analytics_window(
    private.business_date(as_of - interval '2 days'), today, as_of, today - 1,
    state.changes_checked_at - interval '1 hour');
  update private.analytics_state s
     set refreshed_at = as_of, finished_at = clock_timestamp(), changes_checked_at = started
   where s.id;
  return jsonb_build_object('skipped', false, 'as_of', as_of) || done;
end
$$;
comment on function private.refresh_analytics(timestamptz) is
  'The 5-minute refresh of the analytics facts (pg_cron "refresh-analytics"): message and '
  'latency facts of the IST days of [as_of - 2 days, as_of], hourly and daily, and of older days '
  'whose last-touch renewals changed; activity facts of today and yesterday; renewal facts of '
  'the due dates of cases changed since the last refresh (all of them the first time). Skips '
  '(skipped: true) when another refresh holds the lock. Returns what it rewrote. Security '
  'definer: a job that writes the analytics tables nobody else may.';

create function private.refresh_analytics_nightly(as_of timestamptz default now())
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
  delete from analytics.message_facts f where f.grain = 'hour' and f.day < today - 7;
  get diagnostics pruned = row_count;
  delete from analytics.latency_facts f where f.grain = 'hour' and f.day < today - 7;
  get diagnostics pruned_latency = row_count;
  update private.analytics_state s
     set refreshed_at = as_of, finished_at = clock_timestamp(), changes_checked_at = started,
         nightly_at = as_of
   where s.id;
  return jsonb_build_object('as_of', as_of, 'hourly_rows_pruned', pruned + pruned_latency)
         || done;
end
$$;
comment on function private.refresh_analytics_nightly(timestamptz) is
  'The nightly pass over the analytics facts (pg_cron "refresh-analytics-nightly"): recomputes '
  'the message, latency and activity facts of the last 8 IST days (today and the 7 before) and '
  'the cohorts of cases changed in the last 2 days, then deletes hourly rows of older days '
  '(daily rows are kept for ever). Waits for a running refresh. Security definer: a job.';

create function private.rebuild_analytics(from_day date, to_day date)
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  started timestamptz := now();
  today date := private.business_date(now());
  first_day date := from_day;
  last_day date := to_day;
  message_rows integer := 0;
  activity_rows integer;
  renewal_rows integer;
begin
  perform pg_advisory_xact_lock(hashtext('py360.refresh_analytics'));
  if first_day is null then
    -- The first day anything happened.
    select least(
             (select private.business_date(min(m.created_at)) from public.messages m),
             (select min(oa.due_date) from public.outstanding_amounts oa),
             (select private.business_date(min(oa.paid_at)) from public.outstanding_amounts oa),
             (select private.business_date(min(p.captured_at)) from public.payments p),
             (select private.business_date(min(t.sla_due_at)) from public.tasks t),
             today)
      into first_day;
  end if;
  -- Up to today: the days to come have no activity yet (their facts appear as they pass).
  last_day := coalesce(last_day, today);
  if last_day < first_day then
    raise exception 'to_day is before from_day' using errcode = '22023';
  end if;

  message_rows := private.compute_message_facts(greatest(first_day, today - 7), last_day, true, now())
    + private.compute_message_facts(first_day, least(last_day, today - 8), false, now());
  activity_rows := private.compute_activity_facts(first_day, last_day, now());
  if from_day is null and to_day is null then
    renewal_rows := private.compute_renewal_facts(null, now());
    update private.analytics_state s
       set refreshed_at = now(), finished_at = clock_timestamp(), changes_checked_at = started
     where s.id;
  else
    renewal_rows := private.compute_renewal_facts(
      array(select d::date from generate_series(first_day, last_day, interval '1 day') d), now());
  end if;
  return jsonb_build_object('from_day', first_day, 'to_day', last_day,
                            'message_rows', message_rows, 'activity_rows', activity_rows,
                            'renewal_rows', renewal_rows);
end
$$;
comment on function private.rebuild_analytics(date, date) is
  'Recomputes every analytics fact of the IST days from_day..to_day: message and latency facts '
  '(hourly too for the last 8 days), activity facts, and the renewal cohorts due in the range. '
  'Null, null: everything, from the first message, installment, payment or task to today, every '
  'cohort, and private.analytics_state as after a refresh (a null from_day alone: from the first '
  'day; a null to_day alone: to today). Waits for a running refresh. The seed, the big-book generator and the tests call '
  'it. Security definer: writes the analytics tables.';

revoke execute on function
  private.compute_message_facts(date, date, boolean, timestamptz),
  private.compute_activity_facts(date, date, timestamptz),
  private.compute_renewal_facts(date[], timestamptz),
  private.analytics_changes(timestamptz, date),
  private.refresh_analytics_window(date, date, timestamptz, date, timestamptz),
  private.refresh_analytics(timestamptz),
  private.refresh_analytics_nightly(timestamptz),
  private.rebuild_analytics(date, date)
  from public;
grant execute on function
  private.refresh_analytics(timestamptz),
  private.refresh_analytics_nightly(timestamptz),
  private.rebuild_analytics(date, date)
  to service_role;

-- Every 5 minutes; nightly at 21:10 UTC (02:40 IST), before the daily renewal jobs (06:00 IST).
select cron.schedule('refresh-analytics', '*/5 * * * *',
                     'select private.refresh_analytics()');
select cron.schedule('refresh-analytics-nightly', '10 21 * * *',
                     'select private.refresh_analytics_nightly()');
