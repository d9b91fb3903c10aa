-- What the adversarial review of the pipeline found, each replayed (migration
-- 20261129012500_recheck_messages_at_send): the gate's rules asked again at send time, retries
-- and redrives inside their hours, fallbacks that cannot cost a batch, breakers that cannot stick
-- half-open, opt-outs with punctuation, dead letters a vendor reports on, and the smaller holes.
begin;
select plan(35);
select tests.create_test_book();

create function pg_temp.ist(clock time, days integer default 1) returns timestamptz
language sql stable
as $$ select ((current_date + days) + clock) at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.ist(time, integer) to service_role, authenticated;

insert into public.templates (code, channel, language, purpose, subject, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                              dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
values
  ('offer', 'email', 'en', 'marketing', 'Offer', 'An offer for {{customer_name}}', null, null,
   null, null, null, null, null, null),
  -- A marketing SMS template carries the withdrawal link (migration 20261130052542).
  ('offer', 'sms', 'en', 'marketing', null,
   'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012346',
   'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL'),
  ('due', 'whatsapp', 'en', 'service', null, 'Renew {{policy_number}}', 'due_en', 'utility',
   'approved', 1, null, null, null, null),
  ('due', 'sms', 'en', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
   '1101234567890123456', 'PYRNWL', '1107123456789012345', 'Renew {#var#} -PYRNWL'),
  ('wa_only', 'whatsapp', 'en', 'service', null, 'Hello {{customer_name}}', 'wa_only', 'utility',
   'approved', 1, null, null, null, null),
  ('pending', 'whatsapp', 'en', 'service', null, 'Hi {{customer_name}}', 'pending', 'utility',
   'pending', 1, null, null, null, null),
  ('hi_only', 'email', 'hi', 'transactional', 'रसीद', 'रसीद {{customer_name}}', null, null, null,
   null, null, null, null, null);
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'email', 'marketing', 'granted', 'web_form'),
       (tests.fixture('customer_a'), 'sms', 'marketing', 'granted', 'web_form');
update public.app_settings set value = '{}' where key = 'MESSAGE_FREQUENCY_CAPS';

create function pg_temp.queue(key text, channel text, code text, at timestamptz,
                              extra jsonb default '{}') returns text
language sql
as $$
  select coalesce(e.blocked_reason, e.status::text)
    from private.enqueue_messages(jsonb_build_object(
           'customer_id', tests.fixture('customer_a'), 'channel', channel, 'template_code', code,
           'variables', '{"customer_name": "A", "policy_number": "P1"}'::jsonb,
           'idempotency_key', key) || extra, at) e
$$;
create function pg_temp.fate(key text) returns text
language sql stable
as $$ select coalesce(blocked_reason, deferred_reason, status::text) from public.messages where idempotency_key = key $$;
grant execute on function pg_temp.fate(text) to service_role;

-- 1. Rules asked again at send time.
select is(pg_temp.queue('late-offer', 'email', 'offer', pg_temp.ist('22:00', 0)), 'queued',
  'an offer at 22:00 is queued for the morning');
update public.consents set status = 'withdrawn'
 where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing';
select is((select count(*)::integer from private.claim_messages('w', 10, pg_temp.ist('10:01'))), 0,
  'the consent withdrawn overnight: nothing is claimed at 10:01');
select is(pg_temp.fate('late-offer'), 'consent_withdrawn', 'the offer is blocked with the reason');
select is(pg_temp.queue('sms-offer', 'sms', 'offer', pg_temp.ist('12:00')), 'queued',
  'a marketing SMS is queued at noon');
