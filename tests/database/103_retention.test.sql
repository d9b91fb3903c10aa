-- The retention purge (migration 20261130043600_purge_expired_data): each kind purged only past
-- its setting, messages only in a final status, documents only past retain_until and not on
-- legal hold (their objects queued), expired exports queued; counts exact, a second run counts
-- 0, a setting's change applies at the next run, batches and the per-run cap; the insurance
-- record untouched; who may run it and read its runs; the daily job.
-- Everything is dated in 2000-2001 and the purge runs as of 2001-06-01, so nothing of the demo
-- book (dated around today) is old enough to count.
begin;
select plan(56);
select tests.create_test_book();

create temporary table t_asof on commit drop as
select '2001-06-01 00:00:00+00'::timestamptz as as_of;

-- The insurance record as it stands, to compare after every run.
create function pg_temp.insurance_record() returns text
language sql stable
as $$
  select md5(concat_ws('|',
    (select string_agg(p::text, ',' order by p.id) from public.payments p),
    (select string_agg(a::text, ',' order by a::text) from public.payment_allocations a),
    (select string_agg(o::text, ',' order by o.id) from public.payment_orders o),
    (select string_agg(l::text, ',' order by l.id) from public.payment_links l),
    (select string_agg(r::text, ',' order by r.id) from public.refunds r),
    (select string_agg(p::text, ',' order by p.id) from public.policies p),
    (select string_agg(c::text, ',' order by c.id) from public.renewal_cases c),
    (select string_agg(o::text, ',' order by o::text) from public.outstanding_amounts o)))
$$;
create temporary table t_record on commit drop as select pg_temp.insurance_record() as digest;

-- Messages: old in final statuses or dead (purged), old but queued (kept), recent, dead or not (kept).
insert into public.messages (customer_id, channel, purpose, subject, body, body_html, variables,
                             recipient, idempotency_key, status, blocked_reason, dead_reason,
                             template_snapshot, created_at, queued_at)
values
  (tests.fixture('customer_a'), 'whatsapp', 'transactional', null, 'Dear Asha, your premium',
   null, '{"customer_name": "Asha"}', '+919800000001', 'ret-old-delivered', 'delivered', null,
   null, '{"whatsapp_name": "renewal_due", "whatsapp_language": "en", "whatsapp_parameters": ["Asha"]}',
   '2000-01-01', '2000-01-01'),
  (tests.fixture('customer_a'), 'email', 'transactional', 'Your renewal', 'Dear Asha',
   '<p>Dear Asha</p>', '{"customer_name": "Asha"}', 'asha@example.test', 'ret-old-failed',
   'failed', null, null, null, '2000-01-02', '2000-01-02'),
  (tests.fixture('customer_a'), 'email', 'marketing', 'Offer', 'Dear Asha, an offer', null,
   '{}', 'asha@example.test', 'ret-old-blocked', 'blocked', 'no_consent', null, null,
   '2000-01-03', '2000-01-03'),
  (tests.fixture('customer_a'), 'email', 'transactional', 'Queued', 'Still to go', null,
   '{"customer_name": "Asha"}', 'asha@example.test', 'ret-old-queued', 'queued', null, null,
   null, '2000-01-04', '2000-01-04'),
  (tests.fixture('customer_a'), 'email', 'transactional', 'Dead', 'Dead for too long', null,
   '{"customer_name": "Asha"}', 'asha@example.test', 'ret-old-dead', 'dead', null, 'retries_exhausted',
   null, '2000-01-05', '2000-01-05'),
  (tests.fixture('customer_a'), 'email', 'transactional', 'Dead lately', 'May be redriven', null,
   '{"customer_name": "Asha"}', 'asha@example.test', 'ret-recent-dead', 'dead', null, 'stalled',
   null, '2001-01-02', '2001-01-02'),
  (tests.fixture('customer_a'), 'email', 'transactional', 'Recent', 'Dear Asha, recently', null,
   '{"customer_name": "Asha"}', 'asha@example.test', 'ret-recent', 'delivered', null, null,
   null, '2001-01-01', '2001-01-01');

-- Webhook payloads and Razorpay call bodies (90 days before 2001-06-01: 2001-03-03).
insert into public.message_events (provider, event_key, kind, payload, received_at)
values ('twilio', 'ret-old', 'status', '{"To": "+919800000001"}', '2001-01-01'),
       ('twilio', 'ret-new', 'status', '{"To": "+919800000001"}', '2001-05-01');
