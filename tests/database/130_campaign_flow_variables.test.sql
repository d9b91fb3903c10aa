-- Review of issue 9: the issue's own flow (WhatsApp, then email with the payment link after three
-- days, template payment_link_reminder) could not be sent. A campaign's messages carried only
-- customer_name, policy_number, expiry_date, premium, product_line and ncb_percent, and each flow
-- step re-used the previous message's: the email was blocked missing_variables for everyone.
-- Now every step carries the variables the reminder cadence gives, computed when the step is
-- queued (a payment link opened after the launch reaches a later step), the costly ones
-- (amount_due, the tracked payment link) only for a template that uses them. A campaign whose
-- template uses a variable no campaign message carries is refused when it is written (22023),
-- and a preview or launch checks every step again (a template edited since).
begin;
select plan(23);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"end": "00:00", "start": "00:00"}' where key = 'QUIET_HOURS';
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('c130_wa', 'whatsapp', 'service', null, 'Hi {{customer_name}}, renew {{policy_number}}',
        'c130_wa_en', 'utility', 'approved', 2),
       ('c130_mail', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.',
        null, null, null, null),
       ('c130_agent', 'email', 'service', 'Renew {{policy_number}}', 'Call {{agent_name}} about {{policy_number}}.',
        null, null, null, null),
       ('c130_offer', 'email', 'marketing', 'An offer', 'Renew {{policy_number}} today. {{withdrawal_link}}',
        null, null, null, null),
       ('c130_unsigned', 'email', 'service', 'Renew', 'Renew {{policy_number}}. {{withdrawal_link}}',
        null, null, null, null);
-- C130 1-2 in Flowpur with WhatsApp opt-in: motor policies of ₹12,345.50 with a 35 % NCB, each
-- case owing its premium in one installment, due with it.
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select made.case_id, 1, current_date + 30, 1234550
  from tests.campaign_customers('C130', 'Flowpur', 2, policy_prefix => 'T-C130-',
                                phone_prefix => '+91971300100', email_prefix => 'c130_',
                                whatsapp_opt_in => true, product_line => 'motor', premium => 1234550,
                                ncb_percent => 35) made;
create function pg_temp.case_of(customer_no integer) returns public.renewal_cases
language sql stable
as $$
  select c.* from public.renewal_cases c join public.customers cu on cu.id = c.customer_id
   where cu.full_name = 'C130 ' || customer_no
$$;
create function pg_temp.message(customer_no integer, channel_name text) returns public.messages
language sql stable
as $$
  select m.* from public.messages m join public.customers cu on cu.id = m.customer_id
   where cu.full_name = 'C130 ' || customer_no and m.channel::text = channel_name
     and m.campaign_id = (select c.id from public.campaigns c where c.name = 'The issue''s flow')
$$;

-- The issue's flow: WhatsApp, then (always, after 72 hours) the email with the payment link.
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter)
select 'The issue''s flow', n.id, 'whatsapp', 'service', 'c130_wa', '{"city": "Flowpur"}'
  from public.hierarchy_nodes n where n.code = 'T_ZONE';
select lives_ok($$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
                  select id, 2, 'email', 'payment_link_reminder', interval '72 hours', 'always'
                    from public.campaigns where name = 'The issue''s flow'$$,
                'a step with the payment link is accepted: a campaign''s messages carry it');
-- Launched at the moved clock: the owner's form (managers launch on now()), the manager's claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'The issue''s flow'), pg_temp.at())),
          2, 'launched: two WhatsApp messages');
select is((pg_temp.message(1, 'whatsapp')).variables - 'case_number',
          jsonb_build_object('customer_name', 'C130 1', 'policy_number', 'T-C130-1', 'product_line', 'motor',
                             'expiry_date', to_char(current_date + 30, 'FMDD Mon YYYY'),
                             'due_date', to_char(current_date + 30, 'FMDD Mon YYYY'),
                             'premium', '₹12,345.50',
                             'grace_end', to_char(current_date + 60, 'FMDD Mon YYYY'),
                             'ncb_percent', '35',
                             'ncb_deadline', to_char(current_date + 30 + 90, 'FMDD Mon YYYY')),
          'the first step carries the cadence''s variables (amount_due and the link only where the template uses them)');
select is((pg_temp.message(1, 'whatsapp')).variables ->> 'case_number', (pg_temp.case_of(1)).case_number,
          'and the case number');
select is((select count(*)::integer from public.tracked_links l where l.case_id in ((pg_temp.case_of(1)).id, (pg_temp.case_of(2)).id)),
          0, 'no tracked link is made for a step whose template has no {{payment_link}}');

-- Sent; then, after the launch, customer 1's case gets a payment link (customer 2's none) and
-- a second installment.
update public.messages set status = 'sent', sent_at = pg_temp.at(0.1), attempts = 1
 where campaign_id = (select id from public.campaigns where name = 'The issue''s flow');
insert into public.payment_links (case_id, razorpay_payment_link_id, short_url, amount, status, expire_by)
select (pg_temp.case_of(1)).id, 'plink_C130', 'https://rzp.io/i/c130', 1234550, 'created', pg_temp.at(24 * 30);
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select (pg_temp.case_of(1)).id, 2, current_date + 60, 100000;
select tests.authenticate_as_service_role();
select is((select recipients from private.advance_campaign_flows(pg_temp.at(71)) where outcome = 'sent_next_step'), 0,
          'not before its 72 hours');
