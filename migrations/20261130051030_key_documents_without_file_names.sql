-- Erasure follow-up (issue 13): a document's object key ended in the uploaded file name
-- (cases/{case}/{document_id}/Ramesh_Kumar_PAN.pdf), and a document the law makes us keep
-- (receipts, KYC papers, policy copies within retention) keeps its key after the erasure: the
-- person stayed named in documents.object_key and storage.objects.name. Renaming an object
-- needs a copy in the object store, so keys now hold no personal data by construction:
-- * The key of every new document is {cases/{case_id} | customers/{customer_id}}/{document_id}/
--   {kind}.{ext}: the kind (policy_copy, renewal_notice, receipt, kyc, endorsement, other) and
--   the extension of its type (pdf, png, jpg or jpeg or jpe, webp). The uploaded name stays
--   only in documents.file_name (shown and offered on download), which the erasure replaces.
--   private.document_object_key(id, case, customer, kind, content_type) builds it (the old
--   form taking the file name is dropped); record_document (the API's uploads, which now only
--   take the four types the API accepts) and ensure_generated_document (receipts, renewal
--   notices: receipt.pdf, renewal_notice.pdf) use it.
-- * private.document_key_is_generic(key) says whether a key has that shape, every part of it
--   ours (two uuids, a kind, an extension). A trigger on public.documents (_050_generic_key,
--   before insert or update of object_key) refuses any other key with 23514, so it binds every
--   new row and every change of key. It is a trigger, not a NOT VALID check constraint: such a
--   constraint is checked again on every update of a row, so a document stored before this
--   (its key holding a file name) could no longer be put on legal hold, given a new link, nor
--   have its file name erased. Those old keys stay (their bytes live there).
-- * Direct desk uploads through Storage: the insert policy (private.can_upload_document_object)
--   takes only cases/{case_id}/{document_id}/{kind}.{ext}; the recording trigger refuses (23514)
--   any new documents-bucket object under a document folder whose last part is not such a name,
--   whoever puts it (service_role too), takes the kind from the upload's metadata or else from
--   the name, and takes the file name from the upload's user metadata (file_name) when it is a
--   valid one (else the generic name), then removes it from the object's user metadata, so
--   Storage keeps no copy of it.
-- * private.personal_data_columns: documents.object_key is kept, with that reason (its keys hold
--   no personal data); storage.objects.user_metadata says where the file name goes.

create function private.document_key_is_generic(object_key text) returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
  select coalesce(object_key ~ ('^(cases|customers)/'
                                '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/'
                                '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/'
                                '(policy_copy|renewal_notice|receipt|kyc|endorsement|other)'
                                '\.(pdf|png|jpg|jpeg|jpe|webp)$'), false)
$$;

comment on function private.document_key_is_generic(text) is
  'Whether a documents-bucket key holds nothing but our own parts: cases/{case_id} or '
  'customers/{customer_id}, /{document_id}/, then {kind}.{ext} (kind a document_kind, ext pdf, '
  'png, jpg, jpeg, jpe or webp; lowercase uuids). No uploaded file name, so no personal data. '
  'A new document_kind must be added here (pgTAP 93 checks every kind is).';

revoke execute on function private.document_key_is_generic(text) from public;
grant execute on function private.document_key_is_generic(text) to authenticated, service_role;

