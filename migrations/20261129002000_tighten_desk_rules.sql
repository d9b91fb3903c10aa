-- Three rules the review of the renewal rules found too loose:
--   * who counts as a desk caller is an allow-list of trusted roles (the owner running jobs and
--     definer functions, and service_role), not a deny-list of anon and authenticated: a login
--     role added later (an analyst role, say) is held to the desk's rules, not exempt from them;
--   * a consent granted on the desk must carry its evidence (the form, message or call it came
--     from): re-granting what a customer withdrew with nothing to show for it is refused;
--   * a node's parent is read FOR SHARE when its path is computed, so a REPEATABLE READ writer
--     cannot store a path from before a concurrent move (the transaction lock already serialises
--     READ COMMITTED writers, which is all the API and PostgREST use).

create or replace function private.is_api_caller() returns boolean
language sql stable
set search_path = ''
as $$
  select current_user not in ('postgres', 'service_role')
$$;

comment on function private.is_api_caller() is
  'True unless the current role is trusted: postgres (the owner: jobs, migrations and our '
  'definer functions) or service_role (imports, webhooks). Desk rules apply to everyone else.';

create function private.tg_consents__require_evidence() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.is_api_caller()
     and new.status = 'granted'
     and (tg_op = 'INSERT' or old.status is distinct from 'granted')
     and coalesce(new.evidence, '{}') = '{}' then
    raise exception 'a consent granted on the desk needs its evidence: the form, message or call it came from'
      using errcode = '23514';
  end if;
  return new;
end;
$$;

comment on function private.tg_consents__require_evidence() is
  'Trigger: a consent granted (or granted again after a withdrawal) on the desk must carry '
  'evidence; imports by service_role bring their own.';

create trigger _200_require_evidence before insert or update on public.consents
  for each row execute function private.tg_consents__require_evidence();

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

  -- FOR SHARE as well: a transaction whose snapshot predates a committed move of the parent
  -- (REPEATABLE READ, direct SQL only) gets a serialization error instead of a stale path.
  select * into parent from public.hierarchy_nodes where id = new.parent_id for share;
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
  'Trigger: a node sits exactly one level under its parent; computes path from the parent''s '
  '(read FOR SHARE), under a transaction lock on the tree so concurrent inserts and moves cannot '
  'interleave. Security definer: reads the parent whatever the caller may see; RLS still checks '
  'the row.';
