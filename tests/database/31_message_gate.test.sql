-- The gate (migration 20261129010200_create_message_gate): every reason a message is blocked or
-- deferred, idempotency, the frequency cap, a set of requests in one statement, the desk's own
-- door, and that no role can put a message in the outbox any other way.
begin;
select plan(48);
select tests.create_test_book();

-- Noon and 22:00 today on the business clock (IST).
create function pg_temp.ist(clock time, days integer default 0) returns timestamptz
language sql stable
as $$ select ((current_date + days) + clock) at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.ist(time, integer) to authenticated;

insert into public.templates (code, channel, language, purpose, subject, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                              dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
values
  ('due', 'sms', 'en', 'service', null, 'Dear {{customer_name}}, renew {{policy_number}} -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012345',
   'Dear {#var#}, renew {#var#} -PYRNWL'),
  ('due', 'whatsapp', 'en', 'service', null, 'Hello {{customer_name}}, renew {{policy_number}}',
   'due_en', 'utility', 'approved', 2, null, null, null, null),
  ('due', 'whatsapp', 'hi', 'service', null, 'नमस्ते {{customer_name}}, {{policy_number}} नवीनीकरण करें',
   'due_hi', 'utility', 'approved', 2, null, null, null, null),
  -- Marketing templates carry the withdrawal link (migration 20261130052542).
  ('offer', 'whatsapp', 'en', 'marketing', null,
   'An offer for {{customer_name}}. Stop offers: {{withdrawal_link}}',
   'offer_en', 'marketing', 'pending', 2, null, null, null, null),
  ('offer', 'sms', 'en', 'marketing', null,
   'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012346',
   'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL'),
  ('otp', 'sms', 'en', 'transactional', null, 'Your code is {{message}} -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012347',
   'Your code is {#var#} -PYRNWL'),
  ('receipt', 'email', 'en', 'transactional', 'Receipt for {{policy_number}}',
   'We received {{amount_due}} for {{policy_number}}.', null, null, null, null, null, null, null, null);

-- One request as JSON, with the test book's customer A unless told otherwise.
create function pg_temp.ask(key text, channel text, extra jsonb default '{}',
                            at timestamptz default pg_temp.ist('12:00'))
returns record
language sql
as $$
  select (e.status, e.blocked_reason, e.deferred_reason)
    from private.enqueue_messages(
           jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', channel,
                              'idempotency_key', key, 'template_code', 'due',
                              'variables', '{"customer_name": "A", "policy_number": "P1"}'::jsonb)
           || extra, at) as e
$$;

-- Queued, and once per key.
select is(pg_temp.ask('k-sms', 'sms')::text, '(queued,,)', 'a service SMS from a template is queued');
select is((select body from public.messages where idempotency_key = 'k-sms'),
  'Dear A, renew P1 -PYRNWL', 'rendered from its template');
select is((select (estimated_cost_paise, recipient)::text from public.messages where idempotency_key = 'k-sms'),
  format('(%s,+919800000001)', (private.setting('MESSAGE_RATES_PAISE') ->> 'sms_segment')::numeric(12, 4)),
  'with the address of the moment and its estimated cost');
select is(
  (select array_agg(e.created order by e.created)::text from (
     select * from private.enqueue_messages('{"customer_id": "00000000-0000-0000-0000-000000000000",
       "channel": "sms", "idempotency_key": "k-sms", "body": "x", "purpose": "service"}'::jsonb) e) e),
  '{f}', 'the same key again returns the first message, created false');
select is((select count(*)::integer from public.messages where idempotency_key = 'k-sms'), 1,
  'and stores nothing new');

-- Consent.
select is(pg_temp.ask('k-offer', 'sms', '{"template_code": "offer"}')::text,
  '(blocked,no_consent,)', 'marketing without a marketing consent is blocked');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'sms', 'marketing', 'granted', 'web_form');
update public.customers set dnd = true where id = tests.fixture('customer_a');
select is(pg_temp.ask('k-offer-dnd', 'sms', '{"template_code": "offer"}')::text,
  '(blocked,dnd,)', 'marketing SMS to an NCPR (DND) number is blocked whatever the consent');
update public.customers set dnd = false where id = tests.fixture('customer_a');
select is(pg_temp.ask('k-offer-ok', 'sms', '{"template_code": "offer"}')::text,
  '(queued,,)', 'with consent and no DND it is queued');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'sms', 'service', 'withdrawn', 'sms_stop');
