-- Twilio's 21610 (the recipient replied STOP to Twilio's sender) on a marketing SMS (migration
-- fail_marketing_on_twilio_stop): the offer is failed with Twilio's reason, not carried by the
-- fallback provider (AWS SNS) to the customer who said STOP, and SMS marketing consent is
-- withdrawn as their STOP reply would withdraw it (source sms_stop, recorded by nobody), for every
-- customer on that number. A service SMS refused the same way still moves to the fallback
-- provider; the number is not suppressed.
begin;
select plan(8);
select tests.create_test_org();

-- Our own clock: noon IST, inside TRAI's promotional hours.
create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role;

insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values
  ('t150_offer', 'sms', 'en', 'marketing',
   'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL',
   '1101234567890123456', 'PYRNWL', '1107123456789015001',
   'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL'),
  ('t150_due', 'sms', 'en', 'service', 'Dear {{customer_name}}, renew soon -PYRNWL',
   '1101234567890123456', 'PYRNWL', '1107123456789015002', 'Dear {#var#}, renew soon -PYRNWL');

create temporary table fx (name text, id uuid);
with c as (
  insert into public.customers (full_name, phone)
  values ('Stopped At Twilio', '+919710001501'), ('Sharing The Number', '+919710001501'),
         ('Someone Else', '+919710001502')
  returning id, full_name
)
insert into fx select lower(split_part(full_name, ' ', 1)), id from c;
insert into public.consents (customer_id, channel, purpose, status, source, evidence)
select f.id, 'sms', 'marketing', 'granted', 'import', '{"file": "crm.csv"}' from fx f;

-- A marketing offer and a service reminder to the number Twilio refuses.
select count(*) from private.enqueue_messages(jsonb_build_array(
  jsonb_build_object('customer_id', (select id from fx where name = 'stopped'), 'channel', 'sms',
                     'template_code', 't150_offer', 'idempotency_key', 't150:offer',
                     'variables', '{"customer_name": "Asha"}'::jsonb),
  jsonb_build_object('customer_id', (select id from fx where name = 'stopped'), 'channel', 'sms',
                     'template_code', 't150_due', 'idempotency_key', 't150:due',
                     'variables', '{"customer_name": "Asha"}'::jsonb)), pg_temp.at(-60));

select tests.authenticate_as_service_role();
create temporary table batch on commit drop as
select b.*, m.idempotency_key from private.claim_messages('w150', 10, pg_temp.at()) b
  join public.messages m on m.id = b.id;
select is((select string_agg(idempotency_key || ' ' || provider, ', ' order by idempotency_key) from batch),
  't150:due twilio, t150:offer twilio', 'both are claimed for Twilio');

-- Twilio refuses both with 21610, which functions/_shared/providers/twilio.ts classifies `fallback`.
select is(private.record_send_results('w150', (
    select jsonb_agg(jsonb_build_object(
             'id', b.id, 'attempt', b.attempts, 'ok', false, 'disposition', 'fallback',
             'code', '21610', 'message', 'Attempt to send to unsubscribed recipient'))
      from batch b), pg_temp.at(1)),
  2, 'both results are recorded');
reset role;

select is((select (status, provider, last_error_code, last_error, failed_at = pg_temp.at(1))::text
             from public.messages where idempotency_key = 't150:offer'),
  '(failed,twilio,21610,"Attempt to send to unsubscribed recipient",t)',
  'the marketing offer is failed with Twilio''s reason, not handed to the fallback provider');
select is((select (status, provider, provider_attempts, last_error_code)::text
             from public.messages where idempotency_key = 't150:due'),
  '(queued,aws_sns,0,21610)', 'the service reminder moves to the fallback provider (AWS SNS)');

select results_eq(
  $$select f.name, c.status::text, c.source, c.recorded_by is null
      from fx f join public.consents c on c.customer_id = f.id and c.channel = 'sms' and c.purpose = 'marketing'
     order by f.name$$,
  $$values ('sharing', 'withdrawn', 'sms_stop', true), ('someone', 'granted', 'import', true),
           ('stopped', 'withdrawn', 'sms_stop', true)$$,
  'SMS marketing is withdrawn as by a STOP reply, for every customer on that number, no one else');
select is((select l.evidence from public.consent_ledger l
            where l.customer_id = (select id from fx where name = 'stopped')
              and l.channel = 'sms' and l.purpose = 'marketing' and l.status = 'withdrawn'),
  (select jsonb_build_object('provider', 'twilio', 'code', '21610', 'message_id', id)
     from public.messages where idempotency_key = 't150:offer'),
  'the ledger keeps Twilio''s refusal of our message as the evidence');
select is_empty($$select 1 from public.suppressions where address = '+919710001501'$$,
  'the number is not suppressed: receipts and reminders still reach it');

-- And it is the customer's own opt-out: the desk cannot give SMS marketing back.
select throws_ok(
  format($$insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                              recorded_at)
           values (%L, 'sms', 'marketing', 'granted', 'agent_call', '{"call_id": "C-150"}', %L)$$,
         (select id from fx where name = 'stopped'), pg_temp.at(2)),
  'PY014', null, 'a desk grant over it is refused');

select * from finish();
rollback;
