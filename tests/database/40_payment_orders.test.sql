-- Razorpay orders, payment links, the call journal and the checkout verification: what the desk
-- may open, with amounts from the database only, and every refusal changing nothing.
begin;
select plan(51);
select tests.create_test_book();

-- Case A owes two installments: 12,000.00 due in 30 days and 6,000.00 due in 60.
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 600000);
insert into tests.fixtures (name, id)
select 'installment_a2', id from public.outstanding_amounts
 where case_id = tests.fixture('case_a') and installment_number = 2;

create temporary table opened (
  payment_order_id uuid, receipt text, amount bigint, currency text, razorpay_order_id text,
  status text, expires_at timestamptz, reused boolean, customer_name text, customer_email text,
  customer_phone text, case_number text, call_id uuid, label text
);
grant all on opened to authenticated, service_role;

-- Refusals: another agent's case, a tampered amount, installments of another case or none.
select tests.authenticate_as('agent_a');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_b'))$$,
  'P0002', 'no such case, or not yours to see', 'an order for another agent''s case is refused as not found');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_a'), null, 100)$$,
  'PY011', 'the amount due is 1800000 paise, not 100', 'a client amount that disagrees with the database is refused');
select throws_ok(
  $$select * from private.open_payment_order(tests.fixture('case_a'), array[tests.fixture('installment_b')])$$,
  '22023', 'each installment must be open (pending or overdue, not fully paid) on this case',
  'installments of another case are refused');
select throws_ok(
  $$select * from private.open_payment_order(tests.fixture('case_a'), array[tests.fixture('installment_a'), gen_random_uuid()])$$,
  '22023', null, 'an unknown installment among known ones is refused');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_a'), '{}')$$,
  '22023', null, 'an empty installment list is refused');
select tests.authenticate_as('analyst');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_a'))$$,
  'P0002', null, 'an analyst sees no case to pay');
reset role;
select is((select count(*) from public.payment_orders), 0::bigint, 'the refusals created no order');
select is((select count(*) from private.razorpay_calls), 0::bigint, 'and journalled no call');

-- The whole case, oldest due first, with the amount the client showed.
select tests.authenticate_as('agent_a');
insert into opened select o.*, 'all' from private.open_payment_order(tests.fixture('case_a'), null, 1800000) o;
reset role;
select results_eq(
  $$select amount, currency, status, reused, razorpay_order_id, customer_name, customer_email,
           customer_phone, call_id is not null from opened where label = 'all'$$,
  $$values (1800000::bigint, 'INR', 'creating', false, null::text, 'Customer A',
            'customer_a@tests.py360.test', '+919800000001', true)$$,
  'the order is for what the case owes, with what Checkout needs and the customer''s prefill');
select matches((select receipt from opened where label = 'all'), '^py_[0-9a-f]{32}$',
  'its receipt is derived from its id and fits Razorpay''s 40 characters');
select is((select installment_ids from public.payment_orders where id = (select payment_order_id from opened where label = 'all')),
  array[tests.fixture('installment_a'), tests.fixture('installment_a2')],
  'the order pays the installments oldest due first');
select is((select created_by from public.payment_orders where id = (select payment_order_id from opened where label = 'all')),
  tests.get_user_id('agent_a'), 'it records who opened it, from the session');
select ok((select expires_at between now() + interval '29 minutes' and now() + interval '31 minutes'
             from opened where label = 'all'), 'it expires RAZORPAY_ORDER_TTL (30 minutes) ahead');
select results_eq(
  $$select c.operation, c.state, (c.request ->> 'amount')::bigint, c.request ->> 'receipt', c.request ->> 'currency'
      from private.razorpay_calls c join opened o on o.call_id = c.id where o.label = 'all'$$,
  $$select 'create_order', 'pending', 1800000::bigint, receipt, 'INR' from opened where label = 'all'$$,
  'the create call is journalled before it is made, with the body to send');

-- One installment.
select tests.authenticate_as('agent_a');
insert into opened select o.*, 'second' from private.open_payment_order(tests.fixture('case_a'), array[tests.fixture('installment_a2')]) o;
reset role;
select is((select amount from opened where label = 'second'), 600000::bigint, 'an order for one installment asks its amount');

-- Razorpay's answer.
select tests.authenticate_as_service_role();
select throws_ok(
  $$select private.record_order_created((select payment_order_id from opened where label = 'all'), null,
      jsonb_build_object('id', 'order_T40ALL', 'receipt', (select receipt from opened where label = 'all'), 'amount', 100))$$,
  '22023', null, 'an answer for another amount is not taken as our order');
select lives_ok(
  $$select private.record_order_created(o.payment_order_id, o.call_id,
      jsonb_build_object('id', 'order_T40ALL', 'receipt', o.receipt, 'amount', o.amount, 'status', 'created'))
      from opened o where o.label = 'all'$$,
  'service_role records Razorpay''s order');
