-- The reconciliation poll of a live mandate when every webhook was lost: a debit the poll finds
-- (a paid invoice's payment) is credited through apply_razorpay_subscription_payment via
-- reconcile, once, and its late webhooks find it already credited; a subscription the poll finds
-- pending or halted marks the installment due for a payment-link fallback by the rule the
-- webhooks use (record_subscription_created, call_id null), claimed by the reconciliation; a
-- poll that finds the state a webhook already recorded asks for nothing more; final states stay.
begin;
select plan(22);
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

-- Both mandates opened by their agents and created at Razorpay (sub_T46PA, sub_T46PB).
create temporary table opened (side text, row jsonb);
grant all on opened to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into opened select 'a', to_jsonb(o) from private.open_autopay(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select 'b', to_jsonb(o) from private.open_autopay(tests.fixture('case_b')) o;
select tests.authenticate_as_service_role();
select private.record_plan_created((row ->> 'autopay_plan_id')::uuid, (row ->> 'plan_call_id')::uuid,
         '{"id": "plan_T46P", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')
  from opened where side = 'a';
select private.record_subscription_created((row ->> 'autopay_mandate_id')::uuid, (row ->> 'subscription_call_id')::uuid,
         jsonb_build_object('id', 'sub_T46P' || upper(side), 'plan_id', 'plan_T46P', 'status', 'created',
                            'short_url', 'https://rzp.io/i/T46P' || upper(side)))
  from opened;
reset role;
insert into tests.fixtures (name, id) select 'mandate_' || side, (row ->> 'autopay_mandate_id')::uuid from opened;

-- The subscription as a poll fetches it; a debit (captured payment of an invoice's order).
create function pg_temp.sub(side text, status text, paid integer default 0) returns jsonb
language sql as $$
  select jsonb_build_object('id', 'sub_T46P' || upper(side), 'entity', 'subscription', 'plan_id', 'plan_T46P',
                            'status', status, 'paid_count', paid, 'total_count', 3,
                            'notes', jsonb_build_object('autopay_id', tests.fixture('mandate_' || side)))
$$;
create function pg_temp.poll(side text, status text, paid integer default 0) returns text
language sql as $$
  select (private.record_subscription_created(tests.fixture('mandate_' || side), null,
                                              pg_temp.sub(side, status, paid))).status
$$;
create function pg_temp.debit(pay text, invoice_order text) returns jsonb
language sql as $$
  select jsonb_build_object('id', pay, 'entity', 'payment', 'order_id', invoice_order, 'invoice_id', 'inv_' || pay,
                            'amount', 100000, 'currency', 'INR', 'status', 'captured', 'method', 'upi',
                            'created_at', extract(epoch from now())::bigint)
$$;
create function pg_temp.ingest(event_id text, kind text, sub jsonb, payment jsonb default null) returns text
language sql as $$
  select outcome from private.ingest_razorpay_event(event_id, jsonb_build_object(
    'event', kind, 'created_at', extract(epoch from now())::bigint,
    'payload', jsonb_strip_nulls(jsonb_build_object(
      'subscription', jsonb_build_object('entity', sub),
      'payment', case when payment is not null then jsonb_build_object('entity', payment) end))), 'current')
$$;
create function pg_temp.fallback(side text) returns table (status text, installment uuid, link uuid)
language sql as $$
  select m.status, m.fallback_installment_id, m.fallback_link_id
    from public.autopay_mandates m where m.id = tests.fixture('mandate_' || side)
$$;
grant execute on function pg_temp.sub(text, text, integer), pg_temp.poll(text, text, integer),
  pg_temp.debit(text, text), pg_temp.ingest(text, text, jsonb, jsonb), pg_temp.fallback(text)
  to authenticated, service_role;

-- A: authorised and debiting; every webhook lost. A poll of a live subscription asks for nothing.
select tests.authenticate_as_service_role();
select is(pg_temp.poll('a', 'authenticated') || ' ' || pg_temp.poll('a', 'active'), 'authenticated active',
  'polls move the mandate through authenticated to active');
select results_eq($$select * from pg_temp.fallback('a')$$, $$values ('active', null::uuid, null::uuid)$$,
  'an active subscription asks for no fallback');

-- Its first debit, found by the poll (paid_count 1, the invoice's payment): credited via reconcile.
select results_eq(
  $$select outcome, credited from private.apply_razorpay_subscription_payment(
      pg_temp.debit('pay_T46P1', 'order_T46PINV1'), pg_temp.sub('a', 'active', 1), 'reconcile')$$,
  $$values ('credited', 100000::bigint)$$, 'the poll credits the debit of a paid invoice');
select is(pg_temp.poll('a', 'active', 1), 'active', 'then records the subscription');
reset role;
select results_eq(
  $$select status::text, credited_via, autopay_mandate_id, case_id from public.payments where razorpay_payment_id = 'pay_T46P1'$$,
  $$values ('captured', 'reconcile', tests.fixture('mandate_a'), tests.fixture('case_a'))$$,
  'a captured payment of the case, credited by the reconciliation, tied to the mandate');
select results_eq(
  $$select installment_number, amount_paid, status::text from public.outstanding_amounts
     where case_id = tests.fixture('case_a') order by installment_number$$,
  $$values (1::smallint, 100000::bigint, 'paid'), (2::smallint, 0::bigint, 'pending'), (3::smallint, 0::bigint, 'pending')$$,
  'the installment due is paid');
select is((select paid_count from public.autopay_mandates where id = tests.fixture('mandate_a')), 1,
  'the mandate counts the debit');

-- The lost webhooks arrive late (a retry, or a replay): nothing is credited twice.
select tests.authenticate_as_service_role();
select is(pg_temp.ingest('evt_T46P_C1', 'subscription.charged', pg_temp.sub('a', 'active', 1),
                         pg_temp.debit('pay_T46P1', 'order_T46PINV1')), 'applied', 'the late subscription.charged is applied');
select is(pg_temp.ingest('evt_T46P_C1c', 'payment.captured', null, pg_temp.debit('pay_T46P1', 'order_T46PINV1')),
  'applied', 'so is the late payment.captured');
select is((select outcome from private.apply_razorpay_subscription_payment(
      pg_temp.debit('pay_T46P1', 'order_T46PINV1'), pg_temp.sub('a', 'active', 1), 'reconcile')),
  'already_credited', 'and the next poll');
reset role;
select results_eq(
  $$select note from public.payment_events where event_id in ('evt_T46P_C1', 'evt_T46P_C1c') order by event_id$$,
  $$values ('already_credited, mandate active'), ('already_credited')$$, 'both webhooks found it already credited');
select results_eq(
  $$select count(*), sum(a.amount) from public.payment_allocations a join public.payments p on p.id = a.payment_id
     where p.razorpay_payment_id = 'pay_T46P1'$$,
  $$values (1::bigint, 100000::numeric)$$, 'one allocation of the debit');
select is((select count(*) from public.messages where idempotency_key = 'receipt:pay_T46P1'), 1::bigint, 'one receipt');

-- The second debit fails until Razorpay halts the subscription; the poll finds it halted.
select tests.authenticate_as_service_role();
select is(pg_temp.poll('a', 'halted', 1), 'halted', 'the poll records the halt');
reset role;
select results_eq($$select status, installment from pg_temp.fallback('a')$$,
  $$values ('halted', tests.fixture('installment_a2'))$$,
  'and marks the installment now due for a payment link, as subscription.halted would');
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, subject_id, razorpay_id, lookup_key from private.claim_payment_reconciliation(50, now() + interval '1 minute')
     where kind = 'autopay_link_fallback'$$,
  $$values ('autopay_link_fallback', tests.fixture('mandate_a'), 'sub_T46PA', tests.fixture('installment_a2')::text)$$,
  'the reconciliation claims the fallback for a link and its reminder');
reset role;

-- B: the failed debit's webhook came (pending: a link for b1); Razorpay's retry then paid b1,
-- its webhooks lost, and the poll credits it.
select tests.authenticate_as_service_role();
select pg_temp.poll('b', 'active');
select pg_temp.ingest('evt_T46P_BP', 'subscription.pending', pg_temp.sub('b', 'pending'));
reset role;
select results_eq($$select status, installment from pg_temp.fallback('b')$$,
  $$values ('pending', tests.fixture('installment_b1'))$$, 'subscription.pending marks b1 for a link');
select tests.authenticate_as_service_role();
select private.apply_razorpay_subscription_payment(pg_temp.debit('pay_T46PB1', 'order_T46PBINV1'), pg_temp.sub('b', 'pending', 1), 'reconcile');
-- A poll that finds it pending, as already recorded, asks for nothing more (no webhook would).
select is(pg_temp.poll('b', 'pending', 1), 'pending', 'a poll finding the state already recorded');
reset role;
select results_eq($$select status, installment from pg_temp.fallback('b')$$,
  $$values ('pending', tests.fixture('installment_b1'))$$,
  'asks for no link for the next installment');
-- Halted after the next retries: a change, so the installment then due falls back.
select tests.authenticate_as_service_role();
select is(pg_temp.poll('b', 'halted', 1), 'halted', 'a poll finding it halted');
reset role;
select results_eq($$select status, installment, link from pg_temp.fallback('b')$$,
  $$values ('halted', tests.fixture('installment_b2'), null::uuid)$$,
  'marks the installment now due (b2), as subscription.halted would');

-- Final states stay final: a cancelled mandate polled halted is not revived.
select tests.authenticate_as_service_role();
select is(pg_temp.poll('b', 'cancelled', 1) || ' ' || pg_temp.poll('b', 'halted', 1), 'cancelled cancelled',
  'a cancelled mandate stays cancelled whatever a later poll says');
reset role;

select * from finish();
rollback;
