-- Renewal cases: one per policy term coming up for renewal, worked by an assignee through a
-- stage machine enforced here, so no client can skip it.

create sequence public.renewal_case_number_seq;
comment on sequence public.renewal_case_number_seq is 'Numbers the readable case references.';

create table public.renewal_cases (
  id uuid primary key default gen_random_uuid(),
  case_number text not null unique,
  policy_id uuid not null unique references public.policies (id) on delete restrict,
  customer_id uuid not null references public.customers (id) on delete restrict,
  assignee_id uuid not null references public.profiles (id) on delete restrict,
  stage public.case_stage not null default 'new',
  priority public.case_priority not null default 'normal',
  due_date date not null,
  grace_end date not null,
  lost_reason text,
  stage_changed_at timestamptz not null default now(),
  closed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (grace_end >= due_date),
  constraint renewal_cases_reason_when_lost check (
    (stage in ('lost', 'not_taken')) = (lost_reason is not null and length(btrim(lost_reason)) > 0)
  )
);

comment on table public.renewal_cases is
  'A policy term up for renewal and the work on it. Visible to its assignee and their managers.';
comment on column public.renewal_cases.case_number is 'Readable reference, RC-YYYY-NNNNNN.';
comment on column public.renewal_cases.customer_id is 'The policyholder (copied from the policy).';
comment on column public.renewal_cases.assignee_id is
  'Who works the case: the policy''s agent, or a colleague in the branch when that agent is inactive.';
comment on column public.renewal_cases.due_date is 'The policy''s end date: renew by then.';
comment on column public.renewal_cases.grace_end is
  'Last day of grace (GRACE_DAYS); unpaid cases lapse after it. Equal to due_date without grace.';
comment on column public.renewal_cases.lost_reason is 'Why the renewal was lost or not taken; required then.';
comment on column public.renewal_cases.closed_at is 'When the case reached a final stage.';

-- An agent's pages, in due order; and everyone's, for admins.
create index renewal_cases_assignee_due_idx on public.renewal_cases (assignee_id, due_date, id);
create index renewal_cases_due_idx on public.renewal_cases (due_date, id);
create index renewal_cases_customer_id_idx on public.renewal_cases (customer_id);
-- The lapse job looks only at open cases.
create index renewal_cases_open_due_idx on public.renewal_cases (due_date)
  where stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse');

create function public.format_case_number(opened_on date, n bigint) returns text
language sql immutable
set search_path = ''
as $$
  select 'RC-' || to_char(opened_on, 'YYYY') || '-' || lpad(n::text, greatest(6, length(n::text)), '0')
$$;

comment on function public.format_case_number(date, bigint) is
  'RC-YYYY-NNNNNN from the opening date and a sequence number (more digits past 999999).';
grant execute on function public.format_case_number(date, bigint) to authenticated, service_role;

alter table public.renewal_cases
  alter column case_number
  set default public.format_case_number(current_date, nextval('public.renewal_case_number_seq'));

-- The stage machine. Same stage is always allowed (a no-op).
create function private.case_stage_transition_allowed(
  from_stage public.case_stage,
  to_stage public.case_stage
) returns boolean
language sql immutable
set search_path = ''
as $$
  select from_stage = to_stage or case from_stage
    when 'new' then to_stage in
      ('contacted', 'quoted', 'payment_pending', 'renewed', 'pending_lapse', 'lost', 'not_taken')
    when 'contacted' then to_stage in
      ('quoted', 'payment_pending', 'renewed', 'pending_lapse', 'lost', 'not_taken')
    when 'quoted' then to_stage in
      ('payment_pending', 'renewed', 'pending_lapse', 'lost', 'not_taken')
    when 'payment_pending' then to_stage in
      ('quoted', 'renewed', 'pending_lapse', 'lost', 'not_taken')
    when 'pending_lapse' then to_stage in ('renewed', 'lapsed', 'lost', 'not_taken')
    else false
  end
$$;

comment on function private.case_stage_transition_allowed(public.case_stage, public.case_stage) is
  'The renewal stage machine: which stage may follow which. renewed, lapsed, lost and not_taken are final.';

create function private.case_stage_is_final(stage public.case_stage) returns boolean
language sql immutable
set search_path = ''
as $$
  select stage in ('renewed', 'lapsed', 'lost', 'not_taken')
$$;

comment on function private.case_stage_is_final(public.case_stage) is 'True for stages a case never leaves.';

create function private.tg_renewal_cases__check_stage() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.stage is distinct from old.stage then
    if not private.case_stage_transition_allowed(old.stage, new.stage) then
      raise exception 'illegal stage transition from % to %', old.stage, new.stage
        using errcode = 'PY002';
    end if;
    new.stage_changed_at := now();
    if private.case_stage_is_final(new.stage) then
      new.closed_at := now();
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_renewal_cases__check_stage() is
  'Trigger: refuses illegal stage transitions (PY002) and stamps stage_changed_at and closed_at.';

-- A renewed or lapsed case settles its policy's status, in one statement per update.
create function private.tg_renewal_cases__settle_policies() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.policies p
     set status = case n.stage when 'renewed' then 'renewed' else 'lapsed' end::public.policy_status
    from new_rows n
    join old_rows o on o.id = n.id
   where p.id = n.policy_id
     and n.stage is distinct from o.stage
     and n.stage in ('renewed', 'lapsed')
     and p.status = 'active';
  return null;
end;
$$;

comment on function private.tg_renewal_cases__settle_policies() is
  'Trigger: marks policies renewed or lapsed when their case reaches that stage. '
  'Security definer: an agent closing a case may not edit policies, but the outcome must land.';

create trigger _100_timestamps before update on public.renewal_cases
  for each row execute function private.tg__set_updated_at();
create trigger _200_check_stage before update of stage on public.renewal_cases
  for each row execute function private.tg_renewal_cases__check_stage();
create trigger _800_settle_policies after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__settle_policies();

-- The stage trigger runs as the caller, so the desk needs the machine's helpers.
grant execute on function private.case_stage_transition_allowed(public.case_stage, public.case_stage),
  private.case_stage_is_final(public.case_stage) to authenticated, service_role;
