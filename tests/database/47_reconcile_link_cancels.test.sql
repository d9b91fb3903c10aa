-- What the reconciliation claims since the review of issue 8 (findings 2 and 6): payment links a
-- case no longer needs (closed, owing nothing, or their own installment settled) are claimed for
-- cancelling (link_cancel, leased, not polled meanwhile) and Razorpay's cancelled answer is
-- recorded; an authorised payment apply_razorpay_payment would flag (case closed, order expired
-- before the authorisation, not INR) is not claimed for capture, by the same rule
-- (payment_flag_reason).
begin;
select plan(12);
select tests.create_test_book();
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 600000);

create temporary table opened (payment_order_id uuid, label text);
grant all on opened to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into opened select o.payment_order_id, 'a' from private.open_payment_order(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select o.payment_order_id, 'b' from private.open_payment_order(tests.fixture('case_b')) o;
reset role;
select count(*) from (
  select private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T47L' || upper(o.label),
           'receipt', po.receipt, 'amount', po.amount))
    from public.payment_orders po join opened o on o.payment_order_id = po.id) x;

-- Case B is paid and renews; case A pays its first installment and still owes the second.
select tests.authenticate_as_service_role();
select count(*) from unnest(array[
  '{"id": "pay_T47LB1", "order_id": "order_T47LB", "amount": 1200000, "currency": "INR", "status": "captured"}',
  '{"id": "pay_T47LA1", "order_id": "order_T47LA", "amount": 1200000, "currency": "INR", "status": "captured"}']) p,
  lateral private.apply_razorpay_payment(p::jsonb, 'webhook') a;
reset role;
select results_eq(
  $$select c.policy_id = tests.fixture('policy_b'), c.stage = 'renewed', public.case_outstanding(c.id) from public.renewal_cases c
     where c.id in (tests.fixture('case_a'), tests.fixture('case_b')) order by 1$$,
  $$values (false, false, 600000::bigint), (true, true, 0::bigint)$$,
  'case B is renewed; case A is open, owing its second installment');

-- Finding 2: their links, as Razorpay made them (one partly paid).
insert into public.payment_links (case_id, outstanding_amount_id, amount, status, razorpay_payment_link_id, short_url,
                                  amount_paid, accept_partial, expire_by, reconcile_after)
select tests.fixture(l.case_name), (select o.id from public.outstanding_amounts o
                                     where o.case_id = tests.fixture(l.case_name) and o.installment_number = l.installment),
       l.amount, l.status, l.plink, 'https://rzp.io/i/' || l.plink, l.paid, l.paid > 0, now() + interval '15 days',
       now() + interval '1 minute'
  from (values ('case_b', null, 1200000, 'partially_paid', 'plink_T47LB', 200000),
               ('case_a', 1, 1200000, 'created', 'plink_T47LA1', 0),
               ('case_a', 2, 600000, 'created', 'plink_T47LA2', 0),
               ('case_a', null, 600000, 'created', 'plink_T47LA', 0)) as l (case_name, installment, amount, status, plink, paid);
select tests.authenticate_as_service_role();
select results_eq(
  $$select c.razorpay_id, c.lookup_key = pl.reference_id from private.claim_payment_reconciliation(50, now()) c
      join public.payment_links pl on pl.id = c.subject_id where c.kind = 'link_cancel' order by 1$$,
  $$values ('plink_T47LA1', true), ('plink_T47LB', true)$$,
  'the renewed case''s link and the settled installment''s are claimed for cancelling; the open case''s others are not');
select is((select count(*) from private.claim_payment_reconciliation(50, now()) where kind = 'link_cancel'), 0::bigint,
  'a second runner gets none: they are leased');
select results_eq(
  $$select razorpay_id from private.claim_payment_reconciliation(50, now() + interval '5 minutes') where kind = 'link_open' order by 1$$,
  $$values ('plink_T47LA'), ('plink_T47LA2')$$, 'links being cancelled are not polled meanwhile');
select results_eq(
  $$select status, amount_paid, reconcile_after from private.record_payment_link_created(
      (select id from public.payment_links where razorpay_payment_link_id = 'plink_T47LB'), null,
      jsonb_build_object('id', 'plink_T47LB', 'status', 'cancelled', 'amount', 1200000, 'amount_paid', 200000,
                         'reference_id', (select reference_id from public.payment_links where razorpay_payment_link_id = 'plink_T47LB')))$$,
  $$values ('cancelled', 200000::bigint, null::timestamptz)$$,
  'Razorpay''s answer to the cancel is recorded: cancelled, the part paid kept');
