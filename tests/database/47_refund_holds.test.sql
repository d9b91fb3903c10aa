-- Refunds hold their money from the moment they are asked (issue 8 review, findings 1 and 8b):
-- the case owes the refunded amount at once; a payment of the rest does not renew the case while
-- the refund is pending; a processed refund only records; a failed one gives the money back (to
-- the same installments, the rest to the case's other open ones) and the case renews; a refund
-- Razorpay refuses for good in the reconciliation (fail_refund_create) or at the API's first call
-- fails and releases what it held.
begin;
select plan(32);
select tests.create_test_book();
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 600000);

create temporary table opened (payment_order_id uuid, amount bigint, label text);
grant all on opened to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into opened select o.payment_order_id, o.amount, 'a1' from private.open_payment_order(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select o.payment_order_id, o.amount, 'b1' from private.open_payment_order(tests.fixture('case_b')) o;
reset role;
select count(*) from (
  select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T47' || upper(o.label),
           'receipt', po.receipt, 'amount', po.amount))
    from public.payment_orders po join opened o on o.payment_order_id = po.id) x;

create temporary table asked (label text, refund_id uuid, razorpay_payment_id text, refund_amount bigint,
                              refund_status text, idempotency_key text, call_id uuid, repeated boolean);
grant all on asked to authenticated, service_role;

-- Case A owes 18,000.00 in two installments; the customer pays 15,000.00.
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T47A1", "order_id": "order_T47A1", "amount": 1500000, "currency": "INR", "status": "captured"}', 'webhook');
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1200000::bigint, 'paid'), (2::smallint, 300000::bigint, 'pending')$$,
  'to begin with case A''s first installment is paid and its second partly');

-- Finding 1: the admin asks a refund of 5,000.00; Razorpay has not answered yet.
select tests.authenticate_as('admin');
insert into asked select 'r1', r.* from private.request_refund(
  (select id from public.payments where razorpay_payment_id = 'pay_T47A1'), 500000, 'Customer cancelled an add-on', 'k47-r1') r;
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text, paid_at from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1000000::bigint, 'pending', null::timestamptz), (2::smallint, 0::bigint, 'pending', null::timestamptz)$$,
  'the refund, still creating, takes the money back at once, latest due first: the first installment reopens');
select is(public.case_outstanding(tests.fixture('case_a')), 800000::bigint,
  'the case owes the refunded 5,000.00 again while the refund is pending');
select results_eq(
  $$select o.installment_number, a.amount from public.payment_allocations a
      join public.outstanding_amounts o on o.id = a.outstanding_amount_id
     where a.refund_id = (select refund_id from asked where label = 'r1') order by o.installment_number$$,
  $$values (1::smallint, -200000::bigint), (2::smallint, -300000::bigint)$$,
  'the ledger names the refund on each amount it took back');
select tests.authenticate_as('admin');
select results_eq(
  $$select repeated, refund_amount from private.request_refund(
      (select id from public.payments where razorpay_payment_id = 'pay_T47A1'), 500000, 'Customer cancelled an add-on', 'k47-r1')$$,
  $$values (true, 500000::bigint)$$, 'the same request again answers the same refund');
reset role;
select results_eq(
  $$select count(*), public.case_outstanding(tests.fixture('case_a')) from public.payment_allocations
     where refund_id = (select refund_id from asked where label = 'r1')$$,
  $$values (2::bigint, 800000::bigint)$$, 'and takes nothing twice');
select tests.authenticate_as('agent_a');
insert into opened select o.payment_order_id, o.amount, 'a2' from private.open_payment_order(tests.fixture('case_a')) o;
reset role;
select is((select amount from opened where label = 'a2'), 800000::bigint, 'a new order asks for what the case owes now');

-- The customer pays what was owed before the refund: the case is not renewed.
select count(*) from (
  select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T47A2', 'receipt', po.receipt, 'amount', po.amount))
    from public.payment_orders po join opened o on o.payment_order_id = po.id where o.label = 'a2') x;
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage <> 'renewed' from private.apply_razorpay_payment(
      '{"id": "pay_T47A2", "order_id": "order_T47A2", "amount": 300000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('credited', 300000::bigint, true)$$,
  'the rest as it was before the refund is credited, and the case does not renew');
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1200000::bigint, 'paid'), (2::smallint, 100000::bigint, 'pending')$$,
  'it settles the first installment again; the refunded 5,000.00 is still owed');

