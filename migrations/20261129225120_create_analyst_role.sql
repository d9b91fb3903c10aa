-- The analysts' group role: reads the `analytics` schema and nothing else (issue 11).
-- NOLOGIN: a person gets their own login role that is a member of it (`npm run analyst -- add
-- <name>` locally; the README gives the SQL for a Supabase project). Never Supabase's
-- `supabase_read_only_user`, which reads every schema. No BYPASSRLS, no writes, no `public` or
-- `private`, and a statement timeout so one heavy query cannot hold the database.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'analyst') then
    create role analyst nologin nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
  end if;
end
$$;
comment on role analyst is
  'Analysts (group role, no login): read-only access to the analytics schema, personal data masked.';
-- Postgres applies a role's settings to sessions that log in as it, not to its members: these
-- are the defaults that `npm run analyst -- add` copies onto each analyst's login role.
alter role analyst set statement_timeout = '60s';
alter role analyst set idle_in_transaction_session_timeout = '5min';
alter role analyst set default_transaction_read_only = on;

grant usage on schema analytics to analyst;
-- Whatever later migrations create in `analytics` is readable by analysts and by nobody else.
alter default privileges in schema analytics grant select on tables to analyst;
alter default privileges in schema analytics revoke execute on functions from public;
alter default privileges in schema analytics grant execute on functions to analyst;
