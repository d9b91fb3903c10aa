-- No debit without a notice: private.schedule_autopay_notices on a moved clock. Notices are
-- queued once per installment between 72 and 24 hours before the debit (the due date at 10:00
-- IST, or Razorpay's charge_at when known), through the outbox, and logged. Inside 24 hours a
-- notice missing, not sent in time, or undelivered asks for a pause: the reconciliation claims
-- it (money first), and only once Razorpay confirms the pause the installment's link fallback.
-- Cases: A (active; its notice is sent in time; its next installment never gets one), B
-- (authenticated; Razorpay's charge_at; its notice still queued), C (active; its customer has no
-- email address, so the notice is blocked).
begin;
select plan(27);
select tests.create_test_book();

-- Case C for agent A, beside the book's A and B: a customer without an email address.
with cu as (
  insert into public.customers (full_name, phone) values ('Customer C', '+919800000003') returning id
), po as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium, sum_insured,
                               start_date, end_date)
  select 'T-POL-C', 'health', 'Test Health', cu.id, tests.get_user_id('agent_a'), 1200000, 50000000,
         current_date - 335, current_date + 30
    from cu returning id, customer_id
), rc as (
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  select po.id, po.customer_id, tests.get_user_id('agent_a'), current_date + 30, current_date + 30 from po
  returning id, policy_id
)
insert into tests.fixtures (name, id)
select 'case_c', rc.id from rc union all select 'policy_c', rc.policy_id from rc;

-- All three monthly, three installments of ₹1,000 a month apart.
update public.policies set payment_frequency = 'monthly'
 where id in (tests.fixture('policy_a'), tests.fixture('policy_b'), tests.fixture('policy_c'));
delete from public.outstanding_amounts where case_id in (tests.fixture('case_a'), tests.fixture('case_b'));
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select tests.fixture('case_' || side), n, current_date + 30 * n, 100000
  from unnest(array['a', 'b', 'c']) side cross join generate_series(1, 3) n;
insert into tests.fixtures (name, id)
select 'installment_' || x.side || o.installment_number, o.id
  from public.outstanding_amounts o
  join (select 'a' side, tests.fixture('case_a') id union all select 'b', tests.fixture('case_b')
        union all select 'c', tests.fixture('case_c')) x on x.id = o.case_id;

-- The first debit: the first due date at 10:00 IST (D), the second a month later (D2).
create temporary table clock as
select ((current_date + 30) + time '10:00') at time zone 'Asia/Kolkata' as d,
       ((current_date + 60) + time '10:00') at time zone 'Asia/Kolkata' as d2;
grant select on clock to authenticated, service_role;

-- The mandates, created at Razorpay; B's first debit two hours early by Razorpay's charge_at.
create temporary table opened (side text, row jsonb);
grant all on opened to authenticated, service_role;
select tests.authenticate_as('agent_a');
insert into opened select 'a', to_jsonb(o) from private.open_autopay(tests.fixture('case_a')) o;
insert into opened select 'c', to_jsonb(o) from private.open_autopay(tests.fixture('case_c')) o;
select tests.authenticate_as('agent_b');
insert into opened select 'b', to_jsonb(o) from private.open_autopay(tests.fixture('case_b')) o;
select tests.authenticate_as_service_role();
select count(*) from (
  select private.record_plan_created((row ->> 'autopay_plan_id')::uuid, (row ->> 'plan_call_id')::uuid,
           '{"id": "plan_T46N", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')
    from opened where row ->> 'plan_call_id' is not null) x;
select count(*) from (
  select private.record_subscription_created((row ->> 'autopay_mandate_id')::uuid, (row ->> 'subscription_call_id')::uuid,
           jsonb_build_object('id', 'sub_T46N' || upper(side), 'plan_id', 'plan_T46N',
                              'status', case side when 'b' then 'authenticated' else 'active' end)
           || case side when 'b' then jsonb_build_object('charge_at', extract(epoch from (select d from clock) - interval '2 hours')::bigint)
                        else '{}' end)
    from opened) x;
reset role;
insert into tests.fixtures (name, id) select 'mandate_' || side, (row ->> 'autopay_mandate_id')::uuid from opened;
grant execute on function tests.fixture(text) to service_role;

create function pg_temp.run(at interval) returns table (side text, installment text, outcome text, charge_at timestamptz)
language sql as $$
  select right(m.razorpay_subscription_id, 1), f.name, r.outcome, r.charge_at
    from private.schedule_autopay_notices((select d from clock) + at) r
    join public.autopay_mandates m on m.id = r.autopay_mandate_id
    join tests.fixtures f on f.id = r.outstanding_amount_id
   order by 1
$$;
grant execute on function pg_temp.run(interval) to service_role;

