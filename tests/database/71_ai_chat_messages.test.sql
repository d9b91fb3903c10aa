-- The case chat's history (issue 10, POST /api/ai/chat): public.ai_chat_messages is read by the
-- author while they still see the case and by admins, by nobody else (not the managers who see
-- the case, not another agent, not anon); nobody writes it directly, service_role included; turns
-- are recorded by private.record_ai_chat_turn (service_role only), which keeps the answer after
-- the question and refuses what does not hang together.
begin;
select plan(59);
select tests.create_test_book();

-- A turn of agent a about case a (answered by the model, with its AI request) and one of agent b
-- about case b (rules, no request).
insert into public.ai_requests (purpose, caller, case_id, model, prompt_hash)
values ('chat', tests.get_user_id('agent_a'), tests.fixture('case_a'), 'gpt-4o-mini', repeat('a', 64));
insert into tests.fixtures (name, id)
select 'ai_request_a', id from public.ai_requests where prompt_hash = repeat('a', 64);
select tests.authenticate_as_service_role();
create temporary table turns as
select 'a'::text as side, t.* from private.record_ai_chat_turn(
  tests.fixture('case_a'), tests.get_user_id('agent_a'), 'When is the premium due? Call 9810150461',
  'When is the premium due? Call <phone>', 'It is due in 30 days, Asha.',
  'It is due in 30 days, <customer>.', 'model', null, tests.fixture('ai_request_a'),
  now() - interval '1 second') t
union all
select 'b', t.* from private.record_ai_chat_turn(
  tests.fixture('case_b'), tests.get_user_id('agent_b'), 'What is outstanding?',
  'What is outstanding?', 'Rs 12,000 is outstanding.', 'Rs 12,000 is outstanding.', 'rules',
  'disabled', null) t;
reset role;
grant select on turns to authenticated, anon;

select is((select count(*)::int from turns where question_id is not null and answer_id is not null),
          2, 'service_role records a turn: the question and its answer, both ids returned');
select is((select array_agg(format('%s/%s/%s/%s', m.role, m.content, coalesce(m.source, '-'),
                                   coalesce(m.fallback_reason, '-')) order by m.created_at)
             from public.ai_chat_messages m where m.case_id = tests.fixture('case_a')),
          array['agent/When is the premium due? Call 9810150461/-/-',
                'assistant/It is due in 30 days, Asha./model/-'],
          'the agent''s message is stored as typed, then the answer with its source');
select is((select array_agg(m.redacted_content order by m.created_at)
             from public.ai_chat_messages m where m.case_id = tests.fixture('case_a')),
          array['When is the premium due? Call <phone>', 'It is due in 30 days, <customer>.'],
          'beside each, the text as the model saw it, which later prompts are built from');
select ok((select a.created_at > q.created_at
             from turns t
             join public.ai_chat_messages q on q.id = t.question_id
             join public.ai_chat_messages a on a.id = t.answer_id
            where t.side = 'b'),
          'the answer sorts after its question even within one statement''s clock');
select is((select array_agg(format('%s %s', author = tests.get_user_id('agent_a'),
                                   ai_request_id is not distinct from tests.fixture('ai_request_a'))
                            order by created_at)
             from public.ai_chat_messages where case_id = tests.fixture('case_a')),
          array['t f', 't t'],
          'both rows carry the author; the request id only the answer');

