-- The Storage side of documents (issue 12): the private bucket `documents` and the storage.objects
-- policies that let the desk upload and read a case's files straight through supabase-js, keyed on
-- the object's folder, cases/{case_id}/{document_id}/{file_name}, and on who sees that case.
-- * select: a desk member who sees the case (RLS of renewal_cases decides).
-- * insert: the same, for a key of exactly that shape (the document id a uuid the uploader draws).
-- * delete: admins only, and not an object whose document is under legal retention or hold.
-- * update: no policy, so no overwrite and no upsert through the API roles.
-- A trigger on storage.objects records a public.documents row for each object put under that
-- shape (kind 'other' unless the upload's metadata names a kind; uploaded_by the caller), so a
-- direct upload is listed like one made through the API; deleting an object deletes its row,
-- which the retention trigger refuses (55000) for what must be kept.
-- Storage is Supabase's (the storage schema exists on every project, and locally
-- supabase/platform/30_storage.sql stands in for it); the statements on it are skipped, with a
-- notice, where it does not exist.

-- The case of an object key cases/{case_id}/..., else null. Parses the text only.
create function private.document_object_case_id(object_name text) returns uuid
language sql immutable
set search_path = ''
as $$
  select case when split_part(object_name, '/', 1) = 'cases'
                   and split_part(object_name, '/', 2)
                       ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              then split_part(object_name, '/', 2)::uuid end
$$;

comment on function private.document_object_case_id(text) is
  'The case id of a Storage object key cases/{case_id}/... (lowercase uuid), else null.';

revoke execute on function private.document_object_case_id(text) from public;
grant execute on function private.document_object_case_id(text) to authenticated, service_role;

create function private.can_read_document_object(object_name text) returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce((select private.is_desk_member()), false)
     and exists (select 1 from public.renewal_cases c
                  where c.id = private.document_object_case_id(object_name))
$$;

comment on function private.can_read_document_object(text) is
  'Whether the caller may read the documents-bucket object with this key: a desk member who sees '
  'the case of its cases/{case_id}/ folder (RLS of renewal_cases decides). Security invoker: '
  'the storage.objects select policy.';

revoke execute on function private.can_read_document_object(text) from public;
grant execute on function private.can_read_document_object(text) to authenticated, service_role;

create function private.can_upload_document_object(object_name text) returns boolean
language sql stable
set search_path = ''
as $$
  select object_name ~ ('^cases/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/'
                        '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[^/]+$')
     and private.can_read_document_object(object_name)
$$;

comment on function private.can_upload_document_object(text) is
  'Whether the caller may put an object with this key in the documents bucket: the key is '
  'cases/{case_id}/{document_id}/{file_name} (lowercase uuids, one file name) and the caller is a '
  'desk member who sees the case. Security invoker: the storage.objects insert policy.';

revoke execute on function private.can_upload_document_object(text) from public;
grant execute on function private.can_upload_document_object(text) to authenticated, service_role;

create function private.can_delete_document_object(object_name text) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(private.is_admin(), false)
     and not exists (select 1 from public.documents d
                      where d.bucket = 'documents' and d.object_key = object_name
                        and (d.legal_hold
                             or d.retain_until > private.business_date(now())))
$$;

comment on function private.can_delete_document_object(text) is
  'Whether the caller may delete the documents-bucket object with this key: an admin, and its '
  'document (if any) is neither under legal hold nor before its retain_until. Security definer: '
  'the storage.objects delete policy must see the document whoever''s book it is in.';

revoke execute on function private.can_delete_document_object(text) from public;
grant execute on function private.can_delete_document_object(text) to authenticated, service_role;

-- Records the document of an object put in the documents bucket (direct uploads).
create function private.tg_objects__record_document() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  parts text[] := string_to_array(new.name, '/');
  named_kind text := coalesce(new.user_metadata ->> 'kind', new.metadata ->> 'kind');
  media text := lower(split_part(coalesce(new.metadata ->> 'mimetype', new.metadata ->> 'contentType', ''), ';', 1));
  size text := new.metadata ->> 'size';
begin
  if new.bucket_id is distinct from 'documents' or cardinality(parts) <> 4
     or parts[1] not in ('cases', 'customers') or parts[2] !~ uuid_pattern
     or parts[3] !~ uuid_pattern or parts[4] = '' then
    return null;
  end if;
  if exists (select 1 from public.documents d where d.id = parts[3]::uuid or d.object_key = new.name) then
    -- Already recorded (an API upload, a generated document): Storage's size and type fill gaps.
    update public.documents d
       set size_bytes = coalesce(d.size_bytes, size::bigint)
     where d.object_key = new.name and d.status = 'stored' and d.size_bytes is null
       and size ~ '^[0-9]{1,15}$';
    return null;
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
          new.bucket_id, new.name, parts[4],
          case when media ~ '^[a-z]+/[a-z0-9.+-]{1,100}$' then media else 'application/octet-stream' end,
          case when size ~ '^[0-9]{1,15}$' then size::bigint end,
          'stored', now(),
          coalesce(new.owner, case when new.owner_id ~ uuid_pattern then new.owner_id::uuid end));
  return null;
end;
$$;

comment on function private.tg_objects__record_document() is
  'After insert or a metadata change on storage.objects: an object of the documents bucket keyed '
  'cases/{case_id}/{document_id}/{file_name} (or customers/{customer_id}/...) of a known case (or '
  'customer) gets its public.documents row, status stored: kind from the upload''s metadata '
  '(kind) or other, content type and size from Storage''s metadata, uploaded_by the caller (else '
  'the object''s owner). An object already recorded only fills its missing size. Security '
  'definer: the desk may not insert documents itself.';

revoke execute on function private.tg_objects__record_document() from public;

create function private.tg_objects__forget_document() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.bucket_id = 'documents' then
    delete from public.documents d where d.bucket = old.bucket_id and d.object_key = old.name;
  end if;
  return null;
end;
$$;

comment on function private.tg_objects__forget_document() is
  'After delete on storage.objects: the document row of a deleted documents-bucket object goes '
  'too, so a document under legal retention or hold cannot lose its bytes that way either (its '
  'row''s delete trigger refuses with 55000, undoing the object''s delete). Security definer.';

revoke execute on function private.tg_objects__forget_document() from public;

do $$
begin
  if to_regclass('storage.objects') is null or to_regclass('storage.buckets') is null then
    raise notice 'no storage schema here: the documents bucket and its policies are not created';
    return;
  end if;

  insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
  values ('documents', 'documents', false, 10485760,
          array['application/pdf', 'image/png', 'image/jpeg', 'image/webp'])
  on conflict (id) do update
     set public = false, file_size_limit = excluded.file_size_limit,
         allowed_mime_types = excluded.allowed_mime_types;

  execute $sql$
    create policy objects_documents_select_member on storage.objects
      for select to authenticated
      using (bucket_id = 'documents' and private.can_read_document_object(name))
  $sql$;
  execute $sql$
    create policy objects_documents_insert_member on storage.objects
      for insert to authenticated
      with check (bucket_id = 'documents' and private.can_upload_document_object(name))
  $sql$;
  execute $sql$
    create policy objects_documents_delete_admin on storage.objects
      for delete to authenticated
      using (bucket_id = 'documents' and private.can_delete_document_object(name))
  $sql$;
  execute $sql$
    create trigger _900_record_document after insert or update of metadata on storage.objects
      for each row execute function private.tg_objects__record_document()
  $sql$;
  execute $sql$
    create trigger _900_forget_document after delete on storage.objects
      for each row execute function private.tg_objects__forget_document()
  $sql$;
end
$$;
