-- The cadence without per-row lookups, and sturdier (issue 9). On a million policies a regular
-- day queued 18,693 messages in 20.5 s (busy cores) after the daily jobs: per message it probed
-- messages for a recent undeliverable one on every channel, picked the template variant by a
-- lateral query, and updated every new message a second time to write why its channel was
-- chosen. Now an index holds the (rare) undeliverable messages, the variants are picked once per
-- template, channel and language, and the gate writes choice_reason as it inserts (a request may
-- carry it). Also, from review:
-- * one bad payment link or a LINK_BASE_URL without its scheme raised inside the day's single
--   statement and cost every customer their reminder: such links are left out (a template that
--   needs one is blocked as missing_variables) and a bad base URL is a warning;
-- * a replay with an earlier as_of counted a WhatsApp reply, an order or a partial payment from
--   after as_of as engagement (link clicks were already cut at as_of): all are now.

create index messages_undeliverable_idx on public.messages (customer_id, channel)
  where status = 'undeliverable';

alter type private.gate_request add attribute choice_reason text;
comment on type private.gate_request is
  'One request of private.enqueue_messages, as read from its JSON: n is its position; '
  'choice_reason, when the producer gives one, is written on the message.';

create or replace function private.enqueue_messages(requests jsonb, as_of timestamptz default now())
returns table (
  message_id uuid,
  idempotency_key text,
  status public.message_status,
  blocked_reason text,
  deferred_reason text,
  next_attempt_at timestamptz,
  created boolean
)
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  caps jsonb := coalesce(private.setting('MESSAGE_FREQUENCY_CAPS'), '{}');
  rates jsonb := coalesce(private.setting('MESSAGE_RATES_PAISE'), '{}');
  inserted uuid[];
  unknown_templates text;
  unknown_customers text;
  batch private.gate_request[];
