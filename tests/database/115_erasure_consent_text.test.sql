-- The erasure leaves no personal text in the consent ledger, consents or the audit log, and the
-- desk cannot write the person back afterwards (migration
-- 20261130061317_erase_consent_text_and_desk_writes):
-- * a source that is not a known code and a notice_version that is not a version become 'erased'
--   on the person's ledger rows when they are erased (status, channel, purpose and time kept),
--   and on every withdrawal recorded after; audit_log stores a consent's source only when known;
-- * the ledger's guard allows exactly that change, under py360.erasing_customer only;
-- * after the erasure: documents get a generic file name, lost reasons and task outcomes read
--   '[erased]', and an AI chat turn about the person's case is refused (55000); customer B's rows,
--   not erased, keep what is written.
begin;
select plan(24);
select tests.create_test_book();

-- Customer A's test payment settles: nothing in flight, the erasure goes through.
update public.payments set status = 'captured', captured_at = now(), method = 'upi'
 where id = tests.fixture('payment_a');

-- The desk records, for customer A, a grant whose source and notice version carry the person,
-- and one with a known source and a real version.
select tests.authenticate_as('agent_a');
select private.record_consent(tests.fixture('customer_a'), 'email', 'marketing', 'granted',
                              'x9812345671', '{"call_id": "C-1"}',
                              'Aadhya Das aadhya@x.test 9812345671');
select private.record_consent(tests.fixture('customer_a'), 'sms', 'service', 'granted',
                              'agent_call', '{"call_id": "C-2"}', '2026-11');
reset role;
select set_config('request.jwt.claims', '', true);

create temporary table t115_ledger as
select l.id, l.channel, l.purpose, l.status, l.recorded_at, l.recorded_by
  from public.consent_ledger l
 where l.customer_id = tests.fixture('customer_a') and l.source in ('x9812345671', 'agent_call');

select is((select count(*)::int from t115_ledger), 2, 'the ledger holds both grants before the erasure');
select is(
  (select new_row ->> 'source' from public.audit_log
    where table_name = 'consents' and action = 'insert'
      and new_row ->> 'customer_id' = tests.fixture('customer_a')::text
      and new_row ->> 'channel' = 'email' and new_row ->> 'purpose' = 'marketing'),
  '[redacted]', 'audit_log stores a consent''s source that is not a known code as [redacted]');
select is(
  (select new_row ->> 'source' from public.audit_log
    where table_name = 'consents' and action = 'insert'
      and new_row ->> 'customer_id' = tests.fixture('customer_a')::text
      and new_row ->> 'channel' = 'sms' and new_row ->> 'purpose' = 'service'),
  'agent_call', 'and a known code as it is');

-- The ledger's guard, outside an erasure and inside another customer's.
select throws_ok(
  format($$update public.consent_ledger set source = 'erased' where id = %s$$,
         (select id from t115_ledger where channel = 'email')),
  '42501', 'the consent ledger is append-only: UPDATE refused',
  'outside an erasure the ledger refuses source -> erased (42501)');
select set_config('py360.erasing_customer', tests.fixture('customer_a')::text, true);
select throws_ok(
  format($$update public.consent_ledger set source = 'web_form' where id = %s$$,
         (select id from t115_ledger where channel = 'email')),
  '42501', 'the consent ledger is append-only: UPDATE refused',
  'during the erasure a source may become erased, nothing else (42501)');
select throws_ok(
  format($$update public.consent_ledger set notice_version = 'erased', status = 'withdrawn' where id = %s$$,
         (select id from t115_ledger where channel = 'email')),
  '42501', 'the consent ledger is append-only: UPDATE refused',
  'nor may the status change with it (42501)');
select set_config('py360.erasing_customer', tests.fixture('customer_b')::text, true);
select throws_ok(
  format($$update public.consent_ledger set source = 'erased' where id = %s$$,
         (select id from t115_ledger where channel = 'email')),
  '42501', 'the consent ledger is append-only: UPDATE refused',
  'nor during another customer''s erasure (42501)');
select set_config('py360.erasing_customer', '', true);

