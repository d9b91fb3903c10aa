-- What the reconciliation claims (issue 8 review, findings 2 and 6), in
-- private.claim_payment_reconciliation (every kind and the order kept, money first):
-- * payment links stayed payable after their case was paid or closed, and a customer paid
--   twice: link_cancel claims a created or partially paid link whose case is closed or owes
--   nothing, or whose own installment is settled, so the runner cancels it at Razorpay and
--   records the answer (record_payment_link_created records `cancelled`, a part paid kept);
--   payment_links.action_after is the runner's lease, and a link being cancelled is not polled
--   (link_open) meanwhile;
-- * authorised payments were captured and then flagged (case closed, order expired before the
--   authorisation, nothing due, not INR): payment_authorized now skips those
--   private.payment_flag_reason names (apply_razorpay_payment's rule), leaving them uncaptured
--   for Razorpay to void, with no fee and no refund to make.

-- The lease of the runner acting on a link (cancelling it).
alter table public.payment_links add column action_after timestamptz;
comment on column public.payment_links.action_after is
  'When the reconciliation runner may next act on the link (cancel it at Razorpay because its '
  'case no longer needs it); the lease of the runner that claimed it; null when never claimed.';

-- Why apply_razorpay_payment would flag a payment instead of crediting it.
create function private.payment_flag_reason(payment public.payments) returns text
language sql stable
set search_path = ''
as $$
  select case
           when payment.currency <> 'INR' then 'currency_mismatch'
           when private.case_stage_is_final(c.stage) then 'case_closed'
           when po.id is not null and coalesce(payment.attempted_at, now()) > po.expires_at then 'order_expired'
           when public.case_outstanding(payment.case_id) = 0 then 'nothing_due'
         end
    from public.renewal_cases c
    left join public.payment_orders po on po.id = payment.payment_order_id
   where c.id = payment.case_id
$$;

comment on function private.payment_flag_reason(public.payments) is
  'The review_reason apply_razorpay_payment gives a captured payment instead of crediting it, '
  'or null when it would be credited: currency_mismatch (not INR), case_closed (its case is in a '
  'final stage), order_expired (authorised, per attempted_at, after its order''s expires_at), '
  'nothing_due (the case owes nothing). The reconciliation does not capture an authorised '
  'payment it names. Called inside the payment functions (which see every case).';

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

  -- Money first: authorised payments waiting to be captured, but not those apply_razorpay_payment
  -- would flag instead of crediting (left uncaptured, Razorpay voids them by itself).
  return query
  with picked as (
    select p.id from public.payments p
     where p.status = 'authorized' and p.review_reason is null and p.reconcile_after <= as_of
       and private.payment_flag_reason(p) is null
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

  -- And a payment link its case no longer needs (closed, owing nothing, or its own installment
  -- settled) while the customer can still pay it: cancel it, at once rather than at its next
  -- poll, so nobody pays twice.
  if wanted > 0 then
    return query
    with picked as (
      select pl.id from public.payment_links pl
        join public.renewal_cases c on c.id = pl.case_id
        left join public.outstanding_amounts o on o.id = pl.outstanding_amount_id
       where pl.status in ('created', 'partially_paid') and pl.razorpay_payment_link_id is not null
         and pl.expire_by > as_of
         and coalesce(pl.action_after, '-infinity') <= as_of
         and (private.case_stage_is_final(c.stage)
              or public.case_outstanding(pl.case_id) = 0
              or (o.id is not null and (o.status not in ('pending', 'overdue') or o.amount_paid >= o.amount)))
       order by pl.created_at, pl.id limit wanted for update of pl skip locked
    )
    update public.payment_links pl set action_after = as_of + lease
      from picked where pl.id = picked.id
    returning 'link_cancel'::text, pl.id, pl.razorpay_payment_link_id, pl.reference_id;
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

  -- Links being cancelled (leased above) are not polled meanwhile: the cancel records them.
  if wanted > 0 then
    return query
    with picked as (
      select pl.id from public.payment_links pl
       where pl.status in ('created', 'partially_paid') and pl.reconcile_after <= as_of
         and coalesce(pl.action_after, '-infinity') <= as_of
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
  'amount in paise (capture it, then apply_razorpay_payment via reconcile; a payment '
  'payment_flag_reason names is not claimed: it stays uncaptured and Razorpay voids it); '
  'autopay_pause / sub_... / pause_reason (pause it now; record_subscription_created with the '
  'answer); autopay_cancel / sub_... / the case''s stage (cancel it, cancel_at_cycle_end 0); '
  'link_cancel / plink_... / reference_id (a created or partially paid link, still unexpired, '
  'whose case is closed or owes nothing, or whose installment is settled: cancel it at Razorpay '
  'and record_payment_link_created(link, null, the answer), which records it cancelled, a part '
  'paid kept; leased on action_after, not polled as link_open meanwhile); order_creating / null '
  '/ receipt (find it by receipt: record_order_created, or fail the journalled call; past '
  'expires_at a lookup that found nothing fails it); refund_creating / pay_... / idempotency key '
  '(repeat the create with the same key and body; refused for good: fail_refund_create); '
  'refund_pending / rfnd_... / pay_... (apply_razorpay_refund); link_creating / null / '
  'reference_id; autopay_creating / plan_... / our mandate id (find the plan''s subscription '
  'whose notes.autopay_id is it: record_subscription_created with call_id null; a second claim '
  'after a lookup found nothing fails the mandate, as does a missing plan); '
  'autopay_link_fallback / sub_... / the installment id (open_autopay_fallback_link, create the '
  'link, record_payment_link_created, queue_payment_link_reminder); order_open / order_... / '
  'receipt (apply each payment, then record_order_created with call_id null, which expires it '
  'past expires_at); link_open / plink_... / reference_id (apply each payment with the link, then '
  'record_payment_link_created); autopay_open / sub_... / our mandate id (fetch it: '
  'record_subscription_created with call_id null; apply_razorpay_subscription_payment via '
  'reconcile for each captured payment of its invoices).';

revoke execute on function private.payment_flag_reason(public.payments) from public;
