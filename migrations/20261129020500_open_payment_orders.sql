-- Razorpay orders for a case's installments, and the checkout verification the browser reports.
--   open_payment_order            the desk (or the customer's page through the API) asks what to
--                                 pay: the amount comes from the installments, never the client;
--                                 the order is stored `creating` with its journalled call before
--                                 Razorpay is called; an open order for the same installments is
--                                 reused instead of a second one.
--   record_order_created          Razorpay's answer (or what the reconciliation found by receipt,
--                                 or a later poll of the order).
--   record_checkout_verification  the Checkout signature was good: recorded on the payment, never
--                                 trusted alone (the webhook or a fetch from Razorpay credits).
-- Locks: the case (private.lock_case), then its orders.

create function private.open_payment_order(
  case_id uuid,
  installment_ids uuid[] default null,
  client_amount bigint default null
)
returns table (
  payment_order_id uuid, receipt text, amount bigint, currency text, razorpay_order_id text,
  status text, expires_at timestamptz, reused boolean, customer_name text, customer_email text,
  customer_phone text, case_number text, call_id uuid
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  stage public.case_stage;
  chosen uuid[];
  total bigint;
  opened public.payment_orders;
  was_reused boolean := false;
  journal uuid;
  ttl interval := private.setting_interval('RAZORPAY_ORDER_TTL', interval '30 minutes');
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  if open_payment_order.case_id is null
     or (open_payment_order.installment_ids is not null
         and (cardinality(open_payment_order.installment_ids) = 0
              or array_position(open_payment_order.installment_ids, null) is not null)) then
    raise exception 'a payment order needs a case, and installments (when given) that are not empty'
      using errcode = '22023';
  end if;
  if not private.payment_caller_sees_case(open_payment_order.case_id) then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  stage := private.lock_case(open_payment_order.case_id);

  select array_agg(o.id order by o.due_date, o.installment_number), sum(o.amount - o.amount_paid)
    into chosen, total
    from public.outstanding_amounts o
   where o.case_id = open_payment_order.case_id
     and o.status in ('pending', 'overdue') and o.amount_paid < o.amount
     and (open_payment_order.installment_ids is null or o.id = any (open_payment_order.installment_ids));

  if stage = 'renewed' or (open_payment_order.installment_ids is null and chosen is null) then
    raise exception 'case % owes nothing', open_payment_order.case_id using errcode = 'PY010';
  end if;
  if private.case_stage_is_final(stage) then
    raise exception 'the case is closed (%): it takes no payment', stage using errcode = 'PY006';
  end if;
  if open_payment_order.installment_ids is not null
     and coalesce(cardinality(chosen), 0)
         <> (select count(distinct x) from unnest(open_payment_order.installment_ids) x) then
    raise exception 'each installment must be open (pending or overdue, not fully paid) on this case'
      using errcode = '22023';
  end if;
  if total < 100 then
    raise exception 'Razorpay takes at least 100 paise; % paise is due', total using errcode = '22023';
  end if;
  if open_payment_order.client_amount is not null and open_payment_order.client_amount <> total then
    raise exception 'the amount due is % paise, not %', total, open_payment_order.client_amount
      using errcode = 'PY011';
  end if;

  -- An open order for exactly these installments and this amount is offered again.
  select po.* into opened
    from public.payment_orders po
   where po.case_id = open_payment_order.case_id
     and po.status in ('created', 'attempted')
     and po.expires_at > now()
     and po.amount = total
     and (select array_agg(x order by x) from unnest(po.installment_ids) x)
         = (select array_agg(x order by x) from unnest(chosen) x)
   order by po.created_at desc
   limit 1
     for update;
  if found then
    was_reused := true;
  else
    insert into public.payment_orders as po (case_id, amount, installment_ids, expires_at, created_by,
                                             reconcile_after)
    values (open_payment_order.case_id, total, chosen, now() + ttl, auth.uid(), now() + reconcile)
    returning po.* into opened;
    journal := private.start_razorpay_call('create_order', opened.id, jsonb_build_object(
      'amount', opened.amount, 'currency', opened.currency, 'receipt', opened.receipt,
      'notes', jsonb_build_object('payment_order_id', opened.id, 'case_id', opened.case_id)));
  end if;

  return query
  select opened.id, opened.receipt, opened.amount, opened.currency, opened.razorpay_order_id,
         opened.status, opened.expires_at, was_reused, cu.full_name, cu.email::text, cu.phone,
         c.case_number, journal
    from public.renewal_cases c
    join public.customers cu on cu.id = c.customer_id
   where c.id = opened.case_id;
end;
$$;

comment on function private.open_payment_order(uuid, uuid[], bigint) is
  'Opens (or reuses) a Razorpay order for the chosen installments of a case, or all it owes, '
  'oldest due first. The amount is what they still owe (amount - amount_paid); a client_amount '
  'that differs is refused (PY011). Returns what Checkout needs, the customer''s prefill and the '
  'journalled create call (call_id, null when an open unexpired order for the same installments '
  'and amount is reused: reused = true). Errors: P0002 case not visible; PY010 nothing due (or '
  'renewed); PY006 case closed; 22023 installments not open on this case, or below Razorpay''s '
  '100 paise. Security definer: checks the caller sees the case, then writes what the desk may not.';

create function private.record_order_created(payment_order_id uuid, call_id uuid, razorpay_order jsonb)
returns public.payment_orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.payment_orders;
  theirs text := razorpay_order ->> 'id';
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  next_status text;
begin
  if payment_order_id is null or razorpay_order is null or theirs !~ '^order_[A-Za-z0-9_]+$' then
    raise exception 'record_order_created needs our order and Razorpay''s order (id order_...)'
      using errcode = '22023';
  end if;
  select * into ours from public.payment_orders po where po.id = payment_order_id for update;
  if not found then
    raise exception 'no payment order %', payment_order_id using errcode = 'P0002';
  end if;
  if razorpay_order ->> 'receipt' is distinct from ours.receipt
     or (razorpay_order ->> 'amount')::bigint is distinct from ours.amount then
    raise exception 'Razorpay''s order % (receipt %, % paise) is not ours (receipt %, % paise)',
      theirs, razorpay_order ->> 'receipt', razorpay_order ->> 'amount', ours.receipt, ours.amount
      using errcode = '22023';
  end if;
  if ours.razorpay_order_id is not null and ours.razorpay_order_id <> theirs then
    raise exception 'order % already is Razorpay''s %, not %', ours.id, ours.razorpay_order_id, theirs
      using errcode = '22023';
  end if;

  next_status := case
    when ours.status in ('creating', 'failed') and razorpay_order ->> 'status' = 'attempted' then 'attempted'
    when ours.status in ('creating', 'failed') then 'created'
    when ours.status = 'created' and razorpay_order ->> 'status' in ('attempted', 'paid') then 'attempted'
    else ours.status
  end;
  -- A poll after the order's time: nothing paid at Razorpay, it expires. Money Razorpay counts as
  -- paid keeps it open until the payments are credited.
  if call_id is null and next_status in ('created', 'attempted') and ours.expires_at < now()
     and razorpay_order ->> 'status' is distinct from 'paid' then
    next_status := 'expired';
  end if;

  update public.payment_orders po
     set razorpay_order_id = theirs,
         status = next_status,
         last_error = case when ours.status in ('creating', 'failed') then null else po.last_error end,
         reconcile_after = case
           when next_status in ('expired', 'paid') then null
           when ours.status in ('creating', 'failed') then now() + reconcile
           else po.reconcile_after end,
         polled_at = case when call_id is null then now() else po.polled_at end
   where po.id = ours.id
  returning po.* into ours;

  if call_id is not null then
    perform private.finish_razorpay_call(call_id, ours.id);
  end if;
  return ours;
end;
$$;

comment on function private.record_order_created(uuid, uuid, jsonb) is
  'Records Razorpay''s order for ours: the create call''s answer (call_id: the journalled call, '
  'marked succeeded), or what the reconciliation found by receipt or polled (call_id null). The '
  'receipt and amount must be ours (22023); P0002 for an unknown order. creating or failed -> '
  'created (attempted if Razorpay says so); a poll past expires_at with nothing paid at Razorpay '
  '-> expired. Never sets paid: only credited payments do. Idempotent.';

create function private.record_checkout_verification(case_id uuid, razorpay_order_id text, razorpay_payment_id text)
returns table (payment_id uuid, payment_status public.payment_status, credited boolean)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  ours public.payment_orders;
  recorded public.payments;
begin
  if record_checkout_verification.case_id is null
     or coalesce(record_checkout_verification.razorpay_payment_id, '') !~ '^pay_[A-Za-z0-9_]+$'
     or coalesce(record_checkout_verification.razorpay_order_id, '') !~ '^order_[A-Za-z0-9_]+$' then
    raise exception 'a checkout verification needs the case, order_... and pay_... ids'
      using errcode = '22023';
  end if;
  if not private.payment_caller_sees_case(record_checkout_verification.case_id) then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  select po.* into ours from public.payment_orders po
   where po.razorpay_order_id = record_checkout_verification.razorpay_order_id
     and po.case_id = record_checkout_verification.case_id;
  if not found then
    raise exception 'no order % on this case', record_checkout_verification.razorpay_order_id
      using errcode = 'P0002';
  end if;

  -- Only the payment row is locked: nothing is credited here.
  insert into public.payments as p (case_id, payment_order_id, razorpay_order_id, razorpay_payment_id,
                                    amount, status, checkout_verified_at)
  values (ours.case_id, ours.id, ours.razorpay_order_id, record_checkout_verification.razorpay_payment_id,
          ours.amount, 'created', now())
  on conflict (razorpay_payment_id) do update
     set checkout_verified_at = coalesce(p.checkout_verified_at, excluded.checkout_verified_at)
   where p.case_id = excluded.case_id
     and p.razorpay_order_id is not distinct from excluded.razorpay_order_id
  returning p.* into recorded;
  if recorded.id is null then
    raise exception 'payment % belongs to another order', record_checkout_verification.razorpay_payment_id
      using errcode = 'P0002';
  end if;

  return query select recorded.id, recorded.status, recorded.credited_at is not null;
end;
$$;

comment on function private.record_checkout_verification(uuid, text, text) is
  'Records that the browser''s Checkout signature for our order and a payment was verified (the '
  'API checks the signature first): the payment row is created (status created, amount the '
  'order''s until Razorpay tells) or stamped checkout_verified_at. Never credits: the webhook or a '
  'fetch from Razorpay (apply_razorpay_payment) does. P0002 when the case is not the caller''s, '
  'the order not this case''s, or the payment another order''s; 22023 on malformed ids. Security '
  'definer: checks the caller sees the case.';

revoke execute on function private.open_payment_order(uuid, uuid[], bigint),
  private.record_order_created(uuid, uuid, jsonb),
  private.record_checkout_verification(uuid, text, text) from public;
grant execute on function private.open_payment_order(uuid, uuid[], bigint),
  private.record_checkout_verification(uuid, text, text) to authenticated;
grant execute on function private.record_order_created(uuid, uuid, jsonb) to service_role;
