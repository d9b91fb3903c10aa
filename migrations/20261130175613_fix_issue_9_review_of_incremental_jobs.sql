-- What the adversarial review of the incremental daily jobs found (issue 9), each closed here
-- and replayed in tests/database/117_successor_marks and 118_opening_marks:
-- 1. A successor bulk-loaded (replica mode, no foreign key) before its predecessor noted a term
--    that did not exist yet; the predecessor, loaded later, was never noted and stayed active.
--    An inserted term that already has a successor is now noted too.
-- 2. A case moved to another policy (renewal_cases.policy_id updated) left its old term due and
--    without a case, never noted. The term is now noted, and the cadence visits the moved case.
-- 3. An installment added to the case of a term whose successor was already loaded stayed owed
--    (the full pass waived such installments every day). Adding one now notes the term.
-- 4. service_role could call the helpers that take the notes and move the opening clock, and so
--    make the jobs skip terms. The two jobs that need the notes are now security definer and do
--    it themselves; the helpers are gone. (The stage and desk rules treat the owner and
--    service_role alike, so the jobs behave as before.)

-- 1 and 3: the successor notes.
create or replace function private.tg_policies__mark_successors() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into private.successor_marks (predecessor_id)
    select n.renewed_from_policy_id from new_policies n where n.renewed_from_policy_id is not null
    union all
    -- A term loaded after its successor (possible in replica mode, without the foreign key).
    select n.id from new_policies n
     where exists (select 1 from public.policies s where s.renewed_from_policy_id = n.id);
  elsif tg_argv[0] = 'predecessor' then
    insert into private.successor_marks (predecessor_id) values (new.renewed_from_policy_id);
  else
    insert into private.successor_marks (predecessor_id) values (new.id);
  end if;
  return null;
end;
$$;

comment on function private.tg_policies__mark_successors() is
  'Trigger: notes in private.successor_marks the predecessor of a policy inserted or re-pointed '
  'with renewed_from_policy_id, a policy inserted when its successor is already there, and a '
  'policy that becomes active or expired again.';

create function private.tg_outstanding_amounts__mark_successors() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.successor_marks (predecessor_id)
  select distinct c.policy_id
    from new_installments n
    join public.renewal_cases c on c.id = n.case_id
   where exists (select 1 from public.policies s where s.renewed_from_policy_id = c.policy_id);
  return null;
end;
$$;

comment on function private.tg_outstanding_amounts__mark_successors() is
  'Trigger: an installment added to the case of a term that has a successor notes the term in '
  'private.successor_marks, so the next daily run waives it as it waived the others.';

revoke execute on function private.tg_outstanding_amounts__mark_successors()
  from public, anon, authenticated, service_role;

create trigger _900_mark_successors_insert after insert on public.outstanding_amounts
  referencing new table as new_installments
  for each statement execute function private.tg_outstanding_amounts__mark_successors();
alter table public.outstanding_amounts enable always trigger _900_mark_successors_insert;

-- 2: a case moved to another policy.
create trigger _900_mark_for_opening_moved after update of policy_id on public.renewal_cases
  for each row when (old.policy_id is distinct from new.policy_id)
  execute function private.tg__mark_terms_for_opening('case_moved');
alter table public.renewal_cases enable always trigger _900_mark_for_opening_moved;

create or replace function private.tg__mark_terms_for_opening() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  case tg_argv[0]
    when 'inserted' then
      insert into private.opening_marks (policy_id)
      select n.id from new_rows n where n.status = 'active';
    when 'changed' then
      insert into private.opening_marks (policy_id) values (new.id);
    when 'successor_repointed' then
      insert into private.opening_marks (policy_id) values (old.renewed_from_policy_id);
    when 'successor_deleted' then
      insert into private.opening_marks (policy_id)
      select o.renewed_from_policy_id from old_rows o where o.renewed_from_policy_id is not null;
    when 'case_deleted' then
      insert into private.opening_marks (policy_id) select o.policy_id from old_rows o;
    when 'case_moved' then
      insert into private.opening_marks (policy_id) values (old.policy_id);
  end case;
  return null;
end;
$$;

