-- The gate's typed entry (private.enqueue_message_batch, issue 9's speed): the same messages as
-- the JSON entry for the same requests, a key repeated in one array stored once, results in the
-- array's order, a null array and a malformed request refused, and nobody but the owner's jobs
-- may call it.
begin;
select plan(10);
select tests.create_test_book();
update public.app_settings set value = '{}' where key = 'MESSAGE_FREQUENCY_CAPS';

-- A transactional email of free text (no template), for the test book's customer.
create function pg_temp.request(key text, body text default 'Receipt') returns private.gate_request
language sql stable
as $$
  select row(null, tests.fixture('customer_a'), null, 'email', 'transactional', null, null, '{}',
             body, 'Receipt', null, key, null, null, 'typed test', null)::private.gate_request
$$;

select is(
  (select array_agg(r.idempotency_key || ' ' || r.created::text order by ord)
     from private.enqueue_message_batch(array[pg_temp.request('t119:b'), pg_temp.request('t119:a'),
                                              pg_temp.request('t119:b', 'Again')])
          with ordinality as r (message_id, idempotency_key, status, blocked_reason, deferred_reason,
                                next_attempt_at, created, ord)),
  array['t119:b true', 't119:a true'],
  'one row per key, in the order of the array; the repeated key is the same message');
select is((select count(*) from public.messages where idempotency_key in ('t119:a', 't119:b')), 2::bigint,
  'two messages stored');
select is((select body from public.messages where idempotency_key = 't119:b'), 'Receipt',
  'the first request of a repeated key is the one stored');
select is((select choice_reason from public.messages where idempotency_key = 't119:a'), 'typed test',
  'the request''s fields reach the message');

-- The JSON entry gives the same message for the same request.
select private.enqueue_messages(jsonb_build_object(
  'customer_id', tests.fixture('customer_a'), 'channel', 'email', 'purpose', 'transactional',
  'body', 'Receipt', 'subject', 'Receipt', 'idempotency_key', 't119:json', 'choice_reason', 'typed test'));
select is(
  (select (m.channel, m.purpose, m.status, m.body, m.subject, m.recipient, m.priority, m.choice_reason)::text
     from public.messages m where m.idempotency_key = 't119:json'),
  (select (m.channel, m.purpose, m.status, m.body, m.subject, m.recipient, m.priority, m.choice_reason)::text
     from public.messages m where m.idempotency_key = 't119:a'),
  'the JSON entry stores the same message as the typed one');

select throws_ok($$select * from private.enqueue_message_batch(null)$$, '22023', null,
  'a null array is refused');
select throws_ok(
  $$select * from private.enqueue_message_batch(array[row(null, null, null, 'email', 'transactional',
      null, null, '{}', 'x', null, null, 't119:bad', null, null, null, null)::private.gate_request])$$,
  '22023', null, 'a request without a customer is refused');
select ok(not has_function_privilege('service_role', 'private.enqueue_message_batch(private.gate_request[], timestamptz)', 'execute')
          and not has_function_privilege('authenticated', 'private.enqueue_message_batch(private.gate_request[], timestamptz)', 'execute'),
  'neither service_role nor a signed-in user may call the typed entry');

-- The send window's rule, given the zone or reading it, answers alike (every quarter hour of a
-- day, for a window by day, one across midnight, and an always-open one).
select is(
  (select count(*) from generate_series(timestamptz '2031-01-01 00:00+00', '2031-01-02 00:00+00', '15 minutes') t,
          (values (time '10:00', time '21:00'), (time '08:00', time '21:00'), (time '21:00', time '08:00'),
                  (time '09:00', time '09:00')) w (opens, closes)
    where private.next_allowed_time(t, w.opens, w.closes)
          is distinct from private.next_allowed_time(t, w.opens, w.closes, 'Asia/Kolkata')),
  0::bigint, 'the window rule in the business zone equals the rule given Asia/Kolkata');
select is(private.next_allowed_time('2031-01-01 16:00+00', '10:00', '21:00', 'Asia/Kolkata'),
  '2031-01-02 04:30+00'::timestamptz, '21:30 IST is deferred to 10:00 IST the next day');

select * from finish();
rollback;
