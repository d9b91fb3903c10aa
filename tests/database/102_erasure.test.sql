-- The right to erasure (migration 20261130043510_erase_customers): private.erase_customer
-- refuses what it must (bad reason, unknown or invisible customer, non-admins, a payment in
-- flight, a message being sent, already erased), erases every copy of the person's data in one
-- transaction (a failure midway leaves everything as it was), keeps policies and payments, and
-- cannot be undone by any role.
begin;
select plan(69);
select tests.create_test_book();

-- A distinctive person: customer_a, with data everywhere.
update public.customers
   set full_name = 'Zubin Quayle-Erasmo', phone = '+919833301234',
       email = 'zubin.quayle@erase.py360.test', city = 'Shillong'
 where id = tests.fixture('customer_a');
update public.consents set evidence = '{"form": "Zubin Quayle-Erasmo signed at the branch"}'
 where customer_id = tests.fixture('customer_a');

insert into public.messages (id, customer_id, case_id, channel, purpose, body, subject, recipient,
                             idempotency_key, status, variables, template_snapshot, last_error)
values ('a0000000-0000-4000-8000-000000000001', tests.fixture('customer_a'), tests.fixture('case_a'),
        'whatsapp', 'service', 'Dear Zubin Quayle-Erasmo, your policy T-POL-A renews soon', null,
        '+919833301234', 'erasure-test-1', 'delivered', '{"name": "Zubin Quayle-Erasmo"}',
        '{"whatsapp_name": "renewal_due", "whatsapp_parameters": ["Zubin Quayle-Erasmo"]}', null),
       ('a0000000-0000-4000-8000-000000000002', tests.fixture('customer_a'), tests.fixture('case_a'),
        'email', 'service', 'Dear Zubin Quayle-Erasmo', 'For Zubin Quayle-Erasmo',
        'zubin.quayle@erase.py360.test', 'erasure-test-2', 'queued', '{}', null, null),
       ('a0000000-0000-4000-8000-000000000003', tests.fixture('customer_a'), tests.fixture('case_a'),
        'sms', 'service', 'Hello Zubin', null, '+919833301234', 'erasure-test-3', 'failed', '{}', null,
        'The ''To'' number +919833301234 is not a valid phone number');
insert into public.message_events (provider, event_key, message_id, kind, status, payload)
values ('whatsapp_cloud', 'erasure-ev-1', 'a0000000-0000-4000-8000-000000000001', 'status', 'delivered',
        '{"recipient_id": "919833301234"}'),
       ('whatsapp_cloud', 'erasure-ev-2', null, 'inbound', null,
        '{"from": "919833301234", "profile": {"name": "Zubin Q"}, "text": "ok"}'),
       ('twilio', 'erasure-ev-3', null, 'inbound', null, '{"From": "+919800000002", "Body": "b"}');
insert into public.payment_events (event_id, event_type, payload)
values ('evt_erasure_a', 'payment.captured',
        '{"payload": {"payment": {"entity": {"id": "pay_TA", "amount": 1200000, "email": "zubin.quayle@erase.py360.test", "contact": "+919833301234", "notes": {"customer": "Zubin Quayle-Erasmo"}, "vpa": "9833301234@upi"}}}}'),
       ('evt_erasure_c', 'payment.authorized',
        '{"payload": {"payment": {"entity": {"id": "pay_TA", "acquirer_data": {"upi_id": "zubin.quayle@erase.py360.test"}}}}}'),
       ('evt_erasure_b', 'payment.captured',
        '{"payload": {"payment": {"entity": {"id": "pay_TB", "amount": 1200000, "email": "customer_b@tests.py360.test"}}}}');
insert into private.razorpay_calls (operation, subject_id, request)
values ('create_payment_link', tests.fixture('payment_a'),
        '{"amount": 1200000, "customer": {"name": "Zubin Quayle-Erasmo", "contact": "+919833301234"}}');
insert into public.ai_requests (purpose, model, prompt_hash, case_id, customer_id, prompt, response,
                                outcome, source, finished_at, cost_paise)