select is(pg_temp.ask('k-withdrawn', 'sms')::text, '(blocked,consent_withdrawn,)',
  'a service SMS after the service consent was withdrawn is blocked');
select is(pg_temp.ask('k-receipt', 'email', '{"template_code": "receipt", "variables":
  {"amount_due": "₹12,000", "policy_number": "P1"}}')::text, '(queued,,)',
  'a transactional email is queued');
select is((select subject from public.messages where idempotency_key = 'k-receipt'),
  'Receipt for P1', 'with its subject rendered');

-- WhatsApp: opt-in, the 24-hour window, approved templates.
select is(pg_temp.ask('k-wa', 'whatsapp')::text, '(queued,,)',
  'an approved utility template to an opted-in customer is queued outside the window');
select is(pg_temp.ask('k-wa-free', 'whatsapp', '{"template_code": null, "body": "Call me?", "purpose": "service"}')::text,
  '(blocked,whatsapp_window_closed,)', 'free text outside the 24-hour window is blocked');
insert into public.whatsapp_windows (customer_id, last_inbound_at)
values (tests.fixture('customer_a'), pg_temp.ist('11:00'));
select is(pg_temp.ask('k-wa-free-2', 'whatsapp', '{"template_code": null, "body": "Call me?", "purpose": "service"}')::text,
  '(queued,,)', 'inside the window it is queued');
select is((select estimated_cost_paise from public.messages where idempotency_key = 'k-wa-free-2'),
  (private.setting('MESSAGE_RATES_PAISE') ->> 'whatsapp_service')::numeric(12, 4),
  'at the service-reply rate');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'whatsapp', 'marketing', 'granted', 'web_form');
update public.whatsapp_windows set last_inbound_at = pg_temp.ist('11:00') - interval '2 days';
select is(pg_temp.ask('k-wa-pending', 'whatsapp', '{"template_code": "offer"}')::text,
  '(blocked,template_not_approved,)', 'a template Meta has not approved is blocked outside the window');
select is(pg_temp.ask('k-wa-b', 'whatsapp', jsonb_build_object('customer_id', tests.fixture('customer_b')))::text,
  '(queued,,)', 'customer B is opted in too');
insert into public.customers (full_name, phone, email, language)
values ('Hindi Speaker', '+919800000311', 'HINDI@Example.TEST', 'hi');
select is(pg_temp.ask('k-wa-none', 'whatsapp',
  jsonb_build_object('customer_id', (select id from public.customers where phone = '+919800000311')))::text,
  '(blocked,whatsapp_not_opted_in,)', 'a customer who never opted in to WhatsApp is blocked');
insert into public.consents (customer_id, channel, purpose, status, source)
select id, 'whatsapp', 'service', 'granted', 'web_form' from public.customers where phone = '+919800000311';
select is(pg_temp.ask('k-wa-hi', 'whatsapp',
  jsonb_build_object('customer_id', (select id from public.customers where phone = '+919800000311')))::text,
  '(queued,,)', 'once opted in, queued');
select is((select body from public.messages where idempotency_key = 'k-wa-hi'),
  'नमस्ते A, P1 नवीनीकरण करें', 'in the customer''s language');
select is(pg_temp.ask('k-mail-hi', 'email',
  jsonb_build_object('customer_id', (select id from public.customers where phone = '+919800000311'),
                     'template_code', 'receipt', 'variables', '{"amount_due": "1", "policy_number": "P"}'::jsonb))::text,
  '(queued,,)', 'a template without a Hindi variant falls back to English');
