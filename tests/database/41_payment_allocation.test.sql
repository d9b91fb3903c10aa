-- Allocation: the one place money is credited (private.apply_razorpay_payment). A partial
-- payment, then the rest; several installments oldest due first; an overpayment kept; a second
-- path for the same payment credits nothing; a late failure never downgrades; a payment after its
-- order expired or for a closed case is flagged with a refund-due message; reminders of a case
-- that renews are cancelled, transactional messages kept; the desk still settles offline.
begin;
select plan(44);
select tests.create_test_book();

insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 600000),
       (tests.fixture('case_b'), 2, current_date + 60, 500000),
       (tests.fixture('case_b'), 3, current_date + 45, 400000);
insert into tests.fixtures (name, id)
select 'installment_' || case c.id when tests.fixture('case_a') then 'a' else 'b' end || o.installment_number, o.id
  from public.outstanding_amounts o join public.renewal_cases c on c.id = o.case_id
 where o.installment_number > 1;

-- Queued messages of case A: a reminder (service) and a transactional one; and case B's reminder.
insert into public.templates (code, channel, language, purpose, subject, body)
values ('t41_reminder', 'email', 'en', 'service', 'Renew {{policy_number}}', 'Dear {{customer_name}}, renew {{policy_number}}.'),
       ('t41_notice', 'email', 'en', 'transactional', 'About {{policy_number}}', 'Dear {{customer_name}}, a notice.');
select tests.authenticate_as_service_role();
select count(*) from private.enqueue_messages(jsonb_build_array(
  jsonb_build_object('customer_id', tests.fixture('customer_a'), 'case_id', tests.fixture('case_a'), 'channel', 'email',
    'template_code', 't41_reminder', 'idempotency_key', 't41:reminder:a',
    'variables', jsonb_build_object('customer_name', 'A', 'policy_number', 'T-POL-A')),
  jsonb_build_object('customer_id', tests.fixture('customer_a'), 'case_id', tests.fixture('case_a'), 'channel', 'email',
    'template_code', 't41_notice', 'idempotency_key', 't41:notice:a',
    'variables', jsonb_build_object('customer_name', 'A', 'policy_number', 'T-POL-A')),
  jsonb_build_object('customer_id', tests.fixture('customer_b'), 'case_id', tests.fixture('case_b'), 'channel', 'email',
    'template_code', 't41_reminder', 'idempotency_key', 't41:reminder:b',
    'variables', jsonb_build_object('customer_name', 'B', 'policy_number', 'T-POL-B'))));
reset role;
select is((select count(*) from public.messages where idempotency_key like 't41:%' and status = 'queued'), 3::bigint,
  'three messages are queued to begin with');

-- An order for case A's second installment only, and one found at Razorpay.
create temporary table orders (label text, payment_order_id uuid);
grant all on orders to authenticated;
select tests.authenticate_as('agent_a');
insert into orders select 'second', o.payment_order_id
  from private.open_payment_order(tests.fixture('case_a'), array[tests.fixture('installment_a2')]) o;
reset role;
select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T41A2', 'receipt', po.receipt, 'amount', po.amount))
  from public.payment_orders po join orders o on o.payment_order_id = po.id where o.label = 'second';

-- Unknown order: nothing written.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, payment_id from private.apply_razorpay_payment(
      '{"id": "pay_T41X", "order_id": "order_NOT_OURS", "amount": 5000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('unmatched', 0::bigint, null::uuid)$$, 'a payment for no order of ours is unmatched');
reset role;
select is((select count(*) from public.payments where razorpay_payment_id = 'pay_T41X'), 0::bigint, 'and nothing is written');

-- A partial payment of the second installment: authorised, then captured.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited from private.apply_razorpay_payment(
      '{"id": "pay_T41P1", "order_id": "order_T41A2", "amount": 500000, "currency": "INR", "status": "authorized", "method": "upi"}', 'webhook')$$,
  $$values ('recorded', 0::bigint)$$, 'an authorised payment is recorded, not credited');
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_payment(
      '{"id": "pay_T41P1", "order_id": "order_T41A2", "amount": 500000, "currency": "INR", "status": "captured", "method": "upi"}', 'webhook')$$,
  $$values ('credited', 500000::bigint, 'new'::public.case_stage)$$, 'captured, it is credited');
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 0::bigint, 'pending'), (2::smallint, 500000::bigint, 'pending')$$,
  'the order''s installment is credited first, and a part leaves it pending with amount_paid');
