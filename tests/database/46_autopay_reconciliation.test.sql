-- Lost answers around autopay: a plan whose create has not answered yet is asked again by the
-- next mandate (a duplicate plan at Razorpay is harmless) and the first plan recorded stays; a
-- plan refused for good fails the mandates waiting for it; a mandate whose subscription answer
-- was lost is claimed for a lookup by notes.autopay_id, found by its webhook, or failed after a
-- lookup that found nothing; a live subscription is looked up after its next debit.
begin;
select plan(16);
select tests.create_test_book();

-- Case C beside A and B (agent A's, quarterly).
with cu as (
  insert into public.customers (full_name, phone, email) values ('Customer C', '+919800000003', 'c@tests.py360.test')
  returning id
), po as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium, sum_insured,
                               start_date, end_date, payment_frequency)
  select 'T-POL-C', 'life', 'Test Life', cu.id, tests.get_user_id('agent_a'), 1200000, 50000000,
         current_date - 335, current_date + 30, 'quarterly'
    from cu returning id, customer_id
)
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select po.id, po.customer_id, tests.get_user_id('agent_a'), current_date + 30, current_date + 30 from po;
insert into tests.fixtures (name, id) select 'case_c', c.id from public.renewal_cases c
  join public.policies p on p.id = c.policy_id where p.policy_number = 'T-POL-C';
update public.policies set payment_frequency = 'monthly' where id in (tests.fixture('policy_a'), tests.fixture('policy_b'));
delete from public.outstanding_amounts where case_id in (tests.fixture('case_a'), tests.fixture('case_b'));
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select tests.fixture('case_' || side), n, current_date + 30 * n, 100000
  from unnest(array['a', 'b']) side cross join generate_series(1, 2) n
union all
select tests.fixture('case_c'), n, current_date + 30 + 91 * (n - 1), 300000 from generate_series(1, 2) n;

create temporary table opened (side text, row jsonb);
grant all on opened to authenticated, service_role;

-- A and B, the same shape, opened before Razorpay answered A's plan call: two plan calls, one plan row.
select tests.authenticate_as('agent_a');
insert into opened select 'a', to_jsonb(o) from private.open_autopay(tests.fixture('case_a')) o;
select tests.authenticate_as('agent_b');
insert into opened select 'b', to_jsonb(o) from private.open_autopay(tests.fixture('case_b')) o;
reset role;
select results_eq(
  $$select count(distinct row ->> 'autopay_plan_id'), count(distinct row ->> 'plan_call_id'), count(row ->> 'plan_call_id')
      from opened$$,
  $$values (1::bigint, 2::bigint, 2::bigint)$$,
  'while no plan answered, the next mandate of that shape journals its own plan call on the same plan');
select tests.authenticate_as_service_role();
select private.record_plan_created((row ->> 'autopay_plan_id')::uuid, (row ->> 'plan_call_id')::uuid,
         '{"id": "plan_T46R2", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')
  from opened where side = 'b';
select is((private.record_plan_created((row ->> 'autopay_plan_id')::uuid, (row ->> 'plan_call_id')::uuid,
         '{"id": "plan_T46R1", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')).razorpay_plan_id,
  'plan_T46R2', 'the first plan recorded stays; the later answer is a duplicate left unused')
  from opened where side = 'a';
reset role;
select results_eq(
  $$select count(*), min(razorpay_plan_id), max(razorpay_plan_id) from public.autopay_mandates$$,
  $$values (2::bigint, 'plan_T46R2', 'plan_T46R2')$$, 'both mandates subscribe to it');
select is((select count(*) from private.razorpay_calls where operation = 'create_plan' and state = 'succeeded'), 2::bigint,
  'and both plan calls are finished');

-- C: its plan is refused for good; the mandate waiting for it fails.
select tests.authenticate_as('agent_a');
insert into opened select 'c', to_jsonb(o) from private.open_autopay(tests.fixture('case_c')) o;
select tests.authenticate_as_service_role();
select private.record_razorpay_call_failed((row ->> 'plan_call_id')::uuid, 400,
         '{"error": {"code": "BAD_REQUEST_ERROR", "description": "The amount is invalid"}}', true)
  from opened where side = 'c';
