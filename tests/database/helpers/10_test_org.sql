-- A small test organisation used by several pgTAP files (all inside their own transactions):
--   T_ZONE > T_REGION > T_BRANCH_A > T_TEAM_A      T_ZONE2 (another zone)
--                     > T_BRANCH_B > T_TEAM_B
-- and one persona per kind of user.
create or replace function tests.create_test_org() returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into public.hierarchy_nodes (parent_id, level, code, name)
  values (null, 'zone', 'T_ZONE', 'Test Zone'), (null, 'zone', 'T_ZONE2', 'Other Zone');
  insert into public.hierarchy_nodes (parent_id, level, code, name)
  select id, 'region', 'T_REGION', 'Test Region' from public.hierarchy_nodes where code = 'T_ZONE';
  insert into public.hierarchy_nodes (parent_id, level, code, name)
  select id, 'branch', b, 'Branch ' || b from public.hierarchy_nodes, unnest(array['T_BRANCH_A', 'T_BRANCH_B']) b
   where code = 'T_REGION';
  insert into public.hierarchy_nodes (parent_id, level, code, name)
  select id, 'team', 'T_TEAM_' || right(code, 1), 'Team ' || right(code, 1)
    from public.hierarchy_nodes where code in ('T_BRANCH_A', 'T_BRANCH_B');

  perform tests.create_user('admin', 'admin');
  perform tests.create_user('analyst', 'analyst');
  perform tests.create_user('zone_manager', 'manager', 'T_ZONE');
  perform tests.create_user('branch_b_manager', 'manager', 'T_BRANCH_B');
  perform tests.create_user('agent_a', 'agent', 'T_TEAM_A');
  perform tests.create_user('agent_b', 'agent', 'T_TEAM_B');
  perform tests.create_user('newcomer', null, null);
end;
$$;

grant execute on function tests.create_test_org() to anon, authenticated, service_role;
