-- Export of everything held about a person (issue 13: DPDP Act 2023 s. 11, GDPR arts. 15 and 20),
-- found by walking the catalog, so that a table added later is exported without a code change.
-- * private.customer_data_links(): the links along which a person's rows are found, read from
--   pg_catalog: every foreign key between tables of public and private; implied keys (a column
--   without a constraint named and typed like a foreign-key column elsewhere that always points
--   to the same table: case_risk_scores.case_id); the Razorpay journal's polymorphic subject_id;
--   and payment webhooks (payment_events.payload) by the Razorpay ids of the person's rows.
-- * private.customer_export(customer, max_depth): from the customers row, every row of a table
--   that references a collected row (depth-bounded, 8), where a row that names a customer must
--   name this one (an AI call cached from theirs for another customer is not theirs); plus the
--   audit_log rows of the collected rows. Every reachable table is listed, [] when empty.
--   Documents are listed (their metadata), not their bytes. Secrets are left out: bytea columns
--   (ciphertexts, keys) and columns named like hashes, secrets, passwords or tokens.
-- * The export job: private.request_customer_export (admins, through the API as the caller),
--   private.claim_data_export (a lease, so two runners never build the same export; a fencing
--   attempt number), private.complete_data_export / private.fail_data_export (3 attempts), and
--   private.expire_data_exports (an export past expires_at: its object is queued for deletion).
-- * private.claim_object_deletions / private.finish_object_deletion: the deletion sweep's queue.

insert into public.app_settings (key, value, description) values
  ('EXPORT_DOWNLOAD_DAYS', '7',
   'How many days the JSON export of a customer''s data (POST /api/customers/{id}/export) can be '
   'downloaded after it is built: a whole number of 1 to 90 (else 7). The object is deleted after.')
on conflict (key) do nothing;

alter table private.object_deletions add column attempted_at timestamptz;
comment on column private.object_deletions.attempted_at is
  'When a sweep last took it; another sweep leaves it alone for a minute, a failed one is retried '
  'after a back-off growing with attempts.';

create function private.customer_data_links()
returns table (child regclass, child_columns text[], parent regclass, parent_columns text[], kind text)
language sql
stable
set search_path = ''
as $$
  with tables as (
    select c.oid
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'private') and c.relkind in ('r', 'p')
       and c.oid <> 'public.audit_log'::regclass
  ),
  fks as (
    select con.conrelid, con.confrelid,
           array(select a.attname::text from unnest(con.conkey) with ordinality k(num, ord)
                   join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num
                  order by k.ord) as child_columns,
           array(select a.attname::text from unnest(con.confkey) with ordinality k(num, ord)
                   join pg_catalog.pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num
                  order by k.ord) as parent_columns
      from pg_catalog.pg_constraint con
     where con.contype = 'f'
       and con.conrelid in (select oid from tables) and con.confrelid in (select oid from tables)
  ),
  -- Single-column foreign keys by column name and type: a name that always points to one place.
  named as (
    select f.child_columns[1] as name, a.atttypid, min(f.confrelid::oid) as confrelid,
           min(f.parent_columns[1]) as parent_column
      from fks f
      join pg_catalog.pg_attribute a on a.attrelid = f.conrelid and a.attname = f.child_columns[1]
     where cardinality(f.child_columns) = 1
     group by 1, 2
    having count(distinct (f.confrelid, f.parent_columns[1])) = 1
  ),
  implied as (
    select a.attrelid as conrelid, nm.confrelid, array[a.attname::text] as child_columns,
           array[nm.parent_column] as parent_columns
      from pg_catalog.pg_attribute a
      join named nm on nm.name = a.attname and nm.atttypid = a.atttypid
     where a.attrelid in (select oid from tables) and a.attnum > 0 and not a.attisdropped
       and a.attrelid <> nm.confrelid
       and not exists (select 1 from fks f where f.conrelid = a.attrelid
                                            and f.child_columns[1] = a.attname::text)
  ),
  -- The Razorpay journal names its subject (an order, a refund, a mandate ...) by id alone.
  polymorphic as (
    select 'private.razorpay_calls'::regclass::oid as conrelid, a.attrelid as confrelid,
           array['subject_id'] as child_columns, array['id'] as parent_columns
      from pg_catalog.pg_attribute a
     where a.attrelid in (select oid from tables) and a.attname = 'id'
       and a.atttypid = 'uuid'::regtype and a.attrelid <> 'private.razorpay_calls'::regclass
  ),
  -- Payment webhooks carry the Razorpay ids of the payments, orders, links and refunds they are about.
  vendor_ids as (
    select 'public.payment_events'::regclass::oid as conrelid, a.attrelid as confrelid,
           array['payload'] as child_columns,
           array_agg(a.attname::text order by a.attnum) as parent_columns
      from pg_catalog.pg_attribute a
     where a.attrelid in (select oid from tables) and a.attname ~ '^razorpay_[a-z_]+_id$'
       and a.attnum > 0 and not a.attisdropped
     group by a.attrelid
  )
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'foreign_key' from fks
  union all
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'implied' from implied
  union all
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'polymorphic' from polymorphic
  union all
  select conrelid::regclass, child_columns, confrelid::regclass, parent_columns, 'vendor_ids' from vendor_ids
