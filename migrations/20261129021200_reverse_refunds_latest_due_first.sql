-- A processed refund takes back a payment's allocations newest first, but the allocations one
-- payment makes all carry the same time, and the tie was broken by installment id: a refund of
-- part of a payment that had paid installment 1 and part of installment 2 could take back
-- installment 1 and leave 2 as it was. Ties now go latest due first (the reverse of the order
-- the payment credited them in), so the partly paid installment gives its part back first.

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
      -- Newest first: a payment credits its installments in one go, oldest due first, so among
      -- allocations made together the last credited is the latest due.
      with net as (
        select a.outstanding_amount_id, sum(a.amount) as net,
               max(a.created_at) filter (where a.amount > 0) as last_at,
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