-- (A string is refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked('{"ENABLE_SMS_CAMPAIGNS": "false"}');
select is((select count(*)::integer from private.claim_messages('w', 10, pg_temp.ist('12:01'))), 0,
  'the switch set to the string "false" (not true) holds it');
select is(pg_temp.fate('sms-offer'), 'channel_disabled', 'blocked: channel_disabled');
update public.app_settings set value = 'true' where key = 'ENABLE_SMS_CAMPAIGNS';

-- A retry due after 21:00 waits for 10:00, its attempt uncounted.
select is(pg_temp.queue('retry-offer', 'sms', 'offer', pg_temp.ist('20:55'), '{"idempotency_key": "retry-offer"}'),
  'queued', 'another offer at 20:55');
update public.consents set status = 'granted', source = 'web_form'
 where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing';
update public.messages set next_attempt_at = pg_temp.ist('21:10'), attempts = 1
 where idempotency_key = 'retry-offer';
select is((select count(*)::integer from private.claim_messages('w', 10, pg_temp.ist('21:10'))), 0,
  'its retry at 21:10 is not sent');
select is((select (deferred_reason, next_attempt_at = pg_temp.ist('10:00', 2), attempts)::text
             from public.messages where idempotency_key = 'retry-offer'),
  '(promotional_hours,t,1)', 'it waits for 10:00 the next day, the attempt not counted');

-- STOP while a dead dispatcher held it; a redrive after an opt-out.
select is(pg_temp.queue('held', 'sms', 'due', pg_temp.ist('12:00')), 'queued', 'a service SMS');
select count(*) from private.claim_messages('dead-worker', 10, pg_temp.ist('12:00'));
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'in-stop', 'kind', 'inbound', 'channel', 'sms', 'address', '+919800000001',
  'reply', 'Stop!', 'payload', '{}'::jsonb)));
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'sms', 'service', 'withdrawn', 'agent_call');
select is((select count(*)::integer from private.claim_messages('w2', 10, pg_temp.ist('12:05'))), 0,
  'after the lease, the service SMS whose consent was withdrawn is not sent again');
select is(pg_temp.fate('held'), 'consent_withdrawn', 'it is blocked');
select is((select status::text from public.consents where customer_id = tests.fixture('customer_a')
             and channel = 'sms' and purpose = 'marketing'), 'withdrawn', '"Stop!" is an opt-out');
select is(array(select r from unnest(array['STOP.', 'रोकें।', 'Stop promotions', ' opt-out! ']) r
                 where private.is_opt_out_reply(r)),
  array['STOP.', 'रोकें।', 'Stop promotions', ' opt-out! '], 'with punctuation, in Hindi, Meta''s button');

-- 2. A dead letter a vendor reports on is not dead.
update public.consents set status = 'granted' where customer_id = tests.fixture('customer_a')
   and channel = 'sms' and purpose = 'service';
select is(pg_temp.queue('was-dead', 'sms', 'due', pg_temp.ist('12:00')), 'queued', 'one more SMS');
update public.messages set status = 'dead', dead_reason = 'stalled', dead_at = now(),
       provider = 'twilio' where idempotency_key = 'was-dead';
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'late:delivered', 'kind', 'status',
  'message_id', (select id from public.messages where idempotency_key = 'was-dead'),
  'status', 'delivered', 'payload', '{}'::jsonb)));
select is((select (status, dead_reason)::text from public.messages where idempotency_key = 'was-dead'),
  '(delivered,)', 'a late delivery report revives it as delivered, so a redrive cannot resend it');

-- 3. Fallbacks that cannot be made cost nothing; breakers answer.
select is(pg_temp.queue('wa-lone', 'whatsapp', 'wa_only', pg_temp.ist('12:00')), 'queued',
  'a WhatsApp template with no SMS twin');
select is(pg_temp.queue('wa-twin', 'whatsapp', 'due', pg_temp.ist('12:00'),
  jsonb_build_object('idempotency_key', repeat('k', 200))), 'queued', 'and one with a twin and a 200-character key');
select tests.authenticate_as_service_role();
select is((select private.record_send_results('w3', jsonb_agg(jsonb_build_object('id', c.id,
              'attempt', c.attempts, 'ok', false, 'disposition', 'fallback', 'code', '131026',
              'message', 'undeliverable')), pg_temp.ist('12:00'))
             from private.claim_messages('w3', 10, pg_temp.ist('12:00')) c),
  2, 'both failures are recorded (the fallback of one cannot be made)');
select is(pg_temp.fate('wa-lone'), 'failed', 'the lone one fails');
select is((select (channel, status)::text from public.messages
            where idempotency_key = 'sms-fallback:' || (select id from public.messages where idempotency_key = repeat('k', 200))),
  '(sms,queued)', 'the other''s SMS twin is queued under a key of its own');
