-- The customer profile's figures and the drafts' checks (issue 10): replies counted from the
-- customer's number through the vendors' payloads, only for a customer the caller may see; the
-- figures under the caller's RLS and as of a moved clock; the gate's answer for a draft only on a
-- case the caller may see, suppressions included although the desk may not read them; the lint of
-- a filled draft (DLT match, placeholders left, free text per channel).
begin;
select plan(24);
select tests.create_test_book();

-- Replies: an SMS through Twilio and a WhatsApp message from customer a's number, one from b's.
select private.record_message_events('twilio', jsonb_build_array(
  jsonb_build_object('event_key', 'SMrep1', 'kind', 'inbound', 'provider_message_id', 'SMrep1',
                     'address', '+919800000001', 'channel', 'sms', 'reply', 'ok',
                     'occurred_at', now() - interval '2 days',
                     'payload', jsonb_build_object('From', '+919800000001', 'Body', 'ok')),
  jsonb_build_object('event_key', 'SMrep2', 'kind', 'inbound', 'provider_message_id', 'SMrep2',
                     'address', '+919800000002', 'channel', 'sms', 'reply', 'hi',
                     'payload', jsonb_build_object('From', '+919800000002', 'Body', 'hi'))));
select private.record_message_events('whatsapp_cloud', jsonb_build_array(
  jsonb_build_object('event_key', 'wamid.rep3', 'kind', 'inbound', 'provider_message_id', 'wamid.rep3',
                     'address', '+919800000001', 'channel', 'whatsapp', 'reply', 'thanks',
                     'occurred_at', now() - interval '1 day',
                     'payload', jsonb_build_object('from', '919800000001', 'id', 'wamid.rep3'))));

select is(private.inbound_address('twilio', '{"From": "whatsapp:+919800000001"}'), '+919800000001',
          'a Twilio WhatsApp sender is read without its whatsapp: prefix');
select is(private.inbound_address('whatsapp_cloud', '{"from": "919800000001"}'), '+919800000001',
          'a WhatsApp Cloud sender is read as +digits');
select is(private.inbound_address('aws_ses', '{"from": "x@y.z"}'), null, 'other vendors: no address');

select tests.authenticate_as('agent_a');
select is(private.customer_replies(tests.fixture('customer_a'), now() - interval '90 days', now()), 2,
          'agent a counts the two replies from customer a''s number');
select is(private.customer_replies(tests.fixture('customer_a'), now() - interval '36 hours', now()), 1,
          'only those after `since`');
select is(private.customer_replies(tests.fixture('customer_a'), now() - interval '90 days',
                                   now() - interval '3 days'), 0,
          'and none after as_of');
select is(private.customer_replies(tests.fixture('customer_b'), now() - interval '90 days', now()), 0,
          'agent a counts nothing of customer b, whom they may not see');
select is((select count(*)::integer from public.message_events where kind = 'inbound'), 0,
          'although the desk may not read the inbound events themselves');

-- The figures, under RLS and as of a moved clock.
reset role;
insert into public.payments (case_id, razorpay_payment_id, amount, status, failure_reason)
select tests.fixture('case_a'), 'pay_TFAILED', 1200000, 'failed', 'Card declined';
select tests.authenticate_as('agent_a');
select is(private.customer_profile_figures(tests.fixture('customer_a')) #> '{payment_behaviour,failed_payments}',
          '1', 'the failed payment of case a counts');
select is(private.customer_profile_figures(tests.fixture('customer_a'), 90, now() - interval '1 minute')
            #> '{payment_behaviour,failed_payments}',
          '0', 'not as of before it was made');
select is(private.customer_profile_figures(tests.fixture('customer_a')) #> '{engagement,replies}', '2',
          'the replies are among the figures');
select is(private.customer_profile_figures(tests.fixture('customer_b')), null,
          'a customer agent a may not see has no figures');
select tests.authenticate_as('analyst');
select is(private.customer_profile_figures(tests.fixture('customer_a')), null, 'nor for an analyst');

