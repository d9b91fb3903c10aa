-- Grace reminders ask for what is owed (found by journey 4, tests/e2e/life_lapse.test.ts). The
-- cadence filled {{premium}} with the policy's yearly premium, and the life grace reminder said
-- "pay {{premium}} by then or the policy lapses": a monthly life customer who owed one ₹1,000
-- installment was told to pay ₹12,000 or lose the policy (half-yearly and quarterly likewise).
-- The case lapses when something is still owed at the grace end (private.advance_lapses), so
-- what saves it is the case's outstanding amount: the cadence now also fills {{amount_due}}
-- (public.case_outstanding: its pending and overdue installments, a known template variable),
-- and the seeded life_grace_end emails (English and Hindi) ask for {{amount_due}} where they
-- still read as seeded; a template an admin has reworded is left alone. {{premium}} keeps its
-- meaning (the yearly premium) for the templates that quote it.

create or replace function private.run_reminder_cadence(as_of timestamptz default now())
returns table (outcome text, cases bigint)
language plpgsql
security definer
set search_path = ''
set jit = off
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
  link_base text := private.setting('LINK_BASE_URL') #>> '{}';
  links_ok boolean;
  requests jsonb;
  results jsonb;
  engaged bigint;
  no_channel bigint;
  opened bigint;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'run_reminder_cadence needs a finite as_of' using errcode = '22023';
  end if;
  today := private.business_date(as_of);
  -- A bad LINK_BASE_URL must not cost every customer their reminder: the links are left out
  -- (a template that needs one is blocked as missing_variables, visibly) and the log says why.
  links_ok := coalesce(link_base, 'http://') ~* '^https?://[!-~]+$';
  if not links_ok then
    raise warning 'LINK_BASE_URL is not an http(s) URL (%): reminders go without payment links',
      left(link_base, 80);
  end if;

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
                      and po.created_at > as_of - payment_window and po.created_at <= as_of)
           or exists (select 1 from public.payment_links pl
                       where pl.case_id = l.case_id and pl.status = 'partially_paid'
                         and pl.updated_at > as_of - payment_window and pl.updated_at <= as_of)
           or exists (select 1 from public.whatsapp_windows ww
                       where ww.customer_id = l.customer_id
                         and ww.last_inbound_at > as_of - reply_window
                         and ww.last_inbound_at <= as_of)
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
  variants as materialized (
    -- The variant the gate will pick, once per template, channel and customer language (not
    -- per case): the customer's language, else English, else any.
    select distinct on (w.template_code, w.channel, w.language)
           w.template_code as code, w.channel, w.language, t.id, t.purpose
      from (select distinct d.template_code, ch.channel, cu.language
              from due d
              join public.customers cu on cu.id = d.customer_id
             cross join lateral unnest(d.channels) as ch (channel)
             where d.kind = 'message' and not d.engaged) w
      join public.templates t on t.code = w.template_code and t.channel = w.channel and t.active
     order by w.template_code, w.channel, w.language,
              t.language = w.language desc, t.language = 'en' desc, t.language
  ),
  offered as materialized (
    select d.case_id, d.rule_id, ch.channel, ch.ord,
           -- What the request needs, carried along so that nothing below joins two CTEs (the
           -- planner, estimating a handful of rows for each, nested-looped them: quadratic).
           d.customer_id, d.purpose, d.template_code, d.policy_number, d.case_number,
           d.product_line, d.due_date, d.premium, d.grace_end, d.ncb_percent,
           cu.full_name as customer_name,
           ch.channel = cu.preferred_channel as preferred,
           row_number() over (partition by d.case_id
                              order by ch.channel = cu.preferred_channel desc, ch.ord) as rank,
           row_number() over () as qn,
           v.id as template_id,
           v.purpose as template_purpose,
           case ch.channel when 'email' then lower(cu.email) else cu.phone end as recipient,
           case
             when v.id is null then 'no_template'
             when exists (select 1 from public.messages m
                           where m.customer_id = d.customer_id and m.channel = ch.channel
                             and m.status = 'undeliverable'
                             and coalesce(m.failed_at, m.updated_at) > as_of - bounce_window)
               then 'recent_undeliverable'
           end as prior_refusal
      from due d
      join public.customers cu on cu.id = d.customer_id
      cross join lateral unnest(d.channels) with ordinality as ch (channel, ord)
      left join variants v
        on v.code = d.template_code and v.channel = ch.channel
       and v.language is not distinct from cu.language
     where d.kind = 'message' and not d.engaged
  ),
  asked as materialized (
    -- The gate's rules for every channel still in the running, in one call.
    select b.n, b.reason
      from private.message_block_reasons((
             select array_agg(row(o.customer_id, o.channel, o.template_purpose, o.recipient,
                                  o.template_id)::private.send_question order by o.qn)
               from offered o where o.prior_refusal is null), as_of) b
  ),
  candidates as (
    select o.*, coalesce(o.prior_refusal, a.reason) as refusal
      from offered o
      left join (select row_number() over (order by x.qn) as n, x.qn
                   from offered x where x.prior_refusal is null) p on p.qn = o.qn
      left join asked a on a.n = p.n
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
               -- What is still owed on the case (what a grace reminder asks for).
               'amount_due', private.format_inr(public.case_outstanding(e.case_id)),
               'grace_end', to_char(e.grace_end, 'FMDD Mon YYYY'),
               'ncb_percent', e.ncb_percent::text,
               'ncb_deadline', to_char(e.due_date + ncb_days, 'FMDD Mon YYYY'),
               -- Our tracked redirect to it, so that opening it counts (one call per
               -- message that carries a link; the same URL for every message of the case).
               'payment_link', case when links_ok and pl.short_url ~* '^https?://[!-~]+$'
                                         and length(pl.short_url) <= 2048 then
                                 private.tracked_link(e.case_id, pl.short_url, 'payment_link',
                                                      pl.expire_by)
                               end)),
             -- Why this channel, written on the message by the gate.
             'choice_reason', case
                                when e.refusal is not null then format('none_allowed (%s)', e.refused)
                                when e.refused is null then
                                  case when e.preferred then 'preferred_channel' else 'first_choice' end
                                else format('first_allowed (%s)', e.refused)
                              end) as request
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
         (select count(*) from due d where d.engaged),
         (select count(distinct c.case_id) from candidates c
           where not exists (select 1 from chosen ch where ch.case_id = c.case_id)),
         (select count(*) from new_tasks)
    into requests, engaged, no_channel, opened;

  -- One call of the gate for every message, the reasons with them.
  select coalesce(jsonb_agg(jsonb_build_object('status', e.status, 'created', e.created)), '[]')
    into results
    from private.enqueue_messages(coalesce(requests, '[]'::jsonb), as_of) e;

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
  'tracked redirect to the case''s open payment link (private.tracked_link); {{premium}} is the '
  'yearly premium, {{amount_due}} what the case still owes (public.case_outstanding). Returns a '
  'row per outcome: queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the '
  'gate), duplicate (already queued by a concurrent run), skipped_engaged, no_channel (no channel '
  'with a template and no recent bounce), tasks_opened. Security definer: a job.';

