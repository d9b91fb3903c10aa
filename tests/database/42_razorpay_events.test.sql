-- Razorpay webhooks through private.ingest_razorpay_event: stored once per X-Razorpay-Event-Id
-- and applied in the same transaction; a duplicate does nothing; an unseen event older than the
-- replay window is kept for review; payment.captured and order.paid for one payment credit it
-- once; a late payment.failed never downgrades; subscriptions wait for autopay.
begin;
select plan(29);
select tests.create_test_book();

-- Case A's order at Razorpay.
create temporary table opened (payment_order_id uuid);
grant all on opened to authenticated;
select tests.authenticate_as('agent_a');
insert into opened select o.payment_order_id from private.open_payment_order(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select o.payment_order_id from private.open_payment_order(tests.fixture('case_b')) o;
reset role;
select private.record_order_created(po.id, null, jsonb_build_object('id',
         case po.case_id when tests.fixture('case_a') then 'order_T42A' else 'order_T42B' end,
         'receipt', po.receipt, 'amount', po.amount))
  from public.payment_orders po join opened o on o.payment_order_id = po.id;

-- A Razorpay envelope around a payment (and, for order.paid, its order), created `age` ago.
create function pg_temp.event(kind text, payment_id text, status text, age interval default '1 minute')
returns jsonb language sql as $$
  select jsonb_build_object(
    'entity', 'event', 'account_id', 'acc_T42', 'event', kind,
    'contains', case when kind = 'order.paid' then '["payment", "order"]'::jsonb else '["payment"]'::jsonb end,
    'created_at', extract(epoch from now() - age)::bigint,
    'payload', jsonb_build_object(
      'payment', jsonb_build_object('entity', jsonb_build_object(
        'id', payment_id, 'entity', 'payment', 'amount', 1200000, 'currency', 'INR', 'status', status,
        'order_id', 'order_T42A', 'method', 'upi', 'captured', status = 'captured',
        'error_code', case when status = 'failed' then 'BAD_REQUEST_ERROR' end,
        'error_description', case when status = 'failed' then 'Payment failed' end)),
      'order', jsonb_build_object('entity', jsonb_build_object('id', 'order_T42A', 'status', 'paid'))))
$$;
grant execute on function pg_temp.event(text, text, text, interval) to service_role, authenticated;

select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, event_type from private.ingest_razorpay_event('evt_T42_1', pg_temp.event('payment.captured', 'pay_T42A', 'captured'), 'current')$$,
  $$values ('applied', 'payment.captured')$$, 'payment.captured is stored and applied');
select results_eq(
  $$select outcome, event_type from private.ingest_razorpay_event('evt_T42_1', pg_temp.event('payment.captured', 'pay_T42A', 'captured'), 'current')$$,
  $$values ('duplicate', 'payment.captured')$$, 'the same event id again is a duplicate');
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_2', pg_temp.event('order.paid', 'pay_T42A', 'captured'), 'previous')$$,
  $$values ('applied')$$, 'order.paid for the same payment is applied too');
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_3', pg_temp.event('payment.failed', 'pay_T42A', 'failed'), 'current')$$,
  $$values ('applied')$$, 'and so is a late payment.failed');
reset role;
select results_eq(
  $$select event_id, status, note, signed_with, processed_at is not null from public.payment_events
     where event_id like 'evt_T42_%' order by event_id$$,
  $$values ('evt_T42_1', 'applied', 'credited', 'current', true),
           ('evt_T42_2', 'applied', 'already_credited', 'previous', true),
           ('evt_T42_3', 'applied', 'already_credited', 'current', true)$$,
  'each event is stored once with what it did and the secret that signed it');
select results_eq(
  $$select count(*), min(status::text), min(error_code) from public.payments where razorpay_payment_id = 'pay_T42A'$$,
  $$values (1::bigint, 'captured', null::text)$$, 'one payment, still captured after the late failure');
select is((select sum(a.amount) from public.payment_allocations a join public.payments p on p.id = a.payment_id
            where p.razorpay_payment_id = 'pay_T42A'), 1200000::numeric, 'credited once');
