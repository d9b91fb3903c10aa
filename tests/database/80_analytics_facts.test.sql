-- The analytics facts (issue 11) equal a direct count from the base tables on the demo book: each
-- measure of message, latency, renewal and activity facts, their hourly and daily grains, the
-- hierarchy rollups; latency quantiles within one bucket of percentile_cont; a refresh run twice
-- gives the same rows; a refresh with a moved clock rewrites its window and nothing else (and the
-- cohort of a changed case); the nightly pass recounts an older day holding the last touch of a
-- case renewed since, drops hourly rows older than 8 days and keeps the daily ones; pg_cron's two
-- jobs.
-- The demo book has cases, installments and closed cases but no traffic: the messages, tasks and
-- payments of the last ten days are added here, in every status, inside this transaction.
begin;
select plan(52);

create temporary table clock on commit drop as
select now() as now, private.business_date(now()) as today;

-- One renewed case whose only message went nine days ago: its last touch, older than the
-- refresh's window. And a message of another renewed case sent after it closed: no touch. Its due
-- date lies outside the 5-minute refresh's three days too (the seed's ids are random: a case due
-- in those days made the cohort check below fail now and then).
create temporary table touch on commit drop as
select c.id as case_id, c.customer_id,
       (select now from clock) - interval '9 days' as sent_at
  from public.renewal_cases c
 where c.stage = 'renewed'
   and c.due_date not between (select today from clock) - 2 and (select today from clock)
 order by c.id
 limit 1;
-- Messages: four per demo case, over the last ten days, in every status and on every channel.
insert into public.messages
  (customer_id, case_id, channel, purpose, template_id, body, status, blocked_reason, dead_reason,
   idempotency_key, provider, estimated_cost_paise, cost_paise, last_error_code, queued_at,
   sent_at, delivered_at, read_at, failed_at, unconfirmed_at, created_at)
select g.customer_id, g.case_id, g.channel, g.purpose,
       case when g.h % 3 = 0 then (select t.id from public.templates t
                                    where t.channel = g.channel order by t.code limit 1) end,
       'Facts test', g.status,
       case when g.status = 'blocked'
            then (array['dnd', 'no_consent', 'template_not_approved'])[1 + g.h % 3] end,
       case when g.status = 'dead' then (array['stalled', 'retries_exhausted'])[1 + g.h % 2] end,
       'facts-test:' || g.case_id || ':' || g.k,
       case when g.status in ('blocked', 'cancelled', 'queued') then null
            when g.channel = 'sms' then (array['twilio', 'aws_sns'])[1 + g.h % 2]
            when g.channel = 'email' then (array['aws_ses', 'sendgrid'])[1 + g.h % 2]
            else 'whatsapp_cloud' end,
       11.5,
       case when g.sent and g.h % 2 = 0 then 20 + g.h % 7 end,
       case g.status
         when 'failed' then (array['21211', 'timeout', '132000', '30007'])[1 + g.h % 4]
         when 'undeliverable' then (array['Bounce.Permanent', '131026'])[1 + g.h % 2]
         when 'dead' then case when g.h % 2 = 1 then '20429' end
         when 'delivered' then case when g.h % 11 = 0 then 'timeout' end
       end,
       g.created_at,
       case when g.sent then g.created_at + make_interval(secs => g.h % 600) end,
       case when g.status in ('delivered', 'read')
            then g.created_at + make_interval(secs => g.h % 600 + (g.h / 7) % 3600) end,
       case when g.status = 'read'
            then g.created_at + make_interval(secs => g.h % 600 + (g.h / 7) % 3600 + 60) end,
       case when g.status in ('failed', 'undeliverable') then g.created_at + interval '1 hour' end,
       case when g.status = 'sent' and g.h % 2 = 0 then g.created_at + interval '1 day' end,
       g.created_at
  from (
    select c.customer_id, c.id as case_id, k, h.h,
           (array['sms', 'email', 'whatsapp'])[1 + h.h % 3]::public.channel_type as channel,
           (array['service', 'service', 'transactional', 'marketing'])[1 + k]::public.consent_purpose
             as purpose,
           s.status, s.status in ('sent', 'delivered', 'read', 'failed', 'undeliverable')
                     or (s.status = 'dead' and h.h % 2 = 1) as sent,
           (select now from clock) - make_interval(mins => 30 + h.h % 14400) as created_at
      from public.renewal_cases c
     cross join generate_series(0, 3) as k
     cross join lateral (select abs(hashtext(c.id::text || k)) as h) h
     cross join lateral (
       select ((array['queued', 'sent', 'delivered', 'delivered', 'delivered', 'read', 'read',
                      'failed', 'blocked', 'undeliverable', 'dead', 'cancelled'])
                 [1 + (h.h / 3) % 12])::public.message_status as status
     ) s
     where c.id not in (select case_id from touch)
  ) g;

