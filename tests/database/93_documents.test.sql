-- Documents (issue 12): who may read, write and delete public.documents, persona by persona; the
-- owner taken from the case (mismatches refused), the uploader stamped from the caller, the
-- retention per kind and the refusal (55000) to delete a document under legal retention or hold,
-- whoever asks; and the private functions the API, the renderer and the `go` function call:
-- can_attach_document (as the user), record_document, register_generated_document,
-- mark_document_stored, document_for_link_token (service_role).
begin;
select tests.create_test_book();

-- One document of each kind of owner: case A (a policy copy, kept 8 years; an "other", kept
-- nothing; one under legal hold), case B (other), customer A without a case (KYC).
create function pg_temp.doc(label text, doc_kind public.document_kind, case_label text,
                            customer_label text, hold boolean default false)
returns uuid language plpgsql as $$
declare
  doc_id uuid := gen_random_uuid();
  case_ref uuid := tests.fixture(case_label);
  customer_ref uuid := coalesce(tests.fixture(customer_label),
                                (select c.customer_id from public.renewal_cases c where c.id = case_ref));
begin
  insert into public.documents (id, kind, case_id, customer_id, object_key, file_name, content_type,
                                size_bytes, checksum_sha256, stored_at, legal_hold)
  values (doc_id, doc_kind, case_ref, customer_ref,
          private.document_object_key(doc_id, case_ref, customer_ref, doc_kind, 'application/pdf'),
          label || '.pdf', 'application/pdf', 1234, repeat('ab', 32), now(), hold);
  insert into tests.fixtures (name, id) values (label, doc_id);
  return doc_id;
end;
$$;
select pg_temp.doc('doc_a_kept', 'policy_copy', 'case_a', null);
select pg_temp.doc('doc_a_other', 'other', 'case_a', null);
select pg_temp.doc('doc_a_held', 'other', 'case_a', null, true);
select pg_temp.doc('doc_b_other', 'other', 'case_b', null);
select pg_temp.doc('doc_cust_a', 'kyc', null, 'customer_a');

create temporary table matrix (
  op text, statement text,
  admin text, zone_manager text, branch_b_manager text, agent_a text, agent_b text,
  analyst text, anon text
);
grant select on matrix to anon, authenticated;

