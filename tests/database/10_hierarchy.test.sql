-- The organisation tree: paths, level rules, moves, and who sees and changes which nodes.
begin;
select plan(27);
select tests.create_test_org();

-- Views run as their owner unless told otherwise: security_invoker keeps the caller's RLS.
create temporary view test_nodes with (security_invoker = true) as
  select code from public.hierarchy_nodes where code like 'T\_%' order by code;
-- Node ids looked up once, as postgres, so statements run as a persona can name any node.
create temporary table node_ids as select code, id from public.hierarchy_nodes;
grant select on test_nodes, node_ids to anon, authenticated;

-- Paths and level rules
select is((select path::text from public.hierarchy_nodes where code = 'T_TEAM_A'),
  'T_ZONE.T_REGION.T_BRANCH_A.T_TEAM_A', 'a node''s path runs from its zone down to it');
select throws_ok(
  $$insert into public.hierarchy_nodes (parent_id, level, code, name)
    select id, 'team', 'T_BAD', 'Bad' from public.hierarchy_nodes where code = 'T_REGION'$$,
  'PY001', 'a team cannot sit under a region', 'a node sits exactly one level under its parent');
select throws_ok(
  $$insert into public.hierarchy_nodes (level, code, name) values ('region', 'T_ORPHAN', 'Orphan')$$,
  'PY001', 'a region needs a parent node', 'only zones sit at the top');
select throws_ok(
  $$update public.hierarchy_nodes set level = 'zone' where code = 'T_REGION'$$,
  'PY001', 'a node''s level cannot change (node T_REGION)', 'a node keeps its level');
update public.hierarchy_nodes set path = 'NOWHERE' where code = 'T_TEAM_B';
select is((select path::text from public.hierarchy_nodes where code = 'T_TEAM_B'),
  'T_ZONE.T_REGION.T_BRANCH_B.T_TEAM_B', 'a path cannot be written directly');

-- Who sees what
select tests.authenticate_as('admin');
select is((select count(*) from test_nodes), 7::bigint, 'an admin sees every node');
select tests.authenticate_as('zone_manager');
select results_eq('select code from test_nodes',
  array['T_BRANCH_A', 'T_BRANCH_B', 'T_REGION', 'T_TEAM_A', 'T_TEAM_B', 'T_ZONE'],
  'a zone manager sees their zone''s subtree and nothing of another zone');
select tests.authenticate_as('branch_b_manager');
select results_eq('select code from test_nodes',
  array['T_BRANCH_B', 'T_REGION', 'T_TEAM_B', 'T_ZONE'],
  'a branch manager sees their branch, its teams and the nodes above it');
select tests.authenticate_as('agent_a');
select results_eq('select code from test_nodes',
  array['T_BRANCH_A', 'T_REGION', 'T_TEAM_A', 'T_ZONE'],
  'an agent sees their team and the nodes above it');
select tests.authenticate_as('analyst');
select is_empty('select code from test_nodes', 'an analyst sees no node');
select tests.authenticate_as('newcomer');
select is_empty('select code from test_nodes', 'a user without an active profile sees no node');
select tests.clear_authentication();
select throws_ok('select code from public.hierarchy_nodes', '42501',
  'permission denied for table hierarchy_nodes', 'anon cannot read the hierarchy');

-- Who may create nodes
select tests.authenticate_as('zone_manager');
select lives_ok(
  $$insert into public.hierarchy_nodes (parent_id, level, code, name)
    select id, 'team', 'T_TEAM_A2', 'Team A2' from public.hierarchy_nodes where code = 'T_BRANCH_A'
    returning id$$,
  'a manager may add a node inside their subtree, and read it back in the same statement');
select throws_ok(
  $$insert into public.hierarchy_nodes (level, code, name) values ('zone', 'T_ZONE3', 'Zone 3')$$,
  '42501', 'new row violates row-level security policy for table "hierarchy_nodes"',
  'a manager may not add a zone');
