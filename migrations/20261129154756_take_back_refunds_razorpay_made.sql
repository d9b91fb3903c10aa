-- A refund we failed on our own reading, which Razorpay says exists. The reconciliation repeats a
-- refund whose create answer was lost under the same X-Refund-Idempotency key; should Razorpay
-- refuse the repeat for good (a key it no longer keeps, then "more than captured" because the
-- first call did make the refund), fail_refund_create fails ours and gives its money back to the
-- installments, and the refund.processed that follows was answered `unchanged`: money returned
-- to the customer that the ledger showed as still paid. apply_razorpay_refund now takes such a
-- refund again (hold_refund) and records it as Razorpay says when Razorpay reports it processed,
-- or pending while it had never named it (a pending report after Razorpay itself failed it is a
-- stale answer and changes nothing).

create or replace function private.apply_razorpay_refund(refund jsonb)
returns table (refund_id uuid, outcome text, refund_status text, payment_id uuid, case_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  theirs text := refund ->> 'id';
  reported text := case refund ->> 'status' when 'created' then 'pending' else refund ->> 'status' end;
  reported_amount bigint;
  ours_id uuid;
  ours public.refunds;
  paid public.payments;
  stage public.case_stage;
  made_here boolean := false;
  result text := 'unchanged';
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  if refund is null or jsonb_typeof(refund) <> 'object' or coalesce(theirs, '') !~ '^rfnd_[A-Za-z0-9_]+$'
     or coalesce(refund ->> 'payment_id', '') !~ '^pay_[A-Za-z0-9_]+$'
     or coalesce(reported, '') not in ('pending', 'processed', 'failed')
     or coalesce(refund ->> 'amount', '') !~ '^[0-9]{1,15}$' or (refund ->> 'amount')::bigint <= 0 then
    raise exception 'apply_razorpay_refund needs a Razorpay refund entity (id rfnd_..., payment_id, '
                    'amount, status pending, processed or failed)' using errcode = '22023';
  end if;
  reported_amount := (refund ->> 'amount')::bigint;

  select p.* into paid from public.payments p where p.razorpay_payment_id = refund ->> 'payment_id' for update;
  if not found then
    return query select null::uuid, 'unmatched'::text, null::text, null::uuid, null::uuid;
    return;
  end if;
  select r.id into ours_id from public.refunds r where r.razorpay_refund_id = theirs;
  if ours_id is null and coalesce(refund #>> '{notes,refund_id}', '') ~* '^[0-9a-f-]{36}$' then
    select r.id into ours_id from public.refunds r
     where r.id = (refund #>> '{notes,refund_id}')::uuid and r.payment_id = paid.id;
  end if;
  if ours_id is null then
    -- Made outside Py360 (the dashboard): recorded, so history and installments reflect it.
    insert into public.refunds as r (payment_id, case_id, razorpay_refund_id, amount, reason,
                                     idempotency_key)
    values (paid.id, paid.case_id, theirs, reported_amount, 'Refunded outside Py360 (Razorpay dashboard or API)',
            left('ext_' || regexp_replace(theirs, '[^A-Za-z0-9_-]', '', 'g'), 64))
    on conflict (razorpay_refund_id) do nothing
    returning r.id into ours_id;
    made_here := ours_id is not null;
    if not made_here then
      select r.id into ours_id from public.refunds r where r.razorpay_refund_id = theirs;
    end if;
  end if;
  select r.* into ours from public.refunds r where r.id = ours_id for update;
  if ours.payment_id <> paid.id or ours.amount <> reported_amount
     or (ours.razorpay_refund_id is not null and ours.razorpay_refund_id <> theirs) then
    raise exception 'Razorpay''s refund % (% paise of %) does not match ours', theirs, reported_amount,
      refund ->> 'payment_id' using errcode = '22023';
  end if;
  stage := private.lock_case(paid.case_id);

  update private.razorpay_calls rc
     set state = 'succeeded', http_status = 200, finished_at = clock_timestamp(),
         duration_ms = (extract(epoch from clock_timestamp() - rc.created_at) * 1000)::integer
   where rc.subject_id = ours.id and rc.operation = 'create_refund' and rc.state = 'pending';

  -- A refund made elsewhere is taken from the payment when first reported, as ours are when
  -- asked (one that is already failed took nothing).
  if made_here and reported <> 'failed' then
    perform private.hold_refund(ours.id);
  end if;

  if ours.status = 'failed' and (reported = 'processed' or (reported = 'pending' and ours.razorpay_refund_id is null)) then
    -- We had failed it on our own reading (a create refused for good, e.g. a repeat whose
    -- idempotency key Razorpay no longer knew, while the first call had made it); Razorpay says
    -- it exists: its word wins. A pending report after Razorpay itself failed it is stale.
    update public.refunds r
       set razorpay_refund_id = theirs, status = reported, failure_reason = null,
           processed_at = case when reported = 'processed' then now() end,
           reconcile_after = case when reported = 'pending' then now() + reconcile end
     where r.id = ours.id
    returning r.* into ours;
    perform private.hold_refund(ours.id);
    if reported = 'processed' then
      update public.payments p
         set amount_refunded = p.amount_refunded + ours.amount,
             status = case when p.amount_refunded + ours.amount = p.amount then 'refunded' else p.status end
       where p.id = paid.id;
    end if;
    result := 'applied';
  elsif reported = 'pending' and (ours.status = 'creating'
                               or (ours.status = 'pending' and ours.razorpay_refund_id is null)) then
    update public.refunds r
       set razorpay_refund_id = theirs, status = 'pending', failure_reason = null,
           reconcile_after = now() + reconcile
     where r.id = ours.id
    returning r.* into ours;
    result := 'applied';
  elsif ours.status in ('creating', 'pending') and reported = 'failed' then
    update public.refunds r
       set razorpay_refund_id = theirs, status = 'failed', reconcile_after = null,
           failure_reason = left(coalesce(refund ->> 'failure_reason', refund #>> '{error,description}',
                                          'Razorpay reported the refund failed'), 500)
     where r.id = ours.id
    returning r.* into ours;
    if not made_here then
      perform private.release_refund(ours.id);
    end if;
    result := 'applied';
  elsif ours.status in ('creating', 'pending') and reported = 'processed' then
    -- Taken when it was asked (or above): the money has now left.
    update public.refunds r
       set razorpay_refund_id = theirs, status = 'processed', processed_at = now(),
           reconcile_after = null, failure_reason = null
     where r.id = ours.id
    returning r.* into ours;
    update public.payments p
       set amount_refunded = p.amount_refunded + ours.amount,
           status = case when p.amount_refunded + ours.amount = p.amount then 'refunded' else p.status end
     where p.id = paid.id;
    result := 'applied';
  end if;

  return query select ours.id, result, ours.status, paid.id, paid.case_id;
end;
$$;

comment on function private.apply_razorpay_refund(jsonb) is
  'Applies Razorpay''s refund entity: the answer of the create call (its journalled call marked '
  'succeeded), refund.processed / refund.failed, or the reconciliation. Matched by refund id, '
  'else notes.refund_id; a refund of our payment made outside Py360 is recorded and taken from '
  'the payment as request_refund takes ours (hold_refund). pending: Razorpay has it; processed: '
  'amount_refunded grows (the installments already reflect it: no second reversal); failed: '
  'what the refund took is given back (release_refund: the same installments credited again, '
  'which may renew the case; the rest a surplus). Forward only and idempotent, except that a '
  'refund we failed ourselves (fail_refund_create, a create refused for good) which Razorpay '
  'reports processed, or pending before it ever named it, is taken again and recorded as '
  'Razorpay says. Outcomes: '
  'applied, unchanged, unmatched (not our payment: nothing written). 22023 on a malformed or '
  'mismatched entity. Locks the payment, the refund, the case.';

