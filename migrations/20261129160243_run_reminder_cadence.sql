-- The daily reminder cadence and the hourly task escalation (issue 9, "Cadence" and its agent
-- tasks), both on pg_cron with `as_of` for tests.
--
-- private.run_reminder_cadence(as_of): for every open case, the latest step of its product
-- line's ladder whose day (IST business date of as_of >= due_date + offset_days) has come, per
-- kind (message, task). Only the latest: a day missed is caught up with that step alone, not a
-- burst of the steps missed; a step whose day came but whose latest successor is already due is
-- never sent. An after-expiry step applies only while its applies_until holds (grace_end: until
-- the case's grace end; ncb_deadline: until expiry + NCB_RETENTION_DAYS, and only for a policy
-- with a no-claim bonus). A step is done once: its message carries the idempotency key
-- cadence:<case>:<step> (the gate dedupes), its task is unique per case and step.
-- Engaged customers are left alone that day (counted skipped_engaged, tried again the next):
-- a payment order created or attempted, or a payment link partly paid, within
-- CADENCE_PAYMENT_IN_PROGRESS_HOURS; a WhatsApp message from the customer within
-- CADENCE_RECENT_REPLY_HOURS. Link clicks are not tracked yet (the next slice adds the redirect).
-- The channel: the customer's preferred channel first when the step lists it, then the step's
-- order; the first with a template of the step's code whose message the gate would let through
-- now (private.message_block_reason) and on which nothing to the customer was undeliverable in
-- CADENCE_BOUNCE_LOOKBACK_DAYS. When none may, the first refused by the gate only (not by a
-- missing template or a bounce) is asked, so the gate records the block and its reason; when
-- every channel lacks a template or bounced, nothing is queued (no_channel, tried again the next
-- day). Why is written to messages.choice_reason. All messages go in one call of the gate.
--
-- private.escalate_overdue_tasks(as_of): a task not done past its sla_due_at goes to the
-- nearest active manager above its current holder (first: the assignee's own node or above,
-- nearest first; then strictly above the node of the manager it was escalated to), its SLA
-- restarting; a task with nobody above stays where it is (at_top).

