-- Vendor events (migration 20261129010400_record_message_events): each stored once, statuses
-- forward only, callbacks for unknown messages kept, early callbacks applied when the message
-- leaves `sending` (so an accepted message is never sent again), suppressions, the WhatsApp
-- window, and opt-out replies in English and Hindi.
begin;
select plan(28);
select tests.create_test_book();

insert into public.templates (code, channel, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('due', 'sms', 'service', 'Renew {{policy_number}} -PYRNWL', '1101234567890123456', 'PYRNWL',
        '1107123456789012345', 'Renew {#var#} -PYRNWL');
update public.app_settings set value = '{"start": "00:00", "end": "00:00"}' where key = 'QUIET_HOURS';
update public.app_settings set value = '{}' where key = 'MESSAGE_FREQUENCY_CAPS';
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'sms', 'marketing', 'granted', 'web_form'),
       (tests.fixture('customer_a'), 'whatsapp', 'marketing', 'granted', 'web_form');

select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', 'sms',
            'template_code', 'due', 'variables', jsonb_build_object('policy_number', n),
            'idempotency_key', 'e-' || n))
     from generate_series(1, 4) n));
select tests.authenticate_as_service_role();
create temporary table sent on commit drop as
select c.*, m.idempotency_key from private.claim_messages('w1', 10) c join public.messages m on m.id = c.id;
select private.record_send_results('w1', jsonb_agg(jsonb_build_object('id', s.id, 'attempt', s.attempts,
         'ok', true, 'provider_message_id', 'SM' || s.idempotency_key)))
  from sent s where s.idempotency_key in ('e-1', 'e-2');

create function pg_temp.event(key text, message text, status text, extra jsonb default '{}') returns jsonb
language sql immutable
as $$ select jsonb_build_object('event_key', key, 'kind', 'status', 'provider_message_id', message,
                                'status', status, 'vendor_status', status, 'payload', '{}'::jsonb) || extra $$;
grant execute on function pg_temp.event(text, text, text, jsonb) to service_role;
create function pg_temp.status_of(key text) returns text
language sql stable
as $$ select status::text from public.messages where idempotency_key = key $$;
grant execute on function pg_temp.status_of(text) to service_role;

-- Forward only, once per event.
select is(private.record_message_events('twilio', jsonb_build_array(
    pg_temp.event('SMe-1:delivered', 'SMe-1', 'delivered'),
    pg_temp.event('SMe-1:sent', 'SMe-1', 'sent'))) ->> 'new', '2',
  'a delivery and a late sent are both stored');
select is(pg_temp.status_of('e-1'), 'delivered', 'the late sent does not undo the delivery');
select is(private.record_message_events('twilio', jsonb_build_array(
    pg_temp.event('SMe-1:delivered', 'SMe-1', 'delivered'))) ->> 'new', '0',
  'the same event again is not stored twice');
select is((select count(*)::integer from public.message_events where provider_message_id = 'SMe-1'), 2,
  'two rows for two events');
select is((select message_id from public.message_events where event_key = 'SMe-1:sent'),
  (select id from public.messages where idempotency_key = 'e-1'), 'matched to our message by the vendor''s id');
select private.record_message_events('twilio', jsonb_build_array(
  pg_temp.event('SMe-2:undelivered', 'SMe-2', 'undeliverable', '{"error_code": "30003", "error": "Unreachable handset"}'),
  pg_temp.event('SMe-2:read', 'SMe-2', 'read')));
select is((select (status, last_error_code)::text from public.messages where idempotency_key = 'e-2'),
  '(read,)', 'read after a failure report wins; the furthest status of a delivery counts');
select is(private.record_message_events('twilio', jsonb_build_array(
    pg_temp.event('SMunknown:delivered', 'SMunknown', 'delivered'))) ->> 'new', '1',
  'a callback for a message we do not know is kept');
select is((select message_id from public.message_events where event_key = 'SMunknown:delivered'), null,
  'unmatched, for reconciliation');
select is(private.record_message_events('twilio', jsonb_build_array(
    pg_temp.event('SMe-1:sent', 'SMe-1', 'sent'))) ->> 'new', '0',
  'an event identity is per provider');
select is(private.record_message_events('aws_sns', jsonb_build_array(
    pg_temp.event('SMe-1:sent', 'SMe-1', 'sent'))) ->> 'new', '1',
  'the same key from another provider is another event');

-- Early callbacks: e-3 and e-4 are still sending when their callbacks come (by our id).
select private.record_message_events('twilio', jsonb_build_array(
  pg_temp.event('e3:delivered', null, 'delivered', jsonb_build_object('message_id', (select id from sent where idempotency_key = 'e-3'))),
  pg_temp.event('e4:sent', null, 'sent', jsonb_build_object('message_id', (select id from sent where idempotency_key = 'e-4')))));