select is((select recipient from public.messages where idempotency_key = 'k-mail-hi'),
  'hindi@example.test', 'and an email address is kept lower-case');

-- Suppressions, missing variables, unknown templates, switched-off channels.
insert into public.suppressions (channel, address, reason, source)
values ('email', 'customer_b@tests.py360.test', 'hard_bounce', 'ses_bounce');
select is(pg_temp.ask('k-bounced', 'email', jsonb_build_object('customer_id', tests.fixture('customer_b'),
  'template_code', 'receipt', 'variables', '{"amount_due": "1", "policy_number": "P"}'::jsonb))::text,
  '(blocked,suppressed,)', 'a suppressed address is blocked');
select is(pg_temp.ask('k-missing', 'email', '{"template_code": "receipt", "variables": {"policy_number": "P"}}')::text,
  '(blocked,missing_variables,)', 'a template variable without a value is blocked');
select is(pg_temp.ask('k-free-sms', 'sms', '{"template_code": null, "body": "Call me", "purpose": "service"}')::text,
  '(blocked,sms_needs_dlt_template,)', 'an SMS that is not a registered DLT template is blocked');
select throws_like($$select pg_temp.ask('k-nope', 'sms', '{"template_code": "nope"}')$$,
  'no active template nope (sms)', 'an unknown template is a producer''s error: refused, by name');
update public.app_settings set value = 'false' where key = 'ENABLE_SMS_CAMPAIGNS';
select is(pg_temp.ask('k-flag', 'sms', jsonb_build_object('customer_id', tests.fixture('customer_b')))::text,
  '(blocked,channel_disabled,)', 'with ENABLE_SMS_CAMPAIGNS off a service SMS is blocked');
select is(pg_temp.ask('k-flag-tx', 'sms', jsonb_build_object('customer_id', tests.fixture('customer_b'),
  'template_code', 'otp', 'variables', '{"message": "1234"}'::jsonb))::text,
  '(queued,,)', 'a transactional SMS still goes');
update public.app_settings set value = 'true' where key = 'ENABLE_SMS_CAMPAIGNS';

-- Hours: marketing waits for 10:00, service for the end of quiet hours; transactional never.
select is(pg_temp.ask('k-late-offer', 'sms', '{"template_code": "offer"}', pg_temp.ist('22:00'))::text,
  '(queued,,promotional_hours)', 'marketing at 22:00 IST is deferred');
select is((select next_attempt_at from public.messages where idempotency_key = 'k-late-offer'),
  pg_temp.ist('10:00', 1), 'to 10:00 IST the next day');
select is(pg_temp.ask('k-late-due', 'sms', jsonb_build_object('customer_id', tests.fixture('customer_b')),
  pg_temp.ist('22:00'))::text, '(queued,,quiet_hours)', 'a service SMS at 22:00 waits out quiet hours');
select is((select next_attempt_at from public.messages where idempotency_key = 'k-late-due'),
  pg_temp.ist('08:00', 1), 'until 08:00 IST');
select is((select next_attempt_at from public.messages where idempotency_key = 'k-flag-tx'),
  pg_temp.ist('12:00'), 'a transactional message is due at once');
select is(pg_temp.ask('k-later', 'email', jsonb_build_object('template_code', 'receipt',
  'variables', '{"amount_due": "1", "policy_number": "P"}'::jsonb, 'not_before', pg_temp.ist('15:00')))::text,
  '(queued,,scheduled)', 'not_before schedules it');

-- The frequency cap (service: 3 a day) counts what is queued already, then the batch in order.
select is(
  (select array_agg(coalesce(e.blocked_reason, e.status::text) order by e.idempotency_key)::text
     from private.enqueue_messages(
       (select jsonb_agg(jsonb_build_object('customer_id', cu.id, 'channel', 'email',
                 'idempotency_key', 'cap-' || n, 'body', 'Reminder ' || n, 'purpose', 'service', 'subject', 'S'))
          from generate_series(1, 3) n, public.customers cu where cu.phone = '+919800000311'),
       pg_temp.ist('12:00')) e),
  '{queued,queued,frequency_cap}',
  'the Hindi speaker has one service message today: two more pass, the third is capped (3 a day)');

