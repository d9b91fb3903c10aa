-- Regression test from the issue 9 review, once a defect (issue 9, "A/B: ... stats per variant (delivery, read, ...)"): campaign_stats judges
-- each recipient by their CURRENT message. Once a flow moves them to step 2 (an SMS that is the
-- same for every variant), the variant's columns count the SMS, not the variant's own message:
-- here every variant's WhatsApp failed, every follow-up SMS was delivered, and the stats report
-- each variant as 100 % delivered, 0 failed.
begin;
select plan(4);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('pr97_a', 'whatsapp', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}}',
        'pr97_a_en', 'utility', 'approved', 2, null, null, null, null),
       ('pr97_b', 'whatsapp', 'service', null, 'Hello {{customer_name}}, {{policy_number}} is due',
        'pr97_b_en', 'utility', 'approved', 2, null, null, null, null),
       ('pr97_sms', 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789012397', 'Renew {#var#} -PYRNWL');

-- Twenty customers of agent_a (Probe97 1-20), each with an open case and WhatsApp opt-in.
select tests.campaign_customers('Probe97', null, 20, policy_prefix => 'T-P97-',
                                phone_prefix => '+9197170000', email_prefix => 'p97_',
                                whatsapp_opt_in => true);

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose)
select 'Probe97', n.id, 'whatsapp', 'service' from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_variants (campaign_id, code, template_code, weight)
select c.id, v.code, v.template_code, 50
  from public.campaigns c, (values ('A', 'pr97_a'), ('B', 'pr97_b')) v (code, template_code)
 where c.name = 'Probe97';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select c.id, 2, 'sms', 'pr97_sms', '1 hour', 'not_delivered' from public.campaigns c where c.name = 'Probe97';
-- Launched at the moved clock: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Probe97'), pg_temp.at())),
          20, 'twenty WhatsApp messages, split A/B');

-- Every variant message failed at the vendor.
update public.messages m set status = 'failed', failed_at = pg_temp.at(0.1)
 where m.campaign_id = (select id from public.campaigns where name = 'Probe97');
select tests.authenticate_as_service_role();
select private.advance_campaign_flows(pg_temp.at(2));
reset role;
-- Every follow-up SMS (the same template for both variants) was delivered.
update public.messages m set status = 'delivered', sent_at = pg_temp.at(2.1), delivered_at = pg_temp.at(2.2)
 where m.campaign_id = (select id from public.campaigns where name = 'Probe97') and m.channel = 'sms';

select tests.authenticate_as('zone_manager');
create temporary table s on commit drop as
select * from private.campaign_stats((select id from public.campaigns where name = 'Probe97'));
reset role;
select is((select sum(failed)::integer from s), 20,
          'per variant, the variant''s own messages: all 20 failed');
select is((select sum(delivered)::integer from s), 0,
          'and none of the variants'' messages was delivered (the SMS of step 2 is not the variant''s)');

-- Cost "of what was sent": the WhatsApps failed at the vendor (never sent, no vendor cost).
select is((select sum(cost_paise) from s),
          (select sum(coalesce(m.cost_paise, m.estimated_cost_paise)) from public.messages m
            where m.campaign_id = (select id from public.campaigns where name = 'Probe97')
              and m.status in ('sent', 'delivered', 'read')),
          'the cost counts what was sent (the delivered SMS), not the estimate of the failed WhatsApps');

select * from finish();
rollback;