-- A few messages with no case: to customers, and to a desk user (an alert).
insert into public.messages
  (customer_id, staff_id, channel, purpose, body, status, idempotency_key, provider,
   estimated_cost_paise, queued_at, sent_at, delivered_at, created_at)
select case when i % 2 = 0 then (select min(c.id::text)::uuid from public.customers c) end,
       case when i % 2 = 1 then (select p.id from public.profiles p
                                  where p.email = 'admin@py360.test') end,
       'email', 'transactional', 'Facts test, no case', 'delivered', 'facts-test:no-case:' || i,
       'aws_ses', 0.85, t, t + interval '3 seconds', t + interval '20 seconds', t
  from generate_series(1, 6) as i
 cross join lateral (select (select now from clock) - make_interval(hours => 5 * i) as t) x;

insert into public.messages
  (customer_id, case_id, channel, purpose, body, status, idempotency_key, provider,
   estimated_cost_paise, queued_at, sent_at, delivered_at, created_at)
select t.customer_id, t.case_id, 'sms', 'service', 'Facts test, last touch', 'delivered',
       'facts-test:touch', 'twilio', 25, t.sent_at, t.sent_at, t.sent_at + interval '5 seconds',
       t.sent_at
  from touch t;
insert into public.messages
  (customer_id, case_id, channel, purpose, body, status, idempotency_key, provider,
   estimated_cost_paise, queued_at, sent_at, created_at)
select c.customer_id, c.id, 'email', 'transactional', 'Facts test, after the renewal', 'sent',
       'facts-test:after-close', 'aws_ses', 0.85, c.closed_at, c.closed_at + interval '1 minute',
       c.closed_at
  from public.renewal_cases c
 where c.stage = 'renewed' and c.id in (select m.case_id from public.messages m)
 order by c.id
 limit 1;

-- Call tasks: deadlines over the last ten days and later today, met, missed, or still open.
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status, outcome,
                          done_at)
select c.id, c.assignee_id, d.sla_due_at - interval '4 hours', 4, d.sla_due_at,
       case when h % 3 = 2 then 'open' else 'done' end,
       case when h % 3 <> 2 then 'Called the customer' end,
       case h % 3 when 0 then d.sla_due_at - interval '1 hour'
                  when 1 then d.sla_due_at + interval '2 hours' end
  from public.renewal_cases c
 cross join lateral (select abs(hashtext('task' || c.id::text)) as h) x
 cross join lateral (
   select (select now from clock) - make_interval(mins => h % 14400) + interval '3 hours'
            as sla_due_at
 ) d
 where h % 2 = 0;

-- Payments captured over the last ten days (one refunded since: still collected that day).
insert into public.payments (case_id, razorpay_payment_id, amount, status, captured_at)
select c.id, 'pay_factstest' || row_number() over (order by c.id), 100000 + h % 500000,
       case when h % 5 = 0 then 'refunded' else 'captured' end::public.payment_status,
       (select now from clock) - make_interval(mins => h % 14400)
  from public.renewal_cases c
 cross join lateral (select abs(hashtext('pay' || c.id::text)) as h) x
 where h % 3 = 0;

select cmp_ok((select count(*) from public.messages where idempotency_key like 'facts-test:%'),
              '>', 1000::bigint, 'the test adds over a thousand messages');

select is(private.rebuild_analytics(null, null) ->> 'to_day', (select today::text from clock),
          'a rebuild of everything runs to today');
select isnt((select refreshed_at from private.analytics_state), null,
            'the rebuild says how fresh the facts are');

-- The direct counts -----------------------------------------------------------------------------

create temporary table last_touches on commit drop as
select distinct on (c.id) m.id as message_id, c.id as case_id
  from public.renewal_cases c
  join public.messages m on m.case_id = c.id
 where c.stage = 'renewed' and m.sent_at <= c.closed_at
 order by c.id, m.sent_at desc, m.id desc;