select (enum_range(null::public.ai_purpose))[1], 'gpt-test', repeat('a', 64), tests.fixture('case_a'),
       tests.fixture('customer_a'), '[{"role": "user", "content": "<customer> renews"}]',
       '{"answer": "call Zubin"}', 'ok', 'model', now(), 0;
insert into public.customer_social_accounts (customer_id, platform, external_id, handle, source)
values (tests.fixture('customer_a'), 'telegram', '7712345678', 'zubinq', 'deep_link');
insert into public.suppressions (channel, address, reason, source)
values ('sms', '+919833301234', 'stop_reply', 'twilio_stop'),
       ('email', 'zubin.quayle@erase.py360.test', 'hard_bounce', 'ses_bounce'),
       ('sms', '+919800000002', 'stop_reply', 'twilio_stop');
insert into public.tracked_links (id, code, case_id, customer_id, purpose, target_url, expires_at)
values ('a0000000-0000-4000-8000-0000000000a1', 'ErasureCode1', tests.fixture('case_a'),
        tests.fixture('customer_a'), 'payment_link', 'https://rzp.io/i/abc', now() + interval '1 day');
insert into public.link_clicks (tracked_link_id, case_id, clicked_at, user_agent)
values ('a0000000-0000-4000-8000-0000000000a1', tests.fixture('case_a'), now(), 'Mozilla/5.0 (Zubin phone)');
insert into public.documents (id, kind, customer_id, case_id, object_key, file_name, content_type,
                              status, stored_at)
values ('a0000000-0000-4000-8000-0000000000d1', 'other', tests.fixture('customer_a'), null,
        'customers/' || tests.fixture('customer_a') || '/a0000000-0000-4000-8000-0000000000d1/other.pdf',
        'Zubin Quayle-Erasmo letter.pdf', 'application/pdf', 'stored', now()),
       ('a0000000-0000-4000-8000-0000000000d2', 'kyc', tests.fixture('customer_a'), null,
        'customers/' || tests.fixture('customer_a') || '/a0000000-0000-4000-8000-0000000000d2/kyc.pdf',
        'Zubin Quayle-Erasmo PAN.pdf', 'application/pdf', 'stored', now());
insert into storage.objects (bucket_id, name, metadata)
select 'documents', d.object_key, '{"size": 10}' from public.documents d
 where d.id in ('a0000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d2');


-- Refusals.
select tests.authenticate_as('admin');
select throws_ok(format($$select private.erase_customer(%L, 'too short')$$, tests.fixture('customer_a')),
                 '22023', 'a reason of 10 to 500 characters is required', 'a reason under 10 characters is refused');
select throws_ok(format($$select private.erase_customer(%L, %L)$$, tests.fixture('customer_a'), repeat('x', 501)),
                 '22023', null, 'a reason over 500 characters is refused');
select throws_ok($$select private.erase_customer('00000000-0000-4000-8000-00000000ffff', 'ticket DPR-1 asked by email')$$,
                 'P0002', null, 'an unknown customer is not found');
select throws_ok(format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$, tests.fixture('customer_a')),
                 '55000', null, 'a payment created and not captured is in flight: refused');
reset role;
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), '^payment pay_TA is created$',
               'the reason names the payment');
update public.payments set status = 'authorized' where id = tests.fixture('payment_a');
select is(private.customer_payment_in_flight(tests.fixture('customer_a')), 'payment pay_TA is authorized',
          'an authorized payment is in flight');
update public.payments set status = 'captured', captured_at = now(), method = 'upi'
 where id = tests.fixture('payment_a');
select is(private.customer_payment_in_flight(tests.fixture('customer_a')), null,
          'a captured payment is not in flight');

insert into public.payment_orders (id, case_id, razorpay_order_id, amount, installment_ids, status, expires_at)
values ('a0000000-0000-4000-8000-0000000000c1', tests.fixture('case_a'),
        'order_ErasureA', 1200000, array[tests.fixture('installment_a')], 'attempted', now() + interval '10 minutes');
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), '^payment order .* is attempted',
               'an attempted order still open is in flight');
update public.payment_orders set expires_at = now() - interval '1 minute' where id = 'a0000000-0000-4000-8000-0000000000c1';
select is(private.customer_payment_in_flight(tests.fixture('customer_a')), null,
          'an attempted order past its expiry is not');
