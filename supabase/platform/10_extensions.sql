-- The `extensions` schema Supabase installs extensions into, on every role's search path.

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
alter default privileges for role postgres in schema extensions
  grant all on functions to anon, authenticated, service_role;
alter database postgres set search_path = "$user", public, extensions;
