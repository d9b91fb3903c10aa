-- Every marketing message carries its withdrawal link (issue 13, migration
-- carry_withdrawal_links): the gate signs a token for the message it is creating and fills
-- {{withdrawal_link}} (and the token's halves for SMS), appends the link to free text and to
-- email and Telegram templates that lack it, in the customer's language; other purposes carry
-- none; the token names the message and its customer.
begin;
select plan(14);
select tests.create_test_book();
update public.customers set language = 'hi' where id = tests.fixture('customer_b');

insert into public.templates (code, channel, language, purpose, subject, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                              dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
values
  ('t111_offer', 'email', 'en', 'marketing', 'An offer', 'An offer for {{customer_name}}.',
   null, null, null, null, null, null, null, null),
  ('t111_offer_linked', 'email', 'en', 'marketing', 'An offer',
   'An offer for {{customer_name}}. Stop offers: {{withdrawal_link}} Thanks.',
   null, null, null, null, null, null, null, null),
  ('t111_offer', 'whatsapp', 'en', 'marketing', null,
   'An offer for {{customer_name}}. Stop offers: {{withdrawal_link}}',
   't111_offer_en', 'marketing', 'approved', 2, null, null, null, null),
  ('t111_offer', 'sms', 'en', 'marketing', null,
   'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012399',
   'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL'),
  ('t111_notice', 'email', 'en', 'service', 'A notice', 'A notice for {{customer_name}}.',
   null, null, null, null, null, null, null, null);

create function pg_temp.send(key text, request jsonb) returns uuid language sql as $$
  select e.message_id from private.enqueue_messages(
    jsonb_build_object('customer_id', tests.fixture('customer_a'), 'idempotency_key', key,
                       'variables', '{"customer_name": "Asha"}'::jsonb) || request) e
$$;
create function pg_temp.body(message uuid) returns text language sql as $$
  select body from public.messages where id = message
$$;

select pg_temp.send('t111:free', '{"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "A free offer."}');
select matches(
  (select body from public.messages where idempotency_key = 't111:free'),
  E'^A free offer\\.\n\nTo stop offers: http://127\\.0\\.0\\.1:54321/functions/v1/consent/w/[A-Za-z0-9_-]{52}$',
  'free-text marketing gets its link appended');
select is(
  (select (c.state, c.message_id = m.id, c.customer_id = m.customer_id)::text
     from public.messages m,
          private.consent_link_check(substring(m.body from '/w/([A-Za-z0-9_-]{52})')) c
    where m.idempotency_key = 't111:free'),
  '(valid,t,t)', 'its token names the message and its customer');

select pg_temp.send('t111:free-hi', jsonb_build_object('customer_id', tests.fixture('customer_b'),
  'channel', 'email', 'purpose', 'marketing', 'subject', 'Hi', 'body', 'एक ऑफ़र।'));
select matches(
  (select body from public.messages where idempotency_key = 't111:free-hi'),
  E'^एक ऑफ़र।\n\nऑफ़र बंद करने के लिए: http://\\S+/consent/w/[A-Za-z0-9_-]{52}$',
  'in Hindi for a Hindi speaker');

select pg_temp.send('t111:free-placed', '{"channel": "email", "purpose": "marketing", "subject": "Hi", "body": "Offer. Stop: {{withdrawal_link}} Bye."}');
select matches(
  (select body from public.messages where idempotency_key = 't111:free-placed'),
  '^Offer\. Stop: http://127\.0\.0\.1:54321/functions/v1/consent/w/[A-Za-z0-9_-]{52} Bye\.$',
  'a free text placing {{withdrawal_link}} gets it there, once');
select is(
  (select blocked_reason is distinct from 'missing_variables' from public.messages where idempotency_key = 't111:free-placed'),
  true, 'and is not missing a variable');

select pg_temp.send('t111:tpl', '{"channel": "email", "template_code": "t111_offer"}');
select matches(
  (select body from public.messages where idempotency_key = 't111:tpl'),
  E'^An offer for Asha\\.\n\nTo stop offers: http://\\S+/consent/w/[A-Za-z0-9_-]{52}$',
  'an email template without the link gets it appended');
select pg_temp.send('t111:tpl-linked', '{"channel": "email", "template_code": "t111_offer_linked"}');
select matches(
  (select body from public.messages where idempotency_key = 't111:tpl-linked'),
  '^An offer for Asha\. Stop offers: http://\S+/consent/w/[A-Za-z0-9_-]{52} Thanks\.$',
  'an email template holding {{withdrawal_link}} has it filled, not repeated');

select pg_temp.send('t111:wa', '{"channel": "whatsapp", "template_code": "t111_offer"}');
select matches(
  (select template_snapshot -> 'whatsapp_parameters' ->> 1 from public.messages where idempotency_key = 't111:wa'),
  '^http://127\.0\.0\.1:54321/functions/v1/consent/w/[A-Za-z0-9_-]{52}$',
  'a WhatsApp template''s {{withdrawal_link}} parameter carries the link');
select is(
  (select substring(body from '/w/([A-Za-z0-9_-]{52})$') = substring(template_snapshot -> 'whatsapp_parameters' ->> 1 from '/w/(.*)$')
     from public.messages where idempotency_key = 't111:wa'),
  true, 'the same link as its body');

select pg_temp.send('t111:sms', '{"channel": "sms", "template_code": "t111_offer"}');
select matches(
  (select body from public.messages where idempotency_key = 't111:sms'),
  '^Offer for Asha\. Stop: http://127\.0\.0\.1:54321/functions/v1/consent/w/[A-Za-z0-9_-]{52} -PYRNWL$',
  'an SMS template writes the link''s fixed part and the token''s halves');
select is(
  (select coalesce(blocked_reason, 'none') <> 'dlt_variable_too_long' from public.messages where idempotency_key = 't111:sms'),
  true, 'each half within DLT''s 30 characters');
select is(
  (select c.state from public.messages m,
          private.consent_link_check(substring(m.body from '/w/([A-Za-z0-9_-]{52})')) c
    where m.idempotency_key = 't111:sms'),
  'valid', 'and the halves join into a valid token');

select pg_temp.send('t111:service', '{"channel": "email", "template_code": "t111_notice"}');
select is(
  (select body from public.messages where idempotency_key = 't111:service'),
  'A notice for Asha.', 'a service message carries no withdrawal link');
select pg_temp.send('t111:service-free', '{"channel": "email", "purpose": "transactional", "subject": "Hi", "body": "Receipt."}');
select is(
  (select body from public.messages where idempotency_key = 't111:service-free'),
  'Receipt.', 'nor does transactional free text');

select * from finish();
rollback;
