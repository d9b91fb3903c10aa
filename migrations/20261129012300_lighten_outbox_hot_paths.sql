-- The outbox's hot paths, after bench/messages.ts traced where a drain and a webhook spend
-- their time (2 cores, 20,000 messages):
-- * The claim set each message's provider on first claim, so every claimed row paid a foreign-key
--   check (about 5 ms per 100); the gate now chooses the provider as it queues.
-- * Recording a batch called the gate for the WhatsApp-to-SMS fallback even with nothing to
--   fall back (5-11 ms), and rewrote the provider's breaker row after every success, which the
--   dispatchers also lock for permits; now only when there is a fallback, or the row changes.
-- * Recording vendor events ran the suppression, window and opt-out statements (with their
--   statement-level audit triggers) for deliveries that have none; now only when needed.
-- What each function decides is unchanged.

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
           t.lint -> 'variables' as template_variables
      from unnest(batch) g
      join public.customers cu on cu.id = g.customer_id
      left join lateral (
        select t.* from public.templates t
         where g.template_code is not null
           and t.code = g.template_code and t.channel = g.channel and t.active
           and t.language in (coalesce(g.language, cu.language, 'en'), 'en')
         order by t.language = coalesce(g.language, cu.language, 'en') desc
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
           case
             when not exists (select 1 from public.channels ch
                               where ch.type = j.channel and ch.enabled) then 'channel_disabled'
             when j.final_purpose <> 'transactional'
                  and coalesce(private.setting(format('ENABLE_%s_CAMPAIGNS', upper(j.channel::text))),
                               'true') = 'false' then 'channel_disabled'
             when j.recipient is null then 'no_address'
             when j.channel = 'sms' and j.template_id is null then 'sms_needs_dlt_template'
             when j.consent_status = 'withdrawn' then 'consent_withdrawn'
             when j.final_purpose = 'marketing' and j.consent_status is null then 'no_consent'
             when j.channel = 'whatsapp' and not j.whatsapp_opted_in then 'whatsapp_not_opted_in'
             when j.final_purpose = 'marketing' and j.channel = 'sms' and j.dnd then 'dnd'
             when exists (select 1 from public.suppressions s
                           where s.channel = j.channel and s.address = j.recipient) then 'suppressed'
             when j.channel = 'whatsapp' and j.template_id is null
                  and not coalesce(j.window_open, false) then 'whatsapp_window_closed'
             when j.channel = 'whatsapp' and j.template_id is not null
                  and j.whatsapp_status is distinct from 'approved'
                  and not coalesce(j.window_open, false) then 'template_not_approved'
             when j.final_body ~ '\{\{\s*[a-z][a-z0-9_]*\s*\}\}'
                  or coalesce(j.final_subject, '') ~ '\{\{\s*[a-z][a-z0-9_]*\s*\}\}'
               then 'missing_variables'
           end as gate_reason
      from judged j
  ),
  capped as (
    -- The frequency cap counts what the customer already has for the purpose in the window
    -- (blocked and cancelled messages do not count), then this batch in key order. Two
    -- concurrent batches for one customer may each pass it once: a cap, not a lock.
    select f.*,
           case
             when f.gate_reason is null and caps ? f.final_purpose::text
                  and (select count(*) from public.messages m
                        where m.customer_id = f.customer_id and m.purpose = f.final_purpose
                          and m.status not in ('blocked', 'cancelled')
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
      next_attempt_at, estimated_cost_paise, created_by, queued_at, provider)
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
              where ch.type = t.channel and ch.enabled order by ch.name limit 1) end
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
  -- refused): the same template on SMS, through the gate again.
  if exists (select 1 from unnest(batch) r
              where r.disposition = 'fallback' and not r.ok
                and (select m.channel from public.messages m where m.id = r.id) = 'whatsapp') then
  perform private.enqueue_messages(coalesce(jsonb_agg(jsonb_build_object(
             'customer_id', m.customer_id, 'case_id', m.case_id, 'channel', 'sms',
             'template_code', t.code, 'variables', m.variables,
             'purpose', m.purpose, 'body', case when t.id is null then m.body end,
             'priority', m.priority, 'created_by', m.created_by,
             'idempotency_key', m.idempotency_key || ':sms')), '[]'), as_of)
    from unnest(batch) r
    join public.messages m on m.id = r.id
    left join public.templates t on t.id = m.template_id
   where r.disposition = 'fallback' and m.channel = 'whatsapp' and not r.ok;
  end if;

  -- The breaker: a success closes it; consecutive transient failures open it (throttling does
  -- not count: a vendor pacing us is up); a failed probe opens it again.
  with tally as (
    select r.provider,
           bool_or(r.ok) as any_ok,
           count(*) filter (where not r.ok and r.disposition = 'transient' and not r.throttled)
             as transient
      from unnest(batch) r
     group by r.provider
  ),
  changed as (
    update public.provider_state ps
       set consecutive_failures = case when t.any_ok then 0
                                       else ps.consecutive_failures + t.transient end,
           breaker = case
                       when t.any_ok then 'closed'
                       when t.transient > 0 and (ps.breaker = 'half_open'
                            or ps.consecutive_failures + t.transient >= (breaker_settings ->> 'failures')::integer)
                         then 'open'
                       else ps.breaker end,
           breaker_since = case
                             when t.any_ok and ps.breaker <> 'closed' then as_of
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
            or (not t.any_ok and t.transient > 0))
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
  -- seeing this (uncommitted) event either. Rows in id order, so webhooks never deadlock each
  -- other.
  perform 1 from public.messages m
   where m.id in (select f.message_id from unnest(fresh_rows) f where f.message_id is not null)
   order by m.id
     for update;

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
     set status = case when private.message_status_rank(b.status) > private.message_status_rank(m.status)
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
         next_attempt_at = m.next_attempt_at,
         deferred_reason = case when private.message_status_rank(b.status) >= 2 then null
                                else m.deferred_reason end
    from best b
    join reached r on r.message_id = b.message_id
   where m.id = b.message_id
     -- A message being sent is left to its dispatcher (see the top of this file).
     and m.status <> 'sending'
     and private.message_status_rank(m.status) < 5;
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

  return jsonb_build_object('received', jsonb_array_length(events), 'new', fresh,
                            'messages_moved', moved, 'suppressed', suppressed,
                            'opted_out', opted_out);
end;
$$;