$$;

comment on function private.customer_data_links() is
  'The links along which a customer''s rows are found, read from the catalog: (child, its columns) '
  'points to (parent, its columns). kind foreign_key: a constraint between tables of public and '
  'private; implied: a column with no constraint named and typed like a foreign-key column that '
  'always points to one table (case_risk_scores.case_id); polymorphic: private.razorpay_calls.'
  'subject_id to any uuid id; vendor_ids: payment_events.payload holding a parent''s Razorpay ids '
  '(parent_columns). audit_log is joined separately (table_name, row_id).';

revoke execute on function private.customer_data_links() from public;
grant execute on function private.customer_data_links() to service_role;

create function private.customer_export(customer uuid, max_depth integer default 8)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  collected jsonb;          -- 'schema.table' -> array of its rows found so far
  fresh jsonb;              -- rows found in the last round, by table: the next round starts from them
  next_fresh jsonb;
  link record;
  child_name text;
  found_rows jsonb;
  new_rows jsonb;
  guard text;
  omitted text[];
  depth integer := 0;
  audit jsonb;
  links jsonb := (select jsonb_agg(jsonb_build_object(
                           'child', l.child::oid, 'child_name', l.child::text,
                           'child_columns', l.child_columns, 'parent', l.parent::oid,
                           'parent_name', l.parent::text, 'parent_columns', l.parent_columns,
                           'kind', l.kind))
                    from private.customer_data_links() l);
