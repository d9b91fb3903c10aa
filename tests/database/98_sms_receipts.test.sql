-- SMS receipts (issue 12, follow-up): DLT takes at most 30 characters in a {#var#} slot, so the
-- payment_receipt SMS writes its link's fixed part out (LINK_BASE_URL's default host, as its DLT
-- text registers it) and takes only the 22-character {{document_token}}; a customer preferring
-- SMS gets the receipt there, queued (not blocked as dlt_variable_too_long), with a link whose
-- token opens the receipt and stays the same on a replay; the gate still blocks an SMS whose
-- variable is the whole link; the template passes its lint.
begin;
select plan(13);
select tests.create_test_book();

create function pg_temp.token_of(link text) returns text language sql immutable as $$
  select substring(link from '/d/([0-9A-Za-z]+)$')
$$;

-- 1. The variable and the template.
select is(
  (select (v.max_length, length(v.example))::text from private.template_variables() v
    where v.name = 'document_token'),
  '(22,22)', 'document_token is a template variable of 22 characters');
select is(
  (select (body, dlt_text)::text from public.templates
    where code = 'payment_receipt' and channel = 'sms' and language = 'en'),
  ('Received {{amount_paid}} for policy {{policy_number}}. Receipt: '
   'http://127.0.0.1:54321/functions/v1/go/d/{{document_token}} - Py360',
   'Received {#var#} for policy {#var#}. Receipt: '
   'http://127.0.0.1:54321/functions/v1/go/d/{#var#} - Py360')::text,
  'the SMS receipt writes the link''s fixed part out; its DLT text has {#var#} for the token only');
select is(
  (select (private.lint_template(t) -> 'errors', private.lint_template(t) -> 'variables')::text
     from public.templates t where code = 'payment_receipt' and channel = 'sms' and language = 'en'),
  ('[]', '["amount_paid", "document_token", "policy_number"]')::text,
  'it passes its lint, with the token as its third variable');

-- 2. A customer preferring SMS, opted in: the receipt goes there, queued.
update public.customers set preferred_channel = 'sms' where id = tests.fixture('customer_a');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'sms', 'transactional', 'granted', 'web_form');
select tests.authenticate_as_service_role();
select is(
  (select outcome from private.apply_razorpay_payment(
     '{"id": "pay_TA", "amount": 1200000, "currency": "INR", "status": "captured", "method": "upi"}', 'webhook')),
  'credited', 'payment A is credited');
reset role;
create temporary table sms_a on commit drop as
select m.id, m.channel, m.status, m.blocked_reason, m.document_id, m.body,
       m.variables ->> 'document_link' as link, m.variables ->> 'document_token' as token
  from public.messages m where m.idempotency_key = 'receipt:pay_TA';
select is(
  (select (channel, status, blocked_reason)::text from sms_a), '(sms,queued,)',
  'customer A''s receipt is queued by SMS, not blocked');
select is(
  (select document_id from sms_a),
  (select d.id from public.documents d where d.payment_id = tests.fixture('payment_a')),
  'it carries the receipt document');
select matches((select token from sms_a), '^[0-9A-Za-z]{22}$', 'its document_token is the 22-character token');
select is((select token from sms_a), (select pg_temp.token_of(link) from sms_a),
  'the token of its document_link');
select is(
  (select body from sms_a),
  'Received ₹12,000 for policy T-POL-A. Receipt: http://127.0.0.1:54321/functions/v1/go/d/'
    || (select token from sms_a) || ' - Py360',
  'the text sent: the registered words, the link''s fixed part and the token');
select is(
  (select l.id from sms_a s cross join private.document_for_link_token(s.token) l),
  (select document_id from sms_a), 'the token opens the receipt');

-- 3. A replay keeps the message and its token.
select private.queue_payment_message(p, 'payment_receipt', 'receipt:pay_TA')
  from public.payments p where p.id = tests.fixture('payment_a');
select is(
  (select array_agg((m.variables ->> 'document_token', m.body)::text) from public.messages m
    where m.idempotency_key = 'receipt:pay_TA'),
  (select array_agg((token, body)::text) from sms_a), 'a replay: one message, the same token and text');

-- 4. The gate's DLT rule stands: the whole link as an SMS variable is blocked.
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t98_whole_link', 'sms', 'en', 'transactional', 'Receipt: {{document_link}}',
        '1101000000000000001', 'PYRNWL', '1107000000000009801', 'Receipt: {#var#}');
select private.enqueue_messages(jsonb_build_object(
  'customer_id', tests.fixture('customer_a'), 'case_id', tests.fixture('case_a'), 'channel', 'sms',
  'template_code', 't98_whole_link', 'idempotency_key', 't98:whole',
  'variables', jsonb_build_object('document_link', (select link from sms_a))));
select is(
  (select (status, blocked_reason)::text from public.messages where idempotency_key = 't98:whole'),
  '(blocked,dlt_variable_too_long)', 'an SMS carrying the whole link in one variable is blocked');
select is(
  (select (status, blocked_reason)::text from public.messages where idempotency_key = 'receipt:pay_TA'),
  '(queued,)', 'while the receipt with the token stays queued');

select * from finish();
rollback;
