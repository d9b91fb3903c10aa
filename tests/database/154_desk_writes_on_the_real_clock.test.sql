-- The desk's writes are judged on the real clock (migration judge_desk_writes_on_the_real_clock):
-- private.job_clock() read py360.as_of, a setting any session may set, so an agent in SQL could
-- set it to 2020 and quote a case, its quote message and renewal notice then going through the
-- gate at 2020 (frequency cap and send hours judged then, due at once). In a desk session it is
-- now() whatever py360.as_of says; the daily jobs (owner, service_role) still move it.
begin;
select plan(7);
select tests.create_test_book();

-- The jobs' clock still moves.
select set_config('py360.as_of', '2030-01-01T00:00:00Z', true);
select is(private.job_clock(), '2030-01-01T00:00:00Z'::timestamptz, 'the owner (pg_cron''s jobs) moves it');
select tests.authenticate_as_service_role();
select is(private.job_clock(), '2030-01-01T00:00:00Z'::timestamptz, 'so does service_role');
reset role;

-- An agent's does not.
select tests.authenticate_as('agent_a');
select set_config('py360.as_of', '2020-01-01T06:30:00Z', true);
select is(private.job_clock(), now(), 'an agent who sets py360.as_of still gets now()');
select set_config('py360.as_of', 'not a time', true);
select is(private.job_clock(), now(), 'whatever they set it to');
select set_config('py360.as_of', '2020-01-01T06:30:00Z', true);
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_a');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_a')), 'quoted',
          'the agent quotes the case');
select is((select count(*)::integer from public.messages where case_id = tests.fixture('case_a')), 2,
          'which queues its quote message and its renewal notice');
select is((select array_agg(distinct queued_at = now())::text from public.messages
            where case_id = tests.fixture('case_a')),
          '{t}', 'both through the gate at now(), not at the agent''s 2020');

select * from finish();
rollback;
