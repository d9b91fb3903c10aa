-- Opening autopay (private.open_autopay) and recording Razorpay's answers: every refusal
-- (another agent's case, an annual policy, unequal installments, above the mandate limit, a first
-- debit too soon, nothing due, a closed case) creates nothing; a plan is created once per shape
-- and reused; the live mandate is answered again; a create that failed for good fails the mandate
-- and a new one may be opened; the calls are journalled before Razorpay is called; Razorpay's
-- subscription must be ours; the catalog describes every autopay function.
begin;
select plan(45);
select tests.create_test_book();

-- Case A: a monthly policy with three open installments of ₹1,000 each, a month apart.
update public.policies set payment_frequency = 'monthly' where id = tests.fixture('policy_a');
update public.outstanding_amounts set amount = 100000 where id = tests.fixture('installment_a');
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_a'), 2, current_date + 60, 100000),
       (tests.fixture('case_a'), 3, current_date + 90, 100000);

create temporary table opened (label text, row jsonb);
grant all on opened to authenticated, service_role;

create function pg_temp.nothing_created() returns bigint
language sql as $$
  select (select count(*) from public.autopay_mandates) + (select count(*) from public.autopay_plans)
         + (select count(*) from private.razorpay_calls where operation in ('create_plan', 'create_subscription'))
$$;

-- Refusals: nothing is created by any of them.
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_a'))$$,
  'P0002', 'no such case, or not yours to see', 'another agent''s case is not found');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  '22023', 'autopay is for monthly, quarterly or half-yearly installments; this policy is paid annual',
  'an annual policy takes no autopay');
reset role;
update public.policies set payment_frequency = 'monthly' where id = tests.fixture('policy_b');
update public.outstanding_amounts set amount = 100000 where id = tests.fixture('installment_b');
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values (tests.fixture('case_b'), 2, current_date + 60, 150000);
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  '22023', 'autopay debits one amount each time, but the open installments owe ₹1,000, ₹1,500: pay by link',
  'installments of different amounts take no autopay');
reset role;
update public.outstanding_amounts set amount = 100000 where case_id = tests.fixture('case_b');
update public.app_settings set value = '50000' where key = 'AUTOPAY_MANDATE_LIMIT_PAISE';
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  '22023', 'an installment of ₹1,000 is above the autopay mandate limit of ₹500 (AUTOPAY_MANDATE_LIMIT_PAISE): pay by link',
  'an installment above the mandate limit takes no autopay');
reset role;
update public.app_settings set value = '10000000' where key = 'AUTOPAY_MANDATE_LIMIT_PAISE';
update public.app_settings set value = '"45 days"' where key = 'AUTOPAY_MIN_LEAD';
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  '22023', null, 'a first debit sooner than AUTOPAY_MIN_LEAD takes no autopay');
reset role;
-- (Under 37 hours is refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked('{"AUTOPAY_MIN_LEAD": "1 hour"}');
update public.outstanding_amounts set due_date = current_date + 1 where case_id = tests.fixture('case_b');
select tests.authenticate_as('agent_b');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  '22023', null, 'nor one sooner than 37 hours, whatever the setting (the customer authorises up to 36 hours before)');
reset role;
update public.outstanding_amounts set due_date = current_date + 30 where id = tests.fixture('installment_b');
update public.outstanding_amounts set due_date = current_date + 60 where case_id = tests.fixture('case_b')
   and id <> tests.fixture('installment_b');
update public.app_settings set value = '"48 hours"' where key = 'AUTOPAY_MIN_LEAD';
select is(pg_temp.nothing_created(), 0::bigint, 'no refusal created a plan, a mandate or a journalled call');
select is((select value from public.app_settings where key = 'AUTOPAY_MANDATE_LIMIT_PAISE'), '10000000'::jsonb,
  'the mandate limit defaults to ₹1,00,000 (RBI''s e-mandate limit for insurance premiums)');

