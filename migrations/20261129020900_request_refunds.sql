-- Refunds, asked by admins and reflected in installments, case and history.
--   request_refund         reserves the amount from the payment (captured less every refund not
--                          failed) and journals the create call, whose X-Refund-Idempotency key
--                          is the refund's own, so a retried call cannot refund twice. Money
--                          already credited to installments of a closed case is not taken back.
--   apply_razorpay_refund  Razorpay's refund entity (the create call's answer, refund.processed /
--                          refund.failed, or the reconciliation): processed reverses the payment's
--                          unallocated surplus first, then its allocations newest first, reopening
--                          installments it had paid on an open case; failed releases the
--                          reservation. Idempotent; a refund made outside Py360 is recorded too.
-- Locks: the payment row, then the refund, then the case.

-- A refund reopens the installments it takes money from; only apply_razorpay_refund, which says
-- so for its transaction (py360.reopening), may move a paid installment back.
create or replace function private.tg_outstanding_amounts__guard_settled() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status in ('paid', 'waived')
     and (new.status, new.amount, new.paid_at, new.reason)
         is distinct from (old.status, old.amount, old.paid_at, old.reason) then
    if old.status = 'paid' and new.status in ('pending', 'overdue') and new.amount = old.amount
       and new.amount_paid < new.amount
       and coalesce(current_setting('py360.reopening', true), '') = 'on'
       and not private.is_api_caller() then
      return new;
    end if;
    raise exception 'installment % is already %', old.installment_number, old.status
      using errcode = 'PY004';
  end if;
  return new;
end;
$$;

comment on function private.tg_outstanding_amounts__guard_settled() is
  'Trigger: a paid or waived installment is settled: its status, amount, payment time and '
  'reason no longer change (PY004). Repeating the same settlement changes nothing and passes. '
  'Only a processed refund of the online payment that paid it reopens it (apply_razorpay_refund).';

