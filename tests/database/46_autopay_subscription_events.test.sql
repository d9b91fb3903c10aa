-- Subscription webhooks through private.ingest_razorpay_event: the mandate follows Razorpay
-- (authenticated, activated; a late or older event changes nothing; final states stay final);
-- subscription.charged credits the debit once through the one allocation (duplicated, repeated
-- under another event id, and racing payment.captured for the same payment), settling the
-- installment due, oldest first, and renewing the case at the last; a debit after that is flagged
-- for refund. A failed debit (pending, halted) falls back to a payment link: claimed by the
-- reconciliation, opened as service_role, its reminder carrying {{payment_link}} queued once.
begin;
select plan(47);
select tests.create_test_book();

-- Cases A and B: monthly policies, installments of ₹1,000 a month apart (A three, B two).
update public.policies set payment_frequency = 'monthly' where id in (tests.fixture('policy_a'), tests.fixture('policy_b'));
update public.outstanding_amounts set amount = 100000 where id in (tests.fixture('installment_a'), tests.fixture('installment_b'));
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 100000),
       (tests.fixture('case_a'), 3, current_date + 90, 100000),
       (tests.fixture('case_b'), 2, current_date + 60, 100000);
insert into tests.fixtures (name, id)
select 'installment_' || case o.case_id when tests.fixture('case_a') then 'a' else 'b' end || o.installment_number, o.id
  from public.outstanding_amounts o where o.case_id in (tests.fixture('case_a'), tests.fixture('case_b'));

-- Both mandates opened by their agents and created at Razorpay (sub_T46A, sub_T46B).
create temporary table opened (side text, row jsonb);
grant all on opened to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into opened select 'a', to_jsonb(o) from private.open_autopay(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select 'b', to_jsonb(o) from private.open_autopay(tests.fixture('case_b')) o;
select tests.authenticate_as_service_role();
select private.record_plan_created((row ->> 'autopay_plan_id')::uuid, (row ->> 'plan_call_id')::uuid,
         '{"id": "plan_T46E", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')
  from opened where side = 'a';
select private.record_subscription_created((row ->> 'autopay_mandate_id')::uuid, (row ->> 'subscription_call_id')::uuid,
         jsonb_build_object('id', 'sub_T46' || upper(side), 'plan_id', 'plan_T46E', 'status', 'created',
                            'short_url', 'https://rzp.io/i/T46' || upper(side)))
  from opened;
reset role;
insert into tests.fixtures (name, id) select 'mandate_' || side, (row ->> 'autopay_mandate_id')::uuid from opened;

-- A subscription event: the entity (id, status, extra fields), its age, and the debit if any.
create function pg_temp.event(kind text, sub text, status text, age interval default '0',
                              extra jsonb default '{}', payment jsonb default null) returns jsonb
language sql as $$
  select jsonb_build_object('event', kind, 'created_at', extract(epoch from now() - age)::bigint,
    'payload', jsonb_strip_nulls(jsonb_build_object(
      'subscription', jsonb_build_object('entity', jsonb_build_object('id', sub, 'status', status,
                                                                      'plan_id', 'plan_T46E') || extra),
      'payment', case when payment is not null then jsonb_build_object('entity', payment) end)))
$$;
create function pg_temp.debit(pay text, invoice_order text) returns jsonb
language sql as $$
  select jsonb_build_object('id', pay, 'order_id', invoice_order, 'invoice_id', 'inv_' || pay, 'amount', 100000,
                            'currency', 'INR', 'status', 'captured', 'method', 'emandate',
                            'created_at', extract(epoch from now())::bigint)
$$;
create function pg_temp.ingest(event_id text, body jsonb) returns text
language sql as $$
  select outcome from private.ingest_razorpay_event(event_id, body, 'current')
$$;
create function pg_temp.mandate_status(side text) returns text
language sql as $$ select status from public.autopay_mandates where id = tests.fixture('mandate_' || side) $$;

grant execute on function pg_temp.event(text, text, text, interval, jsonb, jsonb), pg_temp.debit(text, text),
  pg_temp.ingest(text, jsonb), pg_temp.mandate_status(text) to authenticated, service_role;

-- The customer authorises; Razorpay activates.
select tests.authenticate_as_service_role();
select is(pg_temp.ingest('evt_T46_1', pg_temp.event('subscription.authenticated', 'sub_T46A', 'authenticated', interval '50 minutes')),
  'applied', 'subscription.authenticated is applied');
reset role;
select is(pg_temp.mandate_status('a'), 'authenticated', 'the mandate is authenticated');
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_2', pg_temp.event('subscription.activated', 'sub_T46A', 'active', interval '40 minutes'));
select is(pg_temp.ingest('evt_T46_3', pg_temp.event('subscription.authenticated', 'sub_T46A', 'authenticated', interval '1 minute')),
  'applied', 'a late subscription.authenticated is stored and applied');
select pg_temp.ingest('evt_T46_4', pg_temp.event('subscription.paused', 'sub_T46A', 'paused', interval '45 minutes'));
reset role;
select is(pg_temp.mandate_status('a'), 'active', 'but neither it nor an event older than the activation undoes active');

-- The first debit: credited once, to the installment due.
select tests.authenticate_as_service_role();
select is(pg_temp.ingest('evt_T46_C1', pg_temp.event('subscription.charged', 'sub_T46A', 'active', interval '30 minutes',
    jsonb_build_object('paid_count', 1, 'charge_at', extract(epoch from now() + interval '30 days')::bigint),
    pg_temp.debit('pay_T46C1', 'order_T46INV1'))), 'applied', 'subscription.charged is applied');
reset role;
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 100000::bigint, 'paid'), (2::smallint, 0::bigint, 'pending'), (3::smallint, 0::bigint, 'pending')$$,
  'the installment due is paid');