-- Finding 8b: a refund the reconciliation repeats and Razorpay refuses for good.
select tests.authenticate_as('admin');
insert into asked select 'r4', r.* from private.request_refund(
  (select id from public.payments where razorpay_payment_id = 'pay_T47A2'), 100000, 'Goodwill', 'k47-r4') r;
select tests.authenticate_as_service_role();
select private.record_razorpay_call_failed((select call_id from asked where label = 'r4'), 503,
  '{"error": {"code": "SERVER_ERROR", "description": "The server encountered an error"}}', false);
reset role;
select results_eq(
  $$select r.status, o.amount_paid, public.case_outstanding(tests.fixture('case_a'))
      from public.refunds r, public.outstanding_amounts o
     where r.id = (select refund_id from asked where label = 'r4')
       and o.case_id = tests.fixture('case_a') and o.installment_number = 2$$,
  $$values ('creating', 0::bigint, 600000::bigint)$$,
  'a refund whose create call may have reached Razorpay stays creating, its 1,000.00 owed again');
select tests.authenticate_as('admin');
select throws_ok($$select private.fail_refund_create((select refund_id from asked where label = 'r4'), '{}')$$,
  '42501', null, 'the desk cannot fail a refund');
select tests.authenticate_as_service_role();
select results_eq(
  $$select status, failure_reason, reconcile_after from private.fail_refund_create(
      (select refund_id from asked where label = 'r4'),
      '{"code": "BAD_REQUEST_ERROR", "description": "The refund amount is invalid", "http_status": 400}')$$,
  $$values ('failed', 'The refund amount is invalid', null::timestamptz)$$,
  'fail_refund_create fails a refund Razorpay refused for good');
reset role;
select results_eq(
  $$select state, http_status, error_code from private.razorpay_calls
     where subject_id = (select refund_id from asked where label = 'r4') order by created_at, finished_at$$,
  $$values ('failed', 503, 'SERVER_ERROR'), ('failed', 400, 'BAD_REQUEST_ERROR')$$,
  'the refused repeat is journalled as a final failure beside the first try');
select results_eq(
  $$select o.amount_paid, public.case_outstanding(tests.fixture('case_a')),
           (select sum(a.amount) from public.payment_allocations a
             where a.refund_id = (select refund_id from asked where label = 'r4'))
      from public.outstanding_amounts o
     where o.case_id = tests.fixture('case_a') and o.installment_number = 2$$,
  $$values (100000::bigint, 500000::bigint, 0::numeric)$$,
  'what it took is given back to the installment (the ledger nets to nothing)');
select tests.authenticate_as('admin');
select results_eq(
  $$select refund_amount from private.request_refund((select id from public.payments where razorpay_payment_id = 'pay_T47A2'),
      null, 'All of it', 'k47-r4-all')$$,
  $$values (300000::bigint)$$, 'its reservation is released: the whole payment is refundable again');
reset role;
select tests.authenticate_as_service_role();
select results_eq(
  $$select status from private.fail_refund_create((select refund_id from asked where label = 'r4'), '{"code": "BAD_REQUEST_ERROR"}')$$,
  $$values ('failed')$$, 'failing it again changes nothing');
select throws_ok($$select private.fail_refund_create(gen_random_uuid(), '{}')$$, 'P0002', null,
  'an unknown refund is not found');
reset role;
-- The "all of it" refund, refused at once by the API's own call: released too.
select private.record_razorpay_call_failed(
  (select c.id from private.razorpay_calls c join public.refunds r on r.id = c.subject_id where r.request_key = 'k47-r4-all'),
  400, '{"error": {"code": "BAD_REQUEST_ERROR", "description": "Refund not allowed"}}', true);
select results_eq(
  $$select r.status, public.case_outstanding(tests.fixture('case_a')) from public.refunds r where r.request_key = 'k47-r4-all'$$,
  $$values ('failed', 500000::bigint)$$, 'a create refused for good by the API''s call gives the money back as well');

-- Razorpay fails the 5,000.00 refund: the money comes back and the case renews.
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T47R1", "payment_id": "pay_T47A1", "amount": 500000, "status": "failed", "notes": {"refund_id": "%s"}}')$$,
    (select refund_id from asked where label = 'r1')),
  $$values ('applied', 'failed')$$, 'refund.failed fails it');
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1200000::bigint, 'paid'), (2::smallint, 600000::bigint, 'paid')$$,
  'the money is given back: the first installment''s share, paid meanwhile, settles the second');
select results_eq(
  $$select stage::text, public.case_outstanding(tests.fixture('case_a')) from public.renewal_cases where id = tests.fixture('case_a')$$,
  $$values ('renewed', 0::bigint)$$, 'and the case renews by the trigger');