create temporary table direct_messages on commit drop as
select m.*,
       private.business_date(m.created_at) as day,
       date_trunc('hour', m.created_at at time zone 'Asia/Kolkata') at time zone 'Asia/Kolkata'
         as hour_start,
       case when m.staff_id is not null then 'staff' else 'customer' end as audience,
       p.node_id,
       private.failure_cause(m.status, m.last_error_code, m.blocked_reason, m.dead_reason)
         as cause,
       coalesce(m.last_error_code, case when m.status = 'blocked' then m.blocked_reason
                                        when m.status = 'dead' then m.dead_reason end) as code,
       m.id in (select message_id from last_touches) as touch,
       -- The provider that gave the code; a failed WhatsApp message is billed only if Meta
       -- priced it (Meta bills delivered messages).
       case when m.last_error_code is not null then coalesce(m.last_error_provider, m.provider)
            else m.provider end
         as error_provider,
       m.sent_at is not null and (m.cost_paise is not null or m.channel <> 'whatsapp'
                                  or m.status not in ('failed', 'undeliverable')) as billed
  from public.messages m
  left join public.renewal_cases c on c.id = m.case_id
  -- The case's agent's node, else (no case) the sender's.
  left join public.profiles p on p.id = case when m.case_id is null then m.created_by
                                             else c.assignee_id end;

select cmp_ok((select count(*) from direct_messages where status::text = s), '>', 0::bigint,
              format('the messages include %s ones', s))
  from unnest(array['sent', 'read', 'failed', 'blocked', 'dead']) as s;
select cmp_ok((select count(*) from last_touches), '>=', 2::bigint,
              'renewed cases have last touches');

-- Message facts, daily rows: every grain column and measure as counted from the messages.
select bag_eq(
  $$select day, audience, channel, provider, template_id, purpose, node_id, status,
           failure_cause, error_code, error_provider, messages, sent, delivered, read,
           unconfirmed, cost_paise, actual_cost_paise, priced_messages, renewals
      from analytics.message_facts where grain = 'day'$$,
  $$select day, audience, channel, provider, template_id, purpose, node_id, status, cause, code,
           error_provider, count(*)::integer as messages, count(sent_at)::integer as sent,
           count(delivered_at)::integer as delivered, count(read_at)::integer as read,
           count(unconfirmed_at)::integer as unconfirmed,
           coalesce(sum(coalesce(cost_paise, estimated_cost_paise)) filter (where billed), 0)
             as cost,
           coalesce(sum(cost_paise) filter (where sent_at is not null), 0) as actual_cost,
           (count(*) filter (where sent_at is not null and cost_paise is not null))::integer
             as priced,
           (count(*) filter (where touch))::integer as renewals
      from direct_messages
     group by day, audience, channel, provider, template_id, purpose, node_id, status, cause, code,
              error_provider$$,
  'daily message facts equal the messages counted per IST day and grain'
);
select is((select sum(messages)::bigint from analytics.message_facts where grain = 'day'),
          (select count(*) from public.messages), 'messages: every message counted once a day');
select is((select sum(sent)::bigint from analytics.message_facts where grain = 'day'),
          (select count(sent_at) from public.messages), 'sent');
select is((select sum(delivered)::bigint from analytics.message_facts where grain = 'day'),
          (select count(delivered_at) from public.messages), 'delivered');
select is((select sum(read)::bigint from analytics.message_facts where grain = 'day'),
          (select count(read_at) from public.messages), 'read');
select is((select sum(cost_paise) from analytics.message_facts where grain = 'day'),
          (select sum(coalesce(cost_paise, estimated_cost_paise)) from direct_messages
            where billed),
          'cost of the sent messages, vendor price else estimate (none for a failed WhatsApp one)');
select is((select sum(renewals)::bigint from analytics.message_facts where grain = 'day'),
          (select count(*) from last_touches),
          'renewals: one per renewed case with a message sent before it closed (last touch)');
select is((select sum(f.renewals)::integer from analytics.message_facts f
            where f.grain = 'day' and f.day = private.business_date((select sent_at from touch))
              and f.channel = 'sms' and f.provider = 'twilio'),
          (select count(*)::integer from last_touches l join direct_messages d on d.id = l.message_id
            where d.day = private.business_date((select sent_at from touch))
              and d.channel = 'sms' and d.provider = 'twilio'),
          'the renewal goes to the day and channel of its last touch');
