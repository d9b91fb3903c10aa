-- The analysts' daily fact tables (issue 11): what the desk's messages, renewals and daily work
-- add up to, per day (and per hour for the last 8 days), kept as plain tables in `analytics` and
-- refreshed by pg_cron (private.refresh_analytics, next migration). Plain tables rather than
-- materialized views: Supabase's lints flag an exposed materialized view, and a table can be
-- refreshed one bucket at a time. RLS on, no policy: only their owner and the `analyst` role
-- (select, by the schema's default privileges) read them; the API reads them through security
-- definer functions in `private` that decide what each caller may see.
--
-- Also here: the latency histogram helpers (analytics.latency_bucket / latency_quantiles) and
-- private.failure_cause, which puts every failed, undeliverable, dead, blocked or cancelled
-- message down to the customer, the provider, us or regulation.
--
-- No foreign keys on purpose: facts describe history and outlive what they count (a deleted
-- template or node still has its past), and a refresh writes thousands of rows at once.

-- Message facts ------------------------------------------------------------------------------

create table analytics.message_facts (
  grain text not null check (grain in ('hour', 'day')),
  bucket_start timestamptz not null,
  day date not null,
  channel public.channel_type not null,
  provider text,
  template_id uuid,
  purpose public.consent_purpose not null,
  node_id uuid,
  status public.message_status not null,
  failure_cause text check (failure_cause in ('customer', 'provider', 'us', 'regulation')),
  error_code text,
  messages integer not null check (messages > 0),
  sent integer not null,
  delivered integer not null,
  read integer not null,
  unconfirmed integer not null,
  cost_paise numeric(14, 4) not null,
  actual_cost_paise numeric(14, 4) not null,
  priced_messages integer not null,
  renewals integer not null,
  refreshed_at timestamptz not null,
  check (sent <= messages and delivered <= messages and read <= messages
         and unconfirmed <= messages and priced_messages <= sent and renewals <= sent)
);
-- One row per combination of the grain's columns (a null provider, template, node, cause or
-- code is a value of its own); the refresh reads and deletes by (grain, bucket_start).
create unique index message_facts_grain_key on analytics.message_facts
  (grain, bucket_start, channel, provider, template_id, purpose, node_id, status, failure_cause,
   error_code) nulls not distinct;
alter table analytics.message_facts enable row level security;

comment on table analytics.message_facts is
  'Messages counted per hour (grain = hour, kept 8 days) and per day (grain = day, kept for ever), '
  'by channel, provider, template, purpose, hierarchy node, status and failure cause. A message '
  'counts in the hour / day it was queued (created_at, IST), with the status it had when the '
  'facts were refreshed (see private.analytics_state.refreshed_at): its later delivery moves it '
  'from one status row to another of the same bucket. Sum the measures over the rows you need; '
  'never count rows. Refreshed every 5 minutes for the last 2 days, nightly for the last 8.';
comment on column analytics.message_facts.grain is
  'hour: one row set per IST hour, kept for the last 8 days; day: one per IST business day, kept '
  'for ever. The two grains count the same messages: never add them together.';
comment on column analytics.message_facts.bucket_start is
  'Start of the hour or of the IST business day (00:00 Asia/Kolkata) the messages were queued in.';
comment on column analytics.message_facts.day is
  'IST business date of bucket_start: filter daily rows by it.';
comment on column analytics.message_facts.channel is 'sms, email or whatsapp.';
comment on column analytics.message_facts.provider is
  'The vendor of the message''s last attempt (twilio, aws_sns, aws_ses, sendgrid, '
  'whatsapp_cloud); null when no provider was ever chosen (blocked or cancelled before sending).';
comment on column analytics.message_facts.template_id is
  'The template the message was written from (public.templates); null for free text.';
comment on column analytics.message_facts.purpose is
  'transactional, service (renewal reminders) or marketing.';
comment on column analytics.message_facts.node_id is
  'Hierarchy node (public.hierarchy_nodes) of the agent the message''s case is assigned to, at '
  'refresh time; null when the message belongs to no case.';
comment on column analytics.message_facts.status is
  'The messages'' status when the facts were refreshed (queued, sending, sent, delivered, read, '
  'failed, undeliverable, cancelled, blocked, dead).';
