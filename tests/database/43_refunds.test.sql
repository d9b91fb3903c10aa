-- Refunds: asked by admins only, never beyond what is refundable; an asked refund takes back
-- the surplus first, then the installments latest due first, reopening them on an open case
-- (given back if it fails); a closed case keeps what it was credited. Every refusal creates
-- nothing.
begin;
select plan(32);
select tests.create_test_book();
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 600000);
insert into tests.fixtures (name, id)
select 'installment_a2', id from public.outstanding_amounts where case_id = tests.fixture('case_a') and installment_number = 2;

-- Orders of both cases at Razorpay; case A is paid 15,000.00 of 18,000.00, case B overpaid.
create temporary table opened (payment_order_id uuid, label text);
grant all on opened to authenticated;
select tests.authenticate_as('agent_a');
insert into opened select o.payment_order_id, 'a' from private.open_payment_order(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select o.payment_order_id, 'b' from private.open_payment_order(tests.fixture('case_b')) o;
reset role;
select count(*) from (
  select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T43' || upper(o.label),
           'receipt', po.receipt, 'amount', po.amount))
    from public.payment_orders po join opened o on o.payment_order_id = po.id) x;
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T43A", "order_id": "order_T43A", "amount": 1500000, "currency": "INR", "status": "captured"}', 'webhook');
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T43B", "order_id": "order_T43B", "amount": 1500000, "currency": "INR", "status": "captured"}', 'webhook');
reset role;
insert into tests.fixtures (name, id)
select lower(replace(razorpay_payment_id, 'pay_T43', 'pay_')), id from public.payments where razorpay_payment_id like 'pay_T43%';
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1200000::bigint, 'paid'), (2::smallint, 300000::bigint, 'pending')$$,
  'to begin with case A''s first installment is paid and its second partly');

create temporary table asked (refund_id uuid, razorpay_payment_id text, refund_amount bigint, refund_status text,
                              idempotency_key text, call_id uuid);
grant all on asked to authenticated, service_role;

-- Refusals.
select tests.authenticate_as('agent_a');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_a'), 100, 'Customer asked')$$,
  'PY003', 'only an admin refunds a payment', 'an agent cannot refund');
select tests.authenticate_as('zone_manager');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_a'), 100, 'Customer asked')$$,
  'PY003', null, 'nor a manager');
select tests.authenticate_as('admin');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_a'), 100, '  ')$$,
  '22023', null, 'a refund needs a reason');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_a'), 0, 'Customer asked')$$,
  '22023', null, 'and a positive amount');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_a'), 1500001, 'Customer asked')$$,
  'PY012', 'payment pay_T43A has 1500000 paise left to refund; 1500001 asked', 'no refund beyond the payment');
select throws_ok($$select * from private.request_refund(tests.fixture('payment_a'), null, 'Customer asked')$$,
  'PY012', null, 'a payment never captured is not refunded');
select throws_ok($$select * from private.request_refund(gen_random_uuid(), null, 'Customer asked')$$,
  'P0002', null, 'an unknown payment is not found');
reset role;
select results_eq(
  $$select (select count(*) from public.refunds), (select count(*) from private.razorpay_calls where operation = 'create_refund')$$,
  $$values (0::bigint, 0::bigint)$$, 'the refusals created no refund and journalled no call');

-- A partial refund of case A's payment.
select tests.authenticate_as('admin');
insert into asked select * from private.request_refund(tests.fixture('pay_a'), 500000, ' Customer cancelled the renewal ');
reset role;
select results_eq(
  $$select a.refund_amount, a.refund_status, a.razorpay_payment_id, a.idempotency_key ~ '^[A-Za-z0-9_-]{10,64}$',
           r.requested_by, r.reason
      from asked a join public.refunds r on r.id = a.refund_id$$,
  $$values (500000::bigint, 'creating', 'pay_T43A', true, tests.get_user_id('admin'), 'Customer cancelled the renewal')$$,
  'the refund is reserved, asked by the admin, with a key Razorpay accepts as X-Refund-Idempotency');
select results_eq(
  $$select c.operation, c.state, (c.request ->> 'amount')::bigint, c.request #>> '{notes,refund_id}' = a.refund_id::text,
           c.request ->> 'idempotency_key' = a.idempotency_key
      from private.razorpay_calls c join asked a on a.call_id = c.id$$,
  $$values ('create_refund', 'pending', 500000::bigint, true, true)$$, 'its create call is journalled');
select tests.authenticate_as('admin');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_a'), 1000001, 'More')$$,
  'PY012', null, 'what is reserved is no longer refundable');
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T43A1", "payment_id": "pay_T43A", "amount": 500000, "status": "pending", "notes": {"refund_id": "%s"}}')$$,
    (select refund_id from asked)),
  $$values ('applied', 'pending')$$, 'Razorpay''s answer makes it pending');
reset role;
select results_eq(
  $$select r.razorpay_refund_id, c.state from public.refunds r join asked a on a.refund_id = r.id
      join private.razorpay_calls c on c.id = a.call_id$$,
  $$values ('rfnd_T43A1', 'succeeded')$$, 'it knows Razorpay''s id and its call succeeded');
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T43A1", "payment_id": "pay_T43A", "amount": 500000, "status": "processed"}')$$,
  $$values ('applied', 'processed')$$, 'refund.processed applies it');