insert into matrix values
  -- Read with the case: its assignee in the caller's book.
  ('select case a', 'select 1 from public.documents where id = tests.fixture(''doc_a_other'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('select case b', 'select 1 from public.documents where id = tests.fixture(''doc_b_other'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  -- Without a case, with the customer.
  ('select customer a', 'select 1 from public.documents where id = tests.fixture(''doc_cust_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('select all', 'select 1 from public.documents where customer_id in (tests.fixture(''customer_a''), tests.fixture(''customer_b''))',
   '5', '5', '1', '4', '1', '0', '42501'),
  -- Nobody writes through the API roles: the functions do.
  ('insert', 'insert into public.documents (kind, case_id, object_key, file_name, content_type) values (''other'', tests.fixture(''case_a''), ''cases/x/y/z.pdf'', ''z.pdf'', ''application/pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('update legal_hold', 'update public.documents set legal_hold = false where id = tests.fixture(''doc_a_held'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('update file_name', 'update public.documents set file_name = ''renamed.pdf'' where id = tests.fixture(''doc_a_other'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('update retain_until', 'update public.documents set retain_until = null where id = tests.fixture(''doc_a_kept'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- Admins delete; what the law keeps, nobody.
  ('delete other a', 'delete from public.documents where id = tests.fixture(''doc_a_other'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('delete other b', 'delete from public.documents where id = tests.fixture(''doc_b_other'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('delete kept a', 'delete from public.documents where id = tests.fixture(''doc_a_kept'')',
   '55000', '0', '0', '0', '0', '0', '42501'),
  ('delete held a', 'delete from public.documents where id = tests.fixture(''doc_a_held'')',
   '55000', '0', '0', '0', '0', '0', '42501'),
  ('truncate', 'truncate public.documents',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501');

select plan((select count(*)::int * 7 from matrix) + 72);

select is(
  tests.affected_rows_as(cell.persona, m.statement),
  cell.expected,
  format('documents: %s as %s -> %s', m.op, cell.persona, cell.expected)
)
  from matrix m
  cross join lateral (values
    (1, 'admin', m.admin), (2, 'zone_manager', m.zone_manager),
    (3, 'branch_b_manager', m.branch_b_manager), (4, 'agent_a', m.agent_a),
    (5, 'agent_b', m.agent_b), (6, 'analyst', m.analyst), (7, 'anon', m.anon)
  ) as cell (n, persona, expected)
 order by m.op, cell.n;

-- The owner comes from the case; a mismatch is refused.
select is(
  (select (d.customer_id, d.policy_id)::text from public.documents d where d.id = tests.fixture('doc_a_kept')),
  (tests.fixture('customer_a'), tests.fixture('policy_a'))::text,
  'a document of a case takes the case''s customer and policy');
select throws_ok(
  $$insert into public.documents (kind, case_id, customer_id, object_key, file_name, content_type)
    values ('other', tests.fixture('case_a'), tests.fixture('customer_b'), 'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000f1/other.pdf', 'x.pdf', 'application/pdf')$$,
  '22023', 'the document''s customer is not the customer of its case',
  'a customer other than the case''s is refused');
select throws_ok(
  $$insert into public.documents (kind, case_id, policy_id, object_key, file_name, content_type)
    values ('other', tests.fixture('case_a'), tests.fixture('policy_b'), 'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000f2/other.pdf', 'x.pdf', 'application/pdf')$$,
  '22023', 'the document''s policy is not the policy of its case',
  'a policy other than the case''s is refused');
select throws_ok(
  $$insert into public.documents (kind, policy_id, customer_id, object_key, file_name, content_type)
    values ('other', tests.fixture('policy_b'), tests.fixture('customer_a'), 'customers/' || tests.fixture('customer_a') || '/93000000-0000-4000-8000-0000000000f3/other.pdf', 'x.pdf', 'application/pdf')$$,
  '22023', 'the document''s customer is not the customer of its policy',
  'a policy of another customer is refused');
select throws_ok(
  $$update public.documents set case_id = tests.fixture('case_b') where id = tests.fixture('doc_a_other')$$,
  '22023', 'the document''s customer is not the customer of its case',
  'moving a document to another customer''s case is refused too');

-- Retention: 8 years for a policy copy, 5 for KYC, none for other; deletion refused before it.
select is(
  (select retain_until from public.documents where id = tests.fixture('doc_a_kept')),
  (private.business_date(now()) + interval '8 years')::date,
  'a policy copy is kept 8 years from the day it was stored');
select is(
  (select retain_until from public.documents where id = tests.fixture('doc_cust_a')),
  (private.business_date(now()) + interval '5 years')::date,
  'KYC papers 5 years');
select is(
  (select retain_until from public.documents where id = tests.fixture('doc_a_other')),
  null::date,
  'other documents have no retention');
select throws_ok(
  format('delete from public.documents where id = %L', tests.fixture('doc_a_kept')),
  '55000',
  format('document %s is under legal retention until %s', tests.fixture('doc_a_kept'),
         (private.business_date(now()) + interval '8 years')::date),
  'the backend (the table''s owner) cannot delete a document under retention either');
select tests.authenticate_as_service_role();
select throws_ok(
  format('delete from public.documents where id = %L', tests.fixture('doc_a_held')),
  '55000', format('document %s is under legal hold', tests.fixture('doc_a_held')),
  'nor service_role one under legal hold');
reset role;
update public.documents set retain_until = private.business_date(now()) where id = tests.fixture('doc_a_kept');
select tests.authenticate_as('admin');
select is(tests.affected_rows(format('delete from public.documents where id = %L', tests.fixture('doc_a_kept'))),
  '1', 'on its retain_until day an admin may delete it');
reset role;
update public.documents set retain_until = private.business_date(now()) - 1, legal_hold = true
 where id = tests.fixture('doc_a_kept');
select tests.authenticate_as('admin');
select is(tests.affected_rows(format('delete from public.documents where id = %L', tests.fixture('doc_a_kept'))),
  '55000', 'but a legal hold outlasts the retention');
reset role;

-- can_attach_document, asked as the user.
select tests.authenticate_as('agent_a');
select is(private.can_attach_document(tests.fixture('case_a'), null), true, 'agent A may attach to their case');
select is(private.can_attach_document(tests.fixture('case_a'), tests.fixture('customer_a')), true,
  '... naming its customer');
select is(private.can_attach_document(tests.fixture('case_a'), tests.fixture('customer_b')), false,
  'not naming another customer');
select is(private.can_attach_document(tests.fixture('case_b'), null), false, 'not to agent B''s case');
select is(private.can_attach_document(null, tests.fixture('customer_a')), true, 'to their customer without a case');
select is(private.can_attach_document(null, tests.fixture('customer_b')), false, 'not to agent B''s customer');
select is(private.can_attach_document(null, null), false, 'not to nothing');
select is(private.can_attach_document(gen_random_uuid(), null), false, 'not to an unknown case');
select tests.authenticate_as('branch_b_manager');
select is(private.can_attach_document(tests.fixture('case_b'), null), true, 'a manager to a case of their branch');
select is(private.can_attach_document(tests.fixture('case_a'), null), false, 'not to another branch''s');
select tests.authenticate_as('analyst');
select is(private.can_attach_document(tests.fixture('case_a'), null), false, 'an analyst to nothing');
select throws_ok($$select private.record_document('{}')$$, '42501', null, 'the desk cannot record a document itself');
reset role;

-- record_document: the API's upload, as service_role.
select tests.authenticate_as_service_role();
create temporary table recorded on commit drop as
select * from private.record_document(jsonb_build_object(
  'id', '93000000-0000-4000-8000-000000000001', 'kind', 'endorsement', 'case_id', tests.fixture('case_a'),
  'file_name', 'endorsement 1.pdf', 'content_type', 'application/pdf', 'size_bytes', 2048,
  'checksum_sha256', repeat('0f', 32), 'uploaded_by', tests.get_user_id('agent_a')));
select is(
  (select (kind, customer_id, policy_id, object_key, status, generated, uploaded_by, size_bytes,
           retain_until)::text from recorded),
  ('endorsement'::public.document_kind, tests.fixture('customer_a'), tests.fixture('policy_a'),
   'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-000000000001/endorsement.pdf',
   'stored', false, tests.get_user_id('agent_a'), 2048::bigint,
   (private.business_date(now()) + interval '8 years')::date)::text,
  'record_document stores the row: owner from the case, the rule''s key (the kind, not the file name), stored, the uploader, 8 years');
select is(
  (select (r.id, r.stored_at) = (d.id, d.stored_at)
     from private.record_document(jsonb_build_object(
       'id', '93000000-0000-4000-8000-000000000001', 'kind', 'endorsement', 'case_id', tests.fixture('case_a'),
       'file_name', 'endorsement 1.pdf', 'content_type', 'application/pdf', 'size_bytes', 2048,
       'checksum_sha256', repeat('0f', 32), 'uploaded_by', tests.get_user_id('agent_a'))) r
     join recorded d on true),
  true, 'the same upload again returns the same row');
select throws_ok(
  $$select private.record_document(jsonb_build_object(
       'id', '93000000-0000-4000-8000-000000000001', 'kind', 'endorsement', 'case_id', tests.fixture('case_a'),
       'file_name', 'endorsement 1.pdf', 'content_type', 'application/pdf', 'size_bytes', 2048,
       'checksum_sha256', repeat('1f', 32), 'uploaded_by', tests.get_user_id('agent_a')))$$,
  '23505', 'document 93000000-0000-4000-8000-000000000001 exists with other bytes',
  'other bytes under the same id are refused');
select is(
  (select (customer_id, case_id, object_key, retain_until)::text
     from private.record_document(jsonb_build_object(
       'id', '93000000-0000-4000-8000-000000000002', 'kind', 'kyc', 'customer_id', tests.fixture('customer_b'),
       'file_name', 'pan.png', 'content_type', 'image/png', 'size_bytes', 10,
       'checksum_sha256', repeat('2e', 32), 'uploaded_by', tests.get_user_id('agent_b')))),
  (tests.fixture('customer_b'), null::uuid,
   'customers/' || tests.fixture('customer_b') || '/93000000-0000-4000-8000-000000000002/kyc.png',
   (private.business_date(now()) + interval '5 years')::date)::text,
  'a customer''s document without a case: keyed under customers/, KYC kept 5 years');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'other', 'case_id', tests.fixture('case_a'),
       'customer_id', tests.fixture('customer_b'), 'file_name', 'x.pdf', 'content_type', 'application/pdf',
       'size_bytes', 1, 'checksum_sha256', repeat('3a', 32)))$$,
  '22023', 'the document''s customer is not the customer of its case', 'record_document: the case''s customer only');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'other', 'case_id', tests.fixture('case_a'),
       'file_name', 'x.pdf', 'content_type', 'application/pdf', 'size_bytes', 1, 'checksum_sha256', 'ABC'))$$,
  '22023', 'checksum_sha256 is the SHA-256 of the stored bytes in lowercase hex', 'a checksum must be SHA-256 hex');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'other', 'case_id', tests.fixture('case_a'),
       'file_name', '../x.pdf', 'content_type', 'application/pdf', 'size_bytes', 1, 'checksum_sha256', repeat('3a', 32)))$$,
  '22023', 'file_name is 1 to 255 characters without a slash, a backslash or a control character',
  'a file name with a path is refused');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'other', 'case_id', tests.fixture('case_a'),
       'id', '93000000-0000-4000-8000-000000000003', 'object_key', 'cases/elsewhere/x.pdf',
       'file_name', 'x.pdf', 'content_type', 'application/pdf', 'size_bytes', 1, 'checksum_sha256', repeat('3a', 32)))$$,
  '22023',
  format('object_key must be cases/%s/93000000-0000-4000-8000-000000000003/other.pdf', tests.fixture('case_a')),
  'an object key off the rule is refused');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'receipts', 'case_id', tests.fixture('case_a'),
       'file_name', 'x.pdf', 'content_type', 'application/pdf', 'size_bytes', 1, 'checksum_sha256', repeat('3a', 32)))$$,
  '22023', null, 'an unknown kind is refused');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'other', 'case_id', gen_random_uuid(),
       'file_name', 'x.pdf', 'content_type', 'application/pdf', 'size_bytes', 1, 'checksum_sha256', repeat('3a', 32)))$$,
  'P0002', null, 'an unknown case is not found');
