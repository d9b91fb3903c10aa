-- Row-level security for the organisation: admins see and change everything, managers their
-- subtree, agents themselves and the nodes above them, anon nothing at all.

alter table public.hierarchy_nodes enable row level security;
alter table public.profiles enable row level security;
revoke all on public.hierarchy_nodes, public.profiles from anon;

create policy hierarchy_nodes_select_admin on public.hierarchy_nodes
  for select to authenticated
  using ((select private.is_admin()));

-- A manager sees their subtree.
create policy hierarchy_nodes_select_manager on public.hierarchy_nodes
  for select to authenticated
  using (
    (select private.current_app_role()) = 'manager'
    and path operator(extensions.<@) (select private.current_node_path())
  );

-- Managers and agents see their own node and the nodes above it.
create policy hierarchy_nodes_select_member on public.hierarchy_nodes
  for select to authenticated
  using (
    (select private.current_app_role()) in ('manager', 'agent')
    and path operator(extensions.@>) (select private.current_node_path())
  );

create policy hierarchy_nodes_insert_admin on public.hierarchy_nodes
  for insert to authenticated
  with check ((select private.is_admin()));

create policy hierarchy_nodes_insert_manager on public.hierarchy_nodes
  for insert to authenticated
  with check (parent_id in (select private.managed_node_ids()));

create policy hierarchy_nodes_update_admin on public.hierarchy_nodes
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

-- A manager reshapes what lies under their node, not the node itself.
create policy hierarchy_nodes_update_manager on public.hierarchy_nodes
  for update to authenticated
  using (
    id in (select private.managed_node_ids())
    and id is distinct from (select private.current_node_id())
  )
  with check (parent_id in (select private.managed_node_ids()));

create policy hierarchy_nodes_delete_admin on public.hierarchy_nodes
  for delete to authenticated
  using ((select private.is_admin()));

create policy profiles_select_self on public.profiles
  for select to authenticated
  using (id = (select auth.uid()));

create policy profiles_select_admin on public.profiles
  for select to authenticated
  using ((select private.is_admin()));

create policy profiles_select_manager on public.profiles
  for select to authenticated
  using (node_id in (select private.managed_node_ids()));

create policy profiles_insert_admin on public.profiles
  for insert to authenticated
  with check ((select private.is_admin()));

create policy profiles_update_admin on public.profiles
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy profiles_update_self on public.profiles
  for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- There is no delete policy: people are deactivated; deleting the auth user removes the profile.

-- Users may edit their own name; role, node, active and email are an admin's to change.
create function private.tg_profiles__guard_privileged() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (select auth.uid()) is not null
     and not (select private.is_admin())
     and (new.role, new.node_id, new.active, new.email)
         is distinct from (old.role, old.node_id, old.active, old.email) then
    raise exception 'only an admin can change a profile''s role, node, active flag or email'
      using errcode = 'PY003';
  end if;
  return new;
end;
$$;

comment on function private.tg_profiles__guard_privileged() is
  'Trigger: refuses changes to role, node_id, active or email unless the caller is an admin.';

create trigger _200_guard_privileged before update on public.profiles
  for each row execute function private.tg_profiles__guard_privileged();