insert into public.payment_events (event_id, event_type, payload, received_at, processed_at, status)
values ('ret-old-applied', 'payment.captured', '{"email": "asha@example.test"}', '2001-01-01',
        '2001-01-01', 'applied'),
       ('ret-old-review', 'payment.captured', '{"email": "asha@example.test"}', '2001-01-01',
        null, 'kept_for_review'),
       ('ret-new-applied', 'payment.captured', '{"email": "asha@example.test"}', '2001-05-01',
        '2001-05-01', 'applied');
insert into private.razorpay_calls (id, operation, subject_id, request, state, created_at, finished_at)
values ('00000000-0000-4000-8000-00000000c001', 'create_payment_link', gen_random_uuid(),
        '{"customer": {"name": "Asha"}}', 'succeeded', '2001-01-01', '2001-01-01'),
       ('00000000-0000-4000-8000-00000000c002', 'create_payment_link', gen_random_uuid(),
        '{"customer": {"name": "Asha"}}', 'pending', '2001-01-01', null),
       ('00000000-0000-4000-8000-00000000c003', 'create_payment_link', gen_random_uuid(),
        '{"customer": {"name": "Asha"}}', 'succeeded', '2001-05-01', '2001-05-01');

-- AI (AI_RETENTION_DAYS 30: 2001-05-02).
insert into public.ai_requests (id, created_at, finished_at, purpose, model, prompt_hash, prompt,
                                response, tokens_in, tokens_out, cost_paise, outcome, source)
values ('00000000-0000-4000-8000-00000000a001', '2001-04-01', '2001-04-01', 'chat', 'gpt-4o-mini',
        repeat('a', 64), '[{"role": "user", "content": "about <customer>"}]', '{"answer": "x"}',
        120, 30, 0.5, 'ok', 'model'),
       ('00000000-0000-4000-8000-00000000a002', '2001-05-20', '2001-05-20', 'chat', 'gpt-4o-mini',
        repeat('b', 64), '[{"role": "user", "content": "about <customer>"}]', '{"answer": "y"}',
        120, 30, 0.5, 'ok', 'model');
insert into public.ai_chat_messages (id, case_id, author, role, content, redacted_content, created_at)
values ('00000000-0000-4000-8000-00000000b001', tests.fixture('case_a'), tests.get_user_id('agent_a'),
        'agent', 'Asha called', 'Asha called', '2001-04-01'),
       ('00000000-0000-4000-8000-00000000b002', tests.fixture('case_a'), tests.get_user_id('agent_a'),
        'agent', 'Asha called again', 'Asha called again', '2001-05-20');

-- Link clicks (365 days: 2000-06-01).
insert into public.tracked_links (id, code, case_id, customer_id, purpose, target_url)
values ('00000000-0000-4000-8000-00000000d001', 'RetentionTest01', tests.fixture('case_a'),
        tests.fixture('customer_a'), 'payment_link', 'https://rzp.io/i/retention');
insert into public.link_clicks (tracked_link_id, case_id, clicked_at, user_agent)
values ('00000000-0000-4000-8000-00000000d001', tests.fixture('case_a'), '2000-01-01', 'Old browser'),
       ('00000000-0000-4000-8000-00000000d001', tests.fixture('case_a'), '2001-01-01', 'New browser');

-- Documents: past retain_until; past it but on legal hold; not yet past it; no legal minimum.
insert into public.documents (id, kind, customer_id, object_key, file_name, content_type,
                              retain_until, legal_hold, created_at, stored_at)
values ('00000000-0000-4000-8000-00000000e001', 'kyc', tests.fixture('customer_a'),
        'customers/00000000-0000-4000-8000-0000000ee000/00000000-0000-4000-8000-00000000e001/kyc.pdf', 'expired.pdf', 'application/pdf', '2001-01-01', false, '1995-01-01', '1995-01-01'),
       ('00000000-0000-4000-8000-00000000e002', 'kyc', tests.fixture('customer_a'),
        'customers/00000000-0000-4000-8000-0000000ee000/00000000-0000-4000-8000-00000000e002/kyc.pdf', 'held.pdf', 'application/pdf', '2001-01-01', true, '1995-01-01', '1995-01-01'),
       ('00000000-0000-4000-8000-00000000e003', 'kyc', tests.fixture('customer_a'),
        'customers/00000000-0000-4000-8000-0000000ee000/00000000-0000-4000-8000-00000000e003/kyc.pdf', 'kept.pdf', 'application/pdf', '2001-06-02', false, '1996-06-02', '1996-06-02'),
       ('00000000-0000-4000-8000-00000000e004', 'other', tests.fixture('customer_a'),
        'customers/00000000-0000-4000-8000-0000000ee000/00000000-0000-4000-8000-00000000e004/other.pdf', 'other.pdf', 'application/pdf', null, false, '1995-01-01', '1995-01-01');