comment on column analytics.message_facts.failure_cause is
  'Whose doing a failure was: customer (bad number or address, bounce, STOP, no consent), '
  'provider (vendor outage, 5xx, timeouts, throttling), us (our template, configuration or a '
  'stalled dispatcher), regulation (DND, DLT scrubbing, WhatsApp''s 24-hour window and policies). '
  'Null unless the status is failed, undeliverable, dead, blocked or cancelled. See '
  'private.failure_cause for the codes behind each.';
comment on column analytics.message_facts.error_code is
  'The vendor''s code of the last failed attempt (messages.last_error_code: 21211, 131047, '
  'Bounce.Permanent, timeout, ...), or for a blocked message the gate''s reason (blocked: dnd, '
  'no_consent, ...) and for a dead one its reason (dead: stalled, retries_exhausted) when it has '
  'no vendor code. Null when nothing went wrong.';
comment on column analytics.message_facts.messages is 'Messages queued in the bucket (at least 1).';
comment on column analytics.message_facts.sent is
  'Of them, accepted by the vendor (sent_at set), whatever happened next.';
comment on column analytics.message_facts.delivered is
  'Of them, reported delivered (delivered_at set; read ones included).';
comment on column analytics.message_facts.read is 'Of them, reported read (WhatsApp).';
comment on column analytics.message_facts.unconfirmed is
  'Of them, accepted but with neither delivery nor failure reported within '
  'MESSAGE_UNCONFIRMED_HOURS (unconfirmed_at set).';
comment on column analytics.message_facts.cost_paise is
  'What the sent messages cost, in paise (4 decimals): the vendor''s reported price where there '
  'is one, else the gate''s estimate. Messages never sent cost nothing.';
comment on column analytics.message_facts.actual_cost_paise is
  'The part of cost_paise the vendors reported (their price), in paise; cost_paise minus this is '
  'estimated.';
comment on column analytics.message_facts.priced_messages is
  'Sent messages with a vendor-reported price (the rest of sent are priced by estimate).';
comment on column analytics.message_facts.renewals is
  'Renewals credited to these messages by last touch: every renewed case credits 1 to the last '
  'message of that case sent at or before the case closed. Sum over a period for renewals per '
  'channel, provider or template; cost_paise / renewals is the cost per renewal.';
comment on column analytics.message_facts.refreshed_at is
  'The moment (as_of) these rows were computed for.';

-- Latency histograms --------------------------------------------------------------------------

create table analytics.latency_facts (
  grain text not null check (grain in ('hour', 'day')),
  bucket_start timestamptz not null,
  day date not null,
  channel public.channel_type not null,
  provider text,
  template_id uuid,
  node_id uuid,
  stage text not null check (stage in ('sent', 'delivered')),
  latency_bucket smallint not null check (latency_bucket between 0 and 255),
  messages integer not null check (messages > 0),
  refreshed_at timestamptz not null
);
create unique index latency_facts_grain_key on analytics.latency_facts
  (grain, bucket_start, channel, provider, template_id, node_id, stage, latency_bucket)
  nulls not distinct;
alter table analytics.latency_facts enable row level security;

comment on table analytics.latency_facts is
  'How long messages took from queued to sent and from queued to delivered, as histograms: per '
  'hour (8 days) and per IST day, channel, provider, template and hierarchy node, the number of '
  'messages in each latency bucket. Percentiles: analytics.latency_quantiles(array_agg(bucket), '
  'array_agg(messages), array[0.5, 0.95, 0.99]) over the rows you want, after summing messages '
  'per bucket. A message counts in the bucket it was queued in (created_at), like message_facts.';
comment on column analytics.latency_facts.grain is
  'hour (kept 8 days) or day (kept for ever); never add the two grains together.';
comment on column analytics.latency_facts.bucket_start is
  'Start of the hour or IST business day the messages were queued in.';
comment on column analytics.latency_facts.day is 'IST business date of bucket_start.';
comment on column analytics.latency_facts.channel is 'sms, email or whatsapp.';
comment on column analytics.latency_facts.provider is 'The vendor that sent the messages.';
comment on column analytics.latency_facts.template_id is
  'The template the messages were written from; null for free text.';
comment on column analytics.latency_facts.node_id is
  'Hierarchy node of the agent of the message''s case; null without a case.';
