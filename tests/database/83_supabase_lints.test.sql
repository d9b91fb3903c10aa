-- Supabase's database linter (supabase/splinter), run here on our catalog: the lints that judge
-- what the API exposes must stay silent (issue 11).
--   0010 security_definer_view: a view without security_invoker that anon or authenticated may
--        select, in a schema PostgREST exposes;
--   0016 materialized_view_in_api: a materialized view anon or authenticated may select there;
--   0017 foreign_table_in_api: the same for a foreign table.
-- Each lint skips the platform's own schemas and objects that belong to an extension, and takes
-- the exposed schemas from PostgREST's db_schemas: on this project `public` alone
-- (supabase/config.toml [api] schemas, checked by tests/functions/analyst_script.test.ts).
-- The analytics views are owner-rights views on purpose (analysts are no RLS subjects); they pass
-- because `analytics` is not exposed and, exposed or not, anon and authenticated hold no right on
-- it — which is proved here too, as is that the conditions do catch what they are about.
begin;
select plan(12);

-- The conditions of the three lints, for a given list of exposed schemas.
create function pg_temp.t83_lints(exposed text[])
returns table (lint text, relation text)
language sql stable as $$
  select case c.relkind when 'v' then 'security_definer_view'
                        when 'm' then 'materialized_view_in_api'
                        else 'foreign_table_in_api' end,
         format('%I.%I', n.nspname, c.relname)
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('v', 'm', 'f')
     and n.nspname = any (exposed)
     and n.nspname not in ('_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_config',
                           '_timescaledb_internal', 'auth', 'cron', 'extensions', 'graphql',
                           'graphql_public', 'information_schema', 'net', 'pgmq', 'pgroonga',
                           'pgsodium', 'pgsodium_masks', 'pgtle', 'pgbouncer', 'pg_catalog',
                           'realtime', 'repack', 'storage', 'supabase_functions',
                           'supabase_migrations', 'tiger', 'topology', 'vault')
     and (pg_catalog.has_table_privilege('anon', c.oid, 'SELECT')
          or pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT'))
     and not exists (select 1 from pg_catalog.pg_depend d
                      where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid
                        and d.deptype = 'e')
     and (c.relkind <> 'v'
          or not exists (select 1 from pg_catalog.unnest(c.reloptions) o (option)
                          where lower(o.option) in ('security_invoker=1', 'security_invoker=true',
                                                    'security_invoker=yes', 'security_invoker=on')))
$$;

select is(
  array(select lint || ' ' || relation from pg_temp.t83_lints(array['public']) order by 1),
  '{}'::text[],
  'no security-definer view, materialized view or foreign table in the exposed schema public'
);
select is(
  array(select lint || ' ' || relation
          from pg_temp.t83_lints(array['public', 'analytics', 'private']) order by 1),
  '{}'::text[],
  'none either were analytics or private exposed: the API roles may select nothing there'
);
select cmp_ok(
  (select count(*) from pg_class
    where relnamespace = 'analytics'::regnamespace and relkind = 'v'
      and not coalesce(reloptions @> array['security_invoker=true'], false)),
  '>=', 19::bigint,
  'while analytics holds the owner-rights views of the analysts'
);

-- The conditions catch what they are about.
create view public.t83_definer as select 1 as one;
create materialized view public.t83_snapshot as select 1 as one;
grant select on public.t83_definer, public.t83_snapshot to authenticated;
create view analytics.t83_granted as select 1 as one;
grant select on analytics.t83_granted to anon;
select set_eq(
  $$select lint || ' ' || relation from pg_temp.t83_lints(array['public', 'analytics'])$$,
  array['security_definer_view public.t83_definer',
        'materialized_view_in_api public.t83_snapshot',
        'security_definer_view analytics.t83_granted'],
  'the conditions find a definer view and a materialized view the API roles may read'
);
alter view public.t83_definer set (security_invoker = on);
select set_eq(
  $$select lint || ' ' || relation from pg_temp.t83_lints(array['public'])$$,
  array['materialized_view_in_api public.t83_snapshot'],
  'and no longer a view that runs as its caller'
);
select is(
  array(select lint || ' ' || relation from pg_temp.t83_lints(array['public'])
         where relation like 'analytics.%'),
  '{}'::text[],
  'nor a view of a schema that is not exposed'
);
drop view public.t83_definer;
drop materialized view public.t83_snapshot;
drop view analytics.t83_granted;

-- analytics grants the API roles nothing, now or by default.
select is(
  array(select r.rolname::text from pg_roles r
         where r.rolname in ('anon', 'authenticated', 'service_role', 'authenticator')
           and has_schema_privilege(r.oid, 'analytics', 'USAGE')
         order by 1),
  '{}'::text[],
  'anon, authenticated, service_role and authenticator cannot use the schema analytics'
);
select is(
  array(select c.oid::regclass::text || ' ' || r.rolname || ' ' || p.privilege
          from pg_class c
         cross join pg_roles r
         cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                 'TRIGGER']) p (privilege)
         where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
           and r.rolname in ('anon', 'authenticated', 'service_role')
           and (has_table_privilege(r.oid, c.oid, p.privilege)
                or (p.privilege in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                    and has_any_column_privilege(r.oid, c.oid, p.privilege)))
         order by 1),
  '{}'::text[],
  'anon, authenticated and service_role hold no right on any relation of analytics'
);
select is(
  array(select p.oid::regprocedure::text || ' ' || r.rolname
          from pg_proc p cross join pg_roles r
         where p.pronamespace = 'analytics'::regnamespace
           and r.rolname in ('anon', 'authenticated', 'service_role')
           and has_function_privilege(r.oid, p.oid, 'EXECUTE')
         order by 1),
  '{}'::text[],
  'anon, authenticated and service_role may execute no function of analytics'
);
create table analytics.t83_later (one integer);
create view analytics.t83_later_view as select 1 as one;
select is(
  array(select c.relname || ' ' || r.rolname
          from pg_class c cross join pg_roles r
         where c.oid in ('analytics.t83_later'::regclass, 'analytics.t83_later_view'::regclass)
           and r.rolname in ('anon', 'authenticated', 'service_role', 'analyst')
           and has_table_privilege(r.oid, c.oid, 'SELECT')
         order by 1),
  array['t83_later analyst', 't83_later_view analyst'],
  'a table or view added to analytics later is readable by analysts and by no API role'
);
select is(
  array(select r.rolname::text from pg_roles r
         where r.rolname in ('anon', 'authenticated', 'service_role')
           and has_table_privilege(r.oid, 'private.analytics_pseudonym_key', 'SELECT')
         order by 1),
  '{}'::text[],
  'no API role reads the pseudonyms'' key'
);
select ok(
  (select relrowsecurity from pg_class where oid = 'private.analytics_pseudonym_key'::regclass)
  and not exists (select 1 from pg_policies
                   where schemaname = 'private' and tablename = 'analytics_pseudonym_key'),
  'and its table has row-level security with no policy: only its owner reads it'
);

select * from finish();
rollback;
