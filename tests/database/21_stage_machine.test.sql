-- The renewal stage machine lives in the database: no client can skip or reverse a stage.
begin;
select plan(17);
select tests.create_test_book();

select set_eq(
  $$select a::text || '>' || b::text
      from unnest(enum_range(null::public.case_stage)) a,
           unnest(enum_range(null::public.case_stage)) b
     where a <> b and private.case_stage_transition_allowed(a, b)$$,
  array[
    'new>contacted', 'new>quoted', 'new>payment_pending', 'new>renewed', 'new>pending_lapse',
    'new>lost', 'new>not_taken',
    'contacted>quoted', 'contacted>payment_pending', 'contacted>renewed', 'contacted>pending_lapse',
    'contacted>lost', 'contacted>not_taken',
    'quoted>payment_pending', 'quoted>renewed', 'quoted>pending_lapse', 'quoted>lost', 'quoted>not_taken',
    'payment_pending>quoted', 'payment_pending>renewed', 'payment_pending>pending_lapse',
    'payment_pending>lost', 'payment_pending>not_taken',
    'pending_lapse>renewed', 'pending_lapse>lapsed', 'pending_lapse>lost', 'pending_lapse>not_taken'
  ],
  'exactly these transitions are allowed; renewed, lapsed, lost and not_taken are final'
);

-- The happy path, as agent A works their case.
select tests.authenticate_as('agent_a');
select lives_ok($$update public.renewal_cases set stage = 'contacted' where id = tests.fixture('case_a')$$,
  'new -> contacted');
select lives_ok($$update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_a')$$,
  'contacted -> quoted');
select lives_ok($$update public.renewal_cases set stage = 'payment_pending' where id = tests.fixture('case_a')$$,
  'quoted -> payment_pending');
select throws_ok($$update public.renewal_cases set stage = 'contacted' where id = tests.fixture('case_a')$$,
  'PY002', 'illegal stage transition from payment_pending to contacted', 'no going back to contacted');
select throws_ok($$update public.renewal_cases set stage = 'renewed' where id = tests.fixture('case_a')$$,
  'PY005', null, 'a case that still owes its premium cannot be marked renewed');
select lives_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'NEFT UTR 1234'
     where id = tests.fixture('installment_a')$$,
  'the agent records the premium paid');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_a')), 'renewed',
  'settling what it owed renews the case');
select is((select status::text from public.policies where id = tests.fixture('policy_a')), 'renewed',
  'a renewed case marks its policy renewed');
select isnt((select closed_at from public.renewal_cases where id = tests.fixture('case_a')), null,
  'and closes the case');
select throws_ok($$update public.renewal_cases set stage = 'pending_lapse' where id = tests.fixture('case_a')$$,
  'PY002', 'illegal stage transition from renewed to pending_lapse', 'a renewed case stays renewed');

-- Lapse goes through pending_lapse; lost needs a reason.
select throws_ok($$update public.renewal_cases set stage = 'lapsed' where id = tests.fixture('case_b')$$,
  'PY002', 'illegal stage transition from new to lapsed', 'a case lapses only after pending_lapse');
select throws_ok($$update public.renewal_cases set stage = 'lost' where id = tests.fixture('case_b')$$,
  '23514', null, 'a lost case needs a reason');
select lives_ok(
  $$update public.renewal_cases set stage = 'lost', lost_reason = 'Sold the car'
     where id = tests.fixture('case_b')$$,
  'with a reason it is lost');
select is((select status::text from public.policies where id = tests.fixture('policy_b')), 'active',
  'a lost case leaves the policy to run out');
select is(
  (select count(*)::int from public.audit_log
    where table_name = 'renewal_cases' and row_id = tests.fixture('case_a') and action = 'update'),
  4, 'each stage change of case A is in the audit log (the refused ones are not)');

select tests.authenticate_as('branch_b_manager');
select throws_ok($$update public.renewal_cases set priority = 'urgent' where id = tests.fixture('case_b')$$,
  'PY006', null, 'a lost case is history: nothing about it changes');
reset role;

select * from finish();
rollback;
