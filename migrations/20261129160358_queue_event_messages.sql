-- Event-driven messages (issue 9, "Events"): the stage changes a customer must hear about, and
-- the confirmation of an opt-out by STOP, queued through the outbox's gate in the same
-- transaction as the change, one set-based call per statement (statement triggers with
-- transition tables), so the daily lapse job's thousands of cases cost one gate call.
--   quoted    case_quoted: the renewal quote is ready (premium, policy number, expiry).
--   lapsed    what it means for the product line: case_lapsed_life (cover stopped, revival),
--             case_lapsed_health (continuity lost), case_lapsed_motor_ncb (NCB kept only until
--             expiry + NCB_RETENTION_DAYS, re-inspection) or case_lapsed_motor without an NCB,
--             case_lapsed for other lines.
--   renewed   case_renewed ("renewal confirmed") only for a case renewed without a payment
--             credited in the same transaction (offline settlement, waiver, a failed refund's
--             money given back): apply_razorpay_payment queues the receipt of an online payment
--             (receipt:<pay id>) right after the allocation that renews the case, and that receipt
--             is the confirmation; never two for one renewal.
--   lost, not_taken: nothing to the customer. Payment received: the payment path's receipt.
-- Keys event:<case>:<stage>, once per case and stage whatever the retries. The channel: the
-- customer's preferred one when it has an active template and the gate would not block it
-- (private.message_block_reason), else the first unblocked of WhatsApp, SMS, email, else email,
-- which the gate then blocks with its reason (no address, consent withdrawn, ...) for the desk to
-- see; why, in messages.choice_reason as the cadence words it. The gate picks the customer's
-- language.
-- Order: these triggers are _900_enqueue_messages, after _850_cancel_queued_reminders, so the
-- cancellation of a closing case's queued reminders never reaches the lapse notice queued with it.
-- A failure to queue is a warning, never an error: a message must not undo a stage change.
--
-- Opt-out confirmation: when private.record_message_events withdraws a marketing consent on an
-- inbound STOP (source sms_stop or whatsapp_reply, recorded by no user, the reply in evidence),
-- one transactional confirmation goes on that channel (TRAI lets the sender confirm an opt-out;
-- key event:<customer>:opt_out:<channel>:<inbound event id>). WhatsApp: always a free-form reply,
-- which the gate allows only inside the 24-hour window the STOP itself opened (free of charge
-- there, and no Meta template is needed); SMS: its DLT-registered opt_out_confirmation template
-- when admins have added one, else the same words as free text, which the gate blocks
-- (sms_needs_dlt_template) rather than send unregistered. The words are the customer's language's
-- opt_out_confirmation template on that channel, else its email row.