select is((select count(*) from public.messages where idempotency_key = 'receipt:pay_T42A'), 1::bigint, 'one receipt');
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_a')), 'renewed', 'one renewal');
select is((select payload from public.payment_events where event_id = 'evt_T42_1'),
  pg_temp.event('payment.captured', 'pay_T42A', 'captured') - 'created_at'
    || jsonb_build_object('created_at', (select payload -> 'created_at' from public.payment_events where event_id = 'evt_T42_1')),
  'the raw event is kept');

-- Older than the replay window: kept, not applied.
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_OLD',
      pg_temp.event('payment.captured', 'pay_T42OLD', 'captured', interval '8 days'), 'current')$$,
  $$values ('kept_for_review')$$, 'an unseen event older than 7 days is kept for review');
reset role;
select is((select count(*) from public.payments where razorpay_payment_id = 'pay_T42OLD'), 0::bigint, 'and not applied');
select is((select status from public.payment_events where event_id = 'evt_T42_OLD'), 'kept_for_review', 'it is stored for review');
update public.app_settings set value = '"30 days"' where key = 'RAZORPAY_WEBHOOK_REPLAY_WINDOW';
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_OLD2',
      pg_temp.event('payment.failed', 'pay_T42OLD', 'failed', interval '8 days'), 'current')$$,
  $$values ('applied')$$, 'the window is a setting');

-- Others: unmatched, subscriptions, links, refunds of unknown payments.
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_4',
      jsonb_set(pg_temp.event('payment.captured', 'pay_T42X', 'captured'), '{payload,payment,entity,order_id}', '"order_ELSEWHERE"'), 'current')$$,
  $$values ('unmatched')$$, 'a payment of no order of ours is unmatched');
select results_eq(
  $$select outcome, event_type from private.ingest_razorpay_event('evt_T42_5',
      jsonb_build_object('event', 'subscription.charged', 'created_at', extract(epoch from now())::bigint, 'payload', '{}'::jsonb), 'current')$$,
  $$values ('ignored', 'subscription.charged')$$, 'subscriptions are stored and ignored until autopay');
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_6',
      jsonb_build_object('event', 'refund.processed', 'created_at', extract(epoch from now())::bigint,
        'payload', jsonb_build_object('refund', jsonb_build_object('entity',
          '{"id": "rfnd_T42X", "payment_id": "pay_T42NOPE", "amount": 100, "status": "processed"}'::jsonb))), 'current')$$,
  $$values ('unmatched')$$, 'a refund of a payment not ours is unmatched');
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_7',
      jsonb_build_object('event', 'payment.downtime.started', 'created_at', extract(epoch from now())::bigint, 'payload', '{}'::jsonb), 'current')$$,
  $$values ('ignored')$$, 'an event we do not act on is ignored');
reset role;
select results_eq(
  $$select event_id, status from public.payment_events where event_id in ('evt_T42_4', 'evt_T42_5', 'evt_T42_6', 'evt_T42_7') order by 1$$,
  $$values ('evt_T42_4', 'unmatched'), ('evt_T42_5', 'ignored'), ('evt_T42_6', 'unmatched'), ('evt_T42_7', 'ignored')$$,
  'each is stored with its fate');
select is((select count(*) from public.payments where razorpay_payment_id = 'pay_T42X'), 0::bigint,
  'an unmatched payment writes no payment');

-- payment_link.expired.
update public.policies set product_line = 'life' where id = tests.fixture('policy_b');
select tests.authenticate_as('agent_b');
select count(*) from private.open_payment_link(tests.fixture('case_b'));
reset role;
select private.record_payment_link_created(pl.id, null, jsonb_build_object('id', 'plink_T42B', 'reference_id', pl.reference_id,
         'amount', pl.amount, 'status', 'created'))
  from public.payment_links pl where pl.case_id = tests.fixture('case_b');
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_8',
      jsonb_build_object('event', 'payment_link.expired', 'created_at', extract(epoch from now())::bigint,
        'payload', jsonb_build_object('payment_link', jsonb_build_object('entity', jsonb_build_object(
          'id', 'plink_T42B', 'reference_id', (select reference_id from public.payment_links where razorpay_payment_link_id = 'plink_T42B'),
          'amount', 1200000, 'status', 'expired')))), 'current')$$,
  $$values ('applied')$$, 'payment_link.expired is applied');
