-- private.lock_case (migration 20261129001800) is a definer function the desk's settlement
-- trigger calls, so any signed-in user could call it too: read the stage of any case by its id,
-- and hold a lock on it that stalls its settlement and the daily jobs. It now serves the desk
-- only for cases in the caller's book; the jobs and service_role as before.
create or replace function private.lock_case(case_id uuid) returns public.case_stage
language plpgsql
security definer
set search_path = ''
as $$
declare
  stage public.case_stage;
begin
  -- The caller's role as set for the session (a definer function's current_user is its owner).
  if current_setting('role') not in ('none', 'postgres', 'service_role')
     and not exists (select 1 from public.renewal_cases c
                      where c.id = lock_case.case_id
                        and c.assignee_id = any (private.visible_agent_ids())) then
    raise exception 'no such case, or not yours to lock' using errcode = '42501';
  end if;
  select c.stage into stage from public.renewal_cases c where c.id = lock_case.case_id
     for no key update;
  return stage;
end;
$$;