-- Exports: download ended; still offered.
insert into public.data_requests (id, kind, customer_id, status, object_key, created_at,
                                  completed_at, expires_at)
values ('00000000-0000-4000-8000-00000000f001', 'export', tests.fixture('customer_a'), 'done',
        'exports/00000000-0000-4000-8000-00000000f001.json', '2001-04-20', '2001-04-24', '2001-05-01'),
       ('00000000-0000-4000-8000-00000000f002', 'export', tests.fixture('customer_a'), 'done',
        'exports/00000000-0000-4000-8000-00000000f002.json', '2001-05-28', '2001-05-28', '2001-07-01');

-- Who may run it.
select tests.authenticate_as('admin');
select throws_ok($$select private.purge_expired_data()$$, '42501', null,
  'a signed-in admin may not run the purge');
select tests.authenticate_as_service_role();
select lives_ok($$select private.purge_expired_data('1990-01-01')$$,
  'service_role may (as of 1990: nothing of this file is old enough)');
reset role;
select throws_ok($$select private.purge_expired_data('infinity')$$, '22023',
  'purge_expired_data needs a finite as_of', 'an infinite as_of is refused');

-- The first run.
create temporary table t_run1 on commit drop as
select private.purge_expired_data((select as_of from t_asof)) as counts;

select is((select counts from t_run1),
  '{"message_bodies": 4, "message_event_payloads": 1, "payment_event_payloads": 1,
    "razorpay_call_requests": 1, "ai_request_prompts": 1, "ai_chat_messages": 1,
    "link_click_user_agents": 1, "documents": 1, "expired_exports": 1, "complete": true}'::jsonb,
  'the first run counts each kind past its setting');

select is(
  (select jsonb_build_object('subject', subject, 'body', body, 'body_html', body_html,
                             'variables', variables, 'template_snapshot', template_snapshot,
                             'purged', content_purged_at = (select as_of from t_asof))
     from public.messages where idempotency_key = 'ret-old-delivered'),
  '{"subject": null, "body": "", "body_html": null, "variables": {}, "purged": true,
    "template_snapshot": {"whatsapp_name": "renewal_due", "whatsapp_language": "en"}}'::jsonb,
  'a delivered message''s content is emptied, the rendered template parameters with it');
select is(
  (select (subject, body_html, body)::text from public.messages where idempotency_key = 'ret-old-failed'),
  '(,,"")', 'a failed email loses its subject, body and HTML');
select is(
  (select (status, recipient, channel, customer_id, created_at)::text
     from public.messages where idempotency_key = 'ret-old-failed'),
  (select ('failed', 'asha@example.test', 'email', tests.fixture('customer_a'),
           '2000-01-02'::timestamptz)::text),
  'the fact of the message stays: status, recipient, channel, customer, time');
select is(
  (select array_agg(idempotency_key order by idempotency_key) from public.messages
    where idempotency_key like 'ret-%' and content_purged_at is null and body <> ''),
  array['ret-old-queued', 'ret-recent', 'ret-recent-dead'],
  'queued messages (not final) and recent ones, dead or not, keep their content');
select is(
  (select (status, subject, body, variables, content_purged_at = (select as_of from t_asof))::text
     from public.messages where idempotency_key = 'ret-old-dead'),
  '(dead,,"",{},t)', 'a dead letter past MESSAGE_BODY_RETENTION_DAYS loses its content too');

-- A purged dead letter is never sent again: redriving only such letters is refused (409).
select throws_ok($$select private.redrive_dead_messages('retries_exhausted')$$, '55000',
  '1 dead message(s) match, all past MESSAGE_BODY_RETENTION_DAYS: their content was purged, so they cannot be sent again',
  'redriving a dead letter whose content was purged is refused');