-- Case A: plan and subscription to create.
select tests.authenticate_as('agent_a');
insert into opened select 'a1', to_jsonb(o) from private.open_autopay(tests.fixture('case_a')) o;
reset role;
select results_eq(
  $$select row ->> 'status', (row ->> 'reused')::boolean, (row ->> 'installment_amount')::bigint, row ->> 'period',
           (row ->> 'interval')::integer, (row ->> 'total_count')::integer, (row ->> 'start_at')::timestamptz,
           (row ->> 'expire_by')::timestamptz, (row ->> 'max_amount')::bigint, row ->> 'policy_number'
      from opened where label = 'a1'$$,
  $$values ('creating', false, 100000::bigint, 'monthly', 1, 3,
            ((current_date + 30) + time '10:00') at time zone 'Asia/Kolkata',
            ((current_date + 30) + time '10:00') at time zone 'Asia/Kolkata' - interval '36 hours',
            10000000::bigint, 'T-POL-A')$$,
  'a monthly case gets a monthly plan of one installment, three debits from the next due date at 10:00 IST');
select isnt((select (row ->> 'plan_call_id')::uuid from opened where label = 'a1'), null, 'a plan create call is journalled');
select isnt((select (row ->> 'subscription_call_id')::uuid from opened where label = 'a1'), null,
  'and a subscription create call');
select results_eq(
  $$select rc.operation, rc.state, rc.request #>> '{item,amount}', rc.request ->> 'period', rc.request ->> 'interval'
      from private.razorpay_calls rc join opened o on rc.id = (o.row ->> 'plan_call_id')::uuid$$,
  $$values ('create_plan', 'pending', '100000', 'monthly', '1')$$, 'the plan call carries the plan''s body');
select results_eq(
  $$select rc.operation, rc.request ->> 'total_count', rc.request ->> 'customer_notify', rc.request #>> '{notes,autopay_id}',
           rc.request #>> '{notes,case_id}', (rc.request ->> 'start_at')::bigint, rc.request ? 'plan_id'
      from private.razorpay_calls rc join opened o on rc.id = (o.row ->> 'subscription_call_id')::uuid$$,
  $$select 'create_subscription', '3', '0', o.row ->> 'autopay_mandate_id', tests.fixture('case_a')::text,
           extract(epoch from (o.row ->> 'start_at')::timestamptz)::bigint, false
      from opened o where o.label = 'a1'$$,
  'the subscription call: three debits, Razorpay does not notify, notes name the case and mandate; plan_id comes with the plan');
select results_eq(
  $$select m.status, m.created_by, m.reconcile_after > now() from public.autopay_mandates m$$,
  $$values ('creating', tests.get_user_id('agent_a'), true)$$, 'the mandate is stored creating, by the agent, to be looked up if lost');

-- Asked again: the live mandate is the answer.
select tests.authenticate_as('agent_a');
insert into opened select 'a2', to_jsonb(o) from private.open_autopay(tests.fixture('case_a')) o;
reset role;
select results_eq(
  $$select (row ->> 'reused')::boolean, row ->> 'autopay_mandate_id', row ->> 'plan_call_id', row ->> 'subscription_call_id'
      from opened where label = 'a2'$$,
  $$select true, row ->> 'autopay_mandate_id', null::text, null::text from opened where label = 'a1'$$,
  'asked again, the same mandate is answered and nothing is journalled');
select is((select count(*) from public.autopay_mandates), 1::bigint, 'one mandate');

-- Razorpay answers: the plan, then the subscription.
select tests.authenticate_as_service_role();
select throws_ok($$select private.record_plan_created((select (row ->> 'autopay_plan_id')::uuid from opened where label = 'a1'),
    null, '{"id": "plan_T46X", "period": "monthly", "interval": 1, "item": {"amount": 99999, "currency": "INR"}}')$$,
  '22023', null, 'a plan of another amount is not ours');
select is((select (private.record_plan_created((o.row ->> 'autopay_plan_id')::uuid, (o.row ->> 'plan_call_id')::uuid,
    '{"id": "plan_T46M1", "period": "monthly", "interval": 1, "item": {"amount": 100000, "currency": "INR"}}')).status
      from opened o where o.label = 'a1'), 'created', 'the plan is recorded created');
reset role;
select results_eq(
  $$select m.razorpay_plan_id, rc.state from public.autopay_mandates m, private.razorpay_calls rc, opened o
     where o.label = 'a1' and rc.id = (o.row ->> 'plan_call_id')::uuid$$,
  $$values ('plan_T46M1', 'succeeded')$$, 'the mandate learns the plan, the call is finished');
