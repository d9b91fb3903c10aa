-- Settling installments and closing their case are serialised on the case row. Before, two
-- payments of the same case committed side by side each saw the other's installment still
-- pending, so neither renewed the case, and the daily job later lapsed a case that owed nothing;
-- and a payment recorded while the case was being lapsed or lost landed on the closed case,
-- because the settlement check read the case's stage without a lock.
-- Now every change to an installment first locks its case (FOR NO KEY UPDATE, which the case's
-- own updates also take), so the second writer waits and then judges the committed case; and a
-- case that owes nothing never becomes pending_lapse or lapsed.

-- Locks a case row for the rest of the transaction and returns its stage as committed.
-- Security definer: the lock must be taken whatever the caller may update.
create function private.lock_case(case_id uuid) returns public.case_stage
language plpgsql
security definer
set search_path = ''
as $$
declare
  stage public.case_stage;
begin
  select c.stage into stage from public.renewal_cases c where c.id = lock_case.case_id
     for no key update;
  return stage;
end;
$$;

comment on function private.lock_case(uuid) is
  'Locks a renewal case row (FOR NO KEY UPDATE) until the transaction ends and returns its '
  'stage, as committed: settlement and closing of a case take turns. Security definer: the lock '
  'is taken whatever the caller may update.';

create or replace function private.tg_outstanding_amounts__check_settlement() returns trigger
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
  case_stage := private.lock_case(new.case_id);
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
    if new.paid_at < old.created_at then
      raise exception 'installment % was raised on %: it cannot have been paid at %',
        old.installment_number, old.created_at, new.paid_at
        using errcode = 'PY008';
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_outstanding_amounts__check_settlement() is
  'Trigger: locks the installment''s case first (settlements and closings take turns); '
  'installments of closed cases do not change (PY006); payments are not dated in the future, nor '
  'by the desk before the installment was raised (PY008); the desk only settles (paid with a '
  'reference, or waived by a manager or admin: an agent writing off their own customer''s premium '
  'is a control gap) (PY003).';

-- A case that owes nothing is not lapsing, whatever its dates say.
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
    if public.case_outstanding(new.id) = 0 then
      raise exception 'case % owes nothing: it cannot be %', new.case_number, new.stage
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
  'pending_lapse and lapsed only from the jobs, only while something is owed and only when '
  'due_date / grace_end have passed (PY005); stamps stage_changed_at and closed_at.';

create or replace function private.advance_lapses(as_of timestamptz default now(), out pending_lapse integer, out lapsed integer)
language plpgsql
set search_path = ''
as $$
declare
  today date := private.business_date(as_of);
begin
  -- The stage machine judges these moves by the job's clock.
  perform set_config('py360.as_of', as_of::text, true);
  update public.renewal_cases c
     set stage = 'pending_lapse'
   where c.stage in ('new', 'contacted', 'quoted', 'payment_pending')
     and c.due_date < today
     and public.case_outstanding(c.id) > 0;
  get diagnostics pending_lapse = row_count;

  update public.renewal_cases c
     set stage = 'lapsed'
   where c.stage = 'pending_lapse'
     and c.grace_end < today
     and public.case_outstanding(c.id) > 0;
  get diagnostics lapsed = row_count;
end;
$$;

comment on function private.advance_lapses(timestamptz) is
  'Daily: open cases past their due date that still owe become pending_lapse; pending_lapse '
  'cases past grace_end that still owe become lapsed (and their policies lapsed). Idempotent.';

revoke execute on function private.lock_case(uuid) from public;
grant execute on function private.lock_case(uuid) to authenticated, service_role;