reset role;
select is((select status from public.payment_links where razorpay_payment_link_id = 'plink_T42B'), 'expired', 'the link is expired');

-- payment_link.paid: the payment webhook of a link, credited through the link.
select tests.authenticate_as('agent_b');
select count(*) from private.open_payment_link(tests.fixture('case_b'));
reset role;
select private.record_payment_link_created(pl.id, null, jsonb_build_object('id', 'plink_T42C', 'reference_id', pl.reference_id,
         'amount', pl.amount, 'status', 'created'))
  from public.payment_links pl where pl.case_id = tests.fixture('case_b') and pl.status = 'creating';
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_11',
      jsonb_build_object('event', 'payment_link.paid', 'created_at', extract(epoch from now())::bigint,
        'payload', jsonb_build_object(
          'payment_link', jsonb_build_object('entity', jsonb_build_object('id', 'plink_T42C', 'status', 'paid',
            'amount', 1200000, 'amount_paid', 1200000, 'order_id', 'order_T42CL')),
          'payment', jsonb_build_object('entity', jsonb_build_object('id', 'pay_T42C', 'amount', 1200000,
            'currency', 'INR', 'status', 'captured', 'order_id', 'order_T42CL', 'method', 'upi')))), 'current')$$,
  $$values ('applied')$$, 'payment_link.paid is applied');
reset role;
select results_eq(
  $$select l.status, l.amount_paid, l.razorpay_order_id, c.stage::text
      from public.payment_links l join public.renewal_cases c on c.id = l.case_id where l.razorpay_payment_link_id = 'plink_T42C'$$,
  $$values ('paid', 1200000::bigint, 'order_T42CL', 'renewed')$$,
  'the link is paid, knows its order, and its case renews');

-- A payment recorded by a checkout verification against case A's order, which Razorpay says
-- paid case B's: it goes to case B (flagged there, as case B renewed meanwhile), not case A.
select tests.authenticate_as('agent_a');
select count(*) from private.record_checkout_verification(tests.fixture('case_a'), 'order_T42A', 'pay_T42MIS');
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome from private.ingest_razorpay_event('evt_T42_12',
      jsonb_set(jsonb_set(pg_temp.event('payment.captured', 'pay_T42MIS', 'captured'),
        '{payload,payment,entity,order_id}', '"order_T42B"'), '{payload,payment,entity,amount}', '500'), 'current')$$,
  $$values ('applied')$$, 'the capture of a payment recorded against another order is applied');
reset role;
select results_eq(
  $$select p.case_id = tests.fixture('case_b'), po.razorpay_order_id, p.razorpay_order_id, p.review_reason, p.credited_at
      from public.payments p join public.payment_orders po on po.id = p.payment_order_id
     where p.razorpay_payment_id = 'pay_T42MIS'$$,
  $$values (true, 'order_T42B', 'order_T42B', 'case_closed', null::timestamptz)$$,
  'to the order and case Razorpay names');

-- Refused input and callers.
select tests.authenticate_as_service_role();
select throws_ok($$select * from private.ingest_razorpay_event('evt_T42_9', pg_temp.event('payment.captured', 'pay_T42A', 'captured'), 'forged')$$,
  '22023', null, 'the signing secret is current or previous');
select throws_ok($$select * from private.ingest_razorpay_event('', '{"event": "payment.captured"}', 'current')$$,
  '22023', null, 'an event needs its id');
select tests.authenticate_as('admin');
select throws_ok($$select * from private.ingest_razorpay_event('evt_T42_10', '{"event": "payment.captured"}', 'current')$$,
  '42501', null, 'the desk cannot post webhooks');
reset role;

select * from finish();
rollback;
