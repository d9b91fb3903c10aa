-- Security by construction, checked over the whole catalog so a future table or function that
-- forgets it fails here: RLS on every table, no catch-all policies, no public execute.
begin;
select plan(6);

select tests.rls_enabled('public');
select tests.rls_enabled('private');

select is(
  array(select format('%s.%s', tablename, policyname) from pg_policies
         where schemaname in ('public', 'private') and 'public' = any (roles) order by 1),
  '{}'::text[],
  'every policy names the role it is for'
);

select is(
  array(select format('%s.%s', tablename, policyname) from pg_policies
         where schemaname in ('public', 'private') and cmd = 'ALL' order by 1),
  '{}'::text[],
  'no policy is FOR ALL: one policy per operation'
);

select is(
  array(select p.oid::regprocedure::text
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname in ('public', 'private')
           and has_function_privilege('anon', p.oid, 'execute')
         order by 1),
  '{}'::text[],
  'anon may execute no function of ours'
);

select is(
  array(select p.oid::regprocedure::text
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname in ('public', 'private')
           and p.prosecdef
           and not (p.proconfig @> array['search_path=""'])
         order by 1),
  '{}'::text[],
  'every security definer function pins an empty search_path'
);

select * from finish();
rollback;
