-- The erasure's review (migration 20261130054516_close_erasure_review_gaps): after an erasure no
-- consent is granted to the person again and a withdrawal keeps no personal evidence (the desk's
-- door answers 55000, the one-tap link still withdraws harmlessly); their tasks' outcomes and
-- cases' lost reasons are erased (a closed case allows that change only to the erasure); the
-- reason of the erasure and of their earlier exports loses their identifiers. (The race with a
-- payment link being opened: tests/functions/erasure_payment_race.test.ts.)
begin;
select plan(34);
select tests.create_test_book();

update public.customers
   set full_name = 'Aadhya Nandini Das', phone = '+919811100741', email = 'aadhya.das@erase106.py360.test'
 where id = tests.fixture('customer_a');
update public.payments set status = 'captured', captured_at = now(), method = 'upi'
 where id = tests.fixture('payment_a');

-- A done call task naming the person, on each side; a lost case of the person, one of customer_b.
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status, outcome, done_at)
values (tests.fixture('case_a'), tests.get_user_id('agent_a'), now() - interval '2 days', 24,
        now() - interval '1 day', 'done', 'Spoke to Aadhya Das on 98111 00741, call back on aadhya.das@erase106.py360.test', now()),
       (tests.fixture('case_b'), tests.get_user_id('agent_b'), now() - interval '2 days', 24,
        now() - interval '1 day', 'done', 'Customer B will pay on Friday', now());
insert into public.renewal_cases (id, policy_id, customer_id, assignee_id, due_date, grace_end, stage, lost_reason)
values ('a1060000-0000-4000-8000-000000000001', tests.fixture('policy_spare'), tests.fixture('customer_a'),
        tests.get_user_id('agent_a'), current_date + 65, current_date + 65, 'lost',
        'Aadhya moved to a rival insurer; her husband phoned from 9811100741');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('T-POL-106B', 'health', 'Test Health', tests.fixture('customer_b'), tests.get_user_id('agent_b'),
        900000, 10000000, current_date - 300, current_date + 65);
insert into public.renewal_cases (id, policy_id, customer_id, assignee_id, due_date, grace_end, stage, lost_reason)
select 'a1060000-0000-4000-8000-000000000002', p.id, tests.fixture('customer_b'), tests.get_user_id('agent_b'),
       current_date + 65, current_date + 65, 'not_taken', 'Customer B did not answer'
  from public.policies p where p.policy_number = 'T-POL-106B';

-- An earlier export of the person, and one of customer_b whose reason happens to hold "Das".
insert into public.data_requests (id, kind, customer_id, reason, status)
values ('a1060000-0000-4000-8000-0000000000e1', 'export', tests.fixture('customer_a'),
        'Export asked by AADHYA DAS by phone 098111-00741 (nandini)', 'pending'),
       ('a1060000-0000-4000-8000-0000000000e2', 'export', tests.fixture('customer_b'),
        'Export for the Das family, ticket 9811100741', 'pending');

-- A message of each, for withdrawal evidence.
insert into public.messages (id, customer_id, case_id, channel, purpose, body, recipient,
                             idempotency_key, status)
values ('a1060000-0000-4000-8000-0000000000a1', tests.fixture('customer_a'), tests.fixture('case_a'),
        'sms', 'marketing', 'An offer', '+919811100741', 'erasure-106-a', 'delivered'),
       ('a1060000-0000-4000-8000-0000000000b1', tests.fixture('customer_b'), tests.fixture('case_b'),
        'sms', 'marketing', 'An offer', '+919800000002', 'erasure-106-b', 'delivered');

select tests.authenticate_as('admin');
create temporary table t_erased on commit drop as
select private.erase_customer(tests.fixture('customer_a'),
  'Request from Aadhya Das (aadhya.das@erase106.py360.test, +91 98111 00741), also 9811100741 and 098111-00741; ticket DPR-106') as result;
reset role;
grant select on t_erased to authenticated;

-- 3. The reasons.
select is((select reason from public.data_requests where id = ((select result from t_erased) ->> 'data_request_id')::uuid),
          'Request from <customer> <customer> (<customer>, <customer>), also <customer> and <customer>; ticket DPR-106',
          'the erasure''s reason keeps the ticket, not the name parts, email nor the phone in any of its forms');
select is((select reason from public.data_requests where id = 'a1060000-0000-4000-8000-0000000000e1'),
          'Export asked by <customer> <customer> by phone <customer> (<customer>)',
          'the person''s earlier export loses them too, in upper case and lower case');
