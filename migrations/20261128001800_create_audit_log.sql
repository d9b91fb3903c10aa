-- Who changed what and when, for cases, installments, payments and consents: evidence for
-- IRDAI grievance handling and DPDP requests. Written by statement-level triggers, so a daily
-- job that touches 100,000 rows writes its audit in one insert.

create table public.audit_log (
  id bigint generated always as identity primary key,
  table_name text not null,
  row_id uuid not null,
  action text not null check (action in ('insert', 'update', 'delete')),
  actor_id uuid,
  actor_role text not null,
  at timestamptz not null default now(),
  old_row jsonb,
  new_row jsonb
);

comment on table public.audit_log is
  'Every insert, update and delete on audited tables, with the row before and after.';
comment on column public.audit_log.actor_id is 'auth.uid() of the user; null for jobs and webhooks.';
comment on column public.audit_log.actor_role is
  'authenticated or service_role from the JWT; system for scheduled jobs and migrations.';

create index audit_log_row_idx on public.audit_log (table_name, row_id, at);

create function private.tg__audit() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := (select auth.uid());
  actor_role text := coalesce((select auth.role()), 'system');
begin
  if tg_op = 'INSERT' then
    insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, new_row)
    select tg_table_name, n.id, 'insert', actor, actor_role, to_jsonb(n) from new_rows n;
  elsif tg_op = 'UPDATE' then
    insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, old_row, new_row)
    select tg_table_name, n.id, 'update', actor, actor_role, to_jsonb(o), to_jsonb(n)
      from new_rows n
      join old_rows o on o.id = n.id
     where to_jsonb(n) - 'updated_at' is distinct from to_jsonb(o) - 'updated_at';
  else
    insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, old_row)
    select tg_table_name, o.id, 'delete', actor, actor_role, to_jsonb(o) from old_rows o;
  end if;
  return null;
end;
$$;

comment on function private.tg__audit() is
  'Statement trigger: writes audit_log rows from the transition tables new_rows and old_rows. '
  'Security definer: nobody may write audit_log directly.';

do $$
declare
  audited text;
begin
  foreach audited in array array['renewal_cases', 'outstanding_amounts', 'payments', 'consents'] loop
    execute format(
      'create trigger _900_audit_insert after insert on public.%I
         referencing new table as new_rows
         for each statement execute function private.tg__audit()', audited);
    execute format(
      'create trigger _900_audit_update after update on public.%I
         referencing old table as old_rows new table as new_rows
         for each statement execute function private.tg__audit()', audited);
    execute format(
      'create trigger _900_audit_delete after delete on public.%I
         referencing old table as old_rows
         for each statement execute function private.tg__audit()', audited);
  end loop;
end
$$;