update public.payment_orders set status = 'creating', razorpay_order_id = null where id = 'a0000000-0000-4000-8000-0000000000c1';
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), 'is creating',
               'an order being created is in flight whatever its expiry');
update public.payment_orders set status = 'expired', razorpay_order_id = 'order_ErasureA'
 where id = 'a0000000-0000-4000-8000-0000000000c1';

insert into public.payment_links (id, case_id, outstanding_amount_id, razorpay_payment_link_id,
                                  short_url, amount, accept_partial, amount_paid, status, expire_by)
values ('a0000000-0000-4000-8000-0000000000b1', tests.fixture('case_a'), tests.fixture('installment_a'),
        'plink_ErasureA', 'https://rzp.io/i/abc', 1200000, true, 100000,
        'partially_paid', now() - interval '1 day');
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), '^payment link .* partially_paid$',
               'a partially paid link is in flight, even past its expiry date');
update public.payment_links set status = 'created', amount_paid = 0, expire_by = now() + interval '1 day'
 where id = 'a0000000-0000-4000-8000-0000000000b1';
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), '^payment link .* created$',
               'an open link not yet expired is in flight');
update public.payment_links set expire_by = now() - interval '1 minute'
 where id = 'a0000000-0000-4000-8000-0000000000b1';
select is(private.customer_payment_in_flight(tests.fixture('customer_a')), null,
          'a created link past its expiry is not');
update public.payment_links set status = 'expired' where id = 'a0000000-0000-4000-8000-0000000000b1';

insert into public.autopay_plans (id, period, interval, amount, razorpay_plan_id, status)
values ('a0000000-0000-4000-8000-0000000000f0', 'monthly', 1, 100000, 'plan_Erasure', 'created');
insert into public.autopay_mandates (id, case_id, autopay_plan_id, razorpay_subscription_id, status,
                                     installment_amount, period, interval, total_count, start_at,
                                     expire_by, max_amount)
values ('a0000000-0000-4000-8000-0000000000f1', tests.fixture('case_a'), 'a0000000-0000-4000-8000-0000000000f0',
        'sub_ErasureA', 'active', 100000, 'monthly', 1, 12, now(), now() + interval '1 year', 100000);
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), '^autopay mandate .* is active$',
               'an active autopay mandate (it will debit) is in flight');
update public.autopay_mandates set status = 'halted' where id = 'a0000000-0000-4000-8000-0000000000f1';
select is(private.customer_payment_in_flight(tests.fixture('customer_a')), null,
          'a halted mandate (no more debits) is not');
update public.autopay_mandates set status = 'cancelled' where id = 'a0000000-0000-4000-8000-0000000000f1';

insert into public.refunds (id, payment_id, case_id, amount, reason, status, idempotency_key)
values ('a0000000-0000-4000-8000-0000000000e1', tests.fixture('payment_a'), tests.fixture('case_a'),
        100, 'duplicate charge', 'pending', 'erasure-refund-1');
select matches(private.customer_payment_in_flight(tests.fixture('customer_a')), '^refund .* pending$',
               'a pending refund is in flight');
update public.refunds set status = 'failed' where id = 'a0000000-0000-4000-8000-0000000000e1';
select is(private.customer_payment_in_flight(tests.fixture('customer_b')), 'payment pay_TB is created',
          'the other customer''s own payment stays in flight for them only');

update public.messages set status = 'sending', locked_until = now() + interval '1 minute', locked_by = 't'
 where id = 'a0000000-0000-4000-8000-000000000002';
select throws_ok(format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$, tests.fixture('customer_a')),
                 '55000', null, 'a message being handed to a vendor: refused');
update public.messages set status = 'queued', locked_until = null, locked_by = null
 where id = 'a0000000-0000-4000-8000-000000000002';

-- Who may erase.
select is(tests.affected_rows_as('agent_a', format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$,
                                                   tests.fixture('customer_a'))),
          '42501', 'the customer''s own agent is refused (not an admin)');
select is(tests.affected_rows_as('zone_manager', format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$,
                                                        tests.fixture('customer_a'))),
          '42501', 'a manager who sees the customer is refused');