-- The gate's answer for a draft: customer a opted in to WhatsApp (service) but never wrote.
reset role;
insert into public.suppressions (channel, address, reason, source)
values ('email', 'customer_a@tests.py360.test', 'hard_bounce', 'test');
select tests.authenticate_as('agent_a');
select is(
  array(select format('%s %s', channel, coalesce(reason, 'ok'))
          from private.draft_block_reasons(tests.fixture('case_a'),
                 '[{"channel": "whatsapp", "purpose": "service", "template_id": null},
                   {"channel": "sms", "purpose": "service", "template_id": null},
                   {"channel": "email", "purpose": "service", "template_id": null}]')
         order by n),
  array['whatsapp whatsapp_window_closed', 'sms sms_needs_dlt_template', 'email suppressed'],
  'per channel, the gate''s reason: the window, DLT, and the suppression agent a cannot read');
select is((select count(*)::integer from public.suppressions), 0, 'agent a reads no suppression');
select throws_ok(
  $$select * from private.draft_block_reasons(tests.fixture('case_b'), '[]')$$,
  'P0002', 'no such case, or not yours to see', 'another agent''s case is not found');
select throws_ok(
  $$select * from private.draft_block_reasons(tests.fixture('case_a'), '{}')$$,
  '22023', 'questions must be a JSON array of {channel, purpose, template_id}',
  'the questions must be an array');

-- The lint of a filled draft.
reset role;
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('probe_sms', 'sms', 'en', 'service', 'Pay {{amount_due}} for {{policy_number}} -PYRNWL',
        '1101', 'PYRNWL', '1107', 'Pay {#var#} for {#var#} -PYRNWL');
select tests.authenticate_as('agent_a');
select is(
  private.lint_draft('sms', 'en', 'service',
                     (select id from public.templates where code = 'probe_sms'), null,
                     'Pay ₹1,200 for T-POL-A (x) -PYRNWL') - 'estimated_cost_paise',
  '{"errors": [], "warnings": ["characters outside GSM-7 make it UCS-2: 70 characters a segment instead of 160"],
    "variables": ["amount_due", "policy_number"], "encoding": "UCS-2", "characters": 34, "segments": 1}'::jsonb,
  'an SMS filling its DLT text passes, measured as it is (the rupee sign makes it UCS-2)');
select is(
  private.lint_draft('sms', 'en', 'service',
                     (select id from public.templates where code = 'probe_sms'), null,
                     'Please pay 1200 for T-POL-A -PYRNWL') -> 'errors',
  '["the text does not match its DLT template: outside the {#var#} slots every character must be the registered one (DLT scrubbing drops anything else)"]',
  'a text that strays from the registered DLT text is an error');
select is(
  private.lint_draft('sms', 'en', 'service', null, null, 'Please pay now') -> 'errors',
  '["an SMS in India goes only on a registered DLT template (TRAI TCCCPR 2018): free text is dropped by DLT scrubbing"]',
  'free text on SMS is an error');
select is(
  private.lint_draft('email', 'en', 'service', null, null, 'Dear {{customer_name}}, pay') -> 'errors',
  '["an email needs a subject", "variables left unfilled: customer_name"]',
  'an email needs a subject, and nothing may be left unfilled');
select is(
  private.lint_draft('email', 'en', 'transactional', null, 'Renewed', 'Thank you') -> 'errors',
  '["free text is service or marketing; transactional messages come from templates (as private.send_desk_message refuses)"]',
  'free text cannot claim to be transactional');
select is(
  private.lint_draft('sms', 'en', 'marketing',
                     (select id from public.templates where code = 'probe_sms'), null,
                     'Pay 1 for 2 -PYRNWL') -> 'errors',
  '["the template is for service messages, not marketing"]',
  'a template carries its own purpose');
select is(
  private.lint_draft('whatsapp', 'en', 'service', null, null, 'Your renewal is due') -> 'warnings',
  '["free text: WhatsApp takes it only inside the 24-hour customer-service window"]',
  'free text on WhatsApp is warned about the window');

select * from finish();
rollback;
