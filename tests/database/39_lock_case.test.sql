-- private.lock_case serves the desk only for cases in the caller's book (migration
-- 20261129012800_guard_lock_case); the settlement trigger that calls it keeps working.
begin;
select plan(4);
select tests.create_test_book();
select tests.authenticate_as('analyst');
select throws_ok(format('select private.lock_case(%L)', tests.fixture('case_a')), '42501', null,
  'an analyst can neither read a case''s stage nor lock it');
select tests.authenticate_as('agent_b');
select throws_ok(format('select private.lock_case(%L)', tests.fixture('case_a')), '42501', null,
  'nor can another agent');
select tests.authenticate_as('agent_a');
select is(private.lock_case(tests.fixture('case_a'))::text, 'new', 'the case''s own agent can');
select lives_ok(format($$update public.outstanding_amounts set status = 'paid', paid_at = now(),
  reason = 'UTR 1234' where id = %L$$, tests.fixture('installment_a')),
  'and settles the installment through the trigger that locks it');
select * from finish();
rollback;
