-- The dispatchers' SQL (migration 20261129010300_create_message_dispatch): claims in priority
-- order under a lease, stalls and dead letters, permits from the rate limit and the circuit
-- breaker, releases, and a batch's results: sent, retried with backoff, moved to the fallback
-- provider, failed with the address suppressed, WhatsApp falling back to SMS through the gate.
begin;
select plan(39);
select tests.create_test_book();

-- A clock of our own, far from the real one, at noon IST.
create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role, authenticated;

insert into public.templates (code, channel, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('due', 'sms', 'service', 'Renew {{policy_number}} -PYRNWL', '1101234567890123456', 'PYRNWL',
        '1107123456789012345', 'Renew {#var#} -PYRNWL');
insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('due', 'whatsapp', 'service', 'Hi, renew {{policy_number}}', 'due_en', 'utility', 'approved', 1);
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

-- Messages of three priorities, queued an hour before our clock.
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object(
            'customer_id', tests.fixture('customer_a'), 'channel', 'sms', 'template_code', 'due',
            'variables', jsonb_build_object('policy_number', 'P' || n),
            'priority', case when n <= 2 then 9 when n <= 4 then 5 else 0 end,
            'idempotency_key', 'd-' || n))
     from generate_series(1, 6) n), pg_temp.at(-3600));

select tests.authenticate_as_service_role();

-- Claims: priority first, the lease, nobody else gets them.
create temporary table first_batch on commit drop as
select * from private.claim_messages('w1', 4, pg_temp.at());
select is(array(select m.idempotency_key from first_batch b join public.messages m on m.id = b.id
                 order by m.priority, m.idempotency_key),
  '{d-5,d-6,d-3,d-4}', 'a claim takes priority 0, then 5, before 9');
select is((select (b.provider, b.recipient, b.body, b.dlt_template_id)::text from first_batch b
            join public.messages m on m.id = b.id where m.idempotency_key = 'd-5'),
  '(twilio,+919800000001,"Renew P5 -PYRNWL",1107123456789012345)',
  'with the channel''s provider and what it needs to send');
select is((select array_agg(distinct (status, locked_by, locked_until = pg_temp.at(60))::text)
             from public.messages where id in (select id from first_batch)),
  '{"(sending,w1,t)"}', 'each is sending under w1''s lease of MESSAGE_LEASE_SECONDS');
select is((select count(*)::integer from private.claim_messages('w2', 10, pg_temp.at(1))), 2,
  'another dispatcher gets only the other two');
select is((select count(*)::integer from private.claim_messages('w2', 10, pg_temp.at(2))), 0,
  'then nothing');

-- A stalled lease comes back; the third stall is a dead letter.
select is((select count(*)::integer from private.claim_messages('w3', 10, pg_temp.at(60.5))), 4,
  'after w1''s lease runs out (w2''s has not) its messages are claimed again');
select is((select array_agg(distinct stalls) from public.messages where locked_by = 'w3'), '{1}',
  'each counting a stall');
select count(*) from private.claim_messages('w4', 10, pg_temp.at(200));
select is((select count(*)::integer from private.claim_messages('w5', 10, pg_temp.at(300))), 2,
  'at w1''s messages'' third stall only w2''s two are claimed');
select is((select count(*)::integer from private.claim_messages('w6', 10, pg_temp.at(365))), 0,
  'and at their third, nothing');
select is((select array_agg(distinct (status, dead_reason, stalls)::text) from public.messages
            where idempotency_key like 'd-%'),
  '{"(dead,stalled,3)"}', 'all six are dead letters, stalled');

-- Fresh messages for the results.
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object(
            'customer_id', tests.fixture('customer_a'), 'channel', 'sms', 'template_code', 'due',
            'variables', jsonb_build_object('policy_number', 'R' || n), 'idempotency_key', 'r-' || n))
     from generate_series(1, 4) n), pg_temp.at(400));
create temporary table batch on commit drop as
select b.*, m.idempotency_key from private.claim_messages('w6', 10, pg_temp.at(400)) b
  join public.messages m on m.id = b.id;
select is((select count(*)::integer from batch), 4, 'four fresh messages are claimed');

create function pg_temp.result(key text, fields jsonb) returns jsonb
language sql stable
as $$ select jsonb_build_object('id', b.id, 'attempt', b.attempts) || fields from batch b where b.idempotency_key = key $$;
grant execute on function pg_temp.result(text, jsonb) to service_role;

