-- The performance read functions (migration 20261129230435_create_performance_functions):
-- private.node_performance and private.message_performance refuse agents, analysts, users
-- without a role and anon (42501), a node outside a manager's subtree or unknown (P0002), bad
-- periods and arguments (22023); a manager's figures hold only their subtree's cases and
-- messages, an admin's everything.
begin;
select plan(33);
select tests.create_test_book();

-- Messages of a day long past that nothing else uses, IST: one for each test case and one of
-- customer a's with no case; all sent by twilio at an estimate of 25 paise.
create function pg_temp.ist(clock time) returns timestamptz
language sql immutable
as $$ select (date '2003-03-03' + clock) at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.ist(time) to authenticated, anon;

insert into public.messages (customer_id, case_id, channel, purpose, body, recipient,
                             idempotency_key, status, provider, estimated_cost_paise, queued_at,
                             sent_at, created_at)
values (tests.fixture('customer_a'), tests.fixture('case_a'), 'sms', 'service', 'a', '+919800000001',
        'perf:88:a', 'sent', 'twilio', 25, pg_temp.ist('10:00'), pg_temp.ist('10:00:02'),
        pg_temp.ist('10:00')),
       (tests.fixture('customer_b'), tests.fixture('case_b'), 'sms', 'service', 'b', '+919800000002',
        'perf:88:b', 'sent', 'twilio', 25, pg_temp.ist('11:00'), pg_temp.ist('11:00:04'),
        pg_temp.ist('11:00')),
       (tests.fixture('customer_a'), null, 'sms', 'service', 'x', '+919800000001',
        'perf:88:x', 'sent', 'twilio', 25, pg_temp.ist('12:00'), pg_temp.ist('12:00:01'),
        pg_temp.ist('12:00'));
select lives_ok($$select private.rebuild_analytics('2003-03-03', '2003-03-03')$$,
  'the facts of the day are built');
select lives_ok($$select private.rebuild_analytics(current_date + 30, current_date + 30)$$,
  'and the cohort of the test cases (due in 30 days)');

create function pg_temp.messages(provider text default 'twilio') returns bigint
language sql stable
as $$
  select (private.message_performance('sms', provider, pg_temp.ist('00:00'),
                                       pg_temp.ist('00:00') + interval '1 day', 'day')
            -> 'counts' ->> 'messages')::bigint
$$;
grant execute on function pg_temp.messages(text) to authenticated, anon;

-- The nodes' ids as the test's superuser sees them (a manager's RLS hides the others').
create temporary table nodes on commit drop as
select n.code, n.id from public.hierarchy_nodes n where n.code like 'T\_%';
grant select on nodes to authenticated, anon;

create function pg_temp.due(node_code text) returns bigint
language sql stable
as $$
  select (private.node_performance((select n.id from nodes n where n.code = node_code),
                                   current_date + 30, current_date + 30) -> 'cases' ->> 'due')::bigint
$$;
grant execute on function pg_temp.due(text) to authenticated, anon;

-- Who is refused.
select tests.authenticate_as('agent_a');
select throws_ok($$select pg_temp.due('T_TEAM_A')$$, '42501',
  'only managers and admins read performance figures', 'an agent reads no node, not even their own');
select throws_ok($$select pg_temp.messages()$$, '42501',
  'only managers and admins read performance figures', 'nor any message figure');
select tests.authenticate_as('analyst');
select throws_ok($$select pg_temp.due('T_ZONE')$$, '42501',
  'only managers and admins read performance figures', 'an analyst reads no node (the analytics schema is theirs)');
select throws_ok($$select pg_temp.messages()$$, '42501',
  'only managers and admins read performance figures', 'nor message figures');
select tests.authenticate_as('newcomer');
select throws_ok($$select pg_temp.due('T_ZONE')$$, '42501',
  'only managers and admins read performance figures', 'a user with no role is refused');
select tests.clear_authentication();
set local role anon;
select throws_ok($$select pg_temp.due('T_ZONE')$$, '42501', null, 'anon cannot reach node_performance');
select throws_ok($$select pg_temp.messages()$$, '42501', null, 'nor message_performance');
reset role;
select ok(not has_function_privilege('anon', 'private.node_performance(uuid,date,date)', 'execute')
          and not has_function_privilege('anon',
                'private.message_performance(text,text,timestamptz,timestamptz,text)', 'execute'),
  'anon has no execute on either, even given the schema');

-- A manager: their subtree only.
select tests.authenticate_as('branch_b_manager');
select throws_ok($$select pg_temp.due('T_BRANCH_A')$$, 'P0002',
  'no such hierarchy node, or not yours to see', 'a sibling branch is not theirs: not found');