select is((select count(*) from direct_messages d
            where d.idempotency_key = 'facts-test:after-close' and d.touch), 0::bigint,
          'a message sent after the case closed is no touch');

-- Hourly rows: the last 8 IST days, the same counts per IST hour; nothing hourly before them.
select bag_eq(
  $$select bucket_start, audience, channel, provider, template_id, purpose, node_id, status,
           failure_cause, error_code, error_provider, messages, sent, delivered, read, cost_paise,
           renewals
      from analytics.message_facts where grain = 'hour'$$,
  $$select hour_start, audience, channel, provider, template_id, purpose, node_id, status, cause,
           code, error_provider, count(*)::integer as messages, count(sent_at)::integer as sent,
           count(delivered_at)::integer as delivered, count(read_at)::integer as read,
           coalesce(sum(coalesce(cost_paise, estimated_cost_paise)) filter (where billed), 0)
             as cost,
           (count(*) filter (where touch))::integer as renewals
      from direct_messages
     where day >= (select today from clock) - 7
     group by hour_start, audience, channel, provider, template_id, purpose, node_id, status,
              cause, code, error_provider$$,
  'hourly message facts equal the messages of the last 8 days counted per IST hour'
);
select cmp_ok((select count(*) from direct_messages where day < (select today from clock) - 7),
              '>', 0::bigint, 'some messages are older than 8 days ...');
select is((select count(*) from analytics.message_facts f
            where f.grain = 'hour' and f.day < (select today from clock) - 7), 0::bigint,
          '... and have daily rows only');

-- Latency histograms and their quantiles.
select bag_eq(
  $$select day, audience, channel, provider, template_id, node_id, stage, latency_bucket, messages
      from analytics.latency_facts where grain = 'day'$$,
  $$select day, audience, channel, provider, template_id, node_id, stage, b, count(*)::integer as n
      from direct_messages
     cross join lateral (values
       ('sent', analytics.latency_bucket(extract(epoch from sent_at - queued_at)::float8)),
       ('delivered', analytics.latency_bucket(extract(epoch from delivered_at - queued_at)::float8))
     ) as l (stage, b)
     where b is not null
     group by day, audience, channel, provider, template_id, node_id, stage, b$$,
  'latency facts hold each sent and delivered message in its bucket, per day and audience'
);

create temporary table quantiles on commit drop as
with estimated as (
  select channel, stage,
         analytics.latency_quantiles(array_agg(latency_bucket), array_agg(n),
                                     array[0.5, 0.95, 0.99]) as q
    from (select channel, stage, latency_bucket, sum(messages)::bigint as n
            from analytics.latency_facts where grain = 'day'
           group by channel, stage, latency_bucket) h
   group by channel, stage
),
exact as (
  select d.channel, l.stage,
         array[percentile_cont(0.5) within group (order by l.seconds),
               percentile_cont(0.95) within group (order by l.seconds),
               percentile_cont(0.99) within group (order by l.seconds)] as q
    from direct_messages d
   cross join lateral (values
     ('sent', extract(epoch from d.sent_at - d.queued_at)::float8),
     ('delivered', extract(epoch from d.delivered_at - d.queued_at)::float8)) as l (stage, seconds)
   where l.seconds is not null
   group by d.channel, l.stage
)
select e.channel, e.stage, i, e.q[i] as estimated, x.q[i] as exact
  from estimated e
  join exact x using (channel, stage)
 cross join generate_series(1, 3) as i;

select is((select count(*) from quantiles), 18::bigint,
          'p50, p95 and p99 of both latencies on each of the three channels are compared');
select is_empty(
  $$select channel, stage, i, estimated, exact from quantiles
     where abs(analytics.latency_bucket(estimated) - analytics.latency_bucket(exact)) > 1$$,
  'each latency quantile from the histogram is within one bucket of percentile_cont'
);

-- Renewal cohorts: cases per stage per due date, per agent and node, with premium and days.
select bag_eq(
  $$select due_day, agent_id, node_id, product_line, stage, cases, premium_paise, renew_days_sum
      from analytics.renewal_facts$$,
  $$select c.due_date, c.assignee_id, p.node_id, po.product_line, c.stage,
           count(*)::integer as cases, sum(po.premium)::bigint as premium,
           coalesce(sum(extract(epoch from c.closed_at - c.created_at) / 86400)
                      filter (where c.stage = 'renewed'), 0) as days
      from public.renewal_cases c
      join public.policies po on po.id = c.policy_id
      left join public.profiles p on p.id = c.assignee_id
     group by c.due_date, c.assignee_id, p.node_id, po.product_line, c.stage$$,
  'renewal facts count the cases per cohort (due date), agent, product line and stage'
);
select is((select count(distinct stage) from analytics.renewal_facts), 9::bigint,
          'the demo book''s cohorts hold cases in every stage');
