-- The scheduled reports' figures, their generation and their schedule (issue 11): pg_cron writes a
-- daily report (yesterday: vendor health, errors, quota, cost against the budget), a weekly one
-- (last Monday to Sunday, each figure against the week before) and a monthly one (last calendar
-- month: the cost report and each vendor's SLA review) into public.reports, and emails each to
-- the admins as HTML through private.notify_admins.
--
-- The figures are read from the analytics facts (analytics.message_facts, latency_facts,
-- renewal_facts, activity_facts), the same facts the performance endpoints read, so a report
-- and the API never tell two stories. What the facts do not hold is read where it lives: the
-- vendors' list, each breaker's changes (public.provider_breaker_events), the alerts
-- (public.alerts), each provider's daily quota (private.provider_quota) and the budgets
-- (VENDOR_MONTHLY_BUDGET_PAISE).
--
-- Idempotent by replacing: a report is one row per (kind, period_start). Running it again (a
-- retried job, a manual run after a late refresh of the facts) recomputes the figures, HTML and
-- CSV in place and keeps the row's id, so the latest facts win and links to the report stay
-- good; the email goes once per admin and period (notify_admins' key report:<kind>:<start>),
-- so a re-run never mails the admins twice.

-- The alerts' list names each row by its subject first (twilio / provider_quota): it reads as
-- people say it, and the CSV's item cell then starts with the one label that comes from outside
-- (an alert's subject), where the formula guard of private.csv_field applies to it.
create or replace function private.report_sections(kind text) returns jsonb
language sql
immutable
set search_path = ''
as $$
  with parts (key, section) as (
    values
    ('messages', jsonb_build_object('key', 'messages', 'title', 'Messages', 'fields', jsonb '[
       ["messages", "Queued", "count"],
       ["sent", "Handed to a vendor and accepted", "count"],
       ["delivered", "Delivered", "count"],
       ["read", "Read", "count"],
       ["failed", "Failed (failed, undeliverable, dead)", "count"],
       ["blocked", "Blocked by the gate", "count"],
       ["cancelled", "Cancelled", "count"],
       ["delivery_rate", "Delivery rate (delivered / sent)", "rate"],
       ["error_rate", "Error rate (failed / handed to a vendor)", "rate"],
       ["p95_delivered_seconds", "p95 queue to delivered", "seconds"],
       ["cost_paise", "Cost", "paise"],
       ["renewals", "Renewals after a message (last touch)", "count"],
       ["cost_per_renewal_paise", "Message cost per renewal", "paise"]]')),
    ('providers', jsonb_build_object('key', 'providers', 'title', 'Vendor health', 'columns', jsonb '[
       ["provider", "Vendor", "label"],
       ["messages", "Messages", "count"],
       ["sent", "Sent", "count"],
       ["delivered", "Delivered", "count"],
       ["failed", "Failed", "count"],
       ["delivery_rate", "Delivery rate", "rate"],
       ["error_rate", "Error rate", "rate"],
       ["p95_sent_seconds", "p95 to sent", "seconds"],
       ["p95_delivered_seconds", "p95 to delivered", "seconds"],
       ["breaker_open_seconds", "Breaker not closed", "seconds"],
       ["cost_paise", "Cost", "paise"]]')),
    ('channels', jsonb_build_object('key', 'channels', 'title', 'Channels and vendors', 'columns', jsonb '[
       ["channel", "Channel", "label"],
       ["provider", "Vendor", "label"],
       ["messages", "Messages", "count"],
       ["sent", "Sent", "count"],
       ["delivered", "Delivered", "count"],
       ["failed", "Failed", "count"],
       ["delivery_rate", "Delivery rate", "rate"],
       ["p95_delivered_seconds", "p95 to delivered", "seconds"],
       ["cost_paise", "Cost", "paise"],
       ["cost_per_delivered_paise", "Cost per delivered", "paise"]]')),
    ('failures', jsonb_build_object('key', 'failures', 'title', 'Failures by cause', 'columns', jsonb '[
       ["cause", "Cause", "label"],
       ["messages", "Messages", "count"],
       ["share", "Share of failures", "rate"]]')),
    ('quota', jsonb_build_object('key', 'quota', 'title', 'Daily quota used', 'columns', jsonb '[
       ["provider", "Vendor", "label"],
       ["daily_quota", "Daily quota", "count"],
       ["used", "Used", "count"],
       ["used_ratio", "Used of quota", "rate"]]')),
    ('costs', jsonb_build_object('key', 'costs', 'title', 'Cost against the monthly budget', 'columns', jsonb '[
       ["provider", "Vendor", "label"],
       ["cost_paise", "Cost in the period", "paise"],
       ["month_to_date_paise", "Month to date", "paise"],
       ["budget_paise", "Monthly budget", "paise"],
       ["budget_used_ratio", "Budget used", "rate"],
       ["cost_per_delivered_paise", "Cost per delivered", "paise"]]')),
    ('renewals', jsonb_build_object('key', 'renewals', 'title', 'Renewals and premium', 'fields', jsonb '[
       ["cases_due", "Cases due in the period", "count"],
       ["renewed", "Of which renewed", "count"],
       ["renewal_rate", "Renewal rate (renewed / due)", "rate"],
       ["premium_due_paise", "Premium due (installments)", "paise"],
       ["premium_collected_paise", "Premium collected", "paise"],
       ["payments_captured", "Payments captured", "count"],
       ["tasks_due", "Tasks due", "count"],
       ["sla_breaches", "Task SLA breaches", "count"]]')),
    ('alerts', jsonb_build_object('key', 'alerts', 'title', 'Alerts', 'fields', jsonb '[
       ["raised", "Raised", "count"],
       ["resolved", "Resolved", "count"],
       ["open_at_end", "Open at the end of the period", "count"]]')),
    ('alert_list', jsonb_build_object('key', 'alert_list', 'title', 'Alerts raised in the period', 'columns', jsonb '[
       ["subject", "Subject", "label"],
       ["rule", "Rule", "label"],
       ["status", "Status now", "text"],
       ["raised_at", "Raised", "datetime"],
       ["resolved_at", "Resolved", "datetime"]]')),
    ('trends', jsonb_build_object('key', 'trends', 'title', 'This week against the week before', 'columns', jsonb '[
       ["measure", "Measure", "label"],
       ["unit", "Unit", "hidden"],
       ["this_period", "This week", "unit"],
       ["previous_period", "Week before", "unit"],
       ["change", "Change", "unit"],
       ["change_ratio", "Change (relative)", "rate"]]'))
  ),
  orders (kind, key, ord, title) as (
    values
    ('daily', 'messages', 1, null), ('daily', 'providers', 2, null),
    ('daily', 'failures', 3, null), ('daily', 'quota', 4, null),
    ('daily', 'costs', 5, null), ('daily', 'channels', 6, null),
    ('daily', 'renewals', 7, null), ('daily', 'alerts', 8, null),
    ('daily', 'alert_list', 9, null),
    ('weekly', 'trends', 1, null), ('weekly', 'messages', 2, null),
    ('weekly', 'providers', 3, null), ('weekly', 'channels', 4, null),
    ('weekly', 'failures', 5, null), ('weekly', 'renewals', 6, null),
    ('weekly', 'alerts', 7, null), ('weekly', 'alert_list', 8, null),
    ('monthly', 'costs', 1, 'Cost report: the month against the budget'),
    ('monthly', 'channels', 2, 'Cost by channel and vendor'),
    ('monthly', 'providers', 3, 'Vendor SLA review'),
    ('monthly', 'messages', 4, null), ('monthly', 'failures', 5, null),
    ('monthly', 'renewals', 6, null), ('monthly', 'alerts', 7, null),
    ('monthly', 'alert_list', 8, null)
  )
  select jsonb_agg(case when o.title is null then p.section
                        else p.section || jsonb_build_object('title', o.title) end
                   order by o.ord)
    from orders o join parts p using (key)
   where o.kind = report_sections.kind
$$;

-- The period a report generated at as_of covers: the last complete one before as_of's IST day.
create function private.report_period(kind text, as_of timestamptz)
returns table (period_start date, period_end date)
language sql
stable
set search_path = ''
as $$
  with today as (select private.business_date(as_of) as d),
  bounds as (
    select case kind
             when 'daily' then t.d - 1
             when 'weekly' then t.d - extract(isodow from t.d)::integer
             -- The last day of the month before: the day before the 1st of this month.
             when 'monthly' then t.d - extract(day from t.d)::integer
           end as last_day
      from today t
     where kind in ('daily', 'weekly', 'monthly')
  )
  select case kind
           when 'daily' then b.last_day
           when 'weekly' then b.last_day - 6
           when 'monthly' then b.last_day - (extract(day from b.last_day)::integer - 1)
         end,
         b.last_day
    from bounds b
$$;

comment on function private.report_period(text, timestamptz) is
  'The IST business days a report generated at as_of covers: daily, the day before as_of''s '
  'IST day; weekly, the last complete Monday to Sunday (on a Monday, the week that ended the day '
  'before; on a Sunday, the week before that); monthly, the last complete calendar month. No row '
  'for an unknown kind.';

-- The figures every kind shows for a window of business days.
create function private.report_window(from_day date, to_day date)
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
  -- the messages handed to a vendor. The latency histograms have no audience: p95 counts all.
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
               where l.grain = 'day' and l.day between from_day and to_day and l.stage = 'delivered'),
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
  '(counts by outcome, delivery and error rates, p95 queue to delivered, cost, renewals credited '
  'by last touch, cost per renewal), providers (every messaging vendor: outcomes, rates, p95 to '
  'sent and delivered, seconds its breaker was not closed, cost), channels (each channel and '
  'vendor pair with messages), failures (customer, provider, us, regulation), renewals (cases '
  'due and renewed, premium due and collected, payments, tasks and SLA breaches) and alerts '
  '(raised, resolved, open at the end; the list raised). From the analytics facts at day grain.';

-- The whole figures of a report: its window, plus what its kind adds.
create function private.report_figures(kind text, period_start date, period_end date, as_of timestamptz)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  budgets jsonb := coalesce(private.setting('VENDOR_MONTHLY_BUDGET_PAISE'), '{}');
  month_start date := period_end - (extract(day from period_end)::integer - 1);
  figures jsonb;
  previous jsonb;
  extra jsonb := '{}';
begin
  figures := jsonb_build_object(
      'kind', kind,
      'period_start', period_start,
      'period_end', period_end,
      'as_of', to_char(as_of at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
      'facts_as_of', (select to_char(s.refreshed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        from private.analytics_state s))
    || private.report_window(period_start, period_end);

  -- Daily: each provider's quota and what it used on the day.
  if kind = 'daily' then
    select jsonb_build_object('quota', coalesce(jsonb_agg(jsonb_build_object(
             'provider', q.provider,
             'daily_quota', q.daily_quota,
             'used', q.used,
             'used_ratio', trim_scale(round(q.used::numeric / nullif(q.daily_quota, 0), 4)))
           order by q.provider), '[]'))
      into extra
      from private.provider_quota(((period_end + 1)::timestamp at time zone tz) - interval '1 microsecond') q;
  end if;

  -- Daily and monthly: each vendor's cost in the period and in its month so far, against its
  -- monthly budget (as the health check reads it: anything but a number of at least 1 paisa is
  -- no budget).
  if kind in ('daily', 'monthly') then
    with vendors as (
      select v.code from public.vendors v where v.kind in ('sms', 'email', 'whatsapp')
    ),
    sums as (
      select f.provider,
             sum(f.cost_paise) filter (where f.day >= period_start) as cost,
             sum(f.cost_paise) as month_to_date,
             sum(f.delivered) filter (where f.day >= period_start) as delivered
        from analytics.message_facts f
       where f.grain = 'day' and f.day between month_start and period_end and f.provider is not null
       group by f.provider
    ),
    rows as (
      select v.code as provider, coalesce(s.cost, 0) as cost, coalesce(s.month_to_date, 0) as mtd,
             s.delivered,
             case when jsonb_typeof(budgets -> v.code) = 'number'
                       and (budgets ->> v.code)::numeric between 1 and 9e15
                  then floor((budgets ->> v.code)::numeric)::bigint end as budget
        from vendors v
        left join sums s on s.provider = v.code
    )
    select extra || jsonb_build_object('costs', jsonb_agg(jsonb_build_object(
             'provider', r.provider,
             'cost_paise', trim_scale(r.cost),
             'month_to_date_paise', trim_scale(r.mtd),
             'budget_paise', r.budget,
             'budget_used_ratio', trim_scale(round(r.mtd / nullif(r.budget, 0), 4)),
             'cost_per_delivered_paise', trim_scale(round(r.cost / nullif(r.delivered, 0), 4)))
           order by r.provider))
      into extra
      from rows r;
  end if;

  -- Weekly: each headline figure against the week before.
  if kind = 'weekly' then
    previous := private.report_window(period_start - 7, period_end - 7);
    select jsonb_build_object('trends', jsonb_agg(jsonb_build_object(
             'measure', m.measure,
             'unit', m.unit,
             'this_period', figures #> m.path,
             'previous_period', previous #> m.path,
             'change', trim_scale((figures #>> m.path)::numeric - (previous #>> m.path)::numeric),
             'change_ratio', trim_scale(round(
                ((figures #>> m.path)::numeric - (previous #>> m.path)::numeric)
                / nullif((previous #>> m.path)::numeric, 0), 4)))
           order by m.ord))
      into extra
      from (values
        (1, 'messages', 'count', array['messages', 'messages']),
        (2, 'delivered', 'count', array['messages', 'delivered']),
        (3, 'delivery_rate', 'rate', array['messages', 'delivery_rate']),
        (4, 'failed', 'count', array['messages', 'failed']),
        (5, 'error_rate', 'rate', array['messages', 'error_rate']),
        (6, 'p95_delivered_seconds', 'seconds', array['messages', 'p95_delivered_seconds']),
        (7, 'cost_paise', 'paise', array['messages', 'cost_paise']),
        (8, 'cases_due', 'count', array['renewals', 'cases_due']),
        (9, 'renewed', 'count', array['renewals', 'renewed']),
        (10, 'renewal_rate', 'rate', array['renewals', 'renewal_rate']),
        (11, 'premium_collected_paise', 'paise', array['renewals', 'premium_collected_paise']),
        (12, 'sla_breaches', 'count', array['renewals', 'sla_breaches']),
        (13, 'alerts_raised', 'count', array['alerts', 'raised'])
      ) as m (ord, measure, unit, path);
  end if;

  return figures || extra;
end;
$$;

comment on function private.report_figures(text, date, date, timestamptz) is
  'The figures of a report of this kind for the period: kind, period, as_of and facts_as_of '
  '(when the facts were last refreshed), private.report_window''s sections, and per kind: quota '
  '(daily: each provider''s daily quota and its use on the day), costs (daily and monthly: each '
  'vendor''s cost in the period and month to date against VENDOR_MONTHLY_BUDGET_PAISE), trends '
  '(weekly: 13 headline figures against the week before, with the change and the relative '
  'change).';

create function private.generate_report(kind text, as_of timestamptz default now())
returns public.reports
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  period record;
  figures jsonb;
  report_id uuid;
  report public.reports;
begin
  if kind is null or kind not in ('daily', 'weekly', 'monthly') then
    raise exception 'kind must be daily, weekly or monthly' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  select p.period_start, p.period_end into period from private.report_period(kind, as_of) p;
  -- Two runs of the same report wait for each other instead of racing to the insert.
  perform pg_advisory_xact_lock(hashtext('private.generate_report'),
                                hashtext(kind || ':' || period.period_start::text));

  figures := private.report_figures(kind, period.period_start, period.period_end, as_of);
  select r.id into report_id
    from public.reports r where r.kind = generate_report.kind and r.period_start = period.period_start;
  report_id := coalesce(report_id, gen_random_uuid());

  insert into public.reports as r (id, kind, period_start, period_end, as_of, generated_at, figures,
                                   html, csv)
  values (report_id, kind, period.period_start, period.period_end, as_of, now(), figures,
          private.render_report_html(kind, figures, report_id),
          private.render_report_csv(kind, figures))
  on conflict on constraint reports_kind_period_start_key do update
     set period_end = excluded.period_end, as_of = excluded.as_of,
         generated_at = excluded.generated_at, figures = excluded.figures,
         html = excluded.html, csv = excluded.csv
  returning r.* into report;

  perform private.notify_admins(
    'report_' || kind,
    'Py360: ' || private.report_title(kind, period.period_start, period.period_end),
    report.html,
    private.render_report_text(kind, figures),
    format('report:%s:%s', kind, period.period_start),
    as_of);
  return report;
end;
$$;

comment on function private.generate_report(text, timestamptz) is
  'Generates the daily, weekly or monthly report for the last complete period before as_of '
  '(private.report_period; default now, a moved clock in tests) from the analytics facts, '
  'stores it in public.reports (figures, HTML, CSV) and emails it to every active admin through '
  'private.notify_admins. Idempotent: a re-run replaces the row''s figures in place (same id) and '
  'sends no second email (key report:<kind>:<period_start>). Returns the row. Errors: 22023 for '
  'an unknown kind or a non-finite as_of. Security definer: writes public.reports, which no API '
  'role may, and reads the facts and the outbox helpers; pg_cron and service_role only.';

revoke execute on function private.report_period(text, timestamptz),
  private.report_window(date, date), private.report_figures(text, date, date, timestamptz),
  private.generate_report(text, timestamptz) from public;
grant execute on function private.generate_report(text, timestamptz) to service_role;

-- pg_cron runs in UTC; the reports are for IST days (Asia/Kolkata, UTC+05:30), written after the
-- day closed and the nightly pass over the facts (refresh-analytics-nightly, 21:10 UTC = 02:40
-- IST) has recounted it, and before the desk opens. Were BUSINESS_TIME_ZONE changed, these
-- times would want moving with it.
-- Daily: 21:30 UTC = 03:00 IST the next day, for the IST day that just ended.
select cron.schedule('report-daily', '30 21 * * *', $$select private.generate_report('daily')$$);
-- Weekly: Sunday 21:45 UTC = Monday 03:15 IST, for the Monday to Sunday that just ended.
select cron.schedule('report-weekly', '45 21 * * 0', $$select private.generate_report('weekly')$$);
-- Monthly: the 1st at 00:00 UTC = 05:30 IST on the 1st, for the month before (21:30 UTC would
-- fall on the month's last day, which cron cannot name; 05:30 IST is still before the desk
-- opens).
select cron.schedule('report-monthly', '0 0 1 * *', $$select private.generate_report('monthly')$$);