reset role;
select results_eq(
  $$select o.installment_number, a.amount from public.payment_allocations a
      join public.outstanding_amounts o on o.id = a.outstanding_amount_id
     where a.refund_id = (select refund_id from asked) order by o.installment_number$$,
  $$values (1::smallint, -200000::bigint), (2::smallint, -300000::bigint)$$,
  'the refund takes back the partly paid installment''s 3,000.00 first, then 2,000.00 of the first');
select results_eq(
  $$select installment_number, amount_paid, status::text, paid_at from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1000000::bigint, 'pending', null::timestamptz), (2::smallint, 0::bigint, 'pending', null::timestamptz)$$,
  'the first installment reopens on the open case; the second has nothing paid any more');
select is(public.case_outstanding(tests.fixture('case_a')), 800000::bigint, 'the case owes 8,000.00 again');
select results_eq(
  $$select amount_refunded, status::text from public.payments where id = tests.fixture('pay_a')$$,
  $$values (500000::bigint, 'captured')$$, 'the payment shows what was refunded');
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.apply_razorpay_refund(
      '{"id": "rfnd_T43A1", "payment_id": "pay_T43A", "amount": 500000, "status": "processed"}')$$,
  $$values ('unchanged')$$, 'the same refund.processed again changes nothing');
reset role;
select is((select amount_refunded from public.payments where id = tests.fixture('pay_a')), 500000::bigint,
  'nothing is refunded twice');

-- A failed refund releases its reservation.
select tests.authenticate_as('admin');
insert into asked select * from private.request_refund(tests.fixture('pay_a'), 200000, 'Goodwill');
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T43A2", "payment_id": "pay_T43A", "amount": 200000, "status": "failed", "notes": {"refund_id": "%s"}}')$$,
    (select refund_id from asked where refund_amount = 200000)),
  $$values ('applied', 'failed')$$, 'refund.failed fails it');
select is((select amount_paid from public.outstanding_amounts where id = tests.fixture('installment_a')), 1000000::bigint,
  'a failed refund leaves the installment as it was: what it took is given back');
select tests.authenticate_as('admin');
select results_eq($$select refund_amount from private.request_refund(tests.fixture('pay_a'), null, 'All the rest')$$,
  $$values (1000000::bigint)$$, 'and the whole rest is refundable again');
reset role;

-- Case B is renewed: its surplus may go back, what it was credited may not.
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_b')), 'renewed', 'case B renewed');
select tests.authenticate_as('admin');
select throws_ok($$select * from private.request_refund(tests.fixture('pay_b'), 300001, 'Customer asked')$$,
  'PY006', null, 'a refund reaching money credited to a closed case''s installments is refused');
select results_eq($$select refund_amount from private.request_refund(tests.fixture('pay_b'), 300000, 'Overpaid')$$,
  $$values (300000::bigint)$$, 'its surplus is refundable');
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_refund((
  '{"id": "rfnd_T43B1", "payment_id": "pay_T43B", "amount": 300000, "status": "processed", "notes": {"refund_id": "' ||
  (select r.id from public.refunds r where r.payment_id = tests.fixture('pay_b'))::text || '"}}')::jsonb);
reset role;
select results_eq(
  $$select p.amount_refunded, p.review_reason, (select count(*) from public.payment_allocations a where a.refund_id is not null and a.payment_id = p.id),
           (select status::text from public.outstanding_amounts where id = tests.fixture('installment_b'))
      from public.payments p where p.id = tests.fixture('pay_b')$$,
  $$values (300000::bigint, null::text, 0::bigint, 'paid')$$,
  'refunding the surplus clears the overpaid flag and leaves the installments alone');

-- A payment flagged on the closed case is refundable in full.
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T43B2", "order_id": "order_T43B", "amount": 1200000, "currency": "INR", "status": "captured"}', 'webhook');
reset role;
select tests.authenticate_as('admin');
select results_eq(
  $$select refund_amount from private.request_refund((select id from public.payments where razorpay_payment_id = 'pay_T43B2'), null, 'Paid twice')$$,
  $$values (1200000::bigint)$$, 'a duplicate payment of a settled case is refunded in full');
reset role;

-- A refund made at Razorpay's dashboard is recorded too.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T43EXT", "payment_id": "pay_T43A", "amount": 100, "status": "processed"}')$$,
  $$values ('applied', 'processed')$$, 'a refund made outside Py360 is applied');
reset role;
select results_eq(
  $$select amount, requested_by, reason from public.refunds where razorpay_refund_id = 'rfnd_T43EXT'$$,
  $$values (100::bigint, null::uuid, 'Refunded outside Py360 (Razorpay dashboard or API)')$$,
  'and recorded with what it was');
select tests.authenticate_as('agent_a');
select throws_ok($$select * from private.apply_razorpay_refund('{"id": "rfnd_T43Z", "payment_id": "pay_T43A", "amount": 1, "status": "processed"}')$$,
  '42501', null, 'the desk cannot apply refunds');
reset role;

select * from finish();
rollback;
