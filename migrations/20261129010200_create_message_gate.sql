-- The gate: the one way into the outbox. private.enqueue_messages() takes one request or a set
-- (a campaign of 100,000 recipients is one statement) and decides in the database what becomes
-- of each: queued now, queued for later (deferred, with the reason), or blocked (with the
-- reason). Nothing reaches `queued` that the law or the customer forbids. Producers (daily jobs,
-- campaigns, payment receipts) call it as trusted roles; the desk's one-off messages go through
-- private.send_desk_message(), which checks what the caller may see first. No API role may
-- insert into messages (previous migration), so neither can bypass it.

-- Default channels: one per kind, with the fallback providers of DESIGN.md (Twilio -> AWS SNS
-- for SMS, SES -> SendGrid for email). Admins change providers, costs and switches.
insert into public.channels (type, name, provider, fallback_provider, cost_per_message)
select d.type::public.channel_type, d.name, d.provider, d.fallback, d.cost
  from (values ('whatsapp', 'WhatsApp', 'whatsapp_cloud', null, 11.5),
               ('sms', 'SMS', 'twilio', 'aws_sns', 25),
               ('email', 'Email', 'aws_ses', 'sendgrid', 0.85)) as d (type, name, provider, fallback, cost)
 where not exists (select 1 from public.channels c where c.type = d.type::public.channel_type)
on conflict (name) do nothing;

-- The first moment at or after `at` inside the daily window [window_start, window_end) of the
-- business time zone; the window may wrap midnight (21:00-08:00).
create function private.next_allowed_time(at timestamptz, window_start time, window_end time)
returns timestamptz
language plpgsql stable
set search_path = ''
as $$
declare
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  local_at timestamp := at at time zone zone;
  clock time := local_at::time;
  inside boolean := case when window_start <= window_end
                         then clock >= window_start and clock < window_end
                         else clock >= window_start or clock < window_end end;
begin
  if window_start = window_end or inside then
    return at;
  end if;
  -- Outside: the window opens next at window_start, today or tomorrow (local time).
  return (case when clock < window_start then local_at::date else local_at::date + 1 end
          + window_start) at time zone zone;
end;
$$;

comment on function private.next_allowed_time(timestamptz, time, time) is
  'The first moment at or after `at` whose business-time-zone clock lies in [window_start, '
  'window_end) (the window may wrap midnight; equal ends mean always). Used to defer marketing '
  'to promotional hours and service messages past quiet hours.';

-- {{name}} placeholders filled from `variables`; a placeholder without a value stays as written
-- (the gate blocks such a message as missing_variables before it could be sent).
create function private.render_template(template text, variables jsonb) returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  rendered text := template;
  placeholder record;
begin
  if template is null then
    return null;
  end if;
  for placeholder in
    select distinct m[1] as whole, m[2] as name
      from regexp_matches(template, '(\{\{\s*([a-z][a-z0-9_]*)\s*\}\})', 'g') as m
  loop
    if variables ? placeholder.name and jsonb_typeof(variables -> placeholder.name) <> 'null' then
      rendered := replace(rendered, placeholder.whole, variables ->> placeholder.name);
    end if;
  end loop;
  return rendered;
end;
$$;

comment on function private.render_template(text, jsonb) is
  'Fills each {{name}} of the text from the JSON object (values as text); placeholders without a '
  'value are left as written.';

