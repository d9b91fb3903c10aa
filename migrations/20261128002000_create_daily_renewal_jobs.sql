-- The daily renewal jobs, scheduled by pg_cron. Each takes `as_of` so tests can move the clock,
-- works in the business time zone, is set-based, and is idempotent: a second run the same day
-- changes nothing.

-- Opens a case for every active policy whose expiry is within its product line's lead days (and
-- that can still be renewed), with its first installment. The case goes to the policy's agent;
-- when that agent is inactive, to the active agents of the same branch in turn, least loaded first.
create function private.open_renewal_cases(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace_days jsonb := private.setting('GRACE_DAYS');
  high_premium bigint := (private.setting('HIGH_PRIORITY_PREMIUM_PAISE') #>> '{}')::bigint;
  longest_lead integer;
  longest_grace integer;
  opened integer;
begin
  select max(value::integer) into longest_lead from jsonb_each_text(lead_days);
  select max(value::integer) into longest_grace from jsonb_each_text(grace_days);

  with due as (
    select p.id, p.customer_id, p.agent_id, p.end_date, p.premium, p.payment_frequency,
           p.end_date + coalesce((grace_days ->> case
             when p.product_line = 'life' and p.payment_frequency = 'monthly' then 'life_monthly'
             else p.product_line::text end)::integer, 0) as grace_end
      from public.policies p
     where p.status = 'active'
       and p.end_date between today - longest_grace and today + longest_lead
       and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
       and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
  ),
  renewable as (
    select * from due where grace_end >= today
  ),
  -- Policies whose agent has left, numbered within the agent's branch.
  orphaned as (
    select r.id as policy_id,
           extensions.subpath(n.path, 0, 3) as branch_path,
           row_number() over (partition by extensions.subpath(n.path, 0, 3) order by r.end_date, r.id) as turn
      from renewable r
      join public.profiles a on a.id = r.agent_id and not a.active
      join public.hierarchy_nodes n on n.id = a.node_id and extensions.nlevel(n.path) >= 3
  ),
  -- Active agents per branch, the least loaded first.
  colleagues as (
    select p.id as agent_id,
           extensions.subpath(n.path, 0, 3) as branch_path,
           row_number() over (partition by extensions.subpath(n.path, 0, 3)
                              order by coalesce(load.open_cases, 0), p.id) as turn,
           count(*) over (partition by extensions.subpath(n.path, 0, 3)) as agents
      from public.profiles p
      join public.hierarchy_nodes n on n.id = p.node_id and extensions.nlevel(n.path) >= 3
      left join (
        select c.assignee_id, count(*) as open_cases
          from public.renewal_cases c
         where not private.case_stage_is_final(c.stage)
         group by c.assignee_id
      ) load on load.assignee_id = p.id
     where p.active and p.role = 'agent'
  ),
  substitutes as (
    select o.policy_id, c.agent_id
      from orphaned o
      join colleagues c on c.branch_path operator(extensions.=) o.branch_path
                       and c.turn = (o.turn - 1) % c.agents + 1
  ),
  opened_cases as (
    insert into public.renewal_cases
      (case_number, policy_id, customer_id, assignee_id, due_date, grace_end, priority)
    select public.format_case_number(today, nextval('public.renewal_case_number_seq')),
           r.id, r.customer_id, coalesce(s.agent_id, r.agent_id), r.end_date, r.grace_end,
           case when r.premium >= high_premium then 'high' else 'normal' end::public.case_priority
      from renewable r
      left join substitutes s on s.policy_id = r.id
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

comment on function private.open_renewal_cases(timestamptz) is
  'Daily: opens renewal cases (and their first installment) for policies entering their lead '
  'window (RENEWAL_LEAD_DAYS). Returns how many opened. Idempotent.';

-- Moves expired unpaid cases to pending_lapse, and to lapsed once their grace has ended.
create function private.advance_lapses(as_of timestamptz default now(), out pending_lapse integer, out lapsed integer)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
begin
  update public.renewal_cases
     set stage = 'pending_lapse'
   where stage in ('new', 'contacted', 'quoted', 'payment_pending')
     and due_date < today;
  get diagnostics pending_lapse = row_count;

  update public.renewal_cases
     set stage = 'lapsed'
   where stage = 'pending_lapse'
     and grace_end < today;
  get diagnostics lapsed = row_count;
end;
$$;

comment on function private.advance_lapses(timestamptz) is
  'Daily: open cases past their due date become pending_lapse; pending_lapse cases past '
  'grace_end become lapsed (and their policies lapsed). Idempotent.';

create function private.mark_overdue_installments(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  marked integer;
begin
  update public.outstanding_amounts
     set status = 'overdue'
   where status = 'pending'
     and due_date < private.business_date(as_of);
  get diagnostics marked = row_count;
  return marked;
end;
$$;

comment on function private.mark_overdue_installments(timestamptz) is
  'Daily: pending installments past their due date become overdue. Idempotent.';

create function private.run_daily_renewal_jobs(as_of timestamptz default now()) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  opened integer;
  lapses record;
  overdue integer;
begin
  -- One run at a time; a second caller waits and then finds nothing left to do.
  perform pg_advisory_xact_lock(hashtext('py360.run_daily_renewal_jobs'));
  opened := private.open_renewal_cases(as_of);
  lapses := private.advance_lapses(as_of);
  overdue := private.mark_overdue_installments(as_of);
  return jsonb_build_object(
    'business_date', private.business_date(as_of),
    'opened', opened,
    'pending_lapse', lapses.pending_lapse,
    'lapsed', lapses.lapsed,
    'overdue', overdue
  );
end;
$$;

comment on function private.run_daily_renewal_jobs(timestamptz) is
  'The daily renewal jobs in order: open cases, advance lapses, mark overdue installments. '
  'Scheduled by pg_cron at 06:00 IST; returns what each did.';

revoke execute on function private.open_renewal_cases(timestamptz),
  private.advance_lapses(timestamptz), private.mark_overdue_installments(timestamptz),
  private.run_daily_renewal_jobs(timestamptz) from public;
grant execute on function private.run_daily_renewal_jobs(timestamptz) to service_role;

-- 00:30 UTC is 06:00 in Asia/Kolkata.
select cron.schedule(
  'py360-daily-renewal-jobs',
  '30 0 * * *',
  'select private.run_daily_renewal_jobs()'
);
