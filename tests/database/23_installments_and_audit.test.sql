-- Installments settle once, settling the last one renews the case, and every change to cases,
-- installments, payments and consents is in the audit log with who made it.
begin;
select plan(10);
select tests.create_test_book();

select tests.authenticate_as('zone_manager');
select throws_ok(
  $$update public.outstanding_amounts set status = 'waived' where id = tests.fixture('installment_a')$$,
  '23514', null, 'a waiver needs a reason');
select tests.authenticate_as('agent_a');
select lives_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'Cheque 004512'
     where id = tests.fixture('installment_a')$$,
  'an agent records an offline payment');
select throws_ok(
  $$update public.outstanding_amounts set status = 'pending', paid_at = null
     where id = tests.fixture('installment_a')$$,
  'PY004', 'installment 1 is already paid', 'a paid installment stays paid');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_a')), 'renewed',
  'settling the last open installment renews the case');
select is((select status::text from public.policies where id = tests.fixture('policy_a')), 'renewed',
  'and the policy');

select results_eq(
  $$select actor_id, actor_role, old_row ->> 'status', new_row ->> 'status', new_row ->> 'reason'
      from public.audit_log
     where table_name = 'outstanding_amounts' and row_id = tests.fixture('installment_a')
       and action = 'update'$$,
  $$values (tests.get_user_id('agent_a'), 'authenticated', 'pending', 'paid', 'Cheque 004512')$$,
  'the installment change is audited with who, before and after');
select results_eq(
  $$select actor_id, old_row ->> 'stage', new_row ->> 'stage' from public.audit_log
     where table_name = 'renewal_cases' and row_id = tests.fixture('case_a') and action = 'update'$$,
  $$values (tests.get_user_id('agent_a'), 'new', 'renewed')$$,
  'so is the renewal it caused, on behalf of the same user');

select tests.authenticate_as('agent_b');
select private.record_consent(tests.fixture('customer_b'), 'whatsapp', 'service', 'withdrawn', 'agent_call');
reset role;
update public.consents set status = status where id = tests.fixture('consent_b');
select results_eq(
  $$select old_row ->> 'status', new_row ->> 'status', new_row ->> 'source' from public.audit_log
     where table_name = 'consents' and row_id = tests.fixture('consent_b') and action = 'update'$$,
  $$values ('granted', 'withdrawn', 'agent_call')$$,
  'a consent withdrawal is audited; an update that changes nothing is not');

select is((select actor_role from public.audit_log
            where table_name = 'payments' and row_id = tests.fixture('payment_a') and action = 'insert'),
  'system', 'payments written outside a request are audited as system');

select tests.authenticate_as_service_role();
update public.payments set status = 'captured', captured_at = now() where id = tests.fixture('payment_b');
reset role;
select is((select actor_role from public.audit_log
            where table_name = 'payments' and row_id = tests.fixture('payment_b') and action = 'update'),
  'service_role', 'and backend writes as service_role');

select * from finish();
rollback;
