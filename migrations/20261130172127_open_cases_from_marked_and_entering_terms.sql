-- The daily jobs open cases by looking only at the terms that can have become due for one (issue
-- 9's goal: the daily jobs and the cadence within 10 s together on the 1M-policy book). Each day
-- private.open_renewal_cases read every active term in the widest renewal window (about 290,000
-- on that book, 0.8 s of heap) and hash-joined them with every case ever opened (533,000), to
-- open the 2,700 whose window had just begun; private.unassigned_renewals did the same scan
-- again to count what was left (0.8 s). A term becomes due for a case in one of two ways:
-- - the clock: its end date comes within its line's lead (RENEWAL_LEAD_DAYS). A run reads the
--   terms whose end date entered that lead since the last run's day, per line, from the index on
--   active end dates (a missed day is caught up);
-- - a change: a term inserted active, or updated to be active or to another end date, line or
--   payment frequency; a successor removed or re-pointed; a case deleted. Triggers note such
--   terms in private.opening_marks.
-- Terms that were due and could not be opened (no active agent in their branch) are noted again
-- for the next run, and private.unassigned_renewals counts those notes. Another RENEWAL_LEAD_DAYS
-- or GRACE_DAYS (fingerprinted in private.opening_state), no run yet, or a day before the last,
-- mean a run over the whole window, as before. Which cases are opened, and how, is unchanged.

create table private.opening_marks (
  id bigint generated always as identity primary key,
  policy_id uuid not null
);

comment on table private.opening_marks is
  'Append-only notes of terms that may have become due for a renewal case other than by the '
  'clock (inserted, re-dated, reactivated, lost a successor or a case), and of due terms no agent '
  'could take; private.open_renewal_cases takes them. No foreign key: a note of a deleted term '
  'finds nothing.';

create table private.opening_state (
  id boolean primary key default true check (id),
  last_day date not null,
  fingerprint text not null
);

comment on table private.opening_state is
  'One row: the business day of the last private.open_renewal_cases run and the fingerprint (md5) '
  'of RENEWAL_LEAD_DAYS and GRACE_DAYS it ran with.';

alter table private.opening_marks enable row level security;
alter table private.opening_state enable row level security;
revoke all on private.opening_marks, private.opening_state from public, anon, authenticated, service_role;

create function private.tg__mark_terms_for_opening() returns trigger
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
  end case;
  return null;
end;
$$;

comment on function private.tg__mark_terms_for_opening() is
  'Trigger (argument: what happened): notes in private.opening_marks a term that may have become '
  'due for a renewal case: inserted active; made active, re-dated, or given another line or '
  'payment frequency; whose successor was re-pointed or deleted; whose case was deleted.';

revoke execute on function private.tg__mark_terms_for_opening() from public, anon, authenticated, service_role;

create trigger _900_mark_for_opening_insert after insert on public.policies
  referencing new table as new_rows
  for each statement execute function private.tg__mark_terms_for_opening('inserted');
create trigger _900_mark_for_opening_change
  after update of status, end_date, product_line, payment_frequency on public.policies
  for each row when (new.status = 'active'
                     and (old.status, old.end_date, old.product_line, old.payment_frequency)
                         is distinct from (new.status, new.end_date, new.product_line, new.payment_frequency))
  execute function private.tg__mark_terms_for_opening('changed');
create trigger _900_mark_for_opening_repointed after update of renewed_from_policy_id on public.policies
  for each row when (old.renewed_from_policy_id is not null
                     and old.renewed_from_policy_id is distinct from new.renewed_from_policy_id)
  execute function private.tg__mark_terms_for_opening('successor_repointed');
create trigger _900_mark_for_opening_delete after delete on public.policies
  referencing old table as old_rows
  for each statement execute function private.tg__mark_terms_for_opening('successor_deleted');
create trigger _900_mark_for_opening_delete after delete on public.renewal_cases
  referencing old table as old_rows
  for each statement execute function private.tg__mark_terms_for_opening('case_deleted');
-- Bulk loads under session_replication_role = replica must not hide a term.
alter table public.policies enable always trigger _900_mark_for_opening_insert;
alter table public.policies enable always trigger _900_mark_for_opening_change;
alter table public.policies enable always trigger _900_mark_for_opening_repointed;
alter table public.policies enable always trigger _900_mark_for_opening_delete;
alter table public.renewal_cases enable always trigger _900_mark_for_opening_delete;

-- The jobs run as service_role, which has no rights on the notes: these two hand them over.
create function private.take_opening_marks() returns uuid[]
language sql
security definer
set search_path = ''
as $$
  with taken as (
    delete from private.opening_marks m returning m.policy_id
  )
  select coalesce(array_agg(distinct t.policy_id), '{}') from taken t
$$;

comment on function private.take_opening_marks() is
  'Deletes the notes of private.opening_marks this transaction can see and returns their distinct '
  'terms (a note of a transaction still open stays for the next run). Security definer: the jobs '
  'run as service_role.';

create function private.mark_for_opening(terms uuid[]) returns void
language sql
security definer
set search_path = ''
as $$
  insert into private.opening_marks (policy_id) select t.id from unnest(terms) as t (id)
$$;

comment on function private.mark_for_opening(uuid[]) is
  'Notes terms for the next private.open_renewal_cases run (those it could not open). Security '
  'definer: the jobs run as service_role.';

-- The day of the last run, or null when the next must read the whole window (first run, other
-- settings, or a day before the last); records this run's day and settings.
create function private.begin_opening_run(today date, lead_days jsonb, grace jsonb) returns date
language plpgsql
security definer
set search_path = ''
as $$
declare
  settings_fingerprint text := md5(concat_ws('|', lead_days::text, grace::text));
  last_run_day date;
begin
  select s.last_day into last_run_day
    from private.opening_state s where s.fingerprint = settings_fingerprint and s.last_day <= today;
  insert into private.opening_state (last_day, fingerprint) values (today, settings_fingerprint)
  on conflict (id) do update set last_day = excluded.last_day, fingerprint = excluded.fingerprint;
  return last_run_day;
end;
$$;

comment on function private.begin_opening_run(date, jsonb, jsonb) is
  'For private.open_renewal_cases: the business day of the last run made with the same '
  'RENEWAL_LEAD_DAYS and GRACE_DAYS, if not after today (else null: read the whole window); '
  'records today and these settings. Security definer: the jobs run as service_role.';

revoke execute on function private.take_opening_marks(), private.mark_for_opening(uuid[]),
  private.begin_opening_run(date, jsonb, jsonb) from public, anon, authenticated;
grant execute on function private.take_opening_marks(), private.mark_for_opening(uuid[]),
  private.begin_opening_run(date, jsonb, jsonb) to service_role;

create or replace function private.open_renewal_cases(as_of timestamptz default now()) returns integer
language plpgsql
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
  left_over uuid[];
  opened integer;
begin
  select max(value::integer) into longest_lead from jsonb_each_text(lead_days);
  select max(value::integer) into longest_grace from jsonb_each_text(grace);
  last_run_day := private.begin_opening_run(today, lead_days, grace);
  marked := private.take_opening_marks();

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
  left_over := array(
    select p.id
      from unnest(scope) as s (id)
      join public.policies p on p.id = s.id
     where p.status = 'active'
       and p.end_date between today - longest_grace and today + longest_lead
       and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
       and p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) >= today
       and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
       and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id));
  perform private.mark_for_opening(left_over);
  return opened;
