-- What the erasure left behind, closed (issue 13 follow-up): a deleted object's key is not kept
-- in private.object_deletions (20261130050125_forget_deleted_object_keys), a kept document's key
-- is declared kept for a reason (20261130051030_key_documents_without_file_names), and a Razorpay
-- webhook recorded after the erasure about the erased customer's money loses its personal keys
-- once applied, after the apply read them (20261130050150_forget_late_payment_events_...).
begin;
select plan(15);
select tests.create_test_book();

-- A deleted object keeps no key; an open one keeps it; the rule holds whoever finishes it.
select private.queue_object_deletion('documents', 'tests/105/Ramesh_Kumar_PAN.pdf', 'erasure');
select private.queue_object_deletion('documents', 'tests/105/other.pdf', 'retention');
create temporary table t_deletions on commit drop as
select d.id, d.object_key from private.object_deletions d where d.object_key like 'tests/105/%';
select private.finish_object_deletion((select id from t_deletions where object_key like '%Ramesh%'), 'store down');
select is((select object_key from private.object_deletions where id = (select id from t_deletions where object_key like '%Ramesh%')),
          'tests/105/Ramesh_Kumar_PAN.pdf', 'a failed deletion keeps its key for the next sweep');
select private.finish_object_deletion((select id from t_deletions where object_key like '%Ramesh%'));
select results_eq($$select object_key, done_at is not null, reason from private.object_deletions
                     where id = (select id from t_deletions where object_key like '%Ramesh%')$$,
                  $$values (null::text, true, 'erasure')$$,
                  'a deletion done keeps its row (reason, when) but not the key');
select is((select count(*)::int from private.object_deletions where object_key like '%Ramesh%'), 0,
          'nothing in the queue names the deleted file any more');
update private.object_deletions set done_at = now() where id = (select id from t_deletions where object_key = 'tests/105/other.pdf');
select is((select object_key from private.object_deletions where id = (select id from t_deletions where object_key = 'tests/105/other.pdf')),
          null, 'done by any other path, the key goes too');
select throws_ok($$update private.object_deletions set object_key = 'tests/105/back.pdf'
                    where id = (select id from t_deletions where object_key = 'tests/105/other.pdf')$$,
                 '23514', null, 'a done deletion cannot be given a key back');
select throws_ok($$insert into private.object_deletions (bucket, object_key, reason) values ('documents', null, 'erasure')$$,
                 '23514', null, 'an open deletion needs its key');
select lives_ok($$select private.queue_object_deletion('documents', 'tests/105/other.pdf', 'retention')$$,
                'the same object can be queued again');
select is((select count(*)::int from private.object_deletions where object_key = 'tests/105/other.pdf' and done_at is null), 1,
          'and is open once');

-- The registry says why a document's key may stay after the erasure.
select results_eq($$select treatment, why ~ 'no personal data' and why ~ 'document_key_is_generic'
                     from private.personal_data_columns
                    where table_name = 'public.documents' and column_name = 'object_key'$$,
                  $$values ('kept', true)$$,
                  'documents.object_key is kept: its keys hold no personal data, by construction');

-- Late Razorpay webhooks about an erased customer's payment.
update public.customers set email = 'zubin.late@erase.py360.test', phone = '+919833305555'
 where id = tests.fixture('customer_a');
update public.payments set status = 'captured', captured_at = now(), method = 'upi'
 where id = tests.fixture('payment_a');
select tests.authenticate_as('admin');
select ok((private.erase_customer(tests.fixture('customer_a'), 'ticket DPR-105 asked by email') ->> 'data_request_id') is not null,
          'customer_a is erased');
reset role;

-- As the ingest does: stored kept_for_review, then applied (processed_at) in the same transaction.
insert into public.payment_events (event_id, event_type, payload)
values ('evt_105_late_a', 'refund.processed',
        '{"payload": {"refund": {"entity": {"id": "rfnd_105", "payment_id": "pay_TA", "amount": 50000, "notes": {"customer": "Zubin Quayle-Erasmo"}}}, "payment": {"entity": {"id": "pay_TA", "email": "zubin.late@erase.py360.test", "contact": "+919833305555", "amount": 1200000}}}}'),
       ('evt_105_late_b', 'payment.captured',
        '{"payload": {"payment": {"entity": {"id": "pay_TB", "email": "customer_b@tests.py360.test", "notes": {"case": "B"}}}}}'),
       ('evt_105_late_c', 'payment.failed',
        '{"payload": {"payment": {"entity": {"id": "pay_TA", "email": "zubin.late@erase.py360.test"}}}}');
select is((select payload #>> '{payload,payment,entity,email}' from public.payment_events where event_id = 'evt_105_late_a'),
          'zubin.late@erase.py360.test', 'while it is being applied the event keeps its fields (the apply reads them)');
update public.payment_events set status = 'applied', processed_at = now() where event_id in ('evt_105_late_a', 'evt_105_late_b');
select is((select payload from public.payment_events where event_id = 'evt_105_late_a'),
          '{"payload": {"refund": {"entity": {"id": "rfnd_105", "amount": 50000, "payment_id": "pay_TA"}}, "payment": {"entity": {"id": "pay_TA", "amount": 1200000}}}}'::jsonb,
          'once applied, the erased customer''s event keeps ids and amounts, not email, contact nor notes');
select is((select payload #>> '{payload,payment,entity,email}' from public.payment_events where event_id = 'evt_105_late_b'),
          'customer_b@tests.py360.test', 'another customer''s event keeps its payload');
select is((select payload #>> '{payload,payment,entity,email}' from public.payment_events where event_id = 'evt_105_late_c'),
          'zubin.late@erase.py360.test', 'an event still kept for review keeps it (the review reads it)');
update public.payment_events set status = 'ignored', note = 'not an event Py360 acts on' where event_id = 'evt_105_late_c';
select is((select payload from public.payment_events where event_id = 'evt_105_late_c'),
          '{"payload": {"payment": {"entity": {"id": "pay_TA"}}}}'::jsonb, 'an ignored one loses them too');

select * from finish();
rollback;
