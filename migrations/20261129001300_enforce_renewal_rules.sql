-- The renewal rules, in the database where no write can skip them: whichever path changes a row
-- (the API, PostgREST, a job, a definer trigger), these triggers judge it.
--   renewed        only when nothing is outstanding (it follows settlement)
--   pending_lapse, lapsed   only from the daily jobs, and only when the dates say so
--   a closed case  takes no settlement, no overdue marking and no other change
--   assignment     only to active agents
--   settlement     offline payments dated no later than now; waivers by managers and admins only
--   consents       stamped with who recorded them and when, never taken from the desk

-- The clock the date rules judge by: now, or the `as_of` of the daily job running in this
-- transaction (set by the jobs with set_config('py360.as_of', ...)). The API roles cannot set
-- date-driven stages at all, so the override only ever serves the jobs and their tests.
create function private.job_clock() returns timestamptz
language plpgsql stable
set search_path = ''
as $$
begin
  return coalesce(nullif(current_setting('py360.as_of', true), '')::timestamptz, now());
end;
$$;

comment on function private.job_clock() is
  'The time the renewal rules judge dates by: the running daily job''s as_of (py360.as_of), else now().';

-- True when the statement runs for a caller of the API (PostgREST or our functions), as opposed to
-- service_role, the jobs or a definer function of ours.
create function private.is_api_caller() returns boolean
language sql stable
set search_path = ''
as $$
  select current_user in ('anon', 'authenticated')
$$;

comment on function private.is_api_caller() is
  'True when the current role is anon or authenticated: a desk user or the public, not a job.';

create or replace function private.tg_renewal_cases__check_stage() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  today date;
begin
  if new.stage is not distinct from old.stage then
    return new;
  end if;
  if not private.case_stage_transition_allowed(old.stage, new.stage) then
    raise exception 'illegal stage transition from % to %', old.stage, new.stage
      using errcode = 'PY002';
  end if;
  if new.stage = 'renewed' and public.case_outstanding(new.id) > 0 then
    raise exception 'case % still owes % paise: it renews when its installments are settled',
      new.case_number, public.case_outstanding(new.id)
      using errcode = 'PY005';
  end if;
  if new.stage in ('pending_lapse', 'lapsed') then
    if private.is_api_caller() then
      raise exception '% is set by the daily jobs from the case''s dates, not by hand', new.stage
        using errcode = 'PY005';
    end if;
    today := private.business_date(private.job_clock());
    if new.stage = 'pending_lapse' and new.due_date >= today then
      raise exception 'case % is due on %: it cannot be pending lapse on %',
        new.case_number, new.due_date, today
        using errcode = 'PY005';
    end if;
    if new.stage = 'lapsed' and new.grace_end >= today then
      raise exception 'case % is in grace until %: it cannot lapse on %',
        new.case_number, new.grace_end, today
        using errcode = 'PY005';
    end if;
  end if;
  new.stage_changed_at := now();
  if private.case_stage_is_final(new.stage) then
    new.closed_at := now();
  end if;
  return new;
end;
$$;

comment on function private.tg_renewal_cases__check_stage() is
  'Trigger: refuses illegal stage transitions (PY002); renewed only when nothing is outstanding, '
  'pending_lapse and lapsed only from the jobs and when due_date / grace_end have passed (PY005); '
  'stamps stage_changed_at and closed_at.';

-- A closed case is history: nothing about it changes any more.
create function private.tg_renewal_cases__freeze_closed() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.case_stage_is_final(old.stage)
     and (new.stage, new.assignee_id, new.priority, new.lost_reason, new.due_date, new.grace_end,
          new.policy_id, new.customer_id)
         is distinct from
         (old.stage, old.assignee_id, old.priority, old.lost_reason, old.due_date, old.grace_end,
          old.policy_id, old.customer_id)
     and new.stage is not distinct from old.stage then
    raise exception 'case % is closed (%): it no longer changes', old.case_number, old.stage
      using errcode = 'PY006';
  end if;
  return new;
end;
$$;