end;
$$;

comment on function private.open_renewal_cases(timestamptz) is
  'Daily: opens a renewal case, with its first installment, for every active term whose end date '
  'is within its line''s lead (RENEWAL_LEAD_DAYS) and whose grace has not ended, unless it has a '
  'case or a successor; an orphaned term goes to the least-loaded agent of its branch. Reads the '
  'terms noted in private.opening_marks and those whose lead began since the last run (the whole '
  'window on the first run, after other settings, or for a day before the last). Due terms it '
  'could not open are noted for the next run. Returns how many cases it opened.';

create or replace function private.unassigned_renewals(as_of timestamptz default now()) returns integer
language plpgsql stable
security definer
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace jsonb := private.setting('GRACE_DAYS');
  waiting integer;
  stranded integer;
begin
  -- open_renewal_cases notes every due term it could not open.
  select count(distinct p.id)::integer into waiting
    from private.opening_marks m
    join public.policies p on p.id = m.policy_id
   where p.status = 'active'
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
  'How many renewals nobody works after the day''s private.open_renewal_cases: due terms it could '
  'not open (noted in private.opening_marks: their agent is gone and their branch has no active '
  'agent), and open cases held by someone who is no longer an active agent. An operations alarm, '
  'not a job. Security definer: reads the notes.';