-- The seeded life grace emails ask for the amount owed (only rows still worded as seeded).
update public.templates
   set body = 'Dear {{customer_name}}, the premium of your life policy {{policy_number}} was due on '
              '{{expiry_date}}. Your cover continues in the grace period until {{grace_end}}; pay '
              '{{amount_due}} by then or the policy lapses.'
 where code = 'life_grace_end' and channel = 'email' and language = 'en'
   and body = 'Dear {{customer_name}}, the premium of your life policy {{policy_number}} was due on '
              '{{expiry_date}}. Your cover continues in the grace period until {{grace_end}}; pay '
              '{{premium}} by then or the policy lapses.';

update public.templates
   set body = 'प्रिय {{customer_name}}, आपकी जीवन बीमा पॉलिसी {{policy_number}} का प्रीमियम {{expiry_date}} '
              'को देय था। ग्रेस अवधि में आपका बीमा {{grace_end}} तक जारी है; तब तक {{amount_due}} का भुगतान करें, '
              'अन्यथा पॉलिसी व्यपगत हो जाएगी।'
 where code = 'life_grace_end' and channel = 'email' and language = 'hi'
   and body = 'प्रिय {{customer_name}}, आपकी जीवन बीमा पॉलिसी {{policy_number}} का प्रीमियम {{expiry_date}} '
              'को देय था। ग्रेस अवधि में आपका बीमा {{grace_end}} तक जारी है; तब तक {{premium}} का भुगतान करें, '
              'अन्यथा पॉलिसी व्यपगत हो जाएगी।';