select results_eq(
  $$select status::text, credited_via, autopay_mandate_id, case_id, method, review_reason from public.payments
     where razorpay_payment_id = 'pay_T46C1'$$,
  $$values ('captured', 'webhook', tests.fixture('mandate_a'), tests.fixture('case_a'), 'emandate', null::text)$$,
  'the debit is a captured payment of the case, credited by the webhook, tied to the mandate');
select results_eq(
  $$select paid_count, charge_at > now() + interval '29 days' from public.autopay_mandates where id = tests.fixture('mandate_a')$$,
  $$values (1, true)$$, 'the mandate counts the debit and knows the next one');
select is((select note from public.payment_events where event_id = 'evt_T46_C1'), 'credited, mandate active',
  'the event says what it did');

-- The same debit again: as a duplicate, under another event id, and as payment.captured.
select tests.authenticate_as_service_role();
select is(pg_temp.ingest('evt_T46_C1', pg_temp.event('subscription.charged', 'sub_T46A', 'active', interval '30 minutes',
    '{}', pg_temp.debit('pay_T46C1', 'order_T46INV1'))), 'duplicate', 'a repeated delivery is a duplicate');
select is(pg_temp.ingest('evt_T46_C1b', pg_temp.event('subscription.charged', 'sub_T46A', 'active', interval '29 minutes',
    '{}', pg_temp.debit('pay_T46C1', 'order_T46INV1'))), 'applied', 'the same debit under another event id is applied');
select is(pg_temp.ingest('evt_T46_C1c', jsonb_build_object('event', 'payment.captured',
    'created_at', extract(epoch from now())::bigint,
    'payload', jsonb_build_object('payment', jsonb_build_object('entity', pg_temp.debit('pay_T46C1', 'order_T46INV1'))))),
  'applied', 'payment.captured for the debit is applied');
reset role;
select results_eq(
  $$select note from public.payment_events where event_id in ('evt_T46_C1b', 'evt_T46_C1c') order by event_id$$,
  $$values ('already_credited, mandate active'), ('already_credited')$$, 'and both found it already credited');
select is((select sum(a.amount) from public.payment_allocations a join public.payments p on p.id = a.payment_id
            where p.razorpay_payment_id = 'pay_T46C1'), 100000::numeric, 'it is allocated once');
select is((select count(*) from public.messages where idempotency_key = 'receipt:pay_T46C1'), 1::bigint,
  'and one receipt is queued');

-- The race the other way: payment.captured first knows no order of ours, writes nothing; the
-- subscription.charged then credits it, once.
select tests.authenticate_as_service_role();
select is(pg_temp.ingest('evt_T46_C2a', jsonb_build_object('event', 'payment.captured',
    'created_at', extract(epoch from now())::bigint,
    'payload', jsonb_build_object('payment', jsonb_build_object('entity', pg_temp.debit('pay_T46C2', 'order_T46INV2'))))),
  'unmatched', 'payment.captured before subscription.charged is unmatched');
reset role;
select is((select count(*) from public.payments where razorpay_payment_id = 'pay_T46C2'), 0::bigint, 'and writes no payment');
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_C2', pg_temp.event('subscription.charged', 'sub_T46A', 'active', interval '20 minutes',
    jsonb_build_object('paid_count', 2), pg_temp.debit('pay_T46C2', 'order_T46INV2')));