select is((select status::text from public.messages where idempotency_key = 'ret-old-dead'), 'dead',
  'and it stays dead');
select tests.authenticate_as('admin');
select is(private.redrive_dead_messages(), 1,
  'beside a letter that can go, an admin''s redrive moves only that one');
reset role;
select is(
  (select array_agg((idempotency_key, status)::text order by idempotency_key) from public.messages
    where idempotency_key in ('ret-old-dead', 'ret-recent-dead')),
  array['(ret-old-dead,dead)', '(ret-recent-dead,queued)'], 'the purged one stays dead');
select throws_ok($$select private.redrive_dead_messages()$$, '55000', null,
  'a redrive of everything, when only purged letters are left, is refused too');
select is((select body from public.messages where idempotency_key = 'ret-old-queued'), 'Still to go',
  'a queued message is sent as written, whatever its age');

select is(
  (select array_agg(event_key || '=' || payload::text order by event_key) from public.message_events
    where event_key like 'ret-%'),
  array['ret-new={"To": "+919800000001"}', 'ret-old={}'],
  'a vendor callback''s payload goes after WEBHOOK_PAYLOAD_RETENTION_DAYS, a recent one stays');
select is(
  (select array_agg(event_id || '=' || payload::text order by event_id) from public.payment_events
    where event_id like 'ret-%'),
  array['ret-new-applied={"email": "asha@example.test"}', 'ret-old-applied={}',
        'ret-old-review={"email": "asha@example.test"}'],
  'only processed Razorpay events lose their payload: one kept for review keeps it');
select is(
  (select (status, processed_at, event_type)::text from public.payment_events where event_id = 'ret-old-applied'),
  '(applied,"2001-01-01 00:00:00+00",payment.captured)', 'what the event did stays');
select is(
  (select array_agg(state || '=' || request::text order by id) from private.razorpay_calls
    where id::text like '00000000-0000-4000-8000-00000000c00%'),
  array['succeeded={}', 'pending={"customer": {"name": "Asha"}}',
        'succeeded={"customer": {"name": "Asha"}}'],
  'a finished Razorpay call''s body goes; a pending one''s and a recent one''s stay');

select is(
  (select array_agg((prompt is null and response is null, tokens_in, cost_paise)::text order by id)
     from public.ai_requests where id::text like '00000000-0000-4000-8000-00000000a00%'),
  array['(t,120,0.5)', '(f,120,0.5)'],
  'an AI request''s prompt and answer go after AI_RETENTION_DAYS, its figures stay');
select is(
  (select array_agg(content order by created_at) from public.ai_chat_messages
    where id::text like '00000000-0000-4000-8000-00000000b00%'),
  array['Asha called again'], 'the old chat message is deleted, the recent one stays');
select is(
  (select array_agg(coalesce(user_agent, 'null') || '@' || clicked_at::date order by clicked_at)
     from public.link_clicks where tracked_link_id = '00000000-0000-4000-8000-00000000d001'),
  array['null@2000-01-01', 'New browser@2001-01-01'],
  'an old click keeps its time and loses its browser');

select is(
  (select array_agg(file_name order by file_name) from public.documents
    where object_key like 'customers/00000000-0000-4000-8000-0000000ee000/%'),
  array['held.pdf', 'kept.pdf', 'other.pdf'],
  'the document past retain_until goes; one on legal hold, one still retained and one without a minimum stay');
select is(
  (select array_agg(object_key || ':' || reason order by object_key) from private.object_deletions
    where object_key like 'customers/00000000-0000-4000-8000-0000000ee000/%' or object_key like 'exports/00000000-0000-4000-8000-00000000f00%'),
  array['customers/00000000-0000-4000-8000-0000000ee000/00000000-0000-4000-8000-00000000e001/kyc.pdf:retention',
        'exports/00000000-0000-4000-8000-00000000f001.json:export_expired'],
  'the deleted document''s object and the expired export''s object are queued, not the live export''s');
select is(
  (select array_agg(coalesce(object_key, 'null') order by id) from public.data_requests
    where id in ('00000000-0000-4000-8000-00000000f001', '00000000-0000-4000-8000-00000000f002')),
  array['null', 'exports/00000000-0000-4000-8000-00000000f002.json'],
  'the expired export request stays, as evidence, without its object; the live one keeps it');

