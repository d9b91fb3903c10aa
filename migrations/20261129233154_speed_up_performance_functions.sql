-- The performance read functions made fast enough for their reports (issue 11).
-- * Covering indexes on the hierarchy rollups: a zone's 90 days read about 3,500 fact rows, but
--   the refresh writes them day by day, so each sat on its own page (2,900 pages read, 30-50 ms
--   on the 1M-policy dev book); read from an index holding the measures, about 60 pages and
--   4 ms (node_performance 5-10 ms in all, on a loaded 2-core machine).
-- * private.message_performance sums the facts over what it never names (audience, purpose,
--   node, channel) once, first, and reads those sums for every part of its answer; the codes'
--   causes come from one grouping instead of a scan per code. An SMS channel's 30 days on the
--   dev book took 2-3 s (100,000 fact rows read a dozen times over); JIT off, as the batch
--   functions, since the statement is large and runs on every report.

create index node_renewal_facts_node_day_idx on analytics.node_renewal_facts (node_id, due_day)
  include (stage, cases, premium_paise, renew_days_sum);
comment on index analytics.node_renewal_facts_node_day_idx is
  'A node''s cohorts by due date with their measures, read by private.node_performance without '
  'visiting the table.';
create index node_activity_facts_node_day_idx on analytics.node_activity_facts (node_id, day)
  include (premium_due_paise, installments_due, premium_collected_paise, payments_captured,
           installments_paid_paise, tasks_due, sla_breaches, messages_sent, message_cost_paise);
comment on index analytics.node_activity_facts_node_day_idx is
  'A node''s days with their measures, read by private.node_performance without visiting the '
  'table.';

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
comment on function private.message_performance(text, text, timestamptz, timestamptz, text) is
  'How the messages of a channel (sms, email, whatsapp; null: all) and / or a provider (a vendor '
  'code; null: all) did, queued in [from_ts, to_ts) (whole IST hours for grain hour, inside the '
  'last 7 days; whole IST days for grain day; at most 366 days), from the analytics facts: '
  'counts by outcome and status, cost (vendor-reported and estimated) and cost per delivered '
  'message and per renewal (last-touch), failure causes (customer, provider, us, regulation) '
  'with their codes, codes with their cause, queue-to-sent and queue-to-delivered p50 / p95 / '
  'p99 seconds (from latency histograms, within about 9 %) overall and per provider, per '
  'template, and a series per hour or day (null past 7 days of hours or 90 days). Messages to '
  'customers only (staff alerts apart). Admins count every message; managers only those whose '
  'case''s agent is in their subtree; 42501 for anyone else, 22023 for a bad argument. '
  'Security definer: reads the analytics facts, which the desk cannot.';