select lives_ok(format($$select private.erase_customer(%L, 'the customer asked, in writing')$$,
                       tests.fixture('customer_a')),
                'customer A is erased');

select results_eq(
  $$select l.source, l.notice_version, l.status::text, l.channel::text, l.purpose::text,
           l.recorded_at = t.recorded_at, l.recorded_by is not distinct from t.recorded_by
      from public.consent_ledger l join t115_ledger t on t.id = l.id
     order by l.channel::text$$,
  $$values ('erased', 'erased', 'granted', 'email', 'marketing', true, true),
           ('agent_call', '2026-11', 'granted', 'sms', 'service', true, true)$$,
  'the erasure replaces a source and notice version that could name the person by erased, keeps '
  'known codes and versions, and the fact: status, channel, purpose, who and when');
select is(
  (select count(*)::int from public.consent_ledger l
    where l.customer_id = tests.fixture('customer_a')
      and (l.source || ' ' || coalesce(l.notice_version, '')) ~* '9812345671|aadhya'),
  0, 'no ledger row of customer A holds the phone or the name');
select is(
  (select count(*)::int from public.audit_log a
    where a.table_name = 'consents'
      and coalesce(a.new_row ->> 'customer_id', a.old_row ->> 'customer_id') = tests.fixture('customer_a')::text
      and (coalesce(a.new_row::text, '') || coalesce(a.old_row::text, '')) ~* '9812345671|aadhya'),
  0, 'no audit row of customer A''s consents holds the phone or the name');
select ok(
  (select count(*) from public.consents c where c.customer_id = tests.fixture('customer_a')) > 0
  and (select bool_and(private.is_known_consent_source(c.source)) from public.consents c
        where c.customer_id = tests.fixture('customer_a')),
  'customer A''s consents hold only known sources');

-- After the erasure, a withdrawal the desk records is normalised too.
select tests.authenticate_as('agent_a');
select private.record_consent(tests.fixture('customer_a'), 'whatsapp', 'marketing', 'withdrawn',
                              'y9812345672', '{"said": "Aadhya"}', 'Aadhya Das 9812345672');
select private.record_consent(tests.fixture('customer_a'), 'sms', 'marketing', 'withdrawn',
                              'agent_call', '{}', '2026-11');
reset role;
select set_config('request.jwt.claims', '', true);
select results_eq(
  $$select l.channel::text, l.source, l.notice_version, l.evidence from public.consent_ledger l
     where l.customer_id = tests.fixture('customer_a') and l.recorded_by is not null
       and l.status = 'withdrawn' and l.purpose = 'marketing' and l.channel in ('whatsapp', 'sms')
     order by l.channel::text$$,
  $$values ('sms', 'agent_call', '2026-11', '{}'::jsonb),
           ('whatsapp', 'erased', 'erased', '{}'::jsonb)$$,
  'a later withdrawal keeps a known source and version, and replaces the others by erased');
select is(
  (select c.source from public.consents c
    where c.customer_id = tests.fixture('customer_a') and c.channel = 'whatsapp'
      and c.purpose = 'marketing'),
  'erased', 'and its state in consents holds erased as its source');

-- Documents of the erased customer get a generic name; customer B's keep theirs.
insert into public.documents (id, kind, case_id, object_key, file_name, content_type, size_bytes,
                              checksum_sha256, stored_at)
values ('11500000-0000-4000-8000-000000000001', 'kyc', tests.fixture('case_a'),
        'cases/' || tests.fixture('case_a') || '/11500000-0000-4000-8000-000000000001/kyc.pdf',
        'Aadhya Das 9812345672.pdf', 'application/pdf', 1234, repeat('ab', 32), now()),
       ('11500000-0000-4000-8000-000000000002', 'kyc', tests.fixture('case_b'),
        'cases/' || tests.fixture('case_b') || '/11500000-0000-4000-8000-000000000002/kyc.pdf',
        'Ramesh Kumar PAN.pdf', 'application/pdf', 1234, repeat('ab', 32), now());
