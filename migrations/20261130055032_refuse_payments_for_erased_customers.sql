-- No payment is opened for an erased customer (issue 13, review). private.open_payment_order
-- (Checkout orders), private.open_payment_link (links, and the autopay fallback link, which goes
-- through it) and private.open_autopay (mandates) refuse a case whose customer was erased:
-- SQLSTATE 55000 (409 through the API), nothing written, no Razorpay call journalled. A payment
-- for an erased person would send their money through a record that no longer names them, and
-- the erasure refuses while money is in flight for that reason.
--
-- The check runs right after private.lock_case, which holds the case FOR NO KEY UPDATE until the
-- opener commits; that conflicts with the erasure's FOR UPDATE on the person's cases
-- (20261130054516_close_erasure_review_gaps). So whichever comes second waits and then judges
-- what the first committed (READ COMMITTED: each statement reads afresh):
-- * the erasure first: the opener waits at lock_case, then finds erased_at set and refuses;
-- * the opener first: the erasure waits on the case, then its in-flight check sees the order,
--   link or mandate (creating) and refuses.
-- The three functions are restated from 20261129153547_open_one_live_order_or_link (no `set`
-- clause but search_path there; every line kept) with the one call added. Refunds are left as
-- they were: money going back to the person on a kept payment record is not a new payment.

