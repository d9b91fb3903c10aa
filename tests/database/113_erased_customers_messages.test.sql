-- No message for an erased customer (migration 20261130054931_block_messages_of_erased_customers):
-- the messages' _050_block_erased_customers trigger blocks (customer_erased) and clears every
-- message stored for an erased customer, whoever inserts it and in a set with other customers'
-- messages left as they are; the gate's rules and the claim's send-time recheck answer
-- customer_erased. The race itself (a gate statement that read the customer before the erasure
-- committed) is proved with two connections in tests/functions/erasure_races.test.ts.
begin;
select plan(14);
select tests.create_test_book();

update public.customers set email = 'erased.gate@erase.py360.test'
 where id = tests.fixture('customer_a');
update public.customers set email = 'kept.gate@erase.py360.test'
 where id = tests.fixture('customer_b');
-- The test book's payment of customer A settles: nothing in flight blocks the erasure.
update public.payments set status = 'captured', captured_at = now(), method = 'upi'
 where id = tests.fixture('payment_a');

-- Before the erasure, the same request is queued to the person's email (the trigger leaves
-- messages of customers not erased alone).
select is((select status::text || ' ' || coalesce(blocked_reason, '-')
             from private.enqueue_messages(jsonb_build_object(
               'customer_id', tests.fixture('customer_a'), 'channel', 'email',
               'purpose', 'transactional', 'body', 'Your receipt, Zubin',
               'idempotency_key', 'erased-gate-before'))),
          'queued -', 'before the erasure, a transactional email to customer A is queued');

select lives_ok(format($$select private.erase_customer(%L, 'the customer asked, in writing')$$,
                       tests.fixture('customer_a')),
                'customer A is erased');

-- Through the gate after the erasure: blocked, customer_erased, nothing personal stored.
select is((select status::text || ' ' || coalesce(blocked_reason, '-')
             from private.enqueue_messages(jsonb_build_object(
               'customer_id', tests.fixture('customer_a'), 'channel', 'email',
               'purpose', 'transactional', 'body', 'Your receipt, Zubin',
               'variables', jsonb_build_object('name', 'Zubin'),
               'idempotency_key', 'erased-gate-after'))),
          'blocked customer_erased', 'the gate blocks a message to an erased customer: customer_erased');
select is((select row(recipient, subject, body, body_html, variables, provider)::text
             from public.messages where idempotency_key = 'erased-gate-after'),
          row(null::text, null::text, '[erased]'::text, null::text, '{}'::jsonb, null::text)::text,
          'its recipient, subject, body and variables are not stored');

-- A direct insert (the owner: no producer path skips the rule), in one statement with a message
-- of customer B: only A's is blocked and cleared. B's is transactional, so the claim below hands
-- it out at any hour (a service message is deferred in the quiet hours, 21:00-08:00 IST, and the
-- test failed when run then).
insert into public.messages (customer_id, case_id, channel, purpose, body, subject, recipient,
                             idempotency_key, variables, template_snapshot)
values (tests.fixture('customer_a'), tests.fixture('case_a'), 'whatsapp', 'service',
        'Dear Zubin, renew', null, '+919833301234', 'erased-direct-a', '{"name": "Zubin"}',
        '{"whatsapp_name": "renewal_due", "whatsapp_parameters": ["Zubin"]}'),
       (tests.fixture('customer_b'), null, 'email', 'transactional', 'Dear B, renew', 'Renew, B',
        'kept.gate@erase.py360.test', 'erased-direct-b', '{"name": "B"}', null);
select is((select row(status, blocked_reason, recipient, body, variables, template_snapshot)::text
             from public.messages where idempotency_key = 'erased-direct-a'),
          row('blocked'::public.message_status, 'customer_erased'::text, null::text, '[erased]'::text,
              '{}'::jsonb, '{"whatsapp_name": "renewal_due"}'::jsonb)::text,
          'a message inserted directly for an erased customer is blocked and cleared (WhatsApp parameters gone, the template name kept)');
select ok((select blocked_at is not null from public.messages where idempotency_key = 'erased-direct-a'),
          'with the time it was blocked');
select is((select row(status, blocked_reason, recipient, body, variables)::text
             from public.messages where idempotency_key = 'erased-direct-b'),
          row('queued'::public.message_status, null::text, 'kept.gate@erase.py360.test'::text,
              'Dear B, renew'::text, '{"name": "B"}'::jsonb)::text,
          'the other customer''s message of the same statement stays queued, as written');

-- The rules answer customer_erased first (before no_address: the erased customer has none).
select is(private.message_block_reason(tests.fixture('customer_a'), 'email', 'transactional',
                                       'erased.gate@erase.py360.test', null, now()),
          'customer_erased', 'message_block_reason: customer_erased for an erased customer');
select is(private.message_block_reason(tests.fixture('customer_b'), 'email', 'transactional',
                                       'kept.gate@erase.py360.test', null, now()),
          null, 'message_block_reason: nothing for customer B, same question');

-- The claim's send-time recheck: a message of the erased customer put back in the queue with an
-- address (a redrive, a restore) is blocked customer_erased at the claim, never handed out.
update public.messages
   set status = 'queued', blocked_reason = null, blocked_at = null,
       recipient = 'erased.gate@erase.py360.test', body = 'Your receipt, Zubin'
 where idempotency_key = 'erased-gate-after';
select is((select status::text from public.messages where idempotency_key = 'erased-gate-after'),
          'queued', 'put back in the queue by hand, with an address');
create temporary table claimed as
select c.id from private.claim_messages('erasure-test-worker', 1000, now() + interval '1 minute') c;
select is((select count(*)::integer from claimed c join public.messages m on m.id = c.id
            where m.idempotency_key = 'erased-gate-after'),
          0, 'the claim does not hand it to a dispatcher');
select is((select status::text || ' ' || coalesce(blocked_reason, '-') from public.messages
            where idempotency_key = 'erased-gate-after'),
          'blocked customer_erased', 'the claim blocks it: customer_erased');
select is((select count(*)::integer from claimed c join public.messages m on m.id = c.id
            where m.idempotency_key = 'erased-direct-b'),
          1, 'while customer B''s queued message in the same claim is handed out');

-- Updates are not inserts: the erasure's own clearing of the queued message left it cancelled.
select is((select status::text from public.messages where idempotency_key = 'erased-gate-before'),
          'cancelled', 'the message queued before the erasure was cancelled by it (not re-blocked)');

select * from finish();
rollback;
