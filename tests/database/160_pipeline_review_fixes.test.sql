-- Findings of a review of issue 7 (migrations pace_held_sends_and_fall_back_early_failures and
-- refuse_desk_messages_that_cannot_go):
-- * a WhatsApp failure SMS can get round (131026), reported while the message was still being
--   sent, queues the SMS twin as the dispatcher's result lets it fail; one SMS cannot get round
--   (131049) does not;
-- * a report's stamp never goes before the step it follows (WhatsApp's whole-second clock);
-- * document_missing and document_unavailable are our failures, not the provider's;
-- * the desk may not send a message about a closed case, nor a template with a document header,
--   except as the repeat of a message already queued.
begin;
select plan(14);
select tests.create_test_book();
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';
update public.app_settings set value = '{"end": "00:00", "start": "00:00"}' where key = 'QUIET_HOURS';

create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role;

insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t160', 'whatsapp', 'service', 'Hi {{customer_name}}, renew soon', 't160_en', 'utility',
        'approved', 1, null, null, null, null),
       ('t160', 'sms', 'service', 'Dear {{customer_name}}, renew soon -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789016001', 'Dear {#var#}, renew soon -PYRNWL');
with c as (insert into public.customers (full_name, phone) values ('Early Failure', '+919710001601')
           returning id)
insert into public.consents (customer_id, channel, purpose, status, source)
select c.id, 'whatsapp', 'service', 'granted', 'import' from c;
select count(*) from private.enqueue_messages((
  select jsonb_agg(jsonb_build_object('customer_id', c.id, 'channel', 'whatsapp', 'template_code', 't160',
                                      'idempotency_key', 't160:' || k,
                                      'variables', '{"customer_name": "Ravi"}'::jsonb))
    from public.customers c, unnest(array['not_on_whatsapp', 'capped', 'fast']) k
   where c.phone = '+919710001601'), pg_temp.at(-60));

select tests.authenticate_as_service_role();
create temporary table batch on commit drop as
select b.id, b.attempts, split_part(m.idempotency_key, ':', 2) as k
  from private.claim_messages('w160', 10, pg_temp.at()) b join public.messages m on m.id = b.id;
grant select on batch to service_role;
reset role;
select is((select count(*)::int from batch), 3, 'the three WhatsApp messages are being sent');

-- Meta's failure callbacks beat the dispatcher's result: 131026 (SMS can get round it, so the
-- webhook marks it fallback) and 131049 (the marketing cap: SMS may not carry it round).
select private.record_message_events('whatsapp_cloud', (
  select jsonb_agg(jsonb_build_object(
           'event_key', 'wamid.t160.' || b.k || ':failed', 'kind', 'status', 'message_id', b.id,
           'status', 'failed', 'vendor_status', 'failed', 'occurred_at', pg_temp.at(1),
           'error_code', case b.k when 'capped' then '131049' else '131026' end,
           'fallback', b.k = 'not_on_whatsapp'))
    from batch b where b.k in ('not_on_whatsapp', 'capped')));
select is((select string_agg(m.status::text, ', ' order by m.idempotency_key) from public.messages m
            where m.idempotency_key in ('t160:capped', 't160:not_on_whatsapp')),
  'sending, sending', 'the callbacks wait for the dispatcher');

select tests.authenticate_as_service_role();
select is(private.record_send_results('w160', (
    select jsonb_agg(jsonb_build_object('id', b.id, 'attempt', b.attempts, 'ok', true,
                                        'provider_message_id', 'wamid.t160.' || b.k))
      from batch b), pg_temp.at(2)),
  3, 'WhatsApp had accepted all three');
reset role;
select is((select string_agg(m.idempotency_key || ' ' || m.status, ', ' order by m.idempotency_key)
             from public.messages m where m.idempotency_key like 't160:%'),
  't160:capped failed, t160:fast sent, t160:not_on_whatsapp failed',
  'the early callbacks fail two as their result is recorded');
select is((select string_agg(t.channel || ' ' || t.status, ', ')
             from public.messages f join public.messages t on t.idempotency_key = 'sms-fallback:' || f.id
            where f.idempotency_key = 't160:not_on_whatsapp'),
  'sms queued', 'the number not on WhatsApp gets its SMS twin');
select is((select count(*)::int
             from public.messages f join public.messages t on t.idempotency_key = 'sms-fallback:' || f.id
            where f.idempotency_key = 't160:capped'),
  0, 'the capped one does not');

-- WhatsApp's clock reports the fast message delivered and read a second before we recorded it sent.
select private.record_message_events('whatsapp_cloud', jsonb_build_array(
  jsonb_build_object('event_key', 'wamid.t160.fast:delivered', 'kind', 'status',
                     'provider_message_id', 'wamid.t160.fast', 'status', 'delivered',
                     'vendor_status', 'delivered', 'occurred_at', pg_temp.at(1)),
  jsonb_build_object('event_key', 'wamid.t160.fast:read', 'kind', 'status',
                     'provider_message_id', 'wamid.t160.fast', 'status', 'read',
                     'vendor_status', 'read', 'occurred_at', pg_temp.at(1))));
select is((select (status, delivered_at = sent_at, read_at = sent_at, sent_at = pg_temp.at(2))::text
             from public.messages where idempotency_key = 't160:fast'),
  '(read,t,t,t)', 'delivered and read are stamped no earlier than sent');

-- Our own failures before any vendor.
select is(private.failure_cause('failed', 'document_missing', null, null), 'us',
  'a template with a document header and no document is our failure');
select is(private.failure_cause('dead', 'document_unavailable', null, null), 'us',
  'so is a document Storage could not give');

-- The desk.
insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, whatsapp_header_format)
values ('t160_doc', 'whatsapp', 'service', 'Hi {{customer_name}}, your notice', 't160_doc_en',
        'utility', 'approved', 1, 'document');
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_b'), 'sms', 'service', 'granted', 'import')
on conflict do nothing;
create function pg_temp.desk(k text, template text, channel text, with_case boolean) returns text
language sql
as $$
  select d.status::text from private.send_desk_message(jsonb_build_object(
    'customer_id', tests.fixture('customer_b'), 'channel', channel, 'template_code', template,
    'case_id', case when with_case then tests.fixture('case_b') end, 'idempotency_key', k,
    'variables', '{"customer_name": "Bina"}'::jsonb)) d
$$;
grant execute on function pg_temp.desk(text, text, text, boolean) to authenticated;

select tests.authenticate_as('agent_b');
select throws_ok($$select pg_temp.desk('doc', 't160_doc', 'whatsapp', false)$$, '22023',
  'template t160_doc has a document header, which the desk cannot attach',
  'a template with a document header is refused');
select is(pg_temp.desk('before', 't160', 'sms', true), 'queued', 'a message about the open case is queued');
reset role;
update public.renewal_cases set stage = 'lost', lost_reason = 'Went elsewhere' where id = tests.fixture('case_b');
select tests.authenticate_as('agent_b');
select throws_ok($$select pg_temp.desk('after', 't160', 'sms', true)$$, '22023',
  format('case %s is closed (lost): a message about it would not be sent; send it without the case',
         tests.fixture('case_b')),
  'a new message about the lost case is refused');
select is(pg_temp.desk('before', 't160', 'sms', true), 'cancelled',
  'the repeat of the one queued before is answered with it (cancelled as its case closed), not refused');
select is(pg_temp.desk('after', 't160', 'sms', false), 'queued', 'without the case it goes');
reset role;

select * from finish();
rollback;
