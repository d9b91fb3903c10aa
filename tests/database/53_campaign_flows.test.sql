-- Campaign flows (issue 9, slice 2): private.advance_campaign_flows(as_of) moves recipients whose
-- step was sent and whose wait has passed — WhatsApp, then after 24 h an SMS to those who did not
-- read it, then after 3 days an email to everyone still in — once each, and leaves the others.
begin;
select plan(21);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the flow test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('flow_wa', 'whatsapp', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}}',
        'flow_wa_en', 'utility', 'approved', 2, null, null, null, null),
       ('flow_sms', 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789012399', 'Renew {#var#} -PYRNWL'),
       ('flow_email', 'email', 'service', 'Renew {{policy_number}}', 'Pay for {{policy_number}} here.',
        null, null, null, null, null, null, null, null);

-- Four customers of agent_a (Flow 1-4) with an open case and WhatsApp opt-in.
select tests.campaign_customers('Flow', null, 4, policy_prefix => 'T-FLOW-',
                                phone_prefix => '+91971000000', email_prefix => 'flow',
                                whatsapp_opt_in => true);

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'Flow', n.id, 'whatsapp', 'service', 'flow_wa' from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select c.id, s.position, s.channel::public.channel_type, s.template_code, s.wait::interval,
       s.condition::public.campaign_step_condition
  from public.campaigns c,
       (values (2, 'sms', 'flow_sms', '24 hours', 'not_read'),
               (3, 'email', 'flow_email', '3 days', 'always')) s (position, channel, template_code, wait, condition)
 where c.name = 'Flow';
-- Launched, paused and resumed at the moved clock: the owner's forms (managers use the ones on
-- now()), with the manager's claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Flow'), pg_temp.at())),
          4, 'the first step queues four WhatsApp messages');

create temporary table flow on commit drop as select id from public.campaigns where name = 'Flow';
grant select on flow to service_role, authenticated;
-- Where each customer stands: "<n>:<step>:<state>", in customer order.
create function pg_temp.positions() returns text
language sql stable
as $$
  select string_agg(right(cu.full_name, 1) || ':' || r.step || ':' || r.state, ' ' order by cu.full_name)
    from public.campaign_recipients r join public.customers cu on cu.id = r.customer_id
   where r.campaign_id = (select id from flow)
$$;
create function pg_temp.advance(hours numeric) returns jsonb
language sql
as $$ select jsonb_object_agg(a.outcome, a.recipients) from private.advance_campaign_flows(pg_temp.at(hours)) a $$;
grant execute on function pg_temp.advance(numeric) to service_role;

select tests.authenticate_as_service_role();
select is(pg_temp.advance(30), '{"left_flow": 0, "sent_next_step": 0, "blocked_next_step": 0, "campaigns_completed": 0}',
          'nobody moves while their first message is still queued');
reset role;

-- Sent at the launch; customers 1 and 2 read it, 3 and 4 only had it delivered.
update public.messages m set status = case when cu.full_name in ('Flow 1', 'Flow 2') then 'read' else 'delivered' end::public.message_status,
       sent_at = pg_temp.at(0), delivered_at = pg_temp.at(0),
       read_at = case when cu.full_name in ('Flow 1', 'Flow 2') then pg_temp.at(2) end
  from public.customers cu where cu.id = m.customer_id and m.campaign_id = (select id from flow);

select tests.authenticate_as_service_role();
select is(pg_temp.advance(23)->>'sent_next_step', '0', 'before the 24 h wait nothing moves');
select is(pg_temp.advance(25), '{"left_flow": 2, "sent_next_step": 2, "blocked_next_step": 0, "campaigns_completed": 0}',
          'after 24 h: the two who did not read get the SMS, the two readers leave');
reset role;
select is(pg_temp.positions(), '1:1:done 2:1:done 3:2:active 4:2:active', 'positions after the first wait');
select is((select string_agg(right(cu.full_name, 1) || ':' || m.channel, ' ' order by cu.full_name)
             from public.messages m join public.customers cu on cu.id = m.customer_id
            where m.campaign_id = (select id from flow)
              and m.idempotency_key = format('campaign:%s:%s:2', m.campaign_id, m.customer_id)),
          '3:sms 4:sms', 'the SMS step, keyed campaign:<id>:<customer>:2, tagged with the campaign');
