-- No debit without a notice: RBI's e-mandate framework (RBI/2023-24/94 and the 2021 framework it
-- amends) requires a pre-debit notification at least 24 hours before every recurring debit. An
-- hourly job (pg_cron, `as_of` for tests) looks at every authorised mandate's next debit — the
-- next open installment, on Razorpay's charge_at when known, else its due date at 10:00 IST:
--   * within 72 hours and at least 24 hours ahead, with no notice logged: queues
--     autopay_pre_debit_notice through the outbox (key pre_debit:<mandate>:<installment>) and logs
--     it in autopay_debit_notices;
--   * within 24 hours, when the notice is missing, or its message was not sent at least 24 hours
--     ahead (still queued, sending, sent too late), or never reached the customer (blocked,
--     failed, undeliverable, cancelled, dead): the mandate is marked for pausing (pause_reason)
--     and its installment for a payment-link fallback; the reconciliation claims both.

-- Queues a message about a case through the gate, in the customer's preferred channel when that
-- channel has the template, else email; the message id, or null when none could be queued.
create function private.queue_case_message(
  case_id uuid,
  template_code text,
  idempotency_key text,
  variables jsonb,
  as_of timestamptz default now()
)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  renewal public.renewal_cases;
  customer public.customers;
  policy_number text;
  channel public.channel_type;
  queued uuid;
begin
  select c.* into renewal from public.renewal_cases c where c.id = queue_case_message.case_id;
  select cu.* into customer from public.customers cu where cu.id = renewal.customer_id;
  select p.policy_number into policy_number from public.policies p where p.id = renewal.policy_id;
  select t.channel into channel
    from public.templates t
   where t.code = template_code and t.active
     and (t.channel = customer.preferred_channel or t.channel = 'email')
   order by t.channel = customer.preferred_channel desc
   limit 1;
  if channel is null then
    raise warning 'no active % template: case % gets no message', template_code, renewal.id;
    return null;
  end if;
  select e.message_id into queued
    from private.enqueue_messages(jsonb_build_object(
      'customer_id', customer.id, 'case_id', renewal.id, 'channel', channel,
      'template_code', template_code, 'priority', 1, 'idempotency_key', idempotency_key,
      'variables', jsonb_build_object('customer_name', customer.full_name,
                                      'policy_number', policy_number,
                                      'case_number', renewal.case_number)
                   || coalesce(variables, '{}')), as_of) e;
  return queued;
exception when others then
  raise warning 'the % message of case % was not queued: % (%)', template_code, renewal.id, sqlerrm, sqlstate;
  return null;
end;
$$;

comment on function private.queue_case_message(uuid, text, text, jsonb, timestamptz) is
  'Queues a template message about a case through the gate (enqueue_messages), once per '
  'idempotency key, priority 1, in the customer''s preferred channel when it has an active '
  'template, else email; variables customer_name, policy_number and case_number are filled in, '
  'plus those given. Returns the message id (also a blocked one), or null when nothing could be '
  'queued (no active template, or an error: a warning, never an error). Security definer: '
  'called inside the autopay functions.';

