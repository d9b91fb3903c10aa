-- The daily jobs' successor step reads only the terms noted in private.successor_marks (issue 9's
-- speed): a successor inserted or re-pointed notes its predecessor, a term that becomes active
-- again notes itself, in replica mode too; a run takes the notes it acts on; a term with no
-- successor is left alone; nobody but the jobs reads the notes.
begin;
select plan(17);
select tests.create_test_org();

create temporary table clock as select '2031-06-01 03:30+00'::timestamptz as as_of;
insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000117', 'Successor Customer');
-- Terms ending a year from now (no case yet): their successors renew them outright.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
select number, 'motor', 'Test', 'c0000000-0000-4000-8000-000000000117', tests.get_user_id('agent_a'),
       1200000, 100000000, date '2031-06-01' - 30, date '2031-06-01' + 335
  from unnest(array['T-SM-A', 'T-SM-B', 'T-SM-C', 'T-SM-D']) as number;

create function pg_temp.successor(number text, of_number text) returns void
language sql
as $$
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, renewed_from_policy_id)
  select number, 'motor', 'Test', p.customer_id, p.agent_id, 1300000, 100000000, p.end_date + 1,
         p.end_date + 365, p.id
    from public.policies p where p.policy_number = of_number
$$;
create function pg_temp.status(number text) returns text
language sql stable
as $$ select status::text from public.policies where policy_number = number $$;
create function pg_temp.jobs() returns integer
language sql
as $$ select (private.run_daily_renewal_jobs((select as_of from clock)) ->> 'renewed_by_successor')::integer $$;

-- Nothing left over from the book: the step starts empty.
select pg_temp.jobs();
select is((select count(*) from private.successor_marks), 0::bigint, 'a run takes every note it sees');

-- 1. A successor inserted: its predecessor is noted, and renewed by the next run.
select pg_temp.successor('T-SM-A2', 'T-SM-A');
select is((select count(*) from private.successor_marks m join public.policies p on p.id = m.predecessor_id
            where p.policy_number = 'T-SM-A'), 1::bigint, 'loading a successor notes its predecessor');
select is(pg_temp.jobs(), 1, 'the next run renews one term');
select is(pg_temp.status('T-SM-A'), 'renewed', 'the predecessor');
select is((select count(*) from private.successor_marks), 0::bigint, 'and takes the note');
select is(pg_temp.jobs(), 0, 'the run after finds nothing to do');

-- 2. A note of a term without a successor changes nothing.
insert into private.successor_marks (predecessor_id)
select id from public.policies where policy_number = 'T-SM-B';
select is(pg_temp.jobs(), 0, 'a note without a successor renews nothing');
select is(pg_temp.status('T-SM-B'), 'active', 'the term stays active');

-- 3. Re-pointed: a successor loaded against the wrong term and corrected.
select pg_temp.successor('T-SM-C2', 'T-SM-D');
update public.policies set renewed_from_policy_id = (select id from public.policies where policy_number = 'T-SM-C')
 where policy_number = 'T-SM-C2';
select is(pg_temp.jobs(), 1, 'after the correction, one term is renewed');
select is(pg_temp.status('T-SM-C') || ' ' || pg_temp.status('T-SM-D'), 'renewed active',
  'the one the successor now names; the other one is left active');

-- 4. A term lapsed, then reinstated, whose successor was loaded meanwhile.
update public.policies set status = 'lapsed' where policy_number = 'T-SM-B';
select pg_temp.successor('T-SM-B2', 'T-SM-B');
select is(pg_temp.jobs(), 0, 'a lapsed term is not renewed by its successor');
update public.policies set status = 'active' where policy_number = 'T-SM-B';
select is(pg_temp.jobs(), 1, 'once reinstated, the next run renews it');

-- 5. Bulk loads in replica mode are noted too.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('T-SM-E', 'motor', 'Test', 'c0000000-0000-4000-8000-000000000117', tests.get_user_id('agent_a'),
        1200000, 100000000, date '2031-06-01' - 30, date '2031-06-01' + 335);
set local session_replication_role = replica;
select pg_temp.successor('T-SM-E2', 'T-SM-E');
reset session_replication_role;
select is(pg_temp.jobs(), 1, 'a successor loaded in replica mode renews its predecessor');

-- 6. A successor bulk-loaded before its predecessor (replica mode: no foreign key).
set local session_replication_role = replica;
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, renewed_from_policy_id)
values ('T-SM-F2', 'motor', 'Test', 'c0000000-0000-4000-8000-000000000117', tests.get_user_id('agent_a'),
        1300000, 100000000, date '2031-06-01' + 336, date '2031-06-01' + 700,
        'f0000000-0000-4000-8000-000000000117');
reset session_replication_role;
select is(pg_temp.jobs(), 0, 'a successor whose predecessor is not loaded yet renews nothing');
set local session_replication_role = replica;
insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('f0000000-0000-4000-8000-000000000117', 'T-SM-F', 'motor', 'Test',
        'c0000000-0000-4000-8000-000000000117', tests.get_user_id('agent_a'), 1200000, 100000000,
        date '2031-06-01' - 30, date '2031-06-01' + 335);
reset session_replication_role;
select is(pg_temp.jobs(), 1, 'the predecessor loaded afterwards is renewed by the next run');

-- 7. An installment added to the case of a succeeded term is waived by the next run.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('T-SM-G', 'motor', 'Test', 'c0000000-0000-4000-8000-000000000117', tests.get_user_id('agent_a'),
        1200000, 100000000, date '2031-06-01' - 335, date '2031-06-01' + 30);
select pg_temp.jobs();
create temporary table g_case as
  select c.id from public.renewal_cases c join public.policies p on p.id = c.policy_id
   where p.policy_number = 'T-SM-G';
delete from public.outstanding_amounts where case_id = (select id from g_case);
select pg_temp.successor('T-SM-G2', 'T-SM-G');
select pg_temp.jobs();
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
values ((select id from g_case), 1, date '2031-06-01' + 30, 1200000);
select pg_temp.jobs();
select is((select status::text || ' ' || reason from public.outstanding_amounts where case_id = (select id from g_case)),
  'waived Renewed: successor term T-SM-G2 loaded',
  'an installment added after the successor was loaded is waived by the next run');

select ok(not has_table_privilege('service_role', 'private.successor_marks', 'select, insert, update, delete')
          and not has_table_privilege('authenticated', 'private.successor_marks', 'select, insert, update, delete'),
  'service_role and signed-in users can neither read nor write the notes');

select * from finish();
rollback;