comment on column analytics.latency_facts.stage is
  'sent: from queued_at to sent_at (the vendor accepted it); delivered: from queued_at to '
  'delivered_at. A message the gate deferred (quiet hours, scheduled) carries its wait.';
comment on column analytics.latency_facts.latency_bucket is
  'Latency bucket (analytics.latency_bucket): 0 = under 1 second; b >= 1 covers 2^((b-1)/8) to '
  '2^(b/8) seconds (each about 9 % wider than the last); 255 = everything longer.';
comment on column analytics.latency_facts.messages is 'Messages whose latency fell in the bucket.';
comment on column analytics.latency_facts.refreshed_at is
  'The moment (as_of) these rows were computed for.';

create function analytics.latency_bucket(seconds float8)
returns smallint
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select case
           when seconds is null or seconds = 'NaN'::float8 then null
           when seconds < 1 then 0
           else least(255, floor(8 * ln(seconds) / ln(2::float8)) + 1)
         end::smallint
$$;
comment on function analytics.latency_bucket(float8) is
  'The latency bucket of a duration in seconds: 0 under 1 s (negative ones too), then b >= 1 for '
  '[2^((b-1)/8), 2^(b/8)) seconds, about 9 % wide each, capped at 255. Null for null.';

create function analytics.latency_quantiles(buckets smallint[], messages bigint[], qs float8[])
returns float8[]
language plpgsql
immutable
parallel safe
security invoker
set search_path = ''
as $$
declare
  result float8[];
begin
  if exists (select 1 from unnest(qs) q where q is null or q < 0 or q > 1) then
    raise exception 'each quantile is between 0 and 1' using errcode = '22023';
  end if;
  -- The histogram (buckets summed, empty ones dropped) with each bucket's bounds in seconds and
  -- the number of messages before it; then, per quantile, percentile_cont's rank q * (n - 1)
  -- between two neighbouring order statistics, each placed inside its bucket as if the bucket's
  -- messages were spread evenly over it.
  with histogram as (
    select h.bucket, h.n,
           sum(h.n) over (order by h.bucket) - h.n as before,
           sum(h.n) over () as total,
           case when h.bucket = 0 then 0::float8 else power(2::float8, (h.bucket - 1) / 8.0) end as lo,
           power(2::float8, h.bucket / 8.0) as hi
      from (select u.bucket, sum(u.n)::float8 as n
              from unnest(buckets, messages) as u (bucket, n)
             where u.bucket is not null and u.n > 0
             group by u.bucket) h
  ),
  ranks as (
    select q.ord, q.q * (t.total - 1) as rank
      from unnest(qs) with ordinality as q (q, ord)
     cross join (select max(total) as total from histogram) t
     where t.total is not null
  ),
  placed as (
    select r.ord, r.rank, side.i,
           (select h.lo + (h.hi - h.lo) * (side.i - h.before + 0.5) / h.n
              from histogram h
             where side.i >= h.before and side.i < h.before + h.n) as value
      from ranks r
     cross join lateral (values (floor(r.rank)), (ceil(r.rank))) as side (i)
  )
  select array_agg(v.value order by v.ord)
    into result
    from (select p.ord,
                 min(p.value) + (max(p.rank) - floor(max(p.rank))) * (max(p.value) - min(p.value))
                   as value
            from placed p
           group by p.ord) v;
  return result;
end
$$;
comment on function analytics.latency_quantiles(smallint[], bigint[], float8[]) is
  'Quantiles in seconds of a latency histogram: buckets[i] holds messages[i] messages (repeated '
  'buckets are added up); qs are the quantiles wanted, each between 0 and 1 (else 22023), e.g. '
  'array[0.5, 0.95, 0.99]. Returns one value per quantile, as percentile_cont would over the '
  'messages, placed inside its bucket by interpolation (so within a bucket, about 9 %, of the '
  'exact value). Null when the histogram holds no message.';

-- Renewal facts (cohorts by due date) ---------------------------------------------------------

create table analytics.renewal_facts (
  due_day date not null,
  agent_id uuid not null,
  node_id uuid,
  product_line public.product_line not null,
  stage public.case_stage not null,
  cases integer not null check (cases > 0),
  premium_paise bigint not null,
  renew_days_sum numeric not null,
  refreshed_at timestamptz not null
);
create unique index renewal_facts_grain_key on analytics.renewal_facts
  (due_day, agent_id, node_id, product_line, stage) nulls not distinct;