select tests.authenticate_as_service_role();
select throws_ok($$select private.record_subscription_created((select (row ->> 'autopay_mandate_id')::uuid from opened where label = 'a1'),
    null, jsonb_build_object('id', 'sub_T46OTHER', 'plan_id', 'plan_T46M1', 'status', 'created',
                             'notes', jsonb_build_object('autopay_id', gen_random_uuid())))$$,
  '22023', null, 'a subscription made for another mandate is not ours');
select is((select (private.record_subscription_created((o.row ->> 'autopay_mandate_id')::uuid, (o.row ->> 'subscription_call_id')::uuid,
    jsonb_build_object('id', 'sub_T46A', 'plan_id', 'plan_T46M1', 'status', 'created', 'short_url', 'https://rzp.io/i/T46A',
                       'charge_at', extract(epoch from (o.row ->> 'start_at')::timestamptz)::bigint,
                       'notes', jsonb_build_object('autopay_id', o.row ->> 'autopay_mandate_id')))).status
      from opened o where o.label = 'a1'), 'created', 'the subscription is recorded created');
reset role;
select results_eq(
  $$select razorpay_subscription_id, short_url, charge_at = start_at, last_error from public.autopay_mandates$$,
  $$values ('sub_T46A', 'https://rzp.io/i/T46A', true, null::text)$$, 'with its id, where to authorise it, and its first debit');
select is((select rc.state from private.razorpay_calls rc join opened o on rc.id = (o.row ->> 'subscription_call_id')::uuid),
  'succeeded', 'the subscription call is finished');
select tests.authenticate_as('agent_a');
select results_eq(
  $$select row ->> 'short_url', row ->> 'razorpay_plan_id' from (select to_jsonb(o) as row from private.open_autopay(tests.fixture('case_a')) o) x$$,
  $$values ('https://rzp.io/i/T46A', 'plan_T46M1')$$, 'asked again, the desk gets the link to send the customer');
select is((select count(*) from public.autopay_mandates), 1::bigint, 'the desk sees its mandate');
select tests.authenticate_as('agent_b');
select is((select count(*) from public.autopay_mandates), 0::bigint, 'another agent does not');
reset role;

-- Case B, the same shape: the plan is reused, no plan call.
select tests.authenticate_as('agent_b');
insert into opened select 'b1', to_jsonb(o) from private.open_autopay(tests.fixture('case_b')) o;
reset role;
select results_eq(
  $$select (row ->> 'reused')::boolean, row ->> 'razorpay_plan_id', row ->> 'plan_call_id', (row ->> 'total_count')::integer,
           row -> 'subscription_request' ->> 'plan_id'
      from opened where label = 'b1'$$,
  $$values (false, 'plan_T46M1', null::text, 2, 'plan_T46M1')$$,
  'a mandate of the same shape reuses the plan: no plan call, plan_id in the subscription call');
select is((select count(*) from public.autopay_plans), 1::bigint, 'one plan for both');
select is((select count(*) from private.razorpay_calls where operation = 'create_plan'), 1::bigint, 'created once');

-- Its create call fails: a transient failure keeps it creating; a final one fails it.
select tests.authenticate_as_service_role();
select private.record_razorpay_call_failed((row ->> 'subscription_call_id')::uuid, 503, '{"error": {"code": "SERVER_ERROR", "description": "busy"}}', false)
  from opened where label = 'b1';
reset role;
select results_eq(
  $$select status, last_error from public.autopay_mandates where case_id = tests.fixture('case_b')$$,
  $$values ('creating', 'busy')$$, 'a failure that may have reached Razorpay leaves it creating');
select tests.authenticate_as_service_role();
select private.record_razorpay_call_failed((row ->> 'subscription_call_id')::uuid, 400,
         '{"error": {"code": "BAD_REQUEST_ERROR", "description": "start_at is invalid"}}', true)
  from opened where label = 'b1';
reset role;
select results_eq(
  $$select status, last_error, reconcile_after from public.autopay_mandates where case_id = tests.fixture('case_b')$$,
  $$values ('failed', 'start_at is invalid', null::timestamptz)$$, 'refused for good, the mandate fails');

