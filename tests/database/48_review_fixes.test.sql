-- The fixes of issue 8's adversarial review (findings 3, 4, 5, 7 and ENABLE_PAYMENT_LINKS):
--   * an order is handed out again only with a margin of its time left; a `creating` order or
--     link of another request (less than a minute old) is answered instead of a second one;
--   * each flag's refund-due message says why, in the customer's language, with the surplus or
--     what is still due;
--   * the pre-debit notice states the mandate's debit, and a debit that overpays gets its
--     refund-due message;
--   * a signed event the database cannot apply is stored kept_for_review, a good one still
--     applies;
--   * ENABLE_PAYMENT_LINKS not true refuses orders, links and autopay (PY013).
begin;
select plan(38);
select tests.create_test_book();

create temporary table opened (label text, payment_order_id uuid, razorpay_order_id text, status text,
                               reused boolean, call_id uuid);
grant all on opened to authenticated, service_role;

-- Finding 4: two requests for the same installments while the first is being created.
select tests.authenticate_as('agent_a');
insert into opened select 'first', o.payment_order_id, o.razorpay_order_id, o.status, o.reused, o.call_id
  from private.open_payment_order(tests.fixture('case_a')) o;
insert into opened select 'second', o.payment_order_id, o.razorpay_order_id, o.status, o.reused, o.call_id
  from private.open_payment_order(tests.fixture('case_a')) o;
reset role;
select results_eq(
  $$select b.payment_order_id = a.payment_order_id, b.reused, b.status, b.razorpay_order_id, b.call_id
      from opened a, opened b where a.label = 'first' and b.label = 'second'$$,
  $$values (true, true, 'creating', null::text, null::uuid)$$,
  'a second request while the order is being created gets that order, without a Razorpay id or a call to make');
select results_eq(
  $$select count(*), (select count(*) from private.razorpay_calls where operation = 'create_order')
      from public.payment_orders where case_id = tests.fixture('case_a')$$,
  $$values (1::bigint, 1::bigint)$$, 'one order, one journalled create call');

-- A `creating` row older than a minute is a crashed request: not offered, a new order instead.
update public.payment_orders set created_at = now() - interval '2 minutes'
 where id = (select payment_order_id from opened where label = 'first');
select tests.authenticate_as('agent_a');
insert into opened select 'after crash', o.payment_order_id, o.razorpay_order_id, o.status, o.reused, o.call_id
  from private.open_payment_order(tests.fixture('case_a')) o;
reset role;
select results_eq(
  $$select reused, call_id is not null, payment_order_id <> (select payment_order_id from opened where label = 'first')
      from opened where label = 'after crash'$$,
  $$values (false, true, true)$$, 'a creating order older than a minute is left to the reconciliation: a new order');

-- Finding 3: an order is handed out again only with at least 10 minutes (a third of 30) left.
select tests.authenticate_as_service_role();
select count(*) from (
  select private.record_order_created(o.payment_order_id, o.call_id,
           jsonb_build_object('id', 'order_T48M', 'receipt', po.receipt, 'amount', po.amount, 'status', 'created'))
    from opened o join public.payment_orders po on po.id = o.payment_order_id where o.label = 'after crash') x;
reset role;
update public.payment_orders set expires_at = now() + interval '11 minutes' where razorpay_order_id = 'order_T48M';
select tests.authenticate_as('agent_a');
select results_eq(
  $$select reused, razorpay_order_id from private.open_payment_order(tests.fixture('case_a'))$$,
  $$values (true, 'order_T48M')$$, 'an order with 11 minutes left is offered again');
reset role;
update public.payment_orders set expires_at = now() + interval '9 minutes' where razorpay_order_id = 'order_T48M';
select tests.authenticate_as('agent_a');
select results_eq(
  $$select reused, razorpay_order_id, call_id is not null from private.open_payment_order(tests.fixture('case_a'))$$,
  $$values (false, null::text, true)$$, 'one with 9 minutes left is not: a new order is opened');
reset role;

-- Links: the same for a link still being created; other terms are another link.
select tests.authenticate_as('agent_b');
create temporary table links as
select 'first'::text as label, l.payment_link_id, l.reused, l.status, l.short_url, l.call_id
  from private.open_payment_link(tests.fixture('case_b')) l;
insert into links select 'second', l.payment_link_id, l.reused, l.status, l.short_url, l.call_id
  from private.open_payment_link(tests.fixture('case_b')) l;
