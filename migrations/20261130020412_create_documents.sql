-- Documents attached to a case, a policy or a customer (issue 12): policy copies, renewal notices,
-- receipts, KYC papers, endorsements. The bytes live in Supabase Storage (S3 protocol); this
-- table says what each object is, whose it is, who put it there and how long the law makes us
-- keep it.
-- * public.document_kind, public.documents: one row per stored object (object_key unique).
--   A document of a case takes its customer and policy from the case (a trigger; a mismatch is
--   refused); the object key follows from the owner: cases/{case_id}/{document_id}/{file_name},
--   else customers/{customer_id}/{document_id}/{file_name}.
-- * Retention: retain_until = the business date it was created + DOCUMENT_RETENTION_YEARS of its
--   kind (8 years for receipts, policy copies, endorsements and renewal notices; 5 for KYC; none
--   for other); a BEFORE DELETE trigger refuses (55000) deleting a document before that date or
--   while under legal hold, whoever asks: the API, an admin through REST, a cascade, the backend.
-- * RLS: the desk reads the documents of the cases it sees (the case's assignee is in its book),
--   and of the customers it sees for documents without a case; only admins delete; nobody
--   inserts or updates through the API roles: the functions below do, as security definer.
-- * private.can_attach_document(case, customer): asked by the API under the caller's role
--   before it stores anything. private.record_document(jsonb): the API's upload, after the bytes
--   are stored (service_role). private.register_generated_document(kind, case, payment): a
--   receipt or renewal notice registered pending, with a fresh link token for `go/d/{token}`.
--   private.mark_document_stored(id, size, checksum): the renderer, once the bytes are stored
--   (idempotent). private.document_for_link_token(token): the `go` function's look-up.

create type public.document_kind as enum (
  'policy_copy', 'renewal_notice', 'receipt', 'kyc', 'endorsement', 'other'
);

comment on type public.document_kind is
  'What a document is. policy_copy: the insurer''s policy schedule or certificate. '
  'renewal_notice: our notice that the renewal quote is ready (generated). receipt: our receipt '
  'for a credited payment (generated). kyc: the customer''s identity or address proof. '
  'endorsement: an insurer''s change to a policy. other: anything else (desk uploads default '
  'to it).';

insert into public.app_settings (key, value, description) values
  ('DOCUMENT_RETENTION_YEARS',
   '{"policy_copy": 8, "renewal_notice": 8, "receipt": 8, "endorsement": 8, "kyc": 5, "other": 0}',
   'How many years a document must be kept, per kind: retain_until = the business date it was '
   'created + these years, and it cannot be deleted before then (8 years for records of the '
   'insurance business, 5 for KYC papers after the relationship ends; 0: no retention). Changing '
   'it applies to documents created afterwards.');

create table public.documents (
  id uuid primary key default gen_random_uuid(),
  kind public.document_kind not null,
  customer_id uuid not null references public.customers (id) on delete cascade,
  case_id uuid references public.renewal_cases (id) on delete set null,
  policy_id uuid references public.policies (id) on delete set null,
  payment_id uuid unique references public.payments (id) on delete set null,
  bucket text not null default 'documents' check (bucket ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
  object_key text not null unique
    check (length(object_key) between 1 and 1024 and object_key !~ '(^/|//|(^|/)\.\.?(/|$))'),
  file_name text not null
    check (length(file_name) between 1 and 255 and file_name !~ '[/\\[:cntrl:]]'
           and file_name !~ '^\.\.?$'),
  content_type text not null check (content_type ~ '^[a-z]+/[a-z0-9.+-]{1,100}$'),
  size_bytes bigint check (size_bytes >= 0),
  checksum_sha256 text check (checksum_sha256 ~ '^[0-9a-f]{64}$'),
  status text not null default 'stored' check (status in ('pending', 'stored')),
  generated boolean not null default false,
  uploaded_by uuid references auth.users (id) on delete set null,
  retain_until date,
  legal_hold boolean not null default false,
  link_token_hash text unique check (link_token_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  stored_at timestamptz,
  check ((status = 'stored') = (stored_at is not null)),
  check (status = 'stored' or (size_bytes is null and checksum_sha256 is null)),
  check (kind = 'receipt' or payment_id is null),
  check (not generated or uploaded_by is null)
);

comment on table public.documents is
  'One row per document kept in Storage (bucket, object_key): policy copies, renewal notices, '
  'receipts, KYC papers, endorsements of a customer, optionally of one policy and renewal case. '
  'Visible with its case (or its customer when it has no case). Written only by the private '
  'document functions and the Storage upload trigger; deleted by admins only, never before '
  'retain_until nor under legal hold.';
comment on column public.documents.kind is 'What it is (see the document_kind type).';
comment on column public.documents.customer_id is
  'The customer it belongs to (customers.id); for a document of a case, the case''s customer.';
comment on column public.documents.case_id is
  'The renewal case it is attached to (renewal_cases.id), if any: RLS follows the case''s assignee.';
comment on column public.documents.policy_id is
  'The policy it is about (policies.id), if any; for a document of a case, the case''s policy.';
comment on column public.documents.payment_id is
  'For a receipt, the payment it acknowledges (payments.id): one receipt per payment.';
comment on column public.documents.bucket is 'The Storage bucket holding the bytes (documents).';
comment on column public.documents.object_key is
  'The object''s key in its bucket: cases/{case_id}/{document_id}/{file_name}, or '
  'customers/{customer_id}/{document_id}/{file_name} for a document without a case.';
comment on column public.documents.file_name is 'The file name shown and offered on download.';
comment on column public.documents.content_type is
  'The media type of the bytes, found from the bytes themselves on upload (application/pdf, '
  'image/png, image/jpeg, image/webp).';
comment on column public.documents.size_bytes is 'Size of the stored bytes in bytes; null while pending.';
comment on column public.documents.checksum_sha256 is
  'SHA-256 of the stored bytes, lowercase hex; null while pending and for files uploaded straight '
  'to Storage by the desk (Storage keeps only an MD5 ETag).';
comment on column public.documents.status is
  'pending: a generated document registered whose bytes are not rendered yet; stored: the bytes '
  'are in Storage.';
comment on column public.documents.generated is
  'True for documents we produce (receipts, renewal notices), false for uploads.';
comment on column public.documents.uploaded_by is
  'Who uploaded it (auth.users.id), stamped from the caller; null for generated documents.';
comment on column public.documents.retain_until is
  'IST date until which the law makes us keep it (created date + DOCUMENT_RETENTION_YEARS of its '
  'kind): deleting it before this date is refused. Null: no retention.';
comment on column public.documents.legal_hold is
  'While true (a dispute, a claim, an investigation) it cannot be deleted, whatever retain_until says.';
comment on column public.documents.link_token_hash is
  'SHA-256 (lowercase hex) of the random token of its short link <LINK_BASE_URL>/d/<token>, sent in '
  'messages; the token itself is never stored. Null when it has no link.';
comment on column public.documents.stored_at is 'When the bytes were stored; null while pending.';

create index documents_case_idx on public.documents (case_id, created_at desc, id) where case_id is not null;
create index documents_customer_idx on public.documents (customer_id, created_at desc, id);
create index documents_policy_idx on public.documents (policy_id, created_at desc, id) where policy_id is not null;
create index documents_uploaded_by_idx on public.documents (uploaded_by) where uploaded_by is not null;

-- The object key of a document: the rule every writer follows.
create function private.document_object_key(document_id uuid, case_id uuid, customer_id uuid,
                                            file_name text)
returns text
language sql immutable
set search_path = ''
as $$
  select case when case_id is not null then 'cases/' || case_id || '/' || document_id || '/' || file_name
              else 'customers/' || customer_id || '/' || document_id || '/' || file_name end
$$;

comment on function private.document_object_key(uuid, uuid, uuid, text) is
  'The object key of a document: cases/{case_id}/{document_id}/{file_name} when it has a case, '
  'else customers/{customer_id}/{document_id}/{file_name}.';

revoke execute on function private.document_object_key(uuid, uuid, uuid, text) from public;
grant execute on function private.document_object_key(uuid, uuid, uuid, text) to service_role;

-- Triggers: the owner from the case, the uploader from the caller, retention from the kind, and
-- the refusal to delete what must be kept.
create function private.tg_documents__fill_owner() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  case_customer uuid;
  case_policy uuid;
  policy_customer uuid;
begin
  if new.case_id is not null then
    select c.customer_id, c.policy_id into case_customer, case_policy
      from public.renewal_cases c where c.id = new.case_id;
    if not found then
      raise exception 'no renewal case %', new.case_id using errcode = '23503';
    end if;
    if new.customer_id is not null and new.customer_id <> case_customer then
      raise exception 'the document''s customer is not the customer of its case' using errcode = '22023';
    end if;
    if new.policy_id is not null and new.policy_id <> case_policy then
      raise exception 'the document''s policy is not the policy of its case' using errcode = '22023';
    end if;
    new.customer_id := case_customer;
    new.policy_id := case_policy;
  elsif new.policy_id is not null then
    select p.customer_id into policy_customer from public.policies p where p.id = new.policy_id;
    if not found then
      raise exception 'no policy %', new.policy_id using errcode = '23503';
    end if;
    if new.customer_id is not null and new.customer_id <> policy_customer then
      raise exception 'the document''s customer is not the customer of its policy' using errcode = '22023';
    end if;
    new.customer_id := policy_customer;
  end if;
  if new.customer_id is null then
    raise exception 'a document belongs to a case, a policy or a customer' using errcode = '22023';
  end if;
  return new;
end;
$$;

comment on function private.tg_documents__fill_owner() is
  'Before insert or a change of owner: a document of a case takes the case''s customer and policy, '
  'one of a policy the policy''s customer; a different customer or policy given is refused (22023).';

create trigger _100_fill_owner before insert or update of case_id, policy_id, customer_id
  on public.documents for each row execute function private.tg_documents__fill_owner();

create function private.tg_documents__stamp_uploader() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.generated then
    new.uploaded_by := null;
  else
    -- A signed-in caller is who uploaded it; the backend (no user) passes the user it acts for.
    new.uploaded_by := coalesce((select auth.uid()), new.uploaded_by);
  end if;
  return new;
end;
$$;

comment on function private.tg_documents__stamp_uploader() is
  'Before insert: uploaded_by is the signed-in caller (auth.uid()), whatever was given; the '
  'backend''s own calls (no user) keep the user they act for; null for generated documents.';

create trigger _110_stamp_uploader before insert on public.documents
  for each row execute function private.tg_documents__stamp_uploader();

create function private.tg_documents__set_retention() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  years integer;
begin
  if new.retain_until is null then
    years := coalesce((private.setting('DOCUMENT_RETENTION_YEARS') ->> new.kind::text)::integer, 0);
    if years > 0 then
      new.retain_until := (private.business_date(new.created_at) + make_interval(years => years))::date;
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_documents__set_retention() is
  'Before insert: retain_until, when not given, is the business date of created_at plus '
  'DOCUMENT_RETENTION_YEARS of the document''s kind (none for 0 or a kind not listed).';

create trigger _120_set_retention before insert on public.documents
  for each row execute function private.tg_documents__set_retention();

create function private.tg_documents__guard_retention() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.legal_hold then
    raise exception 'document % is under legal hold', old.id
      using errcode = '55000', hint = 'Lift the legal hold first.';
  end if;
  if old.retain_until is not null and private.business_date(now()) < old.retain_until then
    raise exception 'document % is under legal retention until %', old.id, old.retain_until
      using errcode = '55000';
  end if;
  return old;
end;
$$;

comment on function private.tg_documents__guard_retention() is
  'Before delete, whoever deletes (admin, backend, a cascade from the customer): refuses with '
  '55000 a document under legal hold or before its retain_until (business date).';

create trigger _100_guard_retention before delete on public.documents
  for each row execute function private.tg_documents__guard_retention();

-- Row-level security: read with the case (or the customer when there is no case); delete by admins.
alter table public.documents enable row level security;
revoke all on public.documents from public, anon, authenticated, service_role;
grant select, delete on public.documents to authenticated;
grant select, delete on public.documents to service_role;

create policy documents_select_member on public.documents
  for select to authenticated
  using (
    case when case_id is not null
         then exists (select 1 from public.renewal_cases c where c.id = documents.case_id)
         else exists (select 1 from public.customers cu where cu.id = documents.customer_id)
    end
  );

create policy documents_delete_admin on public.documents
  for delete to authenticated
  using ((select private.is_admin()));

-- May the caller attach a document here? Asked under the caller's role: RLS answers.
create function private.can_attach_document(case_id uuid, customer_id uuid)
returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  if not coalesce((select private.is_desk_member()), false) then
    return false;
  end if;
  if can_attach_document.case_id is not null then
    return exists (select 1 from public.renewal_cases c
                    where c.id = can_attach_document.case_id
                      and (can_attach_document.customer_id is null
                           or c.customer_id = can_attach_document.customer_id));
  end if;
  return can_attach_document.customer_id is not null
     and exists (select 1 from public.customers cu where cu.id = can_attach_document.customer_id);
end;
$$;

comment on function private.can_attach_document(uuid, uuid) is
  'Whether the caller may attach a document to this case (and its customer, when given: it must '
  'be the case''s) or, without a case, to this customer: true when the caller is a desk member '
  '(admin, manager, agent) who sees it (RLS of renewal_cases / customers decides); false for '
  'anyone else, service_role included. Security invoker: the API asks it under the user''s role '
  'before storing any byte.';

revoke execute on function private.can_attach_document(uuid, uuid) from public;
grant execute on function private.can_attach_document(uuid, uuid) to authenticated, service_role;

-- The API's upload, once the bytes are stored.
create function private.record_document(document jsonb)
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
         uploaded_by = coalesce(d.uploaded_by, excluded.uploaded_by)
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
  'bytes returns it (and completes a row the Storage upload trigger made); other bytes: 23505. '
  '22023 for bad input or a customer/policy not the case''s; P0002 for an unknown case or '
  'customer. Checks no visibility: the API asks private.can_attach_document under the user''s '
  'role first. Security definer: service_role only.';

revoke execute on function private.record_document(jsonb) from public;
grant execute on function private.record_document(jsonb) to service_role;

-- The renderer, once a generated document's bytes are stored.
create function private.mark_document_stored(document_id uuid, size_bytes bigint, checksum_sha256 text)
returns public.documents
language plpgsql
security definer
set search_path = ''
as $$
declare
  doc public.documents;
begin
  if mark_document_stored.size_bytes is null or mark_document_stored.size_bytes < 0
     or coalesce(mark_document_stored.checksum_sha256, '') !~ '^[0-9a-f]{64}$' then
    raise exception 'mark_document_stored needs the size in bytes and the SHA-256 in lowercase hex'
      using errcode = '22023';
  end if;
  select d.* into doc from public.documents d where d.id = document_id for update;
  if not found then
    raise exception 'no document %', document_id using errcode = 'P0002';
  end if;
  if doc.status = 'stored' then
    if doc.size_bytes = mark_document_stored.size_bytes
       and doc.checksum_sha256 = mark_document_stored.checksum_sha256 then
      return doc;
    end if;
    raise exception 'document % is already stored with other bytes', document_id using errcode = '55000';
  end if;
  update public.documents d
     set status = 'stored', size_bytes = mark_document_stored.size_bytes,
         checksum_sha256 = mark_document_stored.checksum_sha256, stored_at = now()
   where d.id = document_id
  returning d.* into doc;
  return doc;
end;
$$;

comment on function private.mark_document_stored(uuid, bigint, text) is
  'Marks a pending document stored with its size (bytes) and SHA-256 (lowercase hex). Idempotent: '
  'the same size and checksum again changes nothing and returns the row; other bytes for a stored '
  'document: 55000. 22023 for bad input, P0002 for an unknown document. Security definer: the '
  'renderer (service_role).';

revoke execute on function private.mark_document_stored(uuid, bigint, text) from public;
grant execute on function private.mark_document_stored(uuid, bigint, text) to service_role;

-- A generated document's row, once: a receipt per payment, a renewal notice per case and day.
create function private.ensure_generated_document(kind public.document_kind, case_id uuid,
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
    name := 'receipt-' || coalesce(pay.razorpay_payment_id, pay.id::text) || '.pdf';
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
    name := 'renewal-notice-' || renewal.case_number || '-'
            || to_char(private.business_date(now()), 'YYYYMMDD') || '.pdf';
  end if;
  doc_id := gen_random_uuid();
  insert into public.documents as d (id, kind, customer_id, case_id, policy_id, payment_id,
                                     object_key, file_name, content_type, status, generated)
  values (doc_id, ensure_generated_document.kind, renewal.customer_id, renewal.id, renewal.policy_id,
          pay.id, private.document_object_key(doc_id, renewal.id, renewal.customer_id, name), name,
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
  'business day; registered pending (application/pdf, key cases/{case_id}/{id}/receipt-<pay '
  'id>.pdf or renewal-notice-<case number>-<YYYYMMDD>.pdf) when there is none yet. No link token. '
  '22023 for another kind or a mismatch, P0002 for an unknown payment or case. Security definer: '
  'the payment and case triggers and register_generated_document.';

revoke execute on function private.ensure_generated_document(public.document_kind, uuid, uuid) from public;

create function private.register_generated_document(kind public.document_kind, case_id uuid,
                                                    payment_id uuid default null)
returns table (id uuid, link_token text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  doc_id uuid := private.ensure_generated_document(kind, case_id, payment_id);
  token text := private.random_base62(22);
begin
  update public.documents d
     set link_token_hash = encode(extensions.digest(token, 'sha256'), 'hex')
   where d.id = doc_id;
  return query select doc_id, token;
end;
$$;

comment on function private.register_generated_document(public.document_kind, uuid, uuid) is
  'Registers (once, as ensure_generated_document) the receipt of a payment or the renewal notice '
  'of a case, pending until rendered, and returns its id with a fresh link token: 22 random '
  'base62 characters (about 131 bits), of which only the SHA-256 is stored (link_token_hash); the '
  'link is <LINK_BASE_URL>/d/<token>. Each call draws a new token and the previous one stops '
  'working: call it once for the message that carries the link. Security definer: message '
  'producers (service_role).';

revoke execute on function private.register_generated_document(public.document_kind, uuid, uuid) from public;
grant execute on function private.register_generated_document(public.document_kind, uuid, uuid) to service_role;

-- The `go` function's look-up of /d/{token}.
create function private.document_for_link_token(token text)
returns table (id uuid, bucket text, object_key text, file_name text, content_type text, status text)
language sql stable
security definer
set search_path = ''
as $$
  select d.id, d.bucket, d.object_key, d.file_name, d.content_type, d.status
    from public.documents d
   where token ~ '^[0-9A-Za-z]{16,64}$'
     and d.link_token_hash = encode(extensions.digest(token, 'sha256'), 'hex')
$$;

comment on function private.document_for_link_token(text) is
  'The document whose short link carries this token (matched by its SHA-256): id, bucket, '
  'object_key, file_name, content_type, status (pending: not rendered yet). No row for an '
  'unknown or malformed token. Security definer: the `go` function (service_role).';

revoke execute on function private.document_for_link_token(text) from public;
grant execute on function private.document_for_link_token(text) to service_role;