reset role;
select results_eq(
  $$select m.status, m.last_error, p.status, p.last_error from public.autopay_mandates m
      join public.autopay_plans p on p.id = m.autopay_plan_id where m.case_id = tests.fixture('case_c')$$,
  $$values ('failed', 'The amount is invalid', 'creating', 'The amount is invalid')$$,
  'a plan refused for good fails the mandate waiting for it; the plan may be tried again');

-- A's and B's subscription answers are lost: both are claimed for a lookup by notes.
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, razorpay_id, lookup_key from private.claim_payment_reconciliation(50, now() + interval '11 minutes')
     where kind like 'autopay%' order by lookup_key = (select row ->> 'autopay_mandate_id' from opened where side = 'a') desc$$,
  $$select 'autopay_creating', 'plan_T46R2', row ->> 'autopay_mandate_id' from opened where side in ('a', 'b')
     order by side$$,
  'a creating mandate is claimed with its plan and the id its notes carry');
-- A's webhook comes first and names the mandate in its notes.
select is((select outcome from private.ingest_razorpay_event('evt_T46R_1', jsonb_build_object('event', 'subscription.authenticated',
    'created_at', extract(epoch from now())::bigint,
    'payload', jsonb_build_object('subscription', jsonb_build_object('entity', jsonb_build_object(
      'id', 'sub_T46RA', 'status', 'authenticated', 'plan_id', 'plan_T46R2',
      'notes', jsonb_build_object('autopay_id', (select row ->> 'autopay_mandate_id' from opened where side = 'a')))))),
  'current')), 'applied', 'a webhook for a subscription whose answer was lost is matched by notes.autopay_id');
reset role;
select results_eq(
  $$select razorpay_subscription_id, status from public.autopay_mandates where case_id = tests.fixture('case_a')$$,
  $$values ('sub_T46RA', 'authenticated')$$, 'the mandate learns its subscription and state from it');
select tests.authenticate_as_service_role();
select throws_ok($$select private.record_subscription_created((select (row ->> 'autopay_mandate_id')::uuid from opened where side = 'b'),
    null, '{"id": "sub_T46RA", "status": "created", "plan_id": "plan_T46R2"}')$$,
  '22023', 'subscription sub_T46RA belongs to another mandate', 'a subscription already another mandate''s is refused');
-- B is not found: after the lease, the next claim fails it.
select is_empty($$select * from private.claim_payment_reconciliation(50, now() + interval '15 minutes') where kind = 'autopay_creating'$$,
  'leased: not claimed again at once');
select is_empty($$select * from private.claim_payment_reconciliation(50, now() + interval '25 minutes') where kind = 'autopay_creating'$$,
  'after a lookup that found nothing and its lease, it is not looked up again');
reset role;
select results_eq(
  $$select status, last_error, reconcile_after from public.autopay_mandates where case_id = tests.fixture('case_b')$$,
  $$values ('failed', 'not found at Razorpay by notes.autopay_id', null::timestamptz)$$, 'it fails');
select tests.authenticate_as('agent_b');
select is((select o.reused::text || ' ' || o.status from private.open_autopay(tests.fixture('case_b')) o), 'false creating',
  'and the desk may open autopay again');
reset role;

-- A live subscription is looked up after its next debit, at least daily.
select results_eq(
  $$select reconcile_after <= now() + interval '1 day' from public.autopay_mandates where case_id = tests.fixture('case_a')$$,
  $$values (true)$$, 'an authenticated mandate is looked up within a day');
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, razorpay_id, lookup_key from private.claim_payment_reconciliation(50, now() + interval '25 hours')
     where kind = 'autopay_open'$$,
  $$select 'autopay_open', 'sub_T46RA', id::text from public.autopay_mandates where case_id = tests.fixture('case_a')$$,
  'and claimed for it, with its subscription id');
select private.record_subscription_created(m.id, null, '{"id": "sub_T46RA", "status": "cancelled", "plan_id": "plan_T46R2"}')
  from public.autopay_mandates m where m.case_id = tests.fixture('case_a');
select is_empty($$select * from private.claim_payment_reconciliation(50, now() + interval '3 days')
                   where razorpay_id = 'sub_T46RA'$$, 'a poll finding it cancelled ends the lookups');
reset role;

select * from finish();
rollback;
