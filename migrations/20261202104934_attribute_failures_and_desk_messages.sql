-- The vendor and channel reports, three attributions (issue 7, found by a review):
-- * A failure reason is the vendor's that gave it. The facts keyed a message's last error code
--   by the message's last provider, so a Twilio 20503 of a message the fallback provider then
--   carried was listed among AWS SNS's failure reasons. messages.last_error_provider records
--   which provider's attempt (or report) the last error came from, set by a row trigger from
--   the provider the message had when the error was recorded (record_send_results switches the
--   provider in the same update: the failed attempt was the old one's); the facts carry it as
--   error_provider and a vendor's failure_reasons read it.
-- * A desk message without a case counts for its sender's team. The facts took a message's
--   node from its case's agent only, so the one-off message an agent sent a customer outside a
--   case was in no manager's performance report (admins only), while
--   GET /api/vendors/communications, reading the messages under RLS, counted it for every
--   manager who sees the customer. Now a message's node is its case's agent's, else (no case)
--   its sender's; the communications counts of a manager take the same messages (API change).
--   System messages without a case (consent confirmations, Telegram links) stay admins' only.
-- * A WhatsApp message that failed costs nothing unless Meta priced it: Meta bills a message
--   when it is delivered (per-message pricing, since 1 Jul 2025), so a failed one carries no
--   estimate into the cost (it did). SMS and email keep theirs: those vendors bill the send.
-- Also: AWS SNS sends no delivery report (VENDORS.md: status goes only to CloudWatch Logs), so
-- its messages are no longer flagged unconfirmed after MESSAGE_UNCONFIRMED_HOURS: every one was.
-- The facts are rebuilt at the next refresh (private.analytics_state.built_at cleared).

alter table public.messages add column last_error_provider text;
comment on column public.messages.last_error_provider is
  'The provider whose attempt or report gave last_error_code (the message''s provider may since '
  'have moved to the channel''s fallback). Set by trigger _340_note_error_provider.';
update public.messages m set last_error_provider = m.provider
 where m.last_error_code is not null;

create function private.tg_messages__note_error_provider() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.last_error_provider := old.provider;
  return new;
end;
$$;
comment on function private.tg_messages__note_error_provider() is
  'Sets last_error_provider to the provider the message had when an error was recorded: a new '
  'code or text, a send result recorded without a send (a failed attempt), or a failure '
  'reported (trigger _340_note_error_provider).';
revoke execute on function private.tg_messages__note_error_provider() from public;

-- Its WHEN is checked without calling the function: a successful send (no error code) pays
-- nothing. A repeated code (three Twilio 20429 in a row) is told by the attempt ending.
create trigger _340_note_error_provider before update on public.messages
  for each row
  when (new.last_error_code is not null
        and (new.last_error_code is distinct from old.last_error_code
             or new.last_error is distinct from old.last_error
             or (old.status = 'sending' and new.status <> 'sending'
                 and new.sent_at is not distinct from old.sent_at)
             or (new.status in ('failed', 'undeliverable')
                 and old.status not in ('failed', 'undeliverable'))))
  execute function private.tg_messages__note_error_provider();

alter table analytics.message_facts add column error_provider text;
comment on column analytics.message_facts.error_provider is
  'The provider error_code came from (messages.last_error_provider), else the message''s '
  'provider: a vendor''s failure reasons are the codes it gave, whichever provider then carried '
  'the message.';
drop index analytics.message_facts_grain_key;
create unique index message_facts_grain_key on analytics.message_facts
  (grain, bucket_start, audience, channel, provider, template_id, purpose, node_id, status,
   failure_cause, error_code, error_provider) nulls not distinct;
comment on column analytics.message_facts.node_id is
  'The hierarchy node of the message''s case''s agent, else (no case) of the desk user who sent '
  'it; null for the system''s messages without a case and for cases nobody is assigned.';

insert into private.personal_data_columns (table_name, column_name, treatment, why) values
  ('public.messages', 'last_error_provider', 'kept', 'A vendor code.'),
  ('analytics.message_facts', 'error_provider', 'kept', 'Aggregates: a vendor code.');

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
     status, failure_cause, error_code, error_provider, messages, sent, delivered, read,
     unconfirmed, cost_paise,
     actual_cost_paise, priced_messages, renewals, refreshed_at)
  select unit, x.bucket_start, (x.bucket_start at time zone tz)::date, x.audience, x.channel,
         x.provider, x.template_id, x.purpose, x.node_id, x.status, x.failure_cause, x.error_code,
         x.error_provider, count(*), count(x.sent_at), count(x.delivered_at), count(x.read_at),
         count(x.unconfirmed_at),
         coalesce(sum(coalesce(x.cost_paise, x.estimated_cost_paise)) filter (where x.billed), 0),
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
             case when m.last_error_code is not null
                  then coalesce(m.last_error_provider, m.provider) else m.provider end
               as error_provider,
             -- Meta bills a WhatsApp message when it is delivered: one that failed costs only
             -- what Meta reported for it.
             m.sent_at is not null
               and not (m.channel = 'whatsapp' and m.cost_paise is null
                        and m.status in ('failed', 'undeliverable')) as billed,
             m.sent_at, m.delivered_at, m.read_at, m.unconfirmed_at, m.cost_paise,
             m.estimated_cost_paise, t.message_id is not null as last_touch
        from public.messages m
        left join public.renewal_cases c on c.id = m.case_id
        -- The case's agent, else (no case) the desk user who sent it.
        left join public.profiles a
          on a.id = case when m.case_id is null then m.created_by else c.assignee_id end
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
            x.node_id, x.status, x.failure_cause, x.error_code, x.error_provider;
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
        -- The case's agent, else (no case) the desk user who sent it.
        left join public.profiles a
          on a.id = case when m.case_id is null then m.created_by else c.assignee_id end
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
       status, failure_cause, error_code, error_provider, messages, sent, delivered, read,
       unconfirmed,
       cost_paise, actual_cost_paise, priced_messages, renewals, refreshed_at)
    select 'day', f.day::timestamp at time zone tz, f.day, f.audience, f.channel, f.provider,
           f.template_id, f.purpose, f.node_id, f.status, f.failure_cause, f.error_code,
           f.error_provider, sum(f.messages), sum(f.sent), sum(f.delivered), sum(f.read),
           sum(f.unconfirmed),
           sum(f.cost_paise), sum(f.actual_cost_paise), sum(f.priced_messages), sum(f.renewals),
           as_of
      from analytics.message_facts f
     where f.grain = 'hour' and f.bucket_start >= from_ts and f.bucket_start < to_ts
     group by f.day, f.audience, f.channel, f.provider, f.template_id, f.purpose, f.node_id,
              f.status, f.failure_cause, f.error_code, f.error_provider;

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
comment on function private.compute_message_facts(date, date, boolean, timestamptz) is
  'Recomputes analytics.message_facts and latency_facts for the IST days from_day..to_day: with '
  'hours, the hourly rows from the messages and the daily rows as their sums; without, the '
  'daily rows from the messages. A message''s node is its case''s agent''s, else (no case) its '
  'sender''s; its error code is keyed by the provider that gave it; a failed WhatsApp message '
  'costs what Meta reported only. Deletes the rows it replaces. Returns the rows of the finest '
  'grain written. Called by the refresh functions only.';

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
  -- A vendor's failure reasons are the codes it gave (error_provider), whichever provider then
  -- carried the message; a channel's are every code of its messages.
  given as (
    select f.error_code, f.failure_cause, sum(f.messages)::bigint as messages,
           coalesce(sum(f.messages) filter (where f.status in ('failed', 'undeliverable', 'dead',
                                                               'blocked')), 0)::bigint as final
      from analytics.message_facts f
     where f.grain = unit
       and f.bucket_start >= first_ts and f.bucket_start < last_ts
       and f.audience = 'customer'
       and f.error_code is not null
       and (want_channel is null or f.channel = want_channel)
       and (want_provider is null or f.error_provider = want_provider)
       and (visible is null or f.node_id = any (visible))
     group by f.error_code, f.failure_cause
  ),
  codes as (
    select coalesce(jsonb_agg(jsonb_build_object(
             'code', r.error_code, 'messages', r.messages, 'final', r.final, 'cause', r.cause)
             order by r.messages desc, r.error_code), '[]'::jsonb) as failure_reasons
      from (select k.error_code, sum(k.messages)::bigint as messages,
                   sum(k.final)::bigint as final,
                   (array_agg(k.failure_cause order by k.messages desc, k.failure_cause)
                      filter (where k.failure_cause is not null))[1] as cause
              from given k
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
  'with their codes, the codes the provider gave with their cause (failure_reasons: by '
  'error_provider, whichever provider then carried the message), queue-to-sent and '
  'queue-to-delivered p50 / p95 / p99 seconds (from latency histograms, within about 9 %) '
  'overall and per provider, per template, and a series per hour or day (null past 7 days of '
  'hours or 90 days). Messages to customers only (staff alerts apart). Admins count every '
  'message; managers those whose case''s agent, or (no case) whose sender, is in their '
  'subtree; 42501 for anyone else, 22023 for a bad argument. Security definer: reads the '
  'analytics facts, which the desk cannot.';

create or replace function private.restate_moved_agents(as_of timestamptz)
returns jsonb
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  moved uuid[];
  due_days date[];
  days date[];
begin
  with taken as (delete from private.analytics_moved_agents returning agent_id)
  select coalesce(array_agg(t.agent_id), '{}') into moved from taken t;
  if cardinality(moved) = 0 then
    return jsonb_build_object('moved_agents', 0);
  end if;

  -- Their rows regrouped under their current node (rows of one agent under two nodes merge).
  with gone as (
    delete from analytics.renewal_facts f where f.agent_id = any (moved) returning f.*
  ),
  placed as (
    insert into analytics.renewal_facts
      (due_day, agent_id, node_id, product_line, stage, cases, premium_paise, renew_days_sum,
       refreshed_at)
    select g.due_day, g.agent_id, p.node_id, g.product_line, g.stage, sum(g.cases),
           sum(g.premium_paise), sum(g.renew_days_sum), as_of
      from gone g
      left join public.profiles p on p.id = g.agent_id
     group by g.due_day, g.agent_id, p.node_id, g.product_line, g.stage
    returning due_day
  )
  select coalesce(array_agg(distinct x.due_day), '{}') into due_days from placed x;

  with gone as (
    delete from analytics.activity_facts f where f.agent_id = any (moved) returning f.*
  ),
  placed as (
    insert into analytics.activity_facts
      (day, agent_id, node_id, product_line, premium_due_paise, installments_due,
       premium_collected_paise, payments_captured, installments_paid_paise, tasks_due,
       sla_breaches, messages_sent, message_cost_paise, refreshed_at)
    select g.day, g.agent_id, p.node_id, g.product_line, sum(g.premium_due_paise),
           sum(g.installments_due), sum(g.premium_collected_paise), sum(g.payments_captured),
           sum(g.installments_paid_paise), sum(g.tasks_due), sum(g.sla_breaches),
           sum(g.messages_sent), sum(g.message_cost_paise), as_of
      from gone g
      left join public.profiles p on p.id = g.agent_id
     group by g.day, g.agent_id, p.node_id, g.product_line
    returning day
  )
  select coalesce(array_agg(distinct x.day), '{}') into days from placed x;

  perform private.rollup_node_facts(due_days, days, as_of);

  -- The messages of their cases, and those they sent without a case, carry the agent's node:
  -- their days are recounted (marked here, taken by the caller with the other marked days).
  insert into private.analytics_dirty (kind, day)
  select distinct 'message', (m.created_at at time zone tz)::date
    from public.renewal_cases c
    join public.messages m on m.case_id = c.id
   where c.assignee_id = any (moved)
  union
  select 'message', (m.created_at at time zone tz)::date
    from public.messages m
   where m.created_by = any (moved) and m.case_id is null
  on conflict do nothing;
  return jsonb_build_object('moved_agents', cardinality(moved),
                            'restated_due_days', cardinality(due_days),
                            'restated_days', cardinality(days));
end
$$;

create or replace function private.flag_unconfirmed_messages(as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  hours integer := coalesce((private.setting('MESSAGE_UNCONFIRMED_HOURS') #>> '{}')::integer, 24);
  flagged integer;
begin
  update public.messages m
     set unconfirmed_at = as_of
   where m.status = 'sent' and m.unconfirmed_at is null
     and m.sent_at <= as_of - make_interval(hours => hours)
     -- AWS SNS reports no delivery to us (only to CloudWatch Logs): its silence says nothing.
     and m.provider is distinct from 'aws_sns';
  get diagnostics flagged = row_count;
  return flagged;
end;
$$;
comment on function private.flag_unconfirmed_messages(timestamptz) is
  'Flags (unconfirmed_at) messages still sent, with neither delivery nor failure reported, '
  'MESSAGE_UNCONFIRMED_HOURS after the vendor accepted them; not those AWS SNS carried, which '
  'sends no delivery report. Returns how many it flagged. Run hourly by pg_cron; service_role '
  'may run it too.';
update public.messages m set unconfirmed_at = null
 where m.provider = 'aws_sns' and m.status = 'sent' and m.unconfirmed_at is not null;

-- Facts built before count case-less desk messages under no node and failures under the last
-- provider: the next refresh rebuilds them all.
update private.analytics_state s set built_at = null where s.id;
