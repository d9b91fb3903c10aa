-- The local platform shim behaves like Supabase: auth helpers read PostgREST's claims, and the
-- API roles exist with the powers Supabase gives them.
begin;
select plan(11);

select has_role('anon');
select has_role('authenticated');
select has_role('service_role');
select ok(
  (select rolbypassrls from pg_roles where rolname = 'service_role'),
  'service_role bypasses row-level security'
);

select is(auth.uid(), null, 'auth.uid() is null without claims');

set local role authenticated;
set local request.jwt.claims to
  '{"sub": "5b3f7d0e-2c1a-4b8e-9f00-000000000abc", "role": "authenticated", "email": "x@y.test"}';
select is(auth.uid(), '5b3f7d0e-2c1a-4b8e-9f00-000000000abc'::uuid, 'auth.uid() reads sub from request.jwt.claims');
select is(auth.role(), 'authenticated', 'auth.role() reads role from the claims');
select is(auth.jwt() ->> 'email', 'x@y.test', 'auth.jwt() returns the whole claims object');
reset role;

select is(storage.foldername('cases/RC-1/policy.pdf'), array['cases', 'RC-1'], 'storage.foldername');
select is(storage.filename('cases/RC-1/policy.pdf'), 'policy.pdf', 'storage.filename');
select is(storage.extension('cases/RC-1/policy.pdf'), 'pdf', 'storage.extension');

select * from finish();
rollback;
