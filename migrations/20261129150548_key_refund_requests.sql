-- An admin's refund request carries the client's Idempotency-Key. Before, a partial refund whose
-- answer was lost (a 503 while Razorpay was slow) and that the desk asked again became a second
-- refund: each request reserved a new amount under a new X-Refund-Idempotency key. Now the same
-- key for the same payment answers the first refund, and the same key with another amount is
-- refused; a full refund asked twice was already safe (nothing left: PY012).

alter table public.refunds add column request_key text
  check (request_key is null or length(request_key) between 1 and 200);
alter table public.refunds add constraint refunds_payment_id_request_key_key
  unique (payment_id, request_key);

comment on column public.refunds.request_key is
  'The Idempotency-Key of the admin''s request that made it: the same key for the same payment '
  'answers this refund again. Null for refunds made in the Razorpay dashboard.';

create function private.request_refund(payment_id uuid, amount bigint, reason text, request_key text)
returns table (
  refund_id uuid, razorpay_payment_id text, refund_amount bigint, refund_status text,
  idempotency_key text, call_id uuid, repeated boolean
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  earlier public.refunds;
  made record;
begin
  if request_key is null or length(request_key) not between 1 and 200 then
    raise exception 'a refund request needs an Idempotency-Key of 1 to 200 characters'
      using errcode = '22023';
  end if;
  if not coalesce(private.is_admin(), false) then
    raise exception 'only an admin refunds a payment' using errcode = 'PY003';
  end if;
  -- The payment row first (the lock every refund of it takes), then the key.
  perform 1 from public.payments p where p.id = request_refund.payment_id for update;
  select r.* into earlier from public.refunds r
   where r.payment_id = request_refund.payment_id and r.request_key = request_refund.request_key;
  if found then
    if request_refund.amount is not null and request_refund.amount <> earlier.amount then
      raise exception 'Idempotency-Key % already asked for % paise, not %', request_key,
        earlier.amount, request_refund.amount using errcode = '22023';
    end if;
    return query
    select earlier.id, p.razorpay_payment_id, earlier.amount, earlier.status,
           earlier.idempotency_key, null::uuid, true
      from public.payments p where p.id = earlier.payment_id;
    return;
  end if;
  select * into made
    from private.request_refund(request_refund.payment_id, request_refund.amount,
                                request_refund.reason);
  update public.refunds r set request_key = request_refund.request_key where r.id = made.refund_id;
  return query select made.refund_id, made.razorpay_payment_id, made.refund_amount,
                      made.refund_status, made.idempotency_key, made.call_id, false;
end;
$$;

comment on function private.request_refund(uuid, bigint, text, text) is
  'private.request_refund under the admin''s Idempotency-Key (request_key): the same key for the '
  'same payment answers the first refund (repeated true, call_id null; a refund still creating is '
  'created again under its X-Refund-Idempotency key, which Razorpay answers with the same refund); '
  'the same key with another amount is 22023. Other errors as request_refund(uuid, bigint, text).';

revoke execute on function private.request_refund(uuid, bigint, text, text) from public;
grant execute on function private.request_refund(uuid, bigint, text, text) to authenticated;
