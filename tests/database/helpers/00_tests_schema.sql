-- Test helpers shaped like Basejump's supabase-test-helpers: create personas, act as them the
-- way PostgREST does, and check RLS coverage. Loaded into throwaway test databases only.

create extension if not exists pgtap with schema extensions;

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

-- Creates an auth user (and through the trigger, a profile) known by `identifier`.
create or replace function tests.create_user(
  identifier text,
  app_role text default 'agent',
  node_code text default null
) returns uuid
language sql
security definer
set search_path = ''
as $$
  insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
  values (
    gen_random_uuid(), 'authenticated', 'authenticated', identifier || '@tests.py360.test',
    jsonb_build_object('provider', 'email', 'role', app_role, 'node', node_code),
    jsonb_build_object('full_name', identifier, 'test_identifier', identifier)
  )
  returning id
$$;

create or replace function tests.get_user_id(identifier text) returns uuid
language sql stable
security definer
set search_path = ''
as $$
  select u.id from auth.users u where u.raw_user_meta_data ->> 'test_identifier' = identifier
$$;

-- Acts as the user for the rest of the transaction: role authenticated plus their JWT claims.
create or replace function tests.authenticate_as(identifier text) returns void
language plpgsql
set search_path = ''
as $$
declare
  user_id uuid := tests.get_user_id(identifier);
begin
  if user_id is null then
    raise exception 'tests.authenticate_as: no test user "%"', identifier;
  end if;
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', json_build_object(
    'sub', user_id, 'role', 'authenticated', 'aud', 'authenticated',
    'email', identifier || '@tests.py360.test'
  )::text, true);
end;
$$;

create or replace function tests.authenticate_as_service_role() returns void
language plpgsql
set search_path = ''
as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
end;
$$;

-- Back to an anonymous request: role anon, no claims.
create or replace function tests.clear_authentication() returns void
language plpgsql
set search_path = ''
as $$
begin
  perform set_config('role', 'anon', true);
  perform set_config('request.jwt.claims', '', true);
end;
$$;

-- Fails listing every table of `schema_name` without row-level security.
-- pgTAP's own functions call each other unqualified: this one keeps the extensions schema on its path.
create or replace function tests.rls_enabled(schema_name text) returns text
language sql
set search_path = extensions
as $$
  select extensions.is(
    array(
      select c.relname::text
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname = schema_name
         and c.relkind in ('r', 'p')
         and not c.relrowsecurity
       order by 1
    ),
    '{}'::text[],
    format('every table in schema %s has row level security enabled', schema_name)
  )
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;