select pg_temp.ingest('evt_T46_C2c', jsonb_build_object('event', 'payment.captured',
    'created_at', extract(epoch from now())::bigint,
    'payload', jsonb_build_object('payment', jsonb_build_object('entity', pg_temp.debit('pay_T46C2', 'order_T46INV2')))));
reset role;
select results_eq(
  $$select installment_number, amount_paid from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 100000::bigint), (2::smallint, 100000::bigint), (3::smallint, 0::bigint)$$,
  'the second debit pays the second installment, once');
select is((select count(*) from public.payment_allocations a join public.payments p on p.id = a.payment_id
            where p.razorpay_payment_id = 'pay_T46C2'), 1::bigint, 'with one allocation');

-- The third debit fails: Razorpay retries (pending); the installment falls back to a link.
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_P', pg_temp.event('subscription.pending', 'sub_T46A', 'pending', interval '10 minutes'));
reset role;
select results_eq(
  $$select status, fallback_installment_id from public.autopay_mandates where id = tests.fixture('mandate_a')$$,
  $$values ('pending', tests.fixture('installment_a3'))$$, 'subscription.pending: the mandate is pending, its installment due marked for a link');
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, subject_id, razorpay_id, lookup_key from private.claim_payment_reconciliation(50, now())
     where kind like 'autopay%'$$,
  $$values ('autopay_link_fallback', tests.fixture('mandate_a'), 'sub_T46A', tests.fixture('installment_a3')::text)$$,
  'the reconciliation claims the fallback: the mandate, its subscription and the installment');
create temporary table fallback on commit drop as
select * from private.open_autopay_fallback_link(tests.fixture('mandate_a'));
select results_eq(
  $$select amount, accepts_partial, reused, call_id is not null, status, policy_number from fallback$$,
  $$values (100000::bigint, false, false, true, 'creating', 'T-POL-A')$$,
  'service_role opens a link for the installment, its create call journalled');
select results_eq(
  $$select payment_link_id, call_id from private.open_autopay_fallback_link(tests.fixture('mandate_a'))$$,
  $$select payment_link_id, null::uuid from fallback$$, 'asked again (a runner''s retry), the same link and no second call');
select throws_ok($$select private.queue_payment_link_reminder((select payment_link_id from fallback))$$,
  '22023', null, 'a link not yet created at Razorpay is not sent');
select private.record_payment_link_created(f.payment_link_id, f.call_id, jsonb_build_object(
         'id', 'plink_T46F', 'reference_id', f.reference_id, 'amount', f.amount, 'status', 'created',
         'short_url', 'https://rzp.io/i/T46F'))
  from fallback f;
select isnt(private.queue_payment_link_reminder((select payment_link_id from fallback)), null,
  'the reminder is queued once the link exists');
select isnt(private.queue_payment_link_reminder((select payment_link_id from fallback)), null, 'and asked again');
reset role;
select results_eq(
  $$select m.channel::text, m.purpose::text, m.status::text,
           strpos(m.body, m.variables ->> 'payment_link') > 0 and m.body ~ '₹1,000',
           (select tl.target_url from public.tracked_links tl
             where m.variables ->> 'payment_link' like '%/' || tl.code), t.code
      from public.messages m join public.templates t on t.id = m.template_id
     where m.idempotency_key = 'link_reminder:' || (select payment_link_id from fallback)$$,
  $$values ('email', 'service', 'queued', true, 'https://rzp.io/i/T46F', 'payment_link_reminder')$$,
  'one payment_link_reminder carries the link (our tracked redirect to it) and the amount');
select results_eq(
  $$select fallback_link_id = (select payment_link_id from fallback), fallback_reminded_at is not null
      from public.autopay_mandates where id = tests.fixture('mandate_a')$$,
  $$values (true, true)$$, 'the mandate remembers its link, reminded');
select tests.authenticate_as_service_role();
select is_empty($$select * from private.claim_payment_reconciliation(50, now() + interval '1 hour') where kind = 'autopay_link_fallback'$$,
  'a reminded fallback is not claimed again');
reset role;

-- Case B: halted straight after activation; its installment due falls back too.
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_B1', pg_temp.event('subscription.activated', 'sub_T46B', 'active', interval '5 minutes'));
select pg_temp.ingest('evt_T46_B2', pg_temp.event('subscription.halted', 'sub_T46B', 'halted', interval '4 minutes'));
reset role;
select is(pg_temp.mandate_status('b'), 'halted', 'subscription.halted: the mandate is halted');
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, subject_id, lookup_key from private.claim_payment_reconciliation(50, now() + interval '2 hours')
     where kind = 'autopay_link_fallback'$$,
  $$values ('autopay_link_fallback', tests.fixture('mandate_b'), tests.fixture('installment_b1')::text)$$,
  'a halted subscription''s installment due is claimed for a link');
