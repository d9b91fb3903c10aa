-- The export of a customer's data (migration *_export_customer_data): every table that holds the
-- person's data is listed, found by walking the catalog (this test walks it on its own and
-- compares), with their rows and no one else's; a table added later is exported without a code
-- change; secrets stay out. Then the export job's functions: request (admins), claim with a lease
-- and a fencing attempt, complete, fail (3 attempts), expire into the object-deletion queue, and
-- the deletion queue's claim and finish.
begin;
select plan(58);
select tests.create_test_book();

-- Customer a's data in many tables; customer b's alongside, which must not leak into a's export.
insert into public.messages (id, customer_id, case_id, channel, purpose, body, recipient, idempotency_key, status)
values ('00000000-0000-4000-8000-0000000e0001', tests.fixture('customer_a'), tests.fixture('case_a'),
        'sms', 'transactional', 'Your premium is due', '+919800000001', 'exp-a-1', 'delivered'),
       ('00000000-0000-4000-8000-0000000e0002', tests.fixture('customer_b'), tests.fixture('case_b'),
        'sms', 'transactional', 'B premium is due', '+919800000002', 'exp-b-1', 'delivered');
insert into public.message_events (provider, event_key, kind, payload, message_id)
values ('twilio', 'exp-a-ev', 'status', '{"To": "+919800000001"}', '00000000-0000-4000-8000-0000000e0001'),
       ('twilio', 'exp-b-ev', 'status', '{"To": "+919800000002"}', '00000000-0000-4000-8000-0000000e0002');
insert into public.ai_requests (id, purpose, caller, customer_id, case_id, model, prompt_hash)
values ('00000000-0000-4000-8000-0000000ea001', 'chat', tests.get_user_id('agent_a'),
        tests.fixture('customer_a'), tests.fixture('case_a'), 'gpt-4o-mini', repeat('c', 64));
-- Customer b's AI call answered from a's cached one: b's, not a's.
insert into public.ai_requests (id, purpose, caller, customer_id, case_id, model, prompt_hash, cached_from,
                                outcome, finished_at, source, cost_paise)
values ('00000000-0000-4000-8000-0000000ea002', 'chat', tests.get_user_id('agent_b'),
        tests.fixture('customer_b'), tests.fixture('case_b'), 'gpt-4o-mini', repeat('c', 64),
        '00000000-0000-4000-8000-0000000ea001', 'cached', now(), 'cache', 0);
insert into public.ai_chat_messages (case_id, author, role, content, redacted_content)
values (tests.fixture('case_a'), tests.get_user_id('agent_a'), 'agent', 'She called', 'She called');
insert into public.documents (id, kind, customer_id, object_key, file_name, content_type,
                              link_token_hash, link_expires_at, stored_at)
values ('00000000-0000-4000-8000-0000000ed001', 'kyc', tests.fixture('customer_a'),
        'customers/' || tests.fixture('customer_a') || '/00000000-0000-4000-8000-0000000ed001/kyc.pdf', 'aadhaar.pdf', 'application/pdf', repeat('d', 64), now() + interval '1 day', now());
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
values (tests.fixture('case_a'), tests.get_user_id('agent_a'), now(), 4, now() + interval '4 hours');
insert into public.tracked_links (id, code, case_id, customer_id, purpose, target_url)
values ('00000000-0000-4000-8000-0000000ee001', 'ExportTest01', tests.fixture('case_a'),
        tests.fixture('customer_a'), 'payment_link', 'https://rzp.io/i/export');
insert into public.link_clicks (tracked_link_id, case_id, clicked_at, user_agent)
values ('00000000-0000-4000-8000-0000000ee001', tests.fixture('case_a'), now(), 'A browser');
insert into public.case_risk_scores (case_id, as_of, model_version, score, band, reasons)
values (tests.fixture('case_a'), now(), 'test-1', 70, 'high', '["a", "b"]');
insert into public.payment_events (event_id, event_type, payload)
values ('evt_exp_a', 'payment.captured', '{"payload": {"payment": {"entity": {"id": "pay_TA", "email": "customer_a@tests.py360.test"}}}}'),
       ('evt_exp_b', 'payment.captured', '{"payload": {"payment": {"entity": {"id": "pay_TB"}}}}');