select is(public.case_outstanding(tests.fixture('case_a')), 1300000::bigint, 'the case owes the rest');
select results_eq(
  $$select status, credited_via, review_reason, payment_order_id = (select payment_order_id from orders where label = 'second')
      from public.payments where razorpay_payment_id = 'pay_T41P1'$$,
  $$values ('captured'::public.payment_status, 'webhook', null::text, true)$$,
  'the payment is captured, credited by the webhook, clean and tied to its order');
select is((select status from public.payment_orders po join orders o on o.payment_order_id = po.id where o.label = 'second'),
  'attempted', 'a part of the order paid leaves it attempted');
select is((select count(*) from public.messages where idempotency_key = 't41:reminder:a' and status = 'queued'), 1::bigint,
  'the reminder stays queued while something is owed');
select tests.authenticate_as_service_role();
select throws_ok($$update public.renewal_cases set stage = 'renewed' where id = tests.fixture('case_a')$$,
  'PY005', null, 'a partly paid case cannot be set renewed, not even by the backend');
select tests.authenticate_as('admin');
select throws_ok($$update public.renewal_cases set stage = 'renewed' where id = tests.fixture('case_a')$$,
  'PY005', null, 'nor by an admin');
reset role;

-- The same payment again, by every other path, and a late failure report.
select tests.authenticate_as_service_role();
select results_eq(
  $$select p.outcome, p.credited from (values ('verify'), ('reconcile'), ('webhook')) v (via)
      cross join lateral private.apply_razorpay_payment(
        '{"id": "pay_T41P1", "order_id": "order_T41A2", "amount": 500000, "currency": "INR", "status": "captured"}', v.via) p$$,
  $$values ('already_credited', 0::bigint), ('already_credited', 0::bigint), ('already_credited', 0::bigint)$$,
  'checkout verification, reconciliation and a repeated webhook credit nothing more');
select results_eq(
  $$select outcome from private.apply_razorpay_payment(
      '{"id": "pay_T41P1", "order_id": "order_T41A2", "amount": 500000, "currency": "INR", "status": "failed", "error_code": "BAD_REQUEST_ERROR"}', 'webhook')$$,
  $$values ('already_credited')$$, 'a late payment.failed after capture changes nothing');
reset role;
select results_eq(
  $$select status, error_code from public.payments where razorpay_payment_id = 'pay_T41P1'$$,
  $$values ('captured'::public.payment_status, null::text)$$, 'the payment stays captured');
select is((select sum(a.amount) from public.payment_allocations a join public.payments p on p.id = a.payment_id
            where p.razorpay_payment_id = 'pay_T41P1'), 500000::numeric, 'and is allocated once');
select is((select count(*) from public.messages where idempotency_key = 'receipt:pay_T41P1'), 1::bigint,
  'one receipt is queued');
select results_eq(
  $$select channel::text, purpose::text, priority, body ~ '₹5,000' and body ~ 'pay_T41P1' from public.messages
     where idempotency_key = 'receipt:pay_T41P1'$$,
  $$values ('email', 'transactional', 0::smallint, true)$$, 'the receipt is a transactional email naming the amount and reference');

-- A payment authorised after its order expired: flagged, not credited, the customer told.
select tests.authenticate_as('agent_a');
insert into orders select 'expired', o.payment_order_id from private.open_payment_order(tests.fixture('case_a')) o;
reset role;
select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T41EXP', 'receipt', po.receipt, 'amount', po.amount))
  from public.payment_orders po join orders o on o.payment_order_id = po.id where o.label = 'expired';
