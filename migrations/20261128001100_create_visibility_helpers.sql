-- Who sees which book. A row of the renewal domain belongs to an agent (a policy's agent, a
-- case's assignee); a caller sees it when that agent is in visible_agent_ids(). Returning an
-- array lets policies say `agent_id = any ((select private.visible_agent_ids())::uuid[])`: evaluated once
-- per statement, and an index scan on agent_id rather than a join.

create function private.visible_agent_ids() returns uuid[]
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  caller_role public.app_role := private.current_app_role();
begin
  if caller_role = 'admin' then
    return array(select p.id from public.profiles p);
  elsif caller_role = 'manager' then
    return array(
      select p.id from public.profiles p where p.node_id in (select private.managed_node_ids())
    );
  elsif caller_role = 'agent' then
    return array[auth.uid()];
  end if;
  return '{}';
end;
$$;

comment on function private.visible_agent_ids() is
  'People whose book the caller sees: everyone for an admin, the people in their subtree for a '
  'manager, themselves for an agent, nobody for analysts and inactive users. '
  'Security definer: reads profiles without recursing into their RLS.';

create function private.is_desk_member() returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  return coalesce(private.current_app_role() in ('admin', 'manager', 'agent'), false);
end;
$$;

comment on function private.is_desk_member() is
  'True for active admins, managers and agents: the people who work renewals.';

grant execute on function private.visible_agent_ids(), private.is_desk_member()
  to authenticated, service_role;
