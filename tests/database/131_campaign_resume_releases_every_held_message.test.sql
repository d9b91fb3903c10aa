-- Review of issue 9: resume released only the messages that were a recipient's current message.
-- A WhatsApp message's SMS fallback (private.queue_sms_fallbacks) and a retry held by the
-- _310_hold_paused_campaigns trigger are the campaign's too, held the same way: they stayed held
-- (next_attempt_at infinity, campaign_paused) forever, and the campaign never completed. Resume
-- now releases every message the campaign holds: a recipient's current one at its planned time
-- shifted by the pause (as before), any other now, each through the gate's send windows (here
-- quiet hours).
begin;
select plan(18);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';
update public.app_settings set value = '86400' where key = 'MESSAGE_LEASE_SECONDS';
update public.app_settings set value = '{"end": "00:00", "start": "00:00"}' where key = 'QUIET_HOURS';
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('c128', 'whatsapp', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}}',
        'c128_en', 'utility', 'approved', 2, null, null, null, null),
       ('c128', 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789012393', 'Renew {#var#} -PYRNWL');
-- Three customers of agent_a (C128 1-3), each with an open case and WhatsApp opt-in.
select tests.campaign_customers('C128', null, 3, policy_prefix => 'T-C128-',
                                phone_prefix => '+91971280000', email_prefix => 'c128_',
                                whatsapp_opt_in => true);

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'C128', n.id, 'whatsapp', 'service', 'c128' from public.hierarchy_nodes n where n.code = 'T_ZONE';
reset role;
create temporary table cx on commit drop as select id from public.campaigns where name = 'C128';
grant select on cx to authenticated, service_role;
-- A message of the campaign by customer and channel.
create function pg_temp.message(customer_no integer, channel_name text) returns public.messages
language sql stable
as $$
  select m.* from public.messages m join public.customers cu on cu.id = m.customer_id
   where cu.full_name = 'C128 ' || customer_no and m.channel::text = channel_name and m.campaign_id = (select id from cx)
$$;
grant execute on function pg_temp.message(integer, text) to authenticated, service_role;
create function pg_temp.results(worker text, outcome jsonb, ids uuid[]) returns jsonb
language sql stable
as $$
  select jsonb_agg(outcome || jsonb_build_object('id', m.id, 'attempt', m.attempts))
    from public.messages m where m.id = any (ids)
$$;
grant execute on function pg_temp.results(text, jsonb, uuid[]) to service_role;

-- Launched, paused and resumed at the moved clock: the owner's forms (managers use the ones on
-- now()), with the manager's claims.
select tests.authenticate_as('zone_manager');
reset role;
select is((select queued from private.launch_campaign((select id from cx), pg_temp.at())), 3, 'three WhatsApp messages');
select tests.authenticate_as_service_role();
select is((select count(*)::integer from private.claim_messages('w-wa', 100, pg_temp.at(0.1))), 3, 'the worker takes all three');
-- WhatsApp refuses customers 1 and 2 (131047): their SMS fallbacks are queued for the campaign.
select is(private.record_send_results('w-wa', pg_temp.results('w-wa',
            '{"ok": false, "disposition": "fallback", "code": "131047", "message": "Re-engagement"}',
            array[(pg_temp.message(1, 'whatsapp')).id, (pg_temp.message(2, 'whatsapp')).id]), pg_temp.at(0.15)),
          2, 'two refusals recorded');
reset role;
select is((select count(*)::integer from public.messages m where m.campaign_id = (select id from cx)
            and m.channel = 'sms' and m.status = 'queued'), 2, 'two SMS fallbacks queued, the campaign''s');
-- The SMS worker takes both; customer 1's fails for a moment (a retry) before the pause.
select tests.authenticate_as_service_role();
select is((select count(*)::integer from private.claim_messages('w-sms', 100, pg_temp.at(0.16))), 2, 'the SMS worker takes both');
select is(private.record_send_results('w-sms', pg_temp.results('w-sms',
            '{"ok": false, "disposition": "transient", "code": "30008", "message": "Unknown error"}',
            array[(pg_temp.message(1, 'sms')).id]), pg_temp.at(0.17)),
          1, 'customer 1''s SMS to be retried');

-- Paused: customer 1's retry is held by the pause; customer 2's SMS, in the worker's hands,
-- fails for a moment and comes back held (the trigger). Neither is anyone's current message.
select tests.authenticate_as('zone_manager');
reset role;
select is(private.pause_campaign((select id from cx), pg_temp.at(0.2)), 1, 'the pause holds the retry');
select tests.authenticate_as_service_role();
select is(private.record_send_results('w-sms', pg_temp.results('w-sms',
            '{"ok": false, "disposition": "transient", "code": "30008", "message": "Unknown error"}',
            array[(pg_temp.message(2, 'sms')).id]), pg_temp.at(0.25)),
          1, 'customer 2''s SMS to be retried, while paused');
reset role;
select is((select count(*)::integer from public.messages m where m.campaign_id = (select id from cx)
            and m.channel = 'sms' and m.status = 'queued' and m.next_attempt_at = 'infinity'
            and m.deferred_reason = 'campaign_paused'), 2, 'both SMS are held');
select is((select count(*)::integer from public.campaign_recipients r join public.messages m on m.id = r.message_id
            where r.campaign_id = (select id from cx) and m.channel = 'sms'), 0,
          'neither is a recipient''s current message');

-- Resumed at 12:18 IST inside quiet hours (12:00-13:00 for the test).
update public.app_settings set value = '{"start": "12:00", "end": "13:00"}' where key = 'QUIET_HOURS';
select tests.authenticate_as('zone_manager');
reset role;
select is(private.resume_campaign((select id from cx), pg_temp.at(0.3)), 2, 'resume releases both');
select is((select count(*)::integer from public.messages m where m.campaign_id = (select id from cx)
            and m.status = 'queued' and (m.next_attempt_at = 'infinity' or m.deferred_reason = 'campaign_paused')), 0,
          'nothing of the campaign is held any more');
select is((select array_agg(row(m.next_attempt_at, m.deferred_reason)::text order by m.id) from public.messages m
            where m.campaign_id = (select id from cx) and m.channel = 'sms'),
          array_fill(row(pg_temp.at(1), 'quiet_hours')::text, array[2]),
          'each goes when it may: they were due when held, and quiet hours end at 13:00 (the gate''s rule)');

-- Sent, the campaign completes (it waited for the held fallbacks forever).
select tests.authenticate_as_service_role();
select is((select count(*)::integer from private.claim_messages('w-sms-2', 100, pg_temp.at(1.1))), 2,
          'the SMS are claimed again');
select is(private.record_send_results('w-sms-2', pg_temp.results('w-sms-2', '{"ok": true, "provider_message_id": "pm"}',
            array(select m.id from public.messages m where m.campaign_id = (select id from cx) and m.status = 'sending'
                     and m.channel = 'sms')), pg_temp.at(1.15)), 2, 'and sent');
select is(private.record_send_results('w-wa', pg_temp.results('w-wa', '{"ok": true, "provider_message_id": "pm"}',
            array[(pg_temp.message(3, 'whatsapp')).id]), pg_temp.at(1.15)), 1, 'customer 3''s WhatsApp goes');
select is((select recipients from private.advance_campaign_flows(pg_temp.at(2)) where outcome = 'campaigns_completed'),
          1, 'the flow job completes the campaign');
reset role;
select is((select count(*)::integer from public.messages m where m.campaign_id = (select id from cx)), 5,
          'five messages in all: nothing sent twice');

select * from finish();
rollback;
