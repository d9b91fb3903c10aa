-- Faster analytics refresh (issue 11; the refresh is migration 20261129230017).
-- 1. analytics.latency_bucket and private.failure_cause are single expressions over their
--    arguments, called once per message: their `set search_path` kept Postgres from inlining
--    them, and each call cost about 0.1-0.3 ms (a day of 20,000 messages: seconds). They look
--    nothing up by name (pg_catalog's functions, written qualified, and literals), so they need
--    no search path; neither is a security definer (those keep an empty one:
--    tests/database/01_security_coverage). tests/database/81 checks they stay inlinable.
-- 2. The last touch of a renewed case is found by reading that case's messages by case_id and
--    ranking them: the `not exists` with a condition on sent_at let the planner combine
--    messages_case_idx with a range scan of messages_sent_idx from each message to the case's
--    closing, which on a large book reads most of the index once per message.

create or replace function analytics.latency_bucket(seconds float8)
returns smallint
language sql
immutable
parallel safe
security invoker
as $$
  select case
           when seconds is null or seconds = 'NaN'::float8 then null
           when seconds < 1 then 0
           else least(255, pg_catalog.floor(8 * pg_catalog.ln(seconds)
                                                         / pg_catalog.ln(2::float8)) + 1)
         end::smallint
$$;
comment on function analytics.latency_bucket(float8) is
  'The latency bucket of a duration in seconds: 0 under 1 s (negative ones too), then b >= 1 for '
  '[2^((b-1)/8), 2^(b/8)) seconds, about 9 % wide each, capped at 255. Null for null. Inlined '
  'into the queries that use it (no search_path of its own).';

alter function private.failure_cause(public.message_status, text, text, text) reset search_path;

create or replace function private.compute_message_facts(
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
             m.estimated_cost_paise, t.message_id is not null as last_touch
        from public.messages m
        left join public.renewal_cases c on c.id = m.case_id
        left join public.profiles a on a.id = c.assignee_id
        -- Last touches: for each renewed case with a message in the window, the last of its
        -- messages sent at or before it closed (ties broken by id). The case's messages are read
        -- by case alone (messages_case_idx) and ranked, sent-before-closing first: a condition
        -- on sent_at here led the planner to scan messages_sent_idx over the whole range.
        left join (
          select r.message_id
            from (select distinct on (l.case_id) l.id as message_id,
                         l.sent_at <= rc.closed_at as touched
                    from public.renewal_cases rc
                    join public.messages l on l.case_id = rc.id
                   where rc.stage = 'renewed'
                     and rc.id in (select w.case_id
                                     from public.messages w
                                    where w.created_at >= from_ts and w.created_at < to_ts
                                      and w.case_id is not null)
                   order by l.case_id, (l.sent_at <= rc.closed_at) desc nulls last,
                            l.sent_at desc, l.id desc) r
           where r.touched
        ) t on t.message_id = m.id
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
              where c.updated_at >= since and c.stage = 'renewed' and lt.touched) t
      where t.day < before_day),
    exists (select 1 from public.hierarchy_nodes n where n.updated_at >= since)
$$;