select results_eq(
  $$select o.installment_number, a.amount from public.payment_allocations a
      join public.outstanding_amounts o on o.id = a.outstanding_amount_id
     where a.refund_id = (select refund_id from asked where label = 'r1') order by o.installment_number, a.amount$$,
  $$values (1::smallint, -200000::bigint), (2::smallint, -300000::bigint), (2::smallint, 200000::bigint), (2::smallint, 300000::bigint)$$,
  'every movement stays in the ledger: what the refund took, then what it gave back');
select results_eq(
  $$select review_reason, amount_refunded from public.payments where razorpay_payment_id = 'pay_T47A1'$$,
  $$values (null::text, 0::bigint)$$, 'the payment is whole again: nothing refunded, no surplus');
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome from private.apply_razorpay_refund(
      '{"id": "rfnd_T47R1", "payment_id": "pay_T47A1", "amount": 500000, "status": "failed", "notes": {"refund_id": "%s"}}')$$,
    (select refund_id from asked where label = 'r1')),
  $$values ('unchanged')$$, 'refund.failed again changes nothing');
reset role;
select is((select count(*) from public.payment_allocations where refund_id = (select refund_id from asked where label = 'r1')),
  4::bigint, 'nothing is given back twice');

-- Case B: a partial payment, a refund processed: the reversal happened when it was asked.
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T47B1", "order_id": "order_T47B1", "amount": 1000000, "currency": "INR", "status": "captured"}', 'webhook');
select tests.authenticate_as('admin');
insert into asked select 'r2', r.* from private.request_refund(
  (select id from public.payments where razorpay_payment_id = 'pay_T47B1'), 400000, 'Paid by mistake', 'k47-r2') r;
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_refund(jsonb_build_object('id', 'rfnd_T47R2', 'payment_id', 'pay_T47B1',
  'amount', 400000, 'status', 'pending', 'notes', jsonb_build_object('refund_id', (select refund_id from asked where label = 'r2'))));
select is(public.case_outstanding(tests.fixture('case_b')), 600000::bigint, 'case B owes the pending refund''s 4,000.00');
select results_eq(
  $$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T47R2", "payment_id": "pay_T47B1", "amount": 400000, "status": "processed"}')$$,
  $$values ('applied', 'processed')$$, 'refund.processed applies it');
reset role;
select results_eq(
  $$select (select count(*) from public.payment_allocations where refund_id = (select refund_id from asked where label = 'r2')),
           public.case_outstanding(tests.fixture('case_b')), p.amount_refunded, p.status::text
      from public.payments p where p.razorpay_payment_id = 'pay_T47B1'$$,
  $$values (1::bigint, 600000::bigint, 400000::bigint, 'captured')$$,
  'processed only records it: no second reversal, the case owes the same');

select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T47B2", "order_id": "order_T47B1", "amount": 600000, "currency": "INR", "status": "captured"}', 'webhook');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_b')), 'renewed',
  'case B renews once the refunded money is paid again');

-- A refund we failed ourselves which Razorpay then reports processed (the repeat was refused
-- because the first call had made it): taken again, recorded as Razorpay says. Case A is closed
-- now: the money leaves its installment without reopening it, and the payment is flagged.
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T47R4", "payment_id": "pay_T47A2", "amount": 100000, "status": "processed", "notes": {"refund_id": "%s"}}')$$,
    (select refund_id from asked where label = 'r4')),
  $$values ('applied', 'processed')$$, 'Razorpay''s processed refund overrides the failure we had inferred');
reset role;
select results_eq(
  $$select p.amount_refunded, p.review_reason, o.amount_paid, o.status::text
      from public.payments p, public.outstanding_amounts o
     where p.razorpay_payment_id = 'pay_T47A2' and o.case_id = tests.fixture('case_a') and o.installment_number = 2$$,
  $$values (100000::bigint, 'refunded_after_close', 500000::bigint, 'paid')$$,
  'the ledger shows the money gone: refunded, taken from the closed case''s installment, flagged for review');
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, refund_status from private.apply_razorpay_refund(
      '{"id": "rfnd_T47R1", "payment_id": "pay_T47A1", "amount": 500000, "status": "pending", "notes": {"refund_id": "%s"}}')$$,
    (select refund_id from asked where label = 'r1')),
  $$values ('unchanged', 'failed')$$, 'a stale pending answer for a refund Razorpay itself failed changes nothing');
reset role;

select * from finish();
rollback;
