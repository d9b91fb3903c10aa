-- Razorpay's word on which order a payment paid now overrides a payment row recorded earlier
-- by the checkout verification (which the API records after checking the Checkout signature, so
-- the two agree): were a row ever recorded against the wrong order, its money would have gone
-- to that order's case. While the payment is neither credited nor flagged, apply_razorpay_payment
-- moves the row to the order (or link) Razorpay names, and to its case, before locking the case.

create or replace function private.apply_razorpay_payment(payment jsonb, via text, payment_link jsonb default null)
returns table (payment_id uuid, outcome text, credited bigint, case_id uuid, case_stage public.case_stage)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  pay_ref text := payment ->> 'id';
  order_ref text := nullif(payment ->> 'order_id', '');
  reported public.payment_status;
  reported_amount bigint;
  attempted timestamptz;
  ord public.payment_orders;
  lnk public.payment_links;
  target_case uuid;
  paid public.payments;
  stage public.case_stage;
  forward boolean;
  flag text;
  preferred uuid[];
  allocated bigint := 0;
  result text;
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  if payment is null or jsonb_typeof(payment) <> 'object' or coalesce(pay_ref, '') !~ '^pay_[A-Za-z0-9_]+$'
     or via is null or via not in ('webhook', 'verify', 'reconcile')
     or coalesce(payment ->> 'status', '') not in ('created', 'authorized', 'captured', 'failed', 'refunded')
     or coalesce(payment ->> 'amount', '') !~ '^[0-9]{1,15}$' or (payment ->> 'amount')::bigint <= 0
     or (payment_link is not null and jsonb_typeof(payment_link) <> 'object') then
    raise exception 'apply_razorpay_payment needs a Razorpay payment entity (id pay_..., status, '
                    'amount in paise) and via webhook, verify or reconcile'
      using errcode = '22023';
  end if;
  reported := (payment ->> 'status')::public.payment_status;
  reported_amount := (payment ->> 'amount')::bigint;
  if coalesce(payment ->> 'created_at', '') ~ '^[0-9]{1,12}$' then
    attempted := to_timestamp((payment ->> 'created_at')::bigint);
  end if;

  -- Which of ours it pays: its order, else its link (by the link entity or the link's order),
  -- else a payment row already recorded (checkout verification).
  if order_ref is not null then
    select po.* into ord from public.payment_orders po where po.razorpay_order_id = order_ref;
  end if;
  if payment_link is not null then
    select pl.* into lnk from public.payment_links pl
     where pl.razorpay_payment_link_id = payment_link ->> 'id'
        or pl.reference_id = payment_link ->> 'reference_id'
     limit 1;
  end if;
  if ord.id is null and lnk.id is null and order_ref is not null then
    select pl.* into lnk from public.payment_links pl where pl.razorpay_order_id = order_ref limit 1;
  end if;
  target_case := coalesce(ord.case_id, lnk.case_id,
                          (select p.case_id from public.payments p where p.razorpay_payment_id = pay_ref));
  if target_case is null then
    return query select null::uuid, 'unmatched'::text, 0::bigint, null::uuid, null::public.case_stage;
    return;
  end if;

  -- 1. The payment row, then 2. its case.
  insert into public.payments as p (case_id, payment_order_id, payment_link_id, razorpay_order_id,
                                    razorpay_payment_id, amount, currency, status, attempted_at)
  values (target_case, ord.id, lnk.id, order_ref, pay_ref, reported_amount,
          coalesce(payment ->> 'currency', 'INR'), 'created', attempted)
  on conflict (razorpay_payment_id) do nothing;
  select p.* into paid from public.payments p where p.razorpay_payment_id = pay_ref for update;
  -- Razorpay says which order (or link) the payment paid: that overrides what a checkout
  -- verification recorded, as long as nothing is credited or flagged.
  if paid.credited_at is null and paid.review_reason is null
     and coalesce(ord.case_id, lnk.case_id) is not null
     and (paid.case_id, paid.payment_order_id, paid.payment_link_id)
         is distinct from (coalesce(ord.case_id, lnk.case_id), ord.id, lnk.id) then
    update public.payments p
       set case_id = coalesce(ord.case_id, lnk.case_id), payment_order_id = ord.id,
           payment_link_id = lnk.id, razorpay_order_id = coalesce(order_ref, p.razorpay_order_id)
     where p.id = paid.id
    returning p.* into paid;
  end if;
  stage := private.lock_case(paid.case_id);
  if ord.id is null and paid.payment_order_id is not null then
    select po.* into ord from public.payment_orders po where po.id = paid.payment_order_id;
  end if;
  if lnk.id is null and paid.payment_link_id is not null then
    select pl.* into lnk from public.payment_links pl where pl.id = paid.payment_link_id;
  end if;

  forward := private.payment_status_rank(reported) > private.payment_status_rank(paid.status);
  update public.payments p
     set status = case when forward then reported else p.status end,
         amount = case when forward and p.credited_at is null and p.amount_refunded = 0
                       then reported_amount else p.amount end,
         currency = case when forward and p.credited_at is null
                         then coalesce(payment ->> 'currency', p.currency) else p.currency end,
         method = coalesce(p.method, payment ->> 'method'),
         payment_order_id = coalesce(p.payment_order_id, ord.id),
         payment_link_id = coalesce(p.payment_link_id, lnk.id),
         razorpay_order_id = coalesce(p.razorpay_order_id, order_ref),
         attempted_at = coalesce(p.attempted_at, attempted),
         error_code = case when forward and reported = 'failed' then payment ->> 'error_code' else p.error_code end,
         failure_reason = case when forward and reported = 'failed'
                               then coalesce(payment ->> 'error_description', payment ->> 'error_reason')
                               else p.failure_reason end,
         captured_at = case when forward and reported in ('captured', 'refunded') and p.captured_at is null
                            then now() else p.captured_at end,
         reconcile_after = case when not forward then p.reconcile_after
                                when reported = 'authorized' then now() + reconcile end
   where p.id = paid.id
  returning p.* into paid;

  -- 3. Credit a captured payment once, or flag it.
  if paid.status = 'captured' and paid.credited_at is null and paid.review_reason is null then
    flag := case
      when paid.currency <> 'INR' then 'currency_mismatch'
      when private.case_stage_is_final(stage) then 'case_closed'
      when ord.id is not null and coalesce(paid.attempted_at, now()) > ord.expires_at then 'order_expired'
      when public.case_outstanding(paid.case_id) = 0 then 'nothing_due'
    end;
    if flag is not null then
      update public.payments p set review_reason = flag where p.id = paid.id returning p.* into paid;
      perform private.queue_payment_message(paid, 'payment_refund_due', 'refund_due:' || pay_ref);
      result := 'flagged';
    else
      preferred := coalesce(ord.installment_ids, array[lnk.outstanding_amount_id], '{}');
      with open_installments as (
        select o.id, o.amount - o.amount_paid as owed,
               row_number() over (order by o.id = any (preferred) desc, o.due_date,
                                           o.installment_number) as n
          from public.outstanding_amounts o
         where o.case_id = paid.case_id and o.status in ('pending', 'overdue')
           and o.amount_paid < o.amount
      ),
      running as (
        select i.id, i.owed, coalesce(sum(i.owed) over (order by i.n rows between unbounded preceding
                                                        and 1 preceding), 0) as before
          from open_installments i
      ),
      booked as (
        insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount)
        select paid.id, paid.case_id, r.id, least(r.owed, paid.amount - r.before)
          from running r
         where r.before < paid.amount
        returning outstanding_amount_id, amount
      )
      update public.outstanding_amounts o
         set amount_paid = o.amount_paid + b.amount,
             status = case when o.amount_paid + b.amount = o.amount then 'paid' else o.status end,
             paid_at = case when o.amount_paid + b.amount = o.amount then least(now(), paid.captured_at)
                            else o.paid_at end,
             reason = case when o.amount_paid + b.amount = o.amount
                           then coalesce(o.reason, 'Razorpay ' || pay_ref) else o.reason end
        from booked b
       where o.id = b.outstanding_amount_id;
      select coalesce(sum(a.amount), 0) into allocated
        from public.payment_allocations a where a.payment_id = paid.id;
      update public.payments p
         set credited_at = now(), credited_via = via,
             review_reason = case when paid.amount > allocated then 'overpaid' end
       where p.id = paid.id
      returning p.* into paid;
      perform private.queue_payment_message(paid, 'payment_receipt', 'receipt:' || pay_ref);
      result := 'credited';
    end if;
  elsif paid.credited_at is not null then
    result := 'already_credited';
  elsif paid.review_reason is not null and paid.status in ('captured', 'refunded') then
    result := 'flagged';
  else
    result := 'recorded';
  end if;

  -- 4. The order or link it paid.
  if ord.id is not null then
    update public.payment_orders po
       set status = case
             when po.status <> 'failed'
                  and (select coalesce(sum(p.amount), 0) from public.payments p
                        where p.payment_order_id = po.id and p.credited_at is not null) >= po.amount
               then 'paid'
             when po.status in ('creating', 'created') then 'attempted'
             else po.status end
     where po.id = ord.id
    returning po.* into ord;
    if ord.status = 'paid' then
      update public.payment_orders po set reconcile_after = null
       where po.id = ord.id and po.reconcile_after is not null;
    end if;
  end if;
  if lnk.id is not null then
    update public.payment_links pl
       set razorpay_order_id = coalesce(pl.razorpay_order_id, order_ref),
           amount_paid = captured.total,
           status = case
             when pl.status in ('expired', 'cancelled', 'failed') then pl.status
             when captured.total >= pl.amount then 'paid'
             when captured.total > 0 then 'partially_paid'
             else pl.status end,
           reconcile_after = case when captured.total >= pl.amount then null else pl.reconcile_after end
      from (select coalesce(sum(p.amount), 0) as total from public.payments p
             where p.payment_link_id = lnk.id and p.status in ('captured', 'refunded')) as captured
     where pl.id = lnk.id;
  end if;

  return query
  select paid.id, result, allocated, paid.case_id, c.stage
    from public.renewal_cases c where c.id = paid.case_id;
end;
$$;