select bag_eq(
  $$select node_id, due_day, product_line, stage, cases, premium_paise from analytics.node_renewal_facts$$,
  $$select n.id, c.due_date, po.product_line, c.stage, count(*)::integer as cases,
           sum(po.premium)::bigint as premium
      from public.hierarchy_nodes n
      join public.hierarchy_nodes s on s.path operator(extensions.<@) n.path
      join public.profiles p on p.node_id = s.id
      join public.renewal_cases c on c.assignee_id = p.id
      join public.policies po on po.id = c.policy_id
     group by n.id, c.due_date, po.product_line, c.stage$$,
  'a node''s cohorts are the cases of every agent in its subtree'
);
select is((select sum(cases)::bigint from analytics.node_renewal_facts f
             join public.hierarchy_nodes n on n.id = f.node_id where n.level = 'zone'),
          (select count(*) from public.renewal_cases c
             join public.profiles p on p.id = c.assignee_id where p.node_id is not null),
          'the zones together hold every case of an agent with a node');

-- Activity facts, measure by measure, up to today.
select bag_eq(
  $$select day, agent_id, product_line, premium_due_paise, installments_due
      from analytics.activity_facts where installments_due > 0$$,
  $$select oa.due_date, c.assignee_id, po.product_line, sum(oa.amount)::bigint as due,
           count(*)::integer as installments
      from public.outstanding_amounts oa
      join public.renewal_cases c on c.id = oa.case_id
      join public.policies po on po.id = c.policy_id
     where oa.status <> 'waived' and oa.due_date <= (select today from clock)
     group by oa.due_date, c.assignee_id, po.product_line$$,
  'premium due: the installments falling due each day, waived ones excepted'
);
select bag_eq(
  $$select day, agent_id, product_line, premium_collected_paise, payments_captured
      from analytics.activity_facts where payments_captured > 0$$,
  $$select private.business_date(p.captured_at) as day, c.assignee_id, po.product_line,
           sum(p.amount)::bigint as collected, count(*)::integer as payments
      from public.payments p
      join public.renewal_cases c on c.id = p.case_id
      join public.policies po on po.id = c.policy_id
     where p.captured_at is not null
     group by 1, 2, 3$$,
  'premium collected: the payments captured each day, refunded ones included'
);
select bag_eq(
  $$select day, agent_id, product_line, installments_paid_paise
      from analytics.activity_facts where installments_paid_paise > 0$$,
  $$select private.business_date(oa.paid_at) as day, c.assignee_id, po.product_line,
           sum(oa.amount)::bigint as paid
      from public.outstanding_amounts oa
      join public.renewal_cases c on c.id = oa.case_id
      join public.policies po on po.id = c.policy_id
     where oa.status = 'paid'
     group by 1, 2, 3$$,
  'installments paid: those settled each day, online or by the desk'
);
select bag_eq(
  $$select day, agent_id, product_line, tasks_due, sla_breaches
      from analytics.activity_facts where tasks_due > 0$$,
  $$select private.business_date(t.sla_due_at) as day, t.assignee_id, po.product_line,
           count(*)::integer as tasks, (count(*) filter (where t.done_at > t.sla_due_at
                                or (t.done_at is null and t.sla_due_at <= (select now from clock))))::integer
             as breaches
      from public.tasks t
      join public.renewal_cases c on c.id = t.case_id
      join public.policies po on po.id = c.policy_id
     where private.business_date(t.sla_due_at) <= (select today from clock)
     group by 1, 2, 3$$,
  'tasks due each day and their SLA breaches (done late, or open past the deadline)'
);
select cmp_ok((select sum(sla_breaches) from analytics.activity_facts), '>', 0::bigint,
              'some deadlines were missed ...');
select cmp_ok((select sum(tasks_due - sla_breaches) from analytics.activity_facts), '>', 0::bigint,
              '... and some met or still ahead');
