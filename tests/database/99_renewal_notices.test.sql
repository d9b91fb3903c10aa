-- Renewal notices by default (issue 12: "renewal notices generated as PDF when a quote is ready,
-- stored, and sent"): a case becoming quoted queues, in the transaction of the stage change, one
-- renewal_notice message through the gate carrying the case's notice (messages.document_id) and
-- its /d/ link, once per document: a re-quote, another update and a direct replay add nothing and
-- keep the link, which is the one the quote's message holds (a second token would break it). The
-- customer's preferred channel when the gate lets it through (WhatsApp: the notice as the
-- template's document header; SMS: the token as its DLT variable), else email; a customer the
-- gate refuses gets a blocked message with its reason, never a queued one; a quote whose own
-- template carries the notice gets no second one; a case closed before it went cancels it; a
-- notice that cannot be queued never undoes the quote. The templates pass their lint.
begin;
select plan(33);
select tests.create_test_book();

create function pg_temp.token_of(link text) returns text language sql immutable as $$
  select substring(link from '/d/([0-9A-Za-z]+)$')
$$;
create function pg_temp.notice_of(label text) returns uuid language sql as $$
  select d.id from public.documents d
   where d.case_id = tests.fixture('case_' || label) and d.kind = 'renewal_notice'
$$;
create function pg_temp.notices_of(label text)
returns table (id uuid, channel text, status text, blocked_reason text, document_id uuid,
               link text, token text, body text, idempotency_key text, template_snapshot jsonb)
language sql as $$
  select m.id, m.channel::text, m.status::text, m.blocked_reason, m.document_id,
         m.variables ->> 'document_link', m.variables ->> 'document_token', m.body, m.idempotency_key,
         m.template_snapshot
    from public.messages m join public.templates t on t.id = m.template_id
   where m.case_id = tests.fixture('case_' || label) and t.code = 'renewal_notice'
$$;
-- A customer, policy and new case; fixtures case_<label>, customer_<label>.
create function pg_temp.make_case(label text, mail text, phone text) returns void
language plpgsql as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email) values ('Customer ' || label, phone, mail)
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date)
  values ('T99-' || upper(label), 'motor', 'Test Insurer', customer, tests.get_user_id('agent_a'),
          2813800, 50000000, current_date - 335, current_date + 30)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), current_date + 30, current_date + 30)
  returning id into renewal;
  insert into tests.fixtures (name, id) values ('case_' || label, renewal), ('customer_' || label, customer);
end;
$$;

-- 1. The templates: every channel, lint clean; case_quoted keeps its words (no link).
select is(
  (select array_agg(format('%s/%s/%s', channel, language, purpose) order by channel::text, language)
     from public.templates where code = 'renewal_notice' and active),
  array['email/en/service', 'email/hi/service', 'sms/en/service', 'whatsapp/en/service', 'whatsapp/hi/service'],
  'renewal_notice exists by email (en, hi), SMS and WhatsApp (en, hi), a service message like the quote');
select is(
  (select array_agg(format('%s/%s', channel, language) order by channel::text, language)
     from public.templates t where code = 'renewal_notice' and private.lint_template(t) -> 'errors' <> '[]'),
  null, 'each passes its lint');
select is(
  (select array_agg(format('%s/%s', channel, language) order by channel::text, language)
     from public.templates where code = 'renewal_notice'
      and (body like '%{{document_link}}' or body like '%/go/d/{{document_token}} - Py360')),
  array['email/en', 'email/hi', 'sms/en'],
  'the emails end with the link; the SMS writes the link''s fixed part out and takes the token');
select is(
  (select array_agg(format('%s %s %s %s %s', language, whatsapp_name, whatsapp_category, whatsapp_status,
                           whatsapp_header_format) order by language)
     from public.templates where code = 'renewal_notice' and channel = 'whatsapp'),
  array['en renewal_notice utility approved document', 'hi renewal_notice utility approved document'],
  'WhatsApp: utility, approved, the notice as its document header');
