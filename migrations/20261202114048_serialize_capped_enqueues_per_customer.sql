-- The frequency cap under concurrency (issue 7, found by a break-test): ten connections each
-- enqueueing one marketing email for the same customer at once all passed a cap of two, since
-- each batch counted the customer's messages without the others' (not yet committed). The gate
-- now locks the batch's customers' rows (for no key update, in id order) before it counts,
-- whenever MESSAGE_FREQUENCY_CAPS holds a cap: concurrent batches for one customer take turns,
-- and each counts what the ones before it queued. Batches for different customers do not wait
-- for each other. Restated from 20261201031000 with the lock added before the gate's statement.

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
  -- The frequency cap counts each customer's messages already queued or sent: two batches for
  -- one customer at once each counted without the other's and both passed. The customers'
  -- rows are locked first, in id order (row locks: a campaign's 100,000 customers do not fill
  -- the lock table), so a second batch waits for the first to commit and the statement below,
  -- with a snapshot taken after the wait, counts its messages.
  if caps <> '{}'::jsonb then
    perform 1 from public.customers cu
     where cu.id in (select g.customer_id from unnest(batch) g)
     order by cu.id
       for no key update;
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
