-- What an adversarial review of the outbound pipeline found (reproduced, then fixed here):
-- * The gate decided once, when a message was queued. A message deferred overnight, or waiting
--   for a retry, a lease or a redrive, went out even after its customer withdrew consent, replied
--   STOP, went on DND, was suppressed, or after the channel was switched off; a retry could land
--   outside TRAI's hours, free WhatsApp text outside the 24-hour window. The rules now live in one
--   function, private.message_block_reason(), which the gate asks when queuing and the claim asks
--   again at send time: a message no longer allowed is blocked with the reason, one outside its
--   hours is deferred.
-- * What a message sends through its vendor's template (WhatsApp name, language and parameters,
--   SMS DLT ids) is kept with the message when it is queued; an edit of the template no longer
--   changes a queued message.
-- * One WhatsApp-to-SMS fallback the gate refused (no SMS twin of the template; a long key)
--   raised inside record_send_results and lost the whole batch's results, so every message in it
--   was sent again; fallbacks are now queued only where an SMS template exists, under a key of
--   their own. WhatsApp failures reported by webhook (131026, 131047, ...) fall back too.
-- * A probe that ended in anything but success or a server error left a breaker half-open for
--   good; any answer from the vendor now closes it, and a probe lost with its dispatcher is
--   retried after open_seconds.
-- * Opt-out replies with punctuation (Stop!, STOP., रोकें।) and Meta's "Stop promotions" were not
--   recognised. A late delivery report for a dead letter now revives it as delivered (a redrive
--   would have sent it twice). Failed messages no longer count against the frequency cap (which
--   blocked the SMS fallback of a failed WhatsApp). The campaign switches fail closed (only
--   `true` is on). A template of another language only no longer breaks the gate; an unknown
--   customer is refused; an SMS variable longer than DLT's 30 characters is blocked; a WhatsApp
--   template Meta has not approved is blocked even inside the window (Meta refuses it, 132001);
--   the desk's free text cannot call itself transactional; long desk keys are hashed; a case's
--   messages are seen only by those who see the case.

alter table public.messages add column template_snapshot jsonb;

comment on column public.messages.template_snapshot is
  'What the vendor''s template gets, fixed when queued: {whatsapp_name, whatsapp_language, '
  'whatsapp_parameters[], dlt_entity_id, dlt_header, dlt_template_id}; null for free text.';

-- Whether a message may go to its customer now, and if not why: the checks of the law and of the
-- customer, asked by the gate when queuing and by the claim when sending.
create function private.message_block_reason(
  customer_id uuid,
  channel public.channel_type,
  purpose public.consent_purpose,
  recipient text,
  template_id uuid,
  as_of timestamptz
) returns text
language sql stable
set search_path = ''
as $$
  select case
           when not exists (select 1 from public.channels ch
                             where ch.type = message_block_reason.channel and ch.enabled)
             then 'channel_disabled'
           -- Only `true` is on: a switch set to anything else fails closed.
           when message_block_reason.purpose <> 'transactional'
                and coalesce(private.setting(format('ENABLE_%s_CAMPAIGNS',
                                                    upper(message_block_reason.channel::text))),
                             'true'::jsonb) <> 'true'::jsonb
             then 'channel_disabled'
           when message_block_reason.recipient is null then 'no_address'
           when message_block_reason.channel = 'sms' and t.id is null then 'sms_needs_dlt_template'
           when cs.status = 'withdrawn' then 'consent_withdrawn'
           when message_block_reason.purpose = 'marketing' and cs.status is distinct from 'granted'
             then 'no_consent'
           when message_block_reason.channel = 'whatsapp'
                and not exists (select 1 from public.consents w
                                 where w.customer_id = cu.id and w.channel = 'whatsapp'
                                   and w.status = 'granted')
             then 'whatsapp_not_opted_in'
           when message_block_reason.purpose = 'marketing' and message_block_reason.channel = 'sms'
                and cu.dnd
             then 'dnd'
           when exists (select 1 from public.suppressions s
                         where s.channel = message_block_reason.channel
                           and s.address = message_block_reason.recipient)
             then 'suppressed'
           when message_block_reason.channel = 'whatsapp' and t.id is null
                and not coalesce(ww.last_inbound_at > as_of - interval '24 hours', false)
             then 'whatsapp_window_closed'
           when message_block_reason.channel = 'whatsapp' and t.id is not null
                and t.whatsapp_status is distinct from 'approved'
             then 'template_not_approved'
         end
    from public.customers cu
    left join public.templates t on t.id = message_block_reason.template_id
    left join public.consents cs
      on cs.customer_id = cu.id and cs.channel = message_block_reason.channel
     and cs.purpose = message_block_reason.purpose
    left join public.whatsapp_windows ww on ww.customer_id = cu.id
   where cu.id = message_block_reason.customer_id
