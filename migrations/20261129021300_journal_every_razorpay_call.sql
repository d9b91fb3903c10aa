-- What the API and the reconciliation runner, written against the journal, need of it:
-- * every call to Razorpay is journalled, lookups too (fetch_payment, fetch_order,
--   find_orders_by_receipt, fetch_order_payments, fetch_payment_link,
--   find_payment_links_by_reference_id, fetch_refund, ...), not only the five calls that change
--   something: the operation is any snake_case name;
-- * a lookup's row is finished by private.finish_razorpay_call, which service_role may now call;
-- * an order whose create call never reached Razorpay stayed `creating` and was looked up every
--   RAZORPAY_RECONCILE_AFTER for ever: once a lookup after its expires_at found nothing (the
--   claim stamps polled_at) and that lease ran out, the claim fails it (its create failed for
--   good). Nobody can have paid it: the API hands an order id to Checkout only after Razorpay's
--   answer is recorded.

alter table private.razorpay_calls drop constraint razorpay_calls_operation_check;
alter table private.razorpay_calls
  add constraint razorpay_calls_operation_check check (operation ~ '^[a-z][a-z_]{2,60}$');

create or replace function private.start_razorpay_call(operation text, subject_id uuid, request jsonb) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  call_id uuid;
begin
  if operation is null or subject_id is null or operation !~ '^[a-z][a-z_]{2,60}$'
     or (request is not null and jsonb_typeof(request) <> 'object') then
    raise exception 'a Razorpay call needs an operation (snake_case), its subject and a JSON object request'
      using errcode = '22023';
  end if;
  insert into private.razorpay_calls (operation, subject_id, request)
  values (operation, subject_id,
          -- Never a secret in the journal, whatever the caller passed.
          coalesce((select jsonb_object_agg(r.key, r.value) from jsonb_each(request) r
                     where r.key !~* '(secret|password|authorization|token)'), '{}'))
  returning id into call_id;
  return call_id;
end;
$$;

comment on function private.start_razorpay_call(text, uuid, jsonb) is
  'Journals a call to Razorpay before it is made (commit it first) and returns its id: operation '
  'in snake_case (create_order, create_payment_link, create_refund, capture_payment, '
  'fetch_payment, find_orders_by_receipt, ...); subject_id our order, link, refund or payment; '
  'request the body or parameters sent (keys naming secrets, passwords, tokens or authorization '
  'are dropped). Finished by the function recording the answer, finish_razorpay_call, or '
  'record_razorpay_call_failed. 22023 on bad input. Security definer: the journal is private. '
  'open_payment_order, open_payment_link and request_refund journal their own create call.';

comment on function private.finish_razorpay_call(uuid, uuid) is
  'Marks a journalled call of that subject succeeded (once; a finished call is left as it is): '
  'lookups and captures, whose answer is recorded elsewhere. Security definer: the journal is '
  'private.';

grant execute on function private.finish_razorpay_call(uuid, uuid) to service_role;

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