alter table analytics.renewal_facts enable row level security;

comment on table analytics.renewal_facts is
  'Renewal cases as cohorts by due date: per due date, agent (the case''s assignee), the agent''s '
  'hierarchy node, product line and current stage, how many cases and what premium. Renewal rate '
  'of a period = cases renewed / cases due in the period (sum cases where stage = renewed, over '
  'sum cases); renewed / closed (renewed + lapsed + lost + not_taken) is the rate among decided '
  'cases. Rows of a due date are recomputed whenever one of its cases changes.';
comment on column analytics.renewal_facts.due_day is
  'IST date the policy term being renewed was due (renewal_cases.due_date).';
comment on column analytics.renewal_facts.agent_id is
  'The agent the cases are assigned to (public.profiles); join analytics views for their name.';
comment on column analytics.renewal_facts.node_id is
  'The agent''s hierarchy node at refresh time (a team); null for an agent with no node.';
comment on column analytics.renewal_facts.product_line is 'motor, health, life or home.';
comment on column analytics.renewal_facts.stage is
  'The cases'' current stage: new, contacted, quoted, payment_pending, pending_lapse (open); '
  'renewed, lapsed, lost, not_taken (final).';
comment on column analytics.renewal_facts.cases is 'Number of cases.';
comment on column analytics.renewal_facts.premium_paise is
  'Sum of the yearly premiums of the policies being renewed, in paise.';
comment on column analytics.renewal_facts.renew_days_sum is
  'For renewed cases: sum of the days from the case opening (created_at) to its renewal '
  '(closed_at), fractional; divide by cases for the average days to renew. 0 for other stages.';
comment on column analytics.renewal_facts.refreshed_at is
  'The moment (as_of) these rows were computed for.';

create table analytics.node_renewal_facts (
  node_id uuid not null,
  due_day date not null,
  product_line public.product_line not null,
  stage public.case_stage not null,
  cases integer not null check (cases > 0),
  premium_paise bigint not null,
  renew_days_sum numeric not null,
  refreshed_at timestamptz not null,
  primary key (node_id, due_day, product_line, stage)
);
alter table analytics.node_renewal_facts enable row level security;

comment on table analytics.node_renewal_facts is
  'analytics.renewal_facts rolled up the hierarchy: for every node (zone, region, branch, team), '
  'the cases of all agents at or under it, per due date, product line and stage. A zone''s row '
  'counts the cases of every agent in its regions, branches and teams; do not add a node to its '
  'parent.';
comment on column analytics.node_renewal_facts.node_id is
  'The hierarchy node (public.hierarchy_nodes) whose subtree holds the agents.';
comment on column analytics.node_renewal_facts.due_day is 'IST due date of the cases.';
comment on column analytics.node_renewal_facts.product_line is 'motor, health, life or home.';
comment on column analytics.node_renewal_facts.stage is 'The cases'' current stage.';
comment on column analytics.node_renewal_facts.cases is 'Number of cases.';
comment on column analytics.node_renewal_facts.premium_paise is
  'Sum of the yearly premiums of the policies being renewed, in paise.';
comment on column analytics.node_renewal_facts.renew_days_sum is
  'For renewed cases: sum of days from case opening to renewal; divide by cases for the average.';
comment on column analytics.node_renewal_facts.refreshed_at is
  'The moment (as_of) these rows were computed for.';

-- Activity facts (what happened each day) -----------------------------------------------------

create table analytics.activity_facts (
  day date not null,
  agent_id uuid not null,
  node_id uuid,
  product_line public.product_line not null,
  premium_due_paise bigint not null,
  installments_due integer not null,
  premium_collected_paise bigint not null,
  payments_captured integer not null,
  installments_paid_paise bigint not null,
  tasks_due integer not null,
  sla_breaches integer not null,
  messages_sent integer not null,
  message_cost_paise numeric(14, 4) not null,
  refreshed_at timestamptz not null
);
create unique index activity_facts_grain_key on analytics.activity_facts
  (day, agent_id, node_id, product_line) nulls not distinct;
alter table analytics.activity_facts enable row level security;

