-- Regression test from the issue 9 review, once a defect (issue 9, campaign flows): a recipient whose renewal case closed (lost here; renewed or
-- lapsed alike) must not get the flow's next step. Two ways to reach it: the step-1 message was
-- sent and the case closed afterwards; or the case closed while step 1 was still queued, so the
-- closing trigger cancelled it (and the flow then reads the cancelled message as "done").
begin;
select plan(4);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('pr91_wa', 'whatsapp', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}}',
        'pr91_wa_en', 'utility', 'approved', 2, null, null, null, null),
       ('pr91_sms', 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789012391', 'Renew {#var#} -PYRNWL');

-- Three customers of agent_a (Probe91 1-3), each with an open case and WhatsApp opt-in.
select tests.campaign_customers('Probe91', null, 3, policy_prefix => 'T-P91-',
                                phone_prefix => '+91971100000', email_prefix => 'p91_',
                                whatsapp_opt_in => true);

-- WhatsApp, then after 24 h an SMS to everyone still in the flow.
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'Probe91', n.id, 'whatsapp', 'service', 'pr91_wa' from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select c.id, 2, 'sms', 'pr91_sms', '24 hours', 'always' from public.campaigns c where c.name = 'Probe91';
-- Launched at the moved clock: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Probe91'), pg_temp.at())),
          3, 'three WhatsApp messages queued');

-- Customer 1 and 3: the WhatsApp went out. Customer 2: still queued.
update public.messages m set status = 'delivered', sent_at = pg_temp.at(0), delivered_at = pg_temp.at(0)
  from public.customers cu
 where cu.id = m.customer_id and cu.full_name in ('Probe91 1', 'Probe91 3')
   and m.campaign_id = (select id from public.campaigns where name = 'Probe91');
-- Customers 1 and 2 close their case (lost) before the follow-up is due; customer 3 stays open.
update public.renewal_cases c set stage = 'lost', lost_reason = 'Bought elsewhere'
  from public.policies p where p.id = c.policy_id and p.policy_number in ('T-P91-1', 'T-P91-2');
select is((select m.status::text from public.messages m join public.customers cu on cu.id = m.customer_id
            where cu.full_name = 'Probe91 2'), 'cancelled',
          'closing case 2 cancelled its queued campaign message (the closing trigger)');

select tests.authenticate_as_service_role();
select is((select a.recipients from private.advance_campaign_flows(pg_temp.at(25)) a where a.outcome = 'sent_next_step'),
          1, 'after 24 h only the open case (customer 3) gets the SMS step');
reset role;
select is((select string_agg(right(cu.full_name, 1), ',' order by cu.full_name)
             from public.messages m join public.customers cu on cu.id = m.customer_id
            where m.campaign_id = (select id from public.campaigns where name = 'Probe91')
              and m.channel = 'sms' and m.status = 'queued'),
          '3', 'no follow-up SMS is queued for the customers whose case closed (1: after the send, 2: while queued)');

select * from finish();
rollback;
