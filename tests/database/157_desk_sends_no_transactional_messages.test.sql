-- The desk sends no transactional message (migration refuse_desk_transactional_templates, found
-- by a review): private.send_desk_message refused free text calling itself transactional but
-- not a transactional template, whose variables are the caller's free text, so an agent could
-- send fake payment receipts past the frequency cap, the send hours, DND, consent and the
-- campaign switches. Receipts, renewal confirmations, pre-debit notices and refunds are the
-- system's (private.enqueue_messages); the desk's service and marketing messages still go
-- through the gate.
begin;
select plan(11);
select tests.create_test_book();

insert into public.templates (code, channel, language, purpose, subject, body)
values
  ('t157_call_me', 'email', 'en', 'service', 'About {{policy_number}}', 'Please call me about {{policy_number}}.'),
  ('t157_offer', 'email', 'en', 'marketing', 'An offer', 'An offer for {{customer_name}}.');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'email', 'marketing', 'granted', 'web_form');

-- A desk request to customer A by email under the key t157:<key>.
create function pg_temp.request(key text, extra jsonb) returns jsonb
language sql stable
as $$
  select jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', 'email',
                            'idempotency_key', 't157:' || key) || extra
$$;
grant execute on function pg_temp.request(text, jsonb) to authenticated;

-- Every active transactional template, sent by the caller: those not refused as transactional.
create function pg_temp.transactional_templates_sent() returns text[]
language plpgsql
as $$
declare
  t record;
  sent text[] := '{}';
begin
  for t in select distinct code, channel from public.templates
            where active and purpose = 'transactional' order by code, channel loop
    begin
      perform * from private.send_desk_message(pg_temp.request('all:' || t.code || ':' || t.channel,
        jsonb_build_object('channel', t.channel, 'template_code', t.code)));
      sent := sent || format('%s (%s)', t.code, t.channel);
    exception when sqlstate '22023' then
      if sqlerrm not like format('template %s is transactional:%%', t.code) then
        raise;
      end if;
    end;
  end loop;
  return sent;
end;
$$;
grant execute on function pg_temp.transactional_templates_sent() to authenticated;

select tests.authenticate_as('agent_a');
select throws_ok(
  $$select * from private.send_desk_message(pg_temp.request('receipt', '{"template_code": "payment_receipt",
    "variables": {"amount": "1", "document_link": "https://phish.example/r"}}'))$$,
  '22023', 'template payment_receipt is transactional: receipts, renewal confirmations, pre-debit '
           'notices and refunds are the system''s to send, not the desk''s',
  'an agent''s payment receipt is refused');
select throws_ok(
  $$select * from private.send_desk_message(pg_temp.request('receipt-as-offer',
    '{"template_code": "payment_receipt", "purpose": "marketing"}'))$$,
  '22023', 'template payment_receipt is transactional: receipts, renewal confirmations, pre-debit '
           'notices and refunds are the system''s to send, not the desk''s',
  'whatever purpose the request names');
select throws_ok(
  $$select * from private.send_desk_message(pg_temp.request('pre-debit',
    '{"template_code": "autopay_pre_debit_notice"}'))$$,
  '22023', null, 'so is a pre-debit notice');
select throws_ok(
  $$select * from private.send_desk_message(pg_temp.request('text', '{"subject": "Receipt",
    "body": "We received your premium", "purpose": "transactional"}'))$$,
  '22023', 'the desk''s own text is service or marketing; transactional messages come from templates',
  'and free text calling itself transactional');
select is(pg_temp.transactional_templates_sent(), '{}'::text[],
  'no active transactional template on any channel goes out from the desk');
select is((select count(*)::int from public.templates where active and purpose = 'transactional') > 0,
  true, 'and there are some to try');

select is((select (status, blocked_reason, created)::text from private.send_desk_message(pg_temp.request('service',
  '{"template_code": "t157_call_me", "variables": {"policy_number": "P1"}}'))),
  '(queued,,t)', 'a service template still goes through the gate');
select is((select (status, blocked_reason, created)::text from private.send_desk_message(pg_temp.request('offer',
  '{"template_code": "t157_offer", "variables": {"customer_name": "A"}}'))),
  '(queued,,t)', 'so does a marketing one, with its consent');
select is((select (status, blocked_reason, created)::text from private.send_desk_message(pg_temp.request('text',
  '{"subject": "Hello", "body": "Please call me", "purpose": "service"}'))),
  '(queued,,t)', 'and the desk''s own service text');

reset role;
select is(
  (select array_agg(purpose::text order by purpose) from public.messages
    where idempotency_key like format('desk:%s:t157:%%', tests.get_user_id('agent_a'))),
  '{service,service,marketing}', 'only those were written, as service and marketing');
select is_empty(
  format($$select 1 from public.messages where purpose = 'transactional'
             and idempotency_key like 'desk:%s:t157:%%'$$, tests.get_user_id('agent_a')),
  'the refused ones left nothing');

select * from finish();
rollback;