$$;

comment on function private.message_block_reason(uuid, public.channel_type, public.consent_purpose, text, uuid, timestamptz) is
  'Why a message may not go now (null: it may): channel_disabled (no enabled channel, or '
  'ENABLE_<CHANNEL>_CAMPAIGNS not true for service and marketing), no_address, '
  'sms_needs_dlt_template, consent_withdrawn, no_consent (marketing), whatsapp_not_opted_in, '
  'dnd (marketing SMS, NCPR), suppressed, whatsapp_window_closed (free text 24 h after the '
  'customer''s last message), template_not_approved (Meta refuses it, 132001). Asked by the gate '
  'and again by the claim.';


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
               r.idempotency_key, r.not_before, r.created_by)::private.gate_request
      from (
        select distinct on (x.idempotency_key) x.*
          from rows from (jsonb_to_recordset(requests) as (
                 customer_id uuid, case_id uuid, channel public.channel_type,
                 purpose public.consent_purpose, template_code text, language text,
                 variables jsonb, body text, subject text, priority smallint,
                 idempotency_key text, not_before timestamptz, created_by uuid))
               with ordinality as x (customer_id, case_id, channel, purpose, template_code,
                                     language, variables, body, subject, priority,
                                     idempotency_key, not_before, created_by, n)
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

  with resolved as (
    select g.*,
           cu.dnd,
           case g.channel when 'email' then lower(cu.email) else cu.phone end as recipient,
           t.id as template_id,
           t.purpose as template_purpose,
           t.subject as template_subject,
           t.body as template_body,
           t.whatsapp_category,
           t.whatsapp_status,
           t.lint -> 'variables' as template_variables,
           case when t.id is not null then jsonb_strip_nulls(jsonb_build_object(
             'whatsapp_name', t.whatsapp_name, 'whatsapp_language', t.language,
             'whatsapp_parameters', case when t.channel = 'whatsapp' then to_jsonb(array(
               select coalesce(g.variables ->> v[1], '')
                 from regexp_matches(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as v)) end,
             'dlt_entity_id', t.dlt_entity_id, 'dlt_header', t.dlt_header,
             'dlt_template_id', t.dlt_template_id)) end as template_snapshot
      from unnest(batch) g
      join public.customers cu on cu.id = g.customer_id
      left join lateral (
        select t.* from public.templates t
         where g.template_code is not null
           and t.code = g.template_code and t.channel = g.channel and t.active
         -- The customer's language, else English, else any the template has.
         order by t.language = coalesce(g.language, cu.language, 'en') desc, t.language = 'en' desc,
                  t.language
         limit 1
      ) t on true
     where not exists (select 1 from public.messages m where m.idempotency_key = g.idempotency_key)
  ),
  judged as (
    select r.*,
           coalesce(r.template_purpose, r.purpose) as final_purpose,
           coalesce(private.render_template(r.template_body, r.variables), r.body) as final_body,
           coalesce(private.render_template(r.template_subject, r.variables), r.subject) as final_subject,
           cs_channel.status as consent_status,
           exists (select 1 from public.consents w
                    where w.customer_id = r.customer_id and w.channel = 'whatsapp'
                      and w.status = 'granted') as whatsapp_opted_in,
           ww.last_inbound_at > as_of - interval '24 hours' as window_open
      from resolved r
      left join public.consents cs_channel
        on cs_channel.customer_id = r.customer_id and cs_channel.channel = r.channel
       and cs_channel.purpose = coalesce(r.template_purpose, r.purpose)
      left join public.whatsapp_windows ww on ww.customer_id = r.customer_id
  ),
  fated as (
    select j.*,
           coalesce(
             private.message_block_reason(j.customer_id, j.channel, j.final_purpose, j.recipient,
                                          j.template_id, as_of),
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
  ),
  capped as (
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
  timed as (
    select c.*,
           case
             when c.final_purpose = 'marketing'
               then private.next_allowed_time(c.earliest, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time)
             when c.final_purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(c.earliest, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time)
             else c.earliest
           end as due
      from capped c
  ),
  stored as (
    insert into public.messages as m (
      customer_id, case_id, channel, purpose, template_id, variables, subject, body, recipient,
      priority, status, blocked_reason, blocked_at, deferred_reason, idempotency_key,
      next_attempt_at, estimated_cost_paise, created_by, queued_at, provider, template_snapshot)
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
           t.template_snapshot
      from timed t
    on conflict on constraint messages_idempotency_key_key do nothing
    returning m.id
  )
  select coalesce(array_agg(stored.id), '{}') into inserted from stored;

  if exists (select 1 from public.messages m where m.id = any (inserted) and m.status = 'queued') then
    perform pg_notify('messages_queued', '');
  end if;

  return query
  select m.id, m.idempotency_key, m.status, m.blocked_reason, m.deferred_reason,
         m.next_attempt_at, m.id = any (inserted)
    from unnest(batch) g
    join public.messages m on m.idempotency_key = g.idempotency_key
   order by g.n;
end;
$$;




create or replace function private.send_desk_message(request jsonb, as_of timestamptz default now())
returns table (
  message_id uuid,
  status public.message_status,
  blocked_reason text,
  deferred_reason text,
  next_attempt_at timestamptz,
  created boolean
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  customer uuid;
  renewal uuid;
begin
  if not private.is_desk_member() then
    raise exception 'only the desk sends messages' using errcode = '42501';
  end if;
  if request is null or jsonb_typeof(request) <> 'object'
     or request ->> 'idempotency_key' is null then
    raise exception 'a message needs an idempotency_key' using errcode = '22023';
  end if;
  if request ->> 'template_code' is null and request ->> 'purpose' = 'transactional' then
    raise exception 'the desk''s own text is service or marketing; transactional messages come '
                    'from templates' using errcode = '22023';
  end if;
  customer := (request ->> 'customer_id')::uuid;
  renewal := (request ->> 'case_id')::uuid;
  if not exists (select 1 from public.customers cu
                  where cu.id = customer and cu.book_keys && private.visible_book_keys()) then
    raise exception 'no such customer, or not yours to see' using errcode = 'P0002';
  end if;
  if renewal is not null and not exists (
       select 1 from public.renewal_cases c
        where c.id = renewal and c.customer_id = customer
          and c.assignee_id = any (private.visible_agent_ids())) then
    raise exception 'no such case for this customer, or not yours to see' using errcode = 'P0002';
  end if;
  return query
  select e.message_id, e.status, e.blocked_reason, e.deferred_reason, e.next_attempt_at, e.created
    from private.enqueue_messages(
           jsonb_build_object(
             'customer_id', customer, 'case_id', renewal,
             'channel', request -> 'channel', 'purpose', request -> 'purpose',
             'template_code', request -> 'template_code', 'variables', request -> 'variables',
             'body', request -> 'body', 'subject', request -> 'subject',
             'language', request -> 'language',
             'priority', 3,
             -- Scoped to the caller; a long key is hashed to fit the outbox's 200 characters.
             'idempotency_key', format('desk:%s:%s', caller,
               case when length(request ->> 'idempotency_key') <= 150
                    then request ->> 'idempotency_key'
                    else 'sha256:' || encode(sha256(convert_to(request ->> 'idempotency_key', 'UTF8')), 'hex')
               end),
             'created_by', caller),
           as_of) as e;
end;
$$;


create or replace function private.claim_messages(worker text, batch_size integer, as_of timestamptz default now())
returns setof private.claimed_message
language plpgsql
security definer
set search_path = ''
as $$
declare
  lease interval := make_interval(secs => coalesce((private.setting('MESSAGE_LEASE_SECONDS') #>> '{}')::integer, 60));
  stall_limit integer := coalesce((private.setting('MESSAGE_STALL_LIMIT') #>> '{}')::integer, 3);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  wanted integer := batch_size;
  level smallint;
  taken uuid[] := '{}';
  held uuid[];
begin
  if worker is null or length(worker) = 0 or batch_size is null or batch_size not between 1 and 1000 then
    raise exception 'claim_messages needs a worker name and a batch of 1 to 1000' using errcode = '22023';
  end if;
  -- Priority by priority, each an index range (priority = p, next_attempt_at <= as_of) on the
  -- claimable rows: deferred rows of a higher priority are never walked.
  for level in 0..9 loop
    exit when wanted <= 0;
    with picked as (
      select m.id from public.messages m
       where m.status in ('queued', 'sending') and m.priority = level
         and m.next_attempt_at <= as_of
       order by m.next_attempt_at
       limit wanted
       for update skip locked
    ),
    moved as (
      update public.messages m
         set status = case when m.status = 'sending' and m.stalls + 1 >= stall_limit
                           then 'dead' else 'sending' end::public.message_status,
             stalls = m.stalls + (m.status = 'sending')::integer,
             dead_reason = case when m.status = 'sending' and m.stalls + 1 >= stall_limit
                                then 'stalled' end,
             dead_at = case when m.status = 'sending' and m.stalls + 1 >= stall_limit then as_of end,
             attempts = m.attempts + 1,
             provider_attempts = m.provider_attempts + 1,
             provider = coalesce(m.provider, (
               select ch.provider from public.channels ch
                where ch.type = m.channel and ch.enabled order by ch.name limit 1)),
             locked_by = worker,
             locked_until = as_of + lease,
             next_attempt_at = as_of + lease,
             sending_at = as_of,
             deferred_reason = null
        from picked
       where m.id = picked.id
      returning m.id, m.status
    )
    select taken || coalesce(array_agg(moved.id) filter (where moved.status = 'sending'), '{}'),
           wanted - count(*)::integer
      into taken, wanted
      from moved;
  end loop;

  -- Asked again at send time: what the gate allowed may no longer be allowed (consent
  -- withdrawn, STOP, DND, suppressed, channel off, the WhatsApp window closed), and a retry or
  -- a redrive may fall outside the message's hours. The attempt is not counted for either.
  with rechecked as (
    select m.id,
           private.message_block_reason(m.customer_id, m.channel, m.purpose, m.recipient,
                                        m.template_id, as_of) as reason,
           case
             when m.purpose = 'marketing'
               then private.next_allowed_time(as_of, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time)
             when m.purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(as_of, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time)
             else as_of
           end as due
      from public.messages m
     where m.id = any (taken)
  ),
  stopped as (
    update public.messages m
       set status = case when r.reason is not null then 'blocked' else 'queued' end::public.message_status,
           blocked_reason = r.reason,
           blocked_at = case when r.reason is not null then as_of end,
           next_attempt_at = case when r.reason is null then r.due else m.next_attempt_at end,
           deferred_reason = case when r.reason is null and m.purpose = 'marketing' then 'promotional_hours'
                                  when r.reason is null then 'quiet_hours' end,
           attempts = m.attempts - 1,
           provider_attempts = m.provider_attempts - 1,
           locked_by = null,
           locked_until = null
      from rechecked r
     where m.id = r.id and (r.reason is not null or r.due > as_of)
    returning m.id
  )
  select coalesce(array_agg(stopped.id), '{}') into held from stopped;
  taken := array(select unnest(taken) except select unnest(held));

  return query
  select m.id, m.attempts, m.channel, m.purpose, m.provider, m.recipient, m.subject, m.body,
         coalesce(m.template_snapshot ->> 'whatsapp_name', t.whatsapp_name),
         coalesce(m.template_snapshot ->> 'whatsapp_language', t.language),
         coalesce(array(select jsonb_array_elements_text(m.template_snapshot -> 'whatsapp_parameters')),
                  array(select coalesce(m.variables ->> v[1], '')
                          from regexp_matches(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as v)),
         coalesce(m.template_snapshot ->> 'dlt_entity_id', t.dlt_entity_id),
         coalesce(m.template_snapshot ->> 'dlt_header', t.dlt_header),
         coalesce(m.template_snapshot ->> 'dlt_template_id', t.dlt_template_id)
    from public.messages m
    left join public.templates t on t.id = m.template_id
   where m.id = any (taken)
   order by m.priority, m.sending_at, m.id;
end;
$$;


create or replace function private.take_send_permits(wanted jsonb, as_of timestamptz default now())
returns table (provider text, permits integer, breaker text, retry_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  breaker_settings jsonb := coalesce(private.setting('PROVIDER_BREAKER'), '{"failures": 5, "open_seconds": 30}');
  ask record;
  state public.provider_state;
  refilled numeric;
  granted integer;
begin
  for ask in select w.key as provider, (w.value #>> '{}')::integer as n
               from jsonb_each(wanted) w order by w.key loop
    select * into state from public.provider_state ps where ps.provider = ask.provider for update;
    if not found then
      insert into public.provider_state (provider) values (ask.provider)
      on conflict do nothing;
      select * into state from public.provider_state ps where ps.provider = ask.provider for update;
    end if;
    -- Open past open_seconds, or half-open with its probe lost (its dispatcher died): one probe.
    if state.breaker in ('open', 'half_open')
       and as_of >= state.breaker_since + make_interval(secs => (breaker_settings ->> 'open_seconds')::integer) then
      update public.provider_state ps set breaker = 'half_open', breaker_since = as_of
       where ps.provider = ask.provider;
      insert into public.provider_breaker_events (provider, breaker, at) values (ask.provider, 'half_open', as_of);
      provider := ask.provider; permits := least(ask.n, 1); breaker := 'half_open'; retry_at := null;
      return next;
      continue;
    elsif state.breaker <> 'closed' then
      -- Open, or half-open with its probe out: nothing until the probe's result.
      provider := ask.provider; permits := 0; breaker := state.breaker;
      retry_at := case when state.breaker = 'open'
                       then state.breaker_since + make_interval(secs => (breaker_settings ->> 'open_seconds')::integer)
                       else as_of + interval '1 second' end;
      return next;
      continue;
    end if;
    refilled := least(state.rate_per_second,
                      state.tokens + state.rate_per_second
                        * greatest(extract(epoch from as_of - state.tokens_at), 0));
    granted := least(ask.n, floor(refilled)::integer);
    update public.provider_state ps
       set tokens = refilled - granted, tokens_at = greatest(as_of, ps.tokens_at)
     where ps.provider = ask.provider;
    provider := ask.provider; permits := granted; breaker := 'closed';
    retry_at := case when granted < ask.n
                     then as_of + make_interval(secs => (ask.n - granted) / state.rate_per_second)
                end;
    return next;
  end loop;
end;
$$;


-- The SMS fallback of failed WhatsApp messages, for those whose template has an active SMS twin,
-- each under a key of its own (the original's id). Returns how many it queued.
create function private.queue_sms_fallbacks(message_ids uuid[], as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  requests jsonb;
begin
  select jsonb_agg(jsonb_build_object(
           'customer_id', m.customer_id, 'case_id', m.case_id, 'channel', 'sms',
           'template_code', t.code, 'language', t.language, 'variables', m.variables,
           'priority', m.priority, 'created_by', m.created_by,
           'idempotency_key', 'sms-fallback:' || m.id))
    into requests
    from public.messages m
    join public.templates t on t.id = m.template_id
   where m.id = any (message_ids) and m.channel = 'whatsapp'
     and exists (select 1 from public.templates s
                  where s.code = t.code and s.channel = 'sms' and s.active);
  if requests is null then
    return 0;
  end if;
  return (select count(*) from private.enqueue_messages(requests, as_of) e where e.created);
end;
$$;

comment on function private.queue_sms_fallbacks(uuid[], timestamptz) is
  'Queues, through the gate, the SMS twin of each failed WhatsApp message whose template has an '
  'active SMS version (key sms-fallback:<message id>, so once per message); free text and '
  'templates without a twin get none. Returns how many it queued.';

revoke execute on function private.queue_sms_fallbacks(uuid[], timestamptz) from public;


create or replace function private.record_send_results(worker text, results jsonb, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  retry jsonb := coalesce(private.setting('MESSAGE_RETRY'), '{"max_attempts": 5, "base_seconds": 30, "max_seconds": 3600}');
  breaker_settings jsonb := coalesce(private.setting('PROVIDER_BREAKER'), '{"failures": 5, "open_seconds": 30}');
  recorded integer;
  batch private.send_result[];
begin
  -- Only results for messages this worker still holds, at the attempt it claimed (a result
  -- that comes back after its lease ran out and another dispatcher took the message is void).
  batch := array(
    select row(r.id, r.attempt, r.ok, m.provider, r.provider_message_id, r.cost_paise,
               r.disposition, r.code, left(r.message, 500), r.retry_after_ms,
               coalesce(r.address_dead, false), coalesce(r.throttled, false))::private.send_result
      from jsonb_to_recordset(results) as r (
             id uuid, attempt smallint, ok boolean, provider_message_id text, cost_paise numeric,
             disposition text, code text, message text, retry_after_ms bigint,
             address_dead boolean, throttled boolean)
      join public.messages m on m.id = r.id
     where m.locked_by = worker and m.status = 'sending' and m.attempts = r.attempt
       and (r.ok or r.disposition in ('transient', 'permanent', 'fallback')));

  with outcome as (
    select r.*, m.channel, m.provider_attempts, m.recipient,
           ch.fallback_provider,
           case
             when r.ok then 'sent'
             when r.disposition = 'permanent' then 'failed'
             when r.disposition = 'fallback' and m.channel = 'whatsapp' then 'failed'
             when r.disposition = 'fallback' and ch.fallback_provider is not null
                  and m.provider <> ch.fallback_provider then 'switch'
             when r.disposition = 'fallback' then 'failed'
             when m.provider_attempts < (retry ->> 'max_attempts')::integer then 'retry'
             when ch.fallback_provider is not null and m.provider <> ch.fallback_provider then 'switch'
             else 'dead'
           end as fate
      from unnest(batch) r
      join public.messages m on m.id = r.id
      left join lateral (
        select c.fallback_provider from public.channels c
         where c.type = m.channel and c.enabled and c.provider = m.provider
            or (c.type = m.channel and c.enabled and c.fallback_provider = m.provider)
         order by c.provider = m.provider desc limit 1
      ) ch on true
  )
  update public.messages m
     set status = case o.fate
                    when 'sent' then 'sent'
                    when 'failed' then 'failed'
                    when 'dead' then 'dead'
                    else 'queued' end::public.message_status,
         provider_message_id = case when o.ok then o.provider_message_id else m.provider_message_id end,
         sent_at = case when o.ok then as_of else m.sent_at end,
         cost_paise = case when o.ok then coalesce(o.cost_paise, m.cost_paise) else m.cost_paise end,
         failed_at = case when o.fate = 'failed' then as_of else m.failed_at end,
         dead_at = case when o.fate = 'dead' then as_of else m.dead_at end,
         dead_reason = case when o.fate = 'dead' then 'retries_exhausted' else m.dead_reason end,
         last_error_code = case when o.ok then m.last_error_code else o.code end,
         last_error = case when o.ok then m.last_error else o.message end,
         provider = case when o.fate = 'switch' then o.fallback_provider else m.provider end,
         provider_attempts = case when o.fate = 'switch' then 0 else m.provider_attempts end,
         next_attempt_at = case o.fate
                             when 'retry' then as_of + greatest(
                               make_interval(secs => coalesce(o.retry_after_ms, 0) / 1000.0),
                               -- full jitter: uniform in [0, min(cap, base * 2^(n-1))]
                               make_interval(secs => random() * least(
                                 (retry ->> 'max_seconds')::numeric,
                                 (retry ->> 'base_seconds')::numeric * power(2, m.provider_attempts - 1))))
                             else as_of end,
         deferred_reason = case o.fate when 'retry' then 'retry' else null end,
         locked_by = null,
         locked_until = null
    from outcome o
   where m.id = o.id;
  get diagnostics recorded = row_count;

  -- Dead addresses go on the suppression list.
  insert into public.suppressions (channel, address, reason, source, message_id)
  select distinct on (m.channel, m.recipient)
         m.channel, m.recipient,
         case when m.channel = 'email' then 'hard_bounce'
              when r.code = '21610' then 'unsubscribed'
              else 'invalid_number' end,
         format('%s_%s', r.provider, r.code), m.id
    from unnest(batch) r
    join public.messages m on m.id = r.id
   where not r.ok and r.address_dead and m.recipient is not null
  on conflict (channel, address) do nothing;

  -- WhatsApp refused for a reason SMS can get round (window closed, undeliverable, template
  -- refused): the same template on SMS, through the gate again, where the template has an SMS
  -- twin (a fallback the gate cannot take must not cost the batch its results).
  perform private.queue_sms_fallbacks(array(
    select r.id from unnest(batch) r where r.disposition = 'fallback' and not r.ok), as_of);

  -- The breaker: a success closes it; consecutive transient failures open it (throttling does
  -- not count: a vendor pacing us is up); a failed probe opens it again.
  with tally as (
    select r.provider,
           bool_or(r.ok) as any_ok,
           count(*) filter (where not r.ok and r.disposition = 'transient' and not r.throttled)
             as transient,
           bool_or(not r.ok and (r.disposition <> 'transient' or r.throttled)) as answered
      from unnest(batch) r
     group by r.provider
  ),
  changed as (
    update public.provider_state ps
       set consecutive_failures = case when t.any_ok then 0
                                       else ps.consecutive_failures + t.transient end,
           breaker = case
                       when t.any_ok then 'closed'
                       -- A half-open probe the vendor answered (even with a refusal) shows it up.
                       when ps.breaker = 'half_open' and t.answered then 'closed'
                       when t.transient > 0 and (ps.breaker = 'half_open'
                            or ps.consecutive_failures + t.transient >= (breaker_settings ->> 'failures')::integer)
                         then 'open'
                       else ps.breaker end,
           breaker_since = case
                             when t.any_ok and ps.breaker <> 'closed' then as_of
                             when ps.breaker = 'half_open' and t.answered then as_of
                             when not t.any_ok and t.transient > 0 and (ps.breaker = 'half_open'
                                  or (ps.breaker = 'closed' and ps.consecutive_failures + t.transient
                                      >= (breaker_settings ->> 'failures')::integer))
                               then as_of
                             else ps.breaker_since end
      from tally t, public.provider_state before
     where ps.provider = t.provider and before.provider = t.provider
       -- A success changes the row only after failures; a quiet row is not rewritten (and not
       -- locked against the dispatchers taking permits).
       and ((t.any_ok and (before.consecutive_failures > 0 or before.breaker <> 'closed'))
            or (not t.any_ok and t.transient > 0)
            or (before.breaker = 'half_open' and t.answered))
    returning ps.provider, ps.breaker, before.breaker as was
  )
  insert into public.provider_breaker_events (provider, breaker, at)
  select c.provider, c.breaker, as_of from changed c where c.breaker is distinct from c.was;

  return recorded;
end;
$$;




create or replace function private.record_message_events(provider text, events jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  vendor text := provider;
  fresh integer;
  moved integer;
  suppressed integer := 0;
  opted_out integer := 0;
  fresh_rows private.fresh_event[];
begin
  if vendor is null or not exists (select 1 from public.vendors v where v.code = vendor) then
    raise exception 'unknown provider %', vendor using errcode = '22023';
  end if;
  if events is null or jsonb_typeof(events) <> 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;

  with incoming as (
    select e.*, m.id as matched
      from (
        -- A key repeated within one delivery is one event (the first).
        select distinct on (r.event_key) r.*
          from rows from (jsonb_to_recordset(events) as (
                 event_key text, provider_message_id text, message_id uuid, kind text,
                 status public.message_status, vendor_status text, error_code text, error text,
                 occurred_at timestamptz, cost_paise numeric, suppress text, address text,
                 channel public.channel_type, reply text, payload jsonb))
               with ordinality as r (
                 event_key, provider_message_id, message_id, kind, status, vendor_status,
                 error_code, error, occurred_at, cost_paise, suppress, address, channel, reply,
                 payload, n)
         order by r.event_key, r.n
      ) e
      left join lateral (
        -- Our id when the vendor echoed one we know, else the vendor's id.
        select found.id from (
          select m.id, 1 as preference from public.messages m
           where m.id = e.message_id
          union all
          select m.id, 2 from public.messages m
           where e.provider_message_id is not null
             and m.provider = vendor and m.provider_message_id = e.provider_message_id
        ) found
         order by found.preference
         limit 1
      ) m on true
  ),
  stored as (
    insert into public.message_events as me (provider, event_key, message_id, provider_message_id,
                                             kind, status, message_status, error_code, occurred_at,
                                             payload)
    select vendor, i.event_key, i.matched, i.provider_message_id, i.kind,
           coalesce(i.vendor_status, i.status::text), i.status, i.error_code,
           coalesce(i.occurred_at, now()), coalesce(i.payload, '{}')
      from incoming i
    on conflict on constraint message_events_provider_event_key_key do nothing
    returning me.id, me.event_key
  )
  select coalesce(array_agg(row(s.id, i.matched, i.kind, i.status, coalesce(i.occurred_at, now()),
                                i.error_code, left(i.error, 500), i.cost_paise, i.suppress,
                                i.address, i.channel, i.reply)::private.fresh_event), '{}')
    into fresh_rows
    from stored s
    join incoming i on i.event_key = s.event_key;
  fresh := cardinality(fresh_rows);

  -- Wait for a dispatcher recording these messages' sends: otherwise a callback arriving while
  -- its message is still `sending` would be left unapplied, the dispatcher's transaction not
  -- seeing this (uncommitted) event either. `for no key update`, the lock the dispatcher's
  -- update takes: `for update` also waits for the key-share lock another webhook's event insert
  -- holds on the same message, and two webhooks for one message deadlocked.
  perform 1 from public.messages m
   where m.id in (select f.message_id from unnest(fresh_rows) f where f.message_id is not null)
   order by m.id
     for no key update;

  -- Status forward only; with several new events for one message, the furthest wins.
  with best as (
    select distinct on (f.message_id) f.*
      from unnest(fresh_rows) f
     where f.kind = 'status' and f.message_id is not null and f.status is not null
     order by f.message_id, private.message_status_rank(f.status) desc, f.occurred_at desc
  ),
  reached as (
    select f.message_id,
           min(f.occurred_at) filter (where f.status in ('delivered', 'read')) as delivered_at,
           min(f.occurred_at) filter (where f.status = 'read') as read_at,
           max(f.cost_paise) as cost_paise
      from unnest(fresh_rows) f
     where f.kind = 'status' and f.message_id is not null
     group by f.message_id
  )
  update public.messages m
     set status = case when m.status = 'dead'
                         or private.message_status_rank(b.status) > private.message_status_rank(m.status)
                       then b.status else m.status end,
         sent_at = coalesce(m.sent_at, case when b.status in ('sent', 'delivered', 'read') then b.occurred_at end),
         delivered_at = coalesce(m.delivered_at, r.delivered_at),
         read_at = coalesce(m.read_at, r.read_at),
         failed_at = case when b.status in ('failed', 'undeliverable')
                           and private.message_status_rank(b.status) > private.message_status_rank(m.status)
                          then b.occurred_at else m.failed_at end,
         last_error_code = case when b.status in ('failed', 'undeliverable')
                                 and private.message_status_rank(b.status) > private.message_status_rank(m.status)
                                then b.error_code else m.last_error_code end,
         last_error = case when b.status in ('failed', 'undeliverable')
                            and private.message_status_rank(b.status) > private.message_status_rank(m.status)
                           then b.error else m.last_error end,
         cost_paise = coalesce(r.cost_paise, m.cost_paise),
         dead_reason = case when m.status = 'dead' then null else m.dead_reason end,
         dead_at = case when m.status = 'dead' then null else m.dead_at end,
         next_attempt_at = m.next_attempt_at,
         deferred_reason = case when private.message_status_rank(b.status) >= 2 then null
                                else m.deferred_reason end
    from best b
    join reached r on r.message_id = b.message_id
   where m.id = b.message_id
     -- A message being sent is left to its dispatcher (see the top of this file); a dead letter
     -- the vendor reports on was not dead after all.
     and m.status <> 'sending'
     and (private.message_status_rank(m.status) < 5 or m.status = 'dead');
  get diagnostics moved = row_count;

  -- Dead addresses: bounces, complaints, invalid numbers.
  if exists (select 1 from unnest(fresh_rows) f where f.suppress is not null) then
  insert into public.suppressions (channel, address, reason, source, message_id)
  select distinct on (coalesce(f.channel, m.channel), coalesce(f.address, m.recipient))
         coalesce(f.channel, m.channel), coalesce(f.address, m.recipient), f.suppress,
         format('%s_%s', vendor, coalesce(f.error_code, f.suppress)), f.message_id
    from unnest(fresh_rows) f
    left join public.messages m on m.id = f.message_id
   where f.suppress in ('hard_bounce', 'complaint', 'invalid_number', 'unsubscribed')
     and coalesce(f.channel, m.channel) is not null
     and coalesce(f.address, m.recipient) is not null
  on conflict (channel, address) do nothing;
  get diagnostics suppressed = row_count;
  end if;

  if exists (select 1 from unnest(fresh_rows) f where f.kind = 'inbound') then
  -- Inbound WhatsApp messages open the customer-service window of every customer on that number.
  insert into public.whatsapp_windows as w (customer_id, last_inbound_at)
  select cu.id, max(f.occurred_at)
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and f.channel = 'whatsapp'
   group by cu.id
  on conflict (customer_id) do update
    set last_inbound_at = greatest(w.last_inbound_at, excluded.last_inbound_at);

  -- An opt-out reply withdraws the marketing consent on that channel, with the reply as evidence.
  insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                     recorded_at, recorded_by)
  select distinct on (cu.id, f.channel)
         cu.id, f.channel, 'marketing', 'withdrawn',
         case f.channel when 'whatsapp' then 'whatsapp_reply' else 'sms_stop' end,
         jsonb_build_object('provider', vendor, 'event_id', f.event_id, 'reply', f.reply),
         f.occurred_at, null
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and f.channel in ('sms', 'whatsapp') and private.is_opt_out_reply(f.reply)
   order by cu.id, f.channel, f.occurred_at desc
  on conflict (customer_id, channel, purpose) do update
    set status = 'withdrawn', source = excluded.source, evidence = excluded.evidence,
        recorded_at = excluded.recorded_at, recorded_by = null;
  get diagnostics opted_out = row_count;

  -- Queued marketing for those customers on that channel will not go.
  update public.messages m
     set status = 'cancelled', cancelled_at = now(), locked_by = null, locked_until = null
    from unnest(fresh_rows) f
    join public.customers cu on cu.phone = f.address
   where f.kind = 'inbound' and private.is_opt_out_reply(f.reply)
     and m.customer_id = cu.id and m.channel = f.channel and m.purpose = 'marketing'
     and m.status = 'queued';
  end if;

  -- WhatsApp failures the vendor reported by webhook with a code SMS can get round (the
  -- webhook marks them `fallback`): the SMS twin, once per message whatever the repeats.
  if exists (select 1 from jsonb_to_recordset(events) as e (fallback boolean) where e.fallback) then
    perform private.queue_sms_fallbacks(array(
      select m.id
        from jsonb_to_recordset(events) as e (message_id uuid, provider_message_id text,
                                               fallback boolean)
        join public.messages m
          on m.id = e.message_id
          or (e.message_id is null and m.provider = vendor
              and m.provider_message_id = e.provider_message_id)
       where e.fallback and m.channel = 'whatsapp' and m.status in ('failed', 'undeliverable')),
      now());
  end if;
  return jsonb_build_object('received', jsonb_array_length(events), 'new', fresh,
                            'messages_moved', moved, 'suppressed', suppressed,
                            'opted_out', opted_out);
end;
$$;


-- A case's messages are seen by those who see the case (a customer may hold policies in two
-- branches: each sees the customer, not the other's case).
drop policy messages_select_member on public.messages;

create policy messages_select_member on public.messages
  for select to authenticated
  using (exists (select 1 from public.customers cu where cu.id = messages.customer_id)
         and (case_id is null
              or exists (select 1 from public.renewal_cases c where c.id = messages.case_id)));

-- Opt-out words with their punctuation (Stop!, STOP., रोकें।) and Meta's marketing opt-out button.
create or replace function private.is_opt_out_reply(reply text) returns boolean
language sql immutable
set search_path = ''
as $$
  select btrim(regexp_replace(lower(coalesce(reply, '')), '[[:space:][:punct:]।॥]+', ' ', 'g')) in (
    'stop', 'stop all', 'stopall', 'unsubscribe', 'cancel', 'end', 'quit', 'opt out', 'optout',
    'stop promo', 'stop promotions', 'रोकें', 'रोको', 'बंद', 'बंद करें', 'बंद करो',
    'सदस्यता समाप्त')
$$;