comment on function private.tg__mark_terms_for_opening() is
  'Trigger (argument: what happened): notes in private.opening_marks a term that may have become '
  'due for a renewal case: inserted active; made active, re-dated, or given another line or '
  'payment frequency; whose successor was re-pointed or deleted; whose case was deleted or moved '
  'to another policy.';

drop trigger _900_visit_redated_cases on public.renewal_cases;
create trigger _900_visit_redated_cases after update of due_date, grace_end, policy_id
  on public.renewal_cases
  for each row when ((old.due_date, old.grace_end, old.policy_id)
                     is distinct from (new.due_date, new.grace_end, new.policy_id))
  execute function private.tg__visit_cases_again();
alter table public.renewal_cases enable always trigger _900_visit_redated_cases;

comment on function private.tg__visit_cases_again() is
  'Trigger: puts a new open case, or one whose due or grace date or policy changed, or whose '
  'policy''s line, premium or NCB changed, at the front of private.cadence_next_visits (visited at '
  'the next cadence run).';

-- 4: the jobs take their notes themselves.
create or replace function private.renew_succeeded_terms(as_of timestamptz default now()) returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  marked uuid[];
  renewed integer;
begin
  -- The notes this transaction can see (one of a transaction still open stays for the next run).
  with taken as (
    delete from private.successor_marks m returning m.predecessor_id
  )
  select array_agg(distinct t.predecessor_id) into marked from taken t;
  if marked is null then
    return 0;
  end if;
  perform set_config('py360.as_of', as_of::text, true);
  -- Open cases of such terms owe nothing any more; settling them renews the case and the policy.
  update public.outstanding_amounts a
     set status = 'waived',
         reason = 'Renewed: successor term ' || x.policy_number || ' loaded'
    from (select c.id as case_id, s.policy_number
            from unnest(marked) as t (id)
            join public.renewal_cases c on c.policy_id = t.id
           cross join lateral (
             select s.policy_number from public.policies s
              where s.renewed_from_policy_id = t.id
              order by s.start_date, s.policy_number
              limit 1
           ) s
           where not private.case_stage_is_final(c.stage)) x
   where a.case_id = x.case_id
     and a.status in ('pending', 'overdue');

  update public.policies p
     set status = 'renewed'
    from unnest(marked) as t (id)
   where p.id = t.id
     and p.status in ('active', 'expired')
     and exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  get diagnostics renewed = row_count;
  return renewed;
end;
$$;

comment on function private.renew_succeeded_terms(timestamptz) is
  'Daily: a term whose successor is loaded (renewed_from_policy_id) is renewed; its open case is '
  'settled by waiving what it still owed, with the successor named as the reason. Reads only the '
  'terms noted in private.successor_marks since the last run, and takes those notes. Returns how '
  'many policies it marked renewed (those with an open case are renewed by their case). Idempotent. '
  'Security definer: the notes are the job''s alone.';

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

  -- Due terms still without a case (no agent could take them) are looked at again tomorrow.
  insert into private.opening_marks (policy_id)
    select p.id
      from unnest(scope) as s (id)
      join public.policies p on p.id = s.id
     where p.status = 'active'
       and p.end_date between today - longest_grace and today + longest_lead
       and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
       and p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) >= today
       and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
       and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  return opened;
end;
$$;

comment on function private.open_renewal_cases(timestamptz) is
  'Daily: opens a renewal case, with its first installment, for every active term whose end date '
  'is within its line''s lead (RENEWAL_LEAD_DAYS) and whose grace has not ended, unless it has a '
  'case or a successor; an orphaned term goes to the least-loaded agent of its branch. Reads the '
  'terms noted in private.opening_marks and those whose lead began since the last run (the whole '
  'window on the first run, after other settings, or for a day before the last). Due terms it '
  'could not open are noted for the next run. Returns how many cases it opened. Security definer: '
  'the notes and the state are the job''s alone (service_role runs it, but may not touch them).';

drop function private.take_successor_marks();
drop function private.take_opening_marks();
drop function private.mark_for_opening(uuid[]);
drop function private.begin_opening_run(date, jsonb, jsonb);