reset role;
select results_eq(
  $$select b.payment_link_id = a.payment_link_id, b.reused, b.status, b.short_url, b.call_id
      from links a, links b where a.label = 'first' and b.label = 'second'$$,
  $$values (true, true, 'creating', null::text, null::uuid)$$,
  'a second request while the link is being created gets that link, nothing to create');
select is((select count(*) from public.payment_links where case_id = tests.fixture('case_b')), 1::bigint,
  'one link for the case');
update public.payment_links set created_at = now() - interval '2 minutes'
 where id = (select payment_link_id from links where label = 'first');
select tests.authenticate_as('agent_b');
select results_eq(
  $$select reused, call_id is not null from private.open_payment_link(tests.fixture('case_b'))$$,
  $$values (false, true)$$, 'a creating link older than a minute is not reused: a new one');
reset role;

-- ENABLE_PAYMENT_LINKS: anything but true refuses orders, links and autopay, writing nothing.
update public.app_settings set value = 'false' where key = 'ENABLE_PAYMENT_LINKS';
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_b'))$$,
  'PY013', 'payments are switched off (ENABLE_PAYMENT_LINKS is not true): no Razorpay order, payment link or autopay is opened',
  'switched off, no order');
select throws_ok($$select * from private.open_payment_link(tests.fixture('case_b'))$$,
  'PY013', null, 'no payment link');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  'PY013', null, 'no autopay');
reset role;
-- (A string is refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked('{"ENABLE_PAYMENT_LINKS": "true"}');
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_payment_order(tests.fixture('case_b'))$$,
  'PY013', null, 'the string "true" is not true: it fails closed');
reset role;
select results_eq(
  $$select (select count(*) from public.payment_orders where case_id = tests.fixture('case_b')),
           (select count(*) from public.payment_links where case_id = tests.fixture('case_b')),
           (select count(*) from public.autopay_mandates where case_id = tests.fixture('case_b'))$$,
  $$values (0::bigint, 2::bigint, 0::bigint)$$, 'the refusals wrote nothing');
update public.app_settings set value = 'true' where key = 'ENABLE_PAYMENT_LINKS';
select tests.authenticate_as('agent_b');
select results_eq($$select reused, status from private.open_payment_order(tests.fixture('case_b'))$$,
  $$values (false, 'creating')$$, 'switched on again, an order is opened');
reset role;

-- Finding 3: each flag's refund-due message says why. Case A owes ₹12,000.
select is_empty($$select code, language from public.templates
                   where code like 'payment_refund_due%' and jsonb_array_length(lint -> 'errors') > 0$$,
  'every refund-due template passes its lint');
select results_eq(
  $$select count(*), count(distinct code) from public.templates
     where code like 'payment_refund_due_%' and channel = 'email' and active and language in ('en', 'hi')$$,
  $$values (10::bigint, 5::bigint)$$, 'one email template per reason, in English and Hindi');
create function pg_temp.refund_message(pay text) returns table (code text, language text, subject text, body text)
language sql as $$
  select t.code, t.language, m.subject, m.body from public.messages m join public.templates t on t.id = m.template_id
   where m.idempotency_key = 'refund_due:' || pay
$$;

-- order_expired: the customer learns the money comes back and that ₹12,000 is still due.
update public.payment_orders set expires_at = now() - interval '1 minute' where razorpay_order_id = 'order_T48M';
select tests.authenticate_as_service_role();
select results_eq(
  format($$select outcome, credited from private.apply_razorpay_payment(
      '{"id": "pay_T48EXP", "order_id": "order_T48M", "amount": 1200000, "currency": "INR", "status": "captured", "created_at": %s}', 'webhook')$$,
    extract(epoch from now())::bigint),
  $$values ('flagged', 0::bigint)$$, 'a payment after its order expired is flagged');
reset role;
select results_eq(
  $$select code, body ~ 'after the payment window of its order had closed', body ~ 'will refund it',
           body ~ '₹12,000 is still due', body ~ 'pay again with a new payment link', body ~ 'nothing was due'
      from pg_temp.refund_message('pay_T48EXP')$$,
  $$values ('payment_refund_due_order_expired', true, true, true, true, false)$$,
  'its message says it came after the window, will be refunded, and that ₹12,000 is still due: pay again');

