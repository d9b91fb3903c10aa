-- An SMS fallback of a failed WhatsApp reminder is not queued once the case has closed
-- (20261130213132, issue 9 review), while a transactional message's fallback still is: the
-- customer pays, the renewal cancels what is queued, then WhatsApp reports the reminder failed.
begin;
select plan(4);
select tests.create_test_org();
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values
  ('fallback_reminder', 'whatsapp', 'en', 'service', 'Hello {{customer_name}}, renew soon.',
   'fallback_reminder_en', 'utility', 'approved', 1, null, null, null, null),
  ('fallback_reminder', 'sms', 'en', 'service', 'Dear {{customer_name}}, renew soon -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012345',
   'Dear {#var#}, renew soon -PYRNWL'),
  ('fallback_notice', 'whatsapp', 'en', 'transactional', 'Hello {{customer_name}}, paid.',
   'fallback_notice_en', 'utility', 'approved', 1, null, null, null, null),
  ('fallback_notice', 'sms', 'en', 'transactional', 'Dear {{customer_name}}, paid -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012346',
   'Dear {#var#}, paid -PYRNWL');

create temporary table fx (case_id uuid, customer_id uuid);
with cu as (
  insert into public.customers (full_name, phone) values ('Fallback After Renewal', '+919710001231')
  returning id
), po as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  select 'T-FB-1', 'health', 'Test', cu.id, tests.get_user_id('agent_a'), 1200000, 50000000,
         current_date + 30 - 365, current_date + 30 from cu returning id, customer_id
), ca as (
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  select po.id, po.customer_id, tests.get_user_id('agent_a'), current_date + 30, current_date + 60
    from po returning id, customer_id
)
insert into fx select id, customer_id from ca;
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select case_id, 1, current_date + 30, 1200000 from fx;
insert into public.consents (customer_id, channel, purpose, status, source)
select customer_id, 'whatsapp', p, 'granted', 'import'
  from fx cross join unnest(array['service', 'transactional']::public.consent_purpose[]) p;

-- A reminder and a transactional notice, both sent on WhatsApp.
select private.enqueue_messages(jsonb_build_array(
  jsonb_build_object('customer_id', customer_id, 'case_id', case_id, 'channel', 'whatsapp',
                     'template_code', 'fallback_reminder', 'idempotency_key', 'test:123:reminder',
                     'variables', jsonb_build_object('customer_name', 'Asha')),
  jsonb_build_object('customer_id', customer_id, 'case_id', case_id, 'channel', 'whatsapp',
                     'template_code', 'fallback_notice', 'idempotency_key', 'test:123:notice',
                     'variables', jsonb_build_object('customer_name', 'Asha'))))
  from fx;
update public.messages
   set status = 'sent', provider = 'whatsapp_cloud', sent_at = now(), attempts = 1,
       provider_message_id = 'wamid.T123.' || right(idempotency_key, 6)
 where idempotency_key in ('test:123:reminder', 'test:123:notice');

-- The customer pays: the case is renewed.
update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'UPI T123'
 where case_id = (select case_id from fx);
select is((select stage::text from public.renewal_cases where id = (select case_id from fx)), 'renewed',
  'the case is renewed');

-- WhatsApp then reports both failed with a code SMS can get round.
select private.record_message_events('whatsapp_cloud', jsonb_build_array(
  jsonb_build_object('event_key', 'wamid.T123.minder:failed', 'provider_message_id', 'wamid.T123.minder',
                     'kind', 'status', 'status', 'failed', 'error_code', '131047',
                     'error', 'Re-engagement message', 'fallback', true),
  jsonb_build_object('event_key', 'wamid.T123.notice:failed', 'provider_message_id', 'wamid.T123.notice',
                     'kind', 'status', 'status', 'failed', 'error_code', '131047',
                     'error', 'Re-engagement message', 'fallback', true)));
select is((select status::text from public.messages where idempotency_key = 'test:123:reminder'), 'failed',
  'the reminder is recorded failed');
select is((select count(*)::integer from public.messages m
            join public.messages w on m.idempotency_key = 'sms-fallback:' || w.id
           where w.idempotency_key = 'test:123:reminder'), 0,
  'no SMS twin of a reminder for a renewed case');
select is((select m.status::text from public.messages m
            join public.messages w on m.idempotency_key = 'sms-fallback:' || w.id
           where w.idempotency_key = 'test:123:notice'), 'queued',
  'a transactional message still falls back to SMS');

select * from finish();
rollback;