update public.payment_orders set expires_at = now() - interval '5 minutes'
 where id = (select payment_order_id from orders where label = 'expired');
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, credited from private.apply_razorpay_payment(
      '{"id": "pay_T41EXP", "order_id": "order_T41EXP", "amount": 1300000, "currency": "INR", "status": "captured", "created_at": %s}', 'webhook')$$,
    extract(epoch from now())::bigint),
  $$values ('flagged', 0::bigint)$$, 'a payment authorised after its order expired is flagged');
reset role;
select results_eq(
  $$select review_reason, credited_at from public.payments where razorpay_payment_id = 'pay_T41EXP'$$,
  $$values ('order_expired', null::timestamptz)$$, 'for refund, not credited');
select is(public.case_outstanding(tests.fixture('case_a')), 1300000::bigint, 'the case still owes the same');
select results_eq(
  $$select count(*) filter (where idempotency_key = 'refund_due:pay_T41EXP'), count(*) filter (where idempotency_key = 'receipt:pay_T41EXP')
      from public.messages$$,
  $$values (1::bigint, 0::bigint)$$, 'the customer gets a refund-due message, no receipt');

-- The rest, through a new order for everything: case A renews, its reminder is cancelled.
select tests.authenticate_as('agent_a');
insert into orders select 'rest', o.payment_order_id from private.open_payment_order(tests.fixture('case_a'), null, 1300000) o;
reset role;
select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T41REST', 'receipt', po.receipt, 'amount', po.amount))
  from public.payment_orders po join orders o on o.payment_order_id = po.id where o.label = 'rest';
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_payment(
      '{"id": "pay_T41P2", "order_id": "order_T41REST", "amount": 1300000, "currency": "INR", "status": "captured"}', 'reconcile')$$,
  $$values ('credited', 1300000::bigint, 'renewed'::public.case_stage)$$, 'the rest settles the case, which renews');
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text, paid_at is not null from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 1200000::bigint, 'paid', true), (2::smallint, 600000::bigint, 'paid', true)$$,
  'both installments are paid in full');
select is((select status::text from public.policies where id = tests.fixture('policy_a')), 'renewed', 'and the policy is renewed');
select is((select status from public.payment_orders po join orders o on o.payment_order_id = po.id where o.label = 'rest'),
  'paid', 'the order is paid');
select results_eq(
  $$select idempotency_key, status::text from public.messages where idempotency_key like 't41:%' order by 1$$,
  $$values ('t41:notice:a', 'queued'), ('t41:reminder:a', 'cancelled'), ('t41:reminder:b', 'queued')$$,
  'the renewed case''s reminder is cancelled; its transactional message and other cases'' reminders are kept');
select is((select status::text from public.messages where idempotency_key = 'receipt:pay_T41P2'), 'queued',
  'the receipt of the payment that renewed the case is queued, not cancelled');

-- A duplicate payment for the settled case: flagged, never credited twice.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_payment(
      '{"id": "pay_T41DUP", "order_id": "order_T41REST", "amount": 1300000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('flagged', 0::bigint, 'renewed'::public.case_stage)$$, 'a second payment of the settled case''s order is flagged');
reset role;
select results_eq(
  $$select p.review_reason, p.credited_at, (select count(*) from public.payment_allocations a where a.payment_id = p.id),
           (select count(*) from public.messages m where m.idempotency_key = 'refund_due:pay_T41DUP')
      from public.payments p where p.razorpay_payment_id = 'pay_T41DUP'$$,
  $$values ('case_closed', null::timestamptz, 0::bigint, 1::bigint)$$,
  'not credited, nothing allocated, the customer told it will be refunded');
select is((select sum(amount) from public.payment_allocations where case_id = tests.fixture('case_a')), 1800000::numeric,
  'case A received exactly what it owed');

-- Case B: a partial payment through an installment link, the desk settling the rest offline,
-- then a link for the whole case paid with too much: oldest due first, the surplus kept.
update public.policies set product_line = 'life' where id = tests.fixture('policy_b');
create temporary table links (label text, payment_link_id uuid);
grant all on links to authenticated;
select tests.authenticate_as('agent_b');
insert into links select 'first', l.payment_link_id
  from private.open_payment_link(tests.fixture('case_b'), tests.fixture('installment_b'), true) l;
reset role;
select private.record_payment_link_created(pl.id, null, jsonb_build_object('id', 'plink_T41B1',
         'reference_id', pl.reference_id, 'amount', pl.amount, 'status', 'created', 'short_url', 'https://rzp.io/i/b1'))
  from public.payment_links pl join links l on l.payment_link_id = pl.id where l.label = 'first';
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited from private.apply_razorpay_payment(
      '{"id": "pay_T41B1", "order_id": "order_T41B1LINK", "amount": 300000, "currency": "INR", "status": "captured"}', 'webhook',
      '{"id": "plink_T41B1", "status": "partially_paid", "amount_paid": 300000}')$$,
  $$values ('credited', 300000::bigint)$$, 'a part paid through an installment link is credited');