select is((select recipients from private.advance_campaign_flows(pg_temp.at(80)) where outcome = 'sent_next_step'), 1,
          'three days on: customer 1''s email goes');
reset role;
select is(row((pg_temp.message(1, 'email')).status, (pg_temp.message(1, 'email')).blocked_reason)::text,
          '(queued,)', 'queued, not blocked missing_variables');
select is((pg_temp.message(1, 'email')).variables ->> 'payment_link',
          (select 'http://127.0.0.1:54321/functions/v1/go/' || l.code from public.tracked_links l
            where l.case_id = (pg_temp.case_of(1)).id and l.target_url = 'https://rzp.io/i/c130'),
          'its {{payment_link}}: the tracked redirect to the link opened after the launch');
select is((pg_temp.message(1, 'email')).variables ->> 'amount_due', '₹13,345.50',
          'its {{amount_due}}: what the case still owes when the step is queued');
select ok(strpos((pg_temp.message(1, 'email')).body, (pg_temp.message(1, 'email')).variables ->> 'payment_link') > 0
          and strpos((pg_temp.message(1, 'email')).body, (pg_temp.case_of(1)).case_number) > 0
          and (pg_temp.message(1, 'email')).body !~ '\{\{',
          'the email reads in full: the link, the case number, nothing left unfilled');
select is(row((pg_temp.message(2, 'email')).status, (pg_temp.message(2, 'email')).blocked_reason)::text,
          '(blocked,missing_variables)', 'customer 2, whose case has no payment link, is blocked as missing_variables');
select is((pg_temp.message(2, 'email')).variables ->> 'amount_due', '₹12,345.50',
          'with what their case owes all the same');

-- Refused when written: a template using a variable no campaign message carries.
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter)
select x.name, n.id, 'email', x.purpose::public.consent_purpose, x.template, '{"city": "Flowpur"}'
  from public.hierarchy_nodes n,
       (values ('Refused', 'service', 'c130_mail'), ('Offer', 'marketing', 'c130_offer')) x (name, purpose, template)
 where n.code = 'T_ZONE';
select throws_ok($$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
                   select id, 2, 'email', 'c130_agent', interval '1 hour', 'always'
                     from public.campaigns where name = 'Refused'$$,
                 '22023', 'step 2 (email c130_agent) uses {{agent_name}}, which no campaign message carries',
                 'a step whose template uses {{agent_name}} is refused');
select throws_ok($$insert into public.campaign_variants (campaign_id, code, template_code, weight)
                   select id, 'A', 'c130_agent', 50 from public.campaigns where name = 'Refused'$$,
                 '22023', 'variant A (email c130_agent) uses {{agent_name}}, which no campaign message carries',
                 'so is a variant');
select throws_ok($$update public.campaigns set template_code = 'c130_agent' where name = 'Refused'$$,
                 '22023', 'the first step (email c130_agent) uses {{agent_name}}, which no campaign message carries',
                 'and the campaign''s own template');
select throws_ok($$insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
                   select 'Refused too', n.id, 'email', 'service', 'c130_agent'
                     from public.hierarchy_nodes n where n.code = 'T_ZONE'$$,
                 '22023', 'the first step (email c130_agent) uses {{agent_name}}, which no campaign message carries',
                 'also when the campaign is created');
select lives_ok($$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
                  select id, 2, 'email', 'c130_offer', interval '1 hour', 'always' from public.campaigns where name = 'Offer'$$,
                'a marketing template''s {{withdrawal_link}} is accepted: the gate signs it');
select throws_ok($$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
                   select id, 2, 'email', 'c130_unsigned', interval '1 hour', 'always' from public.campaigns where name = 'Refused'$$,
                 '22023', 'step 2 (email c130_unsigned) uses {{withdrawal_link}}, which no campaign message carries',
                 'a service template''s is not: nothing signs it');
select lives_ok($$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
                  select id, 2, 'email', 'c130_mail', interval '1 hour', 'always' from public.campaigns where name = 'Refused'$$,
                'a step whose template uses what campaigns carry is accepted');

-- A template edited since: the preview (and the launch) judge every step again.
reset role;
update public.templates set body = 'Hi {{customer_name}}, {{agent_name}} will call about {{policy_number}}.'
 where code = 'c130_mail' and channel = 'email';
select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.preview_campaign(%L, %L)', (select id from public.campaigns where name = 'Refused'), pg_temp.at()),
                 '22023', 'the campaign''s templates use variables no campaign message carries: the first step (email c130_mail): {{agent_name}}; step 2 (email c130_mail): {{agent_name}}',
                 'a preview judges every step, not only the first');
select throws_ok(format('select private.launch_campaign(%L)', (select id from public.campaigns where name = 'Refused')),
                 '22023', null, 'and the launch refuses it, sending nothing');
reset role;
select is((select count(*)::integer from public.messages m join public.campaigns c on c.id = m.campaign_id
            where c.name = 'Refused'), 0, 'nothing was sent');

select * from finish();
rollback;
