-- Cases follow their agent's leaving. Deactivating an agent, or making them a manager, left their
-- open cases with someone who can no longer work them; only new cases went to colleagues. The
-- daily jobs now hand such open cases round-robin to the active agents of the same branch, least
-- loaded first, exactly as they hand out new cases; what cannot be handed (nobody left in the
-- branch) is counted in `unassigned` with the renewals that wait for an agent.

-- Active agents per branch, numbered least loaded first: the turn order for handing out cases.
create function private.branch_agents_by_load()
returns table (agent_id uuid, branch_path extensions.ltree, turn bigint, agents bigint)
language sql stable
set search_path = ''
as $$
  select p.id,
         extensions.subpath(n.path, 0, 3),
         row_number() over (partition by extensions.subpath(n.path, 0, 3)
                            order by coalesce(load.open_cases, 0), p.id),
         count(*) over (partition by extensions.subpath(n.path, 0, 3))
    from public.profiles p
    join public.hierarchy_nodes n on n.id = p.node_id and extensions.nlevel(n.path) >= 3
    left join (
      select c.assignee_id, count(*) as open_cases
        from public.renewal_cases c
       where not private.case_stage_is_final(c.stage)
       group by c.assignee_id
    ) load on load.assignee_id = p.id
   where p.active and p.role = 'agent'
$$;

comment on function private.branch_agents_by_load() is
  'Active agents with their branch (the first three levels of their node''s path), numbered per '
  'branch by open cases held, fewest first (turn 1..agents): whom the jobs hand cases to.';

create function private.reassign_orphaned_cases() returns integer
language plpgsql
set search_path = ''
as $$
declare
  reassigned integer;
begin
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

create or replace function private.open_renewal_cases(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace jsonb := private.setting('GRACE_DAYS');
  high_premium bigint := (private.setting('HIGH_PRIORITY_PREMIUM_PAISE') #>> '{}')::bigint;
  longest_lead integer;
  longest_grace integer;
  opened integer;
begin
  select max(value::integer) into longest_lead from jsonb_each_text(lead_days);
  select max(value::integer) into longest_grace from jsonb_each_text(grace);

  with due as (
    select p.id, p.customer_id, p.agent_id, p.end_date, p.premium,
           p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) as grace_end
      from public.policies p
     where p.status = 'active'
       and p.end_date between today - longest_grace and today + longest_lead
       and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
       and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
       and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id)
  ),
  renewable as (
    select * from due where grace_end >= today
  ),
  -- Policies whose agent cannot work them (left, or not an agent), numbered within the branch.
  orphaned as (
    select r.id as policy_id,
           extensions.subpath(n.path, 0, 3) as branch_path,
           row_number() over (partition by extensions.subpath(n.path, 0, 3) order by r.end_date, r.id) as turn
      from renewable r
      join public.profiles a on a.id = r.agent_id and not (a.active and a.role = 'agent')
      join public.hierarchy_nodes n on n.id = a.node_id and extensions.nlevel(n.path) >= 3
  ),
  substitutes as (
    select o.policy_id, b.agent_id
      from orphaned o
      join private.branch_agents_by_load() b
        on b.branch_path operator(extensions.=) o.branch_path
       and b.turn = (o.turn - 1) % b.agents + 1
  ),
  assigned as (
    select r.*, case when o.policy_id is null then r.agent_id else s.agent_id end as assignee_id
      from renewable r
      left join orphaned o on o.policy_id = r.id
      left join substitutes s on s.policy_id = r.id
  ),
  opened_cases as (
    insert into public.renewal_cases
      (case_number, policy_id, customer_id, assignee_id, due_date, grace_end, priority)
    select public.format_case_number(today, nextval('public.renewal_case_number_seq')),
           a.id, a.customer_id, a.assignee_id, a.end_date, a.grace_end,
           case when a.premium >= high_premium then 'high' else 'normal' end::public.case_priority
      from assigned a
     where exists (select 1 from public.profiles p
                    where p.id = a.assignee_id and p.active and p.role = 'agent')
    on conflict (policy_id) do nothing
    returning id, policy_id, due_date
  )
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  select oc.id, 1, oc.due_date,
         p.premium - (installments.n - 1) * (p.premium / installments.n)
    from opened_cases oc
    join public.policies p on p.id = oc.policy_id
    cross join lateral (
      select case p.payment_frequency
        when 'annual' then 1 when 'half_yearly' then 2 when 'quarterly' then 4 else 12
      end as n
    ) installments;

  get diagnostics opened = row_count;
  return opened;
end;
$$;

create or replace function private.unassigned_renewals(as_of timestamptz default now()) returns integer
language plpgsql stable
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace jsonb := private.setting('GRACE_DAYS');
  longest_grace integer;
  waiting integer;
  stranded integer;
begin
  select max(value::integer) into longest_grace from jsonb_each_text(grace);
  select count(*)::integer into waiting
    from public.policies p
   where p.status = 'active'
     and p.end_date >= today - longest_grace
     and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
     and p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) >= today
     and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
     and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  select count(*)::integer into stranded
    from public.profiles a
    join public.renewal_cases c on c.assignee_id = a.id
   where not (a.active and a.role = 'agent')
     and not private.case_stage_is_final(c.stage);
  return waiting + stranded;
end;
$$;

comment on function private.unassigned_renewals(timestamptz) is
  'Renewals nobody can work after the day''s jobs: policies in their renewal window without a '
  'case, and open cases held by someone who is no longer an active agent (their branch has no '
  'active agent left to take them). An operations alarm, not a job.';

create or replace function private.run_daily_renewal_jobs(as_of timestamptz default now()) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  renewed integer;
  reassigned integer;
  opened integer;
  lapses record;
  expired integer;
  overdue integer;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'the daily jobs need a finite as_of, not %', coalesce(as_of::text, 'null')
      using errcode = '22023';
  end if;
  -- One run at a time; a second caller waits and then finds nothing left to do.
  perform pg_advisory_xact_lock(hashtext('py360.run_daily_renewal_jobs'));
  renewed := private.renew_succeeded_terms(as_of);
  reassigned := private.reassign_orphaned_cases();
  opened := private.open_renewal_cases(as_of);
  -- Installments first: one unpaid on the day its case lapses was overdue when it lapsed.
  overdue := private.mark_overdue_installments(as_of);
  lapses := private.advance_lapses(as_of);
  expired := private.expire_ended_terms(as_of);
  return jsonb_build_object(
    'business_date', private.business_date(as_of),
    'renewed_by_successor', renewed,
    'reassigned', reassigned,
    'opened', opened,
    'unassigned', private.unassigned_renewals(as_of),
    'pending_lapse', lapses.pending_lapse,
    'lapsed', lapses.lapsed,
    'expired', expired,
    'overdue', overdue
  );
end;
$$;

comment on function private.run_daily_renewal_jobs(timestamptz) is
  'The daily renewal jobs in order: renew terms whose successor is loaded, hand the open cases of '
  'agents who left to colleagues, open cases, mark overdue installments, advance lapses, expire '
  'ended terms. Refuses a null or infinite as_of. Scheduled by pg_cron at 06:00 IST; returns what '
  'each did and how many renewals nobody can work (unassigned).';

revoke execute on function private.branch_agents_by_load(), private.reassign_orphaned_cases()
  from public;
grant execute on function private.branch_agents_by_load(), private.reassign_orphaned_cases()
  to service_role;
