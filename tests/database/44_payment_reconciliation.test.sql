-- The reconciliation's claim: what to ask Razorpay about once its webhook or answer is late,
-- money first, each item leased so two runners never take the same; and a lost webhook caught
-- by the poll brings the case to the right state through the same allocation.
begin;
select plan(22);
select tests.create_test_book();

create temporary table opened (payment_order_id uuid, call_id uuid, label text);
grant all on opened to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into opened select o.payment_order_id, o.call_id, 'a' from private.open_payment_order(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select o.payment_order_id, o.call_id, 'b' from private.open_payment_order(tests.fixture('case_b')) o;
reset role;

create temporary table claims (round text, kind text, subject_id uuid, razorpay_id text, lookup_key text);
grant all on claims to service_role;

select tests.authenticate_as_service_role();
select is((select count(*) from private.claim_payment_reconciliation(50, now())), 0::bigint,
  'a fresh order is left to its create call for RAZORPAY_RECONCILE_AFTER');
insert into claims select 'first', c.* from private.claim_payment_reconciliation(50, now() + interval '11 minutes') c;
select results_eq(
  $$select c.kind, c.razorpay_id, c.lookup_key = po.receipt from claims c join public.payment_orders po on po.id = c.subject_id
     where c.round = 'first' order by po.case_id = tests.fixture('case_a') desc$$,
  $$values ('order_creating', null::text, true), ('order_creating', null::text, true)$$,
  'orders whose create answer never came are claimed, to be looked up by receipt');
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '11 minutes')), 0::bigint,
  'a second runner at the same moment gets nothing: the items are leased');
select is((select count(*) from private.claim_payment_reconciliation(1, now() + interval '22 minutes')), 1::bigint,
  'after the lease they come back, no more than asked');
select throws_ok($$select * from private.claim_payment_reconciliation(0)$$, '22023', null, 'a claim takes 1 to 1000 items');
reset role;

-- Case A's order found by receipt; an authorised payment; a refund; a link.
select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T44A', 'receipt', po.receipt, 'amount', po.amount))
  from public.payment_orders po join opened o on o.payment_order_id = po.id where o.label = 'a';
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T44AUTH", "order_id": "order_T44A", "amount": 1200000, "currency": "INR", "status": "authorized"}', 'webhook');
reset role;
update public.policies set product_line = 'life' where id = tests.fixture('policy_b');
select tests.authenticate_as('agent_b');
select count(*) from private.open_payment_link(tests.fixture('case_b'));
reset role;

select tests.authenticate_as_service_role();
insert into claims select 'second', c.* from private.claim_payment_reconciliation(50, now() + interval '1 hour') c;
reset role;
select results_eq(
  $$select kind, razorpay_id, lookup_key from claims where round = 'second' and kind <> 'order_creating' order by kind$$,
  $$values ('link_creating', null::text, (select reference_id from public.payment_links where case_id = tests.fixture('case_b'))),
           ('order_open', 'order_T44A', (select receipt from public.payment_orders where razorpay_order_id = 'order_T44A')),
           ('payment_authorized', 'pay_T44AUTH', '1200000')$$,
  'an authorised payment to capture, an open order and an unanswered link are claimed');
select is((select kind from claims where round = 'second' limit 1), 'payment_authorized', 'money first');

-- The capture's webhook is lost: the poll of the order finds the payment captured.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_payment(
      '{"id": "pay_T44AUTH", "order_id": "order_T44A", "amount": 1200000, "currency": "INR", "status": "captured"}', 'reconcile')$$,
  $$values ('credited', 1200000::bigint, 'renewed'::public.case_stage)$$,
  'the reconciliation credits the payment whose webhook was lost, and the case renews');
reset role;
select results_eq(
  $$select p.credited_via, p.reconcile_after, po.status, po.reconcile_after
      from public.payments p join public.payment_orders po on po.id = p.payment_order_id where p.razorpay_payment_id = 'pay_T44AUTH'$$,
  $$values ('reconcile', null::timestamptz, 'paid', null::timestamptz)$$,
  'neither the payment nor its order is asked about again');
select tests.authenticate_as_service_role();
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '1 day') c
            where c.kind in ('payment_authorized', 'order_open')), 0::bigint, 'later claims skip them');