select is(tests.affected_rows_as('agent_b', format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$,
                                                   tests.fixture('customer_a'))),
          'P0002', 'an agent who does not see the customer is told it does not exist');
select is(tests.affected_rows_as('analyst', format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$,
                                                   tests.fixture('customer_a'))),
          'P0002', 'an analyst sees no customer');
select is(tests.affected_rows_as('anon', format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$,
                                                tests.fixture('customer_a'))),
          '42501', 'anon may not call it');
select is((select full_name from public.customers where id = tests.fixture('customer_a')), 'Zubin Quayle-Erasmo',
          'the refusals changed nothing');

-- One transaction: a failure at the last step leaves everything as it was.
create function pg_temp.fail_customer_update() returns trigger language plpgsql as $$
begin raise exception 'disk on fire' using errcode = 'XX000'; end $$;
create trigger _000_fail before update on public.customers for each row execute function pg_temp.fail_customer_update();
select tests.authenticate_as('admin');
select throws_ok(format($$select private.erase_customer(%L, 'ticket DPR-1 asked by email')$$, tests.fixture('customer_a')),
                 'XX000', 'disk on fire', 'a failure at the customers step aborts the erasure');
reset role;
drop trigger _000_fail on public.customers;
select is((select body from public.messages where id = 'a0000000-0000-4000-8000-000000000001'),
          'Dear Zubin Quayle-Erasmo, your policy T-POL-A renews soon', 'after the failure the message body is intact');
select is((select status::text from public.messages where id = 'a0000000-0000-4000-8000-000000000002'), 'queued',
          'after the failure the queued message is still queued');
select is((select count(*)::int from public.documents where customer_id = tests.fixture('customer_a')), 2,
          'after the failure both documents are there');
select is((select count(*)::int from public.suppressions where address like '%9833301234' or address like 'zubin%'), 2,
          'after the failure the suppressions are there');
select is((select count(*)::int from public.consents where customer_id = tests.fixture('customer_a') and status = 'withdrawn'), 0,
          'after the failure no consent was withdrawn');
select is((select count(*)::int from public.data_requests where customer_id = tests.fixture('customer_a')), 0,
          'after the failure no data request was recorded');
select is((select count(*)::int from private.object_deletions where object_key like '%a0000000-0000-4000-8000-0000000000d1%'), 0,
          'after the failure no object was queued');

-- The erasure, by an admin.
create temporary table kept_before on commit drop as
select 'policy' as what, to_jsonb(p) as row from public.policies p where p.customer_id = tests.fixture('customer_a')
union all select 'payment', to_jsonb(p) - 'updated_at' from public.payments p where p.case_id = tests.fixture('case_a')
union all select 'installment', to_jsonb(o) from public.outstanding_amounts o where o.case_id = tests.fixture('case_a')
union all select 'case', to_jsonb(c) - 'updated_at' from public.renewal_cases c where c.id = tests.fixture('case_a');
grant select on kept_before to authenticated;
select tests.authenticate_as('admin');
create temporary table erased on commit drop as
select private.erase_customer(tests.fixture('customer_a'), '  Ticket DPR-2026-0042: the customer asked by email  ') as result;
reset role;

select ok((select (result -> 'data_request_id') is not null from erased), 'it answers the data request');
select is((select result -> 'counts' ->> 'messages' from erased), '3', 'three messages erased');
select is((select result -> 'counts' ->> 'messages_cancelled' from erased), '1', 'one queued message cancelled');
select is((select result -> 'counts' ->> 'documents_deleted' from erased), '1', 'one document deleted');
select is((select result -> 'counts' ->> 'suppressions' from erased), '2', 'the two suppressions of the person deleted');
select is((select result -> 'counts' ->> 'message_events' from erased), '2',
          'the delivery event and the inbound event from the phone erased');

select results_eq(
  $$select full_name ~ '^Erased customer [0-9a-f]{8}$', phone, email::text, city, erased_at is not null
      from public.customers where id = tests.fixture('customer_a')$$,
  $$values (true, null::text, null::text, null::text, true)$$,
  'the customer is a pseudonym with no phone, email or city');