reset role;
select results_eq(
  $$select status, amount_paid, razorpay_order_id from public.payment_links where razorpay_payment_link_id = 'plink_T41B1'$$,
  $$values ('partially_paid', 300000::bigint, 'order_T41B1LINK')$$, 'the link is partially paid and knows its order');
select is((select amount_paid from public.outstanding_amounts where id = tests.fixture('installment_b')), 300000::bigint,
  'the link''s installment holds the part');
select tests.authenticate_as('agent_b');
select lives_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'Cheque 41 for the rest'
     where id = tests.fixture('installment_b')$$,
  'the desk still settles a partly paid installment offline');
reset role;
select is(public.case_outstanding(tests.fixture('case_b')), 900000::bigint, 'the case owes its other two installments');
select tests.authenticate_as('agent_b');
insert into links select 'whole', l.payment_link_id from private.open_payment_link(tests.fixture('case_b')) l;
reset role;
select private.record_payment_link_created(pl.id, null, jsonb_build_object('id', 'plink_T41B2',
         'reference_id', pl.reference_id, 'amount', pl.amount, 'status', 'created', 'order_id', 'order_T41B2LINK'))
  from public.payment_links pl join links l on l.payment_link_id = pl.id where l.label = 'whole';
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_payment(
      '{"id": "pay_T41B2", "order_id": "order_T41B2LINK", "amount": 1300000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('credited', 900000::bigint, 'renewed'::public.case_stage)$$,
  'a payment on the link (found by its order) settles what is owed and renews the case');
reset role;
select results_eq(
  $$select o.installment_number, a.amount from public.payment_allocations a
      join public.outstanding_amounts o on o.id = a.outstanding_amount_id
      join public.payments p on p.id = a.payment_id
     where p.razorpay_payment_id = 'pay_T41B2' order by o.due_date$$,
  $$values (3::smallint, 400000::bigint), (2::smallint, 500000::bigint)$$,
  'oldest due first: installment 3 (due in 45 days) before installment 2 (due in 60)');
select results_eq(
  $$select review_reason, amount, credited_at is not null from public.payments where razorpay_payment_id = 'pay_T41B2'$$,
  $$values ('overpaid', 1300000::bigint, true)$$, 'the surplus of 4,000.00 is kept on the payment and flagged');
select results_eq(
  $$select status, amount_paid from public.payment_links where razorpay_payment_link_id = 'plink_T41B2'$$,
  $$values ('paid', 1300000::bigint)$$, 'the link is paid, showing all that was paid through it');
select is((select count(*) from public.messages where idempotency_key = 't41:reminder:b' and status = 'cancelled'), 1::bigint,
  'case B''s reminder is cancelled when it renews');

-- Refused input.
select tests.authenticate_as_service_role();
select throws_ok($$select * from private.apply_razorpay_payment('{"id": "pay_T41Z", "amount": -5, "status": "captured"}', 'webhook')$$,
  '22023', null, 'a malformed entity is refused');
select throws_ok($$select * from private.apply_razorpay_payment('{"id": "pay_T41Z", "amount": 5, "status": "captured"}', 'dashboard')$$,
  '22023', null, 'so is an unknown path');
select tests.authenticate_as('admin');
select throws_ok($$select * from private.apply_razorpay_payment('{"id": "pay_T41Z", "amount": 5, "status": "captured"}', 'webhook')$$,
  '42501', null, 'no desk user, admins included, credits a payment');
reset role;

select * from finish();
rollback;
