-- Set helpers the RLS policies call: who the caller is and which hierarchy nodes they reach.
-- They are security definer so that policies on profiles can read profiles without recursing;
-- each reads only the caller's own row and the node tree.

create function private.current_app_role() returns public.app_role
language sql stable
security definer
set search_path = ''
as $$
  select p.role from public.profiles p where p.id = (select auth.uid()) and p.active
$$;

comment on function private.current_app_role() is
  'The caller''s application role, or null when they have no active profile. '
  'Security definer: reads profiles under their own RLS without recursion.';

create function private.is_admin() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce((select private.current_app_role()) = 'admin', false)
$$;

comment on function private.is_admin() is 'True when the caller is an active admin.';

create function private.current_node_id() returns uuid
language sql stable
security definer
set search_path = ''
as $$
  select p.node_id from public.profiles p where p.id = (select auth.uid()) and p.active
$$;

comment on function private.current_node_id() is
  'The caller''s hierarchy node, or null. Security definer: as current_app_role().';

create function private.managed_node_ids() returns setof uuid
language sql stable
security definer
set search_path = ''
as $$
  select n.id
    from public.hierarchy_nodes n
   where (select private.current_app_role()) = 'admin'
  union all
  select n.id
    from public.hierarchy_nodes n
    join public.hierarchy_nodes mine on mine.id = (select private.current_node_id())
   where (select private.current_app_role()) = 'manager'
     and n.path operator(extensions.<@) mine.path
$$;

comment on function private.managed_node_ids() is
  'Nodes the caller manages: all for an admin, their own node and everything under it for a '
  'manager, none for anyone else. Security definer: as current_app_role().';

create function private.current_node_path() returns extensions.ltree
language sql stable
security definer
set search_path = ''
as $$
  select n.path
    from public.profiles p
    join public.hierarchy_nodes n on n.id = p.node_id
   where p.id = (select auth.uid()) and p.active
$$;

comment on function private.current_node_path() is
  'The path of the caller''s hierarchy node, or null. Policies compare a row''s own path with '
  'it, so a row inserted by the statement itself is judged too. Security definer: as current_app_role().';

revoke execute on function private.current_app_role(), private.is_admin(),
  private.current_node_id(), private.managed_node_ids(), private.current_node_path() from public;
grant execute on function private.current_app_role(), private.is_admin(),
  private.current_node_id(), private.managed_node_ids(), private.current_node_path()
  to authenticated, service_role;
