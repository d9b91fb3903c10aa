-- The lapse scoring's kept histories after a TRUNCATE (migration 20261130141207 keeps them and marks
-- the customers of changed rows). A TRUNCATE of policies, renewal_cases or outstanding_amounts
-- fires no row or statement trigger of insert, update or delete, so it marked nobody, and a
-- history could outlive the rows it was computed from (installments truncated, their late count
-- kept). It now deletes every kept history: the next run computes them all, as on a first run.

create function private.tg__forget_risk_histories() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.case_risk_histories;
  return null;
end
$$;
comment on function private.tg__forget_risk_histories() is
  'Deletes every kept lapse-risk history (private.case_risk_histories) after a TRUNCATE of a '
  'table they are computed from: a truncate names no rows to mark. Statement-level.';
revoke execute on function private.tg__forget_risk_histories() from public;

create trigger _900_forget_risk_histories after truncate on public.policies
  for each statement execute function private.tg__forget_risk_histories();
create trigger _900_forget_risk_histories after truncate on public.renewal_cases
  for each statement execute function private.tg__forget_risk_histories();
create trigger _900_forget_risk_histories after truncate on public.outstanding_amounts
  for each statement execute function private.tg__forget_risk_histories();
alter table public.policies enable always trigger _900_forget_risk_histories;
alter table public.renewal_cases enable always trigger _900_forget_risk_histories;
alter table public.outstanding_amounts enable always trigger _900_forget_risk_histories;
