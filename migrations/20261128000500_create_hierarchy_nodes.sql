-- The sales organisation as a tree: zone > region > branch > team. Each node carries its
-- materialised ltree path of codes (NORTH.DELHI.DEL_CP.DEL_CP_T1), so "everything under this
-- manager" is one indexed `<@` test.

create type public.hierarchy_level as enum ('zone', 'region', 'branch', 'team');
comment on type public.hierarchy_level is 'Depth of a node in the organisation, from the top.';

create table public.hierarchy_nodes (
  id uuid primary key default gen_random_uuid(),
  parent_id uuid references public.hierarchy_nodes (id) on delete restrict,
  level public.hierarchy_level not null,
  code text not null unique check (code ~ '^[A-Z][A-Z0-9_]{1,31}$'),
  name text not null check (length(btrim(name)) between 1 and 200),
  path extensions.ltree not null,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.hierarchy_nodes is
  'The organisation tree (zone > region > branch > team). Managers see what lies under their node.';
comment on column public.hierarchy_nodes.code is
  'Short unique code, upper case; also the node''s label in path.';
comment on column public.hierarchy_nodes.path is
  'Codes from the zone down to this node, e.g. NORTH.DELHI.DEL_CP. Maintained by trigger.';
comment on column public.hierarchy_nodes.active is 'False for a closed branch or disbanded team.';

create index hierarchy_nodes_path_idx on public.hierarchy_nodes using gist (path);
create index hierarchy_nodes_parent_id_idx on public.hierarchy_nodes (parent_id);

-- Before insert or update: check the level against the parent and compute the path.
create function private.tg_hierarchy_nodes__set_path() returns trigger
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
  'Trigger: a node sits exactly one level under its parent; computes path from the parent''s. '
  'Security definer: reads the parent whatever the caller may see; RLS still checks the row.';

-- After a node moves or is renamed, its whole subtree follows in one statement.
create function private.tg_hierarchy_nodes__move_subtree() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.hierarchy_nodes
     set path = new.path operator(extensions.||)
                extensions.subpath(path, extensions.nlevel(old.path))
   where path operator(extensions.<@) old.path
     and id <> new.id;
  return null;
end;
$$;

comment on function private.tg_hierarchy_nodes__move_subtree() is
  'Trigger: rewrites the paths of a moved or renamed node''s descendants. '
  'Security definer: a subtree''s paths must stay whole whoever moved it.';

create trigger _100_timestamps before update on public.hierarchy_nodes
  for each row execute function private.tg__set_updated_at();
create trigger _200_set_path before insert or update on public.hierarchy_nodes
  for each row execute function private.tg_hierarchy_nodes__set_path();
create trigger _300_move_subtree after update on public.hierarchy_nodes
  for each row when (old.path operator(extensions.<>) new.path)
  execute function private.tg_hierarchy_nodes__move_subtree();