select is(
  (select count(*)::int from public.templates
    where code = 'case_quoted' and (body like '%document_link%' or coalesce(subject, '') like '%document_link%')),
  0, 'case_quoted is left as it was: no link for the AI drafts to fill');

-- 2. Case A quoted by its agent (no preferred channel): one notice message, by email, with it.
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_a');
reset role;
create temporary table notice_a on commit drop as select * from pg_temp.notices_of('a');
select is((select count(*)::int from notice_a), 1, 'case A became quoted: one renewal notice message');
select is(
  (select (channel, status, blocked_reason, idempotency_key)::text from notice_a),
  ('email', 'queued', null, 'renewal_notice:' || pg_temp.notice_of('a'))::text,
  'queued by email, keyed by its document');
select is((select document_id from notice_a), pg_temp.notice_of('a'), 'carrying the case''s renewal notice');
select is(
  (select (d.status, d.generated)::text from public.documents d where d.id = pg_temp.notice_of('a')),
  '(pending,t)', 'pending: the dispatcher renders it before sending');
select is((select l.id from notice_a n cross join private.document_for_link_token(n.token) l),
  pg_temp.notice_of('a'), 'its token opens the notice');
select is((select pg_temp.token_of(link) from notice_a), (select token from notice_a),
  'document_link ends with that token');
select ok((select position(link in body) > 0 from notice_a), 'the email''s text holds the link');
select matches((select body from notice_a), '^Dear Customer A, your renewal notice for policy T-POL-A with Test General',
  'in the customer''s words');
select is(
  (select pg_temp.token_of(m.variables ->> 'document_link') from public.messages m
    where m.idempotency_key = 'event:' || tests.fixture('case_a') || ':quoted'),
  (select token from notice_a), 'the same token as the quote''s message: its link still opens the notice');

-- 3. Replays: another update, a re-quote the same day, the function again: nothing new.
update public.renewal_cases set priority = priority where id = tests.fixture('case_a');
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'payment_pending' where id = tests.fixture('case_a');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_a');
reset role;
select is(private.queue_renewal_notice(tests.fixture('case_a')), (select id from notice_a),
  'queue_renewal_notice again answers the message queued');
select is(
  (select array_agg((id, token, body, document_id)::text) from pg_temp.notices_of('a')),
  (select array_agg((id, token, body, document_id)::text) from notice_a),
  'one message, the same token, text and document');
select is((select count(*)::int from public.documents d where d.case_id = tests.fixture('case_a') and d.kind = 'renewal_notice'),
  1, 'one notice');
select is((select l.id from notice_a n cross join private.document_for_link_token(n.token) l),
  pg_temp.notice_of('a'), 'and the link sent still opens it');

-- 4. Customer B prefers WhatsApp (opted in): the notice goes there as the document header.
update public.customers set preferred_channel = 'whatsapp' where id = tests.fixture('customer_b');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_b');
select is(
  (select (channel, status, document_id, template_snapshot ->> 'whatsapp_name')::text from pg_temp.notices_of('b')),
  ('whatsapp', 'queued', pg_temp.notice_of('b'), 'renewal_notice')::text,
  'customer B''s notice is queued on WhatsApp on the approved template, carrying the notice');

-- A customer preferring SMS (opted in): the DLT text, the link's fixed part and the token.
select pg_temp.make_case('sms', null, '+919899000088');
update public.customers set preferred_channel = 'sms' where id = tests.fixture('customer_sms');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_sms'), 'sms', 'service', 'granted', 'web_form');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_sms');
select is(
  (select (channel, status, blocked_reason, document_id)::text from pg_temp.notices_of('sms')),
  ('sms', 'queued', null, pg_temp.notice_of('sms'))::text,
  'by SMS, queued (each DLT variable within its 30 characters), carrying the notice');
select is(
  (select body from pg_temp.notices_of('sms')),
  'Renewal notice for policy T99-SMS, premium ₹28,138: http://127.0.0.1:54321/functions/v1/go/d/'
    || (select token from pg_temp.notices_of('sms')) || ' - Py360',
  'the registered words, the link''s fixed part and the 22-character token');