create function private.enqueue_messages(requests jsonb, as_of timestamptz default now())
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

  if to_regclass('pg_temp.gate_requests') is null then
    create temporary table gate_requests (
    n bigint, customer_id uuid, case_id uuid, channel public.channel_type,
    purpose public.consent_purpose, template_code text, language text, variables jsonb,
    body text, subject text, priority smallint, idempotency_key text, not_before timestamptz,
    created_by uuid
    ) on commit drop;
  end if;
  truncate pg_temp.gate_requests;

  -- One row per key: a key repeated inside the batch is the same message.
  insert into pg_temp.gate_requests
  select distinct on (r.idempotency_key)
         r.n, r.customer_id, r.case_id, r.channel, r.purpose, r.template_code, r.language,
         coalesce(r.variables, '{}'), r.body, r.subject, coalesce(r.priority, 5),
         r.idempotency_key, r.not_before, r.created_by
    from rows from (jsonb_to_recordset(requests) as (
           customer_id uuid, case_id uuid, channel public.channel_type,
           purpose public.consent_purpose, template_code text, language text, variables jsonb,
           body text, subject text, priority smallint, idempotency_key text,
           not_before timestamptz, created_by uuid))
         with ordinality as r (customer_id, case_id, channel, purpose, template_code, language,
                               variables, body, subject, priority, idempotency_key, not_before,
                               created_by, n)
   order by r.idempotency_key, r.n;

  if exists (select 1 from pg_temp.gate_requests g
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
    from pg_temp.gate_requests g
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
      from pg_temp.gate_requests g
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
      next_attempt_at, estimated_cost_paise, created_by, queued_at)
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
           as_of
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
    from pg_temp.gate_requests g
    join public.messages m on m.idempotency_key = g.idempotency_key
   order by g.n;
end;
$$;

comment on function private.enqueue_messages(jsonb, timestamptz) is
  'The gate. Takes a JSON request or an array of them: {customer_id, channel (sms|email|whatsapp), '
  'idempotency_key, template_code + variables (the template in the customer''s language, else '
  'en) or body + purpose, [case_id, subject, language, priority 0-9 (default 5), not_before, '
  'created_by]}. For each key not seen before it stores one message, queued (next_attempt_at '
  'deferred to promotional hours for marketing, past quiet hours for service, or to not_before) '
  'or blocked with the first reason that applies: channel_disabled (no '
  'enabled channel, or ENABLE_<CHANNEL>_CAMPAIGNS off for service and marketing), no_address, '
  'sms_needs_dlt_template (in India an SMS outside a registered DLT template is dropped), '
  'consent_withdrawn, no_consent (marketing needs a granted consent), whatsapp_not_opted_in, '
  'dnd (marketing SMS to an NCPR number), suppressed, whatsapp_window_closed (free text outside '
  'the 24-hour window), template_not_approved, missing_variables, frequency_cap '
  '(MESSAGE_FREQUENCY_CAPS). Returns one row per distinct key, in request order: the message '
  '(the first one for a key seen before, created false). Notifies messages_queued. Raises 22023 '
  'on a malformed request or a template code with no active template on its channel. Security definer: producers may not write messages themselves.';

revoke execute on function private.enqueue_messages(jsonb, timestamptz) from public;
grant execute on function private.enqueue_messages(jsonb, timestamptz) to service_role;

-- The desk's one-off message: the caller must see the customer (and the case, if named), and
-- the gate decides the rest. Keys are the caller's own: an agent can neither collide with nor
-- learn of another's message by its key.
create function private.send_desk_message(request jsonb, as_of timestamptz default now())
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
             'idempotency_key', format('desk:%s:%s', caller, request ->> 'idempotency_key'),
             'created_by', caller),
           as_of) as e;
end;
$$;

comment on function private.send_desk_message(jsonb, timestamptz) is
  'An agent''s or manager''s one-off message: {customer_id, channel, idempotency_key, '
  'template_code + variables or body + purpose, [case_id, subject, language]}. Raises 42501 '
  'for a caller who is not on the desk, P0002 when the customer (or the case, which must be '
  'theirs) is not the caller''s to see, 22023 for a malformed request; otherwise the gate '
  'decides (priority 3: ahead of reminders, behind receipts). Keys are scoped to the caller. '
  'Security definer: the desk may not write messages itself.';

revoke execute on function private.send_desk_message(jsonb, timestamptz) from public;
grant execute on function private.send_desk_message(jsonb, timestamptz) to authenticated;