-- currency_mismatch: the amount as paid, in its currency.
select tests.authenticate_as_service_role();
select count(*) from (
  select private.record_order_created(po.id, null,
           jsonb_build_object('id', 'order_T48A2', 'receipt', po.receipt, 'amount', po.amount, 'status', 'created'))
    from public.payment_orders po
   where po.case_id = tests.fixture('case_a') and po.status = 'creating' and po.created_at = now()) x;
select results_eq(
  $$select outcome from private.apply_razorpay_payment(
      '{"id": "pay_T48USD", "order_id": "order_T48A2", "amount": 14400, "currency": "USD", "status": "captured"}', 'webhook')$$,
  $$values ('flagged')$$, 'a payment in dollars is flagged');
reset role;
select results_eq(
  $$select code, body ~ 'USD 144.00', body ~ 'Indian rupees only', body ~ '₹12,000 is still due'
      from pg_temp.refund_message('pay_T48USD')$$,
  $$values ('payment_refund_due_currency_mismatch', true, true, true)$$,
  'its message names the dollars paid, says rupees only, and what is still due');

-- overpaid: credited with a receipt, and the surplus announced as a refund.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_payment(
      '{"id": "pay_T48OVER", "order_id": "order_T48A2", "amount": 1500000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('credited', 1200000::bigint, 'renewed'::public.case_stage)$$, '₹15,000 for ₹12,000 due settles the case');
reset role;
select results_eq(
  $$select code, subject ~ '₹3,000 more than was due', body ~ '₹15,000', body ~ 'refund the extra ₹3,000',
           (select count(*) from public.messages where idempotency_key = 'receipt:pay_T48OVER')
      from pg_temp.refund_message('pay_T48OVER')$$,
  $$values ('payment_refund_due_overpaid', true, true, true, 1::bigint)$$,
  'an overpayment gets its receipt and a refund-due message naming the ₹3,000 surplus');

-- case_closed, to a customer who reads Hindi.
update public.customers set language = 'hi' where id = tests.fixture('customer_b');
select tests.authenticate_as_service_role();
select count(*) from (
  select private.record_order_created(po.id, null,
           jsonb_build_object('id', 'order_T48B', 'receipt', po.receipt, 'amount', po.amount, 'status', 'created'))
    from public.payment_orders po where po.case_id = tests.fixture('case_b') and po.status = 'creating') x;
reset role;
select tests.authenticate_as('agent_b');
update public.renewal_cases set stage = 'lost', lost_reason = 'Went to another broker' where id = tests.fixture('case_b');
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.apply_razorpay_payment(
      '{"id": "pay_T48CLOSED", "order_id": "order_T48B", "amount": 1200000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('flagged')$$, 'a payment on a closed case is flagged');
reset role;
select results_eq(
  $$select code, language, body ~ 'पहले ही बंद हो चुका था', body ~ '₹12,000' from pg_temp.refund_message('pay_T48CLOSED')$$,
  $$values ('payment_refund_due_case_closed', 'hi', true, true)$$,
  'its message, in Hindi, says the case was already closed');

-- nothing_due; and an expired order's payment on a case owing nothing reads as nothing_due.
select private.queue_payment_message(jsonb_populate_record(p, '{"review_reason": "nothing_due"}'), 'payment_refund_due', 'refund_due:t48_nothing')
  from public.payments p where p.razorpay_payment_id = 'pay_TA';
select private.queue_payment_message(jsonb_populate_record(p, '{"review_reason": "order_expired"}'), 'payment_refund_due', 'refund_due:t48_late')
  from public.payments p where p.razorpay_payment_id = 'pay_TA';
select results_eq(
  $$select code, body ~ 'nothing was due on case', body ~ 'still due' from pg_temp.refund_message('t48_nothing')
    union all
    select code, body ~ 'nothing was due on case', body ~ 'still due' from pg_temp.refund_message('t48_late')$$,
  $$values ('payment_refund_due_nothing_due', true, false), ('payment_refund_due_nothing_due', true, false)$$,
  'nothing_due says nothing was due; so does a late payment when the case owes nothing (no "₹0 is still due")');

-- A reason whose template is switched off: the generic text, which claims no reason.
update public.templates set active = false where code = 'payment_refund_due_nothing_due';
select private.queue_payment_message(jsonb_populate_record(p, '{"review_reason": "nothing_due"}'), 'payment_refund_due', 'refund_due:t48_generic')
  from public.payments p where p.razorpay_payment_id = 'pay_TA';
select results_eq(
  $$select code, body ~ 'could not apply all of it', body ~ 'refund ₹12,000', body ~ 'nothing was due'
      from pg_temp.refund_message('t48_generic')$$,
  $$values ('payment_refund_due', true, true, false)$$,
  'without the reason''s template, the generic one: what is refunded, no claimed reason');
update public.templates set active = true where code = 'payment_refund_due_nothing_due';

-- Finding 5: the pre-debit notice states the debit. Case C, monthly, two installments of ₹1,000;
-- ₹400 paid on the second before autopay debits it.
with cu as (
  insert into public.customers (full_name, phone, email) values ('Customer C', '+919800000003', 'customer_c@tests.py360.test')
  returning id
), po as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium, sum_insured,
                               start_date, end_date, payment_frequency)
  select 'T-POL-C', 'health', 'Test Health', cu.id, tests.get_user_id('agent_a'), 200000, 50000000,
         current_date - 335, current_date + 30, 'monthly'
    from cu returning id, customer_id
), rc as (
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  select po.id, po.customer_id, tests.get_user_id('agent_a'), current_date + 30, current_date + 30 from po
  returning id
)
insert into tests.fixtures (name, id) select 'case_c', rc.id from rc;
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select tests.fixture('case_c'), n, current_date + 30 * n, 100000 from generate_series(1, 2) n;
insert into tests.fixtures (name, id)
select 'installment_c' || o.installment_number, o.id from public.outstanding_amounts o where o.case_id = tests.fixture('case_c');

