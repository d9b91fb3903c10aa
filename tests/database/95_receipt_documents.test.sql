-- Receipts and renewal notices as documents (issue 12): a credited payment registers its pending
-- receipt once, however often it is credited or replayed; the receipt message carries the
-- document (messages.document_id) and its short link {{document_link}} = <LINK_BASE_URL>/d/<token>,
-- which the `go` function's look-up resolves, and which a replay neither changes nor breaks; a
-- customer preferring WhatsApp gets it there (the template's document header) when the gate lets
-- it through, else by email; a case becoming quoted registers one pending renewal notice a day,
-- whose link its quote message gets, carrying the notice where its template asks for it; the
-- payment_receipt templates in every channel pass their lint.
begin;
select plan(42);
select tests.create_test_book();

create function pg_temp.receipts_of(payment_label text) returns bigint language sql as $$
  select count(*) from public.documents d
   where d.payment_id = tests.fixture(payment_label) and d.kind = 'receipt'
$$;
create function pg_temp.token_of(link text) returns text language sql immutable as $$
  select substring(link from '/d/([0-9A-Za-z]+)$')
$$;

select is(pg_temp.receipts_of('payment_a'), 0::bigint, 'a payment not credited has no receipt');

-- 0. Renewal notices: a case becoming quoted registers one, once a day; its quote message gets
-- the notice's link, and carries the notice where its template asks for it (a WhatsApp document
-- header, or the link in its text), not otherwise.
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_b') and stage = 'new';
select is(
  (select count(*)::int from public.documents d
    where d.case_id = tests.fixture('case_b') and d.kind = 'renewal_notice'),
  1, 'case B became quoted: its renewal notice is registered');
select is(
  (select (d.status, d.generated, d.customer_id, d.content_type, d.file_name)::text
     from public.documents d where d.case_id = tests.fixture('case_b') and d.kind = 'renewal_notice'),
  ('pending', true, tests.fixture('customer_b'), 'application/pdf',
   'renewal-notice-' || (select case_number from public.renewal_cases where id = tests.fixture('case_b'))
   || '-' || to_char(private.business_date(now()), 'YYYYMMDD') || '.pdf')::text,
  'pending, generated, of the case''s customer, named after the case and the day');
create temporary table quote_b on commit drop as
select m.channel, m.status, m.document_id, m.variables ->> 'document_link' as link, m.body
  from public.messages m where m.idempotency_key = 'event:' || tests.fixture('case_b') || ':quoted';
select is(
  (select (channel, status, document_id)::text from quote_b), '(email,queued,)',
  'case B''s quote goes by email, whose seeded text has no link: no document attached');
select is(
  (select l.id from quote_b q cross join private.document_for_link_token(pg_temp.token_of(q.link)) l),
  (select d.id from public.documents d where d.case_id = tests.fixture('case_b') and d.kind = 'renewal_notice'),
  'its variables hold a link to the notice all the same');
-- Case A is quoted once a WhatsApp case_quoted template with a document header exists.
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, whatsapp_header_format)
values ('case_quoted', 'whatsapp', 'en', 'service',
        'Dear {{customer_name}}, your quote for {{policy_number}} is ready: {{premium}}. The notice is attached.',
        't95_case_quoted', 'utility', 'approved', 3, 'document');
update public.customers set preferred_channel = 'whatsapp' where id = tests.fixture('customer_a');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_a') and stage = 'new';
select is(
  (select (m.channel, m.document_id)::text
     from public.messages m where m.idempotency_key = 'event:' || tests.fixture('case_a') || ':quoted'),
  ('whatsapp', (select d.id from public.documents d
                 where d.case_id = tests.fixture('case_a') and d.kind = 'renewal_notice'))::text,
  'case A''s quote goes by WhatsApp with the notice as its template''s document header');
update public.renewal_cases set priority = priority where id = tests.fixture('case_b');
select is(
  (select count(*)::int from public.documents d where d.case_id = tests.fixture('case_b') and d.kind = 'renewal_notice'),
  1, 'a later update of a quoted case registers nothing more');