begin
  if requests is null or jsonb_typeof(requests) not in ('array', 'object') then
    raise exception 'enqueue_messages takes a JSON object or an array of them' using errcode = '22023';
  end if;
  if jsonb_typeof(requests) = 'object' then
    requests := jsonb_build_array(requests);
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  -- One row per key: a key repeated inside the batch is the same message.
  batch := array(
    select row(r.n, r.customer_id, r.case_id, r.channel, r.purpose, r.template_code, r.language,
               coalesce(r.variables, '{}'), r.body, r.subject, coalesce(r.priority, 5),
               r.idempotency_key, r.not_before, r.created_by, r.choice_reason)::private.gate_request
      from (
        select distinct on (x.idempotency_key) x.*
          from rows from (jsonb_to_recordset(requests) as (
                 customer_id uuid, case_id uuid, channel public.channel_type,
                 purpose public.consent_purpose, template_code text, language text,
                 variables jsonb, body text, subject text, priority smallint,
                 idempotency_key text, not_before timestamptz, created_by uuid,
                 choice_reason text))
               with ordinality as x (customer_id, case_id, channel, purpose, template_code,
                                     language, variables, body, subject, priority,
                                     idempotency_key, not_before, created_by, choice_reason, n)
         order by x.idempotency_key, x.n
      ) r);

  if exists (select 1 from unnest(batch) g
              where g.customer_id is null or g.channel is null or g.idempotency_key is null
                 or (g.template_code is null and (g.body is null or g.purpose is null))
                 or g.channel not in ('sms', 'email', 'whatsapp')
                 or jsonb_typeof(g.variables) <> 'object'
                 or g.priority not between 0 and 9) then
    raise exception 'each request needs customer_id, channel (sms, email or whatsapp), '
                    'idempotency_key, and a template_code or a body with a purpose; '
                    'variables an object; priority 0-9'
      using errcode = '22023';
  end if;
  select string_agg(distinct format('%s (%s)', g.template_code, g.channel), ', ')
    into unknown_templates
    from unnest(batch) g
   where g.template_code is not null
     and not exists (select 1 from public.templates t
                      where t.code = g.template_code and t.channel = g.channel and t.active);
  if unknown_templates is not null then
    raise exception 'no active template %', unknown_templates using errcode = '22023';
  end if;
  -- A request for a customer who does not exist is a producer's error (a key seen before
  -- returns its message whatever the rest of the request says).
  select string_agg(distinct g.customer_id::text, ', ') into unknown_customers
    from unnest(batch) g
   where not exists (select 1 from public.customers cu where cu.id = g.customer_id)
     and not exists (select 1 from public.messages m where m.idempotency_key = g.idempotency_key);
  if unknown_customers is not null then
    raise exception 'no such customer: %', unknown_customers using errcode = '22023';
  end if;

  with addressed as materialized (
    select g.*,
           cu.dnd,
           case g.channel when 'email' then lower(cu.email) else cu.phone end as recipient,
           coalesce(g.language, cu.language, 'en') as wanted_language
      from unnest(batch) g
      join public.customers cu on cu.id = g.customer_id
     where not exists (select 1 from public.messages m where m.idempotency_key = g.idempotency_key)
  ),
  picked as materialized (
    -- The template variant for each code, channel and language asked for, chosen once, not
    -- per message: the language asked for, else English, else any the template has.
    select distinct on (w.template_code, w.channel, w.wanted_language)
           w.template_code, w.channel, w.wanted_language, t.id
      from (select distinct a.template_code, a.channel, a.wanted_language
              from addressed a where a.template_code is not null) w
      join public.templates t on t.code = w.template_code and t.channel = w.channel and t.active
     order by w.template_code, w.channel, w.wanted_language,
              t.language = w.wanted_language desc, t.language = 'en' desc, t.language
  ),
  resolved as (
    select a.*,
           t.id as template_id,
           t.purpose as template_purpose,
           t.subject as template_subject,
           t.body as template_body,
           t.whatsapp_category,
           t.whatsapp_status,
           t.lint -> 'variables' as template_variables,
           t.whatsapp_name,
           t.language as template_language,
           t.dlt_entity_id,
           t.dlt_header,
           t.dlt_template_id
      from addressed a
      left join picked p
        on p.template_code = a.template_code and p.channel = a.channel
       and p.wanted_language = a.wanted_language
      left join public.templates t on t.id = p.id
  ),
  shapes as materialized (
    -- Each template of the batch cut at its placeholders once; filling it for a message is
    -- then array work, not a regular expression per message.
    select t.id,
           private.template_parts(t.body) as body_parts,
           private.template_names(t.body) as body_names,
           private.template_parts(t.subject) as subject_parts,
           private.template_names(t.subject) as subject_names
      from public.templates t
     where t.id in (select r.template_id from resolved r)
  ),
  judged as materialized (
    select r.*,
           row_number() over (order by r.n) as qn,
           coalesce(r.template_purpose, r.purpose) as final_purpose,
           coalesce(private.fill_template(s.body_parts, s.body_names, r.variables), r.body) as final_body,
           coalesce(private.fill_template(s.subject_parts, s.subject_names, r.variables), r.subject)
             as final_subject,
           case when r.template_id is not null then jsonb_strip_nulls(jsonb_build_object(
             'whatsapp_name', r.whatsapp_name, 'whatsapp_language', r.template_language,
             'whatsapp_parameters', case when r.channel = 'whatsapp' then to_jsonb(array(
               select coalesce(r.variables ->> v.name, '')
                 from unnest(s.body_names) with ordinality as v (name, i) order by v.i)) end,
             'dlt_entity_id', r.dlt_entity_id, 'dlt_header', r.dlt_header,
             'dlt_template_id', r.dlt_template_id)) end as template_snapshot
      from resolved r
      left join shapes s on s.id = r.template_id
  ),
  asked as materialized (
    -- The gate's rules for the whole batch in one call (message_block_reasons), by position.
    select b.n, b.reason
      from private.message_block_reasons((
             select array_agg(row(j.customer_id, j.channel, j.final_purpose, j.recipient,
                                  j.template_id)::private.send_question order by j.qn)
               from judged j), as_of) b
  ),
  fated as materialized (
    select j.*,
           coalesce(
             a.reason,
             case
               when j.final_body ~ '\{\{\s*[a-z][a-z0-9_]*\s*\}\}'
                    or coalesce(j.final_subject, '') ~ '\{\{\s*[a-z][a-z0-9_]*\s*\}\}'
                 then 'missing_variables'
               -- DLT takes at most 30 characters in a {#var#} slot (TRAI).
               when j.channel = 'sms' and exists (
                      select 1 from jsonb_array_elements_text(j.template_variables) v
                       where length(j.variables ->> v) > 30)
                 then 'dlt_variable_too_long'
             end) as gate_reason
      from judged j
      left join asked a on a.n = j.qn
  ),
  capped as materialized (
    -- The frequency cap counts what the customer already has for the purpose in the window
    -- (messages that never reached them do not count), then this batch in key order. Two
    -- concurrent batches for one customer may each pass it once: a cap, not a lock.
    select f.*,
           case
             when f.gate_reason is null and caps ? f.final_purpose::text
                  and (select count(*) from public.messages m
                        where m.customer_id = f.customer_id and m.purpose = f.final_purpose
                          and m.status not in ('blocked', 'cancelled', 'failed', 'undeliverable', 'dead')
                          and m.queued_at > as_of - make_interval(days => (caps -> f.final_purpose::text ->> 'days')::integer))
                      + row_number() over (partition by f.customer_id, f.final_purpose, f.gate_reason is null
                                               order by f.priority, f.n)
                      > (caps -> f.final_purpose::text ->> 'max')::integer
               then 'frequency_cap'
             else f.gate_reason
           end as reason,
           greatest(as_of, coalesce(f.not_before, as_of)) as earliest
      from fated f
  ),
  timed as materialized (
    -- The send window computed once per start time and purpose (a cadence batch has one).
    select c.*, coalesce(w.due, c.earliest) as due
      from capped c
      left join (
        select x.earliest, x.final_purpose,
               case
                 when x.final_purpose = 'marketing'
                   then private.next_allowed_time(x.earliest, (promotional ->> 'start')::time,
                                                  (promotional ->> 'end')::time)
                 when x.final_purpose = 'service' and quiet ->> 'start' is not null
                   then private.next_allowed_time(x.earliest, (quiet ->> 'end')::time,
                                                  (quiet ->> 'start')::time)
               end as due
          from (select distinct c2.earliest, c2.final_purpose from capped c2) x
      ) w on w.earliest = c.earliest and w.final_purpose = c.final_purpose
  ),
  stored as (
    insert into public.messages as m (
      customer_id, case_id, channel, purpose, template_id, variables, subject, body, recipient,
      priority, status, blocked_reason, blocked_at, deferred_reason, idempotency_key,
      next_attempt_at, estimated_cost_paise, created_by, queued_at, provider, template_snapshot,
      choice_reason)
    select t.customer_id, t.case_id, t.channel, t.final_purpose, t.template_id, t.variables,
           t.final_subject, t.final_body, t.recipient, t.priority,
           case when t.reason is null then 'queued' else 'blocked' end::public.message_status,
           t.reason,
           case when t.reason is not null then as_of end,
           case
             when t.reason is not null then null
             when t.due > t.earliest and t.final_purpose = 'marketing' then 'promotional_hours'
             when t.due > t.earliest then 'quiet_hours'
             when t.earliest > as_of then 'scheduled'
           end,
           t.idempotency_key,
           t.due,
           case t.channel
             when 'sms' then private.sms_segments(t.final_body) * (rates ->> 'sms_segment')::numeric
             when 'email' then (rates ->> 'email')::numeric
             else (rates ->> case when t.template_id is null then 'whatsapp_service'
                                  else 'whatsapp_' || coalesce(t.whatsapp_category::text, 'utility') end)::numeric
           end,
           t.created_by,
           as_of,
           case when t.reason is null then (
             select ch.provider from public.channels ch
              where ch.type = t.channel and ch.enabled order by ch.name limit 1) end,
           t.template_snapshot,
           left(t.choice_reason, 500)
      from timed t
    on conflict on constraint messages_idempotency_key_key do nothing
    returning m.id
  )
  select coalesce(array_agg(stored.id), '{}') into inserted from stored;

  if exists (select 1 from public.messages m where m.id = any (inserted) and m.status = 'queued') then
    perform pg_notify('messages_queued', '');
  end if;

  -- Created or not by a join with the new ids, not `m.id = any (inserted)`: that scans the
  -- array for every row, quadratic in the batch (a 100,000-message launch: 10^10 comparisons).
  return query
  select m.id, m.idempotency_key, m.status, m.blocked_reason, m.deferred_reason,
         m.next_attempt_at, i.id is not null
    from unnest(batch) g
    join public.messages m on m.idempotency_key = g.idempotency_key
    left join unnest(inserted) as i (id) on i.id = m.id
   order by g.n;
end;
$$;

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
  'tracked redirect to the case''s open payment link (private.tracked_link). Returns a row per '
  'outcome: queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the '
  'gate), duplicate (already queued by a concurrent run), skipped_engaged, no_channel (no channel '
  'with a template and no recent bounce), tasks_opened. Security definer: a job.';