create function private.run_reminder_cadence(as_of timestamptz default now())
returns table (outcome text, cases bigint)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  today date;
  ncb_days integer := coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90);
  payment_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_PAYMENT_IN_PROGRESS_HOURS') #>> '{}')::integer, 24));
  reply_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_RECENT_REPLY_HOURS') #>> '{}')::integer, 24));
  bounce_window interval := make_interval(days => coalesce(
    (private.setting('CADENCE_BOUNCE_LOOKBACK_DAYS') #>> '{}')::integer, 30));
  task_min bigint := coalesce((private.setting('CALL_TASK_MIN_PREMIUM_PAISE') #>> '{}')::bigint, 5000000);
  requests jsonb;
  reasons jsonb;
  results jsonb;
  engaged bigint;
  no_channel bigint;
  opened bigint;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'run_reminder_cadence needs a finite as_of' using errcode = '22023';
  end if;
  today := private.business_date(as_of);

  with open_cases as (
    select c.id as case_id, c.customer_id, c.assignee_id, c.case_number, c.due_date, c.grace_end,
           p.product_line, p.policy_number, p.premium, p.ncb_percent
      from public.renewal_cases c
      join public.policies p on p.id = c.policy_id
     where c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
  ),
  latest as (
    -- Per case and kind, the latest step whose day has come.
    select distinct on (o.case_id, r.kind)
           o.*, r.id as rule_id, r.kind, r.offset_days, r.channels, r.template_code, r.purpose,
           r.applies_until, r.min_premium, r.sla_hours
      from open_cases o
      join public.reminder_rules r
        on r.product_line = o.product_line and r.active and o.due_date + r.offset_days <= today
     order by o.case_id, r.kind, r.offset_days desc
  ),
  due as (
    select l.*,
           exists (select 1 from public.payment_orders po
                    where po.case_id = l.case_id and po.status in ('creating', 'created', 'attempted')
                      and po.created_at > as_of - payment_window)
           or exists (select 1 from public.payment_links pl
                       where pl.case_id = l.case_id and pl.status = 'partially_paid'
                         and pl.updated_at > as_of - payment_window)
           or exists (select 1 from public.whatsapp_windows ww
                       where ww.customer_id = l.customer_id
                         and ww.last_inbound_at > as_of - reply_window) as engaged
      from latest l
     where (l.applies_until is null
            or (l.applies_until = 'grace_end' and today <= l.grace_end)
            or (l.applies_until = 'ncb_deadline' and today <= l.due_date + ncb_days
                and l.ncb_percent > 0))
       and case l.kind
             when 'message' then not exists (
               select 1 from public.messages m
                where m.idempotency_key = format('cadence:%s:%s', l.case_id, l.rule_id))
             else l.premium >= coalesce(l.min_premium, task_min)
                  and not exists (select 1 from public.tasks t
                                   where t.case_id = l.case_id and t.reminder_rule_id = l.rule_id)
           end
  ),
  new_tasks as (
    insert into public.tasks (case_id, reminder_rule_id, assignee_id, kind, due_at, sla_hours, sla_due_at)
    select d.case_id, d.rule_id, d.assignee_id, 'call', as_of, d.sla_hours,
           as_of + make_interval(hours => d.sla_hours)
      from due d
     where d.kind = 'task' and not d.engaged
    on conflict (case_id, reminder_rule_id) do nothing
    returning 1
  ),
  candidates as (
    select d.case_id, d.rule_id, ch.channel, ch.ord,
           ch.channel = cu.preferred_channel as preferred,
           row_number() over (partition by d.case_id
                              order by ch.channel = cu.preferred_channel desc, ch.ord) as rank,
           case
             when t.id is null then 'no_template'
             when exists (select 1 from public.messages m
                           where m.customer_id = d.customer_id and m.channel = ch.channel
                             and m.status = 'undeliverable'
                             and coalesce(m.failed_at, m.updated_at) > as_of - bounce_window)
               then 'recent_undeliverable'
             else private.message_block_reason(
                    d.customer_id, ch.channel, t.purpose,
                    case ch.channel when 'email' then lower(cu.email) else cu.phone end,
                    t.id, as_of)
           end as refusal
      from due d
      join public.customers cu on cu.id = d.customer_id
      cross join lateral unnest(d.channels) with ordinality as ch (channel, ord)
      -- The variant the gate will pick: the customer's language, else English, else any.
      left join lateral (
        select tt.id, tt.purpose from public.templates tt
         where tt.code = d.template_code and tt.channel = ch.channel and tt.active
         order by tt.language = cu.language desc, tt.language = 'en' desc, tt.language
         limit 1
      ) t on true
     where d.kind = 'message' and not d.engaged
  ),
  chosen as (
    select distinct on (c.case_id) c.*
      from candidates c
     where c.refusal is null or c.refusal not in ('no_template', 'recent_undeliverable')
     order by c.case_id, c.refusal is null desc, c.rank
  ),
  explained as (
    select ch.*,
           (select string_agg(format('%s: %s', c.channel, c.refusal), ', ' order by c.rank)
              from candidates c
             where c.case_id = ch.case_id and c.refusal is not null
               and (ch.refusal is not null or c.rank < ch.rank)) as refused
      from chosen ch
  ),
  wanted as (
    select jsonb_build_object(
             'customer_id', d.customer_id, 'case_id', d.case_id, 'channel', e.channel,
             'purpose', d.purpose, 'template_code', d.template_code, 'priority', 5,
             'idempotency_key', format('cadence:%s:%s', d.case_id, d.rule_id),
             'variables', jsonb_strip_nulls(jsonb_build_object(
               'customer_name', cu.full_name,
               'policy_number', d.policy_number,
               'case_number', d.case_number,
               'product_line', d.product_line,
               'expiry_date', to_char(d.due_date, 'FMDD Mon YYYY'),
               'due_date', to_char(d.due_date, 'FMDD Mon YYYY'),
               'premium', private.format_inr(d.premium),
               'grace_end', to_char(d.grace_end, 'FMDD Mon YYYY'),
               'ncb_percent', d.ncb_percent::text,
               'ncb_deadline', to_char(d.due_date + ncb_days, 'FMDD Mon YYYY'),
               'payment_link', (select pl.short_url from public.payment_links pl
                                 where pl.case_id = d.case_id and pl.short_url is not null
                                   and pl.status in ('created', 'partially_paid')
                                   and pl.expire_by > as_of
                                 order by pl.created_at desc limit 1)))) as request,
           jsonb_build_object(
             'key', format('cadence:%s:%s', d.case_id, d.rule_id),
             'reason', case
                         when e.refusal is not null then format('none_allowed (%s)', e.refused)
                         when e.refused is null then
                           case when e.preferred then 'preferred_channel' else 'first_choice' end
                         else format('first_allowed (%s)', e.refused)
                       end) as reason
      from explained e
      join due d on d.case_id = e.case_id and d.kind = 'message'
      join public.customers cu on cu.id = d.customer_id
  )
  select (select jsonb_agg(w.request) from wanted w),
         (select jsonb_agg(w.reason) from wanted w),
         (select count(*) from due d where d.engaged),
         (select count(distinct c.case_id) from candidates c
           where not exists (select 1 from chosen ch where ch.case_id = c.case_id)),
         (select count(*) from new_tasks)
    into requests, reasons, engaged, no_channel, opened;

  -- One call of the gate for every message; then the reasons, on the rows it created (a
  -- separate statement: rows a function inserts are not visible to the statement calling it).
  select coalesce(jsonb_agg(jsonb_build_object('message_id', e.message_id,
                                               'idempotency_key', e.idempotency_key,
                                               'status', e.status, 'created', e.created)), '[]')
    into results
    from private.enqueue_messages(coalesce(requests, '[]'::jsonb), as_of) e;

  update public.messages m
     set choice_reason = x.reason
    from jsonb_to_recordset(results) as s (message_id uuid, idempotency_key text, created boolean)
    join jsonb_to_recordset(coalesce(reasons, '[]'::jsonb)) as x (key text, reason text)
      on x.key = s.idempotency_key
   where m.id = s.message_id and s.created;

  return query
  with counted as (
    select case when not s.created then 'duplicate'
                when s.status = 'blocked' then 'blocked'
                else 'queued' end as outcome,
           count(*) as n
      from jsonb_to_recordset(results) as s (status text, created boolean)
     group by 1
  )
  select o.outcome,
         case o.outcome
           when 'skipped_engaged' then engaged
           when 'no_channel' then no_channel
           when 'tasks_opened' then opened
           else coalesce((select c.n from counted c where c.outcome = o.outcome), 0)
         end
    from unnest(array['queued', 'blocked', 'duplicate', 'skipped_engaged', 'no_channel',
                      'tasks_opened']) as o (outcome);
end;
$$;

comment on function private.run_reminder_cadence(timestamptz) is
  'The daily reminder cadence (pg_cron; as_of moves the clock in tests). For every open case, '
  'the latest due step of its ladder (public.reminder_rules) per kind, once (message key '
  'cadence:<case>:<step>, task unique per case and step); after-expiry steps while their '
  'applies_until holds; engaged customers (payment in progress, a reply) left for another day; '
  'the channel chosen as the comment on messages.choice_reason says, all messages in one call of '
  'the gate. Returns a row per outcome: queued (accepted by the gate, maybe deferred), blocked '
  '(recorded blocked by the gate), duplicate (already queued by a concurrent run), '
  'skipped_engaged, no_channel (no channel with a template and no recent bounce), tasks_opened. '
  'Security definer: a job.';

create function private.escalate_overdue_tasks(as_of timestamptz default now())
returns table (outcome text, tasks bigint)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  escalated bigint;
  at_top bigint;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'escalate_overdue_tasks needs a finite as_of' using errcode = '22023';
  end if;

  with overdue as (
    select t.id, t.sla_hours, t.escalation_level,
           coalesce(t.escalated_to, t.assignee_id) as holder
      from public.tasks t
     where t.status <> 'done' and t.sla_due_at <= as_of
     for update of t skip locked
  ),
  above as (
    select o.id, o.sla_hours, m.manager_id
      from overdue o
      join public.profiles hp on hp.id = o.holder
      join public.hierarchy_nodes hn on hn.id = hp.node_id
      left join lateral (
        -- The nearest active manager above the holder: at the holder's own node or above for
        -- an agent, strictly above for a manager.
        select p.id as manager_id
          from public.profiles p
          join public.hierarchy_nodes n on n.id = p.node_id
         where p.role = 'manager' and p.active and p.id <> o.holder
           and n.path operator(extensions.@>) hn.path
           and (hp.role <> 'manager' or n.id <> hn.id)
         order by extensions.nlevel(n.path) desc, p.created_at, p.id
         limit 1
      ) m on true
  ),
  moved as (
    update public.tasks t
       set escalation_level = t.escalation_level + 1,
           escalated_to = a.manager_id,
           escalated_at = as_of,
           sla_due_at = as_of + make_interval(hours => a.sla_hours)
      from above a
     where t.id = a.id and a.manager_id is not null
    returning t.id
  )
  select (select count(*) from moved),
         (select count(*) from overdue) - (select count(*) from above a where a.manager_id is not null)
    into escalated, at_top;

  return query values ('escalated', escalated), ('at_top', at_top);
end;
$$;

comment on function private.escalate_overdue_tasks(timestamptz) is
  'The hourly task escalation (pg_cron; as_of for tests). Every task not done past its '
  'sla_due_at goes to the nearest active manager above its current holder (the assignee''s own '
  'node or above first, then strictly above the node of the manager it was escalated to): '
  'escalation_level + 1, escalated_to, escalated_at = as_of, its SLA restarting (sla_hours); each '
  'change is in audit_log. Returns rows escalated and at_top (overdue with nobody above, or '
  'whose holder has no node). Security definer: a job.';

revoke execute on function private.run_reminder_cadence(timestamptz),
  private.escalate_overdue_tasks(timestamptz) from public;
grant execute on function private.run_reminder_cadence(timestamptz),
  private.escalate_overdue_tasks(timestamptz) to service_role;

-- 00:45 UTC (06:15 IST), after the daily renewal jobs (00:30 UTC) have opened, renewed and lapsed
-- cases; the gate defers anything inside quiet hours.
select cron.schedule('run-reminder-cadence', '45 0 * * *',
                     'select count(*) from private.run_reminder_cadence()');
-- Hourly.
select cron.schedule('escalate-overdue-tasks', '23 * * * *',
                     'select count(*) from private.escalate_overdue_tasks()');