comment on table analytics.activity_facts is
  'What each agent''s book did each IST day, dated by the event itself: premium falling due, '
  'premium collected, call tasks due and their SLA breaches, messages sent and their cost; per '
  'agent (the case''s assignee; for tasks, the task''s), the agent''s hierarchy node and the '
  'product line. Today and yesterday are refreshed every 5 minutes, the last 8 days nightly.';
comment on column analytics.activity_facts.day is 'The IST business date the events fell on.';
comment on column analytics.activity_facts.agent_id is
  'The agent (public.profiles): the assignee of the case, or of the task for task measures.';
comment on column analytics.activity_facts.node_id is
  'The agent''s hierarchy node at refresh time; null for an agent with no node.';
comment on column analytics.activity_facts.product_line is
  'motor, health, life or home (the policy of the case).';
comment on column analytics.activity_facts.premium_due_paise is
  'Premium falling due that day, in paise: installments (public.outstanding_amounts) with that '
  'due date, whatever their status, except waived ones.';
comment on column analytics.activity_facts.installments_due is
  'Number of installments counted in premium_due_paise.';
comment on column analytics.activity_facts.premium_collected_paise is
  'Premium collected online that day, in paise: Razorpay payments captured that day (their full '
  'amount; later refunds are not subtracted).';
comment on column analytics.activity_facts.payments_captured is
  'Number of payments counted in premium_collected_paise.';
comment on column analytics.activity_facts.installments_paid_paise is
  'Installments settled as paid that day (paid_at), their amount in paise: online payments and '
  'those the desk recorded (cheque, branch cash), which premium_collected_paise does not see.';
comment on column analytics.activity_facts.tasks_due is
  'Call tasks whose SLA deadline (sla_due_at) fell that day.';
comment on column analytics.activity_facts.sla_breaches is
  'Of those tasks, the ones not done by their deadline (done later, or still open once it '
  'passed). An escalated task''s deadline restarts: it counts on its current deadline''s day.';
comment on column analytics.activity_facts.messages_sent is
  'Messages of the agent''s cases the vendors accepted that day (sent_at).';
comment on column analytics.activity_facts.message_cost_paise is
  'What those messages cost, in paise (vendor price, else the gate''s estimate).';
comment on column analytics.activity_facts.refreshed_at is
  'The moment (as_of) these rows were computed for.';

create table analytics.node_activity_facts (
  node_id uuid not null,
  day date not null,
  product_line public.product_line not null,
  premium_due_paise bigint not null,
  installments_due integer not null,
  premium_collected_paise bigint not null,
  payments_captured integer not null,
  installments_paid_paise bigint not null,
  tasks_due integer not null,
  sla_breaches integer not null,
  messages_sent integer not null,
  message_cost_paise numeric(14, 4) not null,
  refreshed_at timestamptz not null,
  primary key (node_id, day, product_line)
);
alter table analytics.node_activity_facts enable row level security;

comment on table analytics.node_activity_facts is
  'analytics.activity_facts rolled up the hierarchy: for every node, the sum over all agents at '
  'or under it, per IST day and product line. Do not add a node to its parent.';
comment on column analytics.node_activity_facts.node_id is
  'The hierarchy node whose subtree holds the agents.';
comment on column analytics.node_activity_facts.day is 'The IST business date.';
comment on column analytics.node_activity_facts.product_line is 'motor, health, life or home.';
comment on column analytics.node_activity_facts.premium_due_paise is
  'Premium falling due that day (installments, waived ones excepted), in paise.';
comment on column analytics.node_activity_facts.installments_due is
  'Installments counted in premium_due_paise.';
comment on column analytics.node_activity_facts.premium_collected_paise is
  'Payments captured that day, in paise (refunds not subtracted).';
comment on column analytics.node_activity_facts.payments_captured is
  'Payments counted in premium_collected_paise.';
comment on column analytics.node_activity_facts.installments_paid_paise is
  'Installments settled as paid that day, online or recorded by the desk, in paise.';
comment on column analytics.node_activity_facts.tasks_due is 'Call tasks whose SLA fell that day.';
comment on column analytics.node_activity_facts.sla_breaches is
  'Of them, not done by their deadline.';
comment on column analytics.node_activity_facts.messages_sent is
  'Messages of the subtree''s cases sent that day.';
comment on column analytics.node_activity_facts.message_cost_paise is
  'What they cost, in paise.';