-- 80 hours ahead: too early. 70 hours ahead: one notice per mandate.
select tests.authenticate_as_service_role();
select is_empty($$select * from pg_temp.run(- interval '80 hours')$$, 'nothing is queued 80 hours ahead');
select results_eq($$select side, installment, outcome, charge_at from pg_temp.run(- interval '70 hours')$$,
  $$values ('A', 'installment_a1', 'notice_queued', (select d from clock)),
           ('B', 'installment_b1', 'notice_queued', (select d - interval '2 hours' from clock)),
           ('C', 'installment_c1', 'notice_queued', (select d from clock))$$,
  '70 hours ahead, each mandate''s next debit gets its notice, on Razorpay''s charge_at where known');
select is_empty($$select * from pg_temp.run(- interval '60 hours')$$, 'an hour later, nothing more: once per installment');
reset role;
select results_eq(
  $$select m.status::text, m.purpose::text, m.channel::text, t.code, m.subject ~ '₹1,000',
           m.body ~ to_char(current_date + 30, 'DD Mon YYYY') and m.body ~ 'sub_T46NA' and m.body ~ 'T-POL-A'
      from public.messages m join public.templates t on t.id = m.template_id
     where m.idempotency_key = format('pre_debit:%s:%s', tests.fixture('mandate_a'), tests.fixture('installment_a1'))$$,
  $$values ('queued', 'transactional', 'email', 'autopay_pre_debit_notice', true, true)$$,
  'A''s notice is a transactional email naming amount, date, mandate and policy');
select results_eq(
  $$select m.status::text, m.blocked_reason from public.autopay_debit_notices n join public.messages m on m.id = n.message_id
     where n.autopay_mandate_id = tests.fixture('mandate_c')$$,
  $$values ('blocked', 'no_address')$$, 'C''s notice is logged with its message, blocked: no address');
select results_eq(
  $$select count(*), count(distinct n.message_id), min(n.amount), max(n.amount) from public.autopay_debit_notices n$$,
  $$values (3::bigint, 3::bigint, 100000::bigint, 100000::bigint)$$, 'three notices logged, each with its own message');
select is((select count(*) from public.messages where idempotency_key like 'pre_debit:%'), 3::bigint, 'three messages, no more');

-- A's notice goes out 69 hours ahead; B's stays queued.
update public.messages set status = 'sent', sent_at = (select d from clock) - interval '69 hours'
 where idempotency_key = format('pre_debit:%s:%s', tests.fixture('mandate_a'), tests.fixture('installment_a1'));

-- 20 hours ahead: B and C are to be paused, A debits.
select tests.authenticate_as_service_role();
select results_eq($$select side, installment, outcome from pg_temp.run(- interval '20 hours')$$,
  $$values ('B', 'installment_b1', 'pause_requested'), ('C', 'installment_c1', 'pause_requested')$$,
  'inside 24 hours, a notice not sent or blocked asks for a pause; a notice sent in time does not');
reset role;
select results_eq(
  $$select right(razorpay_subscription_id, 1), status, pause_reason, fallback_installment_id = pause_installment_id
      from public.autopay_mandates order by 1$$,
  $$values ('A', 'active', null::text, null::boolean), ('B', 'authenticated', 'notice_not_sent', true),
           ('C', 'active', 'notice_undelivered', true)$$,
  'B''s notice was not sent, C''s undelivered; both installments marked for a link');
select tests.authenticate_as_service_role();
select is_empty($$select * from pg_temp.run(- interval '19 hours')$$, 'a mandate asked to pause is not looked at again');

-- The reconciliation pauses them first, and holds their links until Razorpay confirms.
select results_eq(
  $$select kind, razorpay_id, lookup_key from private.claim_payment_reconciliation(2, (select d - interval '19 hours' from clock))
     order by razorpay_id$$,
  $$values ('autopay_pause', 'sub_T46NB', 'notice_not_sent'), ('autopay_pause', 'sub_T46NC', 'notice_undelivered')$$,
  'the pauses come first (money first), before any other work');
select is_empty($$select * from private.claim_payment_reconciliation(50, (select d - interval '19 hours' from clock))
                   where kind in ('autopay_pause', 'autopay_link_fallback')$$,
  'leased, and no link while a debit may still come');
select private.record_subscription_created(tests.fixture('mandate_b'), null, '{"id": "sub_T46NB", "status": "paused"}');
select private.ingest_razorpay_event('evt_T46N_1', jsonb_build_object('event', 'subscription.paused',
  'created_at', extract(epoch from now())::bigint,
  'payload', jsonb_build_object('subscription', jsonb_build_object('entity', '{"id": "sub_T46NC", "status": "paused"}'::jsonb))),
  'current');