reset role;
select results_eq(
  $$select po.status, po.razorpay_order_id, c.state, c.http_status
      from public.payment_orders po join opened o on o.payment_order_id = po.id
      join private.razorpay_calls c on c.id = o.call_id where o.label = 'all'$$,
  $$values ('created', 'order_T40ALL', 'succeeded', 200)$$,
  'the order is created and its journalled call succeeded');
select tests.authenticate_as('agent_a');
select throws_ok(
  $$select private.record_order_created((select payment_order_id from opened where label = 'all'), null, '{"id": "order_X"}')$$,
  '42501', null, 'the desk cannot record Razorpay''s answers');

-- Asked again for the same installments: the open order, not a second one.
insert into opened select o.*, 'again' from private.open_payment_order(tests.fixture('case_a')) o;
reset role;
select results_eq(
  $$select a.payment_order_id = b.payment_order_id, a.reused, a.call_id, a.razorpay_order_id, a.status
      from opened a, opened b where a.label = 'again' and b.label = 'all'$$,
  $$values (true, true, null::uuid, 'order_T40ALL', 'created')$$,
  'an open unexpired order for the same installments is reused');
update public.payment_orders set expires_at = now() - interval '1 minute'
 where id = (select payment_order_id from opened where label = 'all');
select tests.authenticate_as('agent_a');
insert into opened select o.*, 'after expiry' from private.open_payment_order(tests.fixture('case_a')) o;
reset role;
select is((select reused from opened where label = 'after expiry'), false, 'an expired order is not offered again');

-- A failed create call: for good, or to be looked up.
select tests.authenticate_as_service_role();
select private.record_razorpay_call_failed(call_id, 400,
         '{"error": {"code": "BAD_REQUEST_ERROR", "description": "The amount must be at least INR 1.00"}}', true)
  from opened where label = 'second';
select private.record_razorpay_call_failed(call_id, 0, '{"code": "NETWORK", "description": "timeout"}', false)
  from opened where label = 'after expiry';
reset role;
select results_eq(
  $$select o.label, po.status, po.last_error, po.reconcile_after is not null, c.state, c.error_code
      from opened o join public.payment_orders po on po.id = o.payment_order_id
      join private.razorpay_calls c on c.id = o.call_id
     where o.label in ('second', 'after expiry') order by o.label$$,
  $$values ('after expiry', 'creating', 'timeout', true, 'failed', 'NETWORK'),
           ('second', 'failed', 'The amount must be at least INR 1.00', false, 'failed', 'BAD_REQUEST_ERROR')$$,
  'a final failure fails the order; a timeout leaves it creating for the reconciliation');
select tests.authenticate_as_service_role();
select lives_ok(
  $$select private.record_order_created(o.payment_order_id, null,
      jsonb_build_object('id', 'order_T40LATE', 'receipt', o.receipt, 'amount', o.amount, 'status', 'created'))
      from opened o where o.label = 'after expiry'$$,
  'the reconciliation records an order found by receipt after the answer was lost');
reset role;
select is((select status from public.payment_orders where id = (select payment_order_id from opened where label = 'after expiry')),
  'created', 'which then is created');
select tests.authenticate_as_service_role();
select throws_ok($$select private.start_razorpay_call('Drop Table', gen_random_uuid(), '{}')$$,
  '22023', null, 'the journal takes operations named in snake_case only');
select private.start_razorpay_call('capture_payment', gen_random_uuid(),
  '{"amount": 100, "key_secret": "s3cret", "Authorization": "Basic x"}');
reset role;
select is((select request from private.razorpay_calls where operation = 'capture_payment'), '{"amount": 100}'::jsonb,
  'no secret reaches the journal');

-- Checkout verification: recorded, never credited.
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.record_checkout_verification(tests.fixture('case_a'), 'order_T40ALL', 'pay_T40V1')$$,
  'P0002', 'no such case, or not yours to see', 'another agent cannot verify a payment of case A');
select throws_ok($$select * from private.record_checkout_verification(tests.fixture('case_b'), 'order_T40ALL', 'pay_T40V1')$$,
  'P0002', null, 'nor pass case A''s order off as their own case''s');
select tests.authenticate_as('agent_a');
select throws_ok($$select * from private.record_checkout_verification(tests.fixture('case_a'), 'order_T40ALL', 'x')$$,
  '22023', null, 'a malformed payment id is refused');
select results_eq(
  $$select payment_status, credited from private.record_checkout_verification(tests.fixture('case_a'), 'order_T40ALL', 'pay_T40V1')$$,
  $$values ('created'::public.payment_status, false)$$,
  'a verified checkout is recorded as a payment not yet credited');
select lives_ok($$select * from private.record_checkout_verification(tests.fixture('case_a'), 'order_T40ALL', 'pay_T40V1')$$,
  'the same verification twice is harmless');