select tests.authenticate_as('branch_b_manager');
select throws_ok(
  format($$insert into public.hierarchy_nodes (parent_id, level, code, name)
           values (%L, 'team', 'T_TEAM_X', 'X')$$,
         (select id from node_ids where code = 'T_BRANCH_A')),
  '42501', 'new row violates row-level security policy for table "hierarchy_nodes"',
  'a manager may not add a node under another branch');
select tests.authenticate_as('agent_a');
select throws_ok(
  format($$insert into public.hierarchy_nodes (parent_id, level, code, name)
           values (%L, 'team', 'T_TEAM_Y', 'Y')$$,
         (select id from node_ids where code = 'T_BRANCH_A')),
  '42501', 'new row violates row-level security policy for table "hierarchy_nodes"',
  'an agent may not add nodes');
select tests.authenticate_as('admin');
select lives_ok(
  $$insert into public.hierarchy_nodes (level, code, name) values ('zone', 'T_ZONE3', 'Zone 3')$$,
  'an admin may add a zone');

-- Who may change nodes
select tests.authenticate_as('branch_b_manager');
update public.hierarchy_nodes set name = 'Renamed by B' where code = 'T_BRANCH_B';
update public.hierarchy_nodes set name = 'Renamed by B' where code = 'T_TEAM_B';
select tests.authenticate_as('agent_a');
update public.hierarchy_nodes set name = 'Renamed by agent' where code = 'T_TEAM_A';
reset role;
select is((select name from public.hierarchy_nodes where code = 'T_BRANCH_B'), 'Branch T_BRANCH_B',
  'a manager cannot change their own node');
select is((select name from public.hierarchy_nodes where code = 'T_TEAM_B'), 'Renamed by B',
  'a manager can change a node under their own');
select is((select name from public.hierarchy_nodes where code = 'T_TEAM_A'), 'Team A',
  'an agent cannot change nodes');
select tests.authenticate_as('zone_manager');
select throws_ok(
  format($$update public.hierarchy_nodes set parent_id = %L where code = 'T_REGION'$$,
         (select id from node_ids where code = 'T_ZONE2')),
  '42501', 'new row violates row-level security policy for table "hierarchy_nodes"',
  'a manager cannot move a node out of their subtree');

-- Moves carry the subtree
select tests.authenticate_as('admin');
update public.hierarchy_nodes
   set parent_id = (select id from public.hierarchy_nodes where code = 'T_ZONE2')
 where code = 'T_REGION';
select is((select path::text from public.hierarchy_nodes where code = 'T_TEAM_A'),
  'T_ZONE2.T_REGION.T_BRANCH_A.T_TEAM_A', 'moving a node moves its whole subtree');
update public.hierarchy_nodes set code = 'T_BRANCH_AA' where code = 'T_BRANCH_A';
select is((select path::text from public.hierarchy_nodes where code = 'T_TEAM_A'),
  'T_ZONE2.T_REGION.T_BRANCH_AA.T_TEAM_A', 'renaming a code rewrites the paths below it');
select tests.authenticate_as('zone_manager');
select is_empty($$select code from test_nodes where code like 'T\_TEAM\_A%'$$,
  'the old zone''s manager no longer sees the moved subtree');

-- Who may delete nodes
select tests.authenticate_as('zone_manager');
delete from public.hierarchy_nodes where code = 'T_TEAM_B';
reset role;
select isnt_empty($$select 1 from public.hierarchy_nodes where code = 'T_TEAM_B'$$,
  'a manager cannot delete nodes');
select tests.authenticate_as('admin');
select throws_ok($$delete from public.hierarchy_nodes where code = 'T_BRANCH_B'$$, '23503', null,
  'a node with children or people cannot be deleted');
select lives_ok($$delete from public.hierarchy_nodes where code = 'T_TEAM_A2'$$,
  'an admin may delete an empty node');

select * from finish();
rollback;
