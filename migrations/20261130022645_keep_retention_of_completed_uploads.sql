-- A document uploaded through Storage's S3 protocol gets its row twice: first from the
-- storage.objects trigger (kind other, as nothing says otherwise: no retention), then completed
-- by private.record_document with the API's kind. The completion kept the first row's
-- retain_until, so a policy copy uploaded that way had none and could be deleted at once. The
-- retention of a kind is now one function, private.document_retain_until(kind, created_at), used
-- by the insert trigger and by record_document's completion, which keeps the longer of the two.

create function private.document_retain_until(kind public.document_kind, created_at timestamptz)
returns date
language sql stable
set search_path = ''
as $$
  select case when years > 0
              then (private.business_date(created_at) + make_interval(years => years))::date end
    from (select coalesce((private.setting('DOCUMENT_RETENTION_YEARS') ->> kind::text)::integer, 0) as years) y
$$;

comment on function private.document_retain_until(public.document_kind, timestamptz) is
  'The end of the legal retention of a document of this kind created at created_at: its business '
  'date + DOCUMENT_RETENTION_YEARS of the kind; null for 0 or a kind not listed.';

revoke execute on function private.document_retain_until(public.document_kind, timestamptz) from public;

create or replace function private.tg_documents__set_retention() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.retain_until is null then
    new.retain_until := private.document_retain_until(new.kind, new.created_at);
  end if;
  return new;
end;
$$;

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
  if coalesce(document ->> 'content_type', '') !~ '^[a-z]+/[a-z0-9.+-]{1,100}$' then
    raise exception 'content_type is a media type such as application/pdf' using errcode = '22023';
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
                                         document ->> 'file_name');
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
  'case_id or customer_id, policy_id?, file_name, content_type, size_bytes, checksum_sha256 '
  '(lowercase hex), uploaded_by (the user the API acts for), bucket? (documents), object_key? '
  '(must be the rule''s: cases/{case_id}/{id}/{file_name} or customers/{customer_id}/{id}/...)}. '
  'Returns the row, status stored, retain_until from its kind. The same id again with the same '
  'bytes returns it (and completes a row the Storage upload trigger made, with the retention of '
  'the kind given if longer than the one it had); other bytes: 23505. '
  '22023 for bad input or a customer/policy not the case''s; P0002 for an unknown case or '
  'customer. Checks no visibility: the API asks private.can_attach_document under the user''s '
  'role first. Security definer: service_role only.';

