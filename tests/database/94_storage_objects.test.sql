-- The documents bucket in Storage (issue 12), against the local storage schema
-- (supabase/platform/30_storage.sql): who may read, upload, overwrite and delete objects of
-- cases/{case_id}/{document_id}/{kind}.{ext} through supabase-js, persona by persona (a key
-- ending in a file name is refused: keys hold no personal data, issue 13); the bucket's limits;
-- the trigger that records a direct upload as a document (kind from its metadata or its name,
-- the file name from its user metadata, which keeps no copy, the uploader from the caller, not
-- the owner column) and the one that deletes it with its object, refused (55000) for a document
-- under legal retention.
begin;
select tests.create_test_book();

-- Objects put by the backend (the table's owner): an "other" of each case and a kept policy
-- copy of case A; the trigger records each.
create function pg_temp.put(label text, case_label text, doc_id uuid, kind text default null)
returns uuid language sql as $$
  with o as (
    insert into storage.objects (bucket_id, name, owner, metadata, user_metadata)
    values ('documents', 'cases/' || tests.fixture(case_label) || '/' || doc_id || '/' || coalesce(kind, 'other') || '.pdf',
            null, '{"size": 321, "mimetype": "application/pdf"}',
            case when kind is not null then jsonb_build_object('kind', kind) end)
    returning id
  )
  insert into tests.fixtures (name, id) select label, o.id from o returning id
$$;
-- And one the API put under the customer's folder (a document without a case).
insert into storage.objects (bucket_id, name, metadata)
values ('documents', 'customers/' || tests.fixture('customer_a') || '/94000000-0000-4000-8000-0000000000c1/kyc.pdf',
        '{"size": 9, "mimetype": "application/pdf"}');
insert into tests.fixtures (name, id)
select 'obj_cust_a', id from storage.objects where name like '%/94000000-0000-4000-8000-0000000000c1/%';
select count(*) from (
  select pg_temp.put('obj_a', 'case_a', '94000000-0000-4000-8000-00000000000a')
  union all select pg_temp.put('obj_b', 'case_b', '94000000-0000-4000-8000-00000000000b')
  union all select pg_temp.put('obj_a_kept', 'case_a', '94000000-0000-4000-8000-0000000000ac', 'policy_copy')
) as put;

create temporary table matrix (
  op text, statement text,
  admin text, zone_manager text, branch_b_manager text, agent_a text, agent_b text,
  analyst text, anon text
);
grant select on matrix to anon, authenticated;

insert into matrix values
  ('select case a', 'select 1 from storage.objects where id = tests.fixture(''obj_a'')',
   '1', '1', '0', '1', '0', '0', '0'),
  ('select case b', 'select 1 from storage.objects where id = tests.fixture(''obj_b'')',
   '1', '1', '1', '0', '1', '0', '0'),
  -- A customer's folder is read through the API (signed URLs), not directly.
  ('select customer folder', 'select 1 from storage.objects where id = tests.fixture(''obj_cust_a'')',
   '0', '0', '0', '0', '0', '0', '0'),
  ('select all', 'select 1 from storage.objects where id in (tests.fixture(''obj_a''), tests.fixture(''obj_b''), tests.fixture(''obj_a_kept''))',
   '3', '3', '1', '2', '1', '0', '0'),
  ('insert case a', 'insert into storage.objects (bucket_id, name, owner, metadata) values (''documents'', ''cases/'' || tests.fixture(''case_a'') || ''/'' || gen_random_uuid() || ''/other.pdf'', auth.uid(), ''{"size": 5, "mimetype": "application/pdf"}'')',
   '1', '1', '42501', '1', '42501', '42501', '42501'),
  ('insert case b', 'insert into storage.objects (bucket_id, name, owner, metadata) values (''documents'', ''cases/'' || tests.fixture(''case_b'') || ''/'' || gen_random_uuid() || ''/other.pdf'', auth.uid(), ''{"size": 5, "mimetype": "application/pdf"}'')',
   '1', '1', '1', '42501', '1', '42501', '42501'),
  -- Only the key's shape: no document folder, a nested folder, an uppercase id, a customer folder.
  ('insert without document folder', 'insert into storage.objects (bucket_id, name) values (''documents'', ''cases/'' || tests.fixture(''case_a'') || ''/other.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('insert nested', 'insert into storage.objects (bucket_id, name) values (''documents'', ''cases/'' || tests.fixture(''case_a'') || ''/'' || gen_random_uuid() || ''/x/other.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('insert uppercase case id', 'insert into storage.objects (bucket_id, name) values (''documents'', ''cases/'' || upper(tests.fixture(''case_a'')::text) || ''/'' || gen_random_uuid() || ''/other.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('insert customer folder', 'insert into storage.objects (bucket_id, name) values (''documents'', ''customers/'' || tests.fixture(''customer_a'') || ''/'' || gen_random_uuid() || ''/other.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('insert unknown case', 'insert into storage.objects (bucket_id, name) values (''documents'', ''cases/'' || gen_random_uuid() || ''/'' || gen_random_uuid() || ''/other.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- The last part is {kind}.{ext}: never a file name (it may name the person).
  ('insert file name', 'insert into storage.objects (bucket_id, name) values (''documents'', ''cases/'' || tests.fixture(''case_a'') || ''/'' || gen_random_uuid() || ''/Ramesh Kumar PAN.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('insert kind-ish name', 'insert into storage.objects (bucket_id, name) values (''documents'', ''cases/'' || tests.fixture(''case_a'') || ''/'' || gen_random_uuid() || ''/kyc-ramesh.pdf'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- No overwrite, no upsert.
  ('update metadata a', 'update storage.objects set metadata = ''{"size": 1}'' where id = tests.fixture(''obj_a'')',
   '0', '0', '0', '0', '0', '0', '0'),
  ('update name a', 'update storage.objects set name = name || ''.exe'' where id = tests.fixture(''obj_a'')',
   '0', '0', '0', '0', '0', '0', '0'),
  -- Admins delete; not what the law keeps.
  ('delete a', 'delete from storage.objects where id = tests.fixture(''obj_a'')',
   '1', '0', '0', '0', '0', '0', '0'),
  ('delete b', 'delete from storage.objects where id = tests.fixture(''obj_b'')',
   '1', '0', '0', '0', '0', '0', '0'),
  ('delete kept a', 'delete from storage.objects where id = tests.fixture(''obj_a_kept'')',
   '0', '0', '0', '0', '0', '0', '0');

select plan((select count(*)::int * 7 from matrix) + 24);

select is(
  tests.affected_rows_as(cell.persona, m.statement),
  cell.expected,
  format('storage.objects: %s as %s -> %s', m.op, cell.persona, cell.expected)
)
  from matrix m
  cross join lateral (values
    (1, 'admin', m.admin), (2, 'zone_manager', m.zone_manager),
    (3, 'branch_b_manager', m.branch_b_manager), (4, 'agent_a', m.agent_a),
    (5, 'agent_b', m.agent_b), (6, 'analyst', m.analyst), (7, 'anon', m.anon)
  ) as cell (n, persona, expected)
 order by m.op, cell.n;

-- The bucket.
select is(
  (select (public, file_size_limit, allowed_mime_types)::text from storage.buckets where id = 'documents'),
  (false, 10485760::bigint, array['application/pdf', 'image/png', 'image/jpeg', 'image/webp'])::text,
  'the documents bucket is private, 10 MiB, PDF and images only');

-- The backend's objects were recorded, the customer's too.
select is(
  (select (kind, customer_id, case_id, status)::text from public.documents
    where id = '94000000-0000-4000-8000-0000000000c1'),
  ('kyc'::public.document_kind, tests.fixture('customer_a'), null::uuid, 'stored')::text,
  'an object under customers/{customer_id}/ is recorded as a document of that customer, its kind from its name');
select is(
  (select (kind, customer_id, policy_id, status, size_bytes, content_type, uploaded_by, generated)::text
     from public.documents where id = '94000000-0000-4000-8000-00000000000a'),
  ('other'::public.document_kind, tests.fixture('customer_a'), tests.fixture('policy_a'), 'stored',
   321::bigint, 'application/pdf', null::uuid, false)::text,
  'an object of a case is recorded as a stored document of that case, customer and policy');
select is(
  (select (kind, retain_until)::text from public.documents where id = '94000000-0000-4000-8000-0000000000ac'),
  ('policy_copy'::public.document_kind, (private.business_date(now()) + interval '8 years')::date)::text,
  'its kind from the upload''s metadata, with that kind''s retention');

-- A direct upload from the desk: recorded as the uploader's, whatever the owner column says.
select tests.authenticate_as('agent_a');
insert into storage.objects (bucket_id, name, owner, metadata, user_metadata)
values ('documents', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000d1/kyc.png',
        tests.get_user_id('admin'), '{"size": 2048, "mimetype": "image/png"}',
        '{"kind": "kyc", "file_name": "Ramesh Kumar pan card.png"}');
select is(
  (select (kind, case_id, customer_id, object_key, file_name, content_type, size_bytes, checksum_sha256,
           uploaded_by, status)::text
     from public.documents where id = '94000000-0000-4000-8000-0000000000d1'),
  ('kyc'::public.document_kind, tests.fixture('case_a'), tests.fixture('customer_a'),
   'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000d1/kyc.png',
   'Ramesh Kumar pan card.png', 'image/png', 2048::bigint, null::text, tests.get_user_id('agent_a'), 'stored')::text,
  'agent A''s upload is listed as their KYC document of the case, under the name sent in its metadata '
  '(the owner column is not trusted)');
reset role;
select is((select user_metadata from storage.objects where name like '%/94000000-0000-4000-8000-0000000000d1/%'),
  '{"kind": "kyc"}'::jsonb, 'Storage keeps no copy of the file name');
select tests.authenticate_as('agent_a');
insert into storage.objects (bucket_id, name, metadata, user_metadata)
values ('documents', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000d2/other.pdf',
        '{"size": 1, "mimetype": "application/pdf; charset=binary"}', '{"kind": "invoice"}');
select is(
  (select (kind, content_type)::text from public.documents where id = '94000000-0000-4000-8000-0000000000d2'),
  ('other'::public.document_kind, 'application/pdf')::text,
  'a kind that is not one of ours is other; the media type without its parameters');
select throws_ok(
  $$insert into storage.objects (bucket_id, name)
    values ('documents', 'cases/' || tests.fixture('case_b') || '/94000000-0000-4000-8000-0000000000d3/other.pdf')$$,
  '42501', null, 'agent A cannot upload into agent B''s case');
select is((select count(*)::int from public.documents where id = '94000000-0000-4000-8000-0000000000d3'), 0,
  'and nothing is recorded');
reset role;

-- The API's upload through the S3 protocol makes the object row first: record_document completes it.
select tests.authenticate_as_service_role();
insert into storage.objects (bucket_id, name, metadata)
values ('documents', 'cases/' || tests.fixture('case_b') || '/94000000-0000-4000-8000-0000000000e1/policy_copy.pdf',
        '{"size": 777, "mimetype": "application/pdf"}');
select is(
  (select (id, kind, checksum_sha256, uploaded_by, retain_until)::text
     from private.record_document(jsonb_build_object(
       'id', '94000000-0000-4000-8000-0000000000e1', 'kind', 'policy_copy', 'case_id', tests.fixture('case_b'),
       'file_name', 'policy.pdf', 'content_type', 'application/pdf', 'size_bytes', 777,
       'checksum_sha256', repeat('e1', 32), 'uploaded_by', tests.get_user_id('agent_b')))),
  ('94000000-0000-4000-8000-0000000000e1'::uuid, 'policy_copy'::public.document_kind, repeat('e1', 32),
   tests.get_user_id('agent_b'), (private.business_date(now()) + interval '8 years')::date)::text,
  'record_document completes the row the object''s trigger made: one document, the API''s kind, '
  'checksum and uploader, and that kind''s retention');
select is((select count(*)::int from public.documents where object_key like '%/94000000-0000-4000-8000-0000000000e1/%'), 1,
  'still one document for the object');
reset role;

-- Objects outside the rule are not documents.
insert into storage.buckets (id, name) values ('t94_other', 't94_other');
insert into storage.objects (bucket_id, name)
values ('t94_other', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000f1/x.pdf'),
       ('documents', 'cases/' || tests.fixture('case_a') || '/not-a-uuid/x.pdf'),
       ('documents', 'cases/' || gen_random_uuid() || '/94000000-0000-4000-8000-0000000000f2/other.pdf');
select is(
  (select count(*)::int from public.documents
    where id in ('94000000-0000-4000-8000-0000000000f1', '94000000-0000-4000-8000-0000000000f2')
       or object_key like '%/not-a-uuid/%'),
  0, 'another bucket, a key off the rule, an unknown case: no document');
select tests.authenticate_as('admin');
select is(tests.affected_rows('select 1 from storage.objects where bucket_id = ''t94_other'''), '0',
  'and the policies open no other bucket, even to admins');
reset role;

-- Whoever puts it (the backend too), an object under a document folder is named {kind}.{ext}.
select throws_ok(
  $$insert into storage.objects (bucket_id, name, metadata)
    values ('documents', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000f3/Ramesh Kumar PAN.pdf',
            '{"size": 5, "mimetype": "application/pdf"}')$$,
  '23514', 'a document''s object is named {kind}.{ext} (kyc.pdf, other.png, ...), not by its file name',
  'an object named by its file name is refused, even to the backend, without the name echoed back');
select is((select count(*)::int from storage.objects where name like '%/94000000-0000-4000-8000-0000000000f3/%')
          + (select count(*)::int from public.documents where id = '94000000-0000-4000-8000-0000000000f3'), 0,
  'nothing is kept of it');
insert into storage.objects (bucket_id, name, metadata, user_metadata)
values ('documents', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000f4/endorsement.pdf',
        '{"size": 5, "mimetype": "application/pdf"}', '{"file_name": "../../etc/passwd"}');
select is((select (kind, file_name)::text from public.documents where id = '94000000-0000-4000-8000-0000000000f4'),
  ('endorsement'::public.document_kind, 'endorsement.pdf')::text,
  'the kind from the name; a file name that is not one (a path) gives way to the object''s name');
select throws_ok(
  $$insert into storage.objects (bucket_id, name, metadata)
    values ('documents', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000f5/receipt.pdf',
            '{"size": 5, "mimetype": "application/pdf"}')$$,
  '42501', null, 'a receipt by its name is ours, not uploaded');
-- An object stored before the rule (its name ends in a file name) still takes metadata changes.
alter table storage.objects disable trigger _900_record_document;
alter table public.documents disable trigger _050_generic_key;
insert into storage.objects (bucket_id, name, metadata)
values ('documents', 'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000f6/Old Name.pdf', '{}');
insert into public.documents (id, kind, case_id, object_key, file_name, content_type, stored_at)
values ('94000000-0000-4000-8000-0000000000f6', 'other', tests.fixture('case_a'),
        'cases/' || tests.fixture('case_a') || '/94000000-0000-4000-8000-0000000000f6/Old Name.pdf',
        'Old Name.pdf', 'application/pdf', now());
alter table public.documents enable trigger _050_generic_key;
alter table storage.objects enable trigger _900_record_document;
update storage.objects set metadata = '{"size": 7}' where name like '%/94000000-0000-4000-8000-0000000000f6/%';
select is((select size_bytes from public.documents where id = '94000000-0000-4000-8000-0000000000f6'), 7::bigint,
  'an older object named by its file name still takes a metadata change (its document''s size filled)');

-- Deleting an object deletes its document; what the law keeps stays, bytes and row.
select tests.authenticate_as('admin');
delete from storage.objects where id = tests.fixture('obj_a');
reset role;
select is((select count(*)::int from public.documents where id = '94000000-0000-4000-8000-00000000000a'), 0,
  'an admin''s delete of an object deletes its document');
select throws_ok(
  format('delete from storage.objects where id = %L', tests.fixture('obj_a_kept')),
  '55000',
  'document 94000000-0000-4000-8000-0000000000ac is under legal retention until '
  || (private.business_date(now()) + interval '8 years')::date,
  'the backend cannot delete the object of a kept document either');
select is((select count(*)::int from storage.objects where id = tests.fixture('obj_a_kept')), 1, 'the object stays');
update public.documents set retain_until = null, legal_hold = true where id = '94000000-0000-4000-8000-0000000000ac';
select tests.authenticate_as('admin');
select is(tests.affected_rows(format('delete from storage.objects where id = %L', tests.fixture('obj_a_kept'))), '0',
  'an admin cannot delete an object under legal hold (the policy hides it from the delete)');
reset role;
update public.documents set legal_hold = false where id = '94000000-0000-4000-8000-0000000000ac';
select tests.authenticate_as('admin');
select is(tests.affected_rows(format('delete from storage.objects where id = %L', tests.fixture('obj_a_kept'))), '1',
  'nor retention nor hold: the admin may');
reset role;
select tests.authenticate_as('zone_manager');
select is(tests.affected_rows(format('delete from storage.objects where id = %L', tests.fixture('obj_b'))), '0',
  'a manager may not, even of a case they see');
reset role;

select * from finish();
rollback;
