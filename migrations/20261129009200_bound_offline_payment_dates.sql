-- An offline payment recorded on the desk may be dated no earlier than the start of the term it
-- renews. The bound before (the installment's creation) refused a cheque received the week before
-- the case happened to open; a renewal premium paid before the current term even began is what
-- the bound is for (an agent "renewing" with a payment dated 1999).

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
    if new.paid_at < (select p.start_date::timestamp at time zone
                               coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata')
                        from public.renewal_cases c
                        join public.policies p on p.id = c.policy_id
                       where c.id = new.case_id) then
      raise exception 'installment % renews a term that began after %: it cannot have been paid then',
        old.installment_number, new.paid_at
        using errcode = 'PY008';
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_outstanding_amounts__check_settlement() is
  'Trigger: locks the installment''s case first (settlements and closings take turns); '
  'installments of closed cases do not change (PY006); payments are not dated in the future, nor '
  'by the desk before the term being renewed began (PY008); the desk only settles (paid with a '
  'reference, or waived by a manager or admin: an agent writing off their own customer''s premium '
  'is a control gap) (PY003).';
