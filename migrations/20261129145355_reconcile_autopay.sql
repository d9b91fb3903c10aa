-- Autopay's work for the reconciliation runner, and the payment-link fallback.
-- private.claim_payment_reconciliation keeps its kinds and their order (money first) and gains:
--   autopay_pause          right after payment_authorized: a debit within 24 hours without a
--                          proper pre-debit notice; pause the subscription at Razorpay
--                          (POST /v1/subscriptions/{id}/pause {pause_at: "now"}), then
--                          record_subscription_created with the answer;
--   autopay_cancel         a subscription able to debit a closed case: cancel it
--                          (cancel_at_cycle_end 0);
--   autopay_creating       after link_creating: a mandate whose create answer was lost; find it
--                          among the plan's subscriptions by notes.autopay_id;
--   autopay_link_fallback  an installment autopay did not collect (pending, halted, or our
--                          confirmed pause): open_autopay_fallback_link, create the link at
--                          Razorpay, record_payment_link_created, queue_payment_link_reminder;
--   autopay_open           last: a live subscription past its next debit (or a day without
--                          news): fetch it and its payments (apply_razorpay_subscription_payment
--                          via reconcile, record_subscription_created with call_id null).
-- Actions (pause, cancel, fallback) lease action_after; lookups reconcile_after.
-- open_payment_link may now be called by service_role too (the runner's fallback; it always saw
-- every case for the backend).

