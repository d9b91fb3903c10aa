-- customers.book_keys and the customers select policy that reads them (migration
-- 20261129009300_index_customer_visibility): the keys follow every change of policies and cases,
-- whoever makes it; at every step each persona sees exactly the customers of the policies they
-- see, as the exists() chain it replaced said; clients cannot write keys; and the policy's
-- condition is one an index can serve.
begin;
select plan(35);
select tests.create_test_book();
do $$ begin perform tests.create_user('agent_b2', 'agent', 'T_TEAM_B'); end $$;

-- The customers this file watches, by short name: the test book's two, one held by agents A and
-- B (both policies in one statement), and one with no policy at all.
create temporary table watched (name text primary key, id uuid not null);
grant select on watched to authenticated;
insert into public.customers (full_name, phone) values
  ('Two Agents', '+919800000211'), ('Nobody Holds', '+919800000212');
insert into watched
select 'a', tests.fixture('customer_a')
union all select 'b', tests.fixture('customer_b')
union all select 'two', id from public.customers where full_name = 'Two Agents'
union all select 'nobody', id from public.customers where full_name = 'Nobody Holds';
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                             premium, sum_insured, start_date, end_date)
select 'T-POL-TWO-' || a.side, 'health', 'Test Health', w.id, tests.get_user_id('agent_' || a.side),
       1500000, 50000000, current_date - 300, current_date + 65
  from watched w, (values ('a'), ('b')) as a (side)
 where w.name = 'two';

-- A customer's keys, named: 'nil' for the admins' key, else the test identifier of the agent.
create function pg_temp.keys_of(customer text) returns text[]
language sql
as $$
  select coalesce(array_agg(named.key order by named.key), '{}')
    from (
      select coalesce(u.raw_user_meta_data ->> 'test_identifier', k) as key
        from public.customers cu
        join watched w on w.id = cu.id
       cross join unnest(replace(cu.book_keys::text, '00000000-0000-0000-0000-000000000000',
                                 'nil')::text[]) as k
        left join auth.users u on u.id::text = k
       where w.name = customer
    ) as named
$$;

-- Which watched customers a persona sees, and whether that is exactly the customers of the
-- policies they see (the rule the exists() chain spelled out).
create function pg_temp.seen_by(persona text, out names text[], out as_policies_say boolean)
language plpgsql
as $$
begin
  perform tests.authenticate_as(persona);
  names := array(select w.name from public.customers cu join watched w on w.id = cu.id
                  order by w.name);
  as_policies_say := names = array(
    select distinct w.name from public.policies p join watched w on w.id = p.customer_id
     order by w.name);
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end;
$$;

-- The plan of an agent's name search.
create function pg_temp.explain_as_agent() returns setof text
language plpgsql
as $$
declare
  line text;
begin
  perform tests.authenticate_as('agent_a');
  for line in execute $q$explain select cu.id from public.customers cu
                         where cu.full_name ilike '%Customer%'$q$ loop
    return next line;
  end loop;
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end;
$$;

create temporary table personas (persona text primary key);
insert into personas values ('admin'), ('zone_manager'), ('branch_b_manager'), ('agent_a'),
  ('agent_b'), ('agent_b2'), ('analyst'), ('newcomer');

create function pg_temp.who_sees() returns table (persona text, names text[])
language sql
as $$ select p.persona, (pg_temp.seen_by(p.persona)).names from personas p order by 1 $$;

create function pg_temp.policies_disagree() returns setof text
language sql
as $$ select p.persona from personas p where not (pg_temp.seen_by(p.persona)).as_policies_say $$;

-- As loaded.
select is(pg_temp.keys_of('a'), '{agent_a,nil}', 'a customer''s keys: their policy''s agent and nil');
select is(pg_temp.keys_of('two'), '{agent_a,agent_b,nil}',
  'policies inserted in one statement give their customer both agents'' keys');
select is(pg_temp.keys_of('nobody'), '{}', 'a customer without policies has no key');
select results_eq('select * from pg_temp.who_sees()', $$values
  ('admin', '{a,b,two}'::text[]), ('agent_a', '{a,two}'), ('agent_b', '{b,two}'),
  ('agent_b2', '{}'), ('analyst', '{}'), ('branch_b_manager', '{b,two}'), ('newcomer', '{}'),
  ('zone_manager', '{a,b,two}')$$,
  'each persona sees the customers of their book; nobody sees a customer without a policy');
select is_empty('select * from pg_temp.policies_disagree()',
  'every persona sees exactly the customers of the policies they see');

-- A zone manager hands agent A's case to agent B, through the API's role.
select tests.authenticate_as('zone_manager');
select lives_ok(
  format('update public.renewal_cases set assignee_id = %L where id = %L',
         tests.get_user_id('agent_b'), tests.fixture('case_a')),
  'a zone manager hands agent A''s case to agent B');
reset role;
select is(pg_temp.keys_of('a'), '{agent_a,agent_b,nil}',
  'the customer gains the new assignee''s key and keeps the policy''s agent''s');
select results_eq('select * from pg_temp.who_sees()', $$values
  ('admin', '{a,b,two}'::text[]), ('agent_a', '{a,two}'), ('agent_b', '{a,b,two}'),
  ('agent_b2', '{}'), ('analyst', '{}'), ('branch_b_manager', '{a,b,two}'), ('newcomer', '{}'),
  ('zone_manager', '{a,b,two}')$$,
  'agent B and their manager now see the customer of the case B covers');