comment on function private.tg_renewal_cases__freeze_closed() is
  'Trigger: a renewed, lapsed, lost or not_taken case no longer changes (PY006). Stage changes '
  'out of a final stage are refused by the stage machine (PY002).';

create trigger _150_freeze_closed before update on public.renewal_cases
  for each row execute function private.tg_renewal_cases__freeze_closed();

-- Who may hold a case. Security definer: the caller may not see every profile.
create function private.is_active_agent(profile_id uuid) returns boolean
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select 1 from public.profiles p where p.id = profile_id and p.active and p.role = 'agent'
  );
end;
$$;

comment on function private.is_active_agent(uuid) is
  'True when the profile is an active agent. Security definer: judges an assignee the caller '
  'may not be able to read.';

create function private.tg_renewal_cases__check_assignee() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (tg_op = 'INSERT' or new.assignee_id is distinct from old.assignee_id)
     and not private.is_active_agent(new.assignee_id) then
    raise exception 'cases go only to active agents; % is not one', new.assignee_id
      using errcode = 'PY007';
  end if;
  return new;
end;
$$;

comment on function private.tg_renewal_cases__check_assignee() is
  'Trigger: a case is opened for, or handed to, an active agent only (PY007). RLS decides whether '
  'the caller may hand it to that agent.';

create trigger _250_check_assignee before insert or update of assignee_id on public.renewal_cases
  for each row execute function private.tg_renewal_cases__check_assignee();

-- Settlement: how an installment may move, and by whom.
create function private.tg_outstanding_amounts__check_settlement() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  case_stage public.case_stage;
begin
  if (new.status, new.amount, new.paid_at, new.reason, new.due_date)
     is not distinct from (old.status, old.amount, old.paid_at, old.reason, old.due_date) then
    return new;
  end if;
  select c.stage into case_stage from public.renewal_cases c where c.id = new.case_id;
  if private.case_stage_is_final(case_stage) then
    raise exception 'the case of installment % is closed (%): it takes no settlement',
      old.installment_number, case_stage
      using errcode = 'PY006';
  end if;
  if new.paid_at > now() then
    raise exception 'installment % cannot be paid at %, which is in the future',
      old.installment_number, new.paid_at
      using errcode = 'PY008';
  end if;
  if private.is_api_caller() then
    if new.status not in ('paid', 'waived') then
      raise exception 'the desk settles installments (paid or waived); % is set by the jobs', new.status
        using errcode = 'PY003';
    end if;
    if new.status = 'waived' and coalesce(private.current_app_role() not in ('admin', 'manager'), true) then
      raise exception 'only a manager or an admin may waive an installment'
        using errcode = 'PY003';
    end if;
    if new.status = 'paid' and coalesce(length(btrim(new.reason)), 0) = 0 then
      raise exception 'an offline payment needs a reason: the cheque, transfer or receipt reference'
        using errcode = '23514';
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_outstanding_amounts__check_settlement() is
  'Trigger: installments of closed cases do not change (PY006); payments are not dated in the '
  'future (PY008); the desk only settles (paid with a reference, or waived by a manager or '
  'admin: an agent writing off their own customer''s premium is a control gap) (PY003).';

create trigger _300_check_settlement before update on public.outstanding_amounts
  for each row execute function private.tg_outstanding_amounts__check_settlement();

-- Consents: who recorded it and when come from the session, never from the desk's request.
create function private.tg_consents__stamp_recorder() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.is_api_caller() then
    new.recorded_at := now();
    new.recorded_by := (select auth.uid());
  end if;
  return new;
end;
$$;

comment on function private.tg_consents__stamp_recorder() is
  'Trigger: stamps recorded_at and recorded_by from the transaction and the signed-in user when '
  'the desk records a consent; imports by service_role keep their own evidence of time.';

create trigger _100_stamp_recorder before insert or update on public.consents
  for each row execute function private.tg_consents__stamp_recorder();

revoke execute on function private.job_clock(), private.is_api_caller(),
  private.is_active_agent(uuid) from public;
grant execute on function private.job_clock(), private.is_api_caller(),
  private.is_active_agent(uuid) to authenticated, service_role;