create temporary table mandate (row jsonb);
grant all on mandate to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into mandate select to_jsonb(o) from private.open_autopay(tests.fixture('case_c')) o;
insert into opened select 'c2', o.payment_order_id, o.razorpay_order_id, o.status, o.reused, o.call_id
  from private.open_payment_order(tests.fixture('case_c'), array[tests.fixture('installment_c2')]) o;
select tests.authenticate_as_service_role();
select count(*) from (
  select private.record_plan_created((row ->> 'autopay_plan_id')::uuid, (row ->> 'plan_call_id')::uuid,
           '{"id": "plan_T48", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')
    from mandate where row ->> 'plan_call_id' is not null) x;
select count(*) from (
  select private.record_subscription_created((row ->> 'autopay_mandate_id')::uuid, (row ->> 'subscription_call_id')::uuid,
           '{"id": "sub_T48C", "plan_id": "plan_T48", "status": "active"}') from mandate) x;
select count(*) from (
  select private.record_order_created(o.payment_order_id, o.call_id,
           jsonb_build_object('id', 'order_T48C2', 'receipt', po.receipt, 'amount', po.amount, 'status', 'created'))
    from opened o join public.payment_orders po on po.id = o.payment_order_id where o.label = 'c2') x;
select results_eq(
  $$select outcome, credited from private.apply_razorpay_payment(
      '{"id": "pay_T48PART", "order_id": "order_T48C2", "amount": 40000, "currency": "INR", "status": "captured"}', 'webhook')$$,
  $$values ('credited', 40000::bigint)$$, '₹400 is paid on the second installment');
-- The first debit settles the first installment.
select results_eq(
  $$select outcome, credited from private.apply_razorpay_subscription_payment(
      '{"id": "pay_T48D1", "order_id": "order_T48INV1", "amount": 100000, "currency": "INR", "status": "captured"}',
      '{"id": "sub_T48C", "status": "active"}', 'webhook')$$,
  $$values ('credited', 100000::bigint)$$, 'the first debit pays the first installment');
select results_eq(
  format($$select outcome, outstanding_amount_id from private.schedule_autopay_notices(%L)$$,
         (((current_date + 60) + time '10:00') at time zone 'Asia/Kolkata') - interval '70 hours'),
  $$values ('notice_queued', tests.fixture('installment_c2'))$$, '70 hours ahead of the second debit, its notice is queued');
reset role;
select is((select amount from public.autopay_debit_notices where outstanding_amount_id = tests.fixture('installment_c2')),
  100000::bigint, 'logged for ₹1,000, the debit');
select results_eq(
  $$select subject ~ '₹1,000', body ~ '₹1,000 will be debited', body ~ '₹600'
      from public.messages where idempotency_key = format('pre_debit:%s:%s',
        (select row ->> 'autopay_mandate_id' from mandate), tests.fixture('installment_c2'))$$,
  $$values (true, true, false)$$, 'and says ₹1,000 will be debited, not the ₹600 left');