-- Who reads what: rows of case a's chat (2) and of case b's (2), per persona.
create temporary table reads (persona text, a_rows text, b_rows text, all_rows text);
grant insert, select on reads to authenticated, anon;
insert into reads
select p, tests.affected_rows_as(p, format(
            'select 1 from public.ai_chat_messages where case_id = %L', tests.fixture('case_a'))),
          tests.affected_rows_as(p, format(
            'select 1 from public.ai_chat_messages where case_id = %L', tests.fixture('case_b'))),
          tests.affected_rows_as(p, 'select 1 from public.ai_chat_messages')
  from unnest(array['agent_a', 'agent_b', 'zone_manager', 'branch_b_manager', 'analyst', 'admin',
                    'anon']) p;
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'agent_a'),
          '(2,0,2)', 'agent a reads their own conversation about case a, not agent b''s');
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'agent_b'),
          '(0,2,2)', 'agent b reads their own, not agent a''s');
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'zone_manager'),
          '(0,0,0)', 'the zone manager sees both cases but reads neither agent''s chat');
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'branch_b_manager'),
          '(0,0,0)', 'agent b''s branch manager does not read agent b''s chat');
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'analyst'),
          '(0,0,0)', 'an analyst reads no chat');
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'admin'),
          '(2,2,4)', 'an admin reads every conversation');
select is((select (a_rows, b_rows, all_rows)::text from reads where persona = 'anon'),
          '(42501,42501,42501)', 'anon may not read the table at all');

-- Nobody writes directly: insert, update, delete and truncate, per persona and service_role.
create temporary table writes (persona text, op text, result text);
grant insert, select on writes to authenticated, anon;
insert into writes
select p, w.op, tests.affected_rows_as(p, w.statement)
  from unnest(array['agent_a', 'agent_b', 'zone_manager', 'admin', 'anon']) p
 cross join (values
   ('insert', format('insert into public.ai_chat_messages (case_id, author, role, content)
                      values (%L, %L, ''agent'', ''hello'')',
                     tests.fixture('case_a'), tests.get_user_id('agent_a'))),
   ('insert answer', format('insert into public.ai_chat_messages (case_id, author, role, content, source)
                             values (%L, %L, ''assistant'', ''Forged answer'', ''model'')',
                            tests.fixture('case_a'), tests.get_user_id('agent_a'))),
   ('update', 'update public.ai_chat_messages set content = ''edited''' ),
   ('delete', 'delete from public.ai_chat_messages'),
   ('truncate', 'truncate public.ai_chat_messages')
 ) w (op, statement);
select is(array(select format('%s %s %s', persona, op, result) from writes
                 where result <> '42501' order by 1),
          '{}'::text[],
          'every direct insert, update, delete and truncate is refused (42501) to every persona');
select is((select count(*)::int from writes), 25, 'all 25 writes were tried');

select tests.authenticate_as_service_role();
select throws_ok(format('insert into public.ai_chat_messages (case_id, author, role, content)
                         values (%L, %L, ''agent'', ''hello'')',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '42501', null, 'service_role may not insert directly either');
select throws_ok('update public.ai_chat_messages set content = ''edited''', '42501', null,
                 'nor update');
select throws_ok('delete from public.ai_chat_messages', '42501', null, 'nor delete');
select is((select count(*)::int from public.ai_chat_messages), 4,
          'service_role reads every row (it records turns and reads them back)');
reset role;
select is((select count(*)::int from public.ai_chat_messages where content = 'edited'), 0,
          'no refused write changed a row');

-- Only service_role records a turn.
select tests.authenticate_as('agent_a');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''Forged'', ''Forged'', ''model'', null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '42501', null, 'an agent may not record a turn, not even in their own chat');
select tests.authenticate_as('admin');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('admin')),
                 '42501', null, 'nor may an admin');
select tests.clear_authentication();
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '42501', null, 'nor anon');
reset role;

