-- Who works the renewal desk: one profile per auth user, with an application role and a place in
-- the hierarchy. Roles and nodes come from app_metadata (set by admins), never user_metadata.

create type public.app_role as enum ('admin', 'manager', 'agent', 'analyst');
comment on type public.app_role is
  'admin: everything; manager: their subtree; agent: their own book; analyst: analytics only.';

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email extensions.citext not null unique,
  full_name text not null default '',
  role public.app_role not null default 'agent',
  node_id uuid references public.hierarchy_nodes (id) on delete restrict,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint profiles_node_required check (
    not active or role in ('admin', 'analyst') or node_id is not null
  )
);

comment on table public.profiles is
  'Desk users: one per auth user, with their role and hierarchy node.';
comment on column public.profiles.role is
  'Application role; decides what the user sees together with node_id.';
comment on column public.profiles.node_id is
  'Where the user sits: a manager sees this node''s subtree, an agent works from it.';
comment on column public.profiles.active is
  'Inactive users see nothing; their new cases go to colleagues in the branch.';

create index profiles_node_id_idx on public.profiles (node_id);

create trigger _100_timestamps before update on public.profiles
  for each row execute function private.tg__set_updated_at();

-- A new auth user gets a profile from their app_metadata. Without a role there they start
-- inactive, waiting for an admin.
create function private.tg_users__create_profile() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  meta jsonb := coalesce(new.raw_app_meta_data, '{}');
  granted boolean := coalesce(meta ->> 'role' in ('admin', 'manager', 'agent', 'analyst'), false);
begin
  insert into public.profiles (id, email, full_name, role, node_id, active)
  values (
    new.id,
    coalesce(new.email, new.id::text),
    coalesce(new.raw_user_meta_data ->> 'full_name', ''),
    case when granted then (meta ->> 'role')::public.app_role else 'agent' end,
    (select n.id from public.hierarchy_nodes n where n.code = meta ->> 'node'),
    granted
  );
  return new;
end;
$$;

comment on function private.tg_users__create_profile() is
  'Trigger on auth.users: creates the profile. Security definer: the auth service inserts users.';

create trigger _500_create_profile after insert on auth.users
  for each row execute function private.tg_users__create_profile();