update public.customers set preferred_channel = null where id = tests.fixture('customer_a');
update public.templates set active = false where whatsapp_name = 't95_case_quoted';

-- 1. Credited through the payment function: one pending receipt, and the message carries it.
select tests.authenticate_as_service_role();
select is(
  (select outcome from private.apply_razorpay_payment(
     '{"id": "pay_TA", "amount": 1200000, "currency": "INR", "status": "captured", "method": "upi"}', 'webhook')),
  'credited', 'payment A is credited');
reset role;
select is(pg_temp.receipts_of('payment_a'), 1::bigint, 'its receipt is registered');
select is(
  (select (d.status, d.generated, d.case_id, d.customer_id, d.file_name, d.content_type, d.retain_until)::text
     from public.documents d where d.payment_id = tests.fixture('payment_a')),
  ('pending', true, tests.fixture('case_a'), tests.fixture('customer_a'), 'receipt-pay_TA.pdf',
   'application/pdf', (private.business_date(now()) + interval '8 years')::date)::text,
  'pending (rendered before sending), generated, of the case and customer, kept 8 years');

create temporary table receipt_a on commit drop as
select m.id, m.channel, m.status, m.document_id, m.variables ->> 'document_link' as link, m.body
  from public.messages m where m.idempotency_key = 'receipt:pay_TA';
select is((select count(*)::int from receipt_a), 1, 'one receipt message');
select is(
  (select document_id from receipt_a),
  (select d.id from public.documents d where d.payment_id = tests.fixture('payment_a')),
  'it carries the receipt document');