reset role;
update public.provider_state set breaker = 'half_open', breaker_since = pg_temp.ist('12:00')
 where provider = 'twilio';
select is((select permits from private.take_send_permits('{"twilio": 3}', pg_temp.ist('13:00'))), 1,
  'a half-open breaker whose probe was lost lets another probe go after open_seconds');
select tests.authenticate_as_service_role();
select private.record_send_results('w4', jsonb_agg(jsonb_build_object('id', c.id, 'attempt', c.attempts,
         'ok', false, 'disposition', 'permanent', 'code', '21211', 'message', 'bad number')),
         pg_temp.ist('13:00'))
  from private.claim_messages('w4', 1, pg_temp.ist('13:00')) c;
select is((select breaker from public.provider_state where provider = 'twilio'), 'closed',
  'a probe the vendor answered, even with a refusal, closes it');
reset role;

select is(pg_temp.queue('wa-hook', 'whatsapp', 'due', pg_temp.ist('12:00'),
  '{"variables": {"policy_number": "P9"}}'), 'queued', 'a WhatsApp reminder');
update public.messages set status = 'sent', provider = 'whatsapp_cloud', provider_message_id = 'wamid.HOOK'
 where idempotency_key = 'wa-hook';
select private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
  'event_key', 'wamid.HOOK:failed', 'kind', 'status', 'provider_message_id', 'wamid.HOOK',
  'status', 'failed', 'error_code', '131026', 'fallback', true, 'payload', '{}'::jsonb)));
select is((select (channel, body)::text from public.messages
            where idempotency_key = 'sms-fallback:' || (select id from public.messages where idempotency_key = 'wa-hook')),
  '(sms,"Renew P9 -PYRNWL")', 'a failure reported by webhook falls back to SMS too');

-- 4. The smaller holes.
select is(pg_temp.queue('hindi-only', 'email', 'hi_only', pg_temp.ist('12:00')), 'queued',
  'a template that exists only in Hindi is used for an English-speaking customer');
select throws_like($$select pg_temp.queue('ghost', 'email', 'offer', now(),
    '{"customer_id": "00000000-0000-0000-0000-000000000001"}')$$,
  'no such customer%', 'a customer who does not exist is a producer''s error, not a silent drop');
select is(pg_temp.queue('long-var', 'sms', 'due', pg_temp.ist('12:00'),
  jsonb_build_object('variables', jsonb_build_object('policy_number', repeat('x', 31)))),
  'dlt_variable_too_long', 'an SMS variable over DLT''s 30 characters is blocked');
insert into public.whatsapp_windows (customer_id, last_inbound_at)
values (tests.fixture('customer_a'), pg_temp.ist('11:00'))
on conflict (customer_id) do update set last_inbound_at = excluded.last_inbound_at;
select is(pg_temp.queue('pending-wa', 'whatsapp', 'pending', pg_temp.ist('12:00')),
  'template_not_approved', 'an unapproved WhatsApp template is blocked even inside the window');
