-- A refund still pending counted as money received (issue 8 review, finding 1): it only
-- reserved its amount, so case_outstanding, a new order and the renewal rule ignored it, and a
-- refund processed after the customer paid the rest landed on a case already renewed (the
-- installment stayed paid, the premium missing). Now the refund is taken from the payment when
-- it is asked (request_refund), by the rule apply_razorpay_refund applied at processing: the
-- payment's unallocated surplus first, then its allocations latest due first (negative rows
-- naming the refund), installments it had paid online reopening on an open case.
-- refund.processed then only records it; a refund that fails gives the money back to the same
-- installments (positive rows naming the refund, so every movement stays in the ledger), which
-- may settle them and renew the case by the existing trigger; what they no longer lack (another
-- payment settled them meanwhile) goes to the case's other open installments, oldest due first;
-- what fits nowhere (all paid, or the case closed) stays with the payment as a surplus flagged
-- overpaid. A closed case's refunds stay as they were: its surplus only (PY006 beyond). Refunds
-- made in Razorpay's dashboard are taken when first reported. Refunds already creating or
-- pending when this migration runs are taken now, oldest first.
-- Finding 8b: a refund Razorpay refuses for good when the reconciliation repeats its create
-- stayed `creating`, reserved, for ever: private.fail_refund_create fails it through
-- record_razorpay_call_failed, which now gives back what a failed refund had taken.
-- Locks, on every path: the payment row, then the refund, then the case.

-- The ledger: a positive row naming a refund gives back what that refund took when it failed.
alter table public.payment_allocations drop constraint payment_allocations_check;
alter table public.payment_allocations
  add constraint payment_allocations_refund_rows check (amount > 0 or refund_id is not null);

comment on table public.payment_allocations is
  'Where a payment''s money went: paise credited to an installment (positive, no refund), taken '
  'back from it by a refund when the refund was asked (negative, naming the refund), or given '
  'back to it when that refund failed (positive, naming the refund). Insert-only; the sum per '
  'installment is its amount_paid from online payments. Visible with its case.';
comment on column public.payment_allocations.amount is
  'Paise (₹1 = 100 paise) credited to the installment; negative when a refund took it back, '
  'positive with refund_id when that refund failed and gave it back.';
comment on column public.payment_allocations.refund_id is
  'The refund that took the money back (negative row) or, having failed, gave it back (positive '
  'row) (refunds.id); null for a payment''s own credit.';

comment on table public.refunds is
  'Refunds of Razorpay payments, asked by admins (or found at Razorpay when made elsewhere). An '
  'unfailed refund is money no longer received: when it is asked (or first reported, when made '
  'elsewhere) it takes the payment''s unallocated surplus first, then its allocations latest due '
  'first, reopening installments on an open case; a failed one gives that back. Visible with its '
  'case.';
comment on column public.refunds.status is
  'creating: stored, Razorpay not yet answered; pending: Razorpay accepted it; processed: the '
  'money went back to the customer; failed: Razorpay refused or failed it (what it took from '
  'the payment and its installments is given back). From creating on, the case owes again what '
  'the refund took from its installments.';

-- Takes a refund from its payment, once, when the refund comes to be.
create function private.hold_refund(refund_id uuid) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.refunds;
  paid public.payments;
  stage public.case_stage;
  net_allocated bigint;
  held bigint;
  free bigint;
  rest bigint;
  taken bigint := 0;
