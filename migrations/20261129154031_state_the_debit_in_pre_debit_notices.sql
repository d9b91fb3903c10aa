-- The pre-debit notice states the debit (review of issue 8, finding 5). It said what the next
-- installment still owed (amount - amount_paid), but Razorpay debits the plan's fixed amount,
-- the mandate's installment_amount, whatever was paid before: after a partial payment the
-- notice named less than would be taken, and RBI's e-mandate framework requires the notice to
-- state the amount of the debit. The notice and its log (autopay_debit_notices.amount) now say
-- installment_amount. The surplus such a debit leaves on the last installment is flagged overpaid
-- and the customer gets its refund-due message (apply_razorpay_payment, since the migration
-- wording refund notices by reason).

create or replace function private.schedule_autopay_notices(as_of timestamptz default now())
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
           m.installment_amount as debit,
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
        jsonb_build_object('amount_due', private.format_inr(due.debit),
                           'debit_date', to_char(due.debit_at at time zone tz, 'DD Mon YYYY'),
                           'mandate_reference', due.razorpay_subscription_id),
        as_of);
      -- Logged only once a message exists: otherwise the next run tries again, and inside
      -- 24 hours the missing notice pauses the mandate.
      if queued is not null then
        insert into public.autopay_debit_notices (autopay_mandate_id, case_id, outstanding_amount_id,
                                                  amount, charge_at, message_id)
        values (due.mandate_id, due.case_id, due.installment_id, due.debit, due.debit_at, queued)
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
  'and at least 24 hours ahead without a notice -> queues autopay_pre_debit_notice stating the '
  'debit, the mandate''s installment_amount (what Razorpay takes, whatever was paid before; key '
  'pre_debit:<mandate>:<installment>) and logs it (outcome notice_queued); within 24 hours whose '
  'notice is missing, not sent 24 hours ahead, or undelivered -> pause_reason notice_missing / '
  'notice_not_sent / notice_undelivered and the installment marked for a payment-link fallback '
  '(outcome pause_requested; the reconciliation claims autopay_pause, then '
  'autopay_link_fallback). Returns what it did. Security definer: a job.';

comment on column public.autopay_debit_notices.amount is
  'Paise (₹1 = 100 paise) the notice says will be debited: the mandate''s installment_amount.';