select is((select count(*)::int from public.documents where file_name = 'x.pdf'), 0,
  'nothing refused was written');
reset role;

-- The uploader is the signed-in caller, whatever is given (a definer path writing as the user:
-- the Storage trigger, proven in 94).
select set_config('request.jwt.claims', json_build_object('sub', tests.get_user_id('agent_a'), 'role', 'authenticated')::text, true);
insert into public.documents (id, kind, case_id, object_key, file_name, content_type, size_bytes, stored_at, uploaded_by)
values ('93000000-0000-4000-8000-000000000009', 'other', tests.fixture('case_a'), 'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-000000000009/other.pdf', 'stamp.pdf',
        'application/pdf', 1, now(), tests.get_user_id('admin'));
select set_config('request.jwt.claims', '', true);
select is((select uploaded_by from public.documents where id = '93000000-0000-4000-8000-000000000009'),
  tests.get_user_id('agent_a'), 'uploaded_by is the signed-in caller, not the one given');

-- Generated documents: registered pending with a link token, once.
select tests.authenticate_as_service_role();
create temporary table first_link on commit drop as
select * from private.register_generated_document('receipt', tests.fixture('case_a'), tests.fixture('payment_a'));
select is(
  (select (d.kind, d.status, d.generated, d.payment_id, d.customer_id, d.content_type, d.uploaded_by,
           d.object_key, d.size_bytes, d.checksum_sha256)::text
     from public.documents d join first_link f on f.id = d.id),
  ('receipt'::public.document_kind, 'pending', true, tests.fixture('payment_a'), tests.fixture('customer_a'),
   'application/pdf', null::uuid,
   'cases/' || tests.fixture('case_a') || '/' || (select id from first_link) || '/receipt.pdf',
   null::bigint, null::text)::text,
  'a receipt is registered pending, generated, keyed under its case as receipt.pdf (named after its payment in file_name)');
