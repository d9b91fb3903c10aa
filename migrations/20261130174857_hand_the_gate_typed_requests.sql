-- The gate takes typed requests too (issue 9's speed): private.enqueue_message_batch takes an
-- array of private.gate_request, and private.enqueue_messages(jsonb) reads its JSON into one and
-- hands it over. The cadence built a JSON object per message, aggregated them into one array and
-- the gate read them back into rows (0.6 s of the cadence's regular day on the 1M-policy book,
-- 18,693 messages); it now builds the rows. What the gate checks, stores and returns is unchanged:
-- the body below is the gate's, from its request rows on. The cadence's choices are unchanged.

create function private.enqueue_message_batch(requests private.gate_request[],
                                               as_of timestamptz default now())
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
  -- Withdrawal links (issue 13): read once per call, then signed per marketing message in SQL.
  link_base text;
  link_days integer;
  link_expiry bytea;
  signing_kid bytea;
  signing_key bytea;
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
begin
  if requests is null then
    raise exception 'enqueue_message_batch takes an array of requests, not null' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  link_base := rtrim(coalesce(private.setting('CONSENT_PAGE_BASE_URL') #>> '{}',
                              'http://127.0.0.1:54321/functions/v1/consent'), '/') || '/w/';
  link_days := case when private.setting('CONSENT_LINK_DAYS') #>> '{}' ~ '^\d{1,4}$'
                         and (private.setting('CONSENT_LINK_DAYS') #>> '{}')::integer between 1 and 3650
                    then (private.setting('CONSENT_LINK_DAYS') #>> '{}')::integer else 30 end;
  link_expiry := substring(int8send(floor(extract(epoch from as_of + make_interval(days => link_days)))::bigint)
                           from 5 for 4);
  select substring(int4send(k.kid) from 3 for 2), k.key into signing_kid, signing_key
    from private.link_signing_keys k where k.retire_at is null;

  -- One row per key, numbered by position: a key repeated inside the batch is the same message.
  batch := array(
    select row(r.pos, r.customer_id, r.case_id, r.channel, r.purpose, r.template_code, r.language,
               coalesce(r.variables, '{}'), r.body, r.subject, coalesce(r.priority, 5),
               r.idempotency_key, r.not_before, r.created_by, r.choice_reason,
               r.campaign_id)::private.gate_request
      from (
        select distinct on (u.idempotency_key) u.*
          from unnest(requests) with ordinality
               as u (n, customer_id, case_id, channel, purpose, template_code, language, variables,
                     body, subject, priority, idempotency_key, not_before, created_by,
                     choice_reason, campaign_id, pos)
         order by u.idempotency_key, u.pos
      ) r);

  if exists (select 1 from unnest(batch) g
              where g.customer_id is null or g.channel is null or g.idempotency_key is null
                 or (g.template_code is null and (g.body is null or g.purpose is null))
                 or g.channel not in ('sms', 'email', 'whatsapp', 'telegram')
                 or jsonb_typeof(g.variables) <> 'object'
                 or g.priority not between 0 and 9) then
    raise exception 'each request needs customer_id, channel (sms, email, whatsapp or telegram), '
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
  with addressed as materialized (
    select g.*,
           cu.dnd,
           case g.channel
             when 'email' then lower(cu.email)
             -- Telegram: the chat the customer linked through the bot's deep link (/start).
             when 'telegram' then (select sa.external_id from public.customer_social_accounts sa
                                    where sa.customer_id = cu.id and sa.platform = 'telegram')
             else cu.phone
           end as recipient,
           coalesce(g.language, cu.language, 'en') as wanted_language,
           -- The message's id, drawn here so its withdrawal link can name it.
           gen_random_uuid() as new_id,
           cu.id is null as unknown_customer
      from unnest(batch) g
      left join public.customers cu on cu.id = g.customer_id
     where not exists (select 1 from public.messages m where m.idempotency_key = g.idempotency_key)
  ),
  known as (
    select a.* from addressed a where not a.unknown_customer
  ),
  picked as materialized (
    -- The template variant for each code, channel and language asked for, chosen once, not
    -- per message: the language asked for, else English, else any the template has.
    select distinct on (w.template_code, w.channel, w.wanted_language)
           w.template_code, w.channel, w.wanted_language, t.id
      from (select distinct a.template_code, a.channel, a.wanted_language
              from known a where a.template_code is not null) w
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
           t.dlt_template_id,
           link.url as withdrawal_link,
           a.variables || case when link.url is not null then jsonb_build_object(
             'withdrawal_link', link.url,
             'withdrawal_token_1', left(link.token, 26),
             'withdrawal_token_2', right(link.token, 26)) else '{}' end as fill_variables
      from known a
      left join picked p
        on p.template_code = a.template_code and p.channel = a.channel
       and p.wanted_language = a.wanted_language
      left join public.templates t on t.id = p.id
      -- Every marketing message carries its signed withdrawal link (private.consent_link_token's
      -- format, inlined: the key and settings read once per call, not per message).
      left join lateral (
        select link_base || x.token as url, x.token
          from (select private.base64url_encode(
                         y.payload || substring(extensions.hmac(y.payload, signing_key, 'sha256') from 1 for 16))
                         as token
                  from (select '\x01'::bytea || signing_kid || uuid_send(a.new_id) || link_expiry
                                 as payload) y) x
         where coalesce(t.purpose, a.purpose) = 'marketing'
      ) link on true
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
    -- A marketing body without its withdrawal link gets it appended where we render the text
    -- (free text on any channel, templates by email and Telegram); WhatsApp and SMS templates
    -- are rendered from their registered text, which must hold {{withdrawal_link}} (WhatsApp) or
    -- the link's fixed part with {{withdrawal_token_1}}{{withdrawal_token_2}} (SMS, DLT's 30).
    select f.*,
           case
             when f.withdrawal_link is null or strpos(f.filled_body, f.withdrawal_link) > 0
               then f.filled_body
             when f.template_id is null or f.channel in ('email', 'telegram')
               then f.filled_body
                    || case when coalesce(f.template_language, f.wanted_language) like 'hi%'
                            then E'\n\nऑफ़र बंद करने के लिए: ' else E'\n\nTo stop offers: ' end
                    || f.withdrawal_link
             else f.filled_body
           end as final_body
      from (
    select r.*,
           row_number() over (order by r.n) as qn,
           coalesce(r.template_purpose, r.purpose) as final_purpose,
           coalesce(private.fill_template(s.body_parts, s.body_names, r.fill_variables),
                    case when r.withdrawal_link is not null
                         then regexp_replace(r.body, '\{\{\s*withdrawal_link\s*\}\}', r.withdrawal_link, 'g')
                         else r.body end) as filled_body,
           coalesce(private.fill_template(s.subject_parts, s.subject_names, r.fill_variables), r.subject)
             as final_subject,
           case when r.template_id is not null then jsonb_strip_nulls(jsonb_build_object(
             'whatsapp_name', r.whatsapp_name, 'whatsapp_language', r.template_language,
             'whatsapp_parameters', case when r.channel = 'whatsapp' then to_jsonb(array(
               select coalesce(r.fill_variables ->> v.name, '')
                 from unnest(s.body_names) with ordinality as v (name, i) order by v.i)) end,
             'dlt_entity_id', r.dlt_entity_id, 'dlt_header', r.dlt_header,
             'dlt_template_id', r.dlt_template_id)) end as template_snapshot
      from resolved r
      left join shapes s on s.id = r.template_id
      ) f
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
    -- The send window per message (not through a join on the distinct start times: under a
    -- generic plan that join was a nested loop, quadratic for a spread campaign). Sorted, so
    -- that every frequency-cap count above is taken before the first row is inserted: counted
    -- while the insert runs, with the outbox believed empty, each count scanned the rows this
    -- statement had inserted so far (quadratic). The window is private.next_allowed_time's
    -- rule written out here, the time zone read once (the function reads it per message).
    select c.*,
           case
             when w.opens is null or w.opens = w.closes
                  or (w.opens < w.closes and w.clock >= w.opens and w.clock < w.closes)
                  or (w.opens > w.closes and (w.clock >= w.opens or w.clock < w.closes))
               then c.earliest
             else (case when w.clock < w.opens then w.local_at::date else w.local_at::date + 1 end
                   + w.opens) at time zone zone
           end as due
      from capped c
     cross join lateral (
       select l.local_at, l.local_at::time as clock, s.opens, s.closes
         from (select c.earliest at time zone zone as local_at) l,
              (select case
                        when c.final_purpose = 'marketing' then (promotional ->> 'start')::time
                        when c.final_purpose = 'service' and quiet ->> 'start' is not null
                          then (quiet ->> 'end')::time
                      end as opens,
                      case
                        when c.final_purpose = 'marketing' then (promotional ->> 'end')::time
                        when c.final_purpose = 'service' and quiet ->> 'start' is not null
                          then (quiet ->> 'start')::time
                      end as closes) s
     ) w
     order by c.n
  ),
  stored as (
    insert into public.messages as m (
      id, customer_id, case_id, channel, purpose, template_id, variables, subject, body, recipient,
      priority, status, blocked_reason, blocked_at, deferred_reason, idempotency_key,
      next_attempt_at, estimated_cost_paise, created_by, queued_at, provider, template_snapshot,
      choice_reason, campaign_id)
    select t.new_id, t.customer_id, t.case_id, t.channel, t.final_purpose, t.template_id, t.variables,
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
             -- The Bot API charges nothing per message.
             when 'telegram' then 0
             else (rates ->> case when t.template_id is null then 'whatsapp_service'
                                  else 'whatsapp_' || coalesce(t.whatsapp_category::text, 'utility') end)::numeric
           end,
           t.created_by,
           as_of,
           case when t.reason is null then (
             select ch.provider from public.channels ch
              where ch.type = t.channel and ch.enabled order by ch.name limit 1) end,
           t.template_snapshot,
           left(t.choice_reason, 500),
           t.campaign_id
      from timed t
    on conflict on constraint messages_idempotency_key_key do nothing
    returning m.id
  )
  select coalesce((select array_agg(stored.id) from stored), '{}'),
         -- A request for a customer who does not exist is a producer's error (a key seen
         -- before returns its message whatever the rest of the request says): raised below,
         -- which undoes the insert.
         (select string_agg(distinct a.customer_id::text, ', ') from addressed a
           where a.unknown_customer)
    into inserted, unknown_customers;
  if unknown_customers is not null then
    raise exception 'no such customer: %', unknown_customers using errcode = '22023';
  end if;

  if exists (select 1 from public.messages m where m.id = any (inserted) and m.status = 'queued') then
    perform pg_notify('messages_queued', '');
  end if;

  -- Created or not by a join with the new ids, not `m.id = any (inserted)`: that scans the
  -- array for every row, quadratic in the batch (a 100,000-message launch: 10^10 comparisons).
  -- Each key looked up in its unique index: as a join (or a plain lateral, which the planner
  -- turns into one) it hashed the whole outbox; `limit 1` keeps the look-up per key.
  return query
  select m.id, m.idempotency_key, m.status, m.blocked_reason, m.deferred_reason,
         m.next_attempt_at, i.id is not null
    from unnest(batch) g
   cross join lateral (
     select m.* from public.messages m where m.idempotency_key = g.idempotency_key limit 1
   ) m
    left join unnest(inserted) as i (id) on i.id = m.id
   order by g.n;
end;
$$;

comment on function private.enqueue_message_batch(private.gate_request[], timestamptz) is
  'The gate (private.enqueue_messages) for callers in SQL that have their requests as rows: the '
  'same fields, rules, stored messages and returned rows; a request''s n is ignored (its position '
  'in the array orders the result). Raises 22023 on a null array and as the JSON entry does. '
  'Security definer; executable by the owner''s jobs only.';

revoke execute on function private.enqueue_message_batch(private.gate_request[], timestamptz)
  from public, anon, authenticated, service_role;

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
begin
  if requests is null or jsonb_typeof(requests) not in ('array', 'object') then
    raise exception 'enqueue_messages takes a JSON object or an array of them' using errcode = '22023';
  end if;
  if jsonb_typeof(requests) = 'object' then
    requests := jsonb_build_array(requests);
  end if;
  return query
  select * from private.enqueue_message_batch(array(
    select row(x.n, x.customer_id, x.case_id, x.channel, x.purpose, x.template_code, x.language,
               x.variables, x.body, x.subject, x.priority, x.idempotency_key, x.not_before,
               x.created_by, x.choice_reason, x.campaign_id)::private.gate_request
      from rows from (jsonb_to_recordset(requests) as (
             customer_id uuid, case_id uuid, channel public.channel_type,
             purpose public.consent_purpose, template_code text, language text,
             variables jsonb, body text, subject text, priority smallint,
             idempotency_key text, not_before timestamptz, created_by uuid,
             choice_reason text, campaign_id uuid))
           with ordinality as x (customer_id, case_id, channel, purpose, template_code,
                                 language, variables, body, subject, priority,
                                 idempotency_key, not_before, created_by, choice_reason,
                                 campaign_id, n)
     order by x.n), as_of);
end;
$$;
comment on function private.enqueue_messages(jsonb, timestamptz) is
  'The gate. Takes a JSON request or an array of them: {customer_id, channel (sms|email|whatsapp|'
  'telegram), idempotency_key, template_code + variables (the template in the customer''s '
  'language, else en) or body + purpose, [case_id, subject, language, priority 0-9 (default 5), '
  'not_before, created_by, choice_reason, campaign_id]}. The address: the phone for SMS and '
  'WhatsApp, the email for email, the linked chat (customer_social_accounts) for Telegram. For '
  'each key not seen before it stores one message, queued (next_attempt_at deferred to '
  'promotional hours for marketing, past quiet hours for service, or to not_before) or blocked '
  'with the first reason that applies: channel_disabled (no enabled channel, or '
  'ENABLE_<CHANNEL>_CAMPAIGNS off for service and marketing), no_address, '
  'sms_needs_dlt_template (in India an SMS outside a registered DLT template is dropped), '
  'consent_withdrawn, no_consent (marketing needs a granted consent), whatsapp_not_opted_in, '
  'dnd (marketing SMS to an NCPR number), suppressed, whatsapp_window_closed (free text outside '
  'the 24-hour window), template_not_approved, missing_variables, frequency_cap '
  '(MESSAGE_FREQUENCY_CAPS). Returns one row per distinct key, in request order: the message '
  '(the first one for a key seen before, created false). Notifies messages_queued. Raises 22023 '
  'on a malformed request or a template code with no active template on its channel. Security '
  'definer: producers may not write messages themselves. Every marketing message carries its '
  'withdrawal link (issue 13): {{withdrawal_link}} = <CONSENT_PAGE_BASE_URL>/w/<token> signed for '
  'the message (and {{withdrawal_token_1}}, {{withdrawal_token_2}}: the token''s two halves, for '
  'SMS DLT slots), appended to the text where we render it (free text; email and Telegram '
  'templates) when the body does not hold it already.';


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
  engaged bigint;
  no_channel bigint;
  opened bigint;
  ladder_fingerprint text;
  last_run_day date;
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
  if last_run_day is null or last_run_day > today then
    -- Another ladder or settings (or no run yet, or a day before the last): visit every open case.
    delete from private.cadence_next_visits;
    insert into private.cadence_next_visits (case_id, visit_on)
    select c.id, '-infinity' from public.renewal_cases c
     where c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
    analyze private.cadence_next_visits;
  end if;
  insert into private.cadence_state (last_day, fingerprint) values (today, ladder_fingerprint)
  on conflict (id) do update set last_day = excluded.last_day, fingerprint = excluded.fingerprint;
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
    select c.id as case_id, c.customer_id, c.assignee_id, c.case_number, c.due_date, c.grace_end,
           p.product_line, p.policy_number, p.premium, p.ncb_percent
      from visiting v
      join public.renewal_cases c on c.id = v.case_id
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
             null, null, 5, format('cadence:%s:%s', e.case_id, e.rule_id), null, null,
             -- Why this channel, written on the message by the gate.
             case
               when e.refusal is not null then format('none_allowed (%s)', e.refused)
               when e.refused is null then
                 case when e.preferred then 'preferred_channel' else 'first_choice' end
               else format('first_allowed (%s)', e.refused)
             end,
             null)::private.gate_request as request
      from explained e
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
      from (select d.case_id, today as visit_on from due d where d.engaged
            union all
            select o.case_id, today
              from (select d.case_id from due d where d.kind = 'message' and not d.engaged
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
         (select count(distinct c.case_id) from candidates c
           where not exists (select 1 from chosen ch where ch.case_id = c.case_id)),
         (select count(*) from new_tasks)
    into requests, engaged, no_channel, opened;

  -- One call of the gate for every message.
  select count(*) filter (where e.created and e.status <> 'blocked'),
         count(*) filter (where e.created and e.status = 'blocked'),
         count(*) filter (where not e.created)
    into queued, blocked, duplicates
    from private.enqueue_message_batch(coalesce(requests, '{}'), as_of) e;

  return query
  select o.outcome,
         case o.outcome
           when 'queued' then queued
           when 'blocked' then blocked
           when 'duplicate' then duplicates
           when 'skipped_engaged' then engaged
           when 'no_channel' then no_channel
           else opened
         end
    from unnest(array['queued', 'blocked', 'duplicate', 'skipped_engaged', 'no_channel',
                      'tasks_opened']) as o (outcome);
end;
$$;

comment on function private.run_reminder_cadence(timestamptz) is
  'The daily reminder cadence (pg_cron; as_of moves the clock in tests). For every open case whose '
  'visit day (private.cadence_next_visits) has come, the latest due step of its ladder '
  '(public.reminder_rules) per kind, once (message key cadence:<case>:<step>, task unique per case '
  'and step); after-expiry steps while their applies_until holds; engaged customers (payment in '
  'progress, a reply, a tracked link opened within CADENCE_LINK_OPENED_HOURS) left for another '
  'day; the channel chosen as the comment on messages.choice_reason says, all messages in one call '
  'of the gate; {{payment_link}} is the tracked redirect to the case''s open payment link '
  '(private.tracked_link); {{premium}} is the yearly premium, {{amount_due}} what the case still '
  'owes (public.case_outstanding). A visited case comes back on its next step''s day, or the same '
  'day while a step is still owed; every open case is visited when the ladder or its settings '
  'change (private.cadence_state). One run at a time (advisory lock). Returns a row per outcome: '
  'queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the gate), duplicate '
  '(already queued, e.g. by the event triggers), skipped_engaged, no_channel (no channel with a '
  'template and no recent bounce), tasks_opened. Security definer: a job.';