select is(
  (select (counts || jsonb_build_object('complete', complete))::text from public.retention_runs
    where as_of = (select as_of from t_asof)),
  (select counts::text from t_run1), 'the run is recorded with its counts');
select is(
  (select settings from public.retention_runs where as_of = (select as_of from t_asof)),
  '{"message_body_days": 365, "webhook_payload_days": 90, "ai_prompt_days": 30,
    "link_click_days": 365, "batch_size": 1000, "max_rows_per_run": 10000}'::jsonb,
  'with the settings it applied');
select ok((select finished_at >= started_at from public.retention_runs where as_of = (select as_of from t_asof)),
  'and when it ran');
select is((select digest from t_record), pg_temp.insurance_record(),
  'payments, allocations, orders, links, refunds, policies, cases and outstanding amounts are untouched');

-- The second run: nothing left.
select is(private.purge_expired_data((select as_of from t_asof)),
  '{"message_bodies": 0, "message_event_payloads": 0, "payment_event_payloads": 0,
    "razorpay_call_requests": 0, "ai_request_prompts": 0, "ai_chat_messages": 0,
    "link_click_user_agents": 0, "documents": 0, "expired_exports": 0, "complete": true}'::jsonb,
  'a second run counts 0 of every kind');
select is((select count(*)::integer from public.retention_runs where as_of = (select as_of from t_asof)), 2,
  'and is recorded too');
select is(
  (select count(*)::integer from private.object_deletions where object_key like 'customers/00000000-0000-4000-8000-0000000ee000/%'
      or object_key like 'exports/00000000-0000-4000-8000-00000000f00%'),
  2, 'nothing is queued twice');

-- A setting's change applies at the next run; a malformed one falls back to the default (such
-- values are refused on write since 20261130230500: written past the rules here).
update public.app_settings set value = '100' where key = 'MESSAGE_BODY_RETENTION_DAYS';
select tests.write_settings_unchecked(
  '{"WEBHOOK_PAYLOAD_RETENTION_DAYS": "30", "LINK_CLICK_RETENTION_DAYS": "a year"}');
create temporary table t_run3 on commit drop as
select private.purge_expired_data((select as_of from t_asof)) as counts;
select is(
  (select jsonb_build_object('m', counts -> 'message_bodies', 'e', counts -> 'message_event_payloads',
                             'p', counts -> 'payment_event_payloads', 'r', counts -> 'razorpay_call_requests',
                             'l', counts -> 'link_click_user_agents') from t_run3),
  '{"m": 1, "e": 1, "p": 1, "r": 1, "l": 0}'::jsonb,
  'shorter periods purge the next run what they now cover; a malformed one keeps its default');
select is((select body from public.messages where idempotency_key = 'ret-recent'), '',
  'a message 151 days old goes under a 100-day setting');
select is((select settings -> 'link_click_days' from public.retention_runs
            where as_of = (select as_of from t_asof) order by started_at desc, finished_at desc limit 1),
  '365'::jsonb, 'the run records the default it used for the malformed setting');
select is((select digest from t_record), pg_temp.insurance_record(), 'the insurance record is still untouched');
update public.app_settings set value = '365' where key = 'LINK_CLICK_RETENTION_DAYS';

-- Batches and the per-run cap.
update public.app_settings set value = '10' where key = 'RETENTION_BATCH_SIZE';
select is((select value from public.app_settings where key = 'RETENTION_MAX_ROWS_PER_RUN'), '10000'::jsonb,
  'a run purges at most 10000 rows of a kind by default');
update public.app_settings set value = '1000' where key = 'RETENTION_MAX_ROWS_PER_RUN';
insert into public.link_clicks (tracked_link_id, case_id, clicked_at, user_agent)
select '00000000-0000-4000-8000-00000000d001', tests.fixture('case_a'), '2000-02-01', 'Batch ' || n
  from generate_series(1, 1005) n;
insert into public.messages (customer_id, channel, purpose, body, idempotency_key, status, created_at)
select tests.fixture('customer_a'), 'email', 'transactional', 'Batch ' || n, 'ret-batch-' || n,
       'delivered', '2000-02-01'
  from generate_series(1, 25) n;
create temporary table t_run4 on commit drop as
select private.purge_expired_data((select as_of from t_asof)) as counts;
select is((select counts -> 'message_bodies' from t_run4), '25'::jsonb,
  '25 messages in batches of 10: every batch runs');