select matches((select link_token from first_link), '^[0-9A-Za-z]{22}$', 'with a 22-character base62 token');
select is(
  (select d.link_token_hash from public.documents d join first_link f on f.id = d.id),
  (select encode(extensions.digest(link_token, 'sha256'), 'hex') from first_link),
  'of which only the SHA-256 is kept');
select is(
  (select (l.id, l.bucket, l.object_key, l.file_name, l.content_type, l.status)::text
     from first_link f cross join private.document_for_link_token(f.link_token) l),
  (select (d.id, 'documents', d.object_key, 'receipt-pay_TA.pdf', 'application/pdf', 'pending')::text
     from public.documents d join first_link f on f.id = d.id),
  'the go function finds the document by its token');
create temporary table second_link on commit drop as
select * from private.register_generated_document('receipt', null, tests.fixture('payment_a'));
select is((select id from second_link), (select id from first_link), 'registering the receipt again gives the same document');
select isnt((select link_token from second_link), (select link_token from first_link), 'with a fresh token');
select is((select count(*)::int from first_link f cross join private.document_for_link_token(f.link_token)), 0,
  'the earlier token no longer opens it');
select is((select count(*)::int from public.documents where payment_id = tests.fixture('payment_a')), 1,
  'one receipt per payment');
select is((select count(*)::int from private.document_for_link_token('not a token')), 0, 'a malformed token finds nothing');
select is((select count(*)::int from private.document_for_link_token(repeat('A', 22))), 0, 'an unknown token finds nothing');
select throws_ok(
  $$select private.register_generated_document('receipt', tests.fixture('case_b'), tests.fixture('payment_a'))$$,
  '22023', format('payment %s is not of case %s', tests.fixture('payment_a'), tests.fixture('case_b')),
  'a receipt of another case''s payment is refused');
