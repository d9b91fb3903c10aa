-- One rule for the node of an agent's history (issue 11, review defect 7): the facts follow the
-- agent's CURRENT node. Before, an agent moved to another team had their renewal cohorts moved
-- at the next refresh but their older activity rows left under the old node, and renaming any
-- node (its updated_at) recomputed every fact, moving them all: a past period's figures changed
-- because of an unrelated edit.
-- Now:
-- * a profile whose node_id changes is noted (private.analytics_moved_agents, by a trigger); the
--   next refresh restates that agent's rows of renewal_facts and activity_facts under their
--   current node (no recount from the base tables: the rows are regrouped), rolls up the node
--   facts of the days those rows touch, and recounts the message and latency facts of the days
--   their cases' messages were queued (their node_id is the case's agent's);
-- * a node moved to another parent (its path changes, and its subtree's) marks the hierarchy
--   (private.analytics_dirty, kind 'hierarchy'): the next refresh rolls every node fact up again
--   from the agents' rows;
-- * anything else done to a node or a profile (a rename, a phone number) changes no fact.

create table private.analytics_moved_agents (
  agent_id uuid primary key
);
alter table private.analytics_moved_agents enable row level security;
comment on table private.analytics_moved_agents is
  'Agents whose hierarchy node changed since the last refresh: the next refresh restates their '
  'facts under their current node and forgets them. Written by a trigger on public.profiles.';

alter table private.analytics_dirty drop constraint analytics_dirty_kind_check;
alter table private.analytics_dirty
  add constraint analytics_dirty_kind_check check (kind in ('message', 'activity', 'hierarchy'));
comment on table private.analytics_dirty is
  'Business days whose analytics facts a change made stale, outside the refresh''s own window: '
  'message (message and latency facts of the day messages were queued) and activity (activity '
  'facts of the day of an installment due or paid, a payment, a task''s SLA, a message sent); '
  'hierarchy (day: infinity) when a node moved, so every node rollup is recomputed. Written by '
  'triggers on the base tables, taken (deleted) and recounted by the next refresh.';

create function private.tg_profiles__note_moved_agents() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.analytics_moved_agents (agent_id)
  select n.id
    from new_rows n
    join old_rows o on o.id = n.id
   where n.node_id is distinct from o.node_id
  on conflict do nothing;
  return null;
end
$$;
comment on function private.tg_profiles__note_moved_agents() is
  'Notes in private.analytics_moved_agents the profiles whose node_id changed, for the next '
  'analytics refresh. Statement-level, transition tables.';

create function private.tg_hierarchy_nodes__mark_analytics_hierarchy() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1
               from new_rows n
               join old_rows o on o.id = n.id
              where n.path::text is distinct from o.path::text) then
    insert into private.analytics_dirty (kind, day) values ('hierarchy', 'infinity')
    on conflict do nothing;
  end if;
  return null;
end
$$;
comment on function private.tg_hierarchy_nodes__mark_analytics_hierarchy() is
  'Marks the hierarchy stale for the analytics facts (private.analytics_dirty, kind hierarchy) '
  'when a node''s path changed (it or an ancestor moved); a rename marks nothing. '
  'Statement-level, transition tables.';

revoke execute on function
  private.tg_profiles__note_moved_agents(),
  private.tg_hierarchy_nodes__mark_analytics_hierarchy()
  from public;

create trigger _900_note_moved_agents after update on public.profiles
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_profiles__note_moved_agents();
create trigger _900_mark_analytics_hierarchy after update on public.hierarchy_nodes
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_hierarchy_nodes__mark_analytics_hierarchy();

-- Agents whose facts already sit under another node than their current one: restated at the
-- next refresh.
insert into private.analytics_moved_agents (agent_id)
select f.agent_id
  from analytics.renewal_facts f
  join public.profiles p on p.id = f.agent_id
 where f.node_id is distinct from p.node_id
union
select f.agent_id
  from analytics.activity_facts f
  join public.profiles p on p.id = f.agent_id
 where f.node_id is distinct from p.node_id
on conflict do nothing;

-- Rolling the agents' facts up the hierarchy ---------------------------------------------------