-- The debit overpays the last installment by ₹400: credited, receipt, and the surplus announced.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, credited, case_stage from private.apply_razorpay_subscription_payment(
      '{"id": "pay_T48D2", "order_id": "order_T48INV2", "amount": 100000, "currency": "INR", "status": "captured"}',
      '{"id": "sub_T48C", "status": "active"}', 'webhook')$$,
  $$values ('credited', 60000::bigint, 'renewed'::public.case_stage)$$, 'the second debit settles the case with ₹400 over');
reset role;
select results_eq(
  $$select p.review_reason, m.code, m.body ~ 'which is ₹400 more than was due', m.body ~ 'refund the extra ₹400',
           (select count(*) from public.messages where idempotency_key = 'receipt:pay_T48D2')
      from public.payments p cross join pg_temp.refund_message('pay_T48D2') m where p.razorpay_payment_id = 'pay_T48D2'$$,
  $$values ('overpaid', 'payment_refund_due_overpaid', true, true, 1::bigint)$$,
  'the debit is flagged overpaid: a receipt and a refund-due message for the ₹400');

-- Finding 7: a signed event the database cannot apply is stored, kept for review, not refused.
create function pg_temp.captured(event_id text, entity jsonb, kind text default 'payment.captured') returns text
language sql as $$
  select outcome from private.ingest_razorpay_event(event_id,
    jsonb_build_object('event', kind, 'created_at', extract(epoch from now())::bigint,
      'payload', jsonb_build_object(case when kind like 'refund.%' then 'refund' else 'payment' end,
                                    jsonb_build_object('entity', entity))), 'current')
$$;
grant execute on function pg_temp.captured(text, jsonb, text) to service_role;
select tests.authenticate_as_service_role();
select results_eq(
  $$select pg_temp.captured('evt_T48_ZERO', '{"id": "pay_T48ZERO", "order_id": "order_T48C2", "amount": 0, "currency": "INR", "status": "captured"}')
    union all
    select pg_temp.captured('evt_T48_WEIRD', '{"id": "rfnd_T48W", "payment_id": "pay_T48OVER", "amount": 100, "status": "weird"}', 'refund.processed')
    union all
    select pg_temp.captured('evt_T48_STRING', '"pay_T48STRING"')$$,
  $$values ('kept_for_review'), ('kept_for_review'), ('kept_for_review')$$,
  'a payment of amount 0, a refund with status "weird" and an entity that is not an object are kept for review');
select is(pg_temp.captured('evt_T48_GOOD', '{"id": "pay_T48GOOD", "order_id": "order_T48C2", "amount": 100000, "currency": "INR", "status": "authorized"}', 'payment.authorized'),
  'applied', 'a good event beside them still applies');
select is(pg_temp.captured('evt_T48_ZERO', '{"id": "pay_T48ZERO", "order_id": "order_T48C2", "amount": 0, "currency": "INR", "status": "captured"}'),
  'duplicate', 'a retry of a kept event is a duplicate (answered 200 again)');
reset role;
select results_eq(
  $$select event_id, status, note ~ '^could not be applied \(SQLSTATE 22023\): apply_razorpay_(payment|refund) needs', payload ? 'payload'
      from public.payment_events where event_id in ('evt_T48_ZERO', 'evt_T48_WEIRD', 'evt_T48_STRING') order by event_id$$,
  $$values ('evt_T48_STRING', 'kept_for_review', true, true), ('evt_T48_WEIRD', 'kept_for_review', true, true),
           ('evt_T48_ZERO', 'kept_for_review', true, true)$$,
  'each raw event is stored, kept_for_review, with the error in its note');
select results_eq(
  $$select (select count(*) from public.payments where razorpay_payment_id in ('pay_T48ZERO', 'pay_T48STRING')),
           (select count(*) from public.refunds where razorpay_refund_id = 'rfnd_T48W'),
           (select status::text from public.payments where razorpay_payment_id = 'pay_T48GOOD'),
           (select status from public.payment_events where event_id = 'evt_T48_GOOD')$$,
  $$values (0::bigint, 0::bigint, 'authorized', 'applied')$$,
  'the kept events wrote nothing else; the good one recorded its payment');
select * from finish();
rollback;
