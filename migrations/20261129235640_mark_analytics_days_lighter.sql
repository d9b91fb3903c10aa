-- The marking of stale analytics days made lighter (issue 11, review defect 1; the triggers are
-- migration 20261129234414). Measured on the demo book with 2,000 fresh messages, 1,000
-- single-row updates of messages took about 550 ms with the marking trigger and 215 ms without:
-- about 0.33 ms a statement, mostly five calls of private.setting (a security definer function,
-- each saving and restoring the search path) and two inserts. The trigger functions now read
-- BUSINESS_TIME_ZONE once from public.app_settings, compute the cut-offs inline, and run one
-- statement (about 0.05 ms a single-row update; a batch update of 1,000 messages about 2 ms in the
-- trigger either way). The other tables' marking triggers read the zone the same way, and the
-- cut-off helper goes.

create or replace function private.tg_messages__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce((select s.value #>> '{}' from public.app_settings s
                        where s.key = 'BUSINESS_TIME_ZONE'), 'Asia/Kolkata');
  today date := (now() at time zone tz)::date;
  -- Message facts are recounted by the refresh from the day before yesterday, activity facts
  -- from yesterday: rows dated before yesterday / today (one day's margin) are marked.
  message_cut timestamptz := (today - 1)::timestamp at time zone tz;
  activity_cut timestamptz := today::timestamp at time zone tz;
begin
  -- The day a message was queued (its message and latency facts) and the day it was sent (its
  -- case's activity), before and after the change.
  if tg_op = 'UPDATE' then
    insert into private.analytics_dirty (kind, day)
    select distinct d.kind, d.day
      from (select r.created_at, r.sent_at, r.case_id from new_rows r
             where r.created_at < message_cut or r.sent_at < activity_cut
            union all
            select r.created_at, r.sent_at, r.case_id from old_rows r
             where r.created_at < message_cut or r.sent_at < activity_cut) x
     cross join lateral (
       select 'message' as kind, (x.created_at at time zone tz)::date as day
        where x.created_at < message_cut
       union all
       select 'activity', (x.sent_at at time zone tz)::date
        where x.sent_at < activity_cut and x.case_id is not null) d
    on conflict do nothing;
  elsif tg_op = 'INSERT' then
    insert into private.analytics_dirty (kind, day)
    select distinct d.kind, d.day
      from new_rows x
     cross join lateral (
       select 'message' as kind, (x.created_at at time zone tz)::date as day
        where x.created_at < message_cut
       union all
       select 'activity', (x.sent_at at time zone tz)::date
        where x.sent_at < activity_cut and x.case_id is not null) d
     where x.created_at < message_cut or x.sent_at < activity_cut
    on conflict do nothing;
  else
    insert into private.analytics_dirty (kind, day)
    select distinct d.kind, d.day
      from old_rows x
     cross join lateral (
       select 'message' as kind, (x.created_at at time zone tz)::date as day
        where x.created_at < message_cut
       union all
       select 'activity', (x.sent_at at time zone tz)::date
        where x.sent_at < activity_cut and x.case_id is not null) d
     where x.created_at < message_cut or x.sent_at < activity_cut
    on conflict do nothing;
  end if;
  return null;
end
$$;

create or replace function private.tg_outstanding_amounts__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce((select s.value #>> '{}' from public.app_settings s
                        where s.key = 'BUSINESS_TIME_ZONE'), 'Asia/Kolkata');
  today date := (now() at time zone tz)::date;
  activity_cut timestamptz := today::timestamp at time zone tz;
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

create or replace function private.tg_payments__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce((select s.value #>> '{}' from public.app_settings s
                        where s.key = 'BUSINESS_TIME_ZONE'), 'Asia/Kolkata');
  today date := (now() at time zone tz)::date;
  activity_cut timestamptz := today::timestamp at time zone tz;
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

create or replace function private.tg_tasks__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce((select s.value #>> '{}' from public.app_settings s
                        where s.key = 'BUSINESS_TIME_ZONE'), 'Asia/Kolkata');
  today date := (now() at time zone tz)::date;
  activity_cut timestamptz := today::timestamp at time zone tz;
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

create or replace function private.tg_renewal_cases__mark_analytics_days() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tz text := coalesce((select s.value #>> '{}' from public.app_settings s
                        where s.key = 'BUSINESS_TIME_ZONE'), 'Asia/Kolkata');
  today date := (now() at time zone tz)::date;
  message_cut timestamptz := (today - 1)::timestamp at time zone tz;
  activity_cut timestamptz := today::timestamp at time zone tz;
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

drop function private.analytics_dirty_cutoff(text);