select is((select (counts -> 'link_click_user_agents', counts -> 'complete')::text from t_run4),
  '(1000,false)', 'a kind stops at RETENTION_MAX_ROWS_PER_RUN and the run says it is not complete');
select is((select complete from public.retention_runs where as_of = (select as_of from t_asof)
            order by started_at desc, finished_at desc limit 1), false, 'as its record does');
select is((select (counts -> 'link_click_user_agents', counts -> 'complete')::text
             from (select private.purge_expired_data((select as_of from t_asof)) as counts) x),
  '(5,true)', 'the next run goes on where it stopped');

-- The clock: a document is never deleted before its retain_until has come in fact.
update public.documents set retain_until = private.business_date(now()) + 1
 where id = '00000000-0000-4000-8000-00000000e003';
select is((select (counts -> 'documents')::text
             from (select private.purge_expired_data(now() + interval '10 years') as counts) x),
  '0', 'a run as of ten years ahead deletes no document retained until tomorrow');
select is((select count(*)::integer from public.documents where id = '00000000-0000-4000-8000-00000000e003'), 1,
  'it is still there');

-- What reads a purged message copes: the SMS fallback of a WhatsApp message that fails after its
-- content went (a very late report) is blocked for its missing variables, never sent blank.
insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                              dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
values ('ret_due', 'whatsapp', 'en', 'service', 'Renew {{policy_number}}', 'ret_due_en', 'utility',
        'approved', 1, null, null, null, null),
       ('ret_due', 'sms', 'en', 'service', 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789012399', 'Renew {#var#} -PYRNWL');
insert into public.messages (customer_id, channel, purpose, template_id, body, variables, recipient,
                             idempotency_key, status, created_at)
select tests.fixture('customer_a'), 'whatsapp', 'service', t.id, 'Renew P-RET-1',
       '{"policy_number": "P-RET-1"}', '+919800000001', 'ret-wa-failed', 'failed', '2000-03-01'
  from public.templates t where t.code = 'ret_due' and t.channel = 'whatsapp';
select is((select (counts -> 'message_bodies')::text
             from (select private.purge_expired_data((select as_of from t_asof)) as counts) x),
  '1', 'the failed WhatsApp message is purged');
select is(private.queue_sms_fallbacks(
             array(select id from public.messages where idempotency_key = 'ret-wa-failed'), now()),
  1, 'a fallback is made');
select is(
  (select (status, blocked_reason)::text from public.messages
    where idempotency_key = 'sms-fallback:' || (select id from public.messages where idempotency_key = 'ret-wa-failed')),
  '(blocked,missing_variables)', 'its SMS fallback is blocked for missing variables, not sent blank');

-- Who reads the runs: admins only; nobody writes them.
select tests.authenticate_as('admin');
select ok((select count(*) from public.retention_runs) >= 6, 'an admin reads the runs');
select throws_ok($$insert into public.retention_runs (as_of, started_at, finished_at, counts, settings, complete)
                   values (now(), now(), now(), '{}', '{}', true)$$, '42501', null,
  'an admin may not write a run');
select throws_ok($$delete from public.retention_runs$$, '42501', null, 'nor delete one');
select tests.authenticate_as('zone_manager');
select is_empty($$select 1 from public.retention_runs$$, 'a manager reads none');
select tests.authenticate_as('agent_a');
select is_empty($$select 1 from public.retention_runs$$, 'an agent reads none');
select tests.authenticate_as('analyst');
select is_empty($$select 1 from public.retention_runs$$, 'an analyst reads none');
select tests.clear_authentication();
select throws_ok($$select 1 from public.retention_runs$$, '42501', null, 'anon reads nothing');
reset role;

select is((select (schedule, command, active)::text from cron.job where jobname = 'purge-expired-data'),
  '("45 21 * * *","call private.purge_expired_data_in_rounds()",t)',
  'the purge runs daily at 03:15 IST (21:45 UTC), committing run by run');
select throws_ok($$call private.purge_expired_data_in_rounds(0)$$, '22023',
  'purge_expired_data_in_rounds runs 1 to 10000 rounds, not 0', 'the rounds are bounded');
select throws_ok($$call private.purge_expired_data_in_rounds(1)$$, '2D000', null,
  'inside a transaction it refuses to commit: pg_cron calls it at top level');

select * from finish();
rollback;
