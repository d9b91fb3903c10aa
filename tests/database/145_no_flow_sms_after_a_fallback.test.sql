-- Issue 9's sixth review (migration 20261201084500): in a flow WhatsApp → SMS to those who did
-- not read, a recipient whose WhatsApp failed and whose SMS fallback went gets no second SMS from
-- the flow's step; one whose WhatsApp was delivered and not read gets the step.
begin;
select plan(4);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Out of the way'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;
insert into public.templates (code, channel, purpose, subject, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('t145_wa', 'whatsapp', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}}', 't145_wa_en',
        'utility', 'approved', 2, null, null, null, null),
       ('t145_wa', 'sms', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}} -PYRNWL', null, null,
        null, null, '1101234567890123456', 'PYRNWL', '1107123456789014501', 'Hi {#var#}, renew {#var#} -PYRNWL'),
       ('t145_sms', 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', null, null, null, null,
        '1101234567890123456', 'PYRNWL', '1107123456789014502', 'Renew {#var#} -PYRNWL');
select count(*) from tests.campaign_customers('F145', null, 2, policy_prefix => 'T-F145-',
                                              phone_prefix => '+91971450000', email_prefix => 'f145_',
                                              whatsapp_opt_in => true);
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'F145', n.id, 'whatsapp', 'service', 't145_wa' from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select c.id, 2, 'sms', 't145_sms', '24 hours', 'not_read' from public.campaigns c where c.name = 'F145';
-- Launched at the moved clock: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'F145'), pg_temp.at())),
          2, 'the WhatsApp step queues two messages');

-- Customer 1's WhatsApp fails (its SMS twin is queued and delivered); customer 2's is delivered.
update public.messages m
   set status = case when cu.full_name = 'F145 1' then 'failed' else 'delivered' end::public.message_status,
       sent_at = pg_temp.at(0),
       failed_at = case when cu.full_name = 'F145 1' then pg_temp.at(0.1) end,
       delivered_at = case when cu.full_name = 'F145 2' then pg_temp.at(0.1) end
  from public.customers cu
 where cu.id = m.customer_id and m.campaign_id = (select id from public.campaigns where name = 'F145');
select is(private.queue_sms_fallbacks(array(select id from public.messages
                                             where campaign_id = (select id from public.campaigns where name = 'F145')
                                               and status = 'failed'), pg_temp.at(0.1)),
          1, 'customer 1''s failed WhatsApp gets its SMS twin');
update public.messages set status = 'delivered', sent_at = pg_temp.at(0.2), delivered_at = pg_temp.at(0.3)
 where idempotency_key like 'sms-fallback:%' and status = 'queued';

select private.advance_campaign_flows(pg_temp.at(25));
select is((select count(*)::integer from public.messages m join public.customers cu on cu.id = m.customer_id
            where cu.full_name = 'F145 1' and m.channel = 'sms'),
          1, 'customer 1 gets one SMS (the fallback), not the flow''s step as well');
select is((select count(*)::integer from public.messages m join public.customers cu on cu.id = m.customer_id
             join public.templates t on t.id = m.template_id
            where cu.full_name = 'F145 2' and t.code = 't145_sms'),
          1, 'customer 2, delivered and not read, gets the flow''s SMS step');

select * from finish();
rollback;