select results_eq(
  $$select status::text, recipient, subject, body, body_html, variables, template_snapshot, last_error
      from public.messages where customer_id = tests.fixture('customer_a') order by idempotency_key$$,
  $$values ('delivered', null::text, null::text, '[erased]', null::text, '{}'::jsonb, '{"whatsapp_name": "renewal_due"}'::jsonb, null::text),
           ('cancelled', null, null, '[erased]', null, '{}', null, null),
           ('failed', null, null, '[erased]', null, '{}', null, null)$$,
  'messages keep their status and template name, nothing personal; the queued one is cancelled');
select is((select count(*)::int from public.message_events where event_key in ('erasure-ev-1', 'erasure-ev-2')
             and payload = '{"erased": true}'), 2, 'their events'' payloads are erased');
select is((select payload from public.message_events where event_key = 'erasure-ev-3'),
          '{"From": "+919800000002", "Body": "b"}'::jsonb, 'another person''s inbound event is untouched');
select is((select payload from public.payment_events where event_id = 'evt_erasure_a'),
          '{"payload": {"payment": {"entity": {"id": "pay_TA", "amount": 1200000}}}}'::jsonb,
          'the Razorpay payload keeps ids and amounts, loses email, contact, notes and vpa');
select is((select payload from public.payment_events where event_id = 'evt_erasure_c'),
          '{"erased": true, "event": "payment.authorized"}'::jsonb,
          'a Razorpay payload naming the person under a key not known to be personal is replaced whole');
select is((select payload ->> 'payload' from public.payment_events where event_id = 'evt_erasure_b'),
          '{"payment": {"entity": {"id": "pay_TB", "email": "customer_b@tests.py360.test", "amount": 1200000}}}',
          'another customer''s payment event is untouched');
select is((select request from private.razorpay_calls where subject_id = tests.fixture('payment_a')),
          '{"amount": 1200000}'::jsonb, 'our Razorpay request loses the customer block');
select results_eq($$select prompt, response from public.ai_requests where case_id = tests.fixture('case_a')$$,
                  $$values (null::jsonb, null::jsonb)$$, 'the AI prompt and answer are gone');
select is_empty($$select 1 from public.customer_social_accounts where customer_id = tests.fixture('customer_a')$$,
                'the linked Telegram account is deleted');
select is((select count(*)::int from public.suppressions where address = '+919800000002'), 1,
          'another person''s suppression stays');
select is((select user_agent from public.link_clicks where case_id = tests.fixture('case_a')), null,
          'the click''s user agent is gone');
select is_empty($$select 1 from public.documents where id = 'a0000000-0000-4000-8000-0000000000d1'$$,
                'the letter no law requires is deleted');
select isnt_empty($$select 1 from storage.objects where name like '%a0000000-0000-4000-8000-0000000000d1%'$$,
                'its Storage row stays for the sweep, which deletes the object through Storage');
select is((select reason from private.object_deletions where object_key like '%a0000000-0000-4000-8000-0000000000d1%' and done_at is null),
          'erasure', 'its object is queued for deletion');
select is((select file_name from public.documents where id = 'a0000000-0000-4000-8000-0000000000d2'),
          'kyc-a0000000.pdf', 'the KYC document within retention is kept under a generic name');
select is((select count(*)::int from public.consents where customer_id = tests.fixture('customer_a')
            and status = 'withdrawn' and source = 'erasure' and evidence = '{"erased": true}'),
          (select count(*)::int from unnest(enum_range(null::public.channel_type)) ch, unnest(enum_range(null::public.consent_purpose)) pu),
          'every channel and purpose is withdrawn, source erasure');
select is_empty($$select 1 from public.consent_ledger where customer_id = tests.fixture('customer_a')
                    and evidence <> '{"erased": true}'$$, 'no ledger row keeps its evidence');
select ok((select count(*) from public.consent_ledger where customer_id = tests.fixture('customer_a') and status = 'granted') >= 1,
          'the ledger keeps the earlier grant (the fact), only its evidence replaced');
select results_eq(
  $$select kind, status, reason, requested_by from public.data_requests where customer_id = tests.fixture('customer_a')$$,
  format($$values ('erasure', 'done', 'Ticket DPR-2026-0042: the customer asked by email', %L::uuid)$$, tests.get_user_id('admin')),
  'one data request: erasure, done, the reason, the admin');
