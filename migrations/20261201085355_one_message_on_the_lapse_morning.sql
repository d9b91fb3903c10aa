-- Issue 9's sixth review: on the morning after a motor or home case lapses, the customer got the
-- lapse notice (event:<case>:lapsed, which says what the lapse means: the NCB deadline, the
-- re-inspection) and the ladder's +1 step (NCB at risk, renewal expired), saying much the same.
-- A step after expiry now waits a day when the case's lapse notice was queued in the 24 hours
-- before the run (counted as after_lapse_notice; the case is visited again the next day).
--
-- Restated: private.run_reminder_cadence (20261201083925), with the lapse notice looked for in
-- `due` and the new outcome.

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
  requests private.gate_request[];
  queued bigint;
  blocked bigint;
  duplicates bigint;
  -- The messages the frequency cap held back (blocked), to free their steps.
  capped uuid[];
  engaged bigint;
  -- Post-expiry steps waiting a day after the case's lapse notice.
  after_notice bigint;
  no_channel bigint;
  opened bigint;
  ladder_fingerprint text;
  last_run_day date;
  -- This run's day comes before the last run's: an earlier day replayed.
  walked_back boolean;
  -- The last day of any ladder, in days after expiry: a lapsed case is done with after it.
  ladder_end integer;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'run_reminder_cadence needs a finite as_of' using errcode = '22023';
  end if;
  today := private.business_date(as_of);
  -- One run at a time: a second waits, then finds the first one's visits done.
  perform pg_advisory_xact_lock(hashtext('py360.run_reminder_cadence'));
  ladder_fingerprint := md5(concat_ws('|',
    (select string_agg(r::text, ';' order by r.id) from public.reminder_rules r),
    private.setting('NCB_RETENTION_DAYS')::text, private.setting('CALL_TASK_MIN_PREMIUM_PAISE')::text));
  select s.last_day into last_run_day
    from private.cadence_state s where s.fingerprint = ladder_fingerprint;
  -- Whatever ladder the runs had.
  walked_back := coalesce((select s.latest_day > today from private.cadence_state s), false);
  ladder_end := coalesce((select max(r.offset_days) from public.reminder_rules r where r.active), 0);
  if last_run_day is null or last_run_day > today then
    -- Another ladder or settings (or no run yet, or a day before the last): visit every open case.
    delete from private.cadence_next_visits;
    insert into private.cadence_next_visits (case_id, visit_on)
    select c.id, '-infinity' from public.renewal_cases c
     where c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
        or (c.stage = 'lapsed' and c.due_date + ladder_end >= today);
    analyze private.cadence_next_visits;
  end if;
  insert into private.cadence_state as s (last_day, latest_day, fingerprint)
  values (today, today, ladder_fingerprint)
  on conflict (id) do update
    set last_day = excluded.last_day, latest_day = greatest(s.latest_day, excluded.latest_day),
        fingerprint = excluded.fingerprint;
  -- A bad LINK_BASE_URL must not cost every customer their reminder: the links are left out
  -- (a template that needs one is blocked as missing_variables, visibly) and the log says why.
  links_ok := coalesce(link_base, 'http://') ~* '^https?://[!-~]+$';
  if not links_ok then
    raise warning 'LINK_BASE_URL is not an http(s) URL (%): reminders go without payment links',
      left(link_base, 80);
  end if;

  with visiting as materialized (
    -- The cases whose visit day has come, with the row version read (see moved, below).
    select v.case_id, v.xmin as version from private.cadence_next_visits v where v.visit_on <= today
  ),
  open_cases as materialized (
    select c.*
      from visiting v
     cross join lateral (
       -- Each visited case and its policy by their keys (`offset 0` keeps the probes per case:
       -- joined, the planner hashed every case of the book with every policy, 2.4 s for a
       -- regular day's 20,000 visits). The case is share-locked: a desk write to it (re-dated,
       -- closed, handed over) waits for this run and then cancels, closes or moves what the run
       -- queued or opened; one that came first is waited for and read here, as committed.
       select c.id as case_id, c.policy_id, c.customer_id, c.assignee_id, c.case_number, c.due_date,
              c.grace_end, c.stage, p.product_line, p.policy_number, p.premium, p.ncb_percent
         from public.renewal_cases c
         join public.policies p on p.id = c.policy_id
        where c.id = v.case_id
          and c.stage not in ('renewed', 'lost', 'not_taken')
          -- A lapsed case hears its ladder's steps after expiry, unless it was renewed after all,
          -- until the ladder's last day (as the visits are chosen above): a visit planned by a
          -- replayed earlier day sends no step whose day has long gone.
          and (c.stage <> 'lapsed'
               or (c.due_date + ladder_end >= today
                   and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id)))
       offset 0
       for share of c
     ) c
  ),
  latest as (
    -- Per case and kind, the latest step whose day has come.
    select distinct on (o.case_id, r.kind)
           o.*, r.id as rule_id, r.kind, r.offset_days, r.channels, r.template_code, r.purpose,
           r.applies_until, r.min_premium, r.sla_hours
      from open_cases o
      join public.reminder_rules r
        on r.product_line = o.product_line and r.active and o.due_date + r.offset_days <= today
       and (o.stage <> 'lapsed' or r.offset_days > 0)
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
           -- The customer wrote to us lately, on any channel: one probe of the table's key.
           or exists (select 1 from private.customer_last_replies lr
                       where lr.customer_id = l.customer_id
                         and lr.last_reply_at > as_of - reply_window
                         and lr.last_reply_at <= as_of)
           -- A tracked link of the case (the payment link of an earlier reminder) opened lately.
           or exists (select 1 from public.link_clicks lc
                       where lc.case_id = l.case_id
                         and lc.clicked_at > as_of - link_window and lc.clicked_at <= as_of) as engaged,
           -- A step after expiry, on the day the case's lapse notice went (it says what the lapse
           -- means, as the step would): it waits a day, so that the morning brings one message.
           case when l.kind = 'message' and l.offset_days > 0 and l.stage = 'lapsed' then exists (
             select 1 from public.messages n
              where n.idempotency_key = format('event:%s:lapsed', l.case_id)
                and n.status not in ('blocked', 'cancelled')
                and n.queued_at > as_of - interval '24 hours' and n.queued_at <= as_of)
           else false end as after_notice
      from latest l
     where (l.applies_until is null
            or (l.applies_until = 'grace_end' and today <= l.grace_end)
            or (l.applies_until = 'ncb_deadline' and today <= l.due_date + ncb_days
                and l.ncb_percent > 0))
       and case l.kind
             when 'message' then not exists (
               select 1 from public.messages m
                where m.idempotency_key = format('cadence:%s:%s', l.policy_id, l.rule_id))
             else l.premium >= coalesce(l.min_premium, task_min)
                  and not exists (select 1 from public.tasks t
                                   where t.case_id = l.case_id and t.reminder_rule_id = l.rule_id)
           end
       -- A replayed earlier day: not a step the case's ladder has already moved past.
       and not (walked_back and exists (
             select 1 from public.reminder_rules r
              where r.product_line = l.product_line and r.kind = l.kind
                and r.offset_days > l.offset_days
                and case l.kind
                      when 'message' then exists (
                        select 1 from public.messages m
                         where m.idempotency_key = format('cadence:%s:%s', l.policy_id, r.id))
                      else exists (select 1 from public.tasks t
                                    where t.case_id = l.case_id and t.reminder_rule_id = r.id)
                    end))
  ),
  new_tasks as (
    -- Its case share-locked above: a desk write closing it or handing it over waits for this run,
    -- then its _860_follow_tasks closes or moves the task.
    insert into public.tasks (case_id, reminder_rule_id, assignee_id, kind, due_at, sla_hours, sla_due_at)
    select d.case_id, d.rule_id, d.assignee_id, 'call', as_of, d.sla_hours,
           as_of + make_interval(hours => d.sla_hours)
      from due d
     where d.kind = 'task' and not d.engaged
    on conflict (case_id, reminder_rule_id) do nothing
    returning 1
  ),
  reachable as materialized (
    -- Each channel of each message step due, with what the request needs from its customer
    -- (read once here), carried along so that nothing below joins two CTEs (the planner,
    -- estimating a handful of rows for each, nested-looped them: quadratic).
    select d.case_id, d.policy_id, d.rule_id, ch.channel, ch.ord,
           d.customer_id, d.purpose, d.template_code, d.policy_number, d.case_number,
           d.product_line, d.due_date, d.premium, d.grace_end, d.ncb_percent,
           cu.full_name as customer_name, cu.language,
           ch.channel = cu.preferred_channel as preferred,
           case ch.channel when 'email' then lower(cu.email) else cu.phone end as recipient
      from due d
      join public.customers cu on cu.id = d.customer_id
      cross join lateral unnest(d.channels) with ordinality as ch (channel, ord)
     where d.kind = 'message' and not d.engaged and not d.after_notice
  ),
  variants as materialized (
    -- The variant the gate will pick, once per template, channel and customer language (not
    -- per case): the customer's language, else English, else any.
    select distinct on (w.template_code, w.channel, w.language)
           w.template_code as code, w.channel, w.language, t.id, t.purpose
      from (select distinct r.template_code, r.channel, r.language from reachable r) w
      join public.templates t on t.code = w.template_code and t.channel = w.channel and t.active
     order by w.template_code, w.channel, w.language,
              t.language = w.language desc, t.language = 'en' desc, t.language
  ),
  offered as materialized (
    select r.case_id, r.policy_id, r.rule_id, r.channel, r.ord, r.customer_id, r.purpose, r.template_code,
           r.policy_number, r.case_number, r.product_line, r.due_date, r.premium, r.grace_end,
           r.ncb_percent, r.customer_name, r.preferred, r.recipient,
           row_number() over (partition by r.case_id order by r.preferred desc, r.ord) as rank,
           row_number() over () as qn,
           v.id as template_id,
           v.purpose as template_purpose,
           case
             when v.id is null then 'no_template'
             when exists (select 1 from public.messages m
                           where m.customer_id = r.customer_id and m.channel = r.channel
                             and m.status = 'undeliverable' and m.recipient = r.recipient
                             and coalesce(m.failed_at, m.updated_at) > as_of - bounce_window)
               then 'recent_undeliverable'
           end as prior_refusal
      from reachable r
      left join variants v
        on v.code = r.template_code and v.channel = r.channel
       and v.language is not distinct from r.language
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
    select ch.case_id, ch.policy_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
           ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
           ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name,
           string_agg(format('%s: %s', c.channel, c.refusal), ', ' order by c.rank)
             filter (where c.refusal is not null and (ch.refusal is not null or c.rank < ch.rank))
             as refused
      from chosen ch
      join candidates c on c.case_id = ch.case_id
     group by ch.case_id, ch.policy_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
              ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
              ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name
  ),
  wanted as (
    -- The gate's request as a row (n, customer_id, case_id, channel, purpose, template_code,
    -- language, variables, body, subject, priority, idempotency_key, not_before, created_by,
    -- choice_reason, campaign_id): no JSON to build here and read back there.
    select row(null, e.customer_id, e.case_id, e.channel, e.purpose, e.template_code, null,
             jsonb_strip_nulls(jsonb_build_object(
               'customer_name', e.customer_name,
               'policy_number', e.policy_number,
               'case_number', e.case_number,
               'product_line', e.product_line,
               'expiry_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'due_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'premium', private.format_inr(e.premium),
               -- What is still owed on the case (what a grace reminder asks for).
               'amount_due', private.format_inr(owed.amount),
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
             null, null, 5, format('cadence:%s:%s', e.policy_id, e.rule_id), null, null,
             -- Why this channel, written on the message by the gate.
             case
               when e.refusal is not null then format('none_allowed (%s)', e.refused)
               when e.refused is null then
                 case when e.preferred then 'preferred_channel' else 'first_choice' end
               else format('first_allowed (%s)', e.refused)
             end,
             null)::private.gate_request as request
      from explained e
      -- public.case_outstanding's sum, in the statement.
      cross join lateral (
        select coalesce(sum(o.amount - o.amount_paid), 0)::bigint as amount
          from public.outstanding_amounts o
         where o.case_id = e.case_id and o.status in ('pending', 'overdue')
      ) owed
      -- The case's open payment link, if any: the newest still payable.
      left join lateral (
        select p.short_url, p.expire_by from public.payment_links p
         where p.case_id = e.case_id and p.short_url is not null
           and p.status in ('created', 'partially_paid') and p.expire_by > as_of
         order by p.created_at desc
         limit 1
      ) pl on true
  ),
  next_visits as (
    -- Per case visited: the same day again while a step is still owed (engaged, or no channel
    -- took it), else the day of its ladder's next step; none when no step is left.
    select x.case_id, min(x.visit_on) as visit_on
      from (select d.case_id, today as visit_on from due d where d.engaged or d.after_notice
            union all
            select o.case_id, today
              from (select d.case_id from due d
                     where d.kind = 'message' and not d.engaged and not d.after_notice
                    except
                    select ch.case_id from chosen ch) o
            union all
            select o.case_id, o.due_date + r.offset_days
              from open_cases o
              join public.reminder_rules r
                on r.product_line = o.product_line and r.active
               and o.due_date + r.offset_days > today) x
     group by x.case_id
  ),
  moved as (
    -- Only rows no other transaction changed since they were read: a case re-dated meanwhile
    -- keeps its -infinity (an update re-checks the newer row version, whose xmin differs).
    update private.cadence_next_visits v
       set visit_on = n.visit_on
      from visiting w
      join next_visits n on n.case_id = w.case_id
     where v.case_id = w.case_id and v.xmin = w.version
  ),
  dropped as (
    -- Closed cases, and open ones with no step left.
    delete from private.cadence_next_visits v
     using visiting w
     where v.case_id = w.case_id and v.xmin = w.version
       and w.case_id not in (select n.case_id from next_visits n)
  )
  select (select array_agg(w.request) from wanted w),
         (select count(*) from due d where d.engaged),
         (select count(*) from due d where d.after_notice and not d.engaged),
         (select count(distinct c.case_id) from candidates c
           where not exists (select 1 from chosen ch where ch.case_id = c.case_id)),
         (select count(*) from new_tasks)
    into requests, engaged, after_notice, no_channel, opened;

  -- One call of the gate for every message.
  select count(*) filter (where e.created and e.status <> 'blocked'),
         count(*) filter (where e.created and e.status = 'blocked'),
         count(*) filter (where not e.created),
         array_agg(e.message_id)
           filter (where e.created and e.status = 'blocked' and e.blocked_reason = 'frequency_cap')
    into queued, blocked, duplicates, capped
    from private.enqueue_message_batch(coalesce(requests, '{}'), as_of) e;
  -- A step the frequency cap held back stays on the outbox as blocked (frequency_cap), its key
  -- set aside so that the step is free again, and its case is visited again tomorrow, when the
  -- cap may have room: the cap defers a reminder, as a step no channel could take waits for
  -- another day, rather than spending its step.
  if capped is not null then
    with freed as (
      update public.messages m
         set idempotency_key = format('%s:capped:%s', m.idempotency_key, m.id)
       where m.id = any (capped)
      returning m.case_id
    )
    insert into private.cadence_next_visits as v (case_id, visit_on)
    select distinct f.case_id, today + 1 from freed f
    on conflict (case_id) do update set visit_on = least(v.visit_on, excluded.visit_on);
  end if;

  return query
  select o.outcome,
         case o.outcome
           when 'queued' then queued
           when 'blocked' then blocked
           when 'duplicate' then duplicates
           when 'skipped_engaged' then engaged
           when 'after_lapse_notice' then after_notice
           when 'no_channel' then no_channel
           else opened
         end
    from unnest(array['queued', 'blocked', 'duplicate', 'skipped_engaged', 'after_lapse_notice',
                      'no_channel',
                      'tasks_opened']) as o (outcome);
end;
$$;