select results_eq(
  $$select outcome from private.apply_razorpay_payment(
      '{"id": "pay_T44AUTH", "order_id": "order_T44A", "amount": 1200000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('already_credited')$$, 'the webhook arriving after all credits nothing');
reset role;

-- Refunds: creating (repeat with the same key), then pending (fetch it).
select tests.authenticate_as_service_role();
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T44DUP", "order_id": "order_T44A", "amount": 1200000, "currency": "INR", "status": "captured"}', 'webhook');
select tests.authenticate_as('admin');
select count(*) from private.request_refund((select id from public.payments where razorpay_payment_id = 'pay_T44DUP'), 1000, 'Paid twice');
select tests.authenticate_as_service_role();
select results_eq(
  $$select c.kind, c.razorpay_id, c.lookup_key = r.idempotency_key
      from private.claim_payment_reconciliation(50, now() + interval '2 days') c join public.refunds r on r.id = c.subject_id$$,
  $$values ('refund_creating', 'pay_T44DUP', true)$$,
  'an unanswered refund is claimed with the payment and its idempotency key');
select count(*) from private.apply_razorpay_refund(
  '{"id": "rfnd_T44", "payment_id": "pay_T44DUP", "amount": 1000, "status": "pending", "notes": {}}'::jsonb
  || jsonb_build_object('notes', jsonb_build_object('refund_id', (select id from public.refunds r where r.amount = 1000))));
select results_eq(
  $$select c.kind, c.razorpay_id, c.lookup_key from private.claim_payment_reconciliation(50, now() + interval '3 days') c
     where c.kind like 'refund%'$$,
  $$values ('refund_pending', 'rfnd_T44', 'pay_T44DUP')$$, 'a pending refund is claimed by its Razorpay id');
reset role;

-- An order that expired: a poll after expires_at with nothing paid ends it.
update public.payment_orders set expires_at = now() - interval '1 hour'
 where id = (select payment_order_id from opened where label = 'b');
select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T44B', 'receipt', po.receipt,
         'amount', po.amount, 'status', 'created'))
  from public.payment_orders po join opened o on o.payment_order_id = po.id where o.label = 'b';
select results_eq(
  $$select status, reconcile_after, polled_at is not null from public.payment_orders where razorpay_order_id = 'order_T44B'$$,
  $$values ('expired', null::timestamptz, true)$$, 'a poll after an unpaid order''s time expires it');
select tests.authenticate_as_service_role();
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '4 days') c where c.kind like 'order%'),
  0::bigint, 'and it is not claimed again');
-- An order whose create call never reached Razorpay: looked up once after its time, then failed.
select tests.authenticate_as('agent_a');
reset role;
insert into public.payment_orders (case_id, amount, installment_ids, expires_at, reconcile_after)
values (tests.fixture('case_b'), 1200000, array[tests.fixture('installment_b')], now() + interval '30 minutes',
        now() + interval '10 minutes');
select tests.authenticate_as_service_role();
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '20 minutes') c
            where c.kind = 'order_creating'), 1::bigint, 'an unanswered order is looked up before its time');
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '35 minutes') c
            where c.kind = 'order_creating'), 1::bigint, 'and once after it');
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '50 minutes') c
            where c.kind = 'order_creating'), 0::bigint, 'then, not found, it is not looked up again');
reset role;
select results_eq(
  $$select status, reconcile_after, last_error from public.payment_orders
     where case_id = tests.fixture('case_b') and razorpay_order_id is null$$,
  $$values ('failed', null::timestamptz, 'not found at Razorpay by its receipt')$$,
  'its creation failed for good');

-- Lookups are journalled and finished too.
select tests.authenticate_as_service_role();
select lives_ok(
  $$select private.finish_razorpay_call(private.start_razorpay_call('fetch_order_payments', tests.fixture('case_a'),
      '{"order_id": "order_T44A"}'), tests.fixture('case_a'))$$,
  'the runner journals a lookup and finishes it');
reset role;
select results_eq(
  $$select state, http_status, finished_at is not null from private.razorpay_calls where operation = 'fetch_order_payments'$$,
  $$values ('succeeded', 200, true)$$, 'the lookup is journalled as succeeded');

select tests.authenticate_as('admin');
select throws_ok($$select * from private.claim_payment_reconciliation()$$, '42501', null, 'the desk does not reconcile');
reset role;

select * from finish();
rollback;