begin
  select jsonb_build_object('public.customers', jsonb_build_array(to_jsonb(c)))
    into collected
    from public.customers c where c.id = customer;
  if collected is null then
    raise exception 'no customer %', customer using errcode = 'P0002';
  end if;
  fresh := collected;

  while fresh <> '{}'::jsonb and depth < max_depth loop
    depth := depth + 1;
    next_fresh := '{}'::jsonb;
    for link in
      select l.* from jsonb_to_recordset(links) l(child oid, child_name text, child_columns text[],
                                                  parent oid, parent_name text,
                                                  parent_columns text[], kind text)
       where fresh ? l.parent_name
       order by l.child_name, l.parent_name, l.kind
    loop
      child_name := link.child_name;
      -- A row that names a customer belongs to that customer only.
      select coalesce(string_agg(format('t.%I = $2', f.child_columns ->> 0), ' and '), 'true')
        into guard
        from jsonb_array_elements(links) e, jsonb_to_record(e) f(child oid, parent oid, kind text,
                                                                   child_columns jsonb)
       where f.child = link.child and f.parent = 'public.customers'::regclass::oid
         and f.kind in ('foreign_key', 'implied') and jsonb_array_length(f.child_columns) = 1;
      -- Secrets stay out: ciphertexts and keys (bytea), hashes, tokens, passwords.
      select coalesce(array_agg(a.attname::text), '{}') into omitted
        from pg_catalog.pg_attribute a
       where a.attrelid = link.child and a.attnum > 0 and not a.attisdropped
         and (a.atttypid = 'bytea'::regtype
              or a.attname ~ '(_hash$|secret|password|verifier|^access_token$|^refresh_token$)');
      if link.kind = 'vendor_ids' then
        execute format(
          'select coalesce(jsonb_agg(to_jsonb(t) - $3), ''[]'') from %s t
            where exists (select 1 from jsonb_path_query(t.%I, ''strict $.** ? (@.type() == "string")'') v
                           where v #>> ''{}'' in (select x from jsonb_populate_recordset(null::%s, $1) p,
                                                    unnest(array[%s]::text[]) x where x is not null))
              and %s',
          link.child::regclass, link.child_columns[1], link.parent::regclass,
          (select string_agg(format('p.%I::text', c), ', ') from unnest(link.parent_columns) c),
          guard)
          into found_rows
          using fresh -> link.parent_name, customer, omitted;
      else
        execute format(
          'select coalesce(jsonb_agg(to_jsonb(t) - $3), ''[]'') from %s t
            where (%s) in (select %s from jsonb_populate_recordset(null::%s, $1) p) and %s',
          link.child::regclass,
          (select string_agg(format('t.%I', c), ', ') from unnest(link.child_columns) c),
          (select string_agg(format('p.%I', c), ', ') from unnest(link.parent_columns) c),
          link.parent::regclass, guard)
          into found_rows
          using fresh -> link.parent_name, customer, omitted;
      end if;
      select coalesce(jsonb_agg(r), '[]') into new_rows
        from (select r from jsonb_array_elements(found_rows) r
              except
              select e from jsonb_array_elements(coalesce(collected -> child_name, '[]')) e) x;
      collected := jsonb_set(collected, array[child_name],
                             coalesce(collected -> child_name, '[]') || new_rows);
      if jsonb_array_length(new_rows) > 0 then
        next_fresh := jsonb_set(next_fresh, array[child_name],
                                coalesce(next_fresh -> child_name, '[]') || new_rows);
      end if;
    end loop;
    fresh := next_fresh;
  end loop;

  -- Every table within reach is listed, [] when it holds nothing of theirs.
  select collected || coalesce(jsonb_object_agg(r.name, '[]'::jsonb)
                                 filter (where not collected ? r.name), '{}')
    into collected
    from (with recursive reach(name, depth) as (
            select 'public.customers', 0
            union
            select l.child_name, r.depth + 1
              from reach r
              join jsonb_to_recordset(links) l(child_name text, parent_name text)
                on l.parent_name = r.name
             where r.depth < max_depth)
          select distinct reach.name from reach) r;

  -- The audit trail of the collected rows (tables whose rows have a uuid id).
  select coalesce(jsonb_agg(to_jsonb(a) order by a.at, a.id), '[]') into audit
    from public.audit_log a
   where a.row_id in (
           select (r ->> 'id')::uuid
             from jsonb_each(collected) t(name, rows), jsonb_array_elements(t.rows) r
            where t.name like 'public.%' and split_part(t.name, '.', 2) = a.table_name
              and r ->> 'id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');

  return jsonb_build_object(
    'format', 'py360-customer-export/1',
    'customer_id', customer,
    'generated_at', now(),
    'note', 'Every row held about the customer, by table (schema.table), found by following the '
            'database''s references from the customer; public.audit_log holds the history of '
            'those rows. Documents are listed (public.documents), not included: ask for a copy.',
    'tables', collected || jsonb_build_object('public.audit_log', audit));
end;
$$;