select is(private.record_send_results('w6', jsonb_build_array(
    pg_temp.result('r-1', '{"ok": true, "provider_message_id": "SM0123456789abcdef0123456789abcdef"}'),
    pg_temp.result('r-2', '{"ok": false, "disposition": "transient", "code": "20429", "message": "Too Many Requests", "retry_after_ms": 120000}'),
    pg_temp.result('r-3', '{"ok": false, "disposition": "permanent", "code": "21211", "message": "Invalid To", "address_dead": true}'),
    jsonb_build_object('id', (select id from batch where idempotency_key = 'r-4'), 'attempt', 99, 'ok', true,
                       'provider_message_id', 'SMstale')),
  pg_temp.at(401)), 3, 'a batch of results is recorded in one call (a stale attempt''s is not)');
select is((select (status, provider_message_id, sent_at = pg_temp.at(401), locked_by)::text
             from public.messages where idempotency_key = 'r-1'),
  '(sent,SM0123456789abcdef0123456789abcdef,t,)', 'success: sent, with the vendor''s id, lease gone');
select is((select (status, deferred_reason, last_error_code, next_attempt_at >= pg_temp.at(401 + 120))::text
             from public.messages where idempotency_key = 'r-2'),
  '(queued,retry,20429,t)', 'a 429: queued again no sooner than its Retry-After');
select is((select (status, last_error_code, failed_at = pg_temp.at(401))::text
             from public.messages where idempotency_key = 'r-3'),
  '(failed,21211,t)', 'a permanent error fails at once');
select is((select (reason, source)::text from public.suppressions where address = '+919800000001' and channel = 'sms'),
  '(invalid_number,twilio_21211)', 'and its dead address is suppressed');
select is((select (status, provider_message_id)::text from public.messages where idempotency_key = 'r-4'),
  '(sending,)', 'the stale result changed nothing');
select is(private.record_send_results('w6', jsonb_build_array(
    pg_temp.result('r-4', '{"ok": true, "provider_message_id": "SMr4"}')), pg_temp.at(402)),
  1, 'its own result is recorded');
reset role;
select is((select blocked_reason from private.enqueue_messages(jsonb_build_object(
    'customer_id', tests.fixture('customer_a'), 'channel', 'sms', 'template_code', 'due',
    'variables', '{"policy_number": "X"}'::jsonb, 'idempotency_key', 'after-dead'), pg_temp.at(402))),
  'suppressed', 'the next SMS to that number is blocked at the gate');
delete from public.suppressions;

-- Transient failures: backoff, then the fallback provider, then a dead letter.
update public.app_settings set value = '{"max_attempts": 2, "base_seconds": 1, "max_seconds": 4}'
 where key = 'MESSAGE_RETRY';
update public.app_settings set value = '{"failures": 100, "open_seconds": 30}' where key = 'PROVIDER_BREAKER';
select tests.authenticate_as_service_role();
create function pg_temp.fail_once(key text, at timestamptz) returns text
language plpgsql
as $$
declare
  claimed private.claimed_message;
begin
  create temporary table claimed_now on commit drop as
  select c.*, m.idempotency_key from private.claim_messages('w7', 1000, at) c
    join public.messages m on m.id = c.id;
  select c.id, c.attempts, c.provider into claimed.id, claimed.attempts, claimed.provider
    from claimed_now c where c.idempotency_key = key;
  perform private.release_messages('w7', array(select c.id from claimed_now c where c.idempotency_key <> key),
                                   at, at);
  drop table claimed_now;
  if claimed.id is null then
    return 'not claimed';
  end if;
  perform private.record_send_results('w7', jsonb_build_array(jsonb_build_object(
    'id', claimed.id, 'attempt', claimed.attempts, 'ok', false, 'disposition', 'transient',
    'code', '500', 'message', 'Internal Server Error')), at);
  return claimed.provider;
end;
$$;
grant execute on function pg_temp.fail_once(text, timestamptz) to service_role;
select is(pg_temp.fail_once('r-2', pg_temp.at(1000)), 'twilio', 'the second try is on Twilio');
select is((select (provider, provider_attempts, next_attempt_at <= pg_temp.at(1000) + interval '1 second')::text
             from public.messages where idempotency_key = 'r-2'),
  '(aws_sns,0,t)', 'after max_attempts it moves to the channel''s fallback, AWS SNS, at once');
select is(pg_temp.fail_once('r-2', pg_temp.at(1001)), 'aws_sns', 'the next try is on SNS');
select is(pg_temp.fail_once('r-2', pg_temp.at(1010)), 'aws_sns', 'and the one after');
select is((select (status, dead_reason, attempts)::text from public.messages where idempotency_key = 'r-2'),
  '(dead,retries_exhausted,4)', 'with the fallback exhausted too it is a dead letter');