select matches(
  (select link from receipt_a),
  '^' || regexp_replace(private.setting('LINK_BASE_URL') #>> '{}', '([.:/])', '\\\1', 'g') || '/d/[0-9A-Za-z]{22}$',
  'its document_link is <LINK_BASE_URL>/d/<22-character token>');
select ok((select position(link in body) > 0 from receipt_a), 'and the email says it');
select is((select (channel, status)::text from receipt_a), '(email,queued)', 'queued by email (no preferred channel)');
select is(
  (select l.id from receipt_a r cross join private.document_for_link_token(pg_temp.token_of(r.link)) l),
  (select document_id from receipt_a),
  'the link''s token opens the receipt');

-- 2. Replays: the webhook again, the verification, the reconciliation, the message function.
select tests.authenticate_as_service_role();
select is(
  (select array_agg(outcome order by via) from (values ('webhook'), ('verify'), ('reconcile')) v (via)
    cross join private.apply_razorpay_payment(
      '{"id": "pay_TA", "amount": 1200000, "currency": "INR", "status": "captured", "method": "upi"}', v.via)),
  array['already_credited', 'already_credited', 'already_credited'], 'replays credit nothing');
reset role;
select private.queue_payment_message(p, 'payment_receipt', 'receipt:pay_TA')
  from public.payments p where p.id = tests.fixture('payment_a');
select is(pg_temp.receipts_of('payment_a'), 1::bigint, 'still one receipt');
select is((select count(*)::int from public.messages where idempotency_key = 'receipt:pay_TA'), 1, 'still one message');
select is(
  (select (m.document_id, m.variables ->> 'document_link')::text from public.messages m
    where m.idempotency_key = 'receipt:pay_TA'),
  (select (document_id, link)::text from receipt_a), 'with the same document and link');
select is(
  (select l.id from receipt_a r cross join private.document_for_link_token(pg_temp.token_of(r.link)) l),
  (select document_id from receipt_a), 'and the link sent still opens it');

-- 3. Credited twice at the table: set again, cleared and set again.
update public.payments set credited_at = credited_at + interval '1 second' where id = tests.fixture('payment_a');
update public.payments set credited_at = null where id = tests.fixture('payment_a');
update public.payments set credited_at = now() where id = tests.fixture('payment_a');
select is(pg_temp.receipts_of('payment_a'), 1::bigint, 'crediting the same payment again registers nothing more');
select is((select d.id from public.documents d where d.payment_id = tests.fixture('payment_a')),
  (select document_id from receipt_a), 'the same receipt');

-- 4. Several payments credited in one statement, and a payment inserted already credited.
insert into public.payments (case_id, razorpay_payment_id, amount, status)
values (tests.fixture('case_b'), 'pay_T95B2', 100, 'captured'), (tests.fixture('case_b'), 'pay_T95B3', 100, 'captured');
select is((select count(*)::int from public.documents d join public.payments p on p.id = d.payment_id
            where p.razorpay_payment_id in ('pay_T95B2', 'pay_T95B3')), 0, 'captured but not credited: no receipt');
update public.payments set credited_at = now() where razorpay_payment_id in ('pay_T95B2', 'pay_T95B3');
select is((select count(*)::int from public.documents d join public.payments p on p.id = d.payment_id
            where p.razorpay_payment_id in ('pay_T95B2', 'pay_T95B3')), 2, 'credited in one statement: one receipt each');
insert into public.payments (case_id, razorpay_payment_id, amount, status, captured_at, credited_at, credited_via)
values (tests.fixture('case_b'), 'pay_T95B4', 100, 'captured', now(), now(), 'reconcile');
select is((select count(*)::int from public.documents d join public.payments p on p.id = d.payment_id
            where p.razorpay_payment_id = 'pay_T95B4'), 1, 'a payment recorded credited gets its receipt');

-- 4b. Registering a receipt never undoes the credit; a malformed retention setting falls back.
-- (Refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked('{"DOCUMENT_RETENTION_YEARS": {"receipt": "eight", "kyc": 5}}');
insert into public.payments (case_id, razorpay_payment_id, amount, status, captured_at, credited_at, credited_via)
values (tests.fixture('case_b'), 'pay_T95B6', 100, 'captured', now(), now(), 'reconcile');
select is(
  (select (d.file_name, d.retain_until)::text from public.documents d join public.payments p on p.id = d.payment_id
    where p.razorpay_payment_id = 'pay_T95B6'),
  ('receipt-pay_T95B6.pdf', (private.business_date(now()) + interval '8 years')::date)::text,
  'a malformed DOCUMENT_RETENTION_YEARS keeps a receipt 8 years all the same');
create function pg_temp.refuse_documents() returns trigger language plpgsql as $$
begin
  raise exception 'the documents table is broken';
end;
$$;
create trigger t95_refuse before insert on public.documents
  for each row execute function pg_temp.refuse_documents();
insert into public.payments (case_id, razorpay_payment_id, amount, status)
values (tests.fixture('case_b'), 'pay_T95B7', 100, 'captured');
select lives_ok(
  $$update public.payments set credited_at = now() where razorpay_payment_id = 'pay_T95B7'$$,
  'a receipt that cannot be registered does not undo the credit');
select is((select credited_at is not null from public.payments where razorpay_payment_id = 'pay_T95B7'), true,
  'the payment stays credited');
drop trigger t95_refuse on public.documents;

-- 5. A customer preferring WhatsApp gets it there, with the document as the template's header.
update public.customers set preferred_channel = 'whatsapp' where id = tests.fixture('customer_b');
select tests.authenticate_as_service_role();
select is(
  (select outcome from private.apply_razorpay_payment(
     '{"id": "pay_TB", "amount": 1200000, "currency": "INR", "status": "captured", "method": "upi"}', 'webhook')),
  'credited', 'payment B is credited');
reset role;
select is(
  (select (m.channel, m.status, m.template_snapshot)::text from public.messages m where m.idempotency_key = 'receipt:pay_TB'),
  ('whatsapp', 'queued', '{"whatsapp_name": "payment_receipt", "whatsapp_language": "en", "whatsapp_parameters": ["Customer B", "₹12,000"]}')::text,
  'customer B''s receipt goes by WhatsApp on the approved payment_receipt template');
select is(
  (select m.document_id from public.messages m where m.idempotency_key = 'receipt:pay_TB'),
  (select d.id from public.documents d where d.payment_id = tests.fixture('payment_b')),
  'carrying its receipt document (the header)');

-- ... and by email when WhatsApp would be refused (no opt-in any more).
delete from public.consents where customer_id = tests.fixture('customer_b');
insert into public.payments (case_id, razorpay_payment_id, amount, status)
values (tests.fixture('case_b'), 'pay_T95B5', 100, 'captured');
select private.queue_payment_message(p, 'payment_receipt', 'receipt:pay_T95B5')
  from public.payments p where p.razorpay_payment_id = 'pay_T95B5';
select is(
  (select (m.channel, m.status)::text from public.messages m where m.idempotency_key = 'receipt:pay_T95B5'),
  '(email,queued)', 'a customer preferring WhatsApp without an opt-in gets the receipt by email');

-- 7. Messages reference their document.
select col_type_is('public', 'messages', 'document_id', 'uuid', 'messages.document_id is a uuid');
select fk_ok('public', 'messages', 'document_id', 'public', 'documents', 'id', 'referencing documents');

update public.messages set document_id = (select id from private.record_document(jsonb_build_object(
    'kind', 'other', 'case_id', tests.fixture('case_a'), 'file_name', 'note.pdf', 'content_type', 'application/pdf',
    'size_bytes', 1, 'checksum_sha256', repeat('95', 32))))
 where idempotency_key = 'receipt:pay_T95B5';
select tests.authenticate_as('admin');
delete from public.documents where file_name = 'note.pdf' and case_id = tests.fixture('case_a');
reset role;
select is((select document_id from public.messages where idempotency_key = 'receipt:pay_T95B5'), null::uuid,
  'a message whose document is deleted keeps its row, without the document');

-- 8. The payment_receipt templates: every channel, every lint clean.
select is(
  (select array_agg(format('%s/%s', channel, language) order by channel::text, language)
     from public.templates where code = 'payment_receipt' and active),
  array['email/en', 'email/hi', 'sms/en', 'whatsapp/en', 'whatsapp/hi'],
  'payment_receipt exists by email, SMS and WhatsApp');
select is(
  (select array_agg(format('%s/%s', channel, language) order by channel::text, language)
     from public.templates where code = 'payment_receipt'
      and (jsonb_array_length(lint -> 'errors') > 0 or private.lint_template(templates) -> 'errors' <> '[]')),
  null, 'each passes its lint');
select is(
  (select array_agg(format('%s/%s', channel, language) order by channel::text, language)
     from public.templates where code = 'payment_receipt' and channel in ('email', 'sms')
      and (body like '%{{document_link}}%' or body like '%/d/{{document_token}}%')),
  array['email/en', 'email/hi', 'sms/en'],
  'email and SMS carry the document link (SMS: its fixed part written out, then the token; 98)');
select is(
  (select array_agg(format('%s %s %s %s %s', language, whatsapp_category, whatsapp_status, whatsapp_header_format,
                           whatsapp_parameter_count) order by language)
     from public.templates where code = 'payment_receipt' and channel = 'whatsapp'),
  array['en utility approved document 2', 'hi utility approved document 2'],
  'WhatsApp: utility, approved, with a document header');
select is(
  (select dlt_text from public.templates where code = 'payment_receipt' and channel = 'sms'),
  'Received {#var#} for policy {#var#}. Receipt: http://127.0.0.1:54321/functions/v1/go/d/{#var#} - Py360',
  'the SMS is its DLT text with {#var#} for the link''s token');
select throws_ok(
  $$update public.templates set whatsapp_header_format = 'document'
     where code = 'payment_receipt' and channel = 'email' and language = 'en'$$,
  'PY009', 'the template does not pass its lint', 'a header format on an email template fails the lint');

select * from finish();
rollback;