select throws_ok($$select pg_temp.due('T_TEAM_A')$$, 'P0002',
  'no such hierarchy node, or not yours to see', 'nor a team under it');
select throws_ok($$select pg_temp.due('T_REGION')$$, 'P0002',
  'no such hierarchy node, or not yours to see', 'nor the region above their branch');
select is(pg_temp.due('T_BRANCH_B'), 1::bigint, 'their branch: case b, due in the period');
select is(pg_temp.due('T_TEAM_B'), 1::bigint, 'and the team under it');
select is(pg_temp.messages(), 1::bigint,
  'their messages: case b''s only (not case a''s, not the message with no case)');
select tests.authenticate_as('zone_manager');
select is(pg_temp.messages(), 2::bigint, 'the zone''s manager: both cases'' messages, no case-less one');
select is(pg_temp.messages('aws_sns'), 0::bigint, 'and none of another provider');
select is(
  (select jsonb_agg(c -> 'node' ->> 'code' order by c -> 'node' ->> 'code')
     from jsonb_array_elements(private.node_performance(
            (select n.id from nodes n where n.code = 'T_REGION'),
            current_date + 30, current_date + 30) -> 'children') c),
  '["T_BRANCH_A", "T_BRANCH_B"]'::jsonb, 'a region''s children side by side');

-- An admin: every message, every node; an unknown node is not found.
select tests.authenticate_as('admin');
select is(pg_temp.messages(), 3::bigint, 'an admin counts the case-less message too');
select is(pg_temp.due('T_REGION'), 2::bigint, 'and any node');
select throws_ok(format($$select private.node_performance(%L, current_date, current_date)$$,
                        gen_random_uuid()),
  'P0002', 'no such hierarchy node, or not yours to see', 'an unknown node is not found');

-- Bad periods and arguments.
select throws_ok($$select private.node_performance((select id from nodes where code = 'T_ZONE'),
                                                   current_date, current_date - 1)$$,
  '22023', 'from_day must not be after to_day', 'a node''s period running backwards');
select throws_ok($$select private.node_performance((select id from nodes where code = 'T_ZONE'),
                                                   current_date - 366, current_date)$$,
  '22023', 'a period covers at most 366 days', 'a node''s period of 367 days');
select throws_ok($$select private.node_performance(null, current_date, current_date)$$,
  '22023', 'node_id, from_day and to_day are required', 'no node');
select throws_ok($$select private.message_performance('sms', null, pg_temp.ist('00:00'),
                                                      pg_temp.ist('00:00') + interval '1 day', 'week')$$,
  '22023', 'grain is hour or day', 'a grain that is neither');
select throws_ok($$select private.message_performance('fax', null, pg_temp.ist('00:00'),
                                                      pg_temp.ist('00:00') + interval '1 day', 'day')$$,
  '22023', 'channel is sms, email or whatsapp', 'a channel that is none of the three');
select throws_ok($$select private.message_performance(null, 'twilio', pg_temp.ist('00:00'),
                                                      pg_temp.ist('00:00'), 'day')$$,
  '22023', 'from_ts must come before to_ts', 'an empty period');
select throws_ok($$select private.message_performance(null, 'twilio', pg_temp.ist('00:00') - interval '367 days',
                                                      pg_temp.ist('00:00'), 'day')$$,
  '22023', 'a period covers at most 366 days', 'a year and more');
select throws_ok($$select private.message_performance(null, 'twilio', pg_temp.ist('10:00'),
                                                      pg_temp.ist('10:00') + interval '1 day', 'day')$$,
  '22023', 'a period of grain day starts and ends on whole IST days', 'days from 10:00 IST');
select throws_ok($$select private.message_performance(null, 'twilio', pg_temp.ist('10:00') - interval '30 minutes',
                                                      pg_temp.ist('11:00'), 'hour')$$,
  '22023', 'a period of grain hour starts and ends on whole IST hours', 'hours from half past (IST)');
select throws_ok($$select private.message_performance(null, 'twilio', pg_temp.ist('10:00'),
                                                      pg_temp.ist('11:00'), 'hour')$$,
  '22023', 'hourly figures cover the last 7 days only', 'hours of a day long past');
select lives_ok(format($$select private.message_performance(null, 'twilio', %L, %L, 'hour')$$,
                       date_trunc('hour', now() at time zone 'Asia/Kolkata') at time zone 'Asia/Kolkata'
                         - interval '7 days',
                       date_trunc('hour', now() at time zone 'Asia/Kolkata') at time zone 'Asia/Kolkata'
                         + interval '1 hour'),
  'the last 7 days and this hour, by the hour');

select * from finish();
rollback;