-- A quarterly policy: another shape, another plan; the failed mandate does not stand in the way.
update public.policies set payment_frequency = 'quarterly' where id = tests.fixture('policy_b');
select tests.authenticate_as('agent_b');
insert into opened select 'b2', to_jsonb(o) from private.open_autopay(tests.fixture('case_b')) o;
reset role;
select results_eq(
  $$select (row ->> 'reused')::boolean, (row ->> 'interval')::integer, (row ->> 'plan_call_id') is not null,
           row ->> 'razorpay_plan_id'
      from opened where label = 'b2'$$,
  $$values (false, 3, true, null::text)$$, 'quarterly: a new plan every 3 months, to create');
select is((select count(*) from public.autopay_plans), 2::bigint, 'two plans');
select is((select count(*) from public.autopay_mandates where case_id = tests.fixture('case_b')), 2::bigint,
  'the failed mandate stays for the record beside the new one');

-- Its plan never gets created: the reconciliation fails the mandate once its lease has passed.
select tests.authenticate_as_service_role();
select is_empty($$select * from private.claim_payment_reconciliation(50, now() + interval '11 minutes')
                   where kind like 'autopay_creating'$$,
  'a mandate whose plan Razorpay never made is not looked up');
reset role;
select results_eq(
  $$select status, last_error from public.autopay_mandates where id = (select (row ->> 'autopay_mandate_id')::uuid from opened where label = 'b2')$$,
  $$values ('failed', 'its plan was never created at Razorpay')$$, 'it fails');

-- Nothing due and a closed case.
select tests.authenticate_as('agent_b');
update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'Cheque 46' where case_id = tests.fixture('case_b');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_b'))$$,
  'PY010', null, 'a case with nothing due takes no autopay');
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'lost', lost_reason = 'Went to another broker' where id = tests.fixture('case_a');
select throws_ok($$select * from private.open_autopay(tests.fixture('case_a'))$$,
  'PY006', null, 'a closed case takes no autopay, even with a live mandate');
reset role;
select is((select count(*) from public.autopay_mandates), 3::bigint, 'neither created anything');

-- The closed case's subscription is cancelled by the reconciliation.
select tests.authenticate_as_service_role();
select results_eq(
  $$select kind, razorpay_id, lookup_key from private.claim_payment_reconciliation(50, now()) where kind like 'autopay%'$$,
  $$values ('autopay_cancel', 'sub_T46A', 'lost')$$, 'a subscription of a closed case is claimed for cancelling');
select is_empty($$select * from private.claim_payment_reconciliation(50, now()) where kind like 'autopay%'$$,
  'and leased: a second runner does not get it');
reset role;

-- The catalog: every autopay function is described; the job is scheduled.
select is(
  array(select p.oid::regprocedure::text from pg_proc p
         where p.pronamespace = 'private'::regnamespace
           and p.proname in ('open_autopay', 'record_plan_created', 'record_subscription_created',
                             'record_autopay_state', 'apply_razorpay_subscription_payment',
                             'schedule_autopay_notices', 'queue_case_message', 'open_autopay_fallback_link',
                             'queue_payment_link_reminder', 'claim_payment_reconciliation',
                             'record_razorpay_call_failed', 'ingest_razorpay_event')
           and coalesce(length(obj_description(p.oid, 'pg_proc')), 0) < 40),
  '{}'::text[], 'every autopay function has a comment');
select is((select count(*)::integer from pg_proc p where p.pronamespace = 'private'::regnamespace
            and p.proname in ('open_autopay', 'record_plan_created', 'record_subscription_created',
                              'record_autopay_state', 'apply_razorpay_subscription_payment',
                              'schedule_autopay_notices', 'queue_case_message', 'open_autopay_fallback_link',
                              'queue_payment_link_reminder')), 9, 'the check sees the nine autopay functions');
select is((select schedule from cron.job where jobname = 'schedule-autopay-notices'), '41 * * * *',
  'the pre-debit notice job runs hourly');
select is((select count(*)::integer from public.templates
            where code in ('autopay_pre_debit_notice', 'payment_link_reminder') and channel = 'email' and active), 4,
  'the notice and the link reminder have active email templates in English and Hindi');

select * from finish();
rollback;
