-- A granted consent the desk touches keeps its evidence (migration 20261129012700): emptying it
-- would leave "granted" with nothing to show a regulator. The desk records consents only through
-- private.record_consent (the consent ledger, issue 13), which holds the same rule.
begin;
select plan(4);
select tests.create_test_book();
update public.consents set evidence = '{"batch": "onboarding"}' where id = tests.fixture('consent_a');
select tests.authenticate_as('agent_a');
select throws_ok(format($$update public.consents set evidence = '{}' where id = %L$$,
  tests.fixture('consent_a')), '42501', null, 'an agent cannot write a consent directly');
select throws_ok(format($$select private.record_consent(%L, 'whatsapp', 'service', 'granted', 'agent_call', '{}')$$,
  tests.fixture('customer_a')), '23514', null, 'nor record a grant with empty evidence');
select lives_ok(format($$select private.record_consent(%L, 'whatsapp', 'service', 'granted', 'agent_call', '{"form": "F-2"}')$$,
  tests.fixture('customer_a')), 'but may record it with other evidence');
select lives_ok(format($$select private.record_consent(%L, 'whatsapp', 'service', 'withdrawn', 'agent_call', '{}')$$,
  tests.fixture('customer_a')), 'and a withdrawal needs none');
select * from finish();
rollback;