begin
  select p.* into paid from public.payments p
   where p.id = (select r.payment_id from public.refunds r where r.id = hold_refund.refund_id)
     for update;
  select r.* into ours from public.refunds r where r.id = hold_refund.refund_id for update;
  if not found or ours.status = 'failed' then
    return 0;
  end if;
  stage := private.lock_case(paid.case_id);

  -- Every other unfailed refund of the payment is held already: what is neither allocated nor
  -- held by them is the free surplus, taken first.
  select coalesce(sum(a.amount), 0) into net_allocated
    from public.payment_allocations a where a.payment_id = paid.id;
  select coalesce(sum(r.amount), 0) into held
    from public.refunds r where r.payment_id = paid.id and r.status <> 'failed' and r.id <> ours.id;
  free := greatest(paid.amount - net_allocated - held, 0);
  rest := ours.amount - least(ours.amount, free);

  if rest > 0 then
    perform set_config('py360.reopening', 'on', true);
    -- Latest first: a payment credits its installments in one go, oldest due first, so among
    -- allocations made together the last credited is the latest due.
    with net as (
      select a.outstanding_amount_id, sum(a.amount) as net,
             max(a.created_at) filter (where a.amount > 0 and a.refund_id is null) as last_at,
             max(o.due_date) as due_date, max(o.installment_number) as installment_number
        from public.payment_allocations a
        join public.outstanding_amounts o on o.id = a.outstanding_amount_id
       where a.payment_id = paid.id
       group by a.outstanding_amount_id
      having sum(a.amount) > 0
    ),
    running as (
      select n.*, coalesce(sum(n.net) over (order by n.last_at desc, n.due_date desc,
                                                     n.installment_number desc
                                            rows between unbounded preceding and 1 preceding), 0) as before
        from net n
    ),
    took as (
      insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount, refund_id)
      select paid.id, paid.case_id, r.outstanding_amount_id, -least(r.net, rest - r.before), ours.id
        from running r
       where r.before < rest
      returning outstanding_amount_id, amount
    ),
    reopened as (
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
        from took t
       where o.id = t.outstanding_amount_id
      returning o.id
    )
    select coalesce(-sum(t.amount), 0) into taken from took t;
    perform set_config('py360.reopening', '', true);
  end if;

  update public.payments p
     set review_reason = case
           when taken > 0 and private.case_stage_is_final(stage) then 'refunded_after_close'
           when p.review_reason = 'overpaid' and ours.amount >= free then null
           else p.review_reason end
   where p.id = paid.id;
  return taken;
end;
$$;

comment on function private.hold_refund(uuid) is
  'Takes a refund that just came to be (asked by an admin, or first reported by Razorpay when '
  'made elsewhere) from its payment: the free surplus (neither allocated nor held by its other '
  'unfailed refunds) first, then its allocations latest due first, as negative allocations naming '
  'the refund; installments it had paid online reopen (pending, or overdue past their due date) '
  'on an open case; on a closed case only amount_paid goes down and the payment is flagged '
  'refunded_after_close. Clears overpaid when the refund takes the whole surplus. Returns the '
  'paise taken from installments. Call once per refund. Locks the payment, the refund, the case. '
  'Security definer: called inside request_refund and apply_razorpay_refund only.';

-- Gives back what a failed refund took, once, when it fails.
create function private.release_refund(refund_id uuid) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.refunds;
  paid public.payments;
  stage public.case_stage;
  given bigint := 0;
  rest bigint;
  free bigint;
begin
  select p.* into paid from public.payments p
   where p.id = (select r.payment_id from public.refunds r where r.id = release_refund.refund_id)
     for update;
  select r.* into ours from public.refunds r where r.id = release_refund.refund_id for update;
  if not found or ours.status <> 'failed' then
    return 0;
  end if;
  stage := private.lock_case(paid.case_id);

  -- Each installment gets back what the refund took from it, as far as it still lacks it: a
  -- reopened one on an open case (it may be settled again, and the case renew), or one still
  -- paid (settled on the desk: only amount_paid is restored). Nothing goes to a closed case's
  -- open installments: the payment keeps it as a surplus.
  with took as (
    select a.outstanding_amount_id, -sum(a.amount) as owed_back
      from public.payment_allocations a
     where a.refund_id = ours.id
     group by a.outstanding_amount_id
    having sum(a.amount) < 0
  ),
  fits as (
    select t.outstanding_amount_id, least(t.owed_back, o.amount - o.amount_paid) as back
      from took t
      join public.outstanding_amounts o on o.id = t.outstanding_amount_id
     where o.amount_paid < o.amount
       and (o.status = 'paid'
            or (o.status in ('pending', 'overdue') and not private.case_stage_is_final(stage)))
  ),
  gave as (
    insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount, refund_id)
    select paid.id, paid.case_id, f.outstanding_amount_id, f.back, ours.id
      from fits f
     where f.back > 0
    returning outstanding_amount_id, amount
  ),
  settled as (
    update public.outstanding_amounts o
       set amount_paid = o.amount_paid + g.amount,
           status = case when o.status in ('pending', 'overdue') and o.amount_paid + g.amount = o.amount
                         then 'paid' else o.status end,
           paid_at = case when o.status in ('pending', 'overdue') and o.amount_paid + g.amount = o.amount
                          then least(now(), coalesce(paid.captured_at, now())) else o.paid_at end,
           reason = case when o.status in ('pending', 'overdue') and o.amount_paid + g.amount = o.amount
                         then coalesce(o.reason, 'Razorpay ' || paid.razorpay_payment_id) else o.reason end
      from gave g
     where o.id = g.outstanding_amount_id
    returning o.id
  )
  select coalesce(sum(g.amount), 0) into given from gave g;

  -- What those installments no longer lack (another payment settled them meanwhile) goes, on an
  -- open case, to its other open installments, oldest due first, as a payment's credit would:
  -- money the customer paid is not left aside while the case still owes.
  select coalesce(-sum(a.amount), 0) - given into rest
    from public.payment_allocations a where a.refund_id = ours.id and a.amount < 0;
  if rest > 0 and not private.case_stage_is_final(stage) then
    with open_installments as (
      select o.id, o.amount - o.amount_paid as owed,
             row_number() over (order by o.due_date, o.installment_number) as n
        from public.outstanding_amounts o
       where o.case_id = paid.case_id and o.status in ('pending', 'overdue') and o.amount_paid < o.amount
    ),
    running as (
      select i.id, i.owed, coalesce(sum(i.owed) over (order by i.n rows between unbounded preceding
                                                      and 1 preceding), 0) as before
        from open_installments i
    ),
    gave as (
      insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount, refund_id)
      select paid.id, paid.case_id, r.id, least(r.owed, rest - r.before), ours.id
        from running r
       where r.before < rest
      returning outstanding_amount_id, amount
    ),
    settled as (
      update public.outstanding_amounts o
         set amount_paid = o.amount_paid + g.amount,
             status = case when o.amount_paid + g.amount = o.amount then 'paid' else o.status end,
             paid_at = case when o.amount_paid + g.amount = o.amount
                            then least(now(), coalesce(paid.captured_at, now())) else o.paid_at end,
             reason = case when o.amount_paid + g.amount = o.amount
                           then coalesce(o.reason, 'Razorpay ' || paid.razorpay_payment_id) else o.reason end
        from gave g
       where o.id = g.outstanding_amount_id
      returning o.id
    )
    select given + coalesce(sum(g.amount), 0) into given from gave g;
  end if;

  -- What could not be given back stays with the payment, unallocated: a surplus to refund.
  select paid.amount - coalesce((select sum(a.amount) from public.payment_allocations a
                                   where a.payment_id = paid.id), 0)
         - coalesce((select sum(r.amount) from public.refunds r
                      where r.payment_id = paid.id and r.status <> 'failed'), 0)
    into free;
  if free > 0 then
    update public.payments p set review_reason = 'overpaid'
     where p.id = paid.id and p.review_reason is null;
  end if;
  return given;