select is_empty('select * from pg_temp.policies_disagree()',
  'still exactly the customers of the policies each persona sees');

-- Branch B's manager hands case B to agent B2 and back.
select tests.authenticate_as('branch_b_manager');
select lives_ok(
  format('update public.renewal_cases set assignee_id = %L where id = %L',
         tests.get_user_id('agent_b2'), tests.fixture('case_b')),
  'a branch manager hands a case to another agent of the branch');
reset role;
select is(pg_temp.keys_of('b'), '{agent_b,agent_b2,nil}', 'the new assignee''s key is added');
select is((pg_temp.seen_by('agent_b2')).names, '{b}', 'and agent B2 sees the customer');
select tests.authenticate_as('branch_b_manager');
select lives_ok(
  format('update public.renewal_cases set assignee_id = %L where id = %L',
         tests.get_user_id('agent_b'), tests.fixture('case_b')),
  'and hands it back');
reset role;
select is(pg_temp.keys_of('b'), '{agent_b,nil}', 'the former assignee''s key goes');
select is((pg_temp.seen_by('agent_b2')).names, '{}', 'and agent B2 no longer sees the customer');
select is_empty('select * from pg_temp.policies_disagree()',
  'still exactly the customers of the policies each persona sees');

-- The backend moves policies between agents and customers, and deletes one.
update public.policies set agent_id = tests.get_user_id('agent_b2')
 where policy_number = 'T-POL-TWO-b';
select is(pg_temp.keys_of('two'), '{agent_a,agent_b2,nil}', 'a policy''s new agent replaces the old');
select is((pg_temp.seen_by('agent_b')).names, '{a,b}', 'agent B no longer sees that customer');
update public.policies set customer_id = (select id from watched where name = 'nobody')
 where id = tests.fixture('policy_spare');
select is(pg_temp.keys_of('nobody'), '{agent_a,nil}', 'a policy moved to a customer gives them keys');
select is(pg_temp.keys_of('a'), '{agent_a,agent_b,nil}',
  'and its former customer keeps the keys of their other policy and case');
select is((pg_temp.seen_by('admin')).names, '{a,b,nobody,two}', 'the admin now sees that customer');
delete from public.policies where id = tests.fixture('policy_spare');
select is(pg_temp.keys_of('nobody'), '{}', 'a customer whose last policy is deleted has no key');
select is((pg_temp.seen_by('admin')).names, '{a,b,two}', 'and nobody sees them any more');
select is_empty('select * from pg_temp.policies_disagree()',
  'still exactly the customers of the policies each persona sees');

-- A case opened and deleted by the backend; two cases reassigned in one statement.
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select p.id, p.customer_id, tests.get_user_id('agent_b'), current_date + 65, current_date + 95
  from public.policies p where p.policy_number = 'T-POL-TWO-a';
select is(pg_temp.keys_of('two'), '{agent_a,agent_b,agent_b2,nil}', 'an opened case adds its assignee');
delete from public.renewal_cases
 where policy_id = (select id from public.policies where policy_number = 'T-POL-TWO-a');
select is(pg_temp.keys_of('two'), '{agent_a,agent_b2,nil}', 'a deleted case takes it away');
update public.renewal_cases set assignee_id = tests.get_user_id('agent_b2')
 where id in (tests.fixture('case_a'), tests.fixture('case_b'));
select is(array[array_to_string(pg_temp.keys_of('a'), ' '), array_to_string(pg_temp.keys_of('b'), ' ')],
  array['agent_a agent_b2 nil', 'agent_b agent_b2 nil'],
  'one statement reassigning two cases refreshes both customers');
select is_empty('select * from pg_temp.policies_disagree()',
  'still exactly the customers of the policies each persona sees');

-- The caller's keys.
select tests.authenticate_as('admin');
select is(private.visible_book_keys(), '{00000000-0000-0000-0000-000000000000}'::uuid[],
  'an admin holds the nil key alone');
select tests.authenticate_as('agent_a');
select is(private.visible_book_keys(), array[tests.get_user_id('agent_a')], 'an agent their own');
select tests.authenticate_as('analyst');
select is(private.visible_book_keys(), '{}'::uuid[], 'an analyst none');
reset role;
update public.profiles set active = false where id = tests.get_user_id('agent_b2');
select tests.authenticate_as('agent_b2');
select is(private.visible_book_keys(), '{}'::uuid[], 'an inactive agent none');

-- Keys are not the desk's to write.
select tests.authenticate_as('agent_a');
select throws_ok(
  format($$update public.customers set book_keys = '{00000000-0000-0000-0000-000000000000}'
            where id = %L$$, tests.fixture('customer_a')),
  '42501', 'permission denied for table customers', 'an agent cannot give a customer keys');
select throws_ok(
  $$insert into public.customers (full_name, book_keys)
    values ('Forged', '{00000000-0000-0000-0000-000000000000}')$$,
  '42501', 'permission denied for table customers', 'nor insert a customer with keys');
reset role;

-- The policy's condition is one the keys' index can serve (the exists() chain was not): with
-- sequential scans off, a name search under RLS starts from customers_book_keys_idx.
set local enable_seqscan = off;
select matches(
  (select string_agg(line, E'\n')
     from pg_temp.explain_as_agent() as line),
  'customers_book_keys_idx',
  'a name search under RLS can start from the book keys'' index');

select * from finish();
rollback;
