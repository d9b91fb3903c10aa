-- The daily jobs open cases from the terms that can have become due (issue 9's speed): the clock
-- (a term whose lead begins since the last run, a missed day caught up) and the terms noted in
-- private.opening_marks (inserted, re-dated, reactivated, a successor or a case removed, replica
-- loads too); terms no agent could take are noted again and counted as unassigned; other lead or
-- grace settings, or a day back in time, read the whole window; nobody else touches the notes.
begin;
select plan(18);
select tests.create_test_org();

create temporary table clock as select '2031-06-01 03:30+00'::timestamptz as as_of;
insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000118', 'Opening Customer');

-- A motor term (lead 60 days, no grace) of agent_a ending on the given day.
create function pg_temp.term(number text, ends date, agent text default 'agent_a') returns uuid
language sql
as $$
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  values (number, 'motor', 'Test', 'c0000000-0000-4000-8000-000000000118', tests.get_user_id(agent),
          1200000, 100000000, ends - 365, ends)
  returning id
$$;
create function pg_temp.day(n integer) returns jsonb
language sql
as $$ select private.run_daily_renewal_jobs((select as_of from clock) + n * interval '1 day') $$;
create function pg_temp.has_case(number text) returns boolean
language sql stable
as $$
  select exists (select 1 from public.renewal_cases c join public.policies p on p.id = c.policy_id
                  where p.policy_number = number)
$$;

-- 1. The first run reads the whole window.
select pg_temp.term('T-OM-IN', date '2031-06-01' + 30);
select pg_temp.term('T-OM-EDGE', date '2031-06-01' + 61);
select pg_temp.term('T-OM-GAP', date '2031-06-01' + 64);
select is((pg_temp.day(0) ->> 'opened')::int, 1, 'the first run opens the term already in its lead');

-- 2. The clock: a term whose lead begins the next day; a missed day is caught up.
select is((pg_temp.day(1) ->> 'opened')::int, 1, 'the next day, the term ending 61 days out');
select ok(pg_temp.has_case('T-OM-EDGE'), 'T-OM-EDGE has its case');
select is((pg_temp.day(4) ->> 'opened')::int, 1, 'three days without a run: the term whose lead began meanwhile');

-- 3. Changes are noted: a term loaded late, re-dated, reactivated.
select pg_temp.term('T-OM-LATE', date '2031-06-01' + 20);
select is((select count(*) from private.opening_marks m join public.policies p on p.id = m.policy_id
            where p.policy_number = 'T-OM-LATE'), 1::bigint, 'a term loaded active is noted');
select pg_temp.term('T-OM-FAR', date '2031-06-01' + 200);
update public.policies set end_date = date '2031-06-01' + 40 where policy_number = 'T-OM-FAR';
select pg_temp.term('T-OM-BACK', date '2031-06-01' + 25);
delete from private.opening_marks
 where policy_id = (select id from public.policies where policy_number = 'T-OM-BACK');
update public.policies set status = 'lapsed' where policy_number = 'T-OM-BACK';
update public.policies set status = 'active' where policy_number = 'T-OM-BACK';
select is((pg_temp.day(5) ->> 'opened')::int, 3, 'the next run opens the late, the re-dated and the reactivated term');

-- 4. A term nothing noted is not read: the run reads only what can have changed.
select pg_temp.term('T-OM-HIDDEN', date '2031-06-01' + 35);
delete from private.opening_marks
 where policy_id = (select id from public.policies where policy_number = 'T-OM-HIDDEN');
select is((pg_temp.day(6) ->> 'opened')::int, 0, 'a term in its lead but not noted is not looked at');
-- Other settings: the whole window is read again.
update public.app_settings set value = '{"home": 60, "life": 90, "motor": 70, "health": 60}'
 where key = 'RENEWAL_LEAD_DAYS';
select pg_temp.term('T-OM-SEVENTY', date '2031-06-01' + 6 + 69);
delete from private.opening_marks
 where policy_id = (select id from public.policies where policy_number = 'T-OM-SEVENTY');
select is((pg_temp.day(6) ->> 'opened')::int, 2,
  'a longer motor lead: the next run reads the whole window (the hidden term, and one 69 days out)');

-- 5. A successor deleted, a case deleted: the term is due again.
select pg_temp.term('T-OM-SUCCEEDED', date '2031-06-01' + 30);
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, renewed_from_policy_id)
select 'T-OM-SUCCESSOR', 'motor', 'Test', customer_id, agent_id, 1300000, 100000000, end_date + 1,
       end_date + 365, id
  from public.policies where policy_number = 'T-OM-SUCCEEDED';
