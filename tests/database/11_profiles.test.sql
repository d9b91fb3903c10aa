-- Profiles: created from auth users, seen by the people above them, changed by admins.
begin;
select plan(19);
select tests.create_test_org();

create temporary view test_people with (security_invoker = true) as
  select full_name from public.profiles where email like '%@tests.py360.test' order by full_name;
grant select on test_people to anon, authenticated;

-- Created from auth.users
select is((select role::text || ' ' || active::text from public.profiles
            where id = tests.get_user_id('agent_a')), 'agent true',
  'a new auth user gets a profile with the role from app_metadata');
select is((select n.code from public.profiles p join public.hierarchy_nodes n on n.id = p.node_id
            where p.id = tests.get_user_id('agent_a')), 'T_TEAM_A',
  'and the node named in app_metadata');
select is((select active from public.profiles where id = tests.get_user_id('newcomer')), false,
  'a user without a role in app_metadata starts inactive');

-- Who sees whom
select tests.authenticate_as('admin');
select is((select count(*) from test_people), 7::bigint, 'an admin sees everyone');
select tests.authenticate_as('zone_manager');
select results_eq('select full_name from test_people',
  array['agent_a', 'agent_b', 'branch_b_manager', 'zone_manager'],
  'a zone manager sees the people in their subtree');
select tests.authenticate_as('branch_b_manager');
select results_eq('select full_name from test_people', array['agent_b', 'branch_b_manager'],
  'a branch manager sees their branch''s people');
select tests.authenticate_as('agent_a');
select results_eq('select full_name from test_people', array['agent_a'],
  'an agent sees only themselves');
select tests.authenticate_as('analyst');
select results_eq('select full_name from test_people', array['analyst'],
  'an analyst sees only themselves');
select tests.authenticate_as('newcomer');
select results_eq('select full_name from test_people', array['newcomer'],
  'an inactive user sees only themselves');
select tests.clear_authentication();
select throws_ok('select 1 from public.profiles', '42501', 'permission denied for table profiles',
  'anon cannot read profiles');

-- Who changes what
select tests.authenticate_as('agent_a');
update public.profiles set full_name = 'Agent A.' where id = tests.get_user_id('agent_a');
select is((select full_name from public.profiles where id = tests.get_user_id('agent_a')), 'Agent A.',
  'a user may change their own name');
select throws_ok(
  $$update public.profiles set role = 'admin' where id = tests.get_user_id('agent_a')$$,
  'PY003', 'only an admin can change a profile''s role, node, active flag or email',
  'a user may not promote themselves');
select throws_ok(
  format($$update public.profiles set node_id = %L where id = tests.get_user_id('agent_a')$$,
         (select id from public.hierarchy_nodes where code = 'T_TEAM_B')),
  'PY003', 'only an admin can change a profile''s role, node, active flag or email',
  'a user may not move themselves');
update public.profiles set full_name = 'hacked' where id = tests.get_user_id('agent_b');
select tests.authenticate_as('branch_b_manager');
update public.profiles set full_name = 'renamed' where id = tests.get_user_id('agent_b');
select throws_ok(
  $$insert into public.profiles (id, email, role) values (gen_random_uuid(), 'x@y.test', 'admin')$$,
  '42501', 'permission denied for table profiles',
  'a manager may not create profiles: they come from auth users');
reset role;
select is((select full_name from public.profiles where id = tests.get_user_id('agent_b')), 'agent_b',
  'nobody but an admin changes someone else''s profile');

select tests.authenticate_as('admin');
update public.profiles
   set node_id = (select id from public.hierarchy_nodes where code = 'T_TEAM_A'), full_name = 'B moved'
 where id = tests.get_user_id('agent_b');
update public.profiles set active = true, role = 'agent',
       node_id = (select id from public.hierarchy_nodes where code = 'T_TEAM_B')
 where id = tests.get_user_id('newcomer');
reset role;
select is((select n.code from public.profiles p join public.hierarchy_nodes n on n.id = p.node_id
            where p.id = tests.get_user_id('agent_b')), 'T_TEAM_A', 'an admin may move people');
select is((select active from public.profiles where id = tests.get_user_id('newcomer')), true,
  'an admin may activate people');
select tests.authenticate_as('admin');
select throws_ok($$delete from public.profiles where id = tests.get_user_id('agent_a')$$,
  '42501', 'permission denied for table profiles',
  'profiles are deactivated, never deleted through the API');
reset role;
select throws_ok(
  $$update public.profiles set role = 'manager', node_id = null where id = tests.get_user_id('agent_b')$$,
  '23514', null, 'an active manager or agent must sit somewhere');

select * from finish();
rollback;