-- What record_ai_chat_turn refuses, and the turn that broke off.
select tests.authenticate_as_service_role();
select lives_ok(format('select private.record_ai_chat_turn(%L, %L, ''Unanswered?'', ''Unanswered?'', null, null, null, null, null)',
                       tests.fixture('case_a'), tests.get_user_id('agent_a')),
                'a turn whose answer broke off keeps only the question');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, ''model'', null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '22023', 'an unanswered turn has no source, reason or request',
                 'no source without an answer');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, %L)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a'), gen_random_uuid()),
                 '22023', 'an unanswered turn has no source, reason or request',
                 'no request id without an answer');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', ''a'', ''rules'', null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'a rules answer needs its fallback reason');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', ''a'', ''model'', ''timeout'', null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'a model answer has none');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', ''a'', ''rules'', ''bored'', null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'an unknown fallback reason is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', ''a'', null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'an answer needs its source');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', ''a'', ''cache'', null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'a chat answer is from the model or the rules, never a cache');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''   '', ''   '', null, null, null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'an empty question is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, %L, ''q'', null, null, null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a'), repeat('x', 16001)),
                 '23514', null, 'an oversized text is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', %L, null, null, null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a'), repeat('x', 16001)),
                 '23514', null, 'an oversized redacted text is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', '' '', ''a'', ''a'', ''model'', null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'a blank redacted question is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', null, null, null, null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '22023', 'a question needs its redacted text',
                 'a question without its redacted text is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', null, ''model'', null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '22023', 'an answer and its redacted text go together',
                 'an answer without its redacted text is refused');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, ''a'', null, null, null)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '22023', 'an answer and its redacted text go together',
                 'and a redacted answer without the answer');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, null, ''infinity'')',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '22023', 'record_ai_chat_turn needs a finite asked_at', 'asked_at must be finite');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, null)',
                        tests.fixture('case_a'), gen_random_uuid()),
                 '22023', null, 'the author must be a user');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, null)',
                        gen_random_uuid(), tests.get_user_id('agent_a')),
                 '23503', null, 'the case must exist');
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', ''a'', ''a'', ''model'', null, %L)',
                        tests.fixture('case_a'), tests.get_user_id('agent_a'), gen_random_uuid()),
                 '23503', null, 'the AI request must exist');
reset role;
update public.profiles set active = false where id = tests.get_user_id('agent_b');
select tests.authenticate_as_service_role();
select throws_ok(format('select private.record_ai_chat_turn(%L, %L, ''q'', ''q'', null, null, null, null, null)',
                        tests.fixture('case_b'), tests.get_user_id('agent_b')),
                 '22023', null, 'an inactive user gets no new turns');
reset role;
update public.profiles set active = true where id = tests.get_user_id('agent_b');
select is((select count(*)::int from public.ai_chat_messages where case_id = tests.fixture('case_a')),
          3, 'of the refused turns none left a row; the broken-off one left its question');

-- The author reads their conversation only while they see the case: reassigned to agent b, case
-- a's chat is hidden from agent a, and agent b (who now sees the case) does not read it either.
update public.renewal_cases set assignee_id = tests.get_user_id('agent_b')
 where id = tests.fixture('case_a');
select is(tests.affected_rows_as('agent_a', format(
            'select 1 from public.ai_chat_messages where case_id = %L', tests.fixture('case_a'))),
          '0', 'a reassigned case''s chat is hidden from its author');
select is(tests.affected_rows_as('agent_b', format(
            'select 1 from public.ai_chat_messages where case_id = %L', tests.fixture('case_a'))),
          '0', 'and not shown to the new assignee');
select is(tests.affected_rows_as('admin', format(
            'select 1 from public.ai_chat_messages where case_id = %L', tests.fixture('case_a'))),
          '3', 'admins still read it');
update public.renewal_cases set assignee_id = tests.get_user_id('agent_a')
 where id = tests.fixture('case_a');
select is(tests.affected_rows_as('agent_a', format(
            'select 1 from public.ai_chat_messages where case_id = %L', tests.fixture('case_a'))),
          '3', 'handed back, the author reads it again');

-- Rows recorded before redacted_content existed have none (they are never sent to the model
-- again): its check is NOT VALID, so it leaves them be, yet refuses any new row without it, even
-- the table owner's.
select is((select convalidated from pg_constraint
            where conrelid = 'public.ai_chat_messages'::regclass
              and conname = 'ai_chat_messages_redacted_content_check'),
          false, 'the redacted text''s check spares the rows recorded before it (NOT VALID)');
