-- An export holds everything about the person in clear; after their erasure it must not be
-- offered nor kept (issue 13).
-- * Erasing a customer (customers.erased_at set) ends the download of their finished exports at
--   once (expires_at = now()): GET /api/data-requests/{id} no longer signs a URL, and the next
--   housekeeping run queues the object for deletion (private.expire_data_exports, with the
--   bucket the functions use) and clears object_key.
-- * An export being built while the customer is erased may have read them before the erasure:
--   private.complete_data_export marks it done but already expired (expires_at = completion)
--   when the erasure is stamped after, or in the 5 minutes before, the attempt began,
--   so it is never offered and its object goes with the next run. Exports still pending are
--   built after the erasure, from the pseudonymised rows.

create function private.tg_customers__end_exports_on_erasure() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.data_requests r
     set expires_at = least(r.expires_at, now())
   where r.customer_id = new.id and r.kind = 'export' and r.status = 'done'
     and r.object_key is not null;
  return null;
end;
$$;

comment on function private.tg_customers__end_exports_on_erasure() is
  'After a customer is erased: their finished exports'' downloads end now (expires_at), so the '
  'next housekeeping run deletes the objects. Security definer: data_requests has no write grant.';

revoke execute on function private.tg_customers__end_exports_on_erasure() from public;

create trigger _910_end_exports_on_erasure after update of erased_at on public.customers
  for each row when (old.erased_at is null and new.erased_at is not null)
  execute function private.tg_customers__end_exports_on_erasure();

create or replace function private.complete_data_export(request uuid, attempt integer, object_key text,
                                                        byte_size bigint, as_of timestamptz default now())
returns public.data_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  done public.data_requests;
begin
  update public.data_requests r
     set status = 'done', object_key = complete_data_export.object_key,
         byte_size = complete_data_export.byte_size, error = null, completed_at = as_of,
         lease_expires_at = null,
         -- Erased since this attempt began (or just before: an erasure stamps the start of its
         -- transaction, which may commit after the export read): it may hold what was erased.
         expires_at = case when exists (select 1 from public.customers c
                                         where c.id = r.customer_id
                                           and c.erased_at >= r.started_at - interval '5 minutes')
                           then as_of
                           else as_of + make_interval(days => private.export_download_days()) end
   where r.id = request and r.kind = 'export' and r.status = 'running' and r.attempts = attempt
  returning * into done;
  if done.id is null then
    raise exception 'export % is not running under attempt %', request, attempt using errcode = '55000';
  end if;
  return done;
end;
$$;

comment on function private.complete_data_export(uuid, integer, text, bigint, timestamptz) is
  'Marks an export done once its object is stored: object_key, byte_size (bytes), completed_at, '
  'expires_at = as_of + EXPORT_DOWNLOAD_DAYS days (as_of itself when the customer was erased '
  'since the attempt began, or in the 5 minutes before: never offered, deleted by the next housekeeping run). 55000 when it '
  'is not running under this attempt (another runner took it over): the caller''s object is then '
  'not the one offered. Security definer: the runner (service_role).';