select results_eq(
  $$select actor_id, (new_row ->> 'erased')::boolean from public.audit_log
     where table_name = 'customers' and row_id = tests.fixture('customer_a')$$,
  format($$values (%L::uuid, true)$$, tests.get_user_id('admin')),
  'one audit entry for the erasure, by the admin');
select set_eq(
  $$select what, row from kept_before$$,
  $$select 'policy', to_jsonb(p) from public.policies p where p.customer_id = tests.fixture('customer_a')
    union all select 'payment', to_jsonb(p) - 'updated_at' from public.payments p where p.case_id = tests.fixture('case_a')
    union all select 'installment', to_jsonb(o) from public.outstanding_amounts o where o.case_id = tests.fixture('case_a')
    union all select 'case', to_jsonb(c) - 'updated_at' from public.renewal_cases c where c.id = tests.fixture('case_a')$$,
  'policies, payments, installments and the case are unchanged');
select is((select full_name from public.customers where id = tests.fixture('customer_b')), 'Customer B',
          'the other customer is untouched');

-- Nothing in public, analytics or storage names the person any more.
create function pg_temp.rows_naming(needles text[]) returns setof text language plpgsql as $$
declare
  rel record;
  hits bigint;
begin
  for rel in select c.oid::regclass as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname in ('public', 'analytics', 'storage') and c.relkind in ('r', 'v', 'm', 'p') loop
    execute format('select count(*) from %s t where exists (select 1 from unnest($1) x where strpos(lower(t::text), x) > 0)',
                   rel.name) into hits using needles;
    if hits > 0 then return next rel.name::text || ': ' || hits; end if;
  end loop;
end $$;
select is_empty($$select * from pg_temp.rows_naming(array['zubin quayle-erasmo', '+919833301234', '919833301234',
                                                       '9833301234', 'zubin.quayle@erase.py360.test', 'shillong'])$$,
                'no row of any table or view in public, analytics or storage names the person');
select isnt_empty($$select * from pg_temp.rows_naming(array['customer_b@tests.py360.test'])$$,
                  'the scan does find the other customer (it can fail)');

-- A late callback about the erased customer's message is stored without its payload.
insert into public.message_events (provider, event_key, message_id, kind, status, payload)
values ('whatsapp_cloud', 'erasure-ev-late', 'a0000000-0000-4000-8000-000000000001', 'status', 'read',
        '{"recipient_id": "919833301234", "status": "read"}'),
       ('whatsapp_cloud', 'erasure-ev-other', null, 'status', 'read', '{"recipient_id": "919800000002"}');
select results_eq($$select event_key, payload from public.message_events
                     where event_key in ('erasure-ev-late', 'erasure-ev-other') order by event_key$$,
                  $$values ('erasure-ev-late', '{"erased": true}'::jsonb),
                           ('erasure-ev-other', '{"recipient_id": "919800000002"}'::jsonb)$$,
                  'a late event of the erased customer''s message loses its payload; another keeps its own');

-- It cannot be undone, by any role.
select tests.authenticate_as('admin');
select throws_ok(format($$select private.erase_customer(%L, 'ticket DPR-1 asked again')$$, tests.fixture('customer_a')),
                 '55000', null, 'a second erasure is refused: already erased');
select is(tests.affected_rows_as('agent_a', format($$update public.customers set phone = '+919833301234' where id = %L$$,
                                                   tests.fixture('customer_a'))),
          '55000', 'the agent cannot set the phone again');
reset role;
select throws_ok(format($$update public.customers set full_name = 'Zubin Quayle-Erasmo' where id = %L$$, tests.fixture('customer_a')),
                 '55000', null, 'the owner cannot set the name again');
select throws_ok(format($$update public.customers set erased_at = null where id = %L$$, tests.fixture('customer_a')),
                 '55000', null, 'the owner cannot clear erased_at');
select is(tests.affected_rows(format($$update public.customers set language = 'hi' where id = %L$$, tests.fixture('customer_a'))),
          '1', 'other columns still change (language)');

select * from finish();
rollback;
