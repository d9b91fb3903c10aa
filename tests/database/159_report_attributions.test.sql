-- The vendor and channel reports' attributions (migration attribute_failures_and_desk_messages):
-- a failure reason counts for the vendor that gave it, not for the fallback provider that then
-- carried the message (also when the same code comes from both); a desk message without a case
-- counts for its sender's managers; a WhatsApp message that failed costs nothing Meta did not
-- report; AWS SNS, which sends no delivery report, has no message flagged unconfirmed.
begin;
select plan(15);
select tests.create_test_org();

-- Our own clock: noon IST, three days ahead; the messages are then moved to a day of their own.
create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
create function pg_temp.day_start() returns timestamptz
language sql immutable
as $$ select timestamp '2004-04-04 00:00' at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.at(numeric), pg_temp.day_start() to service_role, authenticated;

insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t159_due', 'sms', 'en', 'service', 'Dear {{customer_name}}, renew soon -PYRNWL',
        '1101234567890123456', 'PYRNWL', '1107123456789015901', 'Dear {#var#}, renew soon -PYRNWL');
with c as (insert into public.customers (full_name, phone) values ('Fallback Kumar', '+919710001591')
           returning id)
select count(*) from private.enqueue_messages((
  select jsonb_agg(jsonb_build_object('customer_id', c.id, 'channel', 'sms', 'template_code', 't159_due',
                                      'idempotency_key', 't159:' || k,
                                      'variables', '{"customer_name": "Ravi"}'::jsonb))
    from c, unnest(array['carried', 'both']) k), pg_temp.at(-60));
-- One try per provider: a transient failure moves the message to the fallback provider.
update public.app_settings set value = '{"max_attempts": 1, "base_seconds": 30, "max_seconds": 3600}'
 where key = 'MESSAGE_RETRY';

create function pg_temp.send(worker text, clock numeric, outcomes jsonb) returns integer
language sql
as $$
  select private.record_send_results(worker, (
    select jsonb_agg(jsonb_build_object('id', b.id, 'attempt', b.attempts) || (outcomes -> split_part(m.idempotency_key, ':', 2)))
      from private.claim_messages(worker, 10, pg_temp.at(clock)) b
      join public.messages m on m.id = b.id), pg_temp.at(clock + 1))
$$;
grant execute on function pg_temp.send(text, numeric, jsonb) to service_role;

select tests.authenticate_as_service_role();
select is(pg_temp.send('w159', 0, '{
    "carried": {"ok": false, "disposition": "transient", "code": "20503", "message": "Twilio is down"},
    "both": {"ok": false, "disposition": "transient", "code": "timeout", "message": "no answer"}}'),
  2, 'Twilio fails both');
select is(pg_temp.send('w159b', 700, '{
    "carried": {"ok": true, "provider_message_id": "sns-159-carried"},
    "both": {"ok": false, "disposition": "transient", "code": "timeout", "message": "no answer"}}'),
  2, 'AWS SNS carries one and times out on the other, with the same code and text as Twilio');
reset role;
select is((select (provider, status, last_error_code, last_error_provider)::text
             from public.messages where idempotency_key = 't159:carried'),
  '(aws_sns,sent,20503,twilio)', 'the carried message keeps Twilio''s 20503 as Twilio''s');
select is((select (provider, status, last_error_code, last_error_provider)::text
             from public.messages where idempotency_key = 't159:both'),
  '(aws_sns,dead,timeout,aws_sns)', 'the repeated code of the second is AWS SNS''s');

-- A desk message each from agent_b and agent_a to a customer, without a case; a delivered and a
-- failed WhatsApp message (estimated 80 paise each, no price reported for the failed one).
with c as (insert into public.customers (full_name, phone) values ('Desk Walk-in', '+919710001592')
           returning id)
insert into public.messages (customer_id, channel, purpose, body, recipient, idempotency_key,
                             status, provider, estimated_cost_paise, queued_at, sent_at,
                             delivered_at, failed_at, created_by)
