-- The lease is planned at each call (migration 20261201143735): a plan kept for the session was
-- made at a dispatcher's first claim, often on an empty outbox, and then read and sorted the
-- whole outbox on every claim until autovacuum analyzed it again (3 s claims for up to a
-- minute in the drain bench). A `create or replace` that forgets the setting drops it; the
-- speed itself is the drain bench's (bench/messages.ts), not a test's.
begin;
select plan(1);
select ok((select 'plan_cache_mode=force_custom_plan' = any (p.proconfig)
             from pg_catalog.pg_proc p
            where p.oid = 'private.lease_messages(text, integer, timestamptz)'::regprocedure),
          'private.lease_messages plans each call');
select * from finish();
rollback;
