-- The analytics facts equal the base tables after every refresh (issue 11, review defects 1, 2,
-- 3 and 8): changes to rows older than the refresh's window (a message queued 10 days ago
-- delivered now, an installment paid with a paid_at 10 days back, a task's SLA restarted away
-- from its old day) are marked by triggers and recounted by the next refresh; facts never fully
-- built are built once by the first refresh; a refresh under another BUSINESS_TIME_ZONE
-- rebuilds everything, leaving no day of the old zone. Latencies count the messages their counts
-- count: 200 slow staff emails do not move a customers' p95.
begin;
select plan(40);

-- The demo book's nodes and profiles were written minutes ago: as on a desk where they were not
-- (a refresh must not depend on when a node or profile was last edited).
set local session_replication_role = replica;
update public.hierarchy_nodes set updated_at = now() - interval '1 day';
update public.profiles set updated_at = now() - interval '1 day';
set local session_replication_role = origin;

create temporary table clock on commit drop as
select now() as now, private.business_date(now()) as today,
       private.business_date(now() - interval '10 days') as old_day;

-- A demo case with an installment still to pay, and its agent.
create temporary table subject on commit drop as
select c.id as case_id, c.customer_id, c.assignee_id, oa.id as installment_id
  from public.renewal_cases c
  join public.outstanding_amounts oa on oa.case_id = c.id and oa.status = 'pending'
 where c.assignee_id is not null and not private.case_stage_is_final(c.stage)
 order by c.id, oa.installment_number
 limit 1;

-- Ten days ago: a message queued and sent (not yet reported delivered), and a call task whose
-- deadline fell then and is still open.
insert into public.messages (customer_id, case_id, channel, purpose, body, recipient,
                             idempotency_key, status, provider, estimated_cost_paise, queued_at,
                             sent_at, created_at)
select s.customer_id, s.case_id, 'sms', 'service', 'old', '+919800000001', 'fresh:89:old',
       'sent', 'twilio', 25, c.now - interval '10 days', c.now - interval '10 days' + interval '2 s',
       c.now - interval '10 days'
  from subject s, clock c;
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status)
select s.case_id, s.assignee_id, c.now - interval '10 days 4 hours', 4,
       c.now - interval '10 days', 'open'
  from subject s, clock c;

select lives_ok($$select private.rebuild_analytics(null, null)$$, 'the facts are built');
select is((select count(*) from private.analytics_dirty), 0::bigint,
          'a rebuild of everything leaves no day marked');

-- The day's messages by status, and its activity, from the facts and from the base tables.
create function pg_temp.message_facts(day date)
returns table (status text, messages bigint, delivered bigint)
language sql
as $$
  select f.status::text, sum(f.messages)::bigint, sum(f.delivered)::bigint
    from analytics.message_facts f
   where f.grain = 'day' and f.day = $1
   group by f.status
$$;
create function pg_temp.message_base(day date)
returns table (status text, messages bigint, delivered bigint)
language sql
as $$
  select m.status::text, count(*), count(m.delivered_at)
    from public.messages m
   where private.business_date(m.created_at) = $1
   group by m.status
$$;
create function pg_temp.activity_facts(day date)
returns table (installments_paid_paise bigint, tasks_due bigint, sla_breaches bigint)
language sql
as $$
  select coalesce(sum(f.installments_paid_paise), 0)::bigint, coalesce(sum(f.tasks_due), 0)::bigint,
         coalesce(sum(f.sla_breaches), 0)::bigint
    from analytics.activity_facts f
   where f.day = $1
$$;
create function pg_temp.activity_base(day date, as_of timestamptz)
returns table (installments_paid_paise bigint, tasks_due bigint, sla_breaches bigint)
language sql
as $$
  select (select coalesce(sum(oa.amount), 0)::bigint
            from public.outstanding_amounts oa
           where oa.status = 'paid' and private.business_date(oa.paid_at) = $1),
         (select count(*) from public.tasks t where private.business_date(t.sla_due_at) = $1),
         (select count(*) from public.tasks t
           where private.business_date(t.sla_due_at) = $1
             and (t.done_at > t.sla_due_at or (t.done_at is null and t.sla_due_at <= $2)))
$$;

select bag_eq($$select * from pg_temp.message_facts((select old_day from clock))$$,
              $$select * from pg_temp.message_base((select old_day from clock))$$,
              'built: the old day''s messages by status as in the base table');

-- Defect 1: three changes to rows of that day, then a refresh. --------------------------------

update public.messages set status = 'delivered', delivered_at = sent_at + interval '5 seconds'
 where idempotency_key = 'fresh:89:old';
update public.outstanding_amounts
   set status = 'paid', paid_at = (select now from clock) - interval '10 days', reason = 'cheque'
 where id = (select installment_id from subject);