select tests.authenticate_as('agent_a');
select throws_like(format($$select * from private.send_desk_message('{"customer_id": "%s",
  "channel": "email", "subject": "x", "body": "10%% off!", "purpose": "transactional",
  "idempotency_key": "tx"}')$$, tests.fixture('customer_a')), '%transactional messages come from templates%',
  'the desk''s own text cannot call itself transactional');
select is((select status::text from private.send_desk_message(jsonb_build_object(
  'customer_id', tests.fixture('customer_a'), 'channel', 'email', 'subject', 'Hello',
  'body', 'Please call me', 'purpose', 'service', 'idempotency_key', repeat('z', 200)))),
  'queued', 'a 200-character desk key fits');
reset role;
select is((select template_snapshot ->> 'dlt_template_id' from public.messages where idempotency_key = 'was-dead'),
  '1107123456789012345', 'what the vendor''s template gets is kept with the message');

-- 6. The claim asks the rules of the whole batch in one join (20261129144700): for every
-- combination below it blocks exactly where private.message_block_reason(), the gate's
-- function, says so, with its reason.
insert into public.customers (id, full_name, phone, email, dnd)
values ('70000000-0000-4000-8000-000000000001', 'Matrix Plain', '+919700000001', 'plain@example.com', false),
       ('70000000-0000-4000-8000-000000000002', 'Matrix Dnd', '+919700000002', 'dnd@example.com', true),
       ('70000000-0000-4000-8000-000000000003', 'Matrix Withdrawn', '+919700000003', 'gone@example.com', false),
       ('70000000-0000-4000-8000-000000000004', 'Matrix Window', '+919700000004', 'win@example.com', false),
       ('70000000-0000-4000-8000-000000000005', 'Matrix Closed', '+919700000005', 'shut@example.com', false);
insert into public.consents (customer_id, channel, purpose, status, source)
select c.id, x.channel::public.channel_type, x.purpose::public.consent_purpose,
       x.status::public.consent_status, 'web_form'
  from (values ('70000000-0000-4000-8000-000000000001'::uuid, 'sms', 'marketing', 'granted'),
               ('70000000-0000-4000-8000-000000000001', 'email', 'marketing', 'granted'),
               ('70000000-0000-4000-8000-000000000002', 'sms', 'marketing', 'granted'),
               ('70000000-0000-4000-8000-000000000003', 'sms', 'service', 'withdrawn'),
               ('70000000-0000-4000-8000-000000000003', 'email', 'marketing', 'withdrawn'),
               ('70000000-0000-4000-8000-000000000004', 'whatsapp', 'service', 'granted'),
               ('70000000-0000-4000-8000-000000000005', 'whatsapp', 'service', 'granted'))
       as x (customer, channel, purpose, status)
  join public.customers c on c.id = x.customer;
insert into public.whatsapp_windows (customer_id, last_inbound_at)
values ('70000000-0000-4000-8000-000000000004', pg_temp.ist('11:00', 2)),
       ('70000000-0000-4000-8000-000000000005', pg_temp.ist('11:00', 0));
insert into public.suppressions (channel, address, reason, source)
values ('email', 'plain@example.com', 'hard_bounce', 'test'), ('sms', '+919700000004', 'invalid_number', 'test');
update public.app_settings set value = 'false' where key = 'ENABLE_EMAIL_CAMPAIGNS';
insert into public.messages (customer_id, channel, purpose, template_id, body, recipient, status,
                             idempotency_key, next_attempt_at, queued_at)
select c.id, k.channel::public.channel_type, k.purpose::public.consent_purpose, t.id, 'x',
       case when r.blank then null
            when k.channel = 'email' then c.email::text else c.phone end,
       'queued', format('matrix:%s:%s:%s:%s', c.full_name, k.channel, k.purpose, coalesce(k.code, 'free'))
                 || case when r.blank then ':blank' else '' end,
       pg_temp.ist('11:59', 2), pg_temp.ist('11:59', 2)
  from public.customers c
 cross join (values ('sms', 'marketing', 'offer'), ('sms', 'service', 'due'), ('sms', 'service', null),
                    ('email', 'marketing', 'offer'), ('email', 'transactional', null),
                    ('whatsapp', 'service', 'due'), ('whatsapp', 'service', null),
                    ('whatsapp', 'service', 'pending')) as k (channel, purpose, code)
 cross join (values (false), (true)) as r (blank)
  left join public.templates t on t.code = k.code and t.channel::text = k.channel
 where c.full_name like 'Matrix %';
create temp table matrix_expected on commit drop as
select m.id, private.message_block_reason(m.customer_id, m.channel, m.purpose, m.recipient,
                                          m.template_id, pg_temp.ist('12:00', 2)) as reason
  from public.messages m where m.idempotency_key like 'matrix:%';
select cmp_ok((select count(distinct reason)::integer from matrix_expected), '>=', 9,
  'the matrix meets most of the rules (and some messages none)');
select is((select count(*)::integer from matrix_expected where reason is null) > 0, true,
  'some of its messages may go');
select count(*) from private.claim_messages('matrix', 1000, pg_temp.ist('12:00', 2));
select is(
  (select count(*)::integer from matrix_expected e join public.messages m on m.id = e.id
    where m.blocked_reason is distinct from e.reason
       or (m.status = 'blocked') <> (e.reason is not null)),
  0, 'the claim blocks exactly what message_block_reason blocks, with its reason');
update public.app_settings set value = 'true' where key = 'ENABLE_EMAIL_CAMPAIGNS';

select * from finish();
rollback;
