-- What the customer owes to renew: installments of the renewal premium, each with a due date and
-- a status. Settled installments (paid or waived) stay settled.

create table public.outstanding_amounts (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete cascade,
  installment_number smallint not null check (installment_number between 1 and 12),
  due_date date not null,
  amount bigint not null check (amount > 0),
  currency text not null default 'INR' check (currency ~ '^[A-Z]{3}$'),
  status public.installment_status not null default 'pending',
  paid_at timestamptz,
  reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (case_id, installment_number),
  constraint outstanding_amounts_paid_at_when_paid check ((status = 'paid') = (paid_at is not null)),
  constraint outstanding_amounts_reason_when_waived check (
    status <> 'waived' or (reason is not null and length(btrim(reason)) > 0)
  )
);

comment on table public.outstanding_amounts is
  'Installments due on a renewal case. overdue is set by the daily job once the due date passes.';
comment on column public.outstanding_amounts.amount is 'Amount due in paise.';
comment on column public.outstanding_amounts.paid_at is 'When it was paid (online or recorded offline).';
comment on column public.outstanding_amounts.reason is
  'Why it was waived or marked paid by hand (cheque number, approval, ...); required for waivers.';

-- The overdue sweep looks only at pending installments.
create index outstanding_amounts_pending_due_idx on public.outstanding_amounts (due_date)
  where status = 'pending';

create trigger _100_timestamps before update on public.outstanding_amounts
  for each row execute function private.tg__set_updated_at();

create function private.tg_outstanding_amounts__guard_settled() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status in ('paid', 'waived')
     and (new.status, new.amount, new.paid_at, new.reason)
         is distinct from (old.status, old.amount, old.paid_at, old.reason) then
    raise exception 'installment % is already %', old.installment_number, old.status
      using errcode = 'PY004';
  end if;
  return new;
end;
$$;

comment on function private.tg_outstanding_amounts__guard_settled() is
  'Trigger: a paid or waived installment is settled: its status, amount, payment time and '
  'reason no longer change (PY004). Repeating the same settlement changes nothing and passes.';

create trigger _200_guard_settled before update on public.outstanding_amounts
  for each row execute function private.tg_outstanding_amounts__guard_settled();

-- When the last open installment of an open case is settled, the case is renewed.
create function private.tg_outstanding_amounts__renew_settled_cases() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.renewal_cases c
     set stage = 'renewed'
   where c.id in (select n.case_id from new_rows n where n.status in ('paid', 'waived'))
     and not private.case_stage_is_final(c.stage)
     and not exists (
       select 1 from public.outstanding_amounts a
        where a.case_id = c.id and a.status in ('pending', 'overdue')
     );
  return null;
end;
$$;

comment on function private.tg_outstanding_amounts__renew_settled_cases() is
  'Trigger: renews a case once none of its installments is pending or overdue. '
  'Security definer: the outcome of a settled installment lands whoever settled it.';

create trigger _800_renew_settled_cases after update on public.outstanding_amounts
  referencing new table as new_rows
  for each statement execute function private.tg_outstanding_amounts__renew_settled_cases();