create function private.document_object_key(document_id uuid, case_id uuid, customer_id uuid,
                                            kind public.document_kind, content_type text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when case_id is not null then 'cases/' || case_id else 'customers/' || customer_id end
         || '/' || document_id || '/' || kind::text || '.'
         || case content_type when 'application/pdf' then 'pdf' when 'image/png' then 'png'
                              when 'image/jpeg' then 'jpg' when 'image/webp' then 'webp' end
$$;

comment on function private.document_object_key(uuid, uuid, uuid, public.document_kind, text) is
  'The object key of a new document: cases/{case_id}/{document_id}/{kind}.{ext} when it has a '
  'case, else customers/{customer_id}/{document_id}/{kind}.{ext}; ext from the media type '
  '(application/pdf pdf, image/png png, image/jpeg jpg, image/webp webp; null for another type). '
  'Never the file name: keys hold no personal data.';

revoke execute on function private.document_object_key(uuid, uuid, uuid, public.document_kind, text) from public;
grant execute on function private.document_object_key(uuid, uuid, uuid, public.document_kind, text) to service_role;

create or replace function private.record_document(document jsonb)
returns public.documents
language plpgsql
security definer
set search_path = ''
as $$
declare
  uuid_pattern constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
  doc_id uuid;
  doc_kind public.document_kind;
  doc_case uuid;
  doc_customer uuid;
  doc_policy uuid;
  owner_customer uuid;
  doc_key text;
  saved public.documents;
begin
  if document is null or jsonb_typeof(document) <> 'object' then
    raise exception 'record_document takes a JSON object' using errcode = '22023';
  end if;
  if coalesce(document ->> 'kind', '') not in
       (select e::text from unnest(enum_range(null::public.document_kind)) e) then
    raise exception 'kind must be one of %', enum_range(null::public.document_kind) using errcode = '22023';
  end if;
  doc_kind := (document ->> 'kind')::public.document_kind;
  if coalesce(document ->> 'id', gen_random_uuid()::text) !~ uuid_pattern
     or coalesce(document ->> 'case_id', gen_random_uuid()::text) !~ uuid_pattern
     or coalesce(document ->> 'customer_id', gen_random_uuid()::text) !~ uuid_pattern
     or coalesce(document ->> 'policy_id', gen_random_uuid()::text) !~ uuid_pattern
     or coalesce(document ->> 'uploaded_by', gen_random_uuid()::text) !~ uuid_pattern then
    raise exception 'id, case_id, customer_id, policy_id and uploaded_by are uuids' using errcode = '22023';
  end if;
  if coalesce(document ->> 'size_bytes', '') !~ '^[0-9]{1,15}$' then
    raise exception 'size_bytes is the stored size in bytes' using errcode = '22023';
  end if;
  if coalesce(document ->> 'checksum_sha256', '') !~ '^[0-9a-f]{64}$' then
    raise exception 'checksum_sha256 is the SHA-256 of the stored bytes in lowercase hex' using errcode = '22023';
  end if;
  if coalesce(document ->> 'file_name', '') !~ '^[^/\\[:cntrl:]]{1,255}$'
     or document ->> 'file_name' in ('.', '..') then
    raise exception 'file_name is 1 to 255 characters without a slash, a backslash or a control character'
      using errcode = '22023';
  end if;
  if coalesce(document ->> 'content_type', '') not in ('application/pdf', 'image/png', 'image/jpeg', 'image/webp') then
    raise exception 'content_type is application/pdf, image/png, image/jpeg or image/webp' using errcode = '22023';
  end if;
  doc_id := coalesce((document ->> 'id')::uuid, gen_random_uuid());
  doc_case := (document ->> 'case_id')::uuid;
  doc_customer := (document ->> 'customer_id')::uuid;
  doc_policy := (document ->> 'policy_id')::uuid;
  if doc_case is null and doc_customer is null then
    raise exception 'a document needs a case_id or a customer_id' using errcode = '22023';
  end if;
  -- The key is made from the owner as the table will hold it (the case's customer).
  if doc_case is not null then
    select c.customer_id into owner_customer from public.renewal_cases c where c.id = doc_case;
    if not found then
      raise exception 'no renewal case %', doc_case using errcode = 'P0002';
    end if;
  elsif not exists (select 1 from public.customers cu where cu.id = doc_customer) then
    raise exception 'no customer %', doc_customer using errcode = 'P0002';
  end if;
  doc_key := private.document_object_key(doc_id, doc_case, coalesce(owner_customer, doc_customer),
                                         doc_kind, document ->> 'content_type');
  if document ? 'object_key' and document ->> 'object_key' is distinct from doc_key then
    raise exception 'object_key must be %', doc_key using errcode = '22023';
  end if;

  -- A direct upload through Storage may have recorded the object already (its trigger): the
  -- API's call completes that row rather than failing on it.
  insert into public.documents as d (id, kind, customer_id, case_id, policy_id, bucket, object_key,
                                     file_name, content_type, size_bytes, checksum_sha256, status,
                                     generated, uploaded_by, stored_at)
  values (doc_id, doc_kind, doc_customer, doc_case, doc_policy,
          coalesce(document ->> 'bucket', 'documents'), doc_key, document ->> 'file_name',
          document ->> 'content_type', (document ->> 'size_bytes')::bigint,
          document ->> 'checksum_sha256', 'stored', false, (document ->> 'uploaded_by')::uuid, now())
  on conflict (id) do update
     set kind = excluded.kind, policy_id = coalesce(excluded.policy_id, d.policy_id),
         content_type = excluded.content_type, size_bytes = excluded.size_bytes,
         checksum_sha256 = excluded.checksum_sha256,
         uploaded_by = coalesce(d.uploaded_by, excluded.uploaded_by),
         retain_until = greatest(d.retain_until, private.document_retain_until(excluded.kind, d.created_at))
   where d.object_key = excluded.object_key and not d.generated
     and (d.checksum_sha256 is null or d.checksum_sha256 = excluded.checksum_sha256)
  returning d.* into saved;
  if saved.id is null then
    raise exception 'document % exists with other bytes', doc_id using errcode = '23505';
  end if;
  return saved;
end;
$$;

comment on function private.record_document(jsonb) is
  'Records an uploaded document once its bytes are stored: {id? (uuid; drawn when absent), kind, '
  'case_id or customer_id, policy_id?, file_name, content_type (application/pdf, image/png, '
  'image/jpeg or image/webp), size_bytes, checksum_sha256 (lowercase hex), uploaded_by (the user '
  'the API acts for), bucket? (documents), object_key? (must be the rule''s: '
  'cases/{case_id}/{id}/{kind}.{ext} or customers/{customer_id}/{id}/{kind}.{ext}; the file name '
  'is never part of it)}. Returns the row, status stored, retain_until from its kind. The same id '
  'again with the same bytes returns it (and completes a row the Storage upload trigger made '
  'under the same key, with the retention of the kind given if longer than the one it had); '
  'other bytes: 23505. 22023 for bad input or a customer/policy not the case''s; P0002 for an '
  'unknown case or customer. Checks no visibility: the API asks private.can_attach_document '
  'under the user''s role first. Security definer: service_role only.';

create or replace function private.ensure_generated_document(kind public.document_kind, case_id uuid,
                                                  payment_id uuid default null)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  renewal public.renewal_cases;
  pay public.payments;
  doc_id uuid;
  name text;
begin
  if kind is null or kind not in ('receipt', 'renewal_notice') then
    raise exception 'only receipts and renewal notices are generated, not %', coalesce(kind::text, 'null')
      using errcode = '22023';
  end if;
  if kind = 'receipt' then
    select p.* into pay from public.payments p where p.id = ensure_generated_document.payment_id;
    if not found then
      raise exception 'a receipt needs a payment, not %', coalesce(payment_id::text, 'null')
        using errcode = 'P0002';
    end if;
    if ensure_generated_document.case_id is not null and ensure_generated_document.case_id <> pay.case_id then
      raise exception 'payment % is not of case %', pay.id, ensure_generated_document.case_id
        using errcode = '22023';
    end if;
    select d.id into doc_id from public.documents d where d.payment_id = pay.id;
    if doc_id is not null then
      return doc_id;
    end if;
    select c.* into renewal from public.renewal_cases c where c.id = pay.case_id;
    name := 'receipt-' || regexp_replace(coalesce(pay.razorpay_payment_id, pay.id::text), '[^A-Za-z0-9_-]', '_', 'g')
            || '.pdf';
  else
    if ensure_generated_document.payment_id is not null then
      raise exception 'only a receipt has a payment' using errcode = '22023';
    end if;
    select c.* into renewal from public.renewal_cases c where c.id = ensure_generated_document.case_id;
    if not found then
      raise exception 'no renewal case %', coalesce(case_id::text, 'null') using errcode = 'P0002';
    end if;
    -- One notice a case a business day: a quote re-done the same day keeps its notice.
    select d.id into doc_id from public.documents d
     where d.case_id = renewal.id and d.kind = 'renewal_notice' and d.generated
       and private.business_date(d.created_at) = private.business_date(now())
     order by d.created_at desc limit 1;
    if doc_id is not null then
      return doc_id;
    end if;
    name := 'renewal-notice-' || regexp_replace(renewal.case_number, '[^A-Za-z0-9_-]', '_', 'g') || '-'
            || to_char(private.business_date(now()), 'YYYYMMDD') || '.pdf';
  end if;
  doc_id := gen_random_uuid();
  insert into public.documents as d (id, kind, customer_id, case_id, policy_id, payment_id,
                                     object_key, file_name, content_type, status, generated)
  values (doc_id, ensure_generated_document.kind, renewal.customer_id, renewal.id, renewal.policy_id,
          pay.id, private.document_object_key(doc_id, renewal.id, renewal.customer_id,
                                                 ensure_generated_document.kind, 'application/pdf'), name,
          'application/pdf', 'pending', true)
  on conflict on constraint documents_payment_id_key do nothing;
  if not found then
    -- A concurrent credit of the same payment registered it first.
    select d.id into doc_id from public.documents d where d.payment_id = pay.id;
  end if;
  return doc_id;
end;
$$;

comment on function private.ensure_generated_document(public.document_kind, uuid, uuid) is
  'The id of the generated document of that kind: a receipt of the payment (one per payment; '
  'case_id may be null, else must be the payment''s), or the renewal notice of the case of the '
  'business day; registered pending (application/pdf, key cases/{case_id}/{id}/receipt.pdf or '
  'renewal_notice.pdf; file name receipt-<pay id>.pdf or renewal-notice-<case number>-'
  '<YYYYMMDD>.pdf) when there is none yet. No link token. 22023 for another kind or a mismatch, '
  'P0002 for an unknown payment or case. Security definer: the payment and case triggers and '
  'register_generated_document.';

drop function private.document_object_key(uuid, uuid, uuid, text);

-- Every new key, and every change of key, has the generic shape.
create function private.tg_documents__generic_key() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not private.document_key_is_generic(new.object_key) then
    raise exception 'object_key % is not {cases|customers}/{uuid}/{document_id}/{kind}.{ext}', new.object_key
      using errcode = '23514', constraint = 'documents_object_key_generic',
            hint = 'Keys hold no file name: use private.document_object_key; the name goes in file_name.';
  end if;
  return new;
end;
$$;

comment on function private.tg_documents__generic_key() is
  'Before insert or update of object_key on public.documents: a key not of the generic shape '
  '(private.document_key_is_generic) is refused, 23514 (constraint documents_object_key_generic). '
  'Rows stored before keep their keys and may be updated otherwise.';

revoke execute on function private.tg_documents__generic_key() from public;

create trigger _050_generic_key before insert or update of object_key on public.documents
  for each row execute function private.tg_documents__generic_key();

comment on column public.documents.object_key is
  'The object''s key in its bucket: cases/{case_id}/{document_id}/{kind}.{ext}, or '
  'customers/{customer_id}/{document_id}/{kind}.{ext} for a document without a case. Holds no '
  'file name (no personal data); enforced for every new key (_050_generic_key). Documents stored '
  'before 2026-11-30 may have keys ending in their uploaded file name.';
comment on column public.documents.file_name is
  'The file name shown and offered on download (the uploaded name, made safe); the only place it '
  'is kept. Generic after the customer''s erasure.';

-- Direct uploads: only under a generic name.
create or replace function private.can_upload_document_object(object_name text) returns boolean
language sql stable
set search_path = ''
as $$
  select object_name ~ '^cases/'
     and private.document_key_is_generic(object_name)
     and private.can_read_document_object(object_name)
$$;

comment on function private.can_upload_document_object(text) is
  'Whether the caller may put an object with this key in the documents bucket: the key is '
  'cases/{case_id}/{document_id}/{kind}.{ext} (lowercase uuids, a document kind, pdf/png/jpg/'
  'jpeg/jpe/webp: no file name, which goes in the upload''s user metadata as file_name) and the '
  'caller is a desk member who sees the case. Security invoker: the storage.objects insert policy.';

create or replace function private.tg_objects__record_document() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  parts text[] := string_to_array(new.name, '/');
  named_kind text := coalesce(new.user_metadata ->> 'kind', new.metadata ->> 'kind');
  given_name text := new.user_metadata ->> 'file_name';
  media text := lower(split_part(coalesce(new.metadata ->> 'mimetype', new.metadata ->> 'contentType', ''), ';', 1));
  size text := new.metadata ->> 'size';
begin
  if new.bucket_id is distinct from 'documents' or cardinality(parts) <> 4
     or parts[1] not in ('cases', 'customers') or parts[2] !~ uuid_pattern
     or parts[3] !~ uuid_pattern or parts[4] = '' then
    return null;
  end if;
  if not private.document_key_is_generic(new.name) then
    if tg_op = 'INSERT' then
      raise exception 'a document''s object is named {kind}.{ext}, not %', parts[4]
        using errcode = '23514', constraint = 'documents_object_key_generic',
              hint = 'Put it under cases/{case_id}/{document_id}/{kind}.{ext} (e.g. kyc.pdf) and send '
                     'the original name as user metadata file_name.';
    end if;
    -- An object stored before the rule: its document (if any) only fills its missing size.
    update public.documents d
       set size_bytes = coalesce(d.size_bytes, size::bigint)
     where d.object_key = new.name and d.status = 'stored' and d.size_bytes is null
       and size ~ '^[0-9]{1,15}$';
    return null;
  end if;
  if tg_op = 'INSERT' and given_name is not null then
    -- The original name goes to documents.file_name only: Storage keeps no copy of it.
    update storage.objects o set user_metadata = o.user_metadata - 'file_name' where o.id = new.id;
  end if;
  if tg_op = 'INSERT' and exists (select 1 from public.documents d
                                   where d.id = parts[3]::uuid and d.object_key <> new.name) then
    raise exception 'document % already exists under another key', parts[3]
      using errcode = '23505', hint = 'Draw a new document id (a fresh uuid) for each upload.';
  end if;
  if exists (select 1 from public.documents d where d.id = parts[3]::uuid or d.object_key = new.name) then
    -- Already recorded (an API upload, a generated document): Storage's size and type fill gaps.
    update public.documents d
       set size_bytes = coalesce(d.size_bytes, size::bigint)
     where d.object_key = new.name and d.status = 'stored' and d.size_bytes is null
       and size ~ '^[0-9]{1,15}$';
    return null;
  end if;
  named_kind := coalesce(named_kind, split_part(parts[4], '.', 1));
  if named_kind in ('receipt', 'renewal_notice') then
    raise exception 'a % is generated by the system and cannot be uploaded', replace(named_kind, '_', ' ')
      using errcode = '42501',
            hint = 'Upload it with kind policy_copy, kyc, endorsement or other (or none).';
  end if;
  if parts[1] = 'cases' and not exists (select 1 from public.renewal_cases c where c.id = parts[2]::uuid)
     or parts[1] = 'customers' and not exists (select 1 from public.customers cu where cu.id = parts[2]::uuid) then
    return null;
  end if;
  insert into public.documents (id, kind, case_id, customer_id, bucket, object_key, file_name,
                                content_type, size_bytes, status, stored_at, uploaded_by)
  values (parts[3]::uuid,
          case when named_kind in (select e::text from unnest(enum_range(null::public.document_kind)) e)
               then named_kind::public.document_kind else 'other' end,
          case when parts[1] = 'cases' then parts[2]::uuid end,
          case when parts[1] = 'customers' then parts[2]::uuid end,
          new.bucket_id, new.name,
          case when given_name ~ '^[^/\\[:cntrl:]]{1,255}$' and given_name not in ('.', '..')
               then given_name else parts[4] end,
          case when media ~ '^[a-z]+/[a-z0-9.+-]{1,100}$' then media else 'application/octet-stream' end,
          case when size ~ '^[0-9]{1,15}$' then size::bigint end,
          'stored', now(),
          coalesce(new.owner, case when new.owner_id ~ uuid_pattern then new.owner_id::uuid end));
  return null;
end;
$$;

comment on function private.tg_objects__record_document() is
  'After insert or a metadata change on storage.objects: an object of the documents bucket keyed '
  'cases/{case_id}/{document_id}/{kind}.{ext} (or customers/{customer_id}/...) of a known case (or '
  'customer) gets its public.documents row, status stored: kind from the upload''s metadata '
  '(kind), else from its name, else other; file name from the upload''s user metadata '
  '(file_name, removed from the object: Storage keeps no copy) when valid, else the object''s '
  'name; content type and size from Storage''s metadata, uploaded_by the caller (else the '
  'object''s owner). A new object under a document folder with another last part (a file name) '
  'is refused: 23514, whoever puts it (an older one so named only fills its document''s size on a '
  'metadata change). An object already recorded only fills its missing size. A '
  'new object under another document''s id (its row names another key) is refused: 23505. A new '
  'object of kind receipt or renewal_notice (ours, generated only) is refused: 42501. Security '
  'definer: the desk may not insert documents itself.';

-- The registry of personal data: keys are ours now.
update private.personal_data_columns
   set treatment = 'kept',
       why = 'Holds no personal data: cases/{case_id} or customers/{customer_id}, /{document_id}/, '
             '{kind}.{ext} (private.document_key_is_generic, enforced for every new key by '
             '_050_generic_key); the uploaded name is only in file_name, which the erasure replaces. '
             'Deleted with the documents that go (objects queued in private.object_deletions).'
 where table_name = 'public.documents' and column_name = 'object_key';
update private.personal_data_columns
   set why = 'The upload''s kind, as the desk sent it; the original file name sent there '
             '(file_name) is moved to documents.file_name and removed from the object.'
 where table_name = 'storage.objects' and column_name = 'user_metadata';