select is((pg_temp.day(7) ->> 'opened')::int, 0, 'a term with a successor gets no case');
-- A successor loaded by mistake and deleted before the next run.
select pg_temp.term('T-OM-UNDONE', date '2031-06-01' + 30);
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, renewed_from_policy_id)
select 'T-OM-MISTAKE', 'motor', 'Test', customer_id, agent_id, 1300000, 100000000, end_date + 1,
       end_date + 365, id
  from public.policies where policy_number = 'T-OM-UNDONE';
delete from private.opening_marks
 where policy_id = (select id from public.policies where policy_number = 'T-OM-UNDONE');
delete from public.policies where policy_number = 'T-OM-MISTAKE';
select is((pg_temp.day(7) ->> 'opened')::int, 1, 'its successor deleted, the next run opens the term');
delete from public.outstanding_amounts
 where case_id = (select c.id from public.renewal_cases c join public.policies p on p.id = c.policy_id
                   where p.policy_number = 'T-OM-UNDONE');
delete from public.renewal_cases
 where policy_id = (select id from public.policies where policy_number = 'T-OM-UNDONE');
select is((pg_temp.day(7) ->> 'opened')::int, 1, 'its case deleted, the next run opens it again');

-- A case moved to another term: the term it left is due again.
select pg_temp.term('T-OM-MOVED-TO', date '2031-06-01' + 200);
update public.renewal_cases
   set policy_id = (select id from public.policies where policy_number = 'T-OM-MOVED-TO'),
       due_date = date '2031-06-01' + 200, grace_end = date '2031-06-01' + 200
 where policy_id = (select id from public.policies where policy_number = 'T-OM-UNDONE');
select is((pg_temp.day(7) ->> 'opened')::int, 1, 'its case moved to another term, the next run opens it again');

-- 6. Nobody to take it: noted again each run, counted, opened once an agent can.
select tests.create_user('agent_alone', 'agent', 'T_TEAM_B');
update public.profiles set active = false where id in (tests.get_user_id('agent_b'), tests.get_user_id('agent_alone'));
select pg_temp.term('T-OM-NOBODY', date '2031-06-01' + 40, 'agent_alone');
select is(pg_temp.day(8) - 'business_date' - 'lapsed' - 'expired' - 'overdue' - 'pending_lapse',
  '{"opened": 0, "unassigned": 1, "reassigned": 0, "renewed_by_successor": 0}'::jsonb,
  'a term whose branch has no active agent waits, counted as unassigned');
select is((pg_temp.day(9) ->> 'unassigned')::int, 1, 'and is still counted the next day');
update public.profiles set active = true where id = tests.get_user_id('agent_b');
select is((pg_temp.day(10) ->> 'opened')::int, 1, 'an agent back in the branch: the next run opens it');
select is((pg_temp.day(10) ->> 'unassigned')::int, 0, 'and nothing is unassigned any more');

-- 7. Replica loads are noted; nobody else reads or writes the notes.
set local session_replication_role = replica;
select pg_temp.term('T-OM-REPLICA', date '2031-06-01' + 45);
reset session_replication_role;
select is((pg_temp.day(11) ->> 'opened')::int, 1, 'a term loaded in replica mode is opened');
select ok(not has_table_privilege('service_role', 'private.opening_marks', 'select, insert, update, delete')
          and not has_table_privilege('authenticated', 'private.opening_state', 'select, insert, update, delete'),
  'service_role and signed-in users can neither read nor write the notes or the state');

select * from finish();
rollback;