reset role;
select results_eq(
  $$select right(razorpay_subscription_id, 1), status from public.autopay_mandates where pause_reason is not null order by 1$$,
  $$values ('B', 'paused'), ('C', 'paused')$$, 'Razorpay paused both (B by the pause call''s answer, C by webhook)');
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, subject_id, lookup_key from private.claim_payment_reconciliation(50, (select d - interval '18 hours' from clock))
     where kind like 'autopay_link_fallback' order by lookup_key = tests.fixture('installment_b1')::text desc$$,
  $$values ('autopay_link_fallback', tests.fixture('mandate_b'), tests.fixture('installment_b1')::text),
           ('autopay_link_fallback', tests.fixture('mandate_c'), tests.fixture('installment_c1')::text)$$,
  'once paused, each installment is claimed for a payment link');
select is_empty($$select * from pg_temp.run(interval '1 hour')$$, 'paused mandates get no notice and no debit is expected');
reset role;

-- A debits; its next installment's notice was never queued (the job did not run in time).
select tests.authenticate_as_service_role();
select private.ingest_razorpay_event('evt_T46N_2', jsonb_build_object('event', 'subscription.charged',
  'created_at', extract(epoch from now())::bigint,
  'payload', jsonb_build_object(
    'subscription', jsonb_build_object('entity', jsonb_build_object('id', 'sub_T46NA', 'status', 'active', 'paid_count', 1,
                                                                     'charge_at', extract(epoch from (select d2 from clock))::bigint)),
    'payment', jsonb_build_object('entity', '{"id": "pay_T46N1", "order_id": "order_T46NINV1", "amount": 100000, "currency": "INR", "status": "captured"}'::jsonb))),
  'current');
reset role;
select is((select status::text from public.outstanding_amounts where id = tests.fixture('installment_a1')), 'paid',
  'A''s debit paid its first installment');
select tests.authenticate_as_service_role();
select results_eq($$select side, installment, outcome, charge_at from pg_temp.run(interval '30 days' - interval '20 hours')$$,
  $$values ('A', 'installment_a2', 'pause_requested', (select d2 from clock))$$,
  '20 hours before A''s next debit with no notice, a pause is asked');
reset role;
select results_eq(
  $$select pause_reason, pause_installment_id from public.autopay_mandates where id = tests.fixture('mandate_a')$$,
  $$values ('notice_missing', tests.fixture('installment_a2'))$$, 'because the notice is missing');
select is((select count(*) from public.messages where idempotency_key like 'pre_debit:%'), 3::bigint,
  'and no late notice is sent inside 24 hours');
select is((select count(*) from public.autopay_debit_notices where outstanding_amount_id = tests.fixture('installment_a2')), 0::bigint,
  'nor logged');

-- Resumed by the desk at Razorpay, the pause is over; a closed case gets no notice.
select tests.authenticate_as_service_role();
select private.ingest_razorpay_event('evt_T46N_3', jsonb_build_object('event', 'subscription.resumed',
  'created_at', extract(epoch from now())::bigint,
  'payload', jsonb_build_object('subscription', jsonb_build_object('entity', '{"id": "sub_T46NB", "status": "active"}'::jsonb))),
  'current');
reset role;
select results_eq(
  $$select status, pause_reason, pause_requested_at from public.autopay_mandates where id = tests.fixture('mandate_b')$$,
  $$values ('active', null::text, null::timestamptz)$$, 'subscription.resumed clears the pause');
update public.renewal_cases set stage = 'lost', lost_reason = 'Went to another broker' where id = tests.fixture('case_b');
select tests.authenticate_as_service_role();
select is_empty($$select * from pg_temp.run(interval '30 days' - interval '70 hours') where side = 'B'$$,
  'a closed case''s mandate gets no notice');
select results_eq(
  $$select kind, razorpay_id from private.claim_payment_reconciliation(50, (select d + interval '30 days' from clock))
     where subject_id = tests.fixture('mandate_b') and kind in ('autopay_pause', 'autopay_cancel', 'autopay_link_fallback')$$,
  $$values ('autopay_cancel', 'sub_T46NB')$$, 'its subscription is claimed for cancelling instead (and looked up, as every live one)');
reset role;

-- Who may run the job.
select tests.authenticate_as('admin');
select throws_ok($$select * from private.schedule_autopay_notices()$$, '42501', null, 'the desk cannot run the notice job');
select throws_ok($$select * from private.open_autopay_fallback_link(tests.fixture('mandate_c'))$$, '42501', null,
  'nor open a fallback link');
reset role;
select results_eq(
  $$select count(*) from public.autopay_debit_notices$$, $$values (3::bigint)$$, 'three notices in all');
select is((select count(*) from public.autopay_mandates where status = 'paused'), 1::bigint, 'C stays paused');

select * from finish();
rollback;
