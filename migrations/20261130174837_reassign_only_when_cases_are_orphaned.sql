-- The daily jobs' reassignment of orphaned cases returns at once when no open case is held by
-- someone who is no longer an active agent (issue 9's speed). It counted every agent's open cases
-- (private.branch_agents_by_load, 0.3 s on the 1M-policy book) before finding nothing to move, on
-- every regular day. What it moves, and to whom, is unchanged.

create or replace function private.reassign_orphaned_cases() returns integer
language plpgsql
set search_path = ''
set jit = off
as $$
declare
  reassigned integer;
begin
  -- Most days nobody has left: the branches' agents by load (a count over every open case) are
  -- not needed then.
  if not exists (select 1 from public.profiles a
                   join public.renewal_cases c on c.assignee_id = a.id
                  where not (a.active and a.role = 'agent')
                    and not private.case_stage_is_final(c.stage)) then
    return 0;
  end if;
  with orphaned as (
    select c.id as case_id,
           extensions.subpath(n.path, 0, 3) as branch_path,
           row_number() over (partition by extensions.subpath(n.path, 0, 3)
                              order by c.due_date, c.id) as turn
      from public.profiles a
      join public.renewal_cases c on c.assignee_id = a.id
      join public.hierarchy_nodes n on n.id = a.node_id and extensions.nlevel(n.path) >= 3
     where not (a.active and a.role = 'agent')
       and not private.case_stage_is_final(c.stage)
  )
  update public.renewal_cases c
     set assignee_id = b.agent_id
    from orphaned o
    join private.branch_agents_by_load() b
      on b.branch_path operator(extensions.=) o.branch_path
     and b.turn = (o.turn - 1) % b.agents + 1
   where c.id = o.case_id;
  get diagnostics reassigned = row_count;
  return reassigned;
end;
$$;

comment on function private.reassign_orphaned_cases() is
  'Daily: open cases held by someone who is no longer an active agent go round-robin to the '
  'active agents of the same branch, least loaded first. Returns how many moved. Idempotent.';
