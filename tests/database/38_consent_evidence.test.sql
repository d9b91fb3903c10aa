-- A granted consent the desk touches keeps its evidence (migration 20261129012700): emptying it
-- would leave "granted" with nothing to show a regulator.
begin;
select plan(3);
select tests.create_test_book();
update public.consents set evidence = '{"batch": "onboarding"}' where id = tests.fixture('consent_a');
select tests.authenticate_as('agent_a');
select throws_ok(format($$update public.consents set evidence = '{}' where id = %L$$,
  tests.fixture('consent_a')), '23514', null, 'an agent cannot empty a granted consent''s evidence');
select lives_ok(format($$update public.consents set evidence = '{"form": "F-2"}' where id = %L$$,
  tests.fixture('consent_a')), 'but may replace it with other evidence');
select lives_ok(format($$update public.consents set status = 'withdrawn', evidence = '{}' where id = %L$$,
  tests.fixture('consent_a')), 'and a withdrawal needs none');
select * from finish();
rollback;