-- A case lost before its notice went: the notice, a service message, is cancelled with the quote.
update public.renewal_cases set stage = 'lost', lost_reason = 'Went elsewhere' where id = tests.fixture('case_b');
select is((select status from pg_temp.notices_of('b')), 'cancelled', 'a case lost before sending: its notice is cancelled');

-- 5. The gate refuses: no address at all; consent withdrawn by email. Quoted in one statement.
select pg_temp.make_case('none', null, null);
select pg_temp.make_case('withdrawn', 't99_withdrawn@tests.py360.test', null);
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_withdrawn'), 'email', 'service', 'withdrawn', 'web_form');
update public.renewal_cases set stage = 'quoted'
 where id in (tests.fixture('case_none'), tests.fixture('case_withdrawn'));
select is(
  (select array_agg((n.channel, n.status, n.blocked_reason, n.document_id = pg_temp.notice_of(l))::text order by l)
     from unnest(array['none', 'withdrawn']) l cross join pg_temp.notices_of(l) n),
  array['(email,blocked,no_address,t)', '(email,blocked,consent_withdrawn,t)'],
  'a customer the gate refuses gets no queued notice: a blocked one, with the reason');
select is(
  (select count(*)::int from public.messages m
    where m.case_id in (tests.fixture('case_none'), tests.fixture('case_withdrawn'))
      and m.document_id is not null and m.status <> 'blocked'),
  0, 'nothing that carries their notice is on its way');
select is(
  (select count(*)::int from private.claim_messages('t99', 1000) c
     join public.messages m on m.id = c.id
    where m.case_id in (tests.fixture('case_none'), tests.fixture('case_withdrawn'))),
  0, 'the dispatcher claims nothing of theirs');
select is((select array_agg(stage::text) from public.renewal_cases
            where id in (tests.fixture('case_none'), tests.fixture('case_withdrawn'))),
  array['quoted', 'quoted'], 'their quotes stand');

-- 6. A quote whose own template carries the notice (a WhatsApp document header): no second one.
select pg_temp.make_case('header', 't99_header@tests.py360.test', '+919899000099');
update public.customers set preferred_channel = 'whatsapp' where id = tests.fixture('customer_header');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_header'), 'whatsapp', 'service', 'granted', 'web_form');
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, whatsapp_header_format)
values ('case_quoted', 'whatsapp', 'en', 'service',
        'Dear {{customer_name}}, your quote for {{policy_number}} is ready: {{premium}}. The notice is attached.',
        't99_case_quoted', 'utility', 'approved', 3, 'document');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_header');
select is(
  (select array_agg(t.code order by t.code) from public.messages m join public.templates t on t.id = m.template_id
    where m.document_id = pg_temp.notice_of('header')),
  array['case_quoted'], 'the quote carries the notice itself: no renewal_notice message besides');
select is(private.queue_renewal_notice(tests.fixture('case_header')), null::uuid,
  'asked again, nothing is queued while the quote carries it');
update public.templates set active = false where whatsapp_name = 't99_case_quoted';

-- 7. A notice that cannot be queued (no active template) never undoes the quote.
select pg_temp.make_case('off', 't99_off@tests.py360.test', null);
update public.templates set active = false where code = 'renewal_notice';
select lives_ok(
  $$update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_off')$$,
  'quoting with no renewal_notice template succeeds');
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_off')), 'quoted',
  'the quote stands');
select is((select count(*)::int from pg_temp.notices_of('off')), 0, 'and no notice message is made');
update public.templates set active = true where code = 'renewal_notice';
select isnt(private.queue_renewal_notice(tests.fixture('case_off')), null::uuid,
  'once a template is back, the notice is queued on asking');
select is(
  (select (l.id = n.document_id)::text from pg_temp.notices_of('off') n
     cross join private.document_for_link_token(n.token) l),
  'true', 'with a link to its own notice (the quote''s token, reused)');

select * from finish();
rollback;
