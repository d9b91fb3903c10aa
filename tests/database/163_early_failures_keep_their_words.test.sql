-- A failure reported while its message was still being sent keeps the vendor's words as well as
-- its code (migration keep_the_words_of_early_failures); the words go when the event's payload is
-- erased.
begin;
select plan(4);
select tests.create_test_org();

create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role;

insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t163', 'sms', 'en', 'service', 'Dear {{customer_name}}, renew soon -PYRNWL',
        '1101234567890123456', 'PYRNWL', '1107123456789016301', 'Dear {#var#}, renew soon -PYRNWL');
insert into public.customers (full_name, phone) values ('Early Words', '+919710001631');
select count(*) from private.enqueue_messages((
  select jsonb_build_object('customer_id', c.id, 'channel', 'sms', 'template_code', 't163',
                            'idempotency_key', 't163:early', 'variables', '{"customer_name": "Ravi"}'::jsonb)
    from public.customers c where c.phone = '+919710001631'), pg_temp.at(-60));

select tests.authenticate_as_service_role();
create temporary table batch on commit drop as
select b.id, b.attempts from private.claim_messages('w163', 10, pg_temp.at()) b;
grant select on batch to service_role;
reset role;
-- Twilio's callback says undelivered (30003) before the dispatcher records the send.
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'SM163:undelivered', 'kind', 'status', 'message_id', (select id from batch),
  'provider_message_id', 'SM163', 'status', 'undeliverable', 'vendor_status', 'undelivered',
  'error_code', '30003', 'error', 'Unreachable destination handset +919710001631',
  'occurred_at', pg_temp.at(1))));
select tests.authenticate_as_service_role();
select is(private.record_send_results('w163', (
    select jsonb_agg(jsonb_build_object('id', b.id, 'attempt', b.attempts, 'ok', true,
                                        'provider_message_id', 'SM163'))
      from batch b), pg_temp.at(2)), 1, 'the send is recorded after the callback');
reset role;
select is((select (status, last_error_code, last_error)::text from public.messages
            where idempotency_key = 't163:early'),
  '(undeliverable,30003,"Unreachable destination handset +919710001631")',
  'the early failure applies with its code and its words');
select is((select error from public.message_events where event_key = 'SM163:undelivered'),
  'Unreachable destination handset +919710001631', 'the event keeps the words');
update public.message_events set payload = '{"erased": true}' where event_key = 'SM163:undelivered';
select is((select error from public.message_events where event_key = 'SM163:undelivered'),
  null, 'and lets them go with its erased payload');

select * from finish();
rollback;