reset role;

-- Razorpay retries A's third debit and it goes through: the last installment, the case renews.
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_C3', pg_temp.event('subscription.charged', 'sub_T46A', 'active', interval '3 minutes',
    jsonb_build_object('paid_count', 3), pg_temp.debit('pay_T46C3', 'order_T46INV3')));
reset role;
select results_eq(
  $$select stage::text, public.case_outstanding(id) from public.renewal_cases where id = tests.fixture('case_a')$$,
  $$values ('renewed', 0::bigint)$$, 'the last debit settles the case: it renews');
select is(pg_temp.mandate_status('a'), 'active', 'the retried debit activates the mandate again');
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_D', pg_temp.event('subscription.completed', 'sub_T46A', 'completed', interval '2 minutes'));
select pg_temp.ingest('evt_T46_E', pg_temp.event('subscription.activated', 'sub_T46A', 'active', interval '1 minute'));
select pg_temp.ingest('evt_T46_F', pg_temp.event('subscription.cancelled', 'sub_T46A', 'cancelled'));
reset role;
select results_eq(
  $$select status, reconcile_after from public.autopay_mandates where id = tests.fixture('mandate_a')$$,
  $$values ('completed', null::timestamptz)$$,
  'completed is final: a late activated or cancelled changes nothing, and nothing is looked up any more');
select tests.authenticate_as_service_role();
select is_empty($$select * from private.claim_payment_reconciliation(50, now() + interval '3 hours')
                   where subject_id = tests.fixture('mandate_a')$$,
  'a renewed case''s completed subscription is neither cancelled nor looked up');
reset role;

-- A debit after the case renewed is flagged for refund, never credited twice.
select tests.authenticate_as_service_role();
select pg_temp.ingest('evt_T46_C4', pg_temp.event('subscription.charged', 'sub_T46A', 'completed', '0', '{}',
    pg_temp.debit('pay_T46C4', 'order_T46INV4')));
reset role;
select results_eq(
  $$select credited_at, review_reason, autopay_mandate_id from public.payments where razorpay_payment_id = 'pay_T46C4'$$,
  $$values (null::timestamptz, 'case_closed', tests.fixture('mandate_a'))$$, 'a debit on a renewed case is flagged, not credited');
select is((select count(*) from public.messages where idempotency_key = 'refund_due:pay_T46C4'), 1::bigint,
  'and the customer is told it will be refunded');
select is((select sum(amount_paid) from public.outstanding_amounts where case_id = tests.fixture('case_a')), 300000::numeric,
  'the installments hold exactly the three debits');
select is((select count(*) from public.payments where autopay_mandate_id = tests.fixture('mandate_a')), 4::bigint,
  'four debits are recorded against the mandate');
select is((select count(*) from public.messages where idempotency_key like 'receipt:pay_T46C%'), 3::bigint,
  'three receipts, one per credited debit');

-- Events about nothing of ours, or without their subscription.
select tests.authenticate_as_service_role();
select is(pg_temp.ingest('evt_T46_X', pg_temp.event('subscription.activated', 'sub_T46NOPE', 'active')), 'unmatched',
  'an event of a subscription not ours is unmatched');
select is(pg_temp.ingest('evt_T46_Y', jsonb_build_object('event', 'subscription.halted', 'created_at', extract(epoch from now())::bigint,
    'payload', '{}'::jsonb)), 'ignored', 'one without its subscription entity is ignored');
select is(pg_temp.ingest('evt_T46_Z', pg_temp.event('subscription.charged', 'sub_T46NOPE', 'active', '0', '{}',
    pg_temp.debit('pay_T46NOPE', 'order_T46NOPE'))), 'unmatched', 'a debit of a subscription not ours is unmatched');
reset role;
select is((select count(*) from public.payments where razorpay_payment_id = 'pay_T46NOPE'), 0::bigint, 'and writes no payment');
select results_eq(
  $$select status, note from public.payment_events where event_id in ('evt_T46_X', 'evt_T46_Y') order by event_id$$,
  $$values ('unmatched', 'no autopay mandate of ours'), ('ignored', 'no subscription entity in the payload')$$,
  'the events say why');

-- The desk reads the mandate with its case, the other agent does not.
select tests.authenticate_as('agent_b');
select is((select count(*) from public.autopay_mandates where case_id = tests.fixture('case_a')), 0::bigint,
  'agent B does not see case A''s mandate');
select tests.authenticate_as('agent_a');
select is((select count(*) from public.payments where autopay_mandate_id = tests.fixture('mandate_a')), 4::bigint,
  'agent A sees its debits');
reset role;

select * from finish();
rollback;
