-- The audit log as evidence (issue 13): no role changes, removes or truncates its rows, the owner
-- included (and granting a role the right back does not help: the triggers refuse); each row
-- names the API request that made the change; and it keeps no personal data (consent evidence
-- dropped; file names, object keys and the desk's free text replaced by a marker of the change).
begin;
select plan(31);
select tests.create_test_book();

create temporary table t104_before on commit drop as
  select count(*) as n, max(id) as last_id from public.audit_log;
grant select on t104_before to public;

-- Every API role: no write right at all.
select tests.clear_authentication();
select throws_ok($$update public.audit_log set actor_role = 'x'$$, '42501',
  'permission denied for table audit_log', 'anon cannot update the audit log');
select throws_ok($$delete from public.audit_log$$, '42501',
  'permission denied for table audit_log', 'anon cannot delete from it');
select throws_ok($$truncate public.audit_log$$, '42501',
  'permission denied for table audit_log', 'anon cannot truncate it');

select tests.authenticate_as('admin');
select throws_ok($$update public.audit_log set actor_role = 'x'$$, '42501',
  'permission denied for table audit_log', 'an admin (authenticated) cannot update the audit log');
select throws_ok($$delete from public.audit_log$$, '42501',
  'permission denied for table audit_log', 'nor delete from it');
select throws_ok($$truncate public.audit_log$$, '42501',
  'permission denied for table audit_log', 'nor truncate it');

select tests.authenticate_as_service_role();
select throws_ok($$update public.audit_log set actor_role = 'x'$$, '42501',
  'permission denied for table audit_log', 'service_role cannot update the audit log');
select throws_ok($$delete from public.audit_log$$, '42501',
  'permission denied for table audit_log', 'nor delete from it');
select throws_ok($$truncate public.audit_log$$, '42501',
  'permission denied for table audit_log', 'nor truncate it');
select throws_ok(
  $$insert into public.audit_log (table_name, row_id, action, actor_role)
    values ('renewal_cases', gen_random_uuid(), 'insert', 'system')$$,
  '42501', 'permission denied for table audit_log', 'nor forge a row');

reset role;
-- pgTAP lives where analysts cannot reach it: the statement runs as analyst, its SQLSTATE back.
create function pg_temp.sqlstate_as_analyst(statement text) returns text
language plpgsql
as $$
begin
  set local role analyst;
  execute statement;
  reset role;
  return 'no error';
exception when others then
  reset role;
  return sqlstate;
end;
$$;
select is(pg_temp.sqlstate_as_analyst($$update public.audit_log set actor_role = 'x'$$), '42501',
  'analyst cannot update the audit log');
select is(pg_temp.sqlstate_as_analyst($$delete from public.audit_log$$), '42501',
  'nor delete from it');
select is(pg_temp.sqlstate_as_analyst($$truncate public.audit_log$$), '42501', 'nor truncate it');

-- The owner (here the superuser that ran the migrations): the triggers refuse.
select throws_ok($$update public.audit_log set actor_role = 'x'$$, '42501',
  'the audit log cannot be changed: update refused', 'the owner cannot update the audit log');
select throws_ok($$delete from public.audit_log$$, '42501',
  'the audit log cannot be changed: delete refused', 'nor delete from it');
select throws_ok($$truncate public.audit_log$$, '42501',
  'the audit log cannot be changed: truncate refused', 'nor truncate it');

-- A right granted back by mistake does not open it either.
grant update, delete, truncate on public.audit_log to service_role;
select tests.authenticate_as_service_role();
select throws_ok($$update public.audit_log set actor_role = 'x'$$, '42501',
  'the audit log cannot be changed: update refused', 'service_role granted update is still refused');
select throws_ok($$delete from public.audit_log$$, '42501',
  'the audit log cannot be changed: delete refused', 'and delete');
select throws_ok($$truncate public.audit_log$$, '42501',
  'the audit log cannot be changed: truncate refused', 'and truncate');
reset role;
select is((select count(*) from public.audit_log where id <= (select last_id from t104_before)),
  (select n from t104_before), 'every row written before is still there');

-- The request id: the functions' request.id, else PostgREST's X-Request-Id header, else null.
select tests.authenticate_as('agent_a');
select set_config('request.id', 'req-t104-api', true);
update public.renewal_cases set priority = 'high' where id = tests.fixture('case_a');
select set_config('request.id', '', true);
select set_config('request.headers', '{"x-request-id": "hdr-t104-rest"}', true);
update public.renewal_cases set priority = 'urgent' where id = tests.fixture('case_a');
select set_config('request.id', 'req-t104-both', true);
update public.renewal_cases set priority = 'low' where id = tests.fixture('case_a');
select set_config('request.id', '', true);
select set_config('request.headers', '', true);
update public.renewal_cases set priority = 'normal' where id = tests.fixture('case_a');
select set_config('request.headers', json_build_object('x-request-id', 'req t104 ''; ' || repeat('x', 300))::text, true);
update public.renewal_cases set priority = 'high' where id = tests.fixture('case_a');
select set_config('request.headers', '', true);
reset role;
select results_eq(
  $$select new_row ->> 'priority', actor_id, actor_role, request_id from public.audit_log
     where table_name = 'renewal_cases' and row_id = tests.fixture('case_a')
       and id > (select last_id from t104_before)
     order by id$$,
  $$values ('high', tests.get_user_id('agent_a'), 'authenticated', 'req-t104-api'),
           ('urgent', tests.get_user_id('agent_a'), 'authenticated', 'hdr-t104-rest'),
           ('low', tests.get_user_id('agent_a'), 'authenticated', 'req-t104-both'),
           ('normal', tests.get_user_id('agent_a'), 'authenticated', null),
           ('high', tests.get_user_id('agent_a'), 'authenticated', null)$$,
  'each change records the acting user and its request: the API''s request.id, else the REST '
  'caller''s X-Request-Id, the API''s first; none outside a request, nor a malformed header');

-- Minimisation. A consent with evidence: the row kept, the evidence not.
insert into public.consents (customer_id, channel, purpose, status, source, evidence)
values (tests.fixture('customer_a'), 'email', 'marketing', 'granted', 'web_form',
        '{"ip": "203.0.113.7", "said": "Ramesh Kumar agrees"}');
select is(
  (select new_row ? 'evidence' from public.audit_log
    where table_name = 'consents' and action = 'insert' and id > (select last_id from t104_before)
      and new_row ->> 'channel' = 'email' and new_row ->> 'purpose' = 'marketing'),
  false, 'a consent''s evidence is not copied into the audit log');
select is(
  (select new_row ->> 'status' from public.audit_log
    where table_name = 'consents' and action = 'insert' and id > (select last_id from t104_before)
      and new_row ->> 'channel' = 'email' and new_row ->> 'purpose' = 'marketing'),
  'granted', 'the consent itself is');

-- A document uploaded under the person's name, then renamed, then its hold changed.
insert into public.documents (id, kind, case_id, object_key, file_name, content_type, size_bytes,
                              checksum_sha256, stored_at)
values ('10400000-0000-4000-8000-000000000001', 'kyc', tests.fixture('case_a'),
        'cases/' || tests.fixture('case_a') || '/10400000-0000-4000-8000-000000000001/kyc.pdf',
        'Ramesh_Kumar_PAN.pdf', 'application/pdf', 1234, repeat('ab', 32), now());
update public.documents set file_name = 'Ramesh_K_PAN_card.pdf'
 where id = '10400000-0000-4000-8000-000000000001';
update public.documents set legal_hold = true
 where id = '10400000-0000-4000-8000-000000000001';
select results_eq(
  $$select action, old_row ->> 'file_name', old_row ->> 'object_key',
           new_row ->> 'file_name', new_row ->> 'object_key', new_row ->> 'legal_hold'
      from public.audit_log
     where table_name = 'documents' and row_id = '10400000-0000-4000-8000-000000000001'
     order by id$$,
  $$values ('insert', null, null, '[redacted]', '[redacted]', 'false'),
           ('update', '[redacted]', '[redacted]', '[redacted: changed]', '[redacted]', 'false'),
           ('update', '[redacted]', '[redacted]', '[redacted]', '[redacted]', 'true')$$,
  'a document''s file name and object key are replaced by a marker that says when they changed');
select is(
  (select new_row ->> 'kind' from public.audit_log
    where table_name = 'documents' and row_id = '10400000-0000-4000-8000-000000000001'
      and action = 'insert'),
  'kyc', 'the rest of the document row is kept');

-- The desk's free text: a task's outcome, a lost case's reason.
insert into public.tasks (id, case_id, assignee_id, due_at, sla_hours, sla_due_at)
values ('10400000-0000-4000-8000-000000000002', tests.fixture('case_a'),
        tests.get_user_id('agent_a'), now(), 48, now() + interval '48 hours');
update public.tasks
   set status = 'done', outcome = 'Ramesh Kumar: wife in hospital, call after the 10th', done_at = now()
 where id = '10400000-0000-4000-8000-000000000002';
select results_eq(
  $$select old_row ->> 'status', old_row ->> 'outcome', new_row ->> 'status', new_row ->> 'outcome'
      from public.audit_log
     where table_name = 'tasks' and row_id = '10400000-0000-4000-8000-000000000002'
       and action = 'update'$$,
  $$values ('open', null, 'done', '[redacted: changed]')$$,
  'a task''s outcome is replaced by a marker of its change; its status is kept');
update public.renewal_cases set stage = 'lost', lost_reason = 'Ramesh Kumar moved to another insurer'
 where id = tests.fixture('case_b');
select results_eq(
  $$select old_row ->> 'stage', new_row ->> 'stage', old_row ->> 'lost_reason', new_row ->> 'lost_reason'
      from public.audit_log
     where table_name = 'renewal_cases' and row_id = tests.fixture('case_b') and action = 'update'
       and id > (select last_id from t104_before)$$,
  $$values ('new', 'lost', null, '[redacted: changed]')$$,
  'a lost case''s reason likewise; the stage change is kept');

select is(
  (select count(*)::integer from public.audit_log
    where id > (select last_id from t104_before)
      and (coalesce(old_row::text, '') || coalesce(new_row::text, '')) ~* 'ramesh|203\.0\.113'),
  0, 'no audit row written here holds the person''s name or address');
select cmp_ok(
  (select count(*)::integer from public.audit_log where id > (select last_id from t104_before)),
  '>=', 8, 'while every change above was audited');

-- The columns replaced exist in their tables (a rename would silently stop the replacement).
select is(
  (select count(*)::integer
     from unnest(array['documents', 'renewal_cases', 'tasks']) t,
          unnest(private.audit_redacted_columns(t)) c
    where not exists (select 1 from information_schema.columns ic
                       where ic.table_schema = 'public' and ic.table_name = t and ic.column_name = c)),
  0, 'every replaced column is a column of its table');
select is(
  (select count(*)::integer from information_schema.columns
    where table_schema = 'public' and table_name = 'consents' and column_name = 'evidence'),
  1, 'and consents.evidence, which is dropped, is one');

select * from finish();
rollback;