select is((select reason from public.data_requests where id = 'a1060000-0000-4000-8000-0000000000e2'),
          'Export for the Das family, ticket 9811100741', 'another customer''s request is left as written');
select is((select count(*)::int from public.data_requests
            where customer_id = tests.fixture('customer_a') and reason ~* 'aadhya|nandini|das|9811100741|erase106'),
          0, 'no request of the person names them');

-- 2. The free text.
select is((select outcome from public.tasks where case_id = tests.fixture('case_a')), '[erased]',
          'the person''s task outcome is erased');
select is((select outcome from public.tasks where case_id = tests.fixture('case_b')), 'Customer B will pay on Friday',
          'another customer''s task outcome stays');
select results_eq($$select stage::text, lost_reason from public.renewal_cases where id = 'a1060000-0000-4000-8000-000000000001'$$,
                  $$values ('lost', '[erased]')$$, 'the person''s closed case keeps its stage, its lost reason is erased');
select is((select lost_reason from public.renewal_cases where id = 'a1060000-0000-4000-8000-000000000002'),
          'Customer B did not answer', 'another customer''s lost reason stays');
select results_eq($$select (result #>> '{counts,task_outcomes}')::int, (result #>> '{counts,lost_reasons}')::int from t_erased$$,
                  $$values (1, 1)$$, 'the counts say so');
select is((select count(*)::int from public.audit_log
            where table_name in ('tasks', 'renewal_cases') and (old_row::text ~* 'aadhya|9811100741' or new_row::text ~* 'aadhya|9811100741')),
          0, 'the audit log holds none of those words');
select is((select string_agg(treatment, ',' order by table_name) from private.personal_data_columns
            where (table_name, column_name) in (('public.tasks', 'outcome'), ('public.renewal_cases', 'lost_reason'),
                                                ('public.data_requests', 'reason'))),
          'erased,erased,erased', 'the registry marks the three columns erased');

-- A closed case still refuses every other change, and this one outside the erasure of its customer.
select throws_ok($$update public.renewal_cases set lost_reason = '[erased]' where id = 'a1060000-0000-4000-8000-000000000002'$$,
                 'PY006', null, 'outside an erasure a closed case''s lost reason does not change');
select set_config('py360.erasing_customer', tests.fixture('customer_a')::text, true);
select throws_ok($$update public.tasks set outcome = '[erased]' where case_id = tests.fixture('case_b')$$,
                 '22023', null, 'a done task of customer_b keeps its outcome during another customer''s erasure');
select throws_ok($$update public.renewal_cases set lost_reason = '[erased]' where id = 'a1060000-0000-4000-8000-000000000002'$$,
                 'PY006', null, 'the erasure of another customer does not open customer_b''s case');
select set_config('py360.erasing_customer', tests.fixture('customer_b')::text, true);
select throws_ok($$update public.tasks set outcome = 'done again' where case_id = tests.fixture('case_b')$$,
                 '22023', null, 'a done task of customer_b keeps its outcome unless it is [erased]');
select throws_ok($$update public.renewal_cases set lost_reason = 'something else' where id = 'a1060000-0000-4000-8000-000000000002'$$,
                 'PY006', null, 'during its customer''s erasure, only [erased] is taken');
select throws_ok($$update public.renewal_cases set lost_reason = '[erased]', due_date = due_date + 1
                    where id = 'a1060000-0000-4000-8000-000000000002'$$,
                 'PY006', null, 'and nothing else changes with it');
select set_config('py360.erasing_customer', '', true);

-- 1. Consents of the erased person.
select tests.authenticate_as('admin');
select throws_ok($$select private.record_consent(tests.fixture('customer_a'), 'whatsapp', 'marketing', 'granted',
                     'web_form', '{"form": "signed by Aadhya Das, aadhya.das@erase106.py360.test"}')$$,
                 '55000', null, 'the desk''s door refuses a grant to an erased customer');
select throws_ok($$select private.record_consent(tests.fixture('customer_a'), 'email', 'service', 'granted',
                     'agent_call', '{"call": "ref-1"}')$$,
                 '55000', null, 'whatever its evidence and purpose');
select is((select evidence from private.record_consent(tests.fixture('customer_a'), 'sms', 'service', 'withdrawn',
                                                       'agent_call', '{"note": "Aadhya asked by phone 9811100741"}')),
          '{}'::jsonb, 'a withdrawal on the desk is recorded, its evidence reduced to {}');
select tests.authenticate_as('admin');
select lives_ok($$select private.record_consent(tests.fixture('customer_b'), 'whatsapp', 'marketing', 'granted',
                    'web_form', '{"form": "F-106"}')$$,
                'a customer not erased is granted as before');
reset role;

select throws_ok($$insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
                   values (tests.fixture('customer_a'), 'email', 'marketing', 'granted', 'import', '{"by": "Aadhya"}')$$,
                 '55000', null, 'a system''s grant in the ledger is refused too, the owner''s included');
select throws_ok($$insert into public.consents (customer_id, channel, purpose, status, source, evidence)
                   values (tests.fixture('customer_a'), 'telegram', 'transactional', 'granted', 'import', '{}')
                   on conflict (customer_id, channel, purpose) do update set status = 'granted'$$,
                 '55000', null, 'and a direct grant in the state');
select throws_ok($$update public.consents set status = 'granted' where customer_id = tests.fixture('customer_a')$$,
                 '55000', null, 'and turning a withdrawn state back to granted');
select is((select count(*)::int from public.consents where customer_id = tests.fixture('customer_a') and status = 'granted'),
          0, 'nothing is granted to the person');

insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
values (tests.fixture('customer_a'), 'sms', 'marketing', 'withdrawn', 'sms_stop',
        '{"message_id": "a1060000-0000-4000-8000-0000000000a1", "from": "+919811100741"}'),
       (tests.fixture('customer_a'), 'email', 'marketing', 'withdrawn', 'import',
        '{"message_id": "a1060000-0000-4000-8000-0000000000b1", "by": "Aadhya"}'),
       (tests.fixture('customer_a'), 'whatsapp', 'marketing', 'withdrawn', 'import',
        '{"message_id": "Aadhya Das"}');
select results_eq($$select channel::text, evidence from public.consent_ledger
                     where customer_id = tests.fixture('customer_a') and source in ('sms_stop', 'import') and purpose = 'marketing'
                       and recorded_at = now() order by id$$,
                  $$values ('sms', '{"message_id": "a1060000-0000-4000-8000-0000000000a1"}'::jsonb),
                           ('email', '{}'::jsonb), ('whatsapp', '{}'::jsonb)$$,
                  'a withdrawal keeps only a message id of the person''s own messages, nothing else');
select results_eq($$select evidence from public.consents where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing'$$,
                  $$values ('{"message_id": "a1060000-0000-4000-8000-0000000000a1"}'::jsonb)$$,
                  'the state follows with the reduced evidence');
update public.consents set evidence = '{"note": "Aadhya again"}', source = 'import'
 where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'service';
select is((select evidence from public.consents where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'service'),
          '{}'::jsonb, 'a direct write of a withdrawn state keeps no evidence either');

-- The one-tap link of the person's old message still withdraws, harmlessly.
select results_eq($$select w ->> 'state', (w ->> 'channels')::int
                      from private.withdraw_by_consent_link(private.consent_link_token('a1060000-0000-4000-8000-0000000000a1',
                                                                                        now() + interval '1 day')) w$$,
                  $$values ('withdrawn', (select count(*)::int from unnest(enum_range(null::public.channel_type))))$$,
                  'the withdrawal link of an erased customer''s message still works');
select is((select count(*)::int from public.consent_ledger
            where customer_id = tests.fixture('customer_a') and source = 'withdrawal_link'
              and status = 'withdrawn' and evidence = '{"message_id": "a1060000-0000-4000-8000-0000000000a1"}'),
          (select count(*)::int from unnest(enum_range(null::public.channel_type))),
          'its rows are withdrawals with the message id only');
select is((select count(*)::int from public.consents where customer_id = tests.fixture('customer_a') and status = 'granted'),
          0, 'and nothing is granted after all that');
select is((select count(*)::int from public.consent_ledger
            where customer_id = tests.fixture('customer_a') and evidence::text ~* 'aadhya|9811100741|erase106'),
          0, 'no ledger row of the person names them');
select is((select count(*)::int from public.consents
            where customer_id = tests.fixture('customer_a') and evidence::text ~* 'aadhya|9811100741|erase106'),
          0, 'nor any state');
select is((select count(*)::int from public.consent_ledger where customer_id = tests.fixture('customer_b') and evidence = '{"form": "F-106"}'),
          1, 'customer_b''s grant kept its evidence');

select * from finish();
rollback;