create function private.request_refund(payment_id uuid, amount bigint default null, reason text default null)
returns table (
  refund_id uuid, razorpay_payment_id text, refund_amount bigint, refund_status text,
  idempotency_key text, call_id uuid
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  paid public.payments;
  stage public.case_stage;
  reserved bigint;
  pending_total bigint;
  net_allocated bigint;
  surplus bigint;
  wanted bigint;
  created public.refunds;
  new_id uuid := gen_random_uuid();
  journal uuid;
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  if not coalesce(private.is_admin(), false) then
    raise exception 'only an admin refunds a payment' using errcode = 'PY003';
  end if;
  if request_refund.payment_id is null or coalesce(length(btrim(request_refund.reason)), 0) = 0
     or length(request_refund.reason) > 500 or request_refund.amount <= 0 then
    raise exception 'a refund needs the payment, a reason (at most 500 characters) and, when '
                    'given, a positive amount in paise' using errcode = '22023';
  end if;
  select p.* into paid from public.payments p where p.id = request_refund.payment_id for update;
  if not found then
    raise exception 'no such payment' using errcode = 'P0002';
  end if;
  if paid.status not in ('captured', 'refunded') then
    raise exception 'payment % is %: only captured money is refunded', paid.razorpay_payment_id, paid.status
      using errcode = 'PY012';
  end if;
  stage := private.lock_case(paid.case_id);

  select coalesce(sum(r.amount), 0), coalesce(sum(r.amount) filter (where r.status in ('creating', 'pending')), 0)
    into reserved, pending_total
    from public.refunds r where r.payment_id = paid.id and r.status <> 'failed';
  wanted := coalesce(request_refund.amount, paid.amount - reserved);
  if wanted <= 0 or wanted > paid.amount - reserved then
    raise exception 'payment % has % paise left to refund; % asked', paid.razorpay_payment_id,
      paid.amount - reserved, wanted
      using errcode = 'PY012';
  end if;
  -- Refunds take the unallocated surplus first; beyond it they take back installments, which a
  -- closed case's no longer give.
  select coalesce(sum(a.amount), 0) into net_allocated
    from public.payment_allocations a where a.payment_id = paid.id;
  surplus := paid.amount - net_allocated - paid.amount_refunded;
  if wanted > greatest(surplus - pending_total, 0) and net_allocated > 0
     and private.case_stage_is_final(stage) then
    raise exception 'case of payment % is closed (%): only its % paise not credited to installments can be refunded',
      paid.razorpay_payment_id, stage, greatest(surplus - pending_total, 0)
      using errcode = 'PY006';
  end if;

  insert into public.refunds as r (id, payment_id, case_id, amount, reason, idempotency_key,
                                   requested_by, reconcile_after)
  values (new_id, paid.id, paid.case_id, wanted, btrim(request_refund.reason),
          'py_' || replace(new_id::text, '-', ''), auth.uid(), now() + reconcile)
  returning r.* into created;
  journal := private.start_razorpay_call('create_refund', created.id, jsonb_build_object(
    'payment_id', paid.razorpay_payment_id, 'amount', created.amount,
    'idempotency_key', created.idempotency_key,
    'notes', jsonb_build_object('refund_id', created.id, 'reason', left(created.reason, 250))));

  return query select created.id, paid.razorpay_payment_id, created.amount, created.status,
                      created.idempotency_key, journal;
end;
$$;

comment on function private.request_refund(uuid, bigint, text) is
  'An admin refunds a captured payment, fully (amount null: all still refundable) or in part, '
  'with a reason. Reserves the amount (refundable = captured - refunds not failed) and journals '
  'the create call: POST /v1/payments/{razorpay_payment_id}/refund with body {amount, notes} '
  '(the journal''s request) and X-Refund-Idempotency = idempotency_key. Errors: PY003 not an '
  'admin; P0002 no such payment; PY012 not captured or beyond what is refundable; PY006 it would '
  'take back money credited to installments of a closed case (its unallocated surplus can still '
  'be refunded); 22023 no reason or a non-positive amount. Security definer: checks the role.';

create function private.apply_razorpay_refund(refund jsonb)
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
  net_allocated bigint;
  surplus bigint;
  rest bigint;
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
    on conflict (razorpay_refund_id) do nothing;
    select r.id into ours_id from public.refunds r where r.razorpay_refund_id = theirs;
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

  if reported = 'pending' and (ours.status = 'creating'
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
    result := 'applied';
  elsif ours.status in ('creating', 'pending') and reported = 'processed' then
    update public.refunds r
       set razorpay_refund_id = theirs, status = 'processed', processed_at = now(),
           reconcile_after = null, failure_reason = null
     where r.id = ours.id
    returning r.* into ours;

    -- The surplus first, then what went to installments, newest allocation first.
    select coalesce(sum(a.amount), 0) into net_allocated
      from public.payment_allocations a where a.payment_id = paid.id;
    surplus := greatest(paid.amount - net_allocated - paid.amount_refunded, 0);
    rest := ours.amount - least(ours.amount, surplus);
    if rest > 0 then
      perform set_config('py360.reopening', 'on', true);
      with net as (
        select a.outstanding_amount_id, sum(a.amount) as net,
               max(a.created_at) filter (where a.amount > 0) as last_at
          from public.payment_allocations a
         where a.payment_id = paid.id
         group by a.outstanding_amount_id
        having sum(a.amount) > 0
      ),
      running as (
        select n.*, coalesce(sum(n.net) over (order by n.last_at desc, n.outstanding_amount_id
                                              rows between unbounded preceding and 1 preceding), 0) as before
          from net n
      ),
      taken as (
        insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount, refund_id)
        select paid.id, paid.case_id, r.outstanding_amount_id, -least(r.net, rest - r.before), ours.id
          from running r
         where r.before < rest
        returning outstanding_amount_id, amount
      )
      update public.outstanding_amounts o
         set amount_paid = o.amount_paid + t.amount,
             status = case
               when o.status = 'paid' and not private.case_stage_is_final(stage)
                    and o.reason like 'Razorpay pay\_%'
                 then (case when o.due_date < private.business_date(now()) then 'overdue'
                            else 'pending' end)::public.installment_status
               else o.status end,
             paid_at = case
               when o.status = 'paid' and not private.case_stage_is_final(stage)
                    and o.reason like 'Razorpay pay\_%' then null
               else o.paid_at end,
             reason = case
               when o.status = 'paid' and not private.case_stage_is_final(stage)
                    and o.reason like 'Razorpay pay\_%' then null
               else o.reason end
        from taken t
       where o.id = t.outstanding_amount_id;
      perform set_config('py360.reopening', '', true);
    end if;

    update public.payments p
       set amount_refunded = p.amount_refunded + ours.amount,
           status = case when p.amount_refunded + ours.amount = p.amount then 'refunded' else p.status end,
           review_reason = case
             when rest > 0 and private.case_stage_is_final(stage) then 'refunded_after_close'
             when p.review_reason = 'overpaid' and ours.amount >= surplus then null
             else p.review_reason end
     where p.id = paid.id;
    result := 'applied';
  end if;

  return query select ours.id, result, ours.status, paid.id, paid.case_id;
end;
$$;

comment on function private.apply_razorpay_refund(jsonb) is
  'Applies Razorpay''s refund entity: the answer of the create call (its journalled call marked '
  'succeeded), refund.processed / refund.failed, or the reconciliation. Matched by refund id, '
  'else notes.refund_id; a refund of our payment made outside Py360 is recorded. pending: '
  'Razorpay has it; failed: the reservation is released; processed: amount_refunded grows, the '
  'payment''s unallocated surplus is reversed first, then its allocations newest first '
  '(negative allocations naming the refund), installments it had paid online reopen on an open '
  'case (on a closed one the payment is flagged refunded_after_close). Forward only and '
  'idempotent. Outcomes: applied, unchanged, unmatched (not our payment: nothing written). 22023 '
  'on a malformed or mismatched entity.';

revoke execute on function private.request_refund(uuid, bigint, text),
  private.apply_razorpay_refund(jsonb) from public;
grant execute on function private.request_refund(uuid, bigint, text) to authenticated;
grant execute on function private.apply_razorpay_refund(jsonb) to service_role;