create function private.rollup_node_facts(due_days date[], days date[], as_of timestamptz)
returns void
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
begin
  -- Null: every day. The agents' rows are summed into every node whose subtree holds their node.
  if due_days is null then
    delete from analytics.node_renewal_facts;
  else
    delete from analytics.node_renewal_facts f where f.due_day = any (due_days);
  end if;
  if due_days is null or cardinality(due_days) > 0 then
    insert into analytics.node_renewal_facts
      (node_id, due_day, product_line, stage, cases, premium_paise, renew_days_sum, refreshed_at)
    select an.ancestor_id, f.due_day, f.product_line, f.stage, sum(f.cases),
           sum(f.premium_paise), sum(f.renew_days_sum), as_of
      from analytics.renewal_facts f
      join (select n.id as node_id, anc.id as ancestor_id
              from public.hierarchy_nodes n
              join public.hierarchy_nodes anc on anc.path operator(extensions.@>) n.path) an
        on an.node_id = f.node_id
     where due_days is null or f.due_day = any (due_days)
     group by an.ancestor_id, f.due_day, f.product_line, f.stage;
  end if;

  if days is null then
    delete from analytics.node_activity_facts;
  else
    delete from analytics.node_activity_facts f where f.day = any (days);
  end if;
  if days is null or cardinality(days) > 0 then
    insert into analytics.node_activity_facts
      (node_id, day, product_line, premium_due_paise, installments_due, premium_collected_paise,
       payments_captured, installments_paid_paise, tasks_due, sla_breaches, messages_sent,
       message_cost_paise, refreshed_at)
    select an.ancestor_id, f.day, f.product_line, sum(f.premium_due_paise),
           sum(f.installments_due), sum(f.premium_collected_paise), sum(f.payments_captured),
           sum(f.installments_paid_paise), sum(f.tasks_due), sum(f.sla_breaches),
           sum(f.messages_sent), sum(f.message_cost_paise), as_of
      from analytics.activity_facts f
      join (select n.id as node_id, anc.id as ancestor_id
              from public.hierarchy_nodes n
              join public.hierarchy_nodes anc on anc.path operator(extensions.@>) n.path) an
        on an.node_id = f.node_id
     where days is null or f.day = any (days)
     group by an.ancestor_id, f.day, f.product_line;
  end if;
end
$$;
comment on function private.rollup_node_facts(date[], date[], timestamptz) is
  'Rolls analytics.renewal_facts of due_days and activity_facts of days up into '
  'node_renewal_facts and node_activity_facts under the hierarchy as it is now (null: every '
  'day; empty: none). Refresh helper.';

create function private.restate_moved_agents(as_of timestamptz)
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

  -- The messages of their cases carry the agent's node: their days are recounted (marked here,
  -- taken by the caller with the other marked days).
  insert into private.analytics_dirty (kind, day)
  select distinct 'message', (m.created_at at time zone tz)::date
    from public.renewal_cases c
    join public.messages m on m.case_id = c.id
   where c.assignee_id = any (moved)
  on conflict do nothing;
  return jsonb_build_object('moved_agents', cardinality(moved),
                            'restated_due_days', cardinality(due_days),
                            'restated_days', cardinality(days));
end
$$;
comment on function private.restate_moved_agents(timestamptz) is
  'Takes the agents noted in private.analytics_moved_agents and restates their renewal and '
  'activity facts under their current node, rolls the node facts of the days touched up again, '
  'and marks the days of their cases'' messages for recount (private.analytics_dirty). Refresh '
  'helper; the caller holds the lock and recounts the marked days after it.';

