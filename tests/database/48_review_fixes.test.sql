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
select plan(14);
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
update public.app_settings set value = '"true"' where key = 'ENABLE_PAYMENT_LINKS';
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
select * from finish();
rollback;