create function private.schedule_autopay_notices(as_of timestamptz default now())
returns table (autopay_mandate_id uuid, outstanding_amount_id uuid, charge_at timestamptz, outcome text,
               message_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  due record;
  notice public.autopay_debit_notices;
  told public.messages;
  queued uuid;
  reason text;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'schedule_autopay_notices needs a finite as_of' using errcode = '22023';
  end if;

  for due in
    select m.id as mandate_id, m.case_id, m.razorpay_subscription_id, o.id as installment_id,
           o.amount - o.amount_paid as owed,
           case when m.charge_at > as_of then m.charge_at
                else (o.due_date + time '10:00') at time zone tz end as debit_at
      from public.autopay_mandates m
      join public.renewal_cases c on c.id = m.case_id
      cross join lateral (
        select o.* from public.outstanding_amounts o
         where o.case_id = m.case_id and o.status in ('pending', 'overdue') and o.amount_paid < o.amount
         order by o.due_date, o.installment_number
         limit 1
      ) o
     where m.status in ('authenticated', 'active') and m.pause_reason is null
       and not private.case_stage_is_final(c.stage)
     order by m.id
       for update of m skip locked
  loop
    continue when due.debit_at <= as_of or due.debit_at > as_of + interval '72 hours';
    select n.* into notice from public.autopay_debit_notices n
     where n.autopay_mandate_id = due.mandate_id and n.outstanding_amount_id = due.installment_id;

    if notice.id is null and due.debit_at >= as_of + interval '24 hours' then
      queued := private.queue_case_message(
        due.case_id, 'autopay_pre_debit_notice',
        format('pre_debit:%s:%s', due.mandate_id, due.installment_id),
        jsonb_build_object('amount_due', private.format_inr(due.owed),
                           'debit_date', to_char(due.debit_at at time zone tz, 'DD Mon YYYY'),
                           'mandate_reference', due.razorpay_subscription_id),
        as_of);
      -- Logged only once a message exists: otherwise the next run tries again, and inside
      -- 24 hours the missing notice pauses the mandate.
      if queued is not null then
        insert into public.autopay_debit_notices (autopay_mandate_id, case_id, outstanding_amount_id,
                                                  amount, charge_at, message_id)
        values (due.mandate_id, due.case_id, due.installment_id, due.owed, due.debit_at, queued)
        on conflict (autopay_mandate_id, outstanding_amount_id) do nothing;
        return query select due.mandate_id, due.installment_id, due.debit_at, 'notice_queued'::text, queued;
      end if;
    elsif due.debit_at < as_of + interval '24 hours' then
      told := null;
      if notice.message_id is not null then
        select msg.* into told from public.messages msg where msg.id = notice.message_id;
      end if;
      reason := case
        when told.id is null then 'notice_missing'
        when told.status in ('sent', 'delivered', 'read')
             and told.sent_at <= due.debit_at - interval '24 hours' then null
        when told.status in ('blocked', 'failed', 'undeliverable', 'cancelled', 'dead') then 'notice_undelivered'
        else 'notice_not_sent'
      end;
      if reason is not null then
        update public.autopay_mandates m
           set pause_reason = reason, pause_requested_at = as_of, pause_installment_id = due.installment_id,
               fallback_installment_id = due.installment_id, fallback_requested_at = as_of,
               fallback_link_id = null, fallback_reminded_at = null, action_after = null
         where m.id = due.mandate_id;
        return query select due.mandate_id, due.installment_id, due.debit_at, 'pause_requested'::text,
                            told.id;
      end if;
    end if;
  end loop;
end;
$$;

comment on function private.schedule_autopay_notices(timestamptz) is
  'The hourly pre-debit notice job (pg_cron; as_of moves the clock in tests). For each '
  'authenticated or active mandate of an open case, its next debit (the oldest open installment, '
  'at Razorpay''s charge_at when that is ahead, else the due date at 10:00 IST): within 72 hours '
  'and at least 24 hours ahead without a notice -> queues autopay_pre_debit_notice (key '
  'pre_debit:<mandate>:<installment>) and logs it (outcome notice_queued); within 24 hours whose '
  'notice is missing, not sent 24 hours ahead, or undelivered -> pause_reason notice_missing / '
  'notice_not_sent / notice_undelivered and the installment marked for a payment-link fallback '
  '(outcome pause_requested; the reconciliation claims autopay_pause, then '
  'autopay_link_fallback). Returns what it did. Security definer: a job.';

revoke execute on function private.queue_case_message(uuid, text, text, jsonb, timestamptz),
  private.schedule_autopay_notices(timestamptz) from public;
grant execute on function private.schedule_autopay_notices(timestamptz) to service_role;

-- Hourly, where pg_cron runs (the local cluster and Supabase alike).
select cron.schedule('schedule-autopay-notices', '41 * * * *',
                     'select count(*) from private.schedule_autopay_notices()');
