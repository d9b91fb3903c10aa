-- A profile follows its auth user, and never blocks one. The auth service creates and updates
-- users in its own transactions: a trigger of ours that raises there fails the sign-up itself.
--   * an unknown node code or a role without the node it needs gives an inactive profile that
--     waits for an admin, instead of a check violation inside GoTrue's insert;
--   * anything else unexpected is logged as a warning and the user is created without a profile
--     (they can do nothing until an admin repairs it: closed, not open);
--   * an email changed in auth.users is copied to the profile, and the profile's copy is no longer
--     unique (auth allows the same address for an SSO and a password user; a stale copy used to
--     refuse the next user given a freed address).

alter table public.profiles drop constraint profiles_email_key;
create index profiles_email_idx on public.profiles (email);
comment on column public.profiles.email is
  'Copy of the auth user''s email, kept in step by a trigger on auth.users. Not unique.';

create or replace function private.tg_users__create_profile() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  meta jsonb := coalesce(new.raw_app_meta_data, '{}');
  wanted text := meta ->> 'role';
  known_role boolean := coalesce(wanted in ('admin', 'manager', 'agent', 'analyst'), false);
  node uuid;
begin
  begin
    select n.id into node from public.hierarchy_nodes n where n.code = meta ->> 'node';
    insert into public.profiles (id, email, full_name, role, node_id, active)
    values (
      new.id,
      coalesce(new.email, new.id::text),
      left(coalesce(new.raw_user_meta_data ->> 'full_name', ''), 200),
      case when known_role then wanted::public.app_role else 'agent' end,
      node,
      known_role and (wanted in ('admin', 'analyst') or node is not null)
    )
    on conflict (id) do nothing;
  exception when others then
    raise warning 'auth user % was created without a profile: % (SQLSTATE %)',
      new.id, sqlerrm, sqlstate;
  end;
  return new;
end;
$$;

comment on function private.tg_users__create_profile() is
  'Trigger on auth.users: creates the profile from app_metadata (role, node). Without a known '
  'role, or without the node a manager or agent needs, the profile starts inactive. Never raises: '
  'sign-up must not fail because of us. Security definer: the auth service inserts users.';

create function private.tg_users__sync_profile_email() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  begin
    update public.profiles
       set email = coalesce(new.email, new.id::text)
     where id = new.id;
  exception when others then
    raise warning 'profile of auth user % keeps its old email: % (SQLSTATE %)',
      new.id, sqlerrm, sqlstate;
  end;
  return null;
end;
$$;

comment on function private.tg_users__sync_profile_email() is
  'Trigger on auth.users: copies a changed email to the profile. Never raises. Security definer: '
  'the auth service updates users.';

create trigger _510_sync_profile_email after update of email on auth.users
  for each row when (old.email is distinct from new.email)
  execute function private.tg_users__sync_profile_email();

-- The privileged-column guard judges the API's callers only: the email sync above runs as a
-- definer function on the auth service's behalf.
create or replace function private.tg_profiles__guard_privileged() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.is_api_caller()
     and not (select private.is_admin())
     and (new.role, new.node_id, new.active, new.email)
         is distinct from (old.role, old.node_id, old.active, old.email) then
    raise exception 'only an admin can change a profile''s role, node, active flag or email'
      using errcode = 'PY003';
  end if;
  return new;
end;
$$;

revoke execute on function private.tg_users__sync_profile_email() from public;