create function private.refuse_erased_customer(case_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  erased timestamptz;
begin
  select cu.erased_at into erased
    from public.renewal_cases c join public.customers cu on cu.id = c.customer_id
   where c.id = refuse_erased_customer.case_id;
  if erased is not null then
    raise exception 'the customer of case % was erased on %: no payment can be opened for them',
      refuse_erased_customer.case_id, erased
      using errcode = '55000',
            hint = 'An erasure cannot be undone; a person who comes back is recorded as a new customer.';
  end if;
end;
$$;

comment on function private.refuse_erased_customer(uuid) is
  'Raises 55000 when the customer of the case was erased (customers.erased_at set). Called by '
  'open_payment_order, open_payment_link and open_autopay under the case''s lock. Security '
  'definer: reads the customer whoever calls (the callers checked the case is visible).';

revoke execute on function private.refuse_erased_customer(uuid) from public, anon, authenticated, service_role;

create or replace function private.open_payment_order(
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
  -- What an order must have left to be handed out again: a third of its time, at least 10
  -- minutes (to open Checkout and pay), but never more than half of a short TTL.
  margin interval := greatest(ttl / 3, least(interval '10 minutes', ttl / 2));
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  perform private.require_payments_on();
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
  -- Under the case's lock: an erasure holding it (for update) is waited for, then seen here.
  perform private.refuse_erased_customer(open_payment_order.case_id);

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

  -- An open order for exactly these installments and this amount is offered again while it
  -- has at least `margin` left to be paid in; one still being created (its create call in
  -- flight for another request, less than a minute old) is answered too, without its Razorpay
  -- id, so that a second request never opens a second live order (the API asks to try again).
  -- An older `creating` row is a crashed request: the reconciliation finds it by receipt.
  select po.* into opened
    from public.payment_orders po
   where po.case_id = open_payment_order.case_id
     and (po.status in ('created', 'attempted')
          or (po.status = 'creating' and po.created_at > now() - interval '1 minute'))
     and po.expires_at > now() + margin
     and po.amount = total
     and (select array_agg(x order by x) from unnest(po.installment_ids) x)
         = (select array_agg(x order by x) from unnest(chosen) x)
   order by po.status <> 'creating' desc, po.created_at desc
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
  'journalled create call (call_id). reused = true (call_id null): an open order for the same '
  'installments and amount with at least a third of RAZORPAY_ORDER_TTL left (at least 10 '
  'minutes, at most half the TTL), or one still being created for another request (status '
  'creating, less than a minute old, razorpay_order_id null: ask again shortly). Errors: PY013 '
  'payments switched off (ENABLE_PAYMENT_LINKS); P0002 case not visible; 55000 the case''s '
  'customer was erased; PY010 nothing due (or renewed); PY006 case closed; 22023 installments not open on this case, or below Razorpay''s '
  '100 paise. Security definer: checks the caller sees the case, then writes what the desk may not.';

create or replace function private.open_payment_link(
  case_id uuid,
  outstanding_amount_id uuid default null,
  accept_partial boolean default false,
  first_min_partial_amount bigint default null
)
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
  stage public.case_stage;
  line public.product_line;
  rule jsonb;
  total bigint;
  floor_amount bigint;
  partial boolean := coalesce(open_payment_link.accept_partial, false);
  min_part bigint := open_payment_link.first_min_partial_amount;
  opened public.payment_links;
  was_reused boolean := false;
  journal uuid;
  ttl interval := least(private.setting_interval('PAYMENT_LINK_TTL', interval '15 days'), interval '180 days');
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  perform private.require_payments_on();
  if open_payment_link.case_id is null then
    raise exception 'a payment link needs a case' using errcode = '22023';
  end if;
  if not private.payment_caller_sees_case(open_payment_link.case_id) then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  stage := private.lock_case(open_payment_link.case_id);
  -- Under the case's lock: an erasure holding it (for update) is waited for, then seen here.
  perform private.refuse_erased_customer(open_payment_link.case_id);

  if open_payment_link.outstanding_amount_id is null then
    total := public.case_outstanding(open_payment_link.case_id);
  else
    select o.amount - o.amount_paid into total
      from public.outstanding_amounts o
     where o.id = open_payment_link.outstanding_amount_id and o.case_id = open_payment_link.case_id
       and o.status in ('pending', 'overdue') and o.amount_paid < o.amount;
    if not found and stage <> 'renewed' and not private.case_stage_is_final(stage) then
      raise exception 'installment % is not open on this case', open_payment_link.outstanding_amount_id
        using errcode = '22023';
    end if;
  end if;
  if stage = 'renewed' or coalesce(total, 0) = 0 then
    raise exception 'case % owes nothing', open_payment_link.case_id using errcode = 'PY010';
  end if;
  if private.case_stage_is_final(stage) then
    raise exception 'the case is closed (%): it takes no payment', stage using errcode = 'PY006';
  end if;
  if total < 100 then
    raise exception 'Razorpay takes at least 100 paise; % paise is due', total using errcode = '22023';
  end if;

  if not partial and min_part is not null then
    raise exception 'a minimum first part needs partial payments' using errcode = '22023';
  end if;
  if partial then
    select p.product_line into line
      from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where c.id = open_payment_link.case_id;
    rule := private.setting('PARTIAL_PAYMENTS') -> line::text;
    if rule is null or jsonb_typeof(rule) <> 'object' then
      raise exception 'partial payments are not allowed for % policies', line using errcode = '22023';
    end if;
    floor_amount := greatest(100, ceil(total * coalesce((rule ->> 'min_first_percent')::numeric, 0) / 100)::bigint);
    min_part := coalesce(min_part, floor_amount);
    if min_part < floor_amount or min_part > total then
      raise exception 'the first part must be between % and % paise', floor_amount, total
        using errcode = '22023';
    end if;
  end if;

  -- The same link, still payable, is offered again rather than a second one; so is one still
  -- being created for another request (less than a minute old: its create call in flight),
  -- without its Razorpay id and short_url (the API asks to try again). An older `creating` row
  -- is a crashed request: the reconciliation finds it by reference_id.
  select pl.* into opened
    from public.payment_links pl
   where pl.case_id = open_payment_link.case_id
     and pl.outstanding_amount_id is not distinct from open_payment_link.outstanding_amount_id
     and (pl.status = 'created'
          or (pl.status = 'creating' and pl.created_at > now() - interval '1 minute'))
     and pl.amount = total and pl.accept_partial = partial
     and pl.first_min_partial_amount is not distinct from min_part
     and pl.expire_by > now() + interval '1 day'
   order by pl.status <> 'creating' desc, pl.created_at desc
   limit 1
     for update;
  if found then
    was_reused := true;
  else
    insert into public.payment_links as pl (case_id, outstanding_amount_id, amount, accept_partial,
                                            first_min_partial_amount, expire_by, created_by,
                                            reconcile_after)
    values (open_payment_link.case_id, open_payment_link.outstanding_amount_id, total, partial,
            min_part, date_trunc('second', now() + ttl), auth.uid(), now() + reconcile)
    returning pl.* into opened;
    journal := private.start_razorpay_call('create_payment_link', opened.id, jsonb_strip_nulls(jsonb_build_object(
      'amount', opened.amount, 'currency', opened.currency, 'accept_partial', opened.accept_partial,
      'first_min_partial_amount', opened.first_min_partial_amount,
      'expire_by', extract(epoch from opened.expire_by)::bigint,
      'reference_id', opened.reference_id,
      'notify', jsonb_build_object('sms', false, 'email', false), 'reminder_enable', false,
      'notes', jsonb_build_object('payment_link_id', opened.id, 'case_id', opened.case_id))));
  end if;

  return query
  select opened.id, opened.reference_id, opened.amount, opened.currency, opened.accept_partial,
         opened.first_min_partial_amount, opened.expire_by, opened.status,
         opened.razorpay_payment_link_id, opened.short_url, was_reused, cu.full_name,
         cu.email::text, cu.phone, c.case_number, p.policy_number, journal
    from public.renewal_cases c
    join public.customers cu on cu.id = c.customer_id
    join public.policies p on p.id = c.policy_id
   where c.id = opened.case_id;
end;
$$;

comment on function private.open_payment_link(uuid, uuid, boolean, bigint) is
  'Opens (or reuses) a Razorpay payment link for one open installment or all a case owes, '
  'amount from the database. accept_partial only where PARTIAL_PAYMENTS allows the product line, '
  'first part at least its min_first_percent (default that minimum). expire_by PAYMENT_LINK_TTL '
  'ahead (at most 180 days). Returns the link (call_id: the journalled create call; '
  'accepts_partial and min_partial_amount are the link''s accept_partial and '
  'first_min_partial_amount), the customer''s prefill and case and policy numbers. reused = true '
  '(call_id null): an identical link payable for more than a day, or one still being created for '
  'another request (status creating, less than a minute old, no Razorpay id nor short_url yet: '
  'ask again shortly). Errors: PY013 payments switched off (ENABLE_PAYMENT_LINKS); P0002 case not '
  'visible; 55000 the case''s customer was erased; PY010 nothing due; PY006 case closed; 22023 installment not open on the case, partial '
  'payment not allowed or minimum out of range. Security definer: checks the caller sees the case.';

create or replace function private.open_autopay(case_id uuid)
returns table (
  autopay_mandate_id uuid, status text, reused boolean,
  autopay_plan_id uuid, razorpay_plan_id text, plan_call_id uuid, plan_request jsonb,
  razorpay_subscription_id text, short_url text, subscription_call_id uuid, subscription_request jsonb,
  installment_amount bigint, period text, "interval" integer, total_count integer,
  start_at timestamptz, expire_by timestamptz, max_amount bigint,
  customer_name text, customer_email text, customer_phone text, case_number text, policy_number text
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  stage public.case_stage;
  frequency public.payment_frequency;
  owed_amounts bigint[];
  open_count integer;
  first_due date;
  each_amount bigint;
  every integer;
  first_debit timestamptz;
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  mandate_limit bigint := coalesce((private.setting('AUTOPAY_MANDATE_LIMIT_PAISE') #>> '{}')::bigint, 10000000);
  -- Never under 37 hours, whatever the setting: expire_by is 36 hours before the first debit.
  min_lead interval := greatest(private.setting_interval('AUTOPAY_MIN_LEAD', interval '48 hours'),
                                interval '37 hours');
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  plan public.autopay_plans;
  mandate public.autopay_mandates;
  was_reused boolean := false;
  plan_call uuid;
  plan_body jsonb;
  subscription_call uuid;
  subscription_body jsonb;
begin
  perform private.require_payments_on();
  if open_autopay.case_id is null then
    raise exception 'autopay needs a case' using errcode = '22023';
  end if;
  if not private.payment_caller_sees_case(open_autopay.case_id) then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  stage := private.lock_case(open_autopay.case_id);
  -- Under the case's lock: an erasure holding it (for update) is waited for, then seen here.
  perform private.refuse_erased_customer(open_autopay.case_id);

  select array_agg(o.amount - o.amount_paid order by o.due_date, o.installment_number),
         count(*)::integer, min(o.due_date)
    into owed_amounts, open_count, first_due
    from public.outstanding_amounts o
   where o.case_id = open_autopay.case_id
     and o.status in ('pending', 'overdue') and o.amount_paid < o.amount;

  if stage = 'renewed' or open_count = 0 then
    raise exception 'case % owes nothing', open_autopay.case_id using errcode = 'PY010';
  end if;
  if private.case_stage_is_final(stage) then
    raise exception 'the case is closed (%): it takes no payment', stage using errcode = 'PY006';
  end if;

  -- A live mandate of the case is the answer (one subscription per case).
  select m.* into mandate from public.autopay_mandates m
   where m.case_id = open_autopay.case_id
     and m.status not in ('cancelled', 'completed', 'expired', 'failed');
  if found then
    was_reused := true;
    select ap.* into plan from public.autopay_plans ap where ap.id = mandate.autopay_plan_id;
  else
    select p.payment_frequency into frequency
      from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where c.id = open_autopay.case_id;
    every := case frequency when 'monthly' then 1 when 'quarterly' then 3 when 'half_yearly' then 6 end;
    if every is null then
      raise exception 'autopay is for monthly, quarterly or half-yearly installments; this policy is paid %',
        frequency using errcode = '22023';
    end if;
    if (select count(distinct x) from unnest(owed_amounts) x) > 1 then
      raise exception 'autopay debits one amount each time, but the open installments owe %: pay by link',
        array_to_string(array(select private.format_inr(x) from unnest(owed_amounts) x), ', ')
        using errcode = '22023';
    end if;
    each_amount := owed_amounts[1];
    if each_amount > mandate_limit then
      raise exception 'an installment of % is above the autopay mandate limit of % (AUTOPAY_MANDATE_LIMIT_PAISE): pay by link',
        private.format_inr(each_amount), private.format_inr(mandate_limit) using errcode = '22023';
    end if;
    if each_amount < 100 then
      raise exception 'Razorpay takes at least 100 paise; % paise is due', each_amount using errcode = '22023';
    end if;
    -- The first debit on the next due date at 10:00 IST, far enough ahead for the customer to
    -- authorise the mandate and for the 24-hour pre-debit notice.
    first_debit := (first_due + time '10:00') at time zone tz;
    if first_debit < now() + min_lead then
      raise exception 'the next installment is due % (10:00 IST), sooner than AUTOPAY_MIN_LEAD (%) allows for a first debit: pay it by link',
        first_due, min_lead using errcode = '22023';
    end if;

    -- The plan of this shape, reused; created at Razorpay once (a second create call is
    -- journalled only while none has answered: a duplicate plan there is harmless and unused).
    insert into public.autopay_plans as ap (period, "interval", amount)
    values ('monthly', every, each_amount)
    on conflict (period, "interval", amount, currency) do nothing;
    select ap.* into plan from public.autopay_plans ap
     where ap.period = 'monthly' and ap."interval" = every and ap.amount = each_amount
       and ap.currency = 'INR'
       for update;

    insert into public.autopay_mandates as m (case_id, autopay_plan_id, razorpay_plan_id,
                                              installment_amount, period, "interval", total_count,
                                              start_at, expire_by, max_amount, created_by,
                                              reconcile_after)
    values (open_autopay.case_id, plan.id, plan.razorpay_plan_id, each_amount, plan.period, plan."interval",
            open_count, first_debit, first_debit - interval '36 hours', mandate_limit, auth.uid(),
            now() + reconcile)
    returning m.* into mandate;

    if plan.razorpay_plan_id is null then
      plan_body := jsonb_build_object(
        'period', plan.period, 'interval', plan."interval",
        'item', jsonb_build_object('name', format('Py360 installment %s every %s month(s)',
                                                  private.format_inr(plan.amount), plan."interval"),
                                   'amount', plan.amount, 'currency', plan.currency),
        'notes', jsonb_build_object('autopay_plan_id', plan.id));
      plan_call := private.start_razorpay_call('create_plan', plan.id, plan_body);
    end if;
    -- plan_id is known once the plan is (record_plan_created); the API adds it to the body.
    subscription_body := jsonb_strip_nulls(jsonb_build_object(
      'plan_id', plan.razorpay_plan_id, 'total_count', mandate.total_count, 'quantity', 1,
      'start_at', extract(epoch from mandate.start_at)::bigint,
      'expire_by', extract(epoch from mandate.expire_by)::bigint,
      'customer_notify', 0,
      'notes', jsonb_build_object('case_id', mandate.case_id, 'autopay_id', mandate.id)));
    subscription_call := private.start_razorpay_call('create_subscription', mandate.id, subscription_body);
  end if;

  return query
  select mandate.id, mandate.status, was_reused, plan.id, coalesce(mandate.razorpay_plan_id, plan.razorpay_plan_id),
         plan_call, plan_body, mandate.razorpay_subscription_id, mandate.short_url, subscription_call,
         subscription_body, mandate.installment_amount, mandate.period, mandate."interval",
         mandate.total_count, mandate.start_at, mandate.expire_by, mandate.max_amount,
         cu.full_name, cu.email::text, cu.phone, c.case_number, p.policy_number
    from public.renewal_cases c
    join public.customers cu on cu.id = c.customer_id
    join public.policies p on p.id = c.policy_id
   where c.id = mandate.case_id;
end;
$$;

comment on function private.open_autopay(uuid) is
  'Opens autopay (a Razorpay subscription) for a case''s open installments, or answers its live '
  'mandate (reused = true, no call journalled). Only monthly (plan monthly x1), quarterly (x3) '
  'and half-yearly (x6) policies whose open installments all still owe one amount, at most '
  'AUTOPAY_MANDATE_LIMIT_PAISE, the first due date at 10:00 IST at least AUTOPAY_MIN_LEAD ahead '
  '(start_at; expire_by 36 hours before it; total_count the open installments). The plan of that '
  'shape is reused: plan_call_id / plan_request only while Razorpay has no plan for it '
  '(then record_plan_created, and add its id as plan_id to subscription_request). '
  'subscription_call_id / subscription_request: the journalled create call (then '
  'record_subscription_created, or record_razorpay_call_failed). Errors: PY013 payments switched '
  'off (ENABLE_PAYMENT_LINKS); P0002 case not visible; 55000 the case''s customer was erased; '
  'PY010 nothing due (or renewed); PY006 case closed; 22023 annual policy, unequal installments, above the mandate limit, first debit too '
  'soon, below 100 paise. Security definer: checks the caller sees the case, then writes what the '
  'desk may not.';
