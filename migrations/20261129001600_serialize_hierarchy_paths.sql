-- A node's path is computed from its parent's. Without a lock, a manager adding a team under a
-- branch while an admin renames the branch's region read the parent's old path, and the rename's
-- subtree rewrite (its snapshot taken before the team existed) never saw the team: after both
-- committed the team sat under a path that no longer exists, invisible to its own manager.
-- Every write that computes a path now takes one transaction-scoped lock on the tree first; the
-- statements after it see whatever the other writer committed. Hierarchy edits are rare and
-- short, so serialising them costs nothing the desk would notice.

create or replace function private.tg_hierarchy_nodes__set_path() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  parent public.hierarchy_nodes;
begin
  if tg_op = 'UPDATE' and new.level is distinct from old.level then
    raise exception 'a node''s level cannot change (node %)', old.code
      using errcode = 'PY001';
  end if;
  if tg_op = 'UPDATE' and new.parent_id is not distinct from old.parent_id
     and new.code = old.code then
    -- Only the subtree trigger below may rewrite the path of a node that did not move.
    if pg_trigger_depth() = 1 then
      new.path := old.path;
    end if;
    return new;
  end if;

  -- Held until commit: a concurrent insert or move waits, then reads the committed tree.
  perform pg_advisory_xact_lock(hashtext('py360.hierarchy_nodes.path'));

  if new.parent_id is null then
    if new.level <> 'zone' then
      raise exception 'a % needs a parent node', new.level using errcode = 'PY001';
    end if;
    new.path := extensions.text2ltree(new.code);
    return new;
  end if;

  select * into parent from public.hierarchy_nodes where id = new.parent_id;
  if not found then
    raise exception 'parent node % does not exist', new.parent_id using errcode = 'PY001';
  end if;
  if array_position(enum_range(null::public.hierarchy_level), new.level)
     <> array_position(enum_range(null::public.hierarchy_level), parent.level) + 1 then
    raise exception 'a % cannot sit under a %', new.level, parent.level using errcode = 'PY001';
  end if;
  new.path := parent.path operator(extensions.||) extensions.text2ltree(new.code);
  return new;
end;
$$;

comment on function private.tg_hierarchy_nodes__set_path() is
  'Trigger: a node sits exactly one level under its parent; computes path from the parent''s, '
  'under a transaction lock on the tree so concurrent inserts and moves cannot interleave. '
  'Security definer: reads the parent whatever the caller may see; RLS still checks the row.';