-- A set in one statement.
select is(
  (select count(*)::integer from private.enqueue_messages(
     (select jsonb_agg(jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', 'email',
               'idempotency_key', 'bulk-' || n, 'template_code', 'receipt',
               'variables', jsonb_build_object('amount_due', n, 'policy_number', 'P')))
        from generate_series(1, 500) n), pg_temp.ist('12:00'))),
  500, 'five hundred requests are one call, one row each');

-- Malformed requests change nothing.
select throws_ok($$select * from private.enqueue_messages('[{"channel": "sms"}]')$$, '22023', null,
  'a request without customer or key is refused');
select throws_ok($$select * from private.enqueue_messages('"text"')$$, '22023', null,
  'so is something that is not a request');
select throws_ok(format($$select * from private.enqueue_messages('{"customer_id": "%s", "channel": "voice",
  "idempotency_key": "v", "body": "x", "purpose": "service"}')$$, tests.fixture('customer_a')), '22023', null,
  'and a channel the outbox does not send');

-- The desk's door.
select tests.authenticate_as('agent_a');
-- A service message: transactional templates are the system's (20261202065726), and what the
-- gate decides for it depends on the hour and the cap, which the messages above have filled.
select is((select created from private.send_desk_message(jsonb_build_object(
  'customer_id', tests.fixture('customer_a'), 'channel', 'email', 'idempotency_key', 'mine',
  'subject', 'Hello', 'body', 'Please call me', 'purpose', 'service'))),
  true, 'agent A messages their customer (on the real clock: 20261202055907)');
select tests.authenticate_as('agent_b');
select throws_ok(format($$select * from private.send_desk_message('{"customer_id": "%s", "channel": "email",
  "idempotency_key": "mine", "body": "hi", "subject": "s", "purpose": "service"}')$$, tests.fixture('customer_a')),
  'P0002', null, 'agent B may not message agent A''s customer');
select is((select created from private.send_desk_message(jsonb_build_object(
  'customer_id', tests.fixture('customer_b'), 'channel', 'whatsapp', 'idempotency_key', 'mine',
  'body', 'Please call me', 'purpose', 'service'))),
  true, 'the same key of another agent is another message');
select throws_ok(format($$select * from private.send_desk_message('{"customer_id": "%s", "case_id": "%s",
  "channel": "sms", "idempotency_key": "x", "body": "hi", "purpose": "service"}')$$,
  tests.fixture('customer_b'), tests.fixture('case_a')), 'P0002', null,
  'nor name another customer''s case');
select tests.authenticate_as('analyst');
select throws_ok($$select * from private.send_desk_message('{"idempotency_key": "x"}')$$, '42501', null,
  'an analyst may not send');
reset role;
select is((select created_by from public.messages where idempotency_key = format('desk:%s:mine', tests.get_user_id('agent_a'))),
  tests.get_user_id('agent_a'), 'a desk message records its sender, under a key of their own');

-- Nobody writes the outbox but the gate.
select is(tests.affected_rows_as('agent_a', format($$insert into public.messages (customer_id, channel,
  purpose, body, idempotency_key) values (%L, 'sms', 'service', 'x', 'forged')$$, tests.fixture('customer_a'))),
  '42501', 'an agent cannot insert a message');
select tests.authenticate_as_service_role();
select throws_ok(format($$insert into public.messages (customer_id, channel, purpose, body, idempotency_key)
  values (%L, 'sms', 'marketing', 'x', 'forged')$$, tests.fixture('customer_a')), '42501', null,
  'nor can service_role: producers go through the gate');
select throws_ok($$update public.messages set status = 'queued', blocked_reason = null where status = 'blocked'$$,
  '42501', null, 'nor unblock a message');

select * from finish();
rollback;