-- As the escalation does: the SLA restarts, its deadline moves to tomorrow.
update public.tasks set sla_due_at = (select now from clock) + interval '1 day'
 where case_id = (select case_id from subject) and sla_due_at < (select now from clock) - interval '9 days';

select bag_eq($$select kind, day from private.analytics_dirty$$,
              $$values ('message', (select old_day from clock)),
                       ('activity', (select old_day from clock))$$,
              'the changes marked the old day''s message and activity facts stale');
select is((select (private.refresh_analytics((select now from clock)) -> 'marked_message_days')),
          jsonb_build_array((select old_day from clock)), 'the refresh takes the marked day');
select is((select count(*) from private.analytics_dirty), 0::bigint, 'and forgets the marks');
select bag_eq($$select * from pg_temp.message_facts((select old_day from clock))$$,
              $$select * from pg_temp.message_base((select old_day from clock))$$,
              'the message queued 10 days ago is counted delivered on its day');
select is((select sum(l.messages)::bigint from analytics.latency_facts l
            where l.grain = 'day' and l.day = (select old_day from clock) and l.stage = 'delivered'),
          (select count(*) from public.messages m
            where private.business_date(m.created_at) = (select old_day from clock)
              and m.delivered_at is not null),
          'its delivery latency is in that day''s histogram');
select results_eq(
  $$select * from pg_temp.activity_facts((select old_day from clock))$$,
  $$select * from pg_temp.activity_base((select old_day from clock), (select now from clock))$$,
  'the installment paid 10 days back and the task whose deadline moved away: the old day''s '
  'activity equals the base tables');
select cmp_ok((select installments_paid_paise from pg_temp.activity_facts((select old_day from clock))),
              '>', 0::bigint, 'the backdated payment counts on its day');
select is((select sum(f.tasks_due) from analytics.node_activity_facts f
            join public.profiles p on p.node_id = f.node_id and p.id = (select assignee_id from subject)
           where f.day = (select old_day from clock)),
          (select sum(f.tasks_due) from analytics.activity_facts f
            where f.day = (select old_day from clock)
              and f.node_id = (select node_id from public.profiles
                                where id = (select assignee_id from subject))),
          'the agent''s node rollup of that day agrees');
insert into public.messages (customer_id, case_id, channel, purpose, body, recipient,
                             idempotency_key, status, provider, estimated_cost_paise, queued_at,
                             sent_at, created_at)
select s.customer_id, s.case_id, 'sms', 'service', 'now', '+919800000001', 'fresh:89:now',
       'sent', 'twilio', 25, now(), now(), now()
  from subject s;
update public.messages set status = 'delivered', delivered_at = now()
 where idempotency_key = 'fresh:89:now';
select is((select count(*) from private.analytics_dirty), 0::bigint,
          'a change of today''s rows marks nothing (the refresh recounts today by itself)');

-- Defect 3: staff emails in the latency histograms. -----------------------------------------

-- A day long past that nothing else uses: 20 customers' emails delivered in 5 seconds and 200
-- alerts to a desk user delivered in an hour, all through aws_ses.
insert into public.messages (customer_id, staff_id, channel, purpose, body, idempotency_key,
                             status, provider, estimated_cost_paise, queued_at, sent_at,
                             delivered_at, created_at)
select case when i <= 20 then (select s.customer_id from subject s) end,
       case when i > 20 then (select p.id from public.profiles p where p.email = 'admin@py360.test') end,
       'email', 'transactional', 'latency', 'fresh:89:latency:' || i, 'delivered', 'aws_ses', 0.85,
       t, t + interval '1 second',
       t + case when i <= 20 then interval '5 seconds' else interval '1 hour' end, t
  from generate_series(1, 220) as i
 cross join lateral (select timestamptz '2004-04-04 10:00+05:30' + make_interval(secs => i) as t) x;
select private.rebuild_analytics('2004-04-04', '2004-04-04') is not null as rebuilt;
select is((select sum(l.messages)::bigint from analytics.latency_facts l
            where l.day = '2004-04-04' and l.grain = 'day' and l.stage = 'delivered'
              and l.audience = 'staff'),
          200::bigint, 'the staff emails'' latencies are kept apart (audience staff)');

create temporary table answers on commit drop as
select private.report_window('2004-04-04', '2004-04-04') as report;
select set_config('request.jwt.claims',
                  json_build_object('sub', (select p.id from public.profiles p
                                             where p.email = 'admin@py360.test'),
                                    'role', 'authenticated')::text, true);
set local role authenticated;
create temporary table performance on commit drop as
select private.message_performance('email', null, timestamptz '2004-04-04 00:00+05:30',
                                   timestamptz '2004-04-05 00:00+05:30', 'day') as answer;
