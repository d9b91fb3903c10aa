-- What the reconciliation runner (worker tick, pg_cron) asks Razorpay about: orders, links and
-- refunds whose create answer or webhook has not come within RAZORPAY_RECONCILE_AFTER, and
-- authorised payments to capture. Each claimed item's reconcile_after moves one interval ahead,
-- a lease: two runners never take the same item, and an item whose runner died comes back after
-- it. What the runner learns goes through the same functions as the webhooks
-- (apply_razorpay_payment with via reconcile, record_order_created / record_payment_link_created
-- with call_id null, apply_razorpay_refund), so a lost webhook and a poll cannot credit twice.

create function private.claim_payment_reconciliation(max_items integer default 50, as_of timestamptz default now())
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

  if wanted > 0 then
    return query
    with picked as (
      select po.id from public.payment_orders po
       where po.status = 'creating' and po.reconcile_after <= as_of
       order by po.reconcile_after limit wanted for update skip locked
    )
    update public.payment_orders po set reconcile_after = as_of + lease
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
  end if;
end;
$$;

comment on function private.claim_payment_reconciliation(integer, timestamptz) is
  'Claims up to max_items things to ask Razorpay about whose reconcile_after has passed, and '
  'leases each for RAZORPAY_RECONCILE_AFTER (skip locked: concurrent runners share the work). '
  'kind / razorpay_id / lookup_key: payment_authorized / pay_... / amount in paise (capture it, '
  'then apply_razorpay_payment via reconcile); order_creating / null / receipt (find it by '
  'receipt: record_order_created, or fail the journalled call); refund_creating / pay_... / '
  'idempotency key (repeat the create with the same key and body); link_creating / null / '
  'reference_id; order_open / order_... / receipt (apply each payment, then record_order_created '
  'with call_id null, which expires it past expires_at); link_open / plink_... / reference_id '
  '(apply each payment with the link, then record_payment_link_created); refund_pending / '
  'rfnd_... / pay_... (apply_razorpay_refund). In that order, money first.';

revoke execute on function private.claim_payment_reconciliation(integer, timestamptz) from public;
grant execute on function private.claim_payment_reconciliation(integer, timestamptz) to service_role;
