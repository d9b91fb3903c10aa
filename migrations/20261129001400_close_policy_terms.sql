-- The daily jobs learn a policy term's whole life, and follow the renewal rules:
--   * a term whose successor is already loaded (renewed_from_policy_id) is renewed: it gets no new
--     case, and an open case of it is settled (its installments waived, naming the successor);
--   * a term whose case ended lost or not_taken expires once its end date has passed, and a term
--     loaded after its grace had already ended expires without a case;
--   * the overdue sweep leaves closed cases alone;
--   * cases go only to active agents: a term whose agent is gone and whose branch has nobody left
--     waits, counted as unassigned, instead of landing on someone who cannot work it;
--   * stage changes are judged by the job's clock (private.job_clock);
--   * case numbers take the business year, not the server's UTC one;
--   * service_role can run the jobs it was granted (it lacked the inner functions).

-- Grace after expiry for one term, from GRACE_DAYS (`grace` is that setting, read once per job).
create function private.grace_days(
  grace jsonb,
  line public.product_line,
  frequency public.payment_frequency
) returns integer
language plpgsql immutable
set search_path = ''
as $$
begin
  return coalesce((grace ->> case
    when line = 'life' and frequency = 'monthly' then 'life_monthly'
    else line::text end)::integer, 0);
end;
$$;

comment on function private.grace_days(jsonb, public.product_line, public.payment_frequency) is
  'Days of grace after expiry for a product line and payment frequency, from the GRACE_DAYS '
  'setting passed in (life paid monthly: life_monthly). Missing lines have none.';

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

comment on function private.open_renewal_cases(timestamptz) is
  'Daily: opens renewal cases (and their first installment) for active policies entering their '
  'lead window (RENEWAL_LEAD_DAYS) that have no successor term loaded. The policy''s agent gets '
  'the case; when they cannot work it, an active agent of the branch, least loaded first; with '
  'nobody left in the branch the policy waits (see unassigned_renewals). Returns how many opened. '
  'Idempotent.';

-- Policies that should have a case today but have nobody to work it.
create function private.unassigned_renewals(as_of timestamptz default now()) returns integer
language plpgsql stable
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace jsonb := private.setting('GRACE_DAYS');
  waiting integer;
begin
  select count(*)::integer into waiting
    from public.policies p
   where p.status = 'active'
     and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
     and p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) >= today
     and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
     and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  return waiting;
end;
$$;

comment on function private.unassigned_renewals(timestamptz) is
  'How many policies are in their renewal window without a case after open_renewal_cases: their '
  'agent is gone and their branch has no active agent. An operations alarm, not a job.';

-- Terms renewed outside the desk: the insurer's data already holds the next term.
create function private.renew_succeeded_terms(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  renewed integer;
begin
  perform set_config('py360.as_of', as_of::text, true);
  -- Open cases of such terms owe nothing any more; settling them renews the case and the policy.
  update public.outstanding_amounts a
     set status = 'waived',
         reason = 'Renewed: successor term ' || s.policy_number || ' loaded'
    from public.renewal_cases c
    join public.policies s on s.renewed_from_policy_id = c.policy_id
   where a.case_id = c.id
     and a.status in ('pending', 'overdue')
     and not private.case_stage_is_final(c.stage);

  update public.policies p
     set status = 'renewed'
   where p.status in ('active', 'expired')
     and exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  get diagnostics renewed = row_count;
  return renewed;
end;
$$;

comment on function private.renew_succeeded_terms(timestamptz) is
  'Daily: a term whose successor is loaded (renewed_from_policy_id) is renewed; its open case is '
  'settled by waiving what it still owed, with the successor named as the reason. Returns how '
  'many policies it marked renewed (those with an open case are renewed by their case). Idempotent.';

-- Terms that ended without renewal and without a lapse.
create function private.expire_ended_terms(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
  grace jsonb := private.setting('GRACE_DAYS');
  expired integer;
begin
  update public.policies p
     set status = 'expired'
   where p.status = 'active'
     and p.end_date < today
     and (
       exists (select 1 from public.renewal_cases c
                where c.policy_id = p.id and c.stage in ('lost', 'not_taken'))
       or (p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) < today
           and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id))
     );
  get diagnostics expired = row_count;
  return expired;
end;
$$;

comment on function private.expire_ended_terms(timestamptz) is
  'Daily: active terms past their end date whose case was lost or not taken, and terms past their '
  'grace that never had a case, become expired. Idempotent.';

create or replace function private.advance_lapses(as_of timestamptz default now(), out pending_lapse integer, out lapsed integer)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
begin
  -- The stage machine judges these moves by the job's clock.
  perform set_config('py360.as_of', as_of::text, true);
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

create or replace function private.mark_overdue_installments(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  marked integer;
begin
  update public.outstanding_amounts a
     set status = 'overdue'
   where a.status = 'pending'
     and a.due_date < private.business_date(as_of)
     and exists (select 1 from public.renewal_cases c
                  where c.id = a.case_id and not private.case_stage_is_final(c.stage));
  get diagnostics marked = row_count;
  return marked;
end;
$$;

comment on function private.mark_overdue_installments(timestamptz) is
  'Daily: pending installments of open cases past their due date become overdue. Idempotent.';

create or replace function private.run_daily_renewal_jobs(as_of timestamptz default now()) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  renewed integer;
  opened integer;
  lapses record;
  expired integer;
  overdue integer;
begin
  -- One run at a time; a second caller waits and then finds nothing left to do.
  perform pg_advisory_xact_lock(hashtext('py360.run_daily_renewal_jobs'));
  renewed := private.renew_succeeded_terms(as_of);
  opened := private.open_renewal_cases(as_of);
  -- Installments first: one unpaid on the day its case lapses was overdue when it lapsed.
  overdue := private.mark_overdue_installments(as_of);
  lapses := private.advance_lapses(as_of);
  expired := private.expire_ended_terms(as_of);
  return jsonb_build_object(
    'business_date', private.business_date(as_of),
    'renewed_by_successor', renewed,
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
  'The daily renewal jobs in order: renew terms whose successor is loaded, open cases, mark '
  'overdue installments, advance lapses, expire ended terms. Scheduled by pg_cron at 06:00 IST; '
  'returns what each did and how many renewals wait for an agent (unassigned).';

revoke execute on function private.grace_days(jsonb, public.product_line, public.payment_frequency),
  private.unassigned_renewals(timestamptz), private.renew_succeeded_terms(timestamptz),
  private.expire_ended_terms(timestamptz) from public;
grant execute on function private.open_renewal_cases(timestamptz),
  private.advance_lapses(timestamptz), private.mark_overdue_installments(timestamptz),
  private.grace_days(jsonb, public.product_line, public.payment_frequency),
  private.unassigned_renewals(timestamptz), private.renew_succeeded_terms(timestamptz),
  private.expire_ended_terms(timestamptz), private.run_daily_renewal_jobs(timestamptz)
  to service_role;

-- The case number's year is the business year of the day the case opens.
alter table public.renewal_cases
  alter column case_number
  set default public.format_case_number(
    private.business_date(now()), nextval('public.renewal_case_number_seq'));