reset role;
select set_config('request.jwt.claims', null, true);

select is((select answer #>> '{latency,queue_to_delivered,messages}' from performance), '20',
          'the email channel''s delivery latency counts the 20 customers'' emails, as its counts');
select cmp_ok((select (answer #>> '{latency,queue_to_delivered,p95_seconds}')::numeric
                 from performance), '<', 6::numeric,
              '200 slow staff emails do not move the customers'' p95 (about 5 s)');
select cmp_ok((select (answer #>> '{series,0,p95_delivered_seconds}')::numeric from performance),
              '<', 6::numeric, 'nor the series'' p95');
select cmp_ok((select (report #>> '{messages,p95_delivered_seconds}')::numeric from answers),
              '<', 6::numeric, 'the report''s customers'' p95 is theirs');
select cmp_ok((select (c ->> 'p95_delivered_seconds')::numeric
                 from answers, jsonb_array_elements(report -> 'channels') c
                where c ->> 'channel' = 'email' and c ->> 'provider' = 'aws_ses'),
              '<', 6::numeric, 'and so is its email channel''s');
select results_eq(
  $$select (p ->> 'messages')::bigint, (p ->> 'p95_delivered_seconds')::numeric > 3000
      from answers, jsonb_array_elements(report -> 'providers') p
     where p ->> 'provider' = 'aws_ses'$$,
  $$values (220::bigint, true)$$,
  'the vendor''s section counts all it carried, staff emails too, and so does its p95');

-- Defect 7: the facts follow the agent's current node. ----------------------------------------

create function pg_temp.rollups_wrong() returns table (facts text, r jsonb)
language sql
as $$
  (select 'node_renewal', to_jsonb(x) from (
     select f.node_id, f.due_day, f.product_line, f.stage, f.cases::bigint, f.premium_paise::numeric
       from analytics.node_renewal_facts f
     except
     select n.id, f.due_day, f.product_line, f.stage, sum(f.cases)::bigint, sum(f.premium_paise)
       from public.hierarchy_nodes n
       join public.hierarchy_nodes s on s.path operator(extensions.<@) n.path
       join analytics.renewal_facts f on f.node_id = s.id
      group by n.id, f.due_day, f.product_line, f.stage) x)
  union all
  (select 'node_activity', to_jsonb(x) from (
     select f.node_id, f.day, f.product_line, f.tasks_due::bigint, f.messages_sent::bigint,
            f.premium_due_paise::numeric
       from analytics.node_activity_facts f
     except
     select n.id, f.day, f.product_line, sum(f.tasks_due)::bigint, sum(f.messages_sent)::bigint,
            sum(f.premium_due_paise)
       from public.hierarchy_nodes n
       join public.hierarchy_nodes s on s.path operator(extensions.<@) n.path
       join analytics.activity_facts f on f.node_id = s.id
      group by n.id, f.day, f.product_line) x)
$$;
create function pg_temp.facts_now() returns table (facts text, r jsonb)
language sql
as $$
  select 'message', to_jsonb(f) - 'refreshed_at' from analytics.message_facts f
  union all select 'latency', to_jsonb(f) - 'refreshed_at' from analytics.latency_facts f
  union all select 'renewal', to_jsonb(f) - 'refreshed_at' from analytics.renewal_facts f
  union all select 'node_renewal', to_jsonb(f) - 'refreshed_at' from analytics.node_renewal_facts f
  union all select 'activity', to_jsonb(f) - 'refreshed_at' from analytics.activity_facts f
  union all select 'node_activity', to_jsonb(f) - 'refreshed_at' from analytics.node_activity_facts f
$$;

-- The subject's agent moves to another team (of another branch when there is one).
create temporary table move on commit drop as
select p.id as agent_id, p.node_id as old_node, t.id as new_node
  from public.profiles p
  join public.hierarchy_nodes o on o.id = p.node_id
  join public.hierarchy_nodes t on t.level = o.level and t.id <> o.id
 where p.id = (select assignee_id from subject)
 order by t.parent_id is not distinct from o.parent_id, t.code
 limit 1;
update public.profiles set node_id = (select new_node from move)
 where id = (select agent_id from move);
select bag_eq($$select agent_id from private.analytics_moved_agents$$,
              $$select agent_id from move$$, 'the agent''s move is noted');
select is(private.refresh_analytics((select now from clock)) ->> 'moved_agents', '1',
          'the next refresh restates one agent');
select cmp_ok((select count(*) from analytics.renewal_facts where agent_id = (select agent_id from move)),
              '>', 0::bigint, 'the agent has cohorts');
select is((select count(*) from analytics.renewal_facts
            where agent_id = (select agent_id from move)
              and node_id is distinct from (select new_node from move)),
          0::bigint, 'every one of them under the new node');
select cmp_ok((select count(*) from analytics.activity_facts
                where agent_id = (select agent_id from move)
                  and day < (select today from clock) - 2),
              '>', 0::bigint, 'the agent has older activity rows');
select is((select count(*) from analytics.activity_facts
            where agent_id = (select agent_id from move)
              and node_id is distinct from (select new_node from move)),
          0::bigint, 'every one of them under the new node');
select bag_eq(
  $$select f.day, f.node_id, sum(f.messages)::bigint from analytics.message_facts f
     where f.grain = 'day' group by f.day, f.node_id$$,
  $$select private.business_date(m.created_at), p.node_id, count(*)
      from public.messages m
      left join public.renewal_cases c on c.id = m.case_id
      left join public.profiles p on p.id = c.assignee_id
     where private.business_date(m.created_at) <= (select today from clock)
     group by 1, 2$$,
  'the messages of the agent''s cases, old ones too, count under their node, as every other''s');
select is_empty($$select * from pg_temp.rollups_wrong()$$,
                'every node''s rollup holds the agents now in its subtree');

-- A rename moves nothing.
create temporary table before_rename on commit drop as select * from pg_temp.facts_now();
update public.hierarchy_nodes set name = name || ' (renamed)'
 where id not in (select old_node from move union select new_node from move)
   and level = 'zone';
select is((select count(*) from private.analytics_dirty) + (select count(*) from private.analytics_moved_agents),
          0::bigint, 'renaming nodes marks nothing');
select private.refresh_analytics((select now from clock)) is not null as refreshed;
select bag_eq($$select * from pg_temp.facts_now()$$, $$select * from before_rename$$,
              'and after a refresh every fact is as it was');

-- A team moved to another branch: the rollups follow it.
update public.hierarchy_nodes
   set parent_id = (select b.id from public.hierarchy_nodes b
                     where b.level = (select p.level from public.hierarchy_nodes p
                                       join public.hierarchy_nodes t on t.parent_id = p.id
                                      where t.id = (select new_node from move))
                       and b.id <> (select t.parent_id from public.hierarchy_nodes t
                                     where t.id = (select new_node from move))
                     order by b.code limit 1)
 where id = (select new_node from move);
select is(private.refresh_analytics((select now from clock)) ->> 'hierarchy_moved', 'true',
          'a node moved: the next refresh rolls the facts up again');
select is_empty($$select * from pg_temp.rollups_wrong()$$,
                'every node''s rollup holds the agents now in its subtree, after the move');

-- Defect 2: facts never fully built. ---------------------------------------------------------

-- As on a project whose cron built only the last days.
delete from analytics.message_facts f where f.day < (select today from clock) - 3;
delete from analytics.activity_facts f where f.day < (select today from clock) - 3;
update private.analytics_state set built_at = null;
select is(private.refresh_analytics((select now from clock)) ->> 'rebuilt', 'never built',
          'the first refresh of facts never fully built rebuilds everything');
select bag_eq(
  $$select f.day, sum(f.messages)::bigint from analytics.message_facts f
     where f.grain = 'day' group by f.day$$,
  $$select private.business_date(m.created_at), count(*) from public.messages m
     where private.business_date(m.created_at) <= (select today from clock)
     group by 1$$,
  'every day''s messages are in the facts again');
select results_eq(
  $$select * from pg_temp.activity_facts((select old_day from clock))$$,
  $$select * from pg_temp.activity_base((select old_day from clock), now())$$,
  'and the old day''s activity');
select isnt((select built_at from private.analytics_state), null, 'the state says they are built');
select is(private.refresh_analytics((select now from clock)) ? 'rebuilt', false,
          'the next refresh does not rebuild');

-- Defect 8: another business time zone. ------------------------------------------------------

update public.app_settings set value = '"UTC"' where key = 'BUSINESS_TIME_ZONE';
select is(private.refresh_analytics((select now from clock)) ->> 'rebuilt', 'time zone changed',
          'a refresh under another time zone rebuilds everything');
select is((select sum(f.messages)::bigint from analytics.message_facts f where f.grain = 'day'),
          (select count(*) from public.messages m
            where (m.created_at at time zone 'UTC')::date
                  <= (now() at time zone 'UTC')::date),
          'each message counted once, none left in a day of the old zone');
select bag_eq(
  $$select f.day, sum(f.messages)::bigint from analytics.message_facts f
     where f.grain = 'day' group by f.day$$,
  $$select (m.created_at at time zone 'UTC')::date, count(*) from public.messages m
     where (m.created_at at time zone 'UTC')::date <= (now() at time zone 'UTC')::date
     group by 1$$,
  'the days are UTC days');
select is((select time_zone from private.analytics_state), 'UTC',
          'the state keeps the zone the facts were built under');

select * from finish();
rollback;