select bag_eq(
  $$select day, agent_id, product_line, messages_sent, message_cost_paise
      from analytics.activity_facts where messages_sent > 0$$,
  $$select private.business_date(m.sent_at) as day, c.assignee_id, po.product_line,
           count(*)::integer as sent, sum(coalesce(m.cost_paise, m.estimated_cost_paise, 0)) as cost
      from public.messages m
      join public.renewal_cases c on c.id = m.case_id
      join public.policies po on po.id = c.policy_id
     where m.sent_at is not null
     group by 1, 2, 3$$,
  'messages of the cases sent each day and their cost'
);
select bag_eq(
  $$select node_id, day, product_line, premium_due_paise, premium_collected_paise,
           installments_paid_paise, tasks_due, sla_breaches, messages_sent, message_cost_paise
      from analytics.node_activity_facts$$,
  $$select n.id, f.day, f.product_line, sum(f.premium_due_paise)::bigint as due,
           sum(f.premium_collected_paise)::bigint as collected,
           sum(f.installments_paid_paise)::bigint as paid, sum(f.tasks_due)::integer as tasks,
           sum(f.sla_breaches)::integer as breaches, sum(f.messages_sent)::integer as sent,
           sum(f.message_cost_paise) as cost
      from public.hierarchy_nodes n
      join public.hierarchy_nodes s on s.path operator(extensions.<@) n.path
      join public.profiles p on p.node_id = s.id
      join analytics.activity_facts f on f.agent_id = p.id
     group by n.id, f.day, f.product_line$$,
  'a node''s activity is the sum of the activity of the agents in its subtree'
);

-- A refresh twice gives the same rows ---------------------------------------------------------

create temporary table snapshot on commit drop as
select 'message' as facts, to_jsonb(f) as r from analytics.message_facts f
union all select 'latency', to_jsonb(f) from analytics.latency_facts f
union all select 'renewal', to_jsonb(f) from analytics.renewal_facts f
union all select 'node_renewal', to_jsonb(f) from analytics.node_renewal_facts f
union all select 'activity', to_jsonb(f) from analytics.activity_facts f
union all select 'node_activity', to_jsonb(f) from analytics.node_activity_facts f
limit 0;

create function pg_temp.facts_now() returns table (facts text, r jsonb)
language sql
as $$
  select 'message', to_jsonb(f) from analytics.message_facts f
  union all select 'latency', to_jsonb(f) from analytics.latency_facts f
  union all select 'renewal', to_jsonb(f) from analytics.renewal_facts f
  union all select 'node_renewal', to_jsonb(f) from analytics.node_renewal_facts f
  union all select 'activity', to_jsonb(f) from analytics.activity_facts f
  union all select 'node_activity', to_jsonb(f) from analytics.node_activity_facts f
$$;

select is(private.refresh_analytics((select now from clock)) ->> 'skipped', 'false',
          'a refresh runs');
insert into snapshot select * from pg_temp.facts_now();
select is(private.refresh_analytics((select now from clock)) ->> 'skipped', 'false',
          'and runs again');
select bag_eq($$select * from pg_temp.facts_now()$$, $$select * from snapshot$$,
              'a second refresh at the same moment leaves the same rows');

-- A moved clock rewrites its window only -------------------------------------------------------

-- As if a refresh had just looked for changes: only what changes from here on is recomputed.
update private.analytics_state set changes_checked_at = (select now from clock) + interval '2 hours';
delete from snapshot;
insert into snapshot select * from pg_temp.facts_now();
select is(private.refresh_analytics((select now from clock) - interval '5 days')
            ->> 'renewal_due_days', '0', 'a refresh five days back, with no case changed since the last');
select bag_eq(
  $$select distinct facts, (r ->> 'day')::date from pg_temp.facts_now()
     where (r ->> 'refreshed_at')::timestamptz = (select now from clock) - interval '5 days'$$,
  $$select distinct facts, (r ->> 'day')::date from snapshot
     where (facts in ('message', 'latency')
            and (r ->> 'day')::date between (select today from clock) - 7
                                        and (select today from clock) - 5)
        or (facts in ('activity', 'node_activity')
            and (r ->> 'day')::date between (select today from clock) - 6
                                        and (select today from clock) - 5)$$,
  'a refresh five days back rewrites the days of its window, and only those'
);
select bag_eq(
  $$select facts, r - 'refreshed_at' from pg_temp.facts_now()
     where facts not in ('activity', 'node_activity')$$,
  $$select facts, r - 'refreshed_at' from snapshot where facts not in ('activity', 'node_activity')$$,
  'with nothing changed, the rewritten message and latency rows are the same (activity depends '
  'on the clock: a task still open is not late yet)'
);