comment on column analytics.node_activity_facts.refreshed_at is
  'The moment (as_of) these rows were computed for.';

-- Refresh state -------------------------------------------------------------------------------

create table private.analytics_state (
  id boolean primary key default true check (id),
  refreshed_at timestamptz,
  finished_at timestamptz,
  changes_checked_at timestamptz,
  nightly_at timestamptz
);
alter table private.analytics_state enable row level security;
insert into private.analytics_state (id) values (true);

comment on table private.analytics_state is
  'One row: how fresh the analytics facts are. Written by the refresh functions only.';
comment on column private.analytics_state.refreshed_at is
  'The as_of of the last refresh: the facts count what the desk''s tables held at that moment '
  '(the API''s facts_as_of). Null before the first refresh.';
comment on column private.analytics_state.finished_at is 'When (wall clock) the last refresh ended.';
comment on column private.analytics_state.changes_checked_at is
  'Wall-clock start of the last refresh: the next one recomputes the renewal facts of cases '
  'changed since (less an hour, for transactions that were still open).';
comment on column private.analytics_state.nightly_at is 'The as_of of the last nightly recompute.';

-- Failure causes ------------------------------------------------------------------------------

create function private.failure_cause(
  status public.message_status,
  last_error_code text,
  blocked_reason text,
  dead_reason text
)
returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
  select case
    when status is null or status not in ('failed', 'undeliverable', 'dead', 'blocked', 'cancelled')
      then null
    -- The gate refused it (messages.blocked_reason).
    when status = 'blocked' then
      case
        -- The customer: no address, no or withdrawn consent, a suppressed (bounced, complained,
        -- STOP) address, not opted in to WhatsApp.
        when blocked_reason in ('no_address', 'no_consent', 'consent_withdrawn', 'suppressed',
                                'whatsapp_not_opted_in') then 'customer'
        -- Regulation: TRAI's DND registry, WhatsApp's 24-hour window, quiet and promotional hours.
        when blocked_reason in ('dnd', 'whatsapp_window_closed', 'quiet_hours',
                                'promotional_hours') then 'regulation'
        -- Us: a disabled channel, an SMS without its DLT template, a template not approved or
        -- missing variables, our own frequency caps; and any reason this list does not know.
        else 'us'
      end
    -- No longer needed: the customer paid, the case closed or they opted out (a cancelled
    -- campaign's messages cannot be told apart here and count the same).
    when status = 'cancelled' then 'customer'
    -- A dispatcher lost the message more than MESSAGE_STALL_LIMIT times: ours.
    when status = 'dead' and dead_reason = 'stalled' and last_error_code is null then 'us'
    -- The customer's number, mailbox or choice (VENDORS.md; functions/_shared/providers/).
    when last_error_code in (
      -- Twilio: invalid To, STOP, not a mobile, unreachable / unknown handset, landline, blocked
      -- by the recipient.
      '21211', '21610', '21614', '30003', '30004', '30005', '30006',
      -- WhatsApp Cloud: the number is not on WhatsApp or cannot receive the message.
      '131026',
      -- SES: bounces (hard, soft, suppressed) and complaints.
      'Bounce.Permanent', 'Bounce.Transient', 'Bounce.Undetermined', 'Bounce.Suppressed',
      'Bounce.OnAccountSuppressionList', 'Complaint',
      -- SNS: the number opted out, or the endpoint is disabled.
      'OptedOut', 'EndpointDisabled', 'EndpointDisabledException',
      -- SendGrid: bounced, blocked by the receiving server, dropped (suppressed address).
      'event.bounce', 'event.bounce.blocked', 'event.dropped'
    ) then 'customer'
    -- SES bounce codes with their subtype (Bounce.Permanent.General, ...) and the SMTP status a
    -- SendGrid bounce carries (5.1.1, 4.2.2): the recipient's mailbox.
    when last_error_code like 'Bounce.%' or last_error_code ~ '^[45]\.[0-9]{1,3}\.[0-9]{1,3}$'
      then 'customer'
    -- Regulation and the platforms' rules: carrier filtering (DLT scrubbing in India), WhatsApp's
    -- 24-hour window, its per-user marketing cap, spam limit and policy blocks.
    when last_error_code in ('30007', '131047', '131049', '131048', '368') then 'regulation'
    -- The provider: outages, 5xx, timeouts, throttling, an open breaker.
    when last_error_code in (
      -- Twilio: REST concurrency 429, internal errors, unknown delivery error, not reachable by
      -- SMS from the account.
      '20429', '20500', '20503', '30008', '21612',
      -- WhatsApp Cloud: throughput, pair and application rate limits, temporary and unknown
      -- errors.
      '130429', '131056', '4', '80007', '2', '131000',
      -- SES / SNS: throttling and limits, internal failures, unavailable.
      'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'LimitExceededException',
      'Throttled', 'ThrottledException', 'KMSThrottling', 'KMSThrottlingException',
      'ServiceUnavailable', 'InternalFailure', 'InternalError', 'InternalErrorException',
      -- SendGrid: too many requests.
      '429',
      -- Ours, about the vendor: a timeout, the network, an aborted call, an unreadable success,
      -- the circuit breaker open.
      'timeout', 'network', 'aborted', 'invalid_response', 'breaker_open'
    ) then 'provider'
    when last_error_code ~ '^http_(429|5[0-9][0-9])$' then 'provider'
    -- Us: our request, account or configuration. Twilio: authentication, account and API
    -- path (20003, 20404), sender and account setup (21212, 21603, 21606, 21608, 21408, 21609),
    -- body and To missing or too long (21602, 21604, 21617). WhatsApp Cloud: token and
    -- permissions (190, 10, 200), parameters (100, 131009), template parameter count (132000),
    -- template missing, not approved, paused or disabled (132001, 132015, 132016), media (131052,
    -- 131053), billing (131042). SES / SNS: rejected or unrenderable content, bad parameters
    -- (SNS's InvalidParameter is also its invalid phone number: the code alone cannot tell),
    -- unverified or suspended sending, credentials and signatures. SendGrid: 400, 401, 403,
    -- 413. Ours: provider not configured, no sender, a message the provider cannot take, a
    -- provider that threw, any other HTTP 4xx.
    when last_error_code in (
      '20003', '20404', '21212', '21603', '21606', '21608', '21408', '21609', '21602', '21604',
      '21617',
      '190', '10', '200', '100', '131009', '132000', '132001', '132015', '132016', '131052',
      '131053', '131042',
      'MessageRejected', 'Reject', 'Rendering Failure', 'BadRequestException',
      'InvalidParameterValue', 'InvalidParameter', 'InvalidParameterException',
      'ParameterValueInvalid', 'InvalidParameterValueException', 'ValidationException',
      'MissingParameter', 'MailFromDomainNotVerifiedException', 'AccountSuspendedException',
      'SendingPausedException', 'AccountSendingPausedException',
      'ConfigurationSetSendingPausedException', 'ConfigurationSetDoesNotExistException',
      'ConfigurationSetDoesNotExist', 'NotFoundException', 'NotFound', 'InvalidClientTokenId',
      'SignatureDoesNotMatch', 'IncompleteSignature', 'MissingAuthenticationToken',
      'InvalidAction', 'AccessDenied', 'AccessDeniedException', 'AuthorizationError',
      'AuthorizationErrorException', 'InvalidSecurity', 'InvalidSecurityException',
      '400', '401', '403', '413',
      'not_configured', 'no_sender', 'invalid_message', 'provider_error'
    ) then 'us'
    when last_error_code ~ '^http_4[0-9][0-9]$' then 'us'
    -- A code no list knows, or none: on an undeliverable message the vendor could not reach
    -- the address (the customer's); on a failed or dead one (retries exhausted) the vendor's
    -- trouble, as the dispatcher treats unknown codes as transient.
    when status = 'undeliverable' then 'customer'
    else 'provider'
  end
$$;
comment on function private.failure_cause(public.message_status, text, text, text) is
  'Whose doing a message''s failure was: customer, provider, us or regulation; null unless the '
  'status is failed, undeliverable, dead, blocked or cancelled. Blocked messages by the gate''s '
  'reason, cancelled ones are the customer''s (paid, closed, opted out), a stalled dead letter '
  'is ours, others by the vendor''s last error code (the groups are listed in the function''s '
  'body, from VENDORS.md); a code no list knows is the customer''s on an undeliverable message '
  'and the provider''s otherwise.';
revoke execute on function private.failure_cause(public.message_status, text, text, text)
  from public;
