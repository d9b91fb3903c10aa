-- TRAI's promotional hours are IST whatever the business's time zone (issue 9, third review).
--
-- TCCCPR 2018 lets promotional messages go from 10:00 to 21:00 IST, and PROMOTIONAL_HOURS is held
-- to those hours (20261201020000). But the gate and the claim's re-check read the hours in
-- BUSINESS_TIME_ZONE, which an admin may set to any zone (scheduled reports and business days
-- follow it): with "UTC", a marketing email queued at 01:00 IST went at once (19:30 UTC, inside
-- 10:00-21:00 UTC). The promotional hours are now read in Asia/Kolkata by the gate, the claim and
-- a campaign's resume and spread, whatever the business's zone; quiet hours (the operator's, for
-- service messages), business days and reports keep to BUSINESS_TIME_ZONE.
--
-- Restated: private.enqueue_message_batch (20261130222810), private.claim_messages
-- (20261130235711), each with only the promotional hours' zone changed.

create or replace function private.enqueue_message_batch(requests private.gate_request[],
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
      -- The token is signed once, and only for marketing (`offset 0`: flattened, the signature
      -- was computed for every message, once per use of the token).
      left join lateral (
        select link_base || x.token as url, x.token
          from (select private.base64url_encode(
                         y.payload || substring(extensions.hmac(y.payload, signing_key, 'sha256') from 1 for 16))
                         as token
                  from (select '\x01'::bytea || signing_kid || uuid_send(a.new_id) || link_expiry
                                 as payload) y
                 where greatest(t.purpose, a.purpose) = 'marketing'
                offset 0) x
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
           -- The stricter of the request's purpose and the template's: a marketing campaign
           -- sending a service template is marketing (consent, DND, hours, withdrawal link).
           greatest(r.template_purpose, r.purpose) as final_purpose,
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
               -- A marketing message on WhatsApp or SMS is sent as its registered template,
               -- which must be a marketing one: a utility template carries no withdrawal link
               -- and is the wrong category for Meta; a DLT service template, for TRAI.
               when j.final_purpose = 'marketing' and j.channel in ('whatsapp', 'sms')
                    and j.template_id is not null and j.template_purpose <> 'marketing'
                 then 'template_not_marketing'
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
    -- statement had inserted so far (quadratic). The time zone is read once, not per message;
    -- promotional hours are TRAI's, in IST whatever the business's zone.
    select c.*,
           case
             when c.final_purpose = 'marketing'
               then private.next_allowed_time(c.earliest, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time, 'Asia/Kolkata')
             when c.final_purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(c.earliest, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time, zone)
             else c.earliest
           end as due
      from capped c
     order by c.n
  ),
  providers as materialized (
    -- Each channel's provider (the first enabled channel of the type by name), read once.
    select distinct on (ch.type) ch.type as channel, ch.provider
      from public.channels ch
     where ch.enabled
     order by ch.type, ch.name
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
             select p.provider from providers p where p.channel = t.channel) end,
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

create or replace function private.claim_messages(worker text, batch_size integer, as_of timestamptz default now())
returns setof private.claimed_message
language plpgsql
security definer
set search_path = ''
-- One plan for every call, made of index lookups for a batch of at most 1,000 rows: a custom
-- plan per call cost more to make (about 2 ms) than to run, and the generic one the planner
-- would otherwise pick hashes the whole outbox (25 ms).
set plan_cache_mode = force_generic_plan
set enable_hashjoin = off
set enable_mergejoin = off
set jit = off
as $$
declare
  lease interval := make_interval(secs => coalesce((private.setting('MESSAGE_LEASE_SECONDS') #>> '{}')::integer, 60));
  stall_limit integer := coalesce((private.setting('MESSAGE_STALL_LIMIT') #>> '{}')::integer, 3);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  claimed private.claimed_message[];
  expired uuid[];
  held uuid[] := '{}';
  today date := private.business_date(as_of);
  over_quota boolean;
  deferred uuid[] := '{}';
  switched jsonb := '{}';
begin
  if worker is null or length(worker) = 0 or batch_size is null or batch_size not between 1 and 1000 then
    raise exception 'claim_messages needs a worker name and a batch of 1 to 1000' using errcode = '22023';
  end if;

  with picked as materialized (
    -- Priority by priority, each an index range (priority = p, next_attempt_at <= as_of) on the
    -- claimable rows; the outer limit stops the loop once the batch is full, so no more rows
    -- than the batch are locked. The columns come from the locked (latest) row version.
    select c.id, c.status, c.stalls, c.customer_id, c.case_id, c.channel, c.purpose, c.recipient,
           c.template_id, c.priority
      from generate_series(0, 9) as level (p)
     cross join lateral (
       select m.id, m.status, m.stalls, m.customer_id, m.case_id, m.channel, m.purpose, m.recipient,
              m.template_id, m.priority
         from public.messages m
        where m.status in ('queued', 'sending') and m.priority = level.p
          and m.next_attempt_at <= as_of
        order by m.next_attempt_at
        limit batch_size
          for update of m skip locked
     ) c
     limit batch_size
  ),
  switches as materialized (
    -- Per channel of the batch: is it on at all, and are its campaigns switched on (only `true`
    -- is on: a switch set to anything else fails closed).
    select d.channel,
           exists (select 1 from public.channels ch where ch.type = d.channel and ch.enabled) as enabled,
           coalesce(private.setting(format('ENABLE_%s_CAMPAIGNS', upper(d.channel::text))),
                    'true'::jsonb) = 'true'::jsonb as campaigns_on
      from (select distinct p.channel from picked p where p.status = 'queued') d
  ),
  judged as materialized (
    -- Asked again at send time: what the gate allowed may no longer be allowed (consent
    -- withdrawn, STOP, DND, suppressed, channel off, the WhatsApp window closed), and a retry or
    -- a redrive may fall outside the message's hours. private.message_block_reason()'s checks,
    -- in its order, for the whole batch at once; a message whose customer is gone has no reason,
    -- as there. Messages whose lease expired are re-checked below instead.
    select p.id, p.priority, p.status as was, p.stalls, p.purpose, p.template_id,
           -- A reminder of a case renewed, lost or not taken since it was queued, or whose policy
           -- moved to another customer: a change that committed while the cadence's run was open
           -- could not see the run's rows to cancel them (_850_cancel_queued_reminders,
           -- _850_cancel_reminders_of_former_customer). Transactional messages (receipts) still
           -- go; a lapsed case's post-expiry steps too.
           p.status = 'queued' and p.purpose <> 'transactional' and p.case_id is not null
           and exists (select 1 from public.renewal_cases rc
                        where rc.id = p.case_id
                          and (rc.stage in ('renewed', 'lost', 'not_taken')
                               or rc.customer_id is distinct from p.customer_id))
             as case_closed,
           case
             when p.status <> 'queued' or cu.id is null then null
             when cu.erased_at is not null then 'customer_erased'
             when not coalesce(sw.enabled, false) then 'channel_disabled'
             when p.purpose <> 'transactional' and not sw.campaigns_on then 'channel_disabled'
             when p.recipient is null then 'no_address'
             when p.channel = 'sms' and t.id is null then 'sms_needs_dlt_template'
             when cs.status = 'withdrawn' then 'consent_withdrawn'
             when p.purpose = 'marketing' and cs.status is distinct from 'granted' then 'no_consent'
             when p.channel = 'whatsapp'
                  and not exists (select 1 from public.consents w
                                   where w.customer_id = cu.id and w.channel = 'whatsapp'
                                     and w.status = 'granted')
               then 'whatsapp_not_opted_in'
             when p.purpose = 'marketing' and p.channel = 'sms' and cu.dnd then 'dnd'
             when exists (select 1 from public.suppressions s
                           where s.channel = p.channel and s.address = p.recipient)
               then 'suppressed'
             when p.channel = 'whatsapp' and t.id is null
                  and not coalesce(ww.last_inbound_at > as_of - interval '24 hours', false)
               then 'whatsapp_window_closed'
             when p.channel = 'whatsapp' and t.id is not null
                  and t.whatsapp_status is distinct from 'approved'
               then 'template_not_approved'
           end as reason
      from picked p
      left join switches sw on sw.channel = p.channel
      left join public.customers cu on cu.id = p.customer_id
      left join public.templates t on t.id = p.template_id
      left join public.consents cs
        on cs.customer_id = cu.id and cs.channel = p.channel and cs.purpose = p.purpose
      left join public.whatsapp_windows ww on ww.customer_id = cu.id
  ),
  fated as materialized (
    select j.id, j.priority, j.was, j.template_id, j.reason,
           case
             when j.was = 'sending' and j.stalls + 1 >= stall_limit then 'dead'
             -- A lease that expired: re-checked below, once the early callbacks are applied.
             when j.was = 'sending' then 'sending'
             when j.case_closed then 'cancelled'
             when j.reason is not null then 'blocked'
             when d.due > as_of then 'deferred'
             else 'sending'
           end as fate,
           d.due
      from judged j
      cross join lateral (
        -- Each uncorrelated subquery runs once per statement, and only if a message needs it.
        select case
                 when j.purpose = 'marketing'
                   then (select private.next_allowed_time(as_of, (promotional ->> 'start')::time,
                                                          (promotional ->> 'end')::time, 'Asia/Kolkata'))
                 when j.purpose = 'service' and quiet ->> 'start' is not null
                   then (select private.next_allowed_time(as_of, (quiet ->> 'end')::time,
                                                          (quiet ->> 'start')::time))
                 else as_of
               end as due
      ) d
  ),
  moved as (
    update public.messages m
       set status = case f.fate
                      when 'dead' then 'dead'
                      when 'blocked' then 'blocked'
                      when 'cancelled' then 'cancelled'
                      when 'deferred' then 'queued'
                      else 'sending' end::public.message_status,
           stalls = m.stalls + (m.status = 'sending')::integer,
           dead_reason = case when f.fate = 'dead' then 'stalled' end,
           dead_at = case when f.fate = 'dead' then as_of end,
           cancelled_at = case when f.fate = 'cancelled' then as_of else m.cancelled_at end,
           blocked_reason = case f.fate when 'blocked' then f.reason when 'deferred' then null
                              else m.blocked_reason end,
           blocked_at = case f.fate when 'blocked' then as_of when 'deferred' then null
                          else m.blocked_at end,
           -- A message held back (blocked, deferred) is not an attempt.
           attempts = m.attempts + (f.fate in ('sending', 'dead'))::integer,
           provider_attempts = m.provider_attempts + (f.fate in ('sending', 'dead'))::integer,
           provider = coalesce(m.provider, (
             select ch.provider from public.channels ch
              where ch.type = m.channel and ch.enabled order by ch.name limit 1)),
           locked_by = case when f.fate in ('sending', 'dead') then worker end,
           locked_until = case when f.fate in ('sending', 'dead') then as_of + lease end,
           next_attempt_at = case when f.fate = 'deferred' then f.due else as_of + lease end,
           sending_at = case when f.fate = 'cancelled' then m.sending_at else as_of end,
           deferred_reason = case
                               when f.fate = 'deferred' and m.purpose = 'marketing' then 'promotional_hours'
                               when f.fate = 'deferred' then 'quiet_hours'
                             end,
           updated_at = now()
      from fated f
      left join public.templates t on t.id = f.template_id
     where m.id = f.id
    -- After the triggers: an expired lease whose callbacks show the vendor had it is not sending.
    returning m.id, m.status, f.priority, (f.was = 'sending' and m.status = 'sending') as was_expired,
              row(m.id, m.attempts, m.channel, m.purpose, m.provider, m.recipient, m.subject, m.body,
                  coalesce(m.template_snapshot ->> 'whatsapp_name', t.whatsapp_name),
                  coalesce(m.template_snapshot ->> 'whatsapp_language', t.language),
                  coalesce(array(select jsonb_array_elements_text(m.template_snapshot -> 'whatsapp_parameters')),
                           array(select coalesce(m.variables ->> v[1], '')
                                   from regexp_matches(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as v)),
                  coalesce(m.template_snapshot ->> 'dlt_entity_id', t.dlt_entity_id),
                  coalesce(m.template_snapshot ->> 'dlt_header', t.dlt_header),
                  coalesce(m.template_snapshot ->> 'dlt_template_id', t.dlt_template_id)
              )::private.claimed_message as message
  )
  select array_agg(moved.message order by moved.priority, moved.id)
           filter (where moved.status = 'sending'),
         array_agg(moved.id) filter (where moved.was_expired)
    into claimed, expired
    from moved;

  if cardinality(expired) > 0 then
    -- Leases that ran out, claimed again: the same re-check, one message at a time (rare).
    with rechecked as (
      select m.id,
             private.message_block_reason(m.customer_id, m.channel, m.purpose, m.recipient,
                                          m.template_id, as_of) as reason,
             m.purpose <> 'transactional'
             and exists (select 1 from public.renewal_cases rc
                          where rc.id = m.case_id
                            and (rc.stage in ('renewed', 'lost', 'not_taken')
                                 or rc.customer_id is distinct from m.customer_id))
               as case_closed,
             case
               when m.purpose = 'marketing'
                 then private.next_allowed_time(as_of, (promotional ->> 'start')::time,
                                                (promotional ->> 'end')::time, 'Asia/Kolkata')
               when m.purpose = 'service' and quiet ->> 'start' is not null
                 then private.next_allowed_time(as_of, (quiet ->> 'end')::time,
                                                (quiet ->> 'start')::time)
               else as_of
             end as due
        from public.messages m
       where m.id = any (expired)
    ),
    stopped as (
      update public.messages m
         set status = case when r.case_closed then 'cancelled'
                           when r.reason is not null then 'blocked'
                           else 'queued' end::public.message_status,
             blocked_reason = case when not r.case_closed then r.reason end,
             blocked_at = case when r.reason is not null and not r.case_closed then as_of end,
             cancelled_at = case when r.case_closed then as_of else m.cancelled_at end,
             next_attempt_at = case when r.reason is null and not r.case_closed then r.due
                                    else m.next_attempt_at end,
             deferred_reason = case when r.case_closed or r.reason is not null then null
                                    when m.purpose = 'marketing' then 'promotional_hours'
                                    else 'quiet_hours' end,
             attempts = m.attempts - 1,
             provider_attempts = m.provider_attempts - 1,
             locked_by = null,
             locked_until = null,
             updated_at = now()
        from rechecked r
       where m.id = r.id and (r.case_closed or r.reason is not null or r.due > as_of)
      returning m.id
    )
    select coalesce(array_agg(stopped.id), '{}') into held from stopped;
  end if;

  -- Daily quotas ("Quota exceeded" runbook): every message handed to a provider counts one in
  -- private.provider_usage for the business day, in one upsert per batch (one row per provider).
  -- The upsert locks each row (in provider order, so two dispatchers never deadlock) and adds
  -- the batch's count to the latest committed value: what the row held before is its result
  -- minus that count, so two dispatchers claiming at once never both take the last unit. The
  -- fallbacks of providers that have a quota are locked in the same statement (added 0, not
  -- rewritten), so the rare over-quota step below takes no lock out of order.
  if cardinality(claimed) > 0 then
    with handed as (
      select c.provider, count(*)::integer as n
        from unnest(claimed) c
       where c.id <> all (held) and c.provider is not null
       group by c.provider
    ),
    wanted as (
      select w.provider, sum(w.n)::integer as n
        from (select h.provider, h.n from handed h
              union all
              select ch.fallback_provider, 0
                from handed h
                join public.channels ch on ch.provider = h.provider
               where ch.enabled and ch.fallback_provider is not null
                 and exists (select 1 from public.channels q
                              where q.provider = h.provider and q.daily_quota is not null)) w
       group by w.provider
    ),
    counted as (
      insert into private.provider_usage as u (provider, day, sent)
      select w.provider, today, w.n from wanted w order by w.provider
      on conflict (provider, day) do update set sent = u.sent + excluded.sent
        where excluded.sent > 0
      returning u.provider, u.sent
    )
    select coalesce(bool_or(c.sent > (select min(ch.daily_quota) from public.channels ch
                                        where ch.provider = c.provider)), false)
      into over_quota
      from counted c;

    if over_quota then
      -- Some provider got more than its quota left (rare: at most once a day per provider). Its
      -- first messages in claim order keep it; the rest move to the channel's fallback provider
      -- while that has quota left, the others wait for the next business day (queued, not an
      -- attempt, deferred_reason quota_exhausted). The usage rows are ours until commit.
      with batch as (
        select c.id, c.channel, c.provider, c.ordinality as ord
          from unnest(claimed) with ordinality as c
         where c.id <> all (held) and c.provider is not null
      ),
      handed as (
        select b.provider, count(*)::integer as n from batch b group by b.provider
      ),
      room as (
        -- Per provider of the batch or of a fallback: the quota left before this batch's
        -- messages (null = no limit) and after them (may be negative).
        select u.provider,
               q.quota - (u.sent - coalesce(h.n, 0)) as before_batch,
               q.quota - u.sent as after_batch
          from private.provider_usage u
          left join handed h on h.provider = u.provider
          cross join lateral (select min(ch.daily_quota) as quota from public.channels ch
                               where ch.provider = u.provider) q
         where u.day = today
           and u.provider in (select b.provider from batch b
                              union
                              select ch.fallback_provider from public.channels ch
                               where ch.provider in (select b.provider from batch b))
      ),
      ranked as (
        select b.*, row_number() over (partition by b.provider order by b.ord) as rank
          from batch b
      ),
      overflow as (
        -- Beyond its provider's quota: the channel's fallback, if any (the one record_send_results
        -- would switch to: an enabled channel of the type whose primary provider it is).
        select r.id, r.ord, r.provider,
               (select ch.fallback_provider from public.channels ch
                 where ch.type = r.channel and ch.enabled and ch.provider = r.provider
                   and ch.fallback_provider is not null
                 order by ch.name limit 1) as fallback
          from ranked r
          join room rm on rm.provider = r.provider
         where r.rank > greatest(rm.before_batch, 0)
      ),
      placed as (
        select o.id, o.provider,
               case when o.fallback is not null
                         and (fb.after_batch is null
                              or row_number() over (partition by o.fallback order by o.ord)
                                 <= greatest(fb.after_batch, 0))
                    then o.fallback end as moved_to
          from overflow o
          left join room fb on fb.provider = o.fallback
      ),
      requeued as (
        update public.messages m
           set provider = coalesce(p.moved_to, m.provider),
               -- Onto the fallback: its first attempt there. Waiting: no attempt at all.
               provider_attempts = case when p.moved_to is not null then 1
                                        else m.provider_attempts - 1 end,
               status = case when p.moved_to is null then 'queued' else m.status end::public.message_status,
               attempts = m.attempts - (p.moved_to is null)::integer,
               locked_by = case when p.moved_to is null then null else m.locked_by end,
               locked_until = case when p.moved_to is null then null else m.locked_until end,
               next_attempt_at = case when p.moved_to is null
                                   then (today + 1)::timestamp at time zone
                                        coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata')
                                   else m.next_attempt_at end,
               deferred_reason = case when p.moved_to is null then 'quota_exhausted' end,
               updated_at = now()
          from placed p
         where m.id = p.id
        returning m.id, p.provider as was, p.moved_to
      ),
      recounted as (
        -- Each message taken off a provider gives its unit back; each moved counts on its fallback.
        update private.provider_usage u
           set sent = u.sent + d.delta
          from (select x.provider, sum(x.delta)::integer as delta
                  from (select r.was as provider, -1 as delta from requeued r
                        union all
                        select r.moved_to, 1 from requeued r where r.moved_to is not null) x
                 group by x.provider) d
         where u.provider = d.provider and u.day = today and d.delta <> 0
      )
      select coalesce(array_agg(r.id) filter (where r.moved_to is null), '{}'),
             coalesce(jsonb_object_agg(r.id, r.moved_to) filter (where r.moved_to is not null), '{}')
        into deferred, switched
        from requeued r;

      claimed := array(
        select row(c.id, c.attempts, c.channel, c.purpose,
                   coalesce(switched ->> c.id::text, c.provider), c.recipient, c.subject, c.body,
                   c.whatsapp_name, c.whatsapp_language, c.whatsapp_parameters, c.dlt_entity_id,
                   c.dlt_header, c.dlt_template_id)::private.claimed_message
          from unnest(claimed) with ordinality as c
         where c.id <> all (deferred)
         order by c.ordinality);
    end if;
  end if;

  return query
  select c.* from unnest(claimed) c where c.id <> all (held);
end;
$$;

