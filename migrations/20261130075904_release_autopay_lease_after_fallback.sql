-- An autopay mandate's lease outlived the fallback it guarded (found by journey 6, issue 14).
-- The reconciliation claims a mandate's action (autopay_link_fallback, autopay_pause,
-- autopay_cancel) by leasing autopay_mandates.action_after for RAZORPAY_RECONCILE_AFTER (10
-- minutes), and only a new subscription state lifted it. After a failed debit's fallback (link
-- made, reminder queued) the mandate kept the lease: when the customer then paid by link and the
-- case renewed, the subscription that could still debit the closed case was cancelled at Razorpay
-- only once the fallback's lease ran out, up to 10 minutes later (Razorpay may retry a pending
-- debit meanwhile). private.queue_payment_link_reminder, as in
-- 20261129173537_track_payment_links_in_reminders.sql, now lets go of the lease when it marks the
-- fallback reminded: the fallback is done (fallback_reminded_at keeps it from being claimed again),
-- so the mandate's next action (a cancel for a closed case) may be claimed at once.

create or replace function private.queue_payment_link_reminder(payment_link_id uuid, as_of timestamptz default now())
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  lnk public.payment_links;
  due date;
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  queued uuid;
begin
  if payment_link_id is null or as_of is null or not isfinite(as_of) then
    raise exception 'a link reminder needs the link and a finite as_of' using errcode = '22023';
  end if;
  select pl.* into lnk from public.payment_links pl where pl.id = queue_payment_link_reminder.payment_link_id;
  if not found then
    raise exception 'no payment link %', payment_link_id using errcode = 'P0002';
  end if;
  if lnk.short_url is null or lnk.status not in ('created', 'partially_paid') then
    raise exception 'payment link % cannot be sent: it is %', lnk.id,
      case when lnk.short_url is null then 'not created at Razorpay yet' else lnk.status end
      using errcode = '22023';
  end if;
  select coalesce(o.due_date, c.due_date) into due
    from public.renewal_cases c
    left join public.outstanding_amounts o on o.id = lnk.outstanding_amount_id
   where c.id = lnk.case_id;
  queued := private.queue_case_message(
    lnk.case_id, 'payment_link_reminder', 'link_reminder:' || lnk.id,
    jsonb_build_object('amount_due', private.format_inr(lnk.amount - lnk.amount_paid),
                       'due_date', to_char(due, 'DD Mon YYYY'),
                       'payment_link', private.tracked_link(lnk.case_id, lnk.short_url,
                                                            'payment_link', lnk.expire_by)),
    as_of);
  if queued is not null then
    -- The fallback is done: its lease goes with it, so the mandate's next action is not held.
    update public.autopay_mandates m set fallback_reminded_at = as_of, action_after = null
     where m.fallback_link_id = lnk.id and m.fallback_reminded_at is null;
  end if;
  return queued;
end;
$$;

comment on function private.queue_payment_link_reminder(uuid, timestamptz) is
  'Queues payment_link_reminder carrying the link ({{payment_link}} = our tracked redirect to its '
  'short_url, private.tracked_link), '
  '{{amount_due}} what is left to pay, {{due_date}} the installment''s or case''s due date) '
  'through the gate, once per link (key link_reminder:<link id>), and marks the autopay fallback '
  'that opened the link reminded, releasing the mandate''s action lease (action_after) so that '
  'its next action (e.g. a cancel once the case closes) is not held for RAZORPAY_RECONCILE_AFTER. '
  'Returns the message id (null when no template could be used: a warning; the fallback is '
  'claimed again). 22023 when the link is not created at Razorpay yet or no longer payable; '
  'P0002 unknown link. Security definer: the reconciliation runner''s.';
