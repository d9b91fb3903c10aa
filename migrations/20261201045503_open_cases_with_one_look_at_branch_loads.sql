-- The daily jobs' opening step pairs orphaned terms with substitute agents once, whatever plan
-- it gets.
--
-- Found when the renewals bench ran several regular days in one session (bench/renewals.ts):
-- the sixth call of the daily jobs in a session took 16 s instead of 4. From the sixth run a
-- PL/pgSQL statement may switch to a generic plan; that of the opening statement, estimating one
-- due term, joined the due terms to `substitutes` unmaterialised under a nested loop, so that for
-- each of 2,721 due terms it paired the 45 orphaned terms with the branches' 980 agents again:
-- 120 million ltree comparisons, 13 s. pg_cron opens a session per run, but any caller that
-- keeps one (a worker, a test walking days, a console) met it. `substitutes` is now
-- materialised: the pairing is done once in every plan. The statement is otherwise unchanged.
--
-- (Forcing custom plans on the daily jobs instead was measured and refused: the setting holds
-- for every row trigger and foreign-key check they fire, which were then planned per row, 5.1 s
-- against 3.7 s.)
--
-- Restated: private.open_renewal_cases (20261130184815), with only `substitutes` changed.

create or replace function private.open_renewal_cases(as_of timestamptz default now()) returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace jsonb := private.setting('GRACE_DAYS');
  high_premium bigint := (private.setting('HIGH_PRIORITY_PREMIUM_PAISE') #>> '{}')::bigint;
  longest_lead integer;
  longest_grace integer;
  last_run_day date;
  marked uuid[];
  scope uuid[];
  settings_fingerprint text := md5(concat_ws('|', lead_days::text, grace::text));
  opened integer;
begin
  select max(value::integer) into longest_lead from jsonb_each_text(lead_days);
  select max(value::integer) into longest_grace from jsonb_each_text(grace);
  -- The last run's day, unless it ran with other settings or after today (then: whole window).
  select s.last_day into last_run_day
    from private.opening_state s where s.fingerprint = settings_fingerprint and s.last_day <= today;
  insert into private.opening_state (last_day, fingerprint) values (today, settings_fingerprint)
  on conflict (id) do update set last_day = excluded.last_day, fingerprint = excluded.fingerprint;
  -- The notes this transaction can see (one of a transaction still open stays for the next run).
  with taken as (
    delete from private.opening_marks m returning m.policy_id
  )
  select coalesce(array_agg(distinct t.policy_id), '{}') into marked from taken t;

  -- The terms to look at: the whole window, or the noted ones and those the clock brought in.
  if last_run_day is null then
    scope := array(
      select p.id from public.policies p
       where p.status = 'active'
         and p.end_date between today - longest_grace and today + longest_lead);
  else
    scope := array(
      select m.id from unnest(marked) as m (id)
      union
      select p.id
        from unnest(enum_range(null::public.product_line)) as l (line)
       cross join lateral (
         -- A range of the index on active end dates per line (`offset 0` keeps the planner
         -- from turning this into a hash join over every active term).
         select p.id from public.policies p
          where p.status = 'active' and p.product_line = l.line
            and p.end_date > last_run_day + coalesce((lead_days ->> l.line::text)::integer, 0)
            and p.end_date <= today + coalesce((lead_days ->> l.line::text)::integer, 0)
         offset 0
       ) p);
  end if;

  with due as (
    select p.id, p.customer_id, p.agent_id, p.end_date, p.premium,
           p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) as grace_end
      from unnest(scope) as s (id)
      join public.policies p on p.id = s.id
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
  substitutes as materialized (
    -- Paired once, not per due term: under a generic plan (from a session's sixth run) the
    -- join was redone for every one.
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
  ),
  left_over as (
    -- Due terms no agent can take are looked at again tomorrow.
    insert into private.opening_marks (policy_id)
    select a.id
      from assigned a
     where not exists (select 1 from public.profiles p
                        where p.id = a.assignee_id and p.active and p.role = 'agent')
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
