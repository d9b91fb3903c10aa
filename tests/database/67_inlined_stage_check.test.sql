-- private.case_stage_is_final is inlined into the queries that filter the book by it (migration
-- 20261129184110): no function call per case, and still the same answer for every stage.
begin;
select plan(2);
select is((select proconfig from pg_catalog.pg_proc
            where oid = 'private.case_stage_is_final(public.case_stage)'::regprocedure), null,
          'no setting of its own, so Postgres may inline it');
select is(array(select s::text from unnest(enum_range(null::public.case_stage)) s
                 where private.case_stage_is_final(s) order by 1),
          array['lapsed', 'lost', 'not_taken', 'renewed'], 'final: renewed, lapsed, lost, not taken');
select * from finish();
rollback;