reset role;
select results_eq(
  $$select count(*), count(checkout_verified_at), count(credited_at) from public.payments where razorpay_payment_id = 'pay_T40V1'$$,
  $$values (1::bigint, 1::bigint, 0::bigint)$$, 'one payment row, verified, not credited');
select is((select count(*) from public.payment_allocations), 0::bigint, 'and nothing allocated');
select is(public.case_outstanding(tests.fixture('case_a')), 1800000::bigint, 'the case still owes everything');

-- Payment links.
select tests.authenticate_as('agent_a');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_a'), null, true)$$,
  '22023', 'partial payments are not allowed for motor policies', 'no partial payment where the product does not allow it');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_a'), null, false, 50000)$$,
  '22023', null, 'a minimum first part needs partial payments');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_b'))$$,
  'P0002', null, 'no link for another agent''s case');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_a'), tests.fixture('installment_b'))$$,
  '22023', null, 'nor for an installment of another case');
reset role;
select is((select count(*) from public.payment_links), 0::bigint, 'the refusals created no link');
select tests.authenticate_as('agent_a');
select results_eq(
  $$select amount, accepts_partial, min_partial_amount, status, reused, policy_number, call_id is not null,
           expire_by > now() + interval '14 days'
      from private.open_payment_link(tests.fixture('case_a'))$$,
  $$values (1800000::bigint, false, null::bigint, 'creating', false, 'T-POL-A', true, true)$$,
  'a link for the whole case asks what it owes, for PAYMENT_LINK_TTL');
reset role;
update public.policies set product_line = 'life' where id = tests.fixture('policy_a');
select tests.authenticate_as('agent_a');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_a'), tests.fixture('installment_a'), true, 100)$$,
  '22023', 'the first part must be between 300000 and 1200000 paise', 'a life policy''s first part is at least 25%');
select results_eq(
  $$select amount, accepts_partial, min_partial_amount from private.open_payment_link(tests.fixture('case_a'), tests.fixture('installment_a'), true)$$,
  $$values (1200000::bigint, true, 300000::bigint)$$,
  'a life policy''s installment link accepts parts of at least 25% by default');
reset role;
select results_eq(
  $$select (c.request ->> 'accept_partial')::boolean, (c.request ->> 'first_min_partial_amount')::bigint,
           c.request -> 'notify', c.request ->> 'reference_id' = pl.reference_id
      from private.razorpay_calls c join public.payment_links pl on pl.id = c.subject_id
     where pl.outstanding_amount_id = tests.fixture('installment_a')$$,
  $$values (true, 300000::bigint, '{"sms": false, "email": false}'::jsonb, true)$$,
  'the journalled call asks Razorpay not to notify (we send the link) and carries our reference_id');
select tests.authenticate_as_service_role();
select lives_ok(
  $$select private.record_payment_link_created(pl.id, null, jsonb_build_object('id', 'plink_T40A',
      'reference_id', pl.reference_id, 'amount', pl.amount, 'status', 'created', 'short_url', 'https://rzp.io/i/T40A'))
      from public.payment_links pl where pl.outstanding_amount_id = tests.fixture('installment_a')$$,
  'service_role records Razorpay''s link');
reset role;
select results_eq(
  $$select status, short_url, razorpay_payment_link_id from public.payment_links where outstanding_amount_id = tests.fixture('installment_a')$$,
  $$values ('created', 'https://rzp.io/i/T40A', 'plink_T40A')$$, 'the link is created with its short URL');
select tests.authenticate_as('agent_a');
select is((select reused from private.open_payment_link(tests.fixture('case_a'), tests.fixture('installment_a'), true)),
  true, 'the same link asked again is reused');
reset role;
select tests.authenticate_as_service_role();
select private.record_payment_link_created(pl.id, null, jsonb_build_object('id', 'plink_T40A',
         'reference_id', pl.reference_id, 'amount', pl.amount, 'status', 'expired'))
  from public.payment_links pl where pl.razorpay_payment_link_id = 'plink_T40A';
reset role;
select is((select status from public.payment_links where razorpay_payment_link_id = 'plink_T40A'), 'expired',
  'a link Razorpay expired is expired');

-- Nothing due, and a closed case.
select tests.authenticate_as('agent_b');
update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'Cheque 40'
 where id = tests.fixture('installment_b');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_b'))$$,
  'PY010', null, 'a case with nothing due takes no order');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_b'))$$,
  'PY010', null, 'nor a link');
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'lost', lost_reason = 'Went to another broker' where id = tests.fixture('case_a');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_a'))$$,
  'PY006', null, 'a closed case takes no order, whatever it owed');
reset role;
select is((select count(*) from public.payment_orders where case_id = tests.fixture('case_b')), 0::bigint,
  'no order was ever created for case B');

select * from finish();
rollback;