select throws_ok(format('insert into public.ai_chat_messages (case_id, author, role, content)
                         values (%L, %L, ''agent'', ''no redacted text'')',
                        tests.fixture('case_a'), tests.get_user_id('agent_a')),
                 '23514', null, 'a new row without its redacted text is refused, even to the owner');

-- Retention: private.expire_ai_chat_messages deletes every message created more than
-- AI_RETENTION_DAYS (30) before as_of, the agent's text included; the AI requests stay.
update public.ai_chat_messages m
   set created_at = case when m.role = 'agent' then timestamptz '2026-12-31 23:59:59+00'
                         else timestamptz '2026-12-31 23:59:59.000001+00' end
 where m.id in (select question_id from turns where side = 'a'
                union all select answer_id from turns where side = 'a');
update public.ai_chat_messages m set created_at = timestamptz '2027-01-01 00:00:00+00'
 where m.case_id = tests.fixture('case_a') and m.content = 'Unanswered?';
update public.ai_chat_messages m
   set created_at = timestamptz '2027-01-20 10:00:00+00' + (m.role = 'assistant')::int * interval '1 second'
 where m.case_id = tests.fixture('case_b');
-- An unreadable setting gives its shipped default (30) rather than stopping the job (refused on
-- write since 20261130230500: written past the rule).
select tests.write_settings_unchecked('{"AI_RETENTION_DAYS": "thirty"}');
select tests.authenticate_as_service_role();
select is(private.expire_ai_chat_messages('2027-01-31 00:00:00+00'), 2::bigint,
          'the turn older than 30 days goes, question and answer (an unreadable setting: 30)');
reset role;
select is((select array_agg(m.content order by m.created_at) from public.ai_chat_messages m),
          array['Unanswered?', 'What is outstanding?', 'Rs 12,000 is outstanding.'],
          'a message exactly 30 days old stays, and so do the newer ones');
select is((select count(*)::int from public.ai_requests where id = tests.fixture('ai_request_a')), 1,
          'the AI request behind the deleted answer stays (its own expiry keeps its figures)');
select tests.authenticate_as_service_role();
select is(private.expire_ai_chat_messages('2027-01-31 00:00:00+00'), 0::bigint,
          'run again the same day, nothing more goes');
reset role;
update public.app_settings set value = '10' where key = 'AI_RETENTION_DAYS';
select tests.authenticate_as_service_role();
select is(private.expire_ai_chat_messages('2027-01-31 00:00:00+00'), 3::bigint,
          'AI_RETENTION_DAYS is read at each run: at 10 days, the rest goes');
select throws_ok($$select private.expire_ai_chat_messages('infinity')$$, '22023',
                 'expire_ai_chat_messages needs a finite as_of', 'as_of must be finite');
reset role;
select is((select count(*)::int from public.ai_chat_messages), 0, 'no chat message is left');
select tests.authenticate_as('agent_a');
select throws_ok($$select private.expire_ai_chat_messages()$$, '42501', null,
                 'an agent may not run the expiry');
reset role;
select results_eq(
  $$select schedule, command, active from cron.job where jobname = 'expire-ai-chat-messages'$$,
  $$values ('55 0 * * *'::text, 'select private.expire_ai_chat_messages()'::text, true)$$,
  'pg_cron runs the chat''s expiry daily at 00:55 UTC, with the AI requests''');

-- The history the API reads is served by the index, not a scan.
create function pg_temp.explain_history() returns setof text
language plpgsql
as $$
declare
  line text;
begin
  for line in execute format(
    'explain select id, role, content from public.ai_chat_messages
      where case_id = %L and author = %L order by created_at desc, id desc limit 12',
    tests.fixture('case_a'), tests.get_user_id('agent_a'))
  loop
    return next line;
  end loop;
end;
$$;
set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from (
             select * from pg_temp.explain_history()) x(line)) like '%ai_chat_messages_history_idx%',
          'this agent''s history of this case reads ai_chat_messages_history_idx');

select * from finish();
rollback;