-- A case renewed since the last refresh: the 5-minute refresh rewrites its cohort; the nightly
-- pass, the old day of its last touch.
update private.analytics_state
   set changes_checked_at = (select now from clock) + interval '2 hours',
       nightly_checked_at = (select now from clock) + interval '2 hours';
set local session_replication_role = replica;
update public.renewal_cases set updated_at = (select now from clock) + interval '90 minutes'
 where id = (select case_id from touch);
set local session_replication_role = origin;
select is(private.refresh_analytics((select now from clock) + interval '1 second')
            ->> 'renewal_due_days', '1', 'the refresh finds the one due date of the changed case');
select bag_eq(
  $$select distinct facts, coalesce(r ->> 'day', r ->> 'due_day')::date from pg_temp.facts_now()
     where (r ->> 'refreshed_at')::timestamptz = (select now from clock) + interval '1 second'
       and coalesce(r ->> 'day', r ->> 'due_day')::date
             not between (select today from clock) - 2 and (select today from clock)$$,
  $$select 'renewal', c.due_date from public.renewal_cases c
     where c.id = (select case_id from touch)
    union all select 'node_renewal', c.due_date from public.renewal_cases c
               where c.id = (select case_id from touch)$$,
  'beyond its 3 days the refresh rewrote the changed case''s cohort, nothing else'
);
select is(
  private.refresh_analytics_nightly((select now from clock) + interval '2 seconds') -> 'touch_days',
  jsonb_build_array(private.business_date((select sent_at from touch))),
  'the nightly pass recounts the day of its last touch, 9 days ago'
);
select bag_eq(
  $$select distinct facts, (r ->> 'day')::date from pg_temp.facts_now()
     where facts in ('message', 'latency')
       and (r ->> 'refreshed_at')::timestamptz = (select now from clock) + interval '2 seconds'
       and (r ->> 'day')::date < (select today from clock) - 7$$,
  $$select 'message', private.business_date(sent_at) from touch
    union all select 'latency', private.business_date(sent_at) from touch$$,
  'beyond its 8 days the nightly pass rewrote that day''s message facts, nothing else'
);
select is((select sum(f.renewals)::integer from analytics.message_facts f
            where f.grain = 'day' and f.day = private.business_date((select sent_at from touch))),
          (select count(*)::integer from last_touches l join direct_messages d on d.id = l.message_id
            where d.day = private.business_date((select sent_at from touch))),
          'and still credits its renewal there');

-- The nightly pass keeps 8 days of hours --------------------------------------------------------

select cmp_ok((select count(*) from analytics.message_facts
                where grain = 'hour' and day < (select today from clock) - 4), '>', 0::bigint,
              'hourly rows exist for the days before today - 4');
select cmp_ok((private.refresh_analytics_nightly((select now from clock) + interval '3 days')
               ->> 'hourly_rows_pruned')::integer, '>', 0, 'the nightly pass three days on');
select is((select count(*) from analytics.message_facts f
            where f.grain = 'hour' and f.day < (select today from clock) - 4)
          + (select count(*) from analytics.latency_facts f
              where f.grain = 'hour' and f.day < (select today from clock) - 4),
          0::bigint, 'three days on, the nightly pass dropped the hours of days over 8 days old');
select bag_eq(
  $$select r - 'refreshed_at' from pg_temp.facts_now()
     where facts in ('message', 'latency') and r ->> 'grain' = 'day'
       and (r ->> 'day')::date < (select today from clock) - 4$$,
  $$select r - 'refreshed_at' from snapshot
     where facts in ('message', 'latency') and r ->> 'grain' = 'day'
       and (r ->> 'day')::date < (select today from clock) - 4$$,
  'and kept the daily rows of those days as they were'
);

-- pg_cron ------------------------------------------------------------------------------------

select bag_eq(
  $$select jobname::text, schedule::text, command from cron.job
     where jobname in ('refresh-analytics', 'refresh-analytics-nightly')$$,
  $$values ('refresh-analytics', '*/5 * * * *', 'select private.refresh_analytics()'),
           ('refresh-analytics-nightly', '10 21 * * *', 'select private.refresh_analytics_nightly()')$$,
  'pg_cron refreshes the facts every 5 minutes and recomputes 8 days nightly'
);

select * from finish();
rollback;
