-- private.policy_timeline (issue 13): who may read a policy's timeline (desk members who see the
-- policy; everyone else P0002, like a missing policy), what it holds that the caller could not
-- read under RLS (the audit log's changes, other people's names), its order and its bound.
begin;
select plan(21);
select tests.create_test_book();

-- History on policy_a: the agent changes the priority (audited, with the request id) and makes
-- an AI call.
select tests.authenticate_as('agent_a');
select set_config('request.id', 'req-t104-timeline', true);
update public.renewal_cases set priority = 'high' where id = tests.fixture('case_a');
select set_config('request.id', '', true);
reset role;
insert into public.ai_requests (purpose, caller, case_id, customer_id, model, prompt_hash, outcome,
                                source, finished_at, cost_paise)
values ('risk_assessment', tests.get_user_id('agent_a'), tests.fixture('case_a'),
        tests.fixture('customer_a'), 'gpt-4o-mini', repeat('b', 64), 'ok', 'model', now(), 3);

-- Who may read it.
select tests.authenticate_as('agent_a');
select cmp_ok((select count(*)::integer from private.policy_timeline(tests.fixture('policy_a'))),
  '>', 0, 'the agent reads the timeline of their own policy');
select throws_ok(
  format('select * from private.policy_timeline(%L)', tests.fixture('policy_b')),
  'P0002', format('no policy %s', tests.fixture('policy_b')),
  'not another agent''s policy: P0002, as for a policy that does not exist');
select throws_ok(
  format('select * from private.policy_timeline(%L)', gen_random_uuid()),
  'P0002', null, 'a policy that does not exist');
select tests.authenticate_as('agent_b');
select throws_ok(
  format('select * from private.policy_timeline(%L)', tests.fixture('policy_a')),
  'P0002', null, 'agent_b cannot read agent_a''s policy');
select tests.authenticate_as('zone_manager');
select cmp_ok((select count(*)::integer from private.policy_timeline(tests.fixture('policy_a'))),
  '>', 0, 'the manager above the agent reads it');
select tests.authenticate_as('admin');
select cmp_ok((select count(*)::integer from private.policy_timeline(tests.fixture('policy_b'))),
  '>', 0, 'an admin reads any policy''s');
select tests.authenticate_as('analyst');
select throws_ok(
  format('select * from private.policy_timeline(%L)', tests.fixture('policy_a')),
  'P0002', null, 'a signed-in analyst is not on the desk');
select tests.clear_authentication();
select throws_ok(
  format('select * from private.policy_timeline(%L)', tests.fixture('policy_a')),
  '42501', null, 'anon may not call it at all');

-- What the agent sees through it that RLS hides from them: the audit log's change, with the
-- request that made it, and the AI call's actor.
select tests.authenticate_as('agent_a');
select is_empty($$select 1 from public.audit_log$$, 'under RLS the agent reads no audit row');
select results_eq(
  format($$select kind, actor_type, actor_id, actor_role, summary, refs ->> 'request_id'
             from private.policy_timeline(%L) where kind = 'case.changed'$$, tests.fixture('policy_a')),
  format($$values ('case.changed', 'user', %L::uuid, 'agent', 'Renewal case: priority normal → high',
                   'req-t104-timeline')$$, tests.get_user_id('agent_a')),
  'through the timeline: who changed the case, before and after, and the request');
select results_eq(
  format($$select kind, actor_type, actor_name, summary from private.policy_timeline(%L)
            where kind = 'ai.call'$$, tests.fixture('policy_a')),
  $$values ('ai.call', 'user', 'agent_a', 'AI risk_assessment with gpt-4o-mini: ok')$$,
  'and the AI call, by the agent');
select is(
  (select count(*)::integer from private.policy_timeline(tests.fixture('policy_a'))
    where refs ->> 'case_id' = tests.fixture('case_b')::text
       or refs ->> 'row_id' = tests.fixture('case_b')::text),
  0, 'nothing of another policy''s case');

-- The customer's consents: the ledger's rows, with who recorded them and from where (here the
-- STOP handler, a job: no user).
reset role;
select set_config('request.jwt.claims', '', true);
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'email', 'marketing', 'withdrawn', 'sms_stop');
select tests.authenticate_as('agent_a');
select results_eq(
  format($$select kind, actor_type, actor_id, summary, why from private.policy_timeline(%L)
            where kind = 'consent.withdrawn'$$, tests.fixture('policy_a')),
  format($$values ('consent.withdrawn', 'customer', %L::uuid, 'marketing consent on email withdrawn',
                   'source: sms_stop')$$, tests.fixture('customer_a')),
  'a withdrawal by the customer (an SMS STOP) is in the timeline');
