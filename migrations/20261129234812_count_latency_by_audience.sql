-- Latency histograms by audience (issue 11, review defect 3): analytics.latency_facts had no
-- audience, so the percentiles of the customers' reports counted the alerts and reports mailed
-- to the desk (200 slow staff emails put a customer p95 at an hour instead of seconds, and a
-- series bucket with no customer message showed a p50). latency_facts gets `audience` like
-- message_facts; the rule is that every latency figure counts the messages its counts count:
-- private.message_performance (customers' messages only) and the reports' messages and channels
-- sections (customers) read the customers' histograms; the reports' providers section, which
-- counts everything a vendor carried and billed, both audiences.
-- Facts already built counted staff messages as the customers': when there are any, the next
-- refresh rebuilds everything (private.analytics_state.built_at cleared).

alter table analytics.latency_facts
  add column audience text not null default 'customer' check (audience in ('customer', 'staff'));
alter table analytics.latency_facts alter column audience drop default;
comment on column analytics.latency_facts.audience is
  'customer: messages to customers (reminders, receipts, campaigns); staff: alerts and reports '
  'sent to desk users (messages.staff_id). As in message_facts: filter on customer for the '
  'desk''s own reach, so counts and percentiles describe the same messages.';
update private.analytics_state s set built_at = null
 where s.id and exists (select 1 from public.messages m where m.staff_id is not null);

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
    (grain, bucket_start, day, audience, channel, provider, template_id, node_id, stage,
     latency_bucket, messages, refreshed_at)
  select unit, x.bucket_start, (x.bucket_start at time zone tz)::date, x.audience, x.channel,
         x.provider, x.template_id, x.node_id, l.stage, l.latency_bucket, count(*), as_of
    from (
      select date_trunc(unit, m.created_at at time zone tz) at time zone tz as bucket_start,
             case when m.staff_id is null then 'customer' else 'staff' end as audience,
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
   group by x.bucket_start, x.audience, x.channel, x.provider, x.template_id, x.node_id,
            l.stage, l.latency_bucket;

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
      (grain, bucket_start, day, audience, channel, provider, template_id, node_id, stage,
       latency_bucket, messages, refreshed_at)
    select 'day', f.day::timestamp at time zone tz, f.day, f.audience, f.channel, f.provider,
           f.template_id, f.node_id, f.stage, f.latency_bucket, sum(f.messages), as_of
      from analytics.latency_facts f
     where f.grain = 'hour' and f.bucket_start >= from_ts and f.bucket_start < to_ts
     group by f.day, f.audience, f.channel, f.provider, f.template_id, f.node_id, f.stage,
              f.latency_bucket;
  end if;
  return written;
end
$$;


create or replace function private.message_performance(
  channel text,
  provider text,
  from_ts timestamptz,
  to_ts timestamptz,
  grain text
)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set jit = off
as $$
declare
  visible uuid[] := private.performance_reader_nodes();
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  want_channel public.channel_type;
  want_provider text := provider;
  first_ts timestamptz := from_ts;
  last_ts timestamptz := to_ts;
  unit text := grain;
  step interval;
  with_series boolean;
  result jsonb;
begin
  if first_ts is null or last_ts is null or unit is null then
    raise exception 'from_ts, to_ts and grain are required' using errcode = '22023';
  end if;
  if unit not in ('hour', 'day') then
    raise exception 'grain is hour or day' using errcode = '22023';
  end if;
  if channel is not null then
    if channel not in ('sms', 'email', 'whatsapp') then
      raise exception 'channel is sms, email or whatsapp' using errcode = '22023';
    end if;
    want_channel := channel::public.channel_type;
  end if;
  if first_ts >= last_ts then
    raise exception 'from_ts must come before to_ts' using errcode = '22023';
  end if;
  if last_ts - first_ts > interval '366 days' then
    raise exception 'a period covers at most 366 days' using errcode = '22023';
  end if;
  -- The facts are buckets of IST hours and days: a period is made of whole ones.
  if date_trunc(unit, first_ts at time zone tz) at time zone tz <> first_ts
     or date_trunc(unit, last_ts at time zone tz) at time zone tz <> last_ts then
    raise exception 'a period of grain % starts and ends on whole IST %s', unit, unit
      using errcode = '22023';
  end if;
  if unit = 'hour'
     and first_ts < (date_trunc('hour', now() at time zone tz) at time zone tz) - interval '7 days'
  then
    raise exception 'hourly figures cover the last 7 days only' using errcode = '22023';
  end if;
  step := case unit when 'hour' then interval '1 hour' else interval '1 day' end;
  with_series := last_ts - first_ts <= case unit when 'hour' then interval '7 days 1 hour'
                                                  else interval '90 days' end;

  -- The facts of the scope, summed over what the answer never names (audience, purpose, node,
  -- channel): a few thousand rows where the facts hold one per team.
  with f as materialized (
    select f.bucket_start, f.provider, f.template_id, f.status, f.failure_cause, f.error_code,
           sum(f.messages)::bigint as messages, sum(f.sent)::bigint as sent,
           sum(f.delivered)::bigint as delivered, sum(f.read)::bigint as read,
           sum(f.unconfirmed)::bigint as unconfirmed, sum(f.cost_paise) as cost_paise,
           sum(f.actual_cost_paise) as actual_cost_paise,
           sum(f.priced_messages)::bigint as priced_messages, sum(f.renewals)::bigint as renewals
      from analytics.message_facts f
     where f.grain = unit
       and f.bucket_start >= first_ts and f.bucket_start < last_ts
       and f.audience = 'customer'
       and (want_channel is null or f.channel = want_channel)
       and (want_provider is null or f.provider = want_provider)
       and (visible is null or f.node_id = any (visible))
     group by f.bucket_start, f.provider, f.template_id, f.status, f.failure_cause, f.error_code
  ),
  l as materialized (
    select l.provider, l.bucket_start, l.stage, l.latency_bucket, sum(l.messages)::bigint as messages
      from analytics.latency_facts l
     where l.grain = unit
       and l.bucket_start >= first_ts and l.bucket_start < last_ts
       and l.audience = 'customer'
       and (want_channel is null or l.channel = want_channel)
       and (want_provider is null or l.provider = want_provider)
       and (visible is null or l.node_id = any (visible))
     group by l.provider, l.bucket_start, l.stage, l.latency_bucket
  ),
  -- Latency percentiles per provider ('' for none, '*' for all) and stage, seconds to the ms.
  latency as (
    select x.provider, x.stage, sum(x.messages)::bigint as messages,
           analytics.latency_quantiles(array_agg(x.latency_bucket), array_agg(x.messages),
                                       array[0.5, 0.95, 0.99]) as q
      from (select coalesce(l.provider, '') as provider, l.stage, l.latency_bucket,
                   sum(l.messages)::bigint as messages
              from l
             group by coalesce(l.provider, ''), l.stage, l.latency_bucket
            union all
            select '*', l.stage, l.latency_bucket, sum(l.messages)::bigint
              from l
             group by l.stage, l.latency_bucket) x
     group by x.provider, x.stage
  ),
  latency_json as (
    select p.provider,
           jsonb_object_agg(
             case s.stage when 'sent' then 'queue_to_sent' else 'queue_to_delivered' end,
             jsonb_build_object(
               'messages', coalesce(lt.messages, 0),
               'p50_seconds', round(lt.q[1]::numeric, 3),
               'p95_seconds', round(lt.q[2]::numeric, 3),
               'p99_seconds', round(lt.q[3]::numeric, 3))) as latency
      from (select distinct lt.provider from latency lt
            union select '*'
            union select coalesce(f.provider, '') from f) p
     cross join (values ('sent'), ('delivered')) as s (stage)
      left join latency lt on lt.provider = p.provider and lt.stage = s.stage
     group by p.provider
  ),
  -- The measures of the whole ('*'), of each provider and of each template.
  grouped as (
    select g.scope, g.key,
           sum(g.messages)::bigint as messages, sum(g.sent)::bigint as sent,
           sum(g.delivered)::bigint as delivered, sum(g.read)::bigint as read,
           coalesce(sum(g.messages) filter (where g.status = 'failed'), 0)::bigint as failed,
           coalesce(sum(g.messages) filter (where g.status = 'undeliverable'), 0)::bigint
             as undeliverable,
           sum(g.unconfirmed)::bigint as unconfirmed,
           sum(g.cost_paise) as cost, sum(g.actual_cost_paise) as actual_cost,
           sum(g.priced_messages)::bigint as priced, sum(g.renewals)::bigint as renewals
      from (select '*' as scope, '*' as key, f.* from f
            union all
            select 'provider', coalesce(f.provider, ''), f.* from f
            union all
            select 'template', coalesce(f.template_id::text, ''), f.* from f) g
     group by g.scope, g.key
  ),
  grouped_json as (
    select g.scope, g.key, g.messages,
           jsonb_build_object(
             'messages', g.messages, 'sent', g.sent, 'delivered', g.delivered, 'read', g.read,
             'failed', g.failed, 'undeliverable', g.undeliverable, 'unconfirmed', g.unconfirmed)
             as counts,
           jsonb_build_object(
             'total_paise', pg_catalog.trim_scale(g.cost)::text,
             'actual_paise', pg_catalog.trim_scale(g.actual_cost)::text,
             'estimated_paise', pg_catalog.trim_scale(g.cost - g.actual_cost)::text,
             'actual_messages', g.priced,
             'estimated_messages', g.sent - g.priced) as cost,
           g.renewals,
           pg_catalog.trim_scale(round(g.cost / nullif(g.delivered, 0), 4))::text
             as cost_per_delivered,
           pg_catalog.trim_scale(round(g.cost / nullif(g.renewals, 0), 4))::text
             as cost_per_renewal
      from grouped g
  ),
  statuses as (
    select jsonb_object_agg(s.status, coalesce(x.messages, 0) order by s.ord) as by_status
      from unnest(enum_range(null::public.message_status)) with ordinality as s (status, ord)
      left join (select f.status, sum(f.messages)::bigint as messages
                   from f
                  group by f.status) x on x.status = s.status
  ),
  -- Messages per code and cause: the causes with their codes, the codes with their cause.
  code_causes as (
    select f.error_code, f.failure_cause, sum(f.messages)::bigint as messages,
           coalesce(sum(f.messages) filter (where f.status in ('failed', 'undeliverable', 'dead',
                                                               'blocked')), 0)::bigint as final
      from f
     where f.error_code is not null or f.failure_cause is not null
     group by f.error_code, f.failure_cause
  ),
  causes as (
    select jsonb_agg(jsonb_build_object(
             'cause', c.cause,
             'messages', coalesce((select sum(k.messages) from code_causes k
                                    where k.failure_cause = c.cause), 0),
             'codes', coalesce((
               select jsonb_agg(jsonb_build_object('code', k.error_code, 'messages', k.messages)
                                order by k.messages desc, k.error_code nulls last)
                 from (select k.error_code, k.messages
                         from code_causes k
                        where k.failure_cause = c.cause
                        order by k.messages desc, k.error_code nulls last
                        limit 20) k), '[]'::jsonb))
             order by c.ord) as failure_causes
      from unnest(array['customer', 'provider', 'us', 'regulation']) with ordinality as c (cause, ord)
  ),
  codes as (
    select coalesce(jsonb_agg(jsonb_build_object(
             'code', r.error_code, 'messages', r.messages, 'final', r.final, 'cause', r.cause)
             order by r.messages desc, r.error_code), '[]'::jsonb) as failure_reasons
      from (select k.error_code, sum(k.messages)::bigint as messages,
                   sum(k.final)::bigint as final,
                   (array_agg(k.failure_cause order by k.messages desc, k.failure_cause)
                      filter (where k.failure_cause is not null))[1] as cause
              from code_causes k
             where k.error_code is not null
             group by k.error_code
             order by sum(k.messages) desc, k.error_code
             limit 50) r
  ),
  series as (
    select jsonb_agg(jsonb_build_object(
             'start', to_char(b.start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'messages', coalesce(s.messages, 0), 'sent', coalesce(s.sent, 0),
             'delivered', coalesce(s.delivered, 0), 'read', coalesce(s.read, 0),
             'failed', coalesce(s.failed, 0), 'undeliverable', coalesce(s.undeliverable, 0),
             'cost_paise', pg_catalog.trim_scale(coalesce(s.cost, 0))::text,
             'renewals', coalesce(s.renewals, 0),
             'p50_delivered_seconds', round(q.q[1]::numeric, 3),
             'p95_delivered_seconds', round(q.q[2]::numeric, 3))
             order by b.start) as points
      from generate_series(first_ts, last_ts - step, step) as b (start)
      left join (select f.bucket_start, sum(f.messages)::bigint as messages,
                        sum(f.sent)::bigint as sent, sum(f.delivered)::bigint as delivered,
                        sum(f.read)::bigint as read,
                        coalesce(sum(f.messages) filter (where f.status = 'failed'), 0)::bigint
                          as failed,
                        coalesce(sum(f.messages) filter (where f.status = 'undeliverable'), 0)::bigint
                          as undeliverable,
                        sum(f.cost_paise) as cost, sum(f.renewals)::bigint as renewals
                   from f
                  group by f.bucket_start) s on s.bucket_start = b.start
      left join (select l.bucket_start,
                        analytics.latency_quantiles(array_agg(l.latency_bucket),
                                                    array_agg(l.messages),
                                                    array[0.5, 0.95]) as q
                   from l
                  where l.stage = 'delivered'
                  group by l.bucket_start) q on q.bucket_start = b.start
     where with_series
  )
  select jsonb_build_object(
           'facts_as_of', private.facts_as_of(),
           'counts', coalesce(t.counts, jsonb_build_object(
             'messages', 0, 'sent', 0, 'delivered', 0, 'read', 0, 'failed', 0,
             'undeliverable', 0, 'unconfirmed', 0)),
           'by_status', (select statuses.by_status from statuses),
           'latency', (select lj.latency from latency_json lj where lj.provider = '*'),
           'cost', coalesce(t.cost, jsonb_build_object(
             'total_paise', '0', 'actual_paise', '0', 'estimated_paise', '0',
             'actual_messages', 0, 'estimated_messages', 0)),
           'renewals', coalesce(t.renewals, 0),
           'cost_per_delivered_paise', t.cost_per_delivered,
           'cost_per_renewal_paise', t.cost_per_renewal,
           'failure_causes', (select causes.failure_causes from causes),
           'failure_reasons', (select codes.failure_reasons from codes),
           'providers', coalesce((
             select jsonb_agg(jsonb_build_object(
                      'provider', nullif(p.key, ''), 'counts', p.counts, 'cost', p.cost,
                      'renewals', p.renewals,
                      'cost_per_delivered_paise', p.cost_per_delivered,
                      'cost_per_renewal_paise', p.cost_per_renewal,
                      'latency', lj.latency)
                      order by p.messages desc, p.key)
               from grouped_json p
               left join latency_json lj on lj.provider = p.key
              where p.scope = 'provider'), '[]'::jsonb),
           'templates', coalesce((
             select jsonb_agg(jsonb_build_object(
                      'template_id', tp.id, 'code', tp.code, 'channel', tp.channel,
                      'language', tp.language,
                      'counts', g.counts, 'cost', g.cost, 'renewals', g.renewals,
                      'cost_per_delivered_paise', g.cost_per_delivered,
                      'cost_per_renewal_paise', g.cost_per_renewal)
                      order by g.messages desc, g.key)
               from grouped_json g
               left join public.templates tp on tp.id::text = g.key
              where g.scope = 'template'), '[]'::jsonb),
           'series', (select series.points from series where with_series))
    into result
    from (select 1) one
    left join grouped_json t on t.scope = '*';
  return result;
end
$$;

create or replace function private.report_window(from_day date, to_day date)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  from_ts timestamptz := from_day::timestamp at time zone tz;
  to_ts timestamptz := (to_day + 1)::timestamp at time zone tz;
  messages_j jsonb;
  providers_j jsonb;
  channels_j jsonb;
  failures_j jsonb;
  renewals_j jsonb;
  activity_j jsonb;
  alerts_j jsonb;
  alert_list_j jsonb;
begin
  -- The customers' messages of the window (the alerts and reports mailed to the desk are left
  -- out here, but count for their vendor and its cost below): failed = failed, undeliverable or
  -- dead (a vendor took it, or was meant to, and it did not get through); the error rate is over
  -- the messages handed to a vendor; p95 over the same customers' messages.
  select jsonb_build_object(
           'messages', coalesce(sum(f.messages), 0),
           'sent', coalesce(sum(f.sent), 0),
           'delivered', coalesce(sum(f.delivered), 0),
           'read', coalesce(sum(f.read), 0),
           'failed', coalesce(sum(f.messages) filter (where f.status in ('failed', 'undeliverable', 'dead')), 0),
           'blocked', coalesce(sum(f.messages) filter (where f.status = 'blocked'), 0),
           'cancelled', coalesce(sum(f.messages) filter (where f.status = 'cancelled'), 0),
           'delivery_rate', trim_scale(round(sum(f.delivered)::numeric / nullif(sum(f.sent), 0), 4)),
           'error_rate', trim_scale(round(
              (sum(f.messages) filter (where f.status in ('failed', 'undeliverable', 'dead')))::numeric
              / nullif(sum(f.messages) filter (where f.provider is not null), 0), 4)),
           'p95_delivered_seconds', (
              select trim_scale(round((analytics.latency_quantiles(array_agg(l.latency_bucket),
                              array_agg(l.messages::bigint), array[0.95]))[1]::numeric, 2))
                from analytics.latency_facts l
               where l.grain = 'day' and l.day between from_day and to_day and l.stage = 'delivered'
                 and l.audience = 'customer'),
           'cost_paise', trim_scale(coalesce(sum(f.cost_paise), 0)),
           'renewals', coalesce(sum(f.renewals), 0),
           'cost_per_renewal_paise', trim_scale(round(sum(f.cost_paise) / nullif(sum(f.renewals), 0), 4)))
    into messages_j
    from analytics.message_facts f
   where f.grain = 'day' and f.day between from_day and to_day and f.audience = 'customer';

  -- Every messaging vendor, with or without messages: its outcomes, latency, breaker and cost,
  -- over all it was handed (the desk's own emails too: the vendor carried and billed them).
  -- The breaker's time not closed (open or half-open) is summed from its changes, starting from
  -- the state it was in when the window opened.
  with providers as (
    select v.code as provider from public.vendors v where v.kind in ('sms', 'email', 'whatsapp')
    union
    select f.provider from analytics.message_facts f
     where f.grain = 'day' and f.day between from_day and to_day and f.provider is not null
  ),
  sums as (
    select f.provider, sum(f.messages) as messages, sum(f.sent) as sent,
           sum(f.delivered) as delivered,
           sum(f.messages) filter (where f.status in ('failed', 'undeliverable', 'dead')) as failed,
           sum(f.cost_paise) as cost
      from analytics.message_facts f
     where f.grain = 'day' and f.day between from_day and to_day and f.provider is not null
     group by f.provider
  ),
  latency as (
    select l.provider,
           trim_scale(round((analytics.latency_quantiles(
             array_agg(l.latency_bucket) filter (where l.stage = 'sent'),
             array_agg(l.messages::bigint) filter (where l.stage = 'sent'), array[0.95]))[1]::numeric, 2))
             as p95_sent,
           trim_scale(round((analytics.latency_quantiles(
             array_agg(l.latency_bucket) filter (where l.stage = 'delivered'),
             array_agg(l.messages::bigint) filter (where l.stage = 'delivered'), array[0.95]))[1]::numeric, 2))
             as p95_delivered
      from analytics.latency_facts l
     where l.grain = 'day' and l.day between from_day and to_day
     group by l.provider
  ),
  breaker_changes as (
    select e.provider, e.breaker, e.at, 1 as ord, e.id
      from public.provider_breaker_events e
     where e.at >= from_ts and e.at < to_ts
    union all
    (select distinct on (e.provider) e.provider, e.breaker, from_ts, 0, e.id
       from public.provider_breaker_events e
      where e.at < from_ts
      order by e.provider, e.at desc, e.id desc)
  ),
  breaker_spans as (
    select b.provider, b.breaker, b.at,
           lead(b.at, 1, to_ts) over (partition by b.provider order by b.at, b.ord, b.id) as until
      from breaker_changes b
  ),
  breaker as (
    select s.provider,
           sum(extract(epoch from s.until - s.at)) filter (where s.breaker <> 'closed') as seconds
      from breaker_spans s
     group by s.provider
  )
  select jsonb_agg(jsonb_build_object(
           'provider', p.provider,
           'messages', coalesce(s.messages, 0),
           'sent', coalesce(s.sent, 0),
           'delivered', coalesce(s.delivered, 0),
           'failed', coalesce(s.failed, 0),
           'delivery_rate', trim_scale(round(s.delivered::numeric / nullif(s.sent, 0), 4)),
           'error_rate', trim_scale(round(coalesce(s.failed, 0)::numeric / nullif(s.messages, 0), 4)),
           'p95_sent_seconds', l.p95_sent,
           'p95_delivered_seconds', l.p95_delivered,
           'breaker_open_seconds', trim_scale(round(coalesce(b.seconds, 0), 3)),
           'cost_paise', trim_scale(coalesce(s.cost, 0)))
         order by p.provider)
    into providers_j
    from providers p
    left join sums s on s.provider = p.provider
    left join latency l on l.provider = p.provider
    left join breaker b on b.provider = p.provider;

  -- Each channel and vendor pair that had customers' messages (a null vendor: never handed to
  -- one).
  with sums as (
    select f.channel::text as channel, f.provider, sum(f.messages) as messages, sum(f.sent) as sent,
           sum(f.delivered) as delivered,
           sum(f.messages) filter (where f.status in ('failed', 'undeliverable', 'dead')) as failed,
           sum(f.cost_paise) as cost
      from analytics.message_facts f
     where f.grain = 'day' and f.day between from_day and to_day and f.audience = 'customer'
     group by f.channel, f.provider
  ),
  latency as (
    select l.channel::text as channel, l.provider,
           trim_scale(round((analytics.latency_quantiles(array_agg(l.latency_bucket),
                    array_agg(l.messages::bigint), array[0.95]))[1]::numeric, 2)) as p95_delivered
      from analytics.latency_facts l
     where l.grain = 'day' and l.day between from_day and to_day and l.stage = 'delivered'
       and l.audience = 'customer'
     group by l.channel, l.provider
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'channel', s.channel,
           'provider', s.provider,
           'messages', s.messages,
           'sent', s.sent,
           'delivered', s.delivered,
           'failed', coalesce(s.failed, 0),
           'delivery_rate', trim_scale(round(s.delivered::numeric / nullif(s.sent, 0), 4)),
           'p95_delivered_seconds', l.p95_delivered,
           'cost_paise', trim_scale(s.cost),
           'cost_per_delivered_paise', trim_scale(round(s.cost / nullif(s.delivered, 0), 4)))
         order by s.channel, s.provider nulls last), '[]')
    into channels_j
    from sums s
    left join latency l on l.channel = s.channel and l.provider is not distinct from s.provider;

  -- Failures of customers' messages by cause: the four causes always, in a fixed order.
  with causes as (
    select f.failure_cause as cause, sum(f.messages) as messages
      from analytics.message_facts f
     where f.grain = 'day' and f.day between from_day and to_day and f.audience = 'customer'
       and f.failure_cause is not null
     group by f.failure_cause
  )
  select jsonb_agg(jsonb_build_object(
           'cause', k.cause,
           'messages', coalesce(c.messages, 0),
           'share', trim_scale(round(coalesce(c.messages, 0)::numeric
                                     / nullif((select sum(x.messages) from causes x), 0), 4)))
         order by k.ord)
    into failures_j
    from unnest(array['customer', 'provider', 'us', 'regulation']) with ordinality k (cause, ord)
    left join causes c on c.cause = k.cause;

  -- Renewals: the cohort of cases due in the window (their stage now), and the day-dated
  -- activity (premium falling due and collected, tasks and their SLA).
  select jsonb_build_object(
           'cases_due', coalesce(sum(r.cases), 0),
           'renewed', coalesce(sum(r.cases) filter (where r.stage = 'renewed'), 0),
           'renewal_rate', trim_scale(round(
              (sum(r.cases) filter (where r.stage = 'renewed'))::numeric / nullif(sum(r.cases), 0), 4)))
    into renewals_j
    from analytics.renewal_facts r
   where r.due_day between from_day and to_day;

  select jsonb_build_object(
           'premium_due_paise', coalesce(sum(a.premium_due_paise), 0),
           'premium_collected_paise', coalesce(sum(a.premium_collected_paise), 0),
           'payments_captured', coalesce(sum(a.payments_captured), 0),
           'tasks_due', coalesce(sum(a.tasks_due), 0),
           'sla_breaches', coalesce(sum(a.sla_breaches), 0))
    into activity_j
    from analytics.activity_facts a
   where a.day between from_day and to_day;

  -- Alerts raised and resolved in the window, and those open when it ended.
  select jsonb_build_object(
           'raised', count(*) filter (where a.raised_at >= from_ts and a.raised_at < to_ts),
           'resolved', count(*) filter (where a.resolved_at >= from_ts and a.resolved_at < to_ts),
           'open_at_end', count(*) filter (where a.raised_at < to_ts
                                             and (a.resolved_at is null or a.resolved_at >= to_ts)))
    into alerts_j
    from public.alerts a
   where a.raised_at < to_ts and (a.resolved_at is null or a.resolved_at >= from_ts);

  select coalesce(jsonb_agg(jsonb_build_object(
           'rule', a.rule,
           'subject', a.subject,
           'status', a.status,
           'raised_at', to_char(a.raised_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'resolved_at', to_char(a.resolved_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
         order by a.raised_at, a.rule, a.subject), '[]')
    into alert_list_j
    from public.alerts a
   where a.raised_at >= from_ts and a.raised_at < to_ts;

  return jsonb_build_object(
    'messages', messages_j,
    'providers', coalesce(providers_j, '[]'),
    'channels', channels_j,
    'failures', failures_j,
    'renewals', renewals_j || activity_j,
    'alerts', alerts_j,
    'alert_list', alert_list_j);
end;
$$;


comment on function private.report_window(date, date) is
  'The figures every report shows for the IST business days from_day to to_day: messages '
  '(customers'' messages: counts by outcome, delivery and error rates, p95 queue to delivered, '
  'cost, renewals credited by last touch, cost per renewal), providers (every messaging vendor, '
  'the desk''s own emails included: outcomes, rates, p95 to sent and delivered, seconds its '
  'breaker was not closed, cost), channels (each channel and vendor pair with customers'' '
  'messages, and their p95), failures (customer, provider, us, regulation), renewals (cases due '
  'and renewed, premium due and collected, payments, tasks and SLA breaches) and alerts (raised, '
  'resolved, open at the end; the list raised). From the analytics facts at day grain.';