select throws_ok(
  $$select private.register_generated_document('policy_copy', tests.fixture('case_a'))$$,
  '22023', 'only receipts and renewal notices are generated, not policy_copy', 'only receipts and notices are generated');
select is(
  (select a.id = b.id from private.register_generated_document('renewal_notice', tests.fixture('case_b')) a,
                           private.register_generated_document('renewal_notice', tests.fixture('case_b')) b),
  true, 'one renewal notice a case a day');

-- mark_document_stored: once; the same bytes again change nothing; other bytes are refused.
select is(
  (select (m.status, m.size_bytes, m.checksum_sha256)::text
     from first_link f cross join private.mark_document_stored(f.id, 4321, repeat('c4', 32)) m),
  ('stored', 4321::bigint, repeat('c4', 32))::text, 'the rendered receipt is marked stored');
create temporary table stored_once on commit drop as
select d.stored_at from public.documents d join first_link f on f.id = d.id;
select is(
  (select m.stored_at from first_link f cross join private.mark_document_stored(f.id, 4321, repeat('c4', 32)) m),
  (select stored_at from stored_once), 'marking it again with the same bytes changes nothing');
select throws_ok(
  format('select private.mark_document_stored(%L, 4321, %L)', (select id from first_link), repeat('d5', 32)),
  '55000', format('document %s is already stored with other bytes', (select id from first_link)),
  'other bytes for a stored document are refused');
select throws_ok(
  format('select private.mark_document_stored(%L, 1, %L)', gen_random_uuid(), repeat('d5', 32)),
  'P0002', null, 'an unknown document is not found');
select throws_ok(
  format('select private.mark_document_stored(%L, 1, %L)', (select id from first_link), 'D5'),
  '22023', null, 'a checksum must be SHA-256 hex');
reset role;

-- Legal holds: admins place and lift them; every change to a document is audited.
select tests.authenticate_as('agent_a');
select throws_ok(format('select private.set_document_legal_hold(%L, true)', tests.fixture('doc_a_other')),
  '42501', 'only admins place or lift a legal hold', 'an agent cannot place a legal hold');
select tests.authenticate_as('admin');
select is((select legal_hold from private.set_document_legal_hold(tests.fixture('doc_a_other'), true)), true,
  'an admin places a hold');
select is(tests.affected_rows(format('delete from public.documents where id = %L', tests.fixture('doc_a_other'))),
  '55000', 'which refuses the deletion of a document without retention');
select is((select legal_hold from private.set_document_legal_hold(tests.fixture('doc_a_other'), false)), false,
  'and lifts it');
select throws_ok(format('select private.set_document_legal_hold(%L, true)', gen_random_uuid()),
  'P0002', null, 'an unknown document is not found');
reset role;
select is(
  (select array_agg(format('%s %s %s', a.action, coalesce(a.actor_id = tests.get_user_id('admin'), false),
                           a.new_row ->> 'legal_hold')
                    order by a.id)
     from public.audit_log a where a.table_name = 'documents' and a.row_id = tests.fixture('doc_a_other')),
  array['insert f false', 'update t true', 'update t false']::text[],
  'the document''s insert and both hold changes are in the audit log, the admin named');