comment on function private.customer_export(uuid, integer) is
  'Everything held about a customer as one JSON document: {format, customer_id, generated_at, note, '
  'tables: {"schema.table": [rows]}}, found along private.customer_data_links() from the customers '
  'row, up to max_depth links away; a row naming a customer must name this one; every table reached '
  'is listed ([] when it holds nothing of theirs); public.audit_log holds the audit rows of the '
  'collected rows. Documents as metadata, not bytes; bytea, hash, token, secret and password '
  'columns left out. P0002 for an unknown customer. Security definer: it reads every table, RLS '
  'aside; only the export runner (service_role) calls it.';

revoke execute on function private.customer_export(uuid, integer) from public;
grant execute on function private.customer_export(uuid, integer) to service_role;

-- The export job.

create function private.request_customer_export(customer uuid, reason text default null)
returns public.data_requests
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  created public.data_requests;
begin
  if not coalesce(private.is_admin(), false) then
    raise exception 'only admins may export a customer''s data' using errcode = '42501';
  end if;
  if not exists (select 1 from public.customers c where c.id = customer) then
    raise exception 'no customer %', customer using errcode = 'P0002';
  end if;
  insert into public.data_requests (kind, customer_id, reason, requested_by)
  values ('export', customer, nullif(btrim(reason), ''), (select auth.uid()))
  returning * into created;
  perform pg_notify('housekeeping', 'export');
  return created;
end;
$$;

comment on function private.request_customer_export(uuid, text) is
  'Records an export of a customer''s data (status pending) for the background runner, by the '
  'calling admin (requested_by = auth.uid()); notifies channel housekeeping. 42501 for anyone but '
  'an active admin, P0002 for an unknown customer. Security definer: data_requests has no write '
  'grant; the API calls it as the caller.';

revoke execute on function private.request_customer_export(uuid, text) from public;
grant execute on function private.request_customer_export(uuid, text) to authenticated;

create function private.export_download_days() returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  given text := private.setting('EXPORT_DOWNLOAD_DAYS') #>> '{}';
begin
  if given ~ '^[0-9]{1,2}$' and given::integer between 1 and 90 then
    return given::integer;
  end if;
  if given is not null then
    raise warning 'EXPORT_DOWNLOAD_DAYS is not a whole number of days (1 to 90): 7 used';
  end if;
  return 7;
end;
$$;

comment on function private.export_download_days() is
  'The setting EXPORT_DOWNLOAD_DAYS: days an export can be downloaded (1 to 90; else 7, with a warning).';

revoke execute on function private.export_download_days() from public;

create function private.claim_data_export(lease interval default interval '5 minutes',
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
                  where q.kind = 'export'
                    and (q.status = 'pending' or (q.status = 'running' and q.lease_expires_at <= as_of))
                  order by q.created_at, q.id
                  limit 1
                  for update skip locked)
  returning * into claimed;
  return claimed;
end;
$$;

comment on function private.claim_data_export(interval, timestamptz) is
  'Takes the oldest pending export (or one whose runner''s lease ran out) for this runner: status '
  'running, attempts + 1, lease_expires_at = as_of + lease. Returns it, or a row of nulls when '
  'there is none. Rows locked by another claim are skipped, so two runners never take the same '
  'export; the returned attempts is the runner''s fencing number for complete/fail. A running '
  'export past its lease after 3 attempts becomes failed. Security definer: the runner (service_role).';

revoke execute on function private.claim_data_export(interval, timestamptz) from public;
grant execute on function private.claim_data_export(interval, timestamptz) to service_role;