end;
$$;

comment on function private.release_refund(uuid) is
  'Gives back what a refund that has just failed took from its payment: each installment it took '
  'from is credited again (positive allocations naming the refund) up to what it still lacks, '
  'if it is open on an open case (reaching its amount it is paid again, and the case renews by '
  'the trigger) or still paid; what they no longer lack goes, on an open case, to its other '
  'open installments oldest due first; the rest stays with the payment as unallocated surplus, '
  'flagged overpaid when it had no flag. Returns the paise given back to installments. Call once '
  'per failed refund. '
  'Locks the payment, the refund, the case. Security definer: called inside '
  'apply_razorpay_refund and record_razorpay_call_failed only.';

create or replace function private.request_refund(payment_id uuid, amount bigint default null, reason text default null)
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
  net_allocated bigint;
  free bigint;
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
  -- The payment row, then the case (the refund is new).
  select p.* into paid from public.payments p where p.id = request_refund.payment_id for update;
  if not found then
    raise exception 'no such payment' using errcode = 'P0002';
  end if;
  if paid.status not in ('captured', 'refunded') then
    raise exception 'payment % is %: only captured money is refunded', paid.razorpay_payment_id, paid.status
      using errcode = 'PY012';
  end if;
  stage := private.lock_case(paid.case_id);

  select coalesce(sum(r.amount), 0) into reserved
    from public.refunds r where r.payment_id = paid.id and r.status <> 'failed';
  wanted := coalesce(request_refund.amount, paid.amount - reserved);
  if wanted <= 0 or wanted > paid.amount - reserved then
    raise exception 'payment % has % paise left to refund; % asked', paid.razorpay_payment_id,
      paid.amount - reserved, wanted
      using errcode = 'PY012';
  end if;
  -- Refunds take the free surplus first; beyond it they take back installments, which a closed
  -- case's no longer give.
  select coalesce(sum(a.amount), 0) into net_allocated
    from public.payment_allocations a where a.payment_id = paid.id;
  free := greatest(paid.amount - net_allocated - reserved, 0);
  if wanted > free and net_allocated > 0 and private.case_stage_is_final(stage) then
    raise exception 'case of payment % is closed (%): only its % paise not credited to installments can be refunded',
      paid.razorpay_payment_id, stage, free
      using errcode = 'PY006';
  end if;

  insert into public.refunds as r (id, payment_id, case_id, amount, reason, idempotency_key,
                                   requested_by, reconcile_after)
  values (new_id, paid.id, paid.case_id, wanted, btrim(request_refund.reason),
          'py_' || replace(new_id::text, '-', ''), auth.uid(), now() + reconcile)
  returning r.* into created;
  -- No longer money received: the case owes at once what the refund takes from its installments.
  perform private.hold_refund(created.id);
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
  'with a reason. refundable = captured - refunds not failed. The refund is taken from the '
  'payment at once (hold_refund): its free surplus first, then the installments it paid, latest '
  'due first, which reopen, so the case owes that again while the refund is pending; a failed '
  'refund gives it back. Journals the create call: POST /v1/payments/{razorpay_payment_id}/refund '
  'with body {amount, notes} (the journal''s request) and X-Refund-Idempotency = '
  'idempotency_key. Errors: PY003 not an admin; P0002 no such payment; PY012 not captured or '
  'beyond what is refundable; PY006 it would take back money credited to installments of a '
  'closed case (its free surplus can still be refunded); 22023 no reason or a non-positive '
  'amount. Locks the payment, then the case. Security definer: checks the role.';

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
  'which may renew the case; the rest a surplus). Forward only and idempotent. Outcomes: '
  'applied, unchanged, unmatched (not our payment: nothing written). 22023 on a malformed or '
  'mismatched entity. Locks the payment, the refund, the case.';

