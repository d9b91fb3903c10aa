-- The gate computed each message's rules and rendered its templates several times over: its
-- CTEs were inlined into the statements that used them, so every reference to a column of
-- `judged` or `fated` (final_body, final_subject, gate_reason) re-evaluated the expression behind
-- it — private.message_block_reason three times and private.render_template eight times per
-- message (bench/payments.ts --profile: 300 and 800 calls for 100 messages; the receipt through
-- the gate was 40% of a payment webhook's database time). `judged` and `fated` are now
-- MATERIALIZED, and so are `capped` (the frequency cap counts a customer's messages) and `timed`,
-- whose columns the insert reads several times: each is computed once per message. Nothing else
-- changes.
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
  judged as materialized (
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
  fated as materialized (
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
