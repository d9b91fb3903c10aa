-- Facts equal the base tables after every refresh (issue 11, review defects 1, 2 and 8).
-- 1. The 5-minute refresh recounted the last days only: a change to an older row (a message
--    queued 10 days ago delivered now, an installment paid with a backdated paid_at, a task's SLA
--    restarted by the escalation, a refund reopening an installment, a late vendor price, a
--    redriven dead letter, a case reassigned) left its day's facts wrong for ever. Statement-level
--    triggers with transition tables now write the business days of changed rows older than the
--    refresh's window into private.analytics_dirty, one row per (kind, day), on conflict do
--    nothing; every refresh (and the nightly pass) takes those rows and recounts their days in
--    the same transaction. Only days before the window are written, so the hot path (a batch of
--    messages of today) writes nothing.
-- 2. A deployed project had only the days the cron job had built: private.analytics_state.built_at
--    says when everything was last built (rebuild_analytics(null, null)); while it is null, the
--    next refresh rebuilds everything once.
-- 3. The business time zone the facts were built under is kept (analytics_state.time_zone): a
--    refresh under another BUSINESS_TIME_ZONE deletes every fact and rebuilds, so no day of the
--    old zone stays beside the new one.

create table private.analytics_dirty (
  kind text not null check (kind in ('message', 'activity')),
  day date not null,
  primary key (kind, day)
);
alter table private.analytics_dirty enable row level security;
comment on table private.analytics_dirty is
  'Business days whose analytics facts a change made stale, outside the refresh''s own window: '
  'message (message and latency facts of the day messages were queued) and activity (activity '
  'facts of the day of an installment due or paid, a payment, a task''s SLA, a message sent). '
  'Written by statement-level triggers on the base tables, taken (deleted) and recounted by the '
  'next refresh.';

alter table private.analytics_state
  add column built_at timestamptz,
  add column time_zone text;
comment on column private.analytics_state.built_at is
  'When every fact was last built (private.rebuild_analytics(null, null)). Null: never, and the '
  'next refresh builds everything first.';
comment on column private.analytics_state.time_zone is
  'The BUSINESS_TIME_ZONE the facts were built under: a refresh under another zone rebuilds them.';

-- A database with nothing to count is fully built already; one with a book builds at its next
-- refresh (the seed and the big-book generator rebuild anyway).
update private.analytics_state s
   set built_at = now(),
       time_zone = coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata')
 where s.id
   and not exists (select 1 from public.messages)
   and not exists (select 1 from public.renewal_cases)
   and not exists (select 1 from public.tasks)
   and not exists (select 1 from public.payments)
   and not exists (select 1 from public.outstanding_amounts);

-- Marking the days of changed rows -----------------------------------------------------------