create or replace function private.claim_payment_reconciliation(max_items integer default 50, as_of timestamptz default now())
returns table (kind text, subject_id uuid, razorpay_id text, lookup_key text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  lease interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  wanted integer := max_items;
  taken integer;
begin
  if max_items is null or max_items not between 1 and 1000 or as_of is null or not isfinite(as_of) then
    raise exception 'claim_payment_reconciliation takes 1 to 1000 items and a finite as_of'
      using errcode = '22023';
  end if;

  -- An order Razorpay never had (its create call lost before it arrived) cannot be paid: nobody
  -- was given its id. Once a lookup after its time found nothing and that lease has run out, its
  -- creation failed for good, rather than being looked up for ever.
  update public.payment_orders po
     set status = 'failed', reconcile_after = null,
         last_error = coalesce(po.last_error, 'not found at Razorpay by its receipt')
   where po.status = 'creating' and po.polled_at > po.expires_at and po.reconcile_after <= as_of;

  -- Money first: authorised payments waiting to be captured.
  return query
  with picked as (
    select p.id from public.payments p
     where p.status = 'authorized' and p.review_reason is null and p.reconcile_after <= as_of
     order by p.reconcile_after limit wanted for update skip locked
  )
  update public.payments p set reconcile_after = as_of + lease
    from picked where p.id = picked.id
  returning 'payment_authorized'::text, p.id, p.razorpay_payment_id, p.amount::text;
  get diagnostics taken = row_count;
  wanted := wanted - taken;

  -- Then a debit that would come without its pre-debit notice: pause the subscription.
  if wanted > 0 then
    return query
    with picked as (
      select m.id from public.autopay_mandates m
       where m.pause_reason is not null and m.status in ('authenticated', 'active', 'pending')
         and coalesce(m.action_after, '-infinity') <= as_of
       order by m.pause_requested_at limit wanted for update skip locked
    )
    update public.autopay_mandates m set action_after = as_of + lease
      from picked where m.id = picked.id
    returning 'autopay_pause'::text, m.id, m.razorpay_subscription_id, m.pause_reason;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  -- And a subscription still able to debit a case that closed (lapsed, lost, not taken, or
  -- renewed with debits left): cancel it.
  if wanted > 0 then
    return query
    with picked as (
      select m.id from public.autopay_mandates m
        join public.renewal_cases c on c.id = m.case_id
       where m.status in ('created', 'authenticated', 'active', 'pending', 'halted', 'paused')
         and private.case_stage_is_final(c.stage)
         and not (c.stage = 'renewed' and m.paid_count >= m.total_count)
         and coalesce(m.action_after, '-infinity') <= as_of
       order by m.id limit wanted for update of m skip locked
    )
    update public.autopay_mandates m set action_after = as_of + lease
      from picked, public.renewal_cases c
     where m.id = picked.id and c.id = m.case_id
    returning 'autopay_cancel'::text, m.id, m.razorpay_subscription_id, c.stage::text;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  if wanted > 0 then
    return query
    with picked as (
      select po.id from public.payment_orders po
       where po.status = 'creating' and po.reconcile_after <= as_of
       order by po.reconcile_after limit wanted for update skip locked
    )
    update public.payment_orders po set reconcile_after = as_of + lease, polled_at = as_of
      from picked where po.id = picked.id
    returning 'order_creating'::text, po.id, po.razorpay_order_id, po.receipt;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  if wanted > 0 then
    return query
    with picked as (
      select r.id from public.refunds r
       where r.status in ('creating', 'pending') and r.reconcile_after <= as_of
       order by r.reconcile_after limit wanted for update of r skip locked
    )
    update public.refunds r set reconcile_after = as_of + lease
      from picked, public.payments p
     where r.id = picked.id and p.id = r.payment_id
    returning case r.status when 'creating' then 'refund_creating' else 'refund_pending' end,
              r.id,
              case r.status when 'creating' then p.razorpay_payment_id else r.razorpay_refund_id end,
              case r.status when 'creating' then r.idempotency_key else p.razorpay_payment_id end;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  if wanted > 0 then
    return query
    with picked as (
      select pl.id from public.payment_links pl
       where pl.status = 'creating' and pl.reconcile_after <= as_of
       order by pl.reconcile_after limit wanted for update skip locked
    )
    update public.payment_links pl set reconcile_after = as_of + lease
      from picked where pl.id = picked.id
    returning 'link_creating'::text, pl.id, pl.razorpay_payment_link_id, pl.reference_id;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  -- A mandate whose create answer was lost. Without a plan at Razorpay no subscription can
  -- exist; once a lookup by notes found nothing and its lease ran out, the create failed for
  -- good (a subscription made anyway was never shown to the customer, so it is never authorised
  -- and Razorpay expires it).
  update public.autopay_mandates m
     set status = 'failed', reconcile_after = null,
         last_error = coalesce(m.last_error, case when m.razorpay_plan_id is null
                                                  then 'its plan was never created at Razorpay'
                                                  else 'not found at Razorpay by notes.autopay_id' end)
   where m.status = 'creating' and m.reconcile_after <= as_of
     and (m.razorpay_plan_id is null or m.polled_at is not null);

  if wanted > 0 then
    return query
    with picked as (
      select m.id from public.autopay_mandates m
       where m.status = 'creating' and m.reconcile_after <= as_of
       order by m.reconcile_after limit wanted for update skip locked
    )
    update public.autopay_mandates m set reconcile_after = as_of + lease, polled_at = as_of
      from picked where m.id = picked.id
    returning 'autopay_creating'::text, m.id, m.razorpay_plan_id, m.id::text;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  -- An installment autopay did not collect (a failed debit, a halt, a pause confirmed): a
  -- payment link and its reminder. Not while a pause is asked and not yet confirmed.
  if wanted > 0 then
    return query
    with picked as (
      select m.id from public.autopay_mandates m
        join public.renewal_cases c on c.id = m.case_id
        join public.outstanding_amounts o on o.id = m.fallback_installment_id
       where m.fallback_installment_id is not null and m.fallback_reminded_at is null
         and (m.pause_reason is null or m.status in ('paused', 'halted', 'cancelled', 'completed', 'expired'))
         and not private.case_stage_is_final(c.stage)
         and o.status in ('pending', 'overdue') and o.amount_paid < o.amount
         and coalesce(m.action_after, '-infinity') <= as_of
       order by m.fallback_requested_at limit wanted for update of m skip locked
    )
    update public.autopay_mandates m set action_after = as_of + lease
      from picked where m.id = picked.id
    returning 'autopay_link_fallback'::text, m.id, m.razorpay_subscription_id, m.fallback_installment_id::text;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  if wanted > 0 then
    return query
    with picked as (
      select po.id from public.payment_orders po
       where po.status in ('created', 'attempted') and po.reconcile_after <= as_of
       order by po.reconcile_after limit wanted for update skip locked
    )
    update public.payment_orders po set reconcile_after = as_of + lease
      from picked where po.id = picked.id
    returning 'order_open'::text, po.id, po.razorpay_order_id, po.receipt;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  if wanted > 0 then
    return query
    with picked as (
      select pl.id from public.payment_links pl
       where pl.status in ('created', 'partially_paid') and pl.reconcile_after <= as_of
       order by pl.reconcile_after limit wanted for update skip locked
    )
    update public.payment_links pl set reconcile_after = as_of + lease
      from picked where pl.id = picked.id
    returning 'link_open'::text, pl.id, pl.razorpay_payment_link_id, pl.reference_id;
    get diagnostics taken = row_count;
    wanted := wanted - taken;
  end if;

  -- Subscriptions past their next debit (or a day without news): a lost webhook.
  if wanted > 0 then
    return query
    with picked as (
      select m.id from public.autopay_mandates m
       where m.status in ('created', 'authenticated', 'active', 'pending', 'halted', 'paused')
         and m.reconcile_after <= as_of
       order by m.reconcile_after limit wanted for update skip locked
    )
    update public.autopay_mandates m set reconcile_after = as_of + lease
      from picked where m.id = picked.id
    returning 'autopay_open'::text, m.id, m.razorpay_subscription_id, m.id::text;
  end if;
end;
$$;

comment on function private.claim_payment_reconciliation(integer, timestamptz) is
  'Claims up to max_items things to ask Razorpay about (or do there) whose time has come, and '
  'leases each for RAZORPAY_RECONCILE_AFTER (skip locked: concurrent runners share the work). '
  'kind / razorpay_id / lookup_key, in this order, money first: payment_authorized / pay_... / '
  'amount in paise (capture it, then apply_razorpay_payment via reconcile); autopay_pause / '
  'sub_... / pause_reason (pause it now; record_subscription_created with the answer); '
  'autopay_cancel / sub_... / the case''s stage (cancel it, cancel_at_cycle_end 0); '
  'order_creating / null / receipt (find it by receipt: record_order_created, or fail the '
  'journalled call; past expires_at a lookup that found nothing fails it); refund_creating / '
  'pay_... / idempotency key (repeat the create with the same key and body); refund_pending / '
  'rfnd_... / pay_... (apply_razorpay_refund); link_creating / null / reference_id; '
  'autopay_creating / plan_... / our mandate id (find the plan''s subscription whose '
  'notes.autopay_id is it: record_subscription_created with call_id null; a second claim after '
  'a lookup found nothing fails the mandate, as does a missing plan); autopay_link_fallback / '
  'sub_... / the installment id (open_autopay_fallback_link, create the link, '
  'record_payment_link_created, queue_payment_link_reminder); order_open / order_... / receipt '
  '(apply each payment, then record_order_created with call_id null, which expires it past '
  'expires_at); link_open / plink_... / reference_id (apply each payment with the link, then '
  'record_payment_link_created); autopay_open / sub_... / our mandate id (fetch it: '
  'record_subscription_created with call_id null; apply_razorpay_subscription_payment via '
  'reconcile for each captured payment of its invoices).';

create function private.open_autopay_fallback_link(autopay_mandate_id uuid)
returns table (
  payment_link_id uuid, reference_id text, amount bigint, currency text, accepts_partial boolean,
  min_partial_amount bigint, expire_by timestamptz, status text,
  razorpay_payment_link_id text, short_url text, reused boolean, customer_name text,
  customer_email text, customer_phone text, case_number text, policy_number text, call_id uuid
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  mandate public.autopay_mandates;
  opened record;
begin
  if open_autopay_fallback_link.autopay_mandate_id is null then
    raise exception 'a fallback link needs the mandate' using errcode = '22023';
  end if;
  select m.* into mandate from public.autopay_mandates m where m.id = open_autopay_fallback_link.autopay_mandate_id;
  if not found then
    raise exception 'no autopay mandate %', open_autopay_fallback_link.autopay_mandate_id using errcode = 'P0002';
  end if;
  if mandate.fallback_installment_id is null or mandate.fallback_reminded_at is not null then
    return;
  end if;

  -- The link already opened for it, while it can still be paid (a create in flight is found by
  -- the link_creating reconciliation, not opened twice).
  if mandate.fallback_link_id is not null then
    return query
    select pl.id, pl.reference_id, pl.amount, pl.currency, pl.accept_partial, pl.first_min_partial_amount,
           pl.expire_by, pl.status, pl.razorpay_payment_link_id, pl.short_url, true, cu.full_name,
           cu.email::text, cu.phone, c.case_number, p.policy_number, null::uuid
      from public.payment_links pl
      join public.renewal_cases c on c.id = pl.case_id
      join public.customers cu on cu.id = c.customer_id
      join public.policies p on p.id = c.policy_id
     where pl.id = mandate.fallback_link_id and pl.status in ('creating', 'created', 'partially_paid');
    if found then
      return;
    end if;
  end if;

  begin
    select l.* into opened from private.open_payment_link(mandate.case_id, mandate.fallback_installment_id) l;
  exception when sqlstate 'PY010' or sqlstate 'PY006' or sqlstate '22023' then
    -- Paid meanwhile, or the case closed: nothing to collect.
    return;
  end;
  update public.autopay_mandates m set fallback_link_id = opened.payment_link_id
   where m.id = mandate.id;
  return query
  select opened.payment_link_id, opened.reference_id, opened.amount, opened.currency, opened.accepts_partial,
         opened.min_partial_amount, opened.expire_by, opened.status, opened.razorpay_payment_link_id,
         opened.short_url, opened.reused, opened.customer_name, opened.customer_email,
         opened.customer_phone, opened.case_number, opened.policy_number, opened.call_id;
end;
$$;

comment on function private.open_autopay_fallback_link(uuid) is
  'The payment link for the installment a mandate did not collect (fallback_installment_id), '
  'through open_payment_link (one installment, no partial payment; a still-payable identical '
  'link is reused) and remembered as fallback_link_id; the link already opened for it while it '
  'is creating, created or partially paid (call_id null). Same columns as open_payment_link: '
  'call_id is the journalled create call to make, null when nothing is to be created. No row '
  'when there is nothing to fall back to (no fallback, already reminded, installment paid or case '
  'closed meanwhile). P0002 unknown mandate. Security definer: the reconciliation runner''s.';

create function private.queue_payment_link_reminder(payment_link_id uuid, as_of timestamptz default now())
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
                       'payment_link', lnk.short_url),
    as_of);
  if queued is not null then
    update public.autopay_mandates m set fallback_reminded_at = as_of
     where m.fallback_link_id = lnk.id and m.fallback_reminded_at is null;
  end if;
  return queued;
end;
$$;

comment on function private.queue_payment_link_reminder(uuid, timestamptz) is
  'Queues payment_link_reminder carrying the link ({{payment_link}} = its short_url, '
  '{{amount_due}} what is left to pay, {{due_date}} the installment''s or case''s due date) '
  'through the gate, once per link (key link_reminder:<link id>), and marks the autopay fallback '
  'that opened the link reminded. Returns the message id (null when no template could be used: '
  'a warning; the fallback is claimed again). 22023 when the link is not created at Razorpay yet '
  'or no longer payable; P0002 unknown link. Security definer: the reconciliation runner''s.';

revoke execute on function private.open_autopay_fallback_link(uuid),
  private.queue_payment_link_reminder(uuid, timestamptz) from public;
grant execute on function private.open_autopay_fallback_link(uuid),
  private.queue_payment_link_reminder(uuid, timestamptz) to service_role;
grant execute on function private.open_payment_link(uuid, uuid, boolean, bigint) to service_role;
