-- The audit log as evidence (issue 13): nobody may change or remove a row of public.audit_log,
-- whatever their role, the table's owner included; each row says which API request made the
-- change; and the log keeps no personal data, so an erasure (which cannot touch it) leaves no
-- copy of the person behind in it.
--
-- Immutable: BEFORE UPDATE / DELETE row triggers and a BEFORE TRUNCATE statement trigger raise
-- 42501 for every role (triggers fire for the owner and for superusers too; only a superuser who
-- disables the triggers or sets session_replication_role could get round them, which the
-- platform's own roles cannot). The API roles also lose every write right: rows are written only
-- by private.tg__audit (security definer) and by definer functions owned by the migrations' role.
--
-- Request id: the functions set `request.id` (set_config, transaction-local) to the request id
-- they answer in X-Request-Id; a REST write through PostgREST takes the caller's X-Request-Id
-- header (request.headers) when one was sent.
--
-- Minimisation (what the audited tables hold that is about a person, walked table by table:
-- renewal_cases, outstanding_amounts, payments, consents, documents, tasks, reminder_rules,
-- campaigns, campaign_variants, campaign_steps; none holds a name, phone or email):
--   consents.evidence        dropped (form ids, IP addresses, call references, the person's own
--                            words); public.consent_ledger keeps it, where erasure can replace it.
--   documents.file_name, documents.object_key
--                            replaced: uploaded file names often carry the person's name
--                            ("Ramesh_Kumar_PAN.pdf"), and the object key ends with the file name.
--   renewal_cases.lost_reason, tasks.outcome
--                            replaced: free text the desk types after talking to the person
--                            ("wife in hospital, call after the 10th").
-- A replaced value reads '[redacted]', or '[redacted: changed]' in the new row of an update that
-- changed it, so the fact and the moment of the change stay. Kept: outstanding_amounts.reason
-- (the offline payment or waiver reference, an accounting record kept with the payments) and
-- payments' vendor failure texts; ids (customer_id, assignee_id, ...) are pseudonymous keys whose
-- rows erasure pseudonymises.

alter table public.audit_log add column request_id text;

comment on column public.audit_log.request_id is
  'The API request that made the change (the X-Request-Id the API answered, or the one a REST '
  'caller sent); null for jobs, webhooks without one, and migrations.';

-- Whatever a role holds, only the audit trigger and definer functions write the log.
revoke insert, update, delete, truncate on public.audit_log
  from anon, authenticated, service_role, analyst;

create function private.tg_audit_log__refuse_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'the audit log cannot be changed: % refused', lower(tg_op)
    using errcode = '42501',
          hint = 'audit_log rows are evidence; they are never updated, deleted or truncated.';
end;
$$;

comment on function private.tg_audit_log__refuse_change() is
  'Trigger: refuses every UPDATE, DELETE and TRUNCATE of public.audit_log (42501), for every role, '
  'the owner included.';

revoke execute on function private.tg_audit_log__refuse_change() from public;

create trigger _000_refuse_update before update on public.audit_log
  for each row execute function private.tg_audit_log__refuse_change();
create trigger _000_refuse_delete before delete on public.audit_log
  for each row execute function private.tg_audit_log__refuse_change();
create trigger _000_refuse_truncate before truncate on public.audit_log
  for each statement execute function private.tg_audit_log__refuse_change();

create function private.audit_redacted_columns(table_name text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select case table_name
    when 'documents' then array['file_name', 'object_key']
    when 'renewal_cases' then array['lost_reason']
    when 'tasks' then array['outcome']
    else array[]::text[]
  end
$$;

comment on function private.audit_redacted_columns(text) is
  'The columns of an audited table whose values the audit log replaces by ''[redacted]'' '
  '(''[redacted: changed]'' in the new row of an update that changed them): uploaded file names '
  '(and the object keys that end with them) and the desk''s free text about the person. consents.evidence is removed instead.';

revoke execute on function private.audit_redacted_columns(text) from public;

create function private.audit_row_sql(table_name text, this_alias text, other_alias text default null)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when table_name = 'consents' then format('(to_jsonb(%I) - ''evidence'')', this_alias)
    else format('to_jsonb(%I)', this_alias) || coalesce(string_agg(
      case when other_alias is null
        then format(' || jsonb_build_object(%L, case when %I.%I is not null then ''[redacted]'' end)',
                    k, this_alias, k)
        else format(' || jsonb_build_object(%L, case when %I.%I is distinct from %I.%I '
                    'then ''[redacted: changed]'' when %I.%I is not null then ''[redacted]'' end)',
                    k, this_alias, k, other_alias, k, this_alias, k)
      end, ''), '')
  end
  from unnest(private.audit_redacted_columns(table_name)) as k
$$;

comment on function private.audit_row_sql(text, text, text) is
  'The SQL expression private.tg__audit stores for a row of table_name read as this_alias: its '
  'JSON less consents.evidence, with private.audit_redacted_columns replaced (compared with '
  'other_alias, the row before an update, when given). Works on the record, not the JSON, so a '
  'daily job''s 100,000-row update pays a text comparison per row, not a JSON rewrite.';

revoke execute on function private.audit_row_sql(text, text, text) from public;

create function private.current_request_id() returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.id', true), ''),
    nullif(nullif(current_setting('request.headers', true), ''), 'null')::json ->> 'x-request-id')
$$;

comment on function private.current_request_id() is
  'The id of the API request running this transaction: request.id (set by the functions), else '
  'the X-Request-Id header PostgREST passed in request.headers; null for jobs.';

revoke execute on function private.current_request_id() from public;

-- Every statement runs through `execute` (planned for the rows it gets, migration
-- 20261129009400, and built for the table: its minimised columns).
create or replace function private.tg__audit() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor uuid := (select auth.uid());
  actor_role text := coalesce((select auth.role()), 'system');
  request text := private.current_request_id();
begin
  if tg_op = 'INSERT' then
    execute format($q$
      insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, request_id, new_row)
      select $1, n.id, 'insert', $2, $3, $4, %s from new_rows n$q$,
      private.audit_row_sql(tg_table_name, 'n'))
      using tg_table_name, actor, actor_role, request;
  elsif tg_op = 'UPDATE' then
    execute format($q$
      insert into public.audit_log
        (table_name, row_id, action, actor_id, actor_role, request_id, old_row, new_row)
      select $1, n.id, 'update', $2, $3, $4, %s, %s
        from new_rows n
        join old_rows o on o.id = n.id
       where to_jsonb(n) - 'updated_at' is distinct from to_jsonb(o) - 'updated_at'$q$,
      private.audit_row_sql(tg_table_name, 'o'), private.audit_row_sql(tg_table_name, 'n', 'o'))
      using tg_table_name, actor, actor_role, request;
  else
    execute format($q$
      insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, request_id, old_row)
      select $1, o.id, 'delete', $2, $3, $4, %s from old_rows o$q$,
      private.audit_row_sql(tg_table_name, 'o'))
      using tg_table_name, actor, actor_role, request;
  end if;
  return null;
end;
$$;

comment on function private.tg__audit() is
  'Statement trigger: writes audit_log rows from the transition tables new_rows and old_rows, '
  'with the acting user, role and request id, personal values minimised '
  '(private.audit_row_sql). Security definer: nobody may write audit_log directly.';

comment on table public.audit_log is
  'Every insert, update and delete of the audited tables (renewal_cases, outstanding_amounts, '
  'payments, consents, documents, tasks, reminder_rules, campaigns and their variants and steps), '
  'with the row before and after (personal values removed or ''[redacted]''), who made the change '
  'and the API request. A row''s history: where table_name = ... and row_id = ... order by id. '
  'Admins read it; nobody writes it directly, and no role may update, delete or truncate it.';