select is(pg_temp.status_of('e-3'), 'sending', 'a callback does not take a message from its dispatcher');
select is((select string_agg(idempotency_key, ',' order by idempotency_key) from public.messages
            where callbacks_waiting), 'e-3,e-4',
  'only messages a callback found sending are marked for the early-callback trigger (20261129144923)');
select private.record_send_results('w1', jsonb_agg(jsonb_build_object('id', s.id, 'attempt', s.attempts,
         'ok', true, 'provider_message_id', 'SMe3')))
  from sent s where s.idempotency_key = 'e-3';
select is((select (status, provider_message_id, delivered_at is not null)::text from public.messages where idempotency_key = 'e-3'),
  '(delivered,SMe3,t)', 'when the dispatcher records the send, the early delivery applies');
select is((select count(*)::integer from private.claim_messages('w2', 10, now() + interval '2 minutes')), 0,
  'e-4''s lease runs out, but its callback says the vendor has it: it is not claimed again');
select is((select (status, locked_by)::text from public.messages where idempotency_key = 'e-4'),
  '(sent,)', 'it is sent, lease released');

-- Dead addresses, the WhatsApp window, opt-outs.
select private.record_message_events('aws_ses', jsonb_build_array(jsonb_build_object(
  'event_key', 'ses-bounce-1', 'kind', 'status', 'suppress', 'hard_bounce', 'channel', 'email',
  'address', 'gone@example.test', 'error_code', '5.1.1', 'payload', '{}'::jsonb)));
select is((select (reason, source)::text from public.suppressions where address = 'gone@example.test'),
  '(hard_bounce,aws_ses_5.1.1)', 'a hard bounce suppresses the address');
reset role;
-- A queued marketing SMS (the service template 'due' queued, then made marketing by hand: the
-- gate would block a marketing SMS through a service template).
select count(*) from private.enqueue_messages(jsonb_build_object('customer_id', tests.fixture('customer_a'),
  'channel', 'sms', 'template_code', 'due', 'variables', '{"policy_number": "M"}'::jsonb,
  'idempotency_key', 'promo-queued'));
update public.messages set purpose = 'marketing' where idempotency_key = 'promo-queued';
select tests.authenticate_as_service_role();
select is(private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
    'event_key', 'SMin-1', 'kind', 'inbound', 'channel', 'sms', 'address', '+919800000001',
    'reply', ' Stop ', 'payload', '{}'::jsonb))) ->> 'opted_out', '1',
  'an SMS reply STOP (any case, any spacing) is an opt-out');
select is((select (status, source, evidence ->> 'reply')::text from public.consents
            where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing'),
  '(withdrawn,sms_stop," Stop ")', 'the marketing SMS consent is withdrawn, the reply kept as evidence');
select is(pg_temp.status_of('promo-queued'), 'cancelled', 'queued marketing SMS is cancelled');
select is((select status::text from public.consents
            where customer_id = tests.fixture('customer_a') and channel = 'whatsapp' and purpose = 'marketing'),
  'granted', 'other channels keep their consent');
select private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
  'event_key', 'wamid.IN1', 'kind', 'inbound', 'channel', 'whatsapp', 'address', '+919800000001',
  'reply', 'बंद करें', 'occurred_at', now() - interval '1 hour', 'payload', '{}'::jsonb)));
select is((select status::text from public.consents
            where customer_id = tests.fixture('customer_a') and channel = 'whatsapp' and purpose = 'marketing'),
  'withdrawn', 'a Hindi opt-out on WhatsApp withdraws WhatsApp marketing');
select is((select last_inbound_at from public.whatsapp_windows where customer_id = tests.fixture('customer_a')),
  now() - interval '1 hour', 'and any inbound WhatsApp message opens the 24-hour window');
select private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
  'event_key', 'wamid.IN0', 'kind', 'inbound', 'channel', 'whatsapp', 'address', '+919800000001',
  'reply', 'What is my premium?', 'occurred_at', now() - interval '3 hours', 'payload', '{}'::jsonb)));
select is((select last_inbound_at from public.whatsapp_windows where customer_id = tests.fixture('customer_a')),
  now() - interval '1 hour', 'an older message arriving late does not move the window back');
reset role;
select is(private.is_opt_out_reply('Please stop calling me'), false, 'only a whole-word reply is an opt-out');
select tests.authenticate_as_service_role();

-- Refusals.
select throws_ok($$select private.record_message_events('pigeon', '[]')$$, '22023', null,
  'an unknown provider is refused');
select throws_ok($$select private.record_message_events('twilio', '{}')$$, '22023', null,
  'events must be an array');
select tests.authenticate_as('admin');
select throws_ok($$select private.record_message_events('twilio', '[]')$$, '42501', null,
  'only the webhooks (service_role) record events');
reset role;
select tests.authenticate_as('agent_b');
select is((select count(*)::integer from public.message_events), 0,
  'agent B sees no events of agent A''s customer');

select * from finish();
rollback;