create function private.complete_data_export(request uuid, attempt integer, object_key text,
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
         expires_at = as_of + make_interval(days => private.export_download_days())
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
  'expires_at = as_of + EXPORT_DOWNLOAD_DAYS days. 55000 when it is not running under this '
  'attempt (another runner took it over): the caller''s object is then not the one offered. '
  'Security definer: the runner (service_role).';

revoke execute on function private.complete_data_export(uuid, integer, text, bigint, timestamptz) from public;
grant execute on function private.complete_data_export(uuid, integer, text, bigint, timestamptz) to service_role;

create function private.fail_data_export(request uuid, attempt integer, error text,
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
         lease_expires_at = null
   where r.id = request and r.kind = 'export' and r.status = 'running' and r.attempts = attempt
  returning * into failed;
  return failed;
end;
$$;

comment on function private.fail_data_export(uuid, integer, text, timestamptz) is
  'Records a failed attempt of an export (error, in words without personal data): back to pending '
  'for another try, or failed after the third attempt. A row of nulls when it is not running under '
  'this attempt (nothing changes). Security definer: the runner (service_role).';

revoke execute on function private.fail_data_export(uuid, integer, text, timestamptz) from public;
grant execute on function private.fail_data_export(uuid, integer, text, timestamptz) to service_role;

create function private.expire_data_exports(bucket text, as_of timestamptz default now())
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  expired integer;
begin
  with gone as (
    select r.id, r.object_key
      from public.data_requests r
     where r.kind = 'export' and r.status = 'done' and r.expires_at <= as_of
       and r.object_key is not null
       for update skip locked
  ), cleared as (
    update public.data_requests r set object_key = null from gone g where r.id = g.id
  )
  select count(*) into expired
    from gone g,
         lateral (select private.queue_object_deletion(expire_data_exports.bucket, g.object_key,
                                                       'export_expired')) q;
  return expired;
end;
$$;

comment on function private.expire_data_exports(text, timestamptz) is
  'Exports past their expires_at: their objects (in bucket) are queued for deletion (reason '
  'export_expired) and object_key is cleared, so the download is no longer offered; the request '
  'row stays as evidence. Returns how many. Idempotent. Security definer: the housekeeping run '
  'and the retention purge (service_role).';

revoke execute on function private.expire_data_exports(text, timestamptz) from public;
grant execute on function private.expire_data_exports(text, timestamptz) to service_role;

-- The object-deletion sweep.

create function private.claim_object_deletions(batch integer default 50, as_of timestamptz default now())
returns table (id bigint, bucket text, object_key text, attempts integer)
language sql
volatile
security definer
set search_path = ''
as $$
  update private.object_deletions d
     set attempts = d.attempts + 1, attempted_at = as_of
   where d.id in (select q.id from private.object_deletions q
                   where q.done_at is null
                     and (q.attempted_at is null
                          or q.attempted_at <= as_of - least(interval '1 minute' * power(2, q.attempts - 1),
                                                             interval '6 hours'))
                   order by q.queued_at, q.id
                   limit greatest(batch, 1)
                   for update skip locked)
  returning d.id, d.bucket, d.object_key, d.attempts
$$;

comment on function private.claim_object_deletions(integer, timestamptz) is
  'Takes up to batch open deletions for this sweep (attempts + 1, attempted_at = as_of), oldest '
  'first; one tried recently is left alone (1 minute after its first try, doubling with each '
  'attempt, at most 6 hours). Security definer: the sweep (service_role).';

revoke execute on function private.claim_object_deletions(integer, timestamptz) from public;
grant execute on function private.claim_object_deletions(integer, timestamptz) to service_role;

create function private.finish_object_deletion(deletion bigint, error text default null,
                                               as_of timestamptz default now())
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update private.object_deletions d
     set done_at = case when finish_object_deletion.error is null then as_of end,
         last_error = left(finish_object_deletion.error, 2000)
   where d.id = deletion and d.done_at is null
$$;

comment on function private.finish_object_deletion(bigint, text, timestamptz) is
  'Records the outcome of deleting a queued object: done (done_at) when error is null, else '
  'last_error, left open for the next sweep. Security definer: the sweep (service_role).';

revoke execute on function private.finish_object_deletion(bigint, text, timestamptz) from public;
grant execute on function private.finish_object_deletion(bigint, text, timestamptz) to service_role;