insert into private.razorpay_calls (operation, subject_id, request, state, finished_at)
values ('create_refund', tests.fixture('payment_a'), '{"amount": 100}', 'succeeded', now());
insert into public.customer_social_accounts (customer_id, platform, external_id, handle, source)
values (tests.fixture('customer_a'), 'telegram', '7712345678', 'asha_t', 'deep_link');
insert into private.telegram_link_tokens (token_hash, customer_id, expires_at)
values (repeat('e', 64), tests.fixture('customer_a'), now() + interval '1 day');
-- Held about their phone and email with no key to them: the suppression list, and vendor events
-- tied to no message (inbound SMS, WhatsApp through Twilio and Meta, an email callback).
insert into public.suppressions (channel, address, reason, source)
values ('email', 'customer_a@tests.py360.test', 'hard_bounce', 'test'),
       ('sms', '+919800000001', 'stop_reply', 'twilio_stop'),
       ('sms', '+919800000002', 'stop_reply', 'twilio_stop');
insert into public.message_events (provider, event_key, kind, payload)
values ('twilio', 'exp-in-sms-a', 'inbound', '{"From": "+919800000001", "Body": "STOP"}'),
       ('twilio', 'exp-in-wa-a', 'inbound', '{"From": "whatsapp:+919800000001", "Body": "a words"}'),
       ('whatsapp_cloud', 'exp-in-meta-a', 'inbound', '{"from": "919800000001", "text": {"body": "a again"}}'),
       ('sendgrid', 'exp-in-mail-a', 'status', '{"email": "Customer_A@tests.py360.test", "event": "bounce"}'),
       ('twilio', 'exp-in-sms-b', 'inbound', '{"From": "+919800000002", "Body": "b words"}'),
       ('twilio', 'exp-in-sms-x', 'inbound', '{"From": "+919800000009", "Body": "a stranger"}');

-- A table added later, two links away from the customer, is exported without a code change.
create table public.t_future_case_notes (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id),
  note text not null
);
insert into public.t_future_case_notes (case_id, note)
values (tests.fixture('case_a'), 'future note a'), (tests.fixture('case_b'), 'future note b');

create temporary table t_export on commit drop as
select private.customer_export(tests.fixture('customer_a')) as doc;
create temporary table t_export_b on commit drop as
select private.customer_export(tests.fixture('customer_b')) as doc;

-- The must-show: every table holding the person's data, found by our own walk of the catalog:
-- foreign keys from public.customers (child direction, public and private, any depth), and every
-- table with a customer_id or case_id column (referencing constraint or not).
with recursive fks as (
  select con.conrelid::regclass::text as child, con.confrelid::regclass::text as parent
    from pg_constraint con
    join pg_class c on c.oid = con.conrelid
    join pg_namespace n on n.oid = c.relnamespace
   where con.contype = 'f' and n.nspname in ('public', 'private')
     and con.conrelid <> 'public.audit_log'::regclass
), reach(rel) as (
  select 'customers'
  union
  select f.child from fks f join reach r on f.parent = r.rel
), named as (
  select distinct a.attrelid::regclass::text as rel
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('public', 'private') and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
     and a.attname in ('customer_id', 'case_id') and a.atttypid = 'uuid'::regtype
)
select tests_expected.rel into temporary t_expected
  from (select case when rel like '%.%' then rel else 'public.' || rel end as rel
          from (select rel from reach union select rel from named) u) tests_expected;

select ok((select count(*) from t_expected) >= 25, 'the catalog walk finds the customer''s tables');
select is_empty($$select rel from t_expected
                  except select jsonb_object_keys(doc -> 'tables') from t_export$$,
                'the export lists every table that holds the person''s data');
select ok((select doc -> 'tables' ? 'public.t_future_case_notes' from t_export),
          'a table added later is listed');