-- The first business day a refresh run now might not recount: message facts are recounted from
-- the day before yesterday, activity facts from yesterday; one day earlier is kept as margin for
-- a refresh that starts after midnight.
create function private.analytics_dirty_cutoff(kind text) returns timestamptz
language sql
stable
security invoker
set search_path = ''
as $$
  select ((private.business_date(now()) - case kind when 'message' then 1 else 0 end)::timestamp
           at time zone coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata'))
$$;
comment on function private.analytics_dirty_cutoff(text) is
  'The start of the first business day the refresh recounts by itself, for a kind of facts '
  '(message: yesterday; activity: today). Changes to rows dated before it are marked in '
  'private.analytics_dirty. Trigger helper.';

create function private.tg_messages__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  message_cut timestamptz := private.analytics_dirty_cutoff('message');
  activity_cut timestamptz := private.analytics_dirty_cutoff('activity');
begin
  -- The day a message was queued (its message and latency facts) and the day it was sent (its
  -- case's activity), before and after the change.
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.analytics_dirty (kind, day)
    select distinct d.kind, d.day
      from (select 'message' as kind, (r.created_at at time zone tz)::date as day
              from new_rows r where r.created_at < message_cut
            union all
            select 'activity', (r.sent_at at time zone tz)::date
              from new_rows r where r.sent_at < activity_cut and r.case_id is not null) d
    on conflict do nothing;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into private.analytics_dirty (kind, day)
    select distinct d.kind, d.day
      from (select 'message' as kind, (r.created_at at time zone tz)::date as day
              from old_rows r where r.created_at < message_cut
            union all
            select 'activity', (r.sent_at at time zone tz)::date
              from old_rows r where r.sent_at < activity_cut and r.case_id is not null) d
    on conflict do nothing;
  end if;
  return null;
end
$$;
comment on function private.tg_messages__mark_analytics_days() is
  'Marks in private.analytics_dirty the business days of messages inserted, changed or deleted '
  'that the next refresh would not recount by itself (queued before yesterday, sent before '
  'today). Statement-level, transition tables.';

create function private.tg_outstanding_amounts__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  activity_cut timestamptz := private.analytics_dirty_cutoff('activity');
  today date := private.business_date(now());
begin
  -- The day an installment falls due and the day it was paid, before and after the change
  -- (a waiver, a refund reopening it, a backdated payment).
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.analytics_dirty (kind, day)
    select distinct 'activity', d.day
      from (select r.due_date as day from new_rows r where r.due_date < today
            union all
            select (r.paid_at at time zone tz)::date from new_rows r where r.paid_at < activity_cut) d
    on conflict do nothing;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into private.analytics_dirty (kind, day)
    select distinct 'activity', d.day
      from (select r.due_date as day from old_rows r where r.due_date < today
            union all
            select (r.paid_at at time zone tz)::date from old_rows r where r.paid_at < activity_cut) d
    on conflict do nothing;
  end if;
  return null;
end
$$;
comment on function private.tg_outstanding_amounts__mark_analytics_days() is
  'Marks in private.analytics_dirty the days before today that installments inserted, changed '
  'or deleted fall due or were paid on. Statement-level, transition tables.';

create function private.tg_payments__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  activity_cut timestamptz := private.analytics_dirty_cutoff('activity');
begin
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.analytics_dirty (kind, day)
    select distinct 'activity', (r.captured_at at time zone tz)::date
      from new_rows r where r.captured_at < activity_cut
    on conflict do nothing;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into private.analytics_dirty (kind, day)
    select distinct 'activity', (r.captured_at at time zone tz)::date
      from old_rows r where r.captured_at < activity_cut
    on conflict do nothing;
  end if;
  return null;
end
$$;
comment on function private.tg_payments__mark_analytics_days() is
  'Marks in private.analytics_dirty the days before today that payments inserted, changed or '
  'deleted were captured on. Statement-level, transition tables.';

create function private.tg_tasks__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  activity_cut timestamptz := private.analytics_dirty_cutoff('activity');
begin
  -- The day of the SLA deadline, before and after (an escalation restarts it).
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.analytics_dirty (kind, day)
    select distinct 'activity', (r.sla_due_at at time zone tz)::date
      from new_rows r where r.sla_due_at < activity_cut
    on conflict do nothing;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into private.analytics_dirty (kind, day)
    select distinct 'activity', (r.sla_due_at at time zone tz)::date
      from old_rows r where r.sla_due_at < activity_cut
    on conflict do nothing;
  end if;
  return null;
end
$$;
comment on function private.tg_tasks__mark_analytics_days() is
  'Marks in private.analytics_dirty the days before today of the SLA deadlines of tasks '
  'inserted, changed or deleted. Statement-level, transition tables.';

create function private.tg_renewal_cases__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  message_cut timestamptz := private.analytics_dirty_cutoff('message');
  activity_cut timestamptz := private.analytics_dirty_cutoff('activity');
  today date := private.business_date(now());
begin
  -- Cases reassigned or moved to another policy (their facts' agent, node, product line), and
  -- cases renewed or no longer renewed or closed at another time (their last touch): the days of
  -- their messages, installments and payments. Cohorts by due date follow updated_at as before.
  with changed as (
    select n.id,
           n.assignee_id is distinct from o.assignee_id or n.policy_id is distinct from o.policy_id
             as moved
      from new_rows n
      join old_rows o on o.id = n.id
     where n.assignee_id is distinct from o.assignee_id
        or n.policy_id is distinct from o.policy_id
        or ((n.stage = 'renewed' or o.stage = 'renewed')
            and (n.stage is distinct from o.stage or n.closed_at is distinct from o.closed_at))
  )
  insert into private.analytics_dirty (kind, day)
  select distinct d.kind, d.day
    from (select 'message' as kind, (m.created_at at time zone tz)::date as day
            from changed c join public.messages m on m.case_id = c.id
           where m.created_at < message_cut
          union all
          select 'activity', (m.sent_at at time zone tz)::date
            from changed c join public.messages m on m.case_id = c.id
           where c.moved and m.sent_at < activity_cut
          union all
          select 'activity', oa.due_date
            from changed c join public.outstanding_amounts oa on oa.case_id = c.id
           where c.moved and oa.due_date < today
          union all
          select 'activity', (oa.paid_at at time zone tz)::date
            from changed c join public.outstanding_amounts oa on oa.case_id = c.id
           where c.moved and oa.paid_at < activity_cut
          union all
          select 'activity', (p.captured_at at time zone tz)::date
            from changed c join public.payments p on p.case_id = c.id
           where c.moved and p.captured_at < activity_cut
          union all
          select 'activity', (t.sla_due_at at time zone tz)::date
            from changed c join public.tasks t on t.case_id = c.id
           where c.moved and t.sla_due_at < activity_cut) d
  on conflict do nothing;
  return null;
end
$$;
comment on function private.tg_renewal_cases__mark_analytics_days() is
  'Marks in private.analytics_dirty the older days of the messages, installments, payments and '
  'tasks of cases reassigned or moved to another policy, and of the messages of cases renewed, '
  'unrenewed or closed at another time (their last touch). Statement-level, transition tables.';

revoke execute on function
  private.analytics_dirty_cutoff(text),
  private.tg_messages__mark_analytics_days(),
  private.tg_outstanding_amounts__mark_analytics_days(),
  private.tg_payments__mark_analytics_days(),
  private.tg_tasks__mark_analytics_days(),
  private.tg_renewal_cases__mark_analytics_days()
  from public;

-- Transition tables allow one event per trigger: three per table.
create trigger _900_mark_analytics_days_insert after insert on public.messages
  referencing new table as new_rows
  for each statement execute function private.tg_messages__mark_analytics_days();
create trigger _900_mark_analytics_days_update after update on public.messages
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_messages__mark_analytics_days();
create trigger _900_mark_analytics_days_delete after delete on public.messages
  referencing old table as old_rows
  for each statement execute function private.tg_messages__mark_analytics_days();

create trigger _900_mark_analytics_days_insert after insert on public.outstanding_amounts
  referencing new table as new_rows
  for each statement execute function private.tg_outstanding_amounts__mark_analytics_days();
create trigger _900_mark_analytics_days_update after update on public.outstanding_amounts
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_outstanding_amounts__mark_analytics_days();
create trigger _900_mark_analytics_days_delete after delete on public.outstanding_amounts
  referencing old table as old_rows
  for each statement execute function private.tg_outstanding_amounts__mark_analytics_days();

create trigger _900_mark_analytics_days_insert after insert on public.payments
  referencing new table as new_rows
  for each statement execute function private.tg_payments__mark_analytics_days();
create trigger _900_mark_analytics_days_update after update on public.payments
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_payments__mark_analytics_days();
create trigger _900_mark_analytics_days_delete after delete on public.payments
  referencing old table as old_rows
  for each statement execute function private.tg_payments__mark_analytics_days();

create trigger _900_mark_analytics_days_insert after insert on public.tasks
  referencing new table as new_rows
  for each statement execute function private.tg_tasks__mark_analytics_days();
create trigger _900_mark_analytics_days_update after update on public.tasks
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_tasks__mark_analytics_days();
create trigger _900_mark_analytics_days_delete after delete on public.tasks
  referencing old table as old_rows
  for each statement execute function private.tg_tasks__mark_analytics_days();

create trigger _900_mark_analytics_days_update after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__mark_analytics_days();

-- Recounting the marked days ------------------------------------------------------------------

create function private.recount_marked_analytics(
  as_of timestamptz,
  message_from date,
  message_to date,
  activity_from date,
  activity_to date
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  hours_from date := private.business_date(as_of) - 7;
  message_days date[];
  activity_days date[];
  d date;
  message_rows integer := 0;
  activity_rows integer := 0;
begin
  -- Taken and recounted in one transaction: a change committed after this delete marks its day
  -- again (one marking the same day waits for this transaction, then marks it anew).
  with taken as (delete from private.analytics_dirty returning kind, day)
  select coalesce(array_agg(distinct t.day order by t.day) filter (where t.kind = 'message'), '{}'),
         coalesce(array_agg(distinct t.day order by t.day) filter (where t.kind = 'activity'), '{}')
    into message_days, activity_days
    from taken t;
  foreach d in array message_days loop
    if d not between message_from and message_to then
      message_rows := message_rows
        + private.compute_message_facts(d, d, d >= hours_from, as_of);
    end if;
  end loop;
  foreach d in array activity_days loop
    if d not between activity_from and activity_to then
      activity_rows := activity_rows + private.compute_activity_facts(d, d, as_of);
    end if;
  end loop;
  return jsonb_build_object('marked_message_days', to_jsonb(message_days),
                            'marked_activity_days', to_jsonb(activity_days),
                            'marked_message_rows', message_rows,
                            'marked_activity_rows', activity_rows);
end
$$;
comment on function private.recount_marked_analytics(timestamptz, date, date, date, date) is
  'Takes every day marked in private.analytics_dirty and recounts the message / latency facts '
  '(hours too within the last 8 days) and activity facts of those outside the days the caller '
  'has just recounted (message_from..message_to, activity_from..activity_to). Returns the days '
  'taken. Refresh helper; the caller holds the lock.';

create function private.analytics_need_rebuild() returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select case
           when s.built_at is null then 'never built'
           when s.time_zone is distinct from
                coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata')
             then 'time zone changed'
         end
    from private.analytics_state s
   where s.id
$$;
comment on function private.analytics_need_rebuild() is
  'Why the analytics facts must be built from scratch before a refresh: ''never built'' (no '
  'rebuild_analytics(null, null) yet) or ''time zone changed'' (BUSINESS_TIME_ZONE is not the '
  'zone they were built under); null when they need not. Refresh helper.';

create or replace function private.rebuild_analytics(from_day date, to_day date)
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  started timestamptz := now();
  today date := private.business_date(now());
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  everything boolean := from_day is null and to_day is null;
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

  if everything then
    -- Every fact goes: rows of days no longer counted (another time zone's buckets, hours over
    -- 8 days old) would stay beside the new ones.
    delete from analytics.message_facts;
    delete from analytics.latency_facts;
    delete from analytics.activity_facts;
    delete from analytics.node_activity_facts;
    delete from private.analytics_dirty;
  else
    delete from private.analytics_dirty d where d.day between first_day and last_day;
  end if;

  message_rows := private.compute_message_facts(greatest(first_day, today - 7), last_day, true, now())
    + private.compute_message_facts(first_day, least(last_day, today - 8), false, now());
  activity_rows := private.compute_activity_facts(first_day, last_day, now());
  if everything then
    renewal_rows := private.compute_renewal_facts(null, now());
    update private.analytics_state s
       set refreshed_at = now(), finished_at = clock_timestamp(), changes_checked_at = started,
           built_at = now(), time_zone = tz
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
  '(hourly too for the last 8 days), activity facts, and the renewal cohorts due in the range, '
  'and forgets the days marked stale in the range. Null, null: everything, from scratch (every '
  'fact row deleted first), from the first message, installment, payment or task to today, '
  'every cohort, and private.analytics_state as after a refresh, with built_at and the time '
  'zone (a null from_day alone: from the first day; a null to_day alone: to today). Waits for '
  'a running refresh. The seed, the big-book generator, the tests and a refresh of facts never '
  'built (or built under another time zone) call it. Security definer: writes the analytics '
  'tables.';

create or replace function private.refresh_analytics(as_of timestamptz default now())
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
  rebuild_reason text;
  message_from date;
  done jsonb;
  marked jsonb;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  if not pg_try_advisory_xact_lock(hashtext('py360.refresh_analytics')) then
    return jsonb_build_object('skipped', true, 'reason', 'another refresh is running');
  end if;
  rebuild_reason := private.analytics_need_rebuild();
  if rebuild_reason is not null then
    -- Never built, or built under another time zone: everything, once.
    return jsonb_build_object('skipped', false, 'as_of', now(), 'rebuilt', rebuild_reason)
           || private.rebuild_analytics(null, null);
  end if;
  today := private.business_date(as_of);
  message_from := private.business_date(as_of - interval '2 days');
  select * into state from private.analytics_state s where s.id;
  done := private.refresh_analytics_window(
    message_from, today, as_of, today - 1, state.changes_checked_at - interval '1 hour');
  marked := private.recount_marked_analytics(as_of, message_from, today, today - 1, today);
  update private.analytics_state s
     set refreshed_at = as_of, finished_at = clock_timestamp(), changes_checked_at = started
   where s.id;
  return jsonb_build_object('skipped', false, 'as_of', as_of) || done || marked;
end
$$;
comment on function private.refresh_analytics(timestamptz) is
  'The 5-minute refresh of the analytics facts (pg_cron "refresh-analytics"): message and '
  'latency facts of the IST days of [as_of - 2 days, as_of], hourly and daily; activity facts of '
  'today and yesterday; renewal facts of the due dates of cases changed since the last refresh '
  '(all of them the first time); then every older day a change marked stale '
  '(private.analytics_dirty). Facts never fully built, or built under another '
  'BUSINESS_TIME_ZONE, are rebuilt from scratch instead (rebuilt: the reason). A renewal whose '
  'last touch went before those days and was not marked is counted by the nightly pass. Skips '
  '(skipped: true) when another refresh holds the lock. Returns what it rewrote. Security '
  'definer: a job that writes the analytics tables nobody else may.';

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
  rebuild_reason text;
  done jsonb;
  marked jsonb;
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
  rebuild_reason := private.analytics_need_rebuild();
  if rebuild_reason is not null then
    update private.analytics_state s set nightly_at = now(), nightly_checked_at = started
     where s.id;
    return jsonb_build_object('as_of', now(), 'rebuilt', rebuild_reason)
           || private.rebuild_analytics(null, null);
  end if;
  today := private.business_date(as_of);
  select * into state from private.analytics_state s where s.id;
  -- Cases changed in the last two days again, for transactions still open at earlier refreshes.
  done := private.refresh_analytics_window(
    today - 7, today, as_of, today - 7,
    case when state.changes_checked_at is not null
         then least(state.changes_checked_at - interval '1 hour', started - interval '2 days') end);
  marked := private.recount_marked_analytics(as_of, today - 7, today, today - 7, today);
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
         || done || marked;
end
$$;
comment on function private.refresh_analytics_nightly(timestamptz) is
  'The nightly pass over the analytics facts (pg_cron "refresh-analytics-nightly"): recomputes '
  'the message, latency and activity facts of the last 8 IST days (today and the 7 before), '
  'every older day a change marked stale, and the cohorts of cases changed in the last 2 days; '
  'recounts the older days holding the last touch of a case renewed since the previous pass '
  '(daily rows); then deletes hourly rows of days before the 8 (daily rows are kept for ever). '
  'Facts never fully built, or built under another BUSINESS_TIME_ZONE, are rebuilt from '
  'scratch instead. Waits for a running refresh. Security definer: a job.';

revoke execute on function
  private.recount_marked_analytics(timestamptz, date, date, date, date),
  private.analytics_need_rebuild()
  from public;