-- The requests for the event messages of these cases, built from each case's current stage.
create function private.case_event_requests(case_ids uuid[], as_of timestamptz)
returns setof jsonb
language sql stable
set search_path = ''
as $$
  with cases as (
    select c.id as case_id, c.customer_id, c.case_number, c.stage, c.grace_end,
           p.policy_number, p.insurer, p.product_line, p.premium, p.currency, p.ncb_percent,
           p.end_date, cu.full_name, cu.preferred_channel, cu.language, cu.email, cu.phone,
           case c.stage
             when 'quoted' then 'case_quoted'
             when 'renewed' then 'case_renewed'
             when 'lapsed' then case p.product_line
               when 'life' then 'case_lapsed_life'
               when 'health' then 'case_lapsed_health'
               when 'motor' then case when p.ncb_percent > 0 then 'case_lapsed_motor_ncb'
                                      else 'case_lapsed_motor' end
               else 'case_lapsed' end
           end as wanted_code
      from public.renewal_cases c
      join public.policies p on p.id = c.policy_id
      join public.customers cu on cu.id = c.customer_id
     where c.id = any (case_event_requests.case_ids)
       and c.stage in ('quoted', 'renewed', 'lapsed')
  ),
  coded as (
    -- A line's own lapse wording, else the generic one when an admin switched it off.
    select k.*, code.code
      from cases k
      cross join lateral (
        select x.code from (values (k.wanted_code, 1), ('case_lapsed', 2)) as x (code, rank)
         where (x.rank = 1 or k.stage = 'lapsed')
           and exists (select 1 from public.templates t where t.code = x.code and t.active)
         order by x.rank
         limit 1
      ) code
  ),
  candidates as (
    select k.*, t.channel, t.purpose,
           private.message_block_reason(
             k.customer_id, t.channel, t.purpose,
             case t.channel when 'email' then lower(k.email) else k.phone end,
             t.id, case_event_requests.as_of) as block_reason
      from coded k
      cross join lateral (
        -- Per channel, the template the gate will pick: the customer's language, else English.
        select distinct on (t.channel) t.*
          from public.templates t
         where t.code = k.code and t.active
         order by t.channel, t.language = coalesce(k.language, 'en') desc, t.language = 'en' desc,
                  t.language
      ) t
  ),
  refusals as (
    select c.case_id,
           string_agg(format('%s: %s', c.channel, c.block_reason), ', ' order by c.channel) as refused
      from candidates c
     where c.block_reason is not null
     group by c.case_id
  ),
  chosen as (
    select distinct on (c.case_id) c.*,
           case
             when c.block_reason is not null then format('none_allowed (%s)', r.refused)
             when c.channel = c.preferred_channel then 'preferred_channel'
             when r.refused is null then 'first_choice'
             else format('first_allowed (%s)', r.refused)
           end as choice_reason
      from candidates c
      left join refusals r on r.case_id = c.case_id
     order by c.case_id,
              c.block_reason is null and c.channel = c.preferred_channel desc,
              c.block_reason is null desc,
              case when c.block_reason is null
                   then array_position(array['whatsapp', 'sms', 'email']::public.channel_type[], c.channel)
                   else array_position(array['email', 'whatsapp', 'sms']::public.channel_type[], c.channel)
              end
  )
  select jsonb_build_object(
           'customer_id', ch.customer_id, 'case_id', ch.case_id, 'channel', ch.channel,
           'template_code', ch.code, 'priority', 1,
           'idempotency_key', format('event:%s:%s', ch.case_id, ch.stage),
           'choice_reason', ch.choice_reason,
           'variables', jsonb_build_object(
             'customer_name', ch.full_name, 'policy_number', ch.policy_number,
             'case_number', ch.case_number, 'insurer', ch.insurer,
             'product_line', ch.product_line,
             'premium', private.format_money(ch.premium, ch.currency),
             'expiry_date', to_char(ch.end_date, 'DD Mon YYYY'),
             'grace_end', to_char(ch.grace_end, 'DD Mon YYYY'),
             'ncb_percent', ch.ncb_percent::text,
             'ncb_deadline', to_char(ch.end_date + coalesce(
               (private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90), 'DD Mon YYYY')))
    from chosen ch
   order by ch.case_id
$$;

comment on function private.case_event_requests(uuid[], timestamptz) is
  'The gate requests (enqueue_messages) for the event messages of these cases at their current '
  'stage: quoted -> case_quoted, renewed -> case_renewed, lapsed -> case_lapsed_<line> '
  '(motor: _motor_ncb with an NCB, else _motor; case_lapsed when the line''s template is off or '
  'for other lines); other stages none. Key event:<case>:<stage>, priority 1; channel: the '
  'preferred one if it has an active template and private.message_block_reason lets it through, '
  'else the first unblocked of whatsapp, sms, email, else email (blocked by the gate with its '
  'reason); why in choice_reason (as the cadence words it). Variables: customer_name, '
  'policy_number, case_number, insurer, product_line, premium, expiry_date, grace_end, '
  'ncb_percent, ncb_deadline (expiry + NCB_RETENTION_DAYS, default 90).';

-- Queues the requests in one gate call; a failure is a warning (the change that caused it stays).
create function private.queue_event_messages(requests jsonb, as_of timestamptz) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  created uuid[];
begin
  if requests is null or jsonb_array_length(requests) = 0 then
    return 0;
  end if;
  select coalesce(array_agg(e.message_id) filter (where e.created), '{}') into created
    from private.enqueue_messages(requests, as_of) e;
  -- A statement of its own: one sharing the gate's statement would not see the rows it inserted.
  update public.messages m
     set choice_reason = x.choice_reason
    from jsonb_to_recordset(requests) as x (idempotency_key text, choice_reason text)
   where m.idempotency_key = x.idempotency_key and m.id = any (created)
     and x.choice_reason is not null;
  return cardinality(created);
exception when others then
  raise warning 'event messages were not queued: % (%)', sqlerrm, sqlstate;
  return 0;
end;
$$;

comment on function private.queue_event_messages(jsonb, timestamptz) is
  'Queues event messages through the gate (enqueue_messages) in one call and returns how many '
  'were created (a key seen before creates none); a request''s choice_reason is written on the '
  'message it created. A failure is a warning and 0, never an error: '
  'a message must not undo the stage change or consent that asked for it. Security definer: '
  'called by the event triggers, whoever made the change.';

create function private.tg_renewal_cases__enqueue_messages() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  as_of timestamptz := private.job_clock();
  changed uuid[];
begin
  -- Planned on every run (execute): the transition tables' sizes differ from run to run.
  execute $q$
    select coalesce(array_agg(n.id order by n.id), '{}')
      from new_rows n
      join old_rows o on o.id = n.id
     where n.stage is distinct from o.stage
       and n.stage in ('quoted', 'lapsed', 'renewed')
       -- Renewed by a payment credited in this transaction: its receipt is the confirmation.
       and not (n.stage = 'renewed' and exists (
             select 1 from public.payment_allocations a
              where a.case_id = n.id and a.amount > 0 and a.refund_id is null
                and a.created_at = now()))$q$
    into changed;
  if cardinality(changed) > 0 then
    perform private.queue_event_messages(
      (select jsonb_agg(r) from private.case_event_requests(changed, as_of) r), as_of);
  end if;
  return null;
end;
$$;

comment on function private.tg_renewal_cases__enqueue_messages() is
  'Statement trigger (_900_enqueue_messages, after _850_cancel_queued_reminders): queues the '
  'event message of each case whose stage just became quoted, lapsed or renewed '
  '(private.case_event_requests), in one gate call, at the jobs'' clock (private.job_clock). A '
  'case renewed by a payment credited in the same transaction gets none: the payment''s receipt '
  'confirms it. Security definer: whoever changes the stage, the customer is told.';

create trigger _900_enqueue_messages after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__enqueue_messages();

-- The confirmations of these opt-outs: consents just withdrawn by an inbound STOP.
create function private.opt_out_confirmation_requests(consent_ids uuid[], as_of timestamptz)
returns setof jsonb
language sql stable
set search_path = ''
as $$
  select case
           when own.id is not null and w.channel = 'sms' then jsonb_build_object(
             'customer_id', w.customer_id, 'channel', w.channel,
             'template_code', 'opt_out_confirmation', 'priority', 0,
             'idempotency_key', w.key, 'variables', w.variables, 'choice_reason', 'opt_out_channel')
           else jsonb_build_object(
             'customer_id', w.customer_id, 'channel', w.channel, 'purpose', 'transactional',
             'body', private.render_template(coalesce(own.body, mail.body), w.variables),
             'priority', 0, 'idempotency_key', w.key, 'variables', w.variables,
             'choice_reason', 'opt_out_channel')
         end
    from (
      select cs.customer_id, cs.channel, cu.language,
             jsonb_build_object('customer_name', cu.full_name) as variables,
             format('event:%s:opt_out:%s:%s', cs.customer_id, cs.channel,
                    coalesce(case when length(cs.evidence ->> 'event_id') <= 100
                                  then cs.evidence ->> 'event_id'
                                  else md5(cs.evidence ->> 'event_id') end,
                             extract(epoch from cs.recorded_at)::text)) as key
        from public.consents cs
        join public.customers cu on cu.id = cs.customer_id
       where cs.id = any (opt_out_confirmation_requests.consent_ids)
    ) w
    left join lateral (
      select t.* from public.templates t
       where t.code = 'opt_out_confirmation' and t.channel = w.channel and t.active
       order by t.language = coalesce(w.language, 'en') desc, t.language = 'en' desc, t.language
       limit 1
    ) own on true
    left join lateral (
      select t.* from public.templates t
       where t.code = 'opt_out_confirmation' and t.channel = 'email' and t.active
       order by t.language = coalesce(w.language, 'en') desc, t.language = 'en' desc, t.language
       limit 1
    ) mail on true
   where coalesce(own.body, mail.body) is not null
$$;

comment on function private.opt_out_confirmation_requests(uuid[], timestamptz) is
  'The gate requests confirming these opt-outs, one per consent, on its channel, transactional, '
  'priority 0, key event:<customer>:opt_out:<channel>:<inbound event id>: SMS by its '
  'opt_out_confirmation template when an active SMS one (DLT-registered) exists; otherwise, and '
  'always on WhatsApp, free text in the customer''s language from the channel''s or else the '
  'email opt_out_confirmation template (the gate allows WhatsApp free text only inside the '
  '24-hour window and blocks unregistered SMS: sms_needs_dlt_template). None without any active '
  'opt_out_confirmation template.';

create function private.tg_consents__enqueue_messages() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  as_of timestamptz := now();
  withdrawn uuid[];
begin
  -- An opt-out recorded by the webhooks from a customer's reply; not the desk's own records.
  if tg_op = 'INSERT' then
    execute $q$
      select coalesce(array_agg(n.id order by n.id), '{}') from new_rows n
       where n.status = 'withdrawn' and n.purpose = 'marketing' and n.channel in ('sms', 'whatsapp')
         and n.source in ('sms_stop', 'whatsapp_reply') and n.recorded_by is null
         and n.evidence ? 'reply'$q$
      into withdrawn;
  else
    execute $q$
      select coalesce(array_agg(n.id order by n.id), '{}') from new_rows n
        join old_rows o on o.id = n.id
       where n.status = 'withdrawn' and o.status <> 'withdrawn'
         and n.purpose = 'marketing' and n.channel in ('sms', 'whatsapp')
         and n.source in ('sms_stop', 'whatsapp_reply') and n.recorded_by is null
         and n.evidence ? 'reply'$q$
      into withdrawn;
  end if;
  if cardinality(withdrawn) > 0 then
    perform private.queue_event_messages(
      (select jsonb_agg(r) from private.opt_out_confirmation_requests(withdrawn, as_of) r), as_of);
  end if;
  return null;
end;
$$;

comment on function private.tg_consents__enqueue_messages() is
  'Statement triggers (_900_enqueue_messages_insert / _update): a marketing consent on SMS or '
  'WhatsApp that just became withdrawn by an inbound STOP (source sms_stop or whatsapp_reply, '
  'recorded by no user, the reply in evidence: private.record_message_events) gets one '
  'transactional confirmation on that channel (private.opt_out_confirmation_requests). A STOP '
  'repeated while already withdrawn gets none. Security definer: the webhooks'' definer '
  'function records the consent.';

create trigger _900_enqueue_messages_insert after insert on public.consents
  referencing new table as new_rows
  for each statement execute function private.tg_consents__enqueue_messages();
create trigger _900_enqueue_messages_update after update on public.consents
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_consents__enqueue_messages();

comment on column public.messages.choice_reason is
  'Why this channel: preferred_channel or first_choice when the first candidate could be used, '
  'first_allowed after the channels refused before it (e.g. "first_allowed (whatsapp: '
  'whatsapp_not_opted_in)"), none_allowed when every channel was refused (the gate then blocks the '
  'message) -- for the cadence''s and the event messages; opt_out_channel for an opt-out '
  'confirmation (it goes where the STOP came from). Null for other messages.';

revoke execute on function private.case_event_requests(uuid[], timestamptz),
  private.queue_event_messages(jsonb, timestamptz),
  private.tg_renewal_cases__enqueue_messages(),
  private.opt_out_confirmation_requests(uuid[], timestamptz),
  private.tg_consents__enqueue_messages() from public;
