-- The desk's door runs on the real clock (migration send_desk_messages_now, found by a review): a
-- signed-in agent calling private.send_desk_message through SQL could pass as_of, queue messages
-- dated 2020 and so get round the per-customer frequency cap (it counts what was queued in the
-- last days). The desk now has private.send_desk_message(request), always now(); the as_of form
-- is the owner's (tests, jobs), not executable by authenticated.
begin;
select plan(9);
select tests.create_test_book();
update public.app_settings set value = '{"service": {"max": 2, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

create function pg_temp.request(key text) returns jsonb
language sql stable
as $$
  select jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', 'email',
                            'subject', 'Hello', 'body', 'Please call me', 'purpose', 'service',
                            'idempotency_key', key)
$$;
grant execute on function pg_temp.request(text) to authenticated;

select is(has_function_privilege('authenticated', 'private.send_desk_message(jsonb)', 'execute'), true,
  'the desk may call private.send_desk_message(request)');
select is(has_function_privilege('authenticated', 'private.send_desk_message(jsonb, timestamptz)', 'execute'),
  false, 'but not the form that takes a clock');

select tests.authenticate_as('agent_a');
select throws_ok(
  $$select * from private.send_desk_message(pg_temp.request('t151:2020'), '2020-01-01T06:30:00Z')$$,
  '42501', 'permission denied for function send_desk_message',
  'an agent''s backdated call is refused');
select is((select (status, created)::text from private.send_desk_message(pg_temp.request('t151:1'))),
  '(queued,t)', 'an agent''s message is queued');
select is((select (status, created)::text from private.send_desk_message(pg_temp.request('t151:2'))),
  '(queued,t)', 'a second one too (service: 2 a day)');
select is((select coalesce(blocked_reason, status::text) from private.send_desk_message(pg_temp.request('t151:3'))),
  'frequency_cap', 'the third is capped: the agent cannot move the clock out of the window');
reset role;
select is(
  (select array_agg(distinct queued_at = now())::text from public.messages
    where idempotency_key like format('desk:%s:t151:%%', tests.get_user_id('agent_a'))),
  '{t}', 'each was queued at now()');
select is_empty(
  format($$select 1 from public.messages where idempotency_key = 'desk:%s:t151:2020'$$,
         tests.get_user_id('agent_a')),
  'the backdated one left nothing');

-- The owner (tests, jobs) still moves the clock, with the desk member's claims.
select tests.authenticate_as('agent_a');
reset role;
create temporary table owner_sent as
select * from private.send_desk_message(pg_temp.request('t151:owner'), '2027-01-05T06:30:00Z');
select is((select m.queued_at from public.messages m join owner_sent o on o.message_id = m.id),
  '2027-01-05T06:30:00Z'::timestamptz, 'the owner''s call takes as_of, for tests');

select * from finish();
rollback;
