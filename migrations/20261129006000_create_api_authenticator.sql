-- The login role the edge functions connect as: PostgREST's `authenticator` pattern. It can log
-- in and do nothing else: no table, column or function rights of its own, `noinherit` so its
-- memberships lend it nothing until a transaction switches role, and membership in exactly the
-- three API roles it switches to per request (`anon`, `authenticated`, `service_role`). A
-- handler that forgets to switch role therefore gets "permission denied", never the data.
-- functions/_shared/db.ts checks these properties on first use and refuses any other login.
--
-- Why not Supabase's own `authenticator`: the platform owns it and its password; ours is ours.
--
-- No password here: a migration holds no secret. Until one is set the role cannot log in.
-- On a hosted project an operator sets it once, from the SQL editor or psql as `postgres`:
--     alter role api_authenticator with password '<a long random password>';
-- and gives the functions its URL (the transaction pooler, user `api_authenticator.<ref>`):
--     supabase secrets set FUNCTIONS_DB_URL='postgresql://api_authenticator.<ref>:<password>@<pooler host>:6543/postgres'
-- Locally the scripts set a fixed development password after pushing migrations.

do $$
begin
  -- Roles belong to the cluster, not the database: another database of the same cluster may
  -- have created it already.
  if not exists (select from pg_catalog.pg_roles where rolname = 'api_authenticator') then
    create role api_authenticator
      login noinherit nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
  end if;
end
$$;

comment on role api_authenticator is
  'Login of the edge functions. No rights of its own; switches to anon, authenticated or '
  'service_role inside each transaction. Password set by the operator, never in a migration.';

grant anon, authenticated, service_role to api_authenticator;