select results_eq(
  $$select file_name from public.documents
     where id in ('11500000-0000-4000-8000-000000000001', '11500000-0000-4000-8000-000000000002')
     order by id$$,
  $$values ('kyc-11500000.pdf'), ('Ramesh Kumar PAN.pdf')$$,
  'a document uploaded for the erased customer gets {kind}-{first 8 of id}.{ext}; B''s keeps its name');
update public.documents set file_name = 'Aadhya.PNG'
 where id = '11500000-0000-4000-8000-000000000001';
select is((select file_name from public.documents where id = '11500000-0000-4000-8000-000000000001'),
          'kyc-11500000.PNG', 'so does a rename');

-- Lost reasons and task outcomes.
update public.renewal_cases set stage = 'lost', lost_reason = 'Aadhya moved to Pune, 9812345672'
 where id in (tests.fixture('case_a'), tests.fixture('case_b'));
select results_eq(
  format($$select lost_reason from public.renewal_cases where id in (%L, %L) order by id = %L desc$$,
         tests.fixture('case_a'), tests.fixture('case_b'), tests.fixture('case_a')),
  $$values ('[erased]'), ('Aadhya moved to Pune, 9812345672')$$,
  'a lost reason written on the erased customer''s case reads [erased]; B''s is kept');
insert into public.tasks (id, case_id, assignee_id, due_at, sla_hours, sla_due_at, outcome)
values ('11500000-0000-4000-8000-000000000011', tests.fixture('case_a'), tests.get_user_id('agent_a'),
        now(), 4, now() + interval '4 hours', 'called Aadhya on 9812345672'),
       ('11500000-0000-4000-8000-000000000012', tests.fixture('case_b'), tests.get_user_id('agent_b'),
        now(), 4, now() + interval '4 hours', 'called Ramesh');
select results_eq(
  $$select outcome from public.tasks
     where id in ('11500000-0000-4000-8000-000000000011', '11500000-0000-4000-8000-000000000012')
     order by id$$,
  $$values ('[erased]'), ('called Ramesh')$$,
  'a task outcome written on the erased customer''s case reads [erased]; B''s is kept');
update public.tasks set outcome = 'Aadhya again'
 where id = '11500000-0000-4000-8000-000000000011';
select is((select outcome from public.tasks where id = '11500000-0000-4000-8000-000000000011'),
          '[erased]', 'so does an outcome changed later');
update public.tasks set outcome = null where id = '11500000-0000-4000-8000-000000000011';
select is((select outcome from public.tasks where id = '11500000-0000-4000-8000-000000000011'),
          null, 'an outcome may still be cleared');

-- The AI case chat about the erased customer's case.
select tests.authenticate_as_service_role();
select throws_ok(
  format($$select * from private.record_ai_chat_turn(%L, %L, 'Call Aadhya on 9812345672?',
           'Call <customer> on <phone>?', 'Yes.', 'Yes.', 'rules', 'disabled', null)$$,
         tests.fixture('case_a'), tests.get_user_id('agent_a')),
  '55000', format('the customer of case %s was erased: no chat about them is kept', tests.fixture('case_a')),
  'a chat turn about the erased customer''s case is refused (55000, the API''s 409)');
select lives_ok(
  format($$select * from private.record_ai_chat_turn(%L, %L, 'What is outstanding?',
           'What is outstanding?', 'Rs 12,000.', 'Rs 12,000.', 'rules', 'disabled', null)$$,
         tests.fixture('case_b'), tests.get_user_id('agent_b')),
  'one about customer B''s case is stored');
reset role;
select set_config('request.jwt.claims', '', true);
select is((select count(*)::int from public.ai_chat_messages where case_id = tests.fixture('case_a')
            and content <> '[erased]'),
          0, 'nothing new is stored about the erased customer''s case');

select results_eq(
  $$select table_name || '.' || column_name, treatment from private.personal_data_columns
     where (table_name, column_name) in (('public.consent_ledger', 'source'),
                                         ('public.consent_ledger', 'notice_version'),
                                         ('public.consents', 'source'))
     order by 1$$,
  $$values ('public.consent_ledger.notice_version', 'erased'),
           ('public.consent_ledger.source', 'erased'),
           ('public.consents.source', 'erased')$$,
  'the registry says the consent texts are erased');

select * from finish();
rollback;
