-- Reminders carry a tracked payment link, and a customer who opened it lately is not nagged
-- (issue 9, "Engaged customers are not nagged"; the links themselves: the previous migration).
-- * private.run_reminder_cadence (the whole function from 20261129165352, changed in two places):
--   the payment_link variable is private.tracked_link(case, short_url, 'payment_link',
--   expire_by), the short redirect of ours that counts the click, instead of Razorpay's
--   short_url; and a case with a click on any of its tracked links within
--   CADENCE_LINK_OPENED_HOURS (and not after as_of) is engaged: skipped, like a payment in
--   progress or a recent reply. The click check is one more semi-join on link_clicks
--   (case_id, clicked_at); tracked_link is called once per message that carries a link, in the
--   final projection, not inside the joins over the book.
-- * private.queue_payment_link_reminder (from 20261129145355, changed in one place): the autopay
--   fallback's "pay with this link" reminder carries the same tracked link, so opening it counts
--   too and the cadence sees it.
-- Other producers of a payment link are not reminders and keep Razorpay's URL: the desk's
-- payment-link answer (the agent sends or reads it themselves) and the payment API.

create or replace function private.run_reminder_cadence(as_of timestamptz default now())
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
  link_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_LINK_OPENED_HOURS') #>> '{}')::integer, 24));
  bounce_window interval := make_interval(days => coalesce(
    (private.setting('CADENCE_BOUNCE_LOOKBACK_DAYS') #>> '{}')::integer, 30));
  task_min bigint := coalesce((private.setting('CALL_TASK_MIN_PREMIUM_PAISE') #>> '{}')::bigint, 5000000);
  requests jsonb;
  reasons jsonb;
  created_ids uuid[];
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
                         and ww.last_inbound_at > as_of - reply_window)
           -- A tracked link of the case (the payment link of an earlier reminder) opened lately.
           or exists (select 1 from public.link_clicks lc
                       where lc.case_id = l.case_id
                         and lc.clicked_at > as_of - link_window and lc.clicked_at <= as_of) as engaged
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
           -- What the request needs, carried along so that nothing below joins two CTEs (the
           -- planner, estimating a handful of rows for each, nested-looped them: quadratic).
           d.customer_id, d.purpose, d.template_code, d.policy_number, d.case_number,
           d.product_line, d.due_date, d.premium, d.grace_end, d.ncb_percent,
           cu.full_name as customer_name,
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
    -- The channels refused before the chosen one (all of them when none was allowed): a join
    -- and a group, not a subquery per case over the materialised candidates.
    select ch.case_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
           ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
           ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name,
           string_agg(format('%s: %s', c.channel, c.refusal), ', ' order by c.rank)
             filter (where c.refusal is not null and (ch.refusal is not null or c.rank < ch.rank))
             as refused
      from chosen ch
      join candidates c on c.case_id = ch.case_id
     group by ch.case_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
              ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
              ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name
  ),
  wanted as (
    select jsonb_build_object(
             'customer_id', e.customer_id, 'case_id', e.case_id, 'channel', e.channel,
             'purpose', e.purpose, 'template_code', e.template_code, 'priority', 5,
             'idempotency_key', format('cadence:%s:%s', e.case_id, e.rule_id),
             'variables', jsonb_strip_nulls(jsonb_build_object(
               'customer_name', e.customer_name,
               'policy_number', e.policy_number,
               'case_number', e.case_number,
               'product_line', e.product_line,
               'expiry_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'due_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'premium', private.format_inr(e.premium),
               'grace_end', to_char(e.grace_end, 'FMDD Mon YYYY'),
               'ncb_percent', e.ncb_percent::text,
               'ncb_deadline', to_char(e.due_date + ncb_days, 'FMDD Mon YYYY'),
               -- Our tracked redirect to it, so that opening it counts (one call per
               -- message that carries a link; the same URL for every message of the case).
               'payment_link', case when pl.short_url is not null then
                                 private.tracked_link(e.case_id, pl.short_url, 'payment_link',
                                                      pl.expire_by)
                               end))) as request,
           jsonb_build_object(
             'key', format('cadence:%s:%s', e.case_id, e.rule_id),
             'reason', case
                         when e.refusal is not null then format('none_allowed (%s)', e.refused)
                         when e.refused is null then
                           case when e.preferred then 'preferred_channel' else 'first_choice' end
                         else format('first_allowed (%s)', e.refused)
                       end) as reason
      from explained e
      -- The case's open payment link, if any: the newest still payable.
      left join lateral (
        select p.short_url, p.expire_by from public.payment_links p
         where p.case_id = e.case_id and p.short_url is not null
           and p.status in ('created', 'partially_paid') and p.expire_by > as_of
         order by p.created_at desc
         limit 1
      ) pl on true
  )
  select (select jsonb_agg(w.request) from wanted w),
         (select jsonb_object_agg(w.reason ->> 'key', w.reason ->> 'reason') from wanted w),
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

  -- By id from an array, not a join with the gate's answer: a join the planner nested-looped
  -- over a table whose statistics did not yet count today's messages.
  select coalesce(array_agg(s.message_id), '{}') into created_ids
    from jsonb_to_recordset(results) as s (message_id uuid, created boolean)
   where s.created;
  update public.messages m
     set choice_reason = reasons ->> m.idempotency_key
   where m.id = any (created_ids) and reasons ? m.idempotency_key;

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
  'applies_until holds; engaged customers (payment in progress, a reply, a tracked link opened '
  'within CADENCE_LINK_OPENED_HOURS) left for another day; the channel chosen as the comment on '
  'messages.choice_reason says, all messages in one call of the gate; {{payment_link}} is the '
  'tracked redirect to the case''s open payment link (private.tracked_link). Returns a row per '
  'outcome: queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the '
  'gate), duplicate (already queued by a concurrent run), skipped_engaged, no_channel (no channel '
  'with a template and no recent bounce), tasks_opened. Security definer: a job.';

create or replace function private.queue_payment_link_reminder(payment_link_id uuid, as_of timestamptz default now())
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  lnk public.payment_links;
  due date;
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  queued uuid;
begin
  if payment_link_id is null or as_of is null or not isfinite(as_of) then
    raise exception 'a link reminder needs the link and a finite as_of' using errcode = '22023';
  end if;
  select pl.* into lnk from public.payment_links pl where pl.id = queue_payment_link_reminder.payment_link_id;
  if not found then
    raise exception 'no payment link %', payment_link_id using errcode = 'P0002';
  end if;
  if lnk.short_url is null or lnk.status not in ('created', 'partially_paid') then
    raise exception 'payment link % cannot be sent: it is %', lnk.id,
      case when lnk.short_url is null then 'not created at Razorpay yet' else lnk.status end
      using errcode = '22023';
  end if;
  select coalesce(o.due_date, c.due_date) into due
    from public.renewal_cases c
    left join public.outstanding_amounts o on o.id = lnk.outstanding_amount_id
   where c.id = lnk.case_id;
  queued := private.queue_case_message(
    lnk.case_id, 'payment_link_reminder', 'link_reminder:' || lnk.id,
    jsonb_build_object('amount_due', private.format_inr(lnk.amount - lnk.amount_paid),
                       'due_date', to_char(due, 'DD Mon YYYY'),
                       'payment_link', private.tracked_link(lnk.case_id, lnk.short_url,
                                                            'payment_link', lnk.expire_by)),
    as_of);
  if queued is not null then
    update public.autopay_mandates m set fallback_reminded_at = as_of
     where m.fallback_link_id = lnk.id and m.fallback_reminded_at is null;
  end if;
  return queued;
end;
$$;

comment on function private.queue_payment_link_reminder(uuid, timestamptz) is
  'Queues payment_link_reminder carrying the link ({{payment_link}} = our tracked redirect to its '
  'short_url, private.tracked_link), '
  '{{amount_due}} what is left to pay, {{due_date}} the installment''s or case''s due date) '
  'through the gate, once per link (key link_reminder:<link id>), and marks the autopay fallback '
  'that opened the link reminded. Returns the message id (null when no template could be used: '
  'a warning; the fallback is claimed again). 22023 when the link is not created at Razorpay yet '
  'or no longer payable; P0002 unknown link. Security definer: the reconciliation runner''s.';
