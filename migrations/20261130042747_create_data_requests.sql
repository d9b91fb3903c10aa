-- Requests made under the rights of the person (issue 13: DPDP Act 2023 ss. 11-12, GDPR arts.
-- 15, 17, 20), and the queue of stored objects to delete.
-- * public.data_requests: one row per export or erasure of a customer's data: who asked, why,
--   where it stands, and for an export the JSON object built in the background
--   (exports/{id}.json in the documents bucket) and until when its download is offered.
--   Admins read them; nobody writes them through the API roles: the security-definer functions
--   (private.request_customer_export, private.erase_customer, the export runner's claim and
--   completion functions) do.
-- * private.object_deletions: objects of the object store (Storage / S3) to delete, queued in
--   the transaction that stops needing them (an erasure, the retention purge, an expired
--   export), emptied by the housekeeping sweep with S3 DeleteObject (a missing object counts as
--   deleted, so a retry is harmless). One open row per object: queueing it twice is a no-op
--   (private.queue_object_deletion). Backend only.

create table public.data_requests (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('export', 'erasure')),
  customer_id uuid not null references public.customers (id) on delete cascade,
  reason text check (length(reason) <= 1000),
  requested_by uuid references auth.users (id) on delete set null,
  status text not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  lease_expires_at timestamptz,
  object_key text check (length(object_key) between 1 and 1024),
  byte_size bigint check (byte_size >= 0),
  error text check (length(error) <= 2000),
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  expires_at timestamptz,
  check ((status = 'done') = (completed_at is not null)),
  check (kind = 'export' or (object_key is null and byte_size is null and expires_at is null))
);

comment on table public.data_requests is
  'Requests under the rights of the person: kind export (a JSON document of everything held about '
  'a customer, built in the background and offered as a signed download until expires_at) or '
  'erasure (done at once, in one transaction). Read by admins; written only by the private '
  'functions. Kept after the download expires: the fact that a request was made and answered is '
  'itself evidence.';
comment on column public.data_requests.kind is 'export or erasure.';
comment on column public.data_requests.customer_id is 'The person the request is about (customers.id).';
comment on column public.data_requests.reason is 'Why it was made (the person''s request, a ticket), as the admin wrote it.';
comment on column public.data_requests.requested_by is 'The admin who made it (auth.users.id); null when made by the system.';
comment on column public.data_requests.status is
  'pending: waiting for the background runner; running: being built (see lease_expires_at); '
  'done: finished (an export''s object is stored); failed: gave up after 3 attempts (see error).';
comment on column public.data_requests.attempts is
  'How many times a runner has started building it; a failure before the third puts it back to pending.';
comment on column public.data_requests.lease_expires_at is
  'While running: until when the runner that claimed it owns it; after that another runner may '
  'claim it again (the first one died). Null otherwise.';
comment on column public.data_requests.object_key is
  'An export''s object in the documents bucket: exports/{id}.json. Null until done.';
comment on column public.data_requests.byte_size is 'Size of the export''s JSON in bytes.';
comment on column public.data_requests.error is 'The last failure, in words (no personal data).';
comment on column public.data_requests.started_at is 'When a runner last claimed it.';
comment on column public.data_requests.completed_at is 'When it was done.';
comment on column public.data_requests.expires_at is
  'For an export: when the download stops being offered (completed_at + EXPORT_DOWNLOAD_DAYS); '
  'the object is then deleted.';

create index data_requests_customer_idx on public.data_requests (customer_id, created_at desc);
create index data_requests_list_idx on public.data_requests (created_at desc, id desc);
create index data_requests_pending_idx on public.data_requests (created_at)
  where status in ('pending', 'running');
create index data_requests_requested_by_idx on public.data_requests (requested_by)
  where requested_by is not null;

alter table public.data_requests enable row level security;
revoke all on public.data_requests from anon, authenticated, service_role;
grant select on public.data_requests to authenticated, service_role;

create policy data_requests_select_admin on public.data_requests
  for select to authenticated
  using ((select private.is_admin()));

create table private.object_deletions (
  id bigint generated always as identity primary key,
  bucket text not null check (bucket ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
  object_key text not null check (length(object_key) between 1 and 1024),
  reason text not null check (reason in ('erasure', 'retention', 'export_expired')),
  queued_at timestamptz not null default now(),
  attempts integer not null default 0 check (attempts >= 0),
  last_error text,
  done_at timestamptz
);

comment on table private.object_deletions is
  'Objects of the object store to delete (bucket, object_key), queued by an erasure, the retention '
  'purge or an expired export, deleted by the housekeeping sweep (S3 DeleteObject; a missing '
  'object counts as deleted). done_at set once deleted; attempts and last_error say what went '
  'wrong meanwhile. Backend only.';

create unique index object_deletions_open_key on private.object_deletions (bucket, object_key)
  where done_at is null;
create index object_deletions_open_idx on private.object_deletions (queued_at) where done_at is null;

alter table private.object_deletions enable row level security;
revoke all on private.object_deletions from public, anon, authenticated, service_role;

create function private.queue_object_deletion(bucket text, object_key text, reason text)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  insert into private.object_deletions (bucket, object_key, reason)
  values (queue_object_deletion.bucket, queue_object_deletion.object_key, queue_object_deletion.reason)
  on conflict (bucket, object_key) where done_at is null do nothing
$$;

comment on function private.queue_object_deletion(text, text, text) is
  'Queues an object for the deletion sweep (reason erasure, retention or export_expired); an '
  'object already queued and not yet deleted is left as it is. Security definer: the queue is '
  'closed to every API role; callers are other private functions and the backend.';

revoke execute on function private.queue_object_deletion(text, text, text) from public;
grant execute on function private.queue_object_deletion(text, text, text) to service_role;