-- The breaker opens after PROVIDER_BREAKER.failures, lets one probe through after open_seconds,
-- and closes on its success.
reset role;
update public.app_settings set value = '{"failures": 2, "open_seconds": 30}' where key = 'PROVIDER_BREAKER';
update public.app_settings set value = '{"max_attempts": 5, "base_seconds": 1, "max_seconds": 4}'
 where key = 'MESSAGE_RETRY';
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object(
            'customer_id', tests.fixture('customer_b'), 'channel', 'sms', 'template_code', 'due',
            'variables', jsonb_build_object('policy_number', 'B' || n), 'idempotency_key', 'b-' || n))
     from generate_series(1, 3) n), pg_temp.at(2000));
select tests.authenticate_as_service_role();
create temporary table b_batch on commit drop as
select c.*, m.idempotency_key from private.claim_messages('w7', 10, pg_temp.at(2000)) c
  join public.messages m on m.id = c.id;
select is(array(select idempotency_key from b_batch order by idempotency_key), '{b-1,b-2,b-3}',
  'three messages for Twilio are claimed');
select private.record_send_results('w7', jsonb_agg(jsonb_build_object('id', b.id, 'attempt', b.attempts,
         'ok', false, 'disposition', 'transient', 'code', '503', 'message', 'Service Unavailable')),
       pg_temp.at(2000))
  from b_batch b where b.idempotency_key in ('b-1', 'b-2');
select is((select breaker from public.provider_state where provider = 'twilio'), 'open',
  'two consecutive transient failures open Twilio''s breaker');
select is((select (permits, breaker)::text from private.take_send_permits('{"twilio": 5}', pg_temp.at(2001))),
  '(0,open)', 'an open breaker gives no permits');
select is(private.release_messages('w7', array(select id from b_batch where idempotency_key = 'b-3'),
                                   null, pg_temp.at(2001)),
  1, 'the message without a permit is released');
select is((select (status, provider, attempts)::text from public.messages where idempotency_key = 'b-3'),
  '(queued,aws_sns,0)', 'onto the fallback provider while the breaker is open, its attempt uncounted');
select is((select (permits, breaker)::text from private.take_send_permits('{"twilio": 5}', pg_temp.at(2031))),
  '(1,half_open)', 'after open_seconds one probe may go');
select is((select (permits, breaker)::text from private.take_send_permits('{"twilio": 5}', pg_temp.at(2032))),
  '(0,half_open)', 'and only one');
select private.record_send_results('w8', jsonb_agg(jsonb_build_object('id', c.id, 'attempt', c.attempts,
         'ok', true, 'provider_message_id', 'SMprobe')), pg_temp.at(2033))
  from private.claim_messages('w8', 1, pg_temp.at(2033)) c;
select is((select (breaker, consecutive_failures)::text from public.provider_state where provider = 'twilio'),
  '(closed,0)', 'the probe''s success closes the breaker');
select is(array(select breaker from public.provider_breaker_events where provider = 'twilio' order by at, id),
  '{open,half_open,closed}', 'and its history is kept');

-- The token bucket: rate_per_second permits, one second banked, shared by every caller.
select is((select permits from private.take_send_permits('{"aws_ses": 20}', pg_temp.at(3000))), 14,
  'SES at 14 a second grants 14 of 20');
select is((select (permits, retry_at > pg_temp.at(3000))::text from private.take_send_permits('{"aws_ses": 20}', pg_temp.at(3000))),
  '(0,t)', 'none more in the same instant, with a time to come back');
select is((select permits from private.take_send_permits('{"aws_ses": 20}', pg_temp.at(3000.5))), 7,
  'half a second later, half the rate');

-- WhatsApp refused for a reason SMS can get round: the same template goes by SMS, via the gate.
reset role;
select count(*) from private.enqueue_messages(jsonb_build_object(
  'customer_id', tests.fixture('customer_a'), 'channel', 'whatsapp', 'template_code', 'due',
  'variables', '{"policy_number": "W1"}'::jsonb, 'idempotency_key', 'wa-1'), pg_temp.at(4000));
select tests.authenticate_as_service_role();
select private.record_send_results('w9', jsonb_agg(jsonb_build_object('id', c.id, 'attempt', c.attempts,
         'ok', false, 'disposition', 'fallback', 'code', '131026', 'message', 'Message undeliverable')), pg_temp.at(4000))
  from private.claim_messages('w9', 10, pg_temp.at(4000)) c;
select is((select (status, last_error_code)::text from public.messages where idempotency_key = 'wa-1'),
  '(failed,131026)', 'WhatsApp 131026: the message fails');
select is((select (channel, status, body)::text from public.messages
            where idempotency_key = 'sms-fallback:' || (select id from public.messages where idempotency_key = 'wa-1')),
  '(sms,queued,"Renew W1 -PYRNWL")', 'and the same template is queued by SMS');

-- Only service_role (and the jobs) may run the dispatcher's functions.
select tests.authenticate_as('admin');
select throws_ok($$select * from private.claim_messages('x', 1)$$, '42501', null,
  'an admin may not claim messages');

select * from finish();
rollback;