select is((select count(*)::integer from public.campaign_recipients r join public.messages m on m.id = r.message_id
            where r.campaign_id = (select id from flow) and r.step = 2 and m.channel = 'sms'), 2,
          'each mover''s current message is their SMS');

select tests.authenticate_as_service_role();
select is(pg_temp.advance(26)->>'sent_next_step', '0', 'a second run moves nobody again');
reset role;
select is((select count(*)::integer from public.messages where campaign_id = (select id from flow)), 6,
          'six messages: four WhatsApp, two SMS');

update public.messages m set status = 'sent', sent_at = pg_temp.at(25)
 where m.campaign_id = (select id from flow) and m.channel = 'sms';
-- Paused, the flow waits, even past the wait.
select tests.authenticate_as('zone_manager');
reset role;
select is(private.pause_campaign((select id from public.campaigns where name = 'Flow'), pg_temp.at(27)), 0,
          'pause (nothing queued to hold)');
select tests.authenticate_as_service_role();
select is(pg_temp.advance(25 + 73)->>'sent_next_step', '0', 'a paused campaign''s flow does not advance');
select tests.authenticate_as('zone_manager');
reset role;
select is(private.resume_campaign((select id from public.campaigns where name = 'Flow'), pg_temp.at(25 + 73)), 0,
          'resume');
select tests.authenticate_as_service_role();
select is(pg_temp.advance(25 + 71)->>'sent_next_step', '0', 'the email waits three days after the SMS');
select is(pg_temp.advance(25 + 73), '{"left_flow": 0, "sent_next_step": 2, "blocked_next_step": 0, "campaigns_completed": 0}',
          'three days after the SMS: the email to both (always)');
reset role;
select is(pg_temp.positions(), '1:1:done 2:1:done 3:3:done 4:3:done', 'the last step ends the flow');
select is((select string_agg(m.channel::text, ',' order by m.channel) from public.messages m
            where m.campaign_id = (select id from flow) and m.idempotency_key like '%:3'),
          'email,email', 'the third step is the email');

update public.messages m set status = 'sent', sent_at = pg_temp.at(99)
 where m.campaign_id = (select id from flow) and m.channel = 'email';
select tests.authenticate_as_service_role();
select is(pg_temp.advance(100)->>'campaigns_completed', '1', 'nobody left, nothing queued: the campaign completes');
reset role;
select is((select status::text from public.campaigns where id = (select id from flow)), 'completed', 'completed');

-- Converted: customer 3's case renewed after their first message went, customer 1's renewed before.
update public.messages m set sent_at = case when cu.full_name = 'Flow 3' then now() - interval '1 hour'
                                            else now() + interval '1 day' end
  from public.customers cu
 where cu.id = m.customer_id and cu.full_name in ('Flow 1', 'Flow 3') and m.campaign_id = (select id from flow);
do $$
declare
  step text;
begin
  foreach step in array array['contacted', 'quoted', 'payment_pending', 'renewed'] loop
    update public.renewal_cases c set stage = step::public.case_stage
      from public.policies p
     where p.id = c.policy_id and p.policy_number in ('T-FLOW-1', 'T-FLOW-3');
  end loop;
end
$$;
select tests.authenticate_as('zone_manager');
select is((select row(recipients, converted, conversion_rate)::text from private.campaign_stats((select id from flow))),
          '(4,1,0.2500)', 'converted counts a renewal after the first send, not one before it');
reset role;

-- The job is the backend's; a completed campaign stays completed.
select tests.authenticate_as('agent_a');
select throws_ok('select private.advance_campaign_flows()', '42501',
                 'permission denied for function advance_campaign_flows', 'the flow job is the backend''s');
select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.pause_campaign(%L)', (select id from public.campaigns where name = 'Flow')),
                 '55000', 'only a running campaign pauses (this one is completed)',
                 'a completed campaign does not pause');

select * from finish();
rollback;