create or replace function private.record_razorpay_call_failed(call_id uuid, http_status integer, error jsonb, final boolean)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  journalled private.razorpay_calls;
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  words text;
  code text;
  failed_now integer;
begin
  if call_id is null or final is null then
    raise exception 'record_razorpay_call_failed needs the call and whether the failure is final'
      using errcode = '22023';
  end if;
  select * into journalled from private.razorpay_calls rc where rc.id = call_id;
  if not found then
    raise exception 'no Razorpay call %', call_id using errcode = 'P0002';
  end if;
  -- Razorpay's error envelope {error: {code, description}}, or the error object itself.
  code := coalesce(error #>> '{error,code}', error ->> 'code');
  words := left(coalesce(error #>> '{error,description}', error ->> 'description',
                         error ->> 'message', format('HTTP %s', http_status)), 500);

  -- The subject first (the lock order of the payment flow), then the journal.
  if journalled.operation = 'create_order' then
    update public.payment_orders po
       set status = case when final then 'failed' else po.status end,
           last_error = words,
           reconcile_after = case when final then null else now() + reconcile end
     where po.id = journalled.subject_id and po.status = 'creating';
  elsif journalled.operation = 'create_payment_link' then
    update public.payment_links pl
       set status = case when final then 'failed' else pl.status end,
           last_error = words,
           reconcile_after = case when final then null else now() + reconcile end
     where pl.id = journalled.subject_id and pl.status = 'creating';
  elsif journalled.operation = 'create_refund' then
    -- The payment row before the refund, as every refund path locks them.
    perform 1 from public.payments p
     where p.id = (select r.payment_id from public.refunds r where r.id = journalled.subject_id)
       for update;
    update public.refunds r
       set status = case when final then 'failed' else r.status end,
           failure_reason = words,
           reconcile_after = case when final then null else now() + reconcile end
     where r.id = journalled.subject_id and r.status = 'creating';
    get diagnostics failed_now = row_count;
    if final and failed_now > 0 then
      -- Refused for good: what the refund took from the payment and its installments comes back.
      perform private.release_refund(journalled.subject_id);
    end if;
  elsif journalled.operation = 'create_plan' then
    -- No plan, no subscription: the mandates waiting for this plan fail with it.
    update public.autopay_plans ap set last_error = words
     where ap.id = journalled.subject_id and ap.status = 'creating';
    if final then
      update public.autopay_mandates m
         set status = 'failed', last_error = words, reconcile_after = null
       where m.autopay_plan_id = journalled.subject_id and m.status = 'creating'
         and m.razorpay_plan_id is null;
    end if;
  elsif journalled.operation = 'create_subscription' then
    update public.autopay_mandates m
       set status = case when final then 'failed' else m.status end,
           last_error = words,
           reconcile_after = case when final then null else now() + reconcile end
     where m.id = journalled.subject_id and m.status = 'creating';
  elsif journalled.operation in ('pause_subscription', 'cancel_subscription', 'resume_subscription') then
    update public.autopay_mandates m set last_error = words where m.id = journalled.subject_id;
  end if;

  update private.razorpay_calls rc
     set state = 'failed', http_status = record_razorpay_call_failed.http_status, error_code = code,
         finished_at = clock_timestamp(),
         duration_ms = (extract(epoch from clock_timestamp() - rc.created_at) * 1000)::integer
   where rc.id = call_id and rc.state = 'pending';
end;
$$;

comment on function private.record_razorpay_call_failed(uuid, integer, jsonb, boolean) is
  'Records that a journalled call failed (http_status 0 for a network error or timeout, null '
  'when unknown; error Razorpay''s envelope or {code, description}). final: Razorpay refused it '
  'for good, so a creating order, link, refund or autopay mandate becomes failed (a failed '
  'refund gives back what it took: release_refund; a failed create_plan fails the mandates '
  'waiting for that plan); not final: it stays creating and the reconciliation looks it up '
  'after RAZORPAY_RECONCILE_AFTER. A failed pause, cancel or resume of a subscription is noted '
  'on the mandate (last_error). P0002 for an unknown call. Idempotent: a finished call keeps its '
  'first outcome.';

create function private.fail_refund_create(refund_id uuid, error jsonb)
returns public.refunds
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.refunds;
  journal uuid;
  status_code integer;
begin
  if fail_refund_create.refund_id is null or (error is not null and jsonb_typeof(error) <> 'object') then
    raise exception 'fail_refund_create needs the refund and Razorpay''s error as a JSON object'
      using errcode = '22023';
  end if;
  -- The payment row, then the refund.
  perform 1 from public.payments p
   where p.id = (select r.payment_id from public.refunds r where r.id = fail_refund_create.refund_id)
     for update;
  select r.* into ours from public.refunds r where r.id = fail_refund_create.refund_id for update;
  if not found then
    raise exception 'no refund %', fail_refund_create.refund_id using errcode = 'P0002';
  end if;
  if ours.status <> 'creating' then
    -- Razorpay's answer (or its webhook) came meanwhile: that is what the refund is.
    return ours;
  end if;

  -- The create call still pending in the journal; when the first try was already finished (a
  -- retryable failure), the repeat that Razorpay refused is journalled now, with the same body.
  select rc.id into journal from private.razorpay_calls rc
   where rc.subject_id = ours.id and rc.operation = 'create_refund' and rc.state = 'pending'
   order by rc.created_at desc
   limit 1;
  if journal is null then
    journal := private.start_razorpay_call('create_refund', ours.id, coalesce(
      (select rc.request from private.razorpay_calls rc
        where rc.subject_id = ours.id and rc.operation = 'create_refund'
        order by rc.created_at desc limit 1),
      jsonb_build_object('amount', ours.amount, 'idempotency_key', ours.idempotency_key,
                         'notes', jsonb_build_object('refund_id', ours.id))));
  end if;
  if coalesce(error ->> 'http_status', '') ~ '^[1-5][0-9]{2}$' then
    status_code := (error ->> 'http_status')::integer;
  end if;
  perform private.record_razorpay_call_failed(journal, status_code, coalesce(error, '{}'::jsonb), true);

  select r.* into ours from public.refunds r where r.id = fail_refund_create.refund_id;
  return ours;
end;
$$;

comment on function private.fail_refund_create(uuid, jsonb) is
  'The reconciliation''s repeated create of a refund (refund_creating) was refused by Razorpay '
  'for good (a 4xx that is not 409 or 429): the refund''s create call is finished as failed, '
  'final, through record_razorpay_call_failed (its pending journal row, or a new row for the '
  'repeat when the first try was already finished), so the refund becomes failed and what it '
  'held, reservation and installments, is given back. error: Razorpay''s {code, description} or '
  'envelope, optionally http_status. A refund no longer creating (answered meanwhile) is left as '
  'it is. Returns the refund. 22023 bad input, P0002 unknown refund. Locks the payment, then the '
  'refund. Security definer: the runner''s (service_role).';

comment on function private.tg_outstanding_amounts__guard_settled() is
  'Trigger: a paid or waived installment is settled: its status, amount, payment time and '
  'reason no longer change (PY004). Repeating the same settlement changes nothing and passes. '
  'Only a refund of the online payment that paid it reopens it, when the refund is asked or '
  'first reported (hold_refund, under py360.reopening).';

-- Refunds already asked and not yet settled were only reserved: they are taken now, oldest
-- first, as they would be were they asked today.
do $$
declare
  waiting record;
begin
  for waiting in
    select r.id from public.refunds r where r.status in ('creating', 'pending') order by r.created_at, r.id
  loop
    perform private.hold_refund(waiting.id);
  end loop;
end;
$$;

revoke execute on function private.hold_refund(uuid), private.release_refund(uuid),
  private.fail_refund_create(uuid, jsonb) from public;
grant execute on function private.fail_refund_create(uuid, jsonb) to service_role;