select is(
  (select count(*)::integer from private.policy_timeline(tests.fixture('policy_a'))
    where kind like 'consent.%'),
  (select count(*)::integer from public.consent_ledger where customer_id = tests.fixture('customer_a')),
  'every ledger row of the customer, no more');

-- The customer's erasure: by the admin, with the reason asked for (customer_b: policy_b; its
-- payment failed first, or the erasure waits for it).
reset role;
update public.payments set status = 'failed', failure_reason = 'test' where id = tests.fixture('payment_b');
select tests.authenticate_as('admin');
select private.erase_customer(tests.fixture('customer_b'), 'Data principal request, ticket DPR-104');
select results_eq(
  format($$select kind, actor_type, actor_id, actor_role, why from private.policy_timeline(%L)
            where kind like 'customer.%%'$$, tests.fixture('policy_b')),
  format($$values ('customer.erased', 'user', %L::uuid, 'admin',
                   'Data principal request, ticket DPR-104')$$, tests.get_user_id('admin')),
  'an erasure of the policy''s customer is in its timeline, by whom and why');
select tests.authenticate_as('agent_a');

-- A document deleted by an admin: gone from documents, still in its policy's timeline.
reset role;
insert into public.documents (id, kind, case_id, object_key, file_name, content_type, stored_at)
values ('10400000-0000-4000-8000-000000000104', 'other', tests.fixture('case_a'),
        'cases/' || tests.fixture('case_a') || '/10400000-0000-4000-8000-000000000104/other.pdf',
        'note.pdf', 'application/pdf', now());
select tests.authenticate_as('admin');
delete from public.documents where id = '10400000-0000-4000-8000-000000000104';
select tests.authenticate_as('agent_a');
select results_eq(
  format($$select kind, actor_type, actor_id from private.policy_timeline(%L)
            where refs ->> 'row_id' = '10400000-0000-4000-8000-000000000104'$$,
         tests.fixture('policy_a')),
  format($$values ('document.deleted', 'user', %L::uuid)$$, tests.get_user_id('admin')),
  'a deleted document''s deletion stays in the timeline, by whom');

-- A marketing message the gate blocked (no marketing consent): in the timeline with why.
reset role;
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t104_offer', 'sms', 'en', 'marketing',
        'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL',
        '1101234567890123456', 'PYRNWL', '1107123456789010400',
        'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL');
select status::text, blocked_reason from private.enqueue_messages(jsonb_build_object(
  'customer_id', tests.fixture('customer_a'), 'case_id', tests.fixture('case_a'), 'channel', 'sms',
  'idempotency_key', 't104-offer', 'template_code', 't104_offer',
  'variables', '{"customer_name": "A"}'::jsonb));
select tests.authenticate_as('agent_a');
select results_eq(
  format($$select kind, actor_type, summary, why from private.policy_timeline(%L)
            where refs ->> 'message_id' = (select id::text from public.messages
                                            where idempotency_key = 't104-offer')$$,
         tests.fixture('policy_a')),
  $$values ('message.blocked', 'system', 'sms marketing message t104_offer', 'no_consent')$$,
  'a blocked message, with the gate''s reason');

-- Order and bound.
select is(
  (select bool_and(ok) from (
     select at >= lag(at, 1, at) over (order by ordinality) as ok
       from private.policy_timeline(tests.fixture('policy_a')) with ordinality) t),
  true, 'oldest first');
select is((select count(*)::integer from private.policy_timeline(tests.fixture('policy_a'), 1)), 1,
  'at most max_entries entries');
select is(
  (select kind from private.policy_timeline(tests.fixture('policy_a'), 1)),
  (select kind from private.policy_timeline(tests.fixture('policy_a')) limit 1),
  'the first ones');
select throws_ok(
  format('select * from private.policy_timeline(%L, 0)', tests.fixture('policy_a')),
  '22023', 'a timeline holds 1 to 100000 entries', 'a bound outside 1 to 100000 is refused');

select * from finish();
rollback;
