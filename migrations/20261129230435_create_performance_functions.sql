-- The performance read functions (issue 11): what GET /api/hierarchy/{nodeId}/performance,
-- /api/channels/{id}/performance and /api/vendors/{id}/performance answer, read from the
-- analytics facts only (no second calculation from the desk's tables). The API never reads
-- `analytics` itself (authenticated has no grant there): it calls these security definer
-- functions, which decide what the caller may see first.
--   private.node_performance(node_id, from_day, to_day)   a node and its children side by side:
--       renewal cohorts (node_renewal_facts) and the days' activity (node_activity_facts).
--   private.message_performance(channel, provider, from_ts, to_ts, grain)   a channel's or a
--       vendor's messages (message_facts, latency_facts): outcomes, failure causes and codes,
--       latency percentiles per provider, cost per delivered message and per renewal, per
--       template, and a series per hour or day.
-- Admins see everything; managers a node in their subtree, and only the messages whose case's
-- agent sits in their subtree (node_id); agents and analysts are refused (42501).

-- The refusal both functions share --------------------------------------------------------------

create function private.performance_reader_nodes() returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller_role public.app_role := private.current_app_role();
begin
  if caller_role = 'admin' then
    return null;
  elsif caller_role = 'manager' then
    return array(select private.managed_node_ids());
  end if;
  raise exception 'only managers and admins read performance figures' using errcode = '42501';
end
$$;
comment on function private.performance_reader_nodes() is
  'The hierarchy nodes whose figures the caller may read: null (every node, and the messages of '
  'no case) for an admin, their node and everything under it for a manager; 42501 for anyone '
  'else (agents, analysts, inactive users). Used inside the performance functions only. '
  'Security definer: as private.current_app_role().';

-- When the facts were computed ------------------------------------------------------------------

create function private.facts_as_of() returns text
language sql
stable
security definer
set search_path = ''
as $$
  select to_char(s.refreshed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    from private.analytics_state s
   where s.id
$$;
comment on function private.facts_as_of() is
  'private.analytics_state.refreshed_at as UTC ISO 8601 text (null before the first refresh): '
  'the moment the analytics facts describe, which every performance answer carries. Used '
  'inside the performance functions only. Security definer: reads private.analytics_state.';

-- A node and its children -------------------------------------------------------------------------

create function private.node_performance(node_id uuid, from_day date, to_day date)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  visible uuid[] := private.performance_reader_nodes();
  target_id uuid := node_id;
  first_day date := from_day;
  last_day date := to_day;
  target public.hierarchy_nodes;
  result jsonb;
begin
  if target_id is null or first_day is null or last_day is null then
    raise exception 'node_id, from_day and to_day are required' using errcode = '22023';
  end if;
  if last_day < first_day then
    raise exception 'from_day must not be after to_day' using errcode = '22023';
  end if;
  if last_day - first_day + 1 > 366 then
    raise exception 'a period covers at most 366 days' using errcode = '22023';
  end if;
  select n.* into target
    from public.hierarchy_nodes n
   where n.id = target_id and (visible is null or n.id = any (visible));
  if not found then
    raise exception 'no such hierarchy node, or not yours to see' using errcode = 'P0002';
  end if;

  with nodes as (
    select n.id, n.parent_id, n.level, n.code, n.name, n.path, n.active
      from public.hierarchy_nodes n
     where n.id = target.id
    union all
    select n.id, n.parent_id, n.level, n.code, n.name, n.path, n.active
      from public.hierarchy_nodes n
     where n.parent_id = target.id
  ),
  -- The cohort: cases due in the period, by their stage now.
  cohort as (
    select f.node_id, f.stage, sum(f.cases)::bigint as cases,
           sum(f.premium_paise)::bigint as premium, sum(f.renew_days_sum) as renew_days
      from analytics.node_renewal_facts f
     where f.node_id in (select nodes.id from nodes)
       and f.due_day between first_day and last_day
     group by f.node_id, f.stage
  ),
  cohort_totals as (
    select c.node_id,
           sum(c.cases)::bigint as due,
           coalesce(sum(c.cases) filter (where c.stage = 'renewed'), 0)::bigint as renewed,
           coalesce(sum(c.cases) filter (where c.stage in ('renewed', 'lapsed', 'lost', 'not_taken')),
                    0)::bigint as closed,
           coalesce(sum(c.premium) filter (where c.stage = 'renewed'), 0)::bigint
             as renewed_premium,
           sum(c.premium)::bigint as premium,
           coalesce(sum(c.renew_days) filter (where c.stage = 'renewed'), 0) as renew_days
      from cohort c
     group by c.node_id
  ),
  -- What happened on the days of the period.
  activity as (
    select f.node_id,
           sum(f.premium_due_paise)::bigint as premium_due,
           sum(f.installments_due)::bigint as installments_due,
           sum(f.premium_collected_paise)::bigint as premium_collected,
           sum(f.payments_captured)::bigint as payments_captured,
           sum(f.installments_paid_paise)::bigint as installments_paid,
           sum(f.tasks_due)::bigint as tasks_due,
           sum(f.sla_breaches)::bigint as sla_breaches,
           sum(f.messages_sent)::bigint as messages_sent,
           sum(f.message_cost_paise) as message_cost
      from analytics.node_activity_facts f
     where f.node_id in (select nodes.id from nodes)
       and f.day between first_day and last_day
     group by f.node_id
  ),
  measures as (
    select n.id, n.code,
           jsonb_build_object(
             'node', jsonb_build_object('id', n.id, 'parent_id', n.parent_id, 'level', n.level,
                                        'code', n.code, 'name', n.name, 'path', n.path::text,
                                        'active', n.active),
             'cases', jsonb_build_object(
               'due', coalesce(t.due, 0),
               'renewed', coalesce(t.renewed, 0),
               'closed', coalesce(t.closed, 0),
               'open', coalesce(t.due - t.closed, 0)),
             'renewal_rate', round(t.renewed::numeric / nullif(t.due, 0), 4),
             'renewal_rate_of_closed', round(t.renewed::numeric / nullif(t.closed, 0), 4),
             'by_stage', (select jsonb_agg(jsonb_build_object(
                                   'stage', s.stage,
                                   'cases', coalesce(c.cases, 0),
                                   'premium_paise', coalesce(c.premium, 0))
                                 order by s.ord)
                            from unnest(enum_range(null::public.case_stage))
                                   with ordinality as s (stage, ord)
                            left join cohort c on c.node_id = n.id and c.stage = s.stage),
             'average_days_to_renew', round(t.renew_days / nullif(t.renewed, 0), 2),
             'premium', jsonb_build_object(
               'due_paise', coalesce(a.premium_due, 0),
               'collected_paise', coalesce(a.premium_collected, 0),
               'installments_paid_paise', coalesce(a.installments_paid, 0),
               'installments_due', coalesce(a.installments_due, 0),
               'payments_captured', coalesce(a.payments_captured, 0),
               'cohort_paise', coalesce(t.premium, 0),
               'cohort_renewed_paise', coalesce(t.renewed_premium, 0)),
             'sla', jsonb_build_object(
               'tasks_due', coalesce(a.tasks_due, 0),
               'breaches', coalesce(a.sla_breaches, 0)),
             'messages', jsonb_build_object(
               'sent', coalesce(a.messages_sent, 0),
               'cost_paise', pg_catalog.trim_scale(coalesce(a.message_cost, 0))::text,
               'cost_per_renewal_paise',
                 pg_catalog.trim_scale(round(coalesce(a.message_cost, 0) / nullif(t.renewed, 0), 4))::text)
           ) as figures
      from nodes n
      left join cohort_totals t on t.node_id = n.id
      left join activity a on a.node_id = n.id
  )
  select m.figures
         || jsonb_build_object(
              'period', jsonb_build_object('from', first_day, 'to', last_day),
              'facts_as_of', private.facts_as_of(),
              'children', coalesce((select jsonb_agg(c.figures order by c.code)
                                      from measures c
                                     where c.id <> target.id), '[]'::jsonb))
    into result
    from measures m
   where m.id = target.id;
  return result;
end
$$;
comment on function private.node_performance(uuid, date, date) is
  'How a hierarchy node did over the IST days from_day..to_day (at most 366), and each of its '
  'child nodes side by side (children, by code), from the analytics facts: the cohort of cases '
  'due in the period by stage now (renewal rate = renewed / due, and renewed / closed; average '
  'days from opening to renewal; premium of the cohort), the days'' activity (premium due and '
  'collected, installments paid, call tasks due and SLA breaches, messages sent and their cost, '
  'cost per renewal = that cost / cases of the cohort renewed). Paise as integers, message costs '
  'as exact decimal strings. Admins read any node, managers their own and those under it; '
  '42501 for anyone else, P0002 for a node that does not exist or is not theirs, 22023 for a bad '
  'period. Security definer: reads the analytics facts, which the desk cannot.';

-- A channel's or a vendor's messages ----------------------------------------------------------

create function private.message_performance(
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

  with f as materialized (
    select f.*
      from analytics.message_facts f
     where f.grain = unit
       and f.bucket_start >= first_ts and f.bucket_start < last_ts
       and f.audience = 'customer'
       and (want_channel is null or f.channel = want_channel)
       and (want_provider is null or f.provider = want_provider)
       and (visible is null or f.node_id = any (visible))
  ),
  l as materialized (
    select l.provider, l.template_id, l.bucket_start, l.stage, l.latency_bucket, l.messages
      from analytics.latency_facts l
     where l.grain = unit
       and l.bucket_start >= first_ts and l.bucket_start < last_ts
       and (want_channel is null or l.channel = want_channel)
       and (want_provider is null or l.provider = want_provider)
       and (visible is null or l.node_id = any (visible))
  ),
  -- Latency percentiles per provider ('' for the whole) and stage, in seconds to the ms.
  latency as (
    select x.provider, x.stage, sum(x.messages)::bigint as messages,
           analytics.latency_quantiles(array_agg(x.latency_bucket), array_agg(x.messages::bigint),
                                       array[0.5, 0.95, 0.99]) as q
      from (select coalesce(l.provider, '') as provider, l.stage, l.latency_bucket, l.messages
              from l
            union all
            select '*', l.stage, l.latency_bucket, l.messages from l) x
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
  -- The measures of a set of fact rows, grouped by a key.
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
    select jsonb_object_agg(s.status, coalesce(
             (select sum(f.messages) from f where f.status = s.status), 0) order by s.ord)
             as by_status
      from unnest(enum_range(null::public.message_status)) with ordinality as s (status, ord)
  ),
  causes as (
    select jsonb_agg(jsonb_build_object(
             'cause', c.cause,
             'messages', coalesce((select sum(f.messages) from f where f.failure_cause = c.cause), 0),
             'codes', coalesce((
               select jsonb_agg(jsonb_build_object('code', k.error_code, 'messages', k.messages)
                                order by k.messages desc, k.error_code nulls last)
                 from (select f.error_code, sum(f.messages)::bigint as messages
                         from f
                        where f.failure_cause = c.cause
                        group by f.error_code
                        order by sum(f.messages) desc, f.error_code nulls last
                        limit 20) k), '[]'::jsonb))
             order by c.ord) as failure_causes
      from unnest(array['customer', 'provider', 'us', 'regulation']) with ordinality as c (cause, ord)
  ),
  codes as (
    select coalesce(jsonb_agg(jsonb_build_object(
             'code', r.error_code, 'messages', r.messages, 'final', r.final, 'cause', r.cause)
             order by r.messages desc, r.error_code), '[]'::jsonb) as failure_reasons
      from (select f.error_code, sum(f.messages)::bigint as messages,
                   coalesce(sum(f.messages) filter (where f.status in ('failed', 'undeliverable',
                                                                       'dead', 'blocked')), 0)::bigint
                     as final,
                   (select f2.failure_cause
                      from f f2
                     where f2.error_code = f.error_code and f2.failure_cause is not null
                     group by f2.failure_cause
                     order by sum(f2.messages) desc, f2.failure_cause
                     limit 1) as cause
              from f
             where f.error_code is not null
             group by f.error_code
             order by sum(f.messages) desc, f.error_code
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
                                                    array_agg(l.messages::bigint),
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

revoke execute on function
  private.performance_reader_nodes(),
  private.facts_as_of(),
  private.node_performance(uuid, date, date),
  private.message_performance(text, text, timestamptz, timestamptz, text)
  from public;
grant execute on function
  private.node_performance(uuid, date, date),
  private.message_performance(text, text, timestamptz, timestamptz, text)
  to authenticated;