select is((select doc #> '{tables,public.t_future_case_notes}' from t_export),
          (select jsonb_agg(to_jsonb(t)) from public.t_future_case_notes t where t.case_id = tests.fixture('case_a')),
          'with the customer''s rows only');
select ok((select doc -> 'tables' ? 'public.payment_events' and doc -> 'tables' ? 'public.audit_log'
                  and doc -> 'tables' ? 'private.razorpay_calls' from t_export),
          'webhooks, the audit log and the Razorpay journal are listed');

-- Rows: theirs, all of them.
select is((select doc #>> '{tables,public.customers,0,email}' from t_export),
          'customer_a@tests.py360.test', 'the profile');
select is((select jsonb_array_length(doc #> '{tables,public.policies}') from t_export),
          (select count(*)::int from public.policies where customer_id = tests.fixture('customer_a')),
          'every policy (two)');
select is((select doc #>> '{tables,public.messages,0,body}' from t_export), 'Your premium is due',
          'the message, with its body');
select is((select jsonb_array_length(doc #> '{tables,public.messages}') from t_export), 1, 'one message');
select ok((select doc #> '{tables,public.message_events}' @> '[{"event_key": "exp-a-ev"}]' from t_export),
          'its delivery event (two links away)');
select is((select jsonb_array_length(doc #> '{tables,public.payments}') from t_export), 1, 'the payment');
select is((select jsonb_array_length(doc #> '{tables,public.consents}') from t_export),
          (select count(*)::int from public.consents where customer_id = tests.fixture('customer_a')),
          'every consent');
select is((select doc #>> '{tables,public.documents,0,file_name}' from t_export), 'aadhaar.pdf',
          'the documents list');
select is((select jsonb_array_length(doc #> '{tables,public.ai_requests}') from t_export), 1,
          'their AI call, not the other customer''s call cached from it');
select is((select jsonb_array_length(doc #> '{tables,public.ai_chat_messages}') from t_export), 1,
          'the AI chat about their case');
select is((select jsonb_array_length(doc #> '{tables,public.link_clicks}') from t_export), 1, 'link clicks');
select is((select jsonb_array_length(doc #> '{tables,public.case_risk_scores}') from t_export), 1,
          'the risk score (a case_id with no constraint)');
select is((select doc #>> '{tables,public.payment_events,0,event_id}' from t_export), 'evt_exp_a',
          'the payment webhook naming their payment''s Razorpay id');
select is((select jsonb_array_length(doc #> '{tables,public.payment_events}') from t_export), 1,
          'and not the other customer''s');
select is((select jsonb_array_length(doc #> '{tables,private.razorpay_calls}') from t_export), 1,
          'the Razorpay call about their payment');
select is((select jsonb_array_length(doc #> '{tables,public.customer_social_accounts}') from t_export), 1,
          'their social account');
select ok((select jsonb_array_length(doc #> '{tables,public.audit_log}') from t_export) > 0,
          'the audit rows of their rows');
select is_empty($$select 1 from t_export, jsonb_array_elements(doc #> '{tables,public.audit_log}') a
                   where (a ->> 'row_id')::uuid not in (
                     select (r ->> 'id')::uuid from t_export, jsonb_each(doc -> 'tables') t(k, v),
                            jsonb_array_elements(v) r where r ? 'id' and k <> 'public.audit_log'
                            and r ->> 'id' ~ '^[0-9a-f-]{36}$')$$,
                'every audit row is about one of their rows');
select is((select array(select e ->> 'event_key' from jsonb_array_elements(doc #> '{tables,public.message_events}') e
                         order by 1) from t_export),
          array['exp-a-ev', 'exp-in-mail-a', 'exp-in-meta-a', 'exp-in-sms-a', 'exp-in-wa-a'],
          'events tied to no message but naming their phone (+91..., 91..., whatsapp:+91...) or email (any case)');
select is((select array(select e ->> 'address' from jsonb_array_elements(doc #> '{tables,public.suppressions}') e
                         order by 1) from t_export),
          array['+919800000001', 'customer_a@tests.py360.test'], 'the suppressions of their phone and email');
select is((select array(select e ->> 'event_key' from jsonb_array_elements(doc #> '{tables,public.message_events}') e
                         order by 1) from t_export_b),
          array['exp-b-ev', 'exp-in-sms-b'], 'b''s export: b''s events, by message and by phone');
select is((select array(select e ->> 'address' from jsonb_array_elements(doc #> '{tables,public.suppressions}') e
                         order by 1) from t_export_b),
          array['+919800000002'], 'and b''s suppression only');
select ok((select position('b words' in doc::text) = 0 and position('a stranger' in doc::text) = 0
             from t_export),
          'a''s export holds neither b''s nor a stranger''s inbound message');

-- No one else's.
select ok((select position(tests.fixture('customer_b')::text in doc::text) = 0 from t_export),
          'customer b''s id appears nowhere in a''s export');
select ok((select position('customer_b@tests.py360.test' in doc::text) = 0
              and position('B premium' in doc::text) = 0 and position('pay_TB' in doc::text) = 0
              and position('future note b' in doc::text) = 0 from t_export),
          'nor b''s email, message, payment or notes');
select ok((select position('Your premium is due' in doc::text) = 0 from t_export_b),
          'a''s message is not in b''s export');
select is((select jsonb_array_length(doc #> '{tables,public.ai_requests}') from t_export_b), 1,
          'b''s export holds b''s cached AI call');

-- Secrets stay out.
select ok((select not (doc #> '{tables,public.documents,0}' ? 'link_token_hash') from t_export),
          'the document link''s token hash is left out');
select ok((select jsonb_array_length(doc #> '{tables,private.telegram_link_tokens}') = 1
                  and not (doc #> '{tables,private.telegram_link_tokens,0}' ? 'token_hash') from t_export),
          'the Telegram link token is listed without its hash');

select throws_ok($$select private.customer_export('00000000-0000-4000-8000-000000000000')$$,
                 'P0002', 'no customer 00000000-0000-4000-8000-000000000000', 'an unknown customer is refused');
select is(tests.affected_rows_as('admin', format('select private.customer_export(%L)', tests.fixture('customer_a'))),
          '42501', 'an admin cannot call the export function directly');

-- Requests: admins only.
select is(tests.affected_rows_as('agent_a', format('select private.request_customer_export(%L)', tests.fixture('customer_a'))),
          '42501', 'an agent cannot request an export');
select is(tests.affected_rows_as('zone_manager', format('select private.request_customer_export(%L)', tests.fixture('customer_a'))),
          '42501', 'a manager cannot request an export');
select tests.authenticate_as('admin');
select throws_ok($$select private.request_customer_export('00000000-0000-4000-8000-000000000000')$$,
                 'P0002', null, 'an export of an unknown customer is refused');
create temporary table t_request on commit drop as
select * from private.request_customer_export(tests.fixture('customer_a'), '  asked by email ');
grant select on t_request to service_role;
reset role;
select results_eq($$select kind, status, reason, requested_by, attempts from t_request$$,
                  format($$values ('export', 'pending', 'asked by email', %L::uuid, 0)$$, tests.get_user_id('admin')),
                  'an admin''s request is recorded pending, by them');
-- Other pending exports (none expected) must not disturb the claims below.
update public.data_requests set status = 'failed', error = 'test'
 where status in ('pending', 'running') and id <> (select id from t_request);

-- Claim with a lease; a lost lease is taken over; the old attempt can neither complete nor fail.
select tests.authenticate_as_service_role();
select results_eq($$select id, status, attempts from private.claim_data_export('5 minutes', '2030-01-01 00:00Z')$$,
                  $$select id, 'running', 1 from t_request$$, 'a runner claims the pending export');
select ok((select id is null from private.claim_data_export('5 minutes', '2030-01-01 00:01Z')),
          'no other runner claims it while the lease runs');
select results_eq($$select id, attempts from private.claim_data_export('5 minutes', '2030-01-01 00:06Z')$$,
                  $$select id, 2 from t_request$$, 'after the lease another runner takes it over');
select throws_ok(format($$select private.complete_data_export(%L, 1, 'exports/x.json', 10)$$, (select id from t_request)),
                 '55000', null, 'the first runner cannot complete it any more');
select ok((select id is null from private.fail_data_export((select id from t_request), 1, 'late')),
          'nor fail it');
select results_eq($$select status, attempts, error, lease_expires_at
                     from private.fail_data_export((select id from t_request), 2, 'store down', '2030-01-01 00:07Z')$$,
                  $$values ('pending', 2, 'store down', '2030-01-01 00:12Z'::timestamptz)$$,
                  'a failed second attempt goes back to pending, not before 5 minutes');
select ok((select id is null from private.claim_data_export('5 minutes', '2030-01-01 00:11:59Z')),
          'no runner takes it before then');
select ok((select attempts = 3 from private.claim_data_export('5 minutes', '2030-01-01 00:12Z')),
          'the third attempt is claimed after the back-off');
select results_eq($$select status, byte_size, expires_at from private.complete_data_export(
                      (select id from t_request), 3, 'exports/' || (select id from t_request) || '.json', 1234,
                      '2030-01-01 00:13Z')$$,
                  $$values ('done', 1234::bigint, '2030-01-08 00:13Z'::timestamptz)$$,
                  'done with its size, offered for EXPORT_DOWNLOAD_DAYS (7)');

-- Expiry queues the object for deletion, once.
select is(private.expire_data_exports('documents', '2030-01-08 00:12Z'), 0, 'not before expires_at');
select is(private.expire_data_exports('documents', '2030-01-08 00:13Z'), 1, 'an expired export is expired');
select is(private.expire_data_exports('documents', '2030-01-09'), 0, 'once');
reset role;
select results_eq($$select bucket, object_key, reason from private.object_deletions
                     where object_key = 'exports/' || (select id from t_request) || '.json'$$,
                  $$select 'documents', 'exports/' || id || '.json', 'export_expired' from t_request$$,
                  'its object is queued for deletion and the download no longer offered');

-- The deletion sweep's queue: taken, left alone while recent, retried after a back-off, finished.
update private.object_deletions set queued_at = '2000-01-01'
 where object_key = 'exports/' || (select id from t_request) || '.json';
create temporary table t_deletion on commit drop as
select d.id from private.object_deletions d where d.object_key = 'exports/' || (select id from t_request) || '.json';
grant select on t_deletion to service_role;
select tests.authenticate_as_service_role();
select results_eq($$select id, attempts from private.claim_object_deletions(1000, '2030-01-09 00:00Z')
                     where id = (select id from t_deletion)$$,
                  $$select id, 1 from t_deletion$$, 'a sweep takes the queued deletion');
select is_empty($$select 1 from private.claim_object_deletions(1000, '2030-01-09 00:00:30Z')
                   where id = (select id from t_deletion)$$, 'another sweep leaves it alone meanwhile');
select private.finish_object_deletion((select id from t_deletion), 'store down', '2030-01-09 00:00:40Z');
select results_eq($$select id, attempts from private.claim_object_deletions(1000, '2030-01-09 00:01Z')
                     where id = (select id from t_deletion)$$,
                  $$select id, 2 from t_deletion$$, 'a failed deletion is tried again after a minute');
select private.finish_object_deletion((select id from t_deletion), null, '2030-01-09 00:01:10Z');
reset role;
select results_eq($$select done_at, attempts, last_error from private.object_deletions where id = (select id from t_deletion)$$,
                  $$values ('2030-01-09 00:01:10Z'::timestamptz, 2, null::text)$$,
                  'a deletion that succeeds is done');
select is(tests.affected_rows_as('admin', $$select * from private.claim_object_deletions()$$), '42501',
          'an admin cannot take deletions');

select * from finish();
rollback;
