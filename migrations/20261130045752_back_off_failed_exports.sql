-- A failed export attempt waits before the next (issue 13): the object store down for a few
-- minutes failed an export for good after three housekeeping runs (one a minute on Supabase,
-- every 5 seconds locally). A failed attempt now puts the export back to pending with a
-- not-before time in lease_expires_at: 1 minute after the first failure, 5 after the second (the
-- third is final), and private.claim_data_export takes a pending export only once it has passed.

comment on column public.data_requests.lease_expires_at is
  'While running: until when the runner that claimed it owns it; after that another runner may '
  'claim it again (the first one died). While pending after a failed attempt: not to be tried '
  'again before then (1 minute after the first failure, 5 after the second). Null otherwise.';

create or replace function private.claim_data_export(lease interval default interval '5 minutes',
                                                     as_of timestamptz default now())
returns public.data_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  claimed public.data_requests;
begin
  -- A runner that died after its third attempt: the export failed.
  update public.data_requests r
     set status = 'failed', lease_expires_at = null,
         error = coalesce(r.error, 'the runner stopped before finishing (3 attempts)')
   where r.kind = 'export' and r.status = 'running' and r.lease_expires_at <= as_of
     and r.attempts >= 3;

  update public.data_requests r
     set status = 'running', attempts = r.attempts + 1, started_at = as_of,
         lease_expires_at = as_of + lease
   where r.id = (select q.id from public.data_requests q
                  where q.kind = 'export' and q.status in ('pending', 'running')
                    and (q.lease_expires_at is null or q.lease_expires_at <= as_of)
                    and (q.status = 'pending' or q.lease_expires_at is not null)
                  order by q.created_at, q.id
                  limit 1
                  for update skip locked)
  returning * into claimed;
  return claimed;
end;
$$;

comment on function private.claim_data_export(interval, timestamptz) is
  'Takes the oldest pending export whose back-off has passed (or one whose runner''s lease ran '
  'out) for this runner: status running, attempts + 1, lease_expires_at = as_of + lease. Returns '
  'it, or a row of nulls when there is none. Rows locked by another claim are skipped, so two '
  'runners never take the same export; the returned attempts is the runner''s fencing number for '
  'complete/fail. A running export past its lease after 3 attempts becomes failed. Security '
  'definer: the runner (service_role).';

create or replace function private.fail_data_export(request uuid, attempt integer, error text,
                                                    as_of timestamptz default now())
returns public.data_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  failed public.data_requests;
begin
  update public.data_requests r
     set status = case when r.attempts >= 3 then 'failed' else 'pending' end,
         error = left(coalesce(fail_data_export.error, 'unknown error'), 2000),
         lease_expires_at = case when r.attempts >= 3 then null
                                 else as_of + interval '1 minute' * power(5, r.attempts - 1) end
   where r.id = request and r.kind = 'export' and r.status = 'running' and r.attempts = attempt
  returning * into failed;
  return failed;
end;
$$;

comment on function private.fail_data_export(uuid, integer, text, timestamptz) is
  'Records a failed attempt of an export (error, in words without personal data): back to pending '
  'for another try after a back-off (lease_expires_at: 1 minute after the first failure, 5 after '
  'the second), or failed after the third attempt. A row of nulls when it is not running under '
  'this attempt (nothing changes). Security definer: the runner (service_role).';