create or replace function private.recount_marked_analytics(
  as_of timestamptz,
  message_from date,
  message_to date,
  activity_from date,
  activity_to date
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  hours_from date := private.business_date(as_of) - 7;
  restated jsonb;
  message_days date[];
  activity_days date[];
  hierarchy_moved boolean;
  d date;
  message_rows integer := 0;
  activity_rows integer := 0;
begin
  -- Agents moved to another node first: it marks the days of their messages.
  restated := private.restate_moved_agents(as_of);
  -- Taken and recounted in one transaction: a change committed after this delete marks its day
  -- again (one marking the same day waits for this transaction, then marks it anew).
  with taken as (delete from private.analytics_dirty returning kind, day)
  select coalesce(array_agg(distinct t.day order by t.day) filter (where t.kind = 'message'), '{}'),
         coalesce(array_agg(distinct t.day order by t.day) filter (where t.kind = 'activity'), '{}'),
         coalesce(bool_or(t.kind = 'hierarchy'), false)
    into message_days, activity_days, hierarchy_moved
    from taken t;
  foreach d in array message_days loop
    if d not between message_from and message_to then
      message_rows := message_rows
        + private.compute_message_facts(d, d, d >= hours_from, as_of);
    end if;
  end loop;
  foreach d in array activity_days loop
    if d not between activity_from and activity_to then
      activity_rows := activity_rows + private.compute_activity_facts(d, d, as_of);
    end if;
  end loop;
  if hierarchy_moved then
    -- A node moved: every rollup again, from the agents' rows (which keep their nodes).
    perform private.rollup_node_facts(null, null, as_of);
  end if;
  return jsonb_build_object('marked_message_days', to_jsonb(message_days),
                            'marked_activity_days', to_jsonb(activity_days),
                            'marked_message_rows', message_rows,
                            'marked_activity_rows', activity_rows,
                            'hierarchy_moved', hierarchy_moved)
         || restated;
end
$$;
comment on function private.recount_marked_analytics(timestamptz, date, date, date, date) is
  'Restates the facts of agents moved to another node (private.restate_moved_agents), then '
  'takes every day marked in private.analytics_dirty and recounts the message / latency facts '
  '(hours too within the last 8 days) and activity facts of those outside the days the caller '
  'has just recounted (message_from..message_to, activity_from..activity_to), and every node '
  'rollup when a node moved. Returns what it did. Refresh helper; the caller holds the lock.';

-- Profiles and node renames no longer decide what a refresh recounts: the cohorts of cases
-- changed since, only.
create or replace function private.analytics_changes(since timestamptz, before_day date)
returns table (renewal_due_days date[], touch_days date[], hierarchy_changed boolean)
language sql
stable
security invoker
set search_path = ''
set jit = off
as $$
  select
    -- Due dates of cases changed since.
    (select coalesce(array_agg(distinct c.due_date order by c.due_date), '{}')
       from public.renewal_cases c
      where c.updated_at >= since),
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
              where c.updated_at >= since and c.stage = 'renewed' and lt.touched
                and before_day is not null) t
      where t.day < before_day),
    -- Node moves are marked by a trigger (private.analytics_dirty) and handled there.
    false
$$;
comment on function private.analytics_changes(timestamptz, date) is
  'What a refresh must recompute beyond its window: the due dates of cases changed since '
  '`since`, the IST days before before_day holding the last touch of a case renewed since (none '
  'when before_day is null); hierarchy_changed is always false (moved agents and nodes are '
  'marked by triggers: private.analytics_moved_agents, private.analytics_dirty). Refresh helper.';

create or replace function private.refresh_analytics_window(
  from_day date,
  to_day date,
  as_of timestamptz,
  activity_from date,
  since timestamptz
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  hours_from date := today - 7;
  changes record;
  message_rows integer := 0;
  activity_rows integer := 0;
  renewal_rows integer := 0;
begin
  message_rows := message_rows
    + private.compute_message_facts(greatest(from_day, hours_from), to_day, true, as_of)
    + private.compute_message_facts(from_day, least(to_day, hours_from - 1), false, as_of);
  activity_rows := private.compute_activity_facts(activity_from, to_day, as_of);

  if since is null then
    -- Never refreshed: every cohort.
    renewal_rows := private.compute_renewal_facts(null, as_of);
    return jsonb_build_object('message_rows', message_rows, 'activity_rows', activity_rows,
                              'renewal_rows', renewal_rows, 'renewal_due_days', null);
  end if;

  -- The cohorts of cases changed since; last touches on older days are the nightly pass's.
  select * into changes from private.analytics_changes(since, null);
  renewal_rows := private.compute_renewal_facts(changes.renewal_due_days, as_of);
  return jsonb_build_object('message_rows', message_rows, 'activity_rows', activity_rows,
                            'renewal_rows', renewal_rows,
                            'renewal_due_days', cardinality(changes.renewal_due_days));
end
$$;
comment on function private.refresh_analytics_window(date, date, timestamptz, date, timestamptz) is
  'The work of a refresh: message and latency facts of the IST days from_day..to_day (hours '
  'for the last 8 days), activity facts of activity_from..to_day, then the renewal cohorts of '
  'cases changed since `since` (all when since is null). Moved agents and nodes are the '
  'marked days'' (private.recount_marked_analytics). Refresh helper; the caller holds the lock.';

revoke execute on function
  private.rollup_node_facts(date[], date[], timestamptz),
  private.restate_moved_agents(timestamptz)
  from public;