-- Object keys hold no file name (issue 13): {cases|customers}/{uuid}/{document_id}/{kind}.{ext}.
select is(
  (select array_agg(k::text order by k) from unnest(enum_range(null::public.document_kind)) k
    where not private.document_key_is_generic(
      'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/' || k || '.pdf')),
  null, 'every document kind makes a generic key (a new kind must be added to document_key_is_generic)');
select is(
  (select array_agg(key order by key) from unnest(array[
     'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/Ramesh Kumar PAN.pdf',
     'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/kyc-ramesh.pdf',
     'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/kyc.pdf.exe',
     'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/KYC.PDF',
     'cases/' || tests.fixture('case_a') || '/ramesh/kyc.pdf',
     'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/x/kyc.pdf',
     'ramesh/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e1/kyc.pdf',
     'retention/kyc.pdf', '']) key
    where private.document_key_is_generic(key)),
  null, 'a key with a file name, another folder or another shape is not generic');
select ok(private.document_key_is_generic(
            'customers/' || tests.fixture('customer_a') || '/93000000-0000-4000-8000-0000000000e1/kyc.jpeg'),
          'a customer''s KYC photo is');
select throws_ok(
  $$insert into public.documents (kind, case_id, object_key, file_name, content_type)
    values ('kyc', tests.fixture('case_a'),
            'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e2/Ramesh Kumar PAN.pdf',
            'Ramesh Kumar PAN.pdf', 'application/pdf')$$,
  '23514', null, 'a new document keyed by its file name is refused, whoever writes it');
select throws_ok(
  format($$update public.documents set object_key = replace(object_key, 'other.pdf', 'Ramesh.pdf') where id = %L$$,
         tests.fixture('doc_b_other')),
  '23514', null, 'so is a key changed to hold one');
select is(
  (select object_key from public.documents where id = tests.fixture('doc_b_other')),
  'cases/' || tests.fixture('case_b') || '/' || tests.fixture('doc_b_other') || '/other.pdf',
  'the key is unchanged');
select is(
  (select object_key from private.register_generated_document('renewal_notice', tests.fixture('case_a')) r
     join public.documents d on d.id = r.id),
  'cases/' || tests.fixture('case_a') || '/' ||
    (select id from public.documents where case_id = tests.fixture('case_a') and kind = 'renewal_notice') ||
    '/renewal_notice.pdf',
  'a renewal notice is keyed renewal_notice.pdf');
select is(
  (select count(*)::int from public.documents where file_name ~ '^renewal-notice-.*\.pdf$' and case_id = tests.fixture('case_a')),
  1, 'and named after its case in file_name');
select throws_ok(
  $$select private.record_document(jsonb_build_object('kind', 'other', 'case_id', tests.fixture('case_a'),
       'file_name', 'x.txt', 'content_type', 'text/plain', 'size_bytes', 1, 'checksum_sha256', repeat('3a', 32)))$$,
  '22023', 'content_type is application/pdf, image/png, image/jpeg or image/webp',
  'record_document takes the four types the API accepts (each has its extension)');
-- A document stored before this rule (its key ends in the file name) keeps working: a hold, a
-- new file name (as the erasure gives it) and a new link do not touch the key.
alter table public.documents disable trigger _050_generic_key;
insert into public.documents (id, kind, case_id, object_key, file_name, content_type, size_bytes, stored_at)
values ('93000000-0000-4000-8000-0000000000e3', 'kyc', tests.fixture('case_a'),
        'cases/' || tests.fixture('case_a') || '/93000000-0000-4000-8000-0000000000e3/Old Name PAN.pdf',
        'Old Name PAN.pdf', 'application/pdf', 1, now());
alter table public.documents enable trigger _050_generic_key;
select lives_ok(
  $$update public.documents set file_name = 'kyc-93000000.pdf', legal_hold = true
     where id = '93000000-0000-4000-8000-0000000000e3'$$,
  'an older document with a file name in its key can still be updated otherwise');

-- The other functions are not the desk's.
select tests.authenticate_as('admin');
select throws_ok(
  $$select private.register_generated_document('receipt', null, tests.fixture('payment_b'))$$,
  '42501', null, 'the desk cannot register generated documents');
select throws_ok($$select * from private.document_for_link_token('x')$$, '42501', null,
  'nor look links up');
reset role;

select * from finish();
rollback;
