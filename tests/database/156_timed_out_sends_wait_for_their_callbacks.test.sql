-- A send that timed out may have reached the vendor (migration
-- hold_timed_out_sends_for_their_callbacks): its retry, and its move to the channel's fallback
-- provider, wait MESSAGE_TIMEOUT_RETRY_SECONDS (600 by default), so that the vendor's callback,
-- which carries our message id, settles it first; a callback in the meantime moves it forward and
-- it is not sent again. Other transient failures keep their backoff (seconds).
begin;
select plan(7);
select tests.create_test_org();

-- Our own clock: noon IST.
create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role;

insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t156_due', 'sms', 'en', 'service', 'Dear {{customer_name}}, renew soon -PYRNWL',
        '1101234567890123456', 'PYRNWL', '1107123456789015601', 'Dear {#var#}, renew soon -PYRNWL');
with c as (insert into public.customers (full_name, phone) values ('Late Vendor', '+919710001561')
           returning id)
select count(*) from private.enqueue_messages((
  select jsonb_agg(jsonb_build_object('customer_id', c.id, 'channel', 'sms', 'template_code', 't156_due',
                                      'idempotency_key', 't156:' || k,
                                      'variables', '{"customer_name": "Ravi"}'::jsonb))
    from c, unnest(array['timeout', 'network', 'last']) k), pg_temp.at(-60));

select tests.authenticate_as_service_role();
create temporary table batch on commit drop as
select b.id, b.attempts, split_part(m.idempotency_key, ':', 2) as k
  from private.claim_messages('w156', 10, pg_temp.at()) b join public.messages m on m.id = b.id;
select is((select string_agg(k, ', ' order by k) from batch), 'last, network, timeout',
  'the three are claimed');

-- Twilio does not answer within the deadline for one; the connection drops for another.
select is(private.record_send_results('w156', (
    select jsonb_agg(jsonb_build_object(
             'id', b.id, 'attempt', b.attempts, 'ok', false, 'disposition', 'transient', 'code', b.k,
             'message', 'twilio gave no answer within 10000 ms (it may have accepted the message)'))
      from batch b where b.k in ('timeout', 'network')), pg_temp.at(1)),
  2, 'both results are recorded');
reset role;
select is((select (status, deferred_reason, next_attempt_at >= pg_temp.at(601))::text
             from public.messages where idempotency_key = 't156:timeout'),
  '(queued,retry,t)', 'the timed-out send waits 600 s before its retry');
select ok((select next_attempt_at <= pg_temp.at(31) from public.messages
            where idempotency_key = 't156:network'),
  'a dropped connection keeps its backoff (within 30 s here)');

-- Its last try on Twilio times out too: the fallback provider waits as long.
update public.app_settings set value = '{"max_attempts": 1, "base_seconds": 30, "max_seconds": 3600}'
 where key = 'MESSAGE_RETRY';
select tests.authenticate_as_service_role();
select private.record_send_results('w156', (
    select jsonb_agg(jsonb_build_object('id', b.id, 'attempt', b.attempts, 'ok', false,
                                        'disposition', 'transient', 'code', 'timeout'))
      from batch b where b.k = 'last'), pg_temp.at(1));
reset role;
select is((select (status, provider, next_attempt_at = pg_temp.at(601))::text
             from public.messages where idempotency_key = 't156:last'),
  '(queued,aws_sns,t)', 'its move to AWS SNS waits 600 s as well');

-- Meanwhile Twilio's callback says it delivered the first: it is not sent again.
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'SM156late:delivered', 'kind', 'status',
  'message_id', (select id from batch where k = 'timeout'), 'provider_message_id', 'SM156late',
  'status', 'delivered', 'vendor_status', 'delivered', 'payload', '{}'::jsonb)));
select is((select status::text from public.messages where idempotency_key = 't156:timeout'),
  'delivered', 'the callback delivers the timed-out message');
select tests.authenticate_as_service_role();
select is((select string_agg(split_part(m.idempotency_key, ':', 2), ', ' order by m.idempotency_key)
             from private.claim_messages('w156b', 10, pg_temp.at(700)) c
             join public.messages m on m.id = c.id),
  'last, network', 'after the hold the other two are claimed again, the delivered one is not');
reset role;

select * from finish();
rollback;