select results_eq(
  $$select razorpay_id from private.claim_payment_reconciliation(50, now() + interval '1 hour') where kind = 'link_cancel'$$,
  $$values ('plink_T47LA1')$$, 'after the lease the link not yet cancelled is claimed again, the cancelled one never');
reset role;

-- Finding 6: authorised payments, on the renewed case, in dollars, after their order expired,
-- and one that would be credited.
select tests.authenticate_as_service_role();
select count(*) from unnest(array[
  '{"id": "pay_T47LB9", "order_id": "order_T47LB", "amount": 1200000, "currency": "INR", "status": "authorized"}',
  '{"id": "pay_T47LA7", "order_id": "order_T47LA", "amount": 600000, "currency": "USD", "status": "authorized"}',
  format('{"id": "pay_T47LA8", "order_id": "order_T47LA", "amount": 600000, "currency": "INR", "status": "authorized", "created_at": %s}',
         extract(epoch from now() + interval '1 day')::bigint),
  '{"id": "pay_T47LA2", "order_id": "order_T47LA", "amount": 600000, "currency": "INR", "status": "authorized"}']) p,
  lateral private.apply_razorpay_payment(p::jsonb, 'webhook') a;
reset role;
create temporary table flags as
select razorpay_payment_id, private.payment_flag_reason(p) as flag from public.payments p
 where razorpay_payment_id in ('pay_T47LB9', 'pay_T47LA7', 'pay_T47LA8', 'pay_T47LA2');
select results_eq(
  $$select razorpay_payment_id, flag from flags order by 1$$,
  $$values ('pay_T47LA2', null), ('pay_T47LA7', 'currency_mismatch'), ('pay_T47LA8', 'order_expired'), ('pay_T47LB9', 'case_closed')$$,
  'payment_flag_reason names a renewed case, a foreign currency, an authorisation after its order expired');
select tests.authenticate_as_service_role();
select results_eq(
  $$select razorpay_id, lookup_key from private.claim_payment_reconciliation(50, now() + interval '2 hours')
     where kind = 'payment_authorized'$$,
  $$values ('pay_T47LA2', '600000')$$,
  'only the authorised payment that would be credited is claimed for capture');
select is((select count(*) from private.claim_payment_reconciliation(50, now() + interval '1 day')
            where kind = 'payment_authorized' and razorpay_id <> 'pay_T47LA2'),
  0::bigint, 'the others are never claimed, however late: Razorpay voids them uncaptured');
-- Captured anyway (a dashboard, a bank), they are flagged for the same reasons.
select count(*) from unnest(array[
  '{"id": "pay_T47LB9", "order_id": "order_T47LB", "amount": 1200000, "currency": "INR", "status": "captured"}',
  '{"id": "pay_T47LA7", "order_id": "order_T47LA", "amount": 600000, "currency": "USD", "status": "captured"}',
  '{"id": "pay_T47LA8", "order_id": "order_T47LA", "amount": 600000, "currency": "INR", "status": "captured"}']) p,
  lateral private.apply_razorpay_payment(p::jsonb, 'webhook') a;
select count(*) from private.apply_razorpay_payment(
  '{"id": "pay_T47LA2", "order_id": "order_T47LA", "amount": 600000, "currency": "INR", "status": "captured"}', 'reconcile');
reset role;
select results_eq(
  $$select p.razorpay_payment_id, p.review_reason, p.credited_at is not null from public.payments p
     where p.razorpay_payment_id in (select razorpay_payment_id from flags) order by 1$$,
  $$select f.razorpay_payment_id, f.flag, f.flag is null from flags f order by 1$$,
  'apply_razorpay_payment flags exactly what payment_flag_reason named, and credits the one it did not');

-- Case A is now renewed: its remaining links are claimed for cancelling.
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_a')), 'renewed',
  'the captured payment renews case A');
select tests.authenticate_as_service_role();
select results_eq(
  $$select razorpay_id from private.claim_payment_reconciliation(50, now() + interval '2 days')
     where kind = 'link_cancel' order by 1$$,
  $$values ('plink_T47LA'), ('plink_T47LA1'), ('plink_T47LA2')$$,
  'once the case renews, every link of it still payable is claimed for cancelling');
reset role;

select * from finish();
rollback;