select c.id, x.channel::public.channel_type, 'service', 'Hello', '+919710001592', 't159:' || x.k,
       x.status::public.message_status, x.provider, x.paise, pg_temp.at(), pg_temp.at(2),
       case when x.status = 'delivered' then pg_temp.at(5) end,
       case when x.status = 'failed' then pg_temp.at(5) end,
       tests.get_user_id(x.agent)
  from c, (values ('desk_b', 'sms', 'sent', 'twilio', 25, 'agent_b'),
                  ('desk_a', 'sms', 'sent', 'twilio', 25, 'agent_a'),
                  ('wa_delivered', 'whatsapp', 'delivered', 'whatsapp_cloud', 80, null),
                  ('wa_failed', 'whatsapp', 'failed', 'whatsapp_cloud', 80, null))
            as x (k, channel, status, provider, paise, agent);

update public.messages set created_at = pg_temp.day_start() + interval '12 hours'
 where idempotency_key like 't159:%';
select lives_ok($$select private.rebuild_analytics('2004-04-04', '2004-04-04')$$,
  'the facts of their day are built');

create function pg_temp.report(channel text, provider text) returns jsonb
language sql stable
as $$
  select private.message_performance(channel, provider, pg_temp.day_start(),
                                     pg_temp.day_start() + interval '1 day', 'day')
$$;
create function pg_temp.reasons(provider text) returns text
language sql stable
as $$
  select string_agg(r ->> 'code' || ' ' || (r ->> 'messages'), ', ' order by r ->> 'code')
    from jsonb_array_elements(pg_temp.report('sms', provider) -> 'failure_reasons') r
$$;
grant execute on function pg_temp.report(text, text), pg_temp.reasons(text) to authenticated;

select tests.authenticate_as('admin');
select is(pg_temp.reasons('twilio'), '20503 1',
  'Twilio''s failure reasons: its 20503, though AWS SNS carried the message on');
select is(pg_temp.reasons('aws_sns'), 'timeout 1',
  'AWS SNS''s: its own timeout (a message''s last error counts, and the last was AWS SNS''s)');
select is(pg_temp.report('sms', 'aws_sns') -> 'counts' ->> 'messages', '2',
  'the messages themselves count for AWS SNS, their last provider');
select is(pg_temp.report('whatsapp', null) -> 'cost' ->> 'total_paise', '80',
  'the failed WhatsApp message costs nothing: only the delivered one''s 80 paise');

select tests.authenticate_as('branch_b_manager');
select is(pg_temp.report('sms', 'twilio') -> 'counts' ->> 'messages', '1',
  'agent_b''s manager counts agent_b''s case-less message, not agent_a''s');
select tests.authenticate_as('zone_manager');
select is(pg_temp.report('sms', 'twilio') -> 'counts' ->> 'messages', '2',
  'the zone''s manager counts both agents'' (and no system message: the fallbacks had no sender)');
reset role;

-- An agent moved to another team: the next refresh moves their case-less messages too.
update public.profiles set node_id = (select id from public.hierarchy_nodes where code = 'T_TEAM_A')
 where id = tests.get_user_id('agent_b');
select lives_ok($$select private.refresh_analytics()$$, 'a refresh after the move');
select tests.authenticate_as('branch_b_manager');
select is(pg_temp.report('sms', 'twilio') -> 'counts' ->> 'messages', '0',
  'agent_b''s message left branch B''s report with them');
reset role;

-- Unconfirmed: AWS SNS sends no delivery report, so its silence flags nothing; Twilio's does.
update public.messages set sent_at = now() - interval '25 hours'
 where idempotency_key in ('t159:carried', 't159:desk_b');
select is(private.flag_unconfirmed_messages(), 1, 'one message is flagged after 25 hours');
select is((select string_agg(idempotency_key, ', ') from public.messages
            where idempotency_key like 't159:%' and unconfirmed_at is not null),
  't159:desk_b', 'Twilio''s, not the one AWS SNS carried');

select * from finish();
rollback;
