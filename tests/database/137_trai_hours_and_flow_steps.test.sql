-- TRAI's promotional hours are IST whatever the business's zone (20261201031000), and a flow's
-- later steps keep the campaign's rate and its scope (20261201031500) (issue 9, third review).
begin;
select plan(12);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the flow test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';
update public.app_settings set value = '{"start": "21:00", "end": "08:00"}' where key = 'QUIET_HOURS';
update public.app_settings set value = '{"start": "10:00", "end": "21:00"}' where key = 'PROMOTIONAL_HOURS';

-- A time of day (IST) a week ahead, `days` later.
create function pg_temp.at(clock time, days integer default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7 + days) + clock) at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.at(time, integer) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body)
values ('t137_offer', 'email', 'marketing', 'An offer', 'Offer for {{policy_number}}. Stop: {{withdrawal_link}}'),
       ('t137_offer2', 'email', 'marketing', 'Offer again', 'Again for {{policy_number}}. Stop: {{withdrawal_link}}'),
       ('t137_mail', 'email', 'service', 'Renew', 'Renew {{policy_number}}.'),
       ('t137_mail2', 'email', 'service', 'Renew now', 'Renew {{policy_number}} now.');

-- Four customers of agent_a in Flowpur (marketing consent by email), three in Scopepur.
create temporary table made on commit drop as
select 'flow' as what, * from tests.campaign_customers('C137', 'Flowpur', 4, policy_prefix => 'T-C137-',
                                                         phone_prefix => '+91974500', email_prefix => 'c137_')
union all
select 'scope', * from tests.campaign_customers('C137', 'Scopepur', 3, policy_prefix => 'T-C137-',
                                                  phone_prefix => '+91974500', email_prefix => 'c137_',
                                                  first_number => 5);
grant select on made to authenticated, service_role;
insert into public.consents (customer_id, channel, purpose, status, source)
select customer_id, 'email', 'marketing', 'granted', 'import' from made where what = 'flow';

-- 1. The business's zone moved to UTC: marketing still keeps to 10:00-21:00 IST.
select tests.authenticate_as('admin');
update public.app_settings set value = '"UTC"' where key = 'BUSINESS_TIME_ZONE';
reset role;
select is((select to_char(next_attempt_at at time zone 'Asia/Kolkata', 'HH24:MI')
             from private.enqueue_messages(jsonb_build_object(
               'customer_id', (select customer_id from made where customer_no = 1),
               'channel', 'email', 'purpose', 'marketing', 'template_code', 't137_offer',
               'variables', jsonb_build_object('policy_number', 'X'),
               'idempotency_key', 'test:137:utc'), pg_temp.at('01:00'))),
          '10:00', 'a marketing message queued at 01:00 IST waits for 10:00 IST, not 10:00 UTC');
update public.messages set next_attempt_at = pg_temp.at('01:00') where idempotency_key = 'test:137:utc';
select is((select count(*)::integer from private.claim_messages('t137', 100, pg_temp.at('01:05')) c
             join public.messages m on m.id = c.id where m.idempotency_key = 'test:137:utc'),
          0, 'nor is it claimed at 01:05 IST (19:35 UTC)');
select is((select to_char(next_attempt_at at time zone 'Asia/Kolkata', 'HH24:MI') from public.messages
            where idempotency_key = 'test:137:utc'), '10:00', 'the claim defers it to 10:00 IST');
select is((select row(w.window_start, w.window_end)::text
             from private.campaign_spread_window('marketing', null, null) w),
          '(04:30:00,15:30:00)', 'a campaign spreads within the promotional hours as UTC clock times');
update public.messages set status = 'cancelled', cancelled_at = now() where idempotency_key = 'test:137:utc';
update public.app_settings set value = '"Asia/Kolkata"' where key = 'BUSINESS_TIME_ZONE';

-- 2. A marketing flow spread at one an hour, its second step twelve hours after the first.
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code,
                              audience_filter, spread_rate_per_hour)
select 'Spread flow', n.id, 'email', 'marketing', 't137_offer', '{"city": "Flowpur"}', 1
  from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select id, 2, 'email', 't137_offer2', interval '12 hours', 'always' from public.campaigns where name = 'Spread flow';
-- Launched at moved clocks: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Spread flow'),
                                                     pg_temp.at('10:00'))), 4, 'four queued');
select is((select array_agg(to_char(next_attempt_at at time zone 'Asia/Kolkata', 'HH24:MI') order by next_attempt_at)::text
             from public.messages where idempotency_key like 'campaign:%:1'
              and campaign_id = (select id from public.campaigns where name = 'Spread flow')),
          '{10:00,11:00,12:00,13:00}', 'the first step, one an hour');
update public.messages set status = 'sent', sent_at = next_attempt_at
 where campaign_id = (select id from public.campaigns where name = 'Spread flow');
-- The flow job every five minutes; each recipient's wait ends an hour after the one before.
select private.advance_campaign_flows(pg_temp.at('22:05'));
select private.advance_campaign_flows(pg_temp.at('23:05'));
select private.advance_campaign_flows(pg_temp.at('00:05', 1));
select private.advance_campaign_flows(pg_temp.at('01:05', 1));
select is((select array_agg(to_char(next_attempt_at at time zone 'Asia/Kolkata', 'DD HH24:MI') order by next_attempt_at)
             from public.messages where idempotency_key like 'campaign:%:2'
              and campaign_id = (select id from public.campaigns where name = 'Spread flow')),
          array(select to_char(pg_temp.at(h, 1) at time zone 'Asia/Kolkata', 'DD HH24:MI')
                  from unnest(array[time '10:00', '11:00', '12:00', '13:00']) h),
          'the second step keeps the rate of one an hour from the next opening (it all went at 10:00)');
select is((select array_agg(to_char(r.due_at at time zone 'Asia/Kolkata', 'HH24:MI') order by r.due_at)::text
             from public.campaign_recipients r join public.campaigns c on c.id = r.campaign_id
            where c.name = 'Spread flow' and r.step = 2),
          '{10:00,11:00,12:00,13:00}', 'each recipient''s due time is their slot');

-- 3. Branch B's manager runs a flow over agent_b's cases in Scopepur; one case then moves to
--    agent_a (branch A), outside branch B.
update public.renewal_cases set assignee_id = tests.get_user_id('agent_b')
 where id in (select case_id from made where what = 'scope');
select tests.authenticate_as('branch_b_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter,
                              spread_rate_per_hour)
select 'Branch flow', n.id, 'email', 'service', 't137_mail', '{"city": "Scopepur"}', 1
  from public.hierarchy_nodes n where n.code = 'T_BRANCH_B';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select id, 2, 'email', 't137_mail2', interval '24 hours', 'always' from public.campaigns where name = 'Branch flow';
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Branch flow'),
                                                     pg_temp.at('12:00'))), 3, 'branch B: three queued, one an hour');
-- The first two went; the third waits for its slot.
update public.messages m set status = 'sent', sent_at = m.next_attempt_at
 where m.campaign_id = (select id from public.campaigns where name = 'Branch flow')
   and m.next_attempt_at < pg_temp.at('13:30');
create temporary table moved on commit drop as
select m.customer_id, m.status as was from public.messages m
 where m.campaign_id = (select id from public.campaigns where name = 'Branch flow');
update public.renewal_cases set assignee_id = tests.get_user_id('agent_a')
 where customer_id in (select customer_id from made where what = 'scope');
select is((select count(*)::integer from public.messages m
             join moved x on x.customer_id = m.customer_id and x.was = 'queued'
            where m.campaign_id = (select id from public.campaigns where name = 'Branch flow')
              and m.status = 'cancelled'), 1,
          'the reassignment cancels the first send still queued for the customer now outside the scope');
select is((select outcome || ':' || recipients from private.advance_campaign_flows(pg_temp.at('14:05', 1))
            where outcome = 'left_flow'), 'left_flow:3',
          'those who got the first step leave the flow when the next comes, and so does the one never sent');
select is((select count(*)::integer from public.messages
            where campaign_id = (select id from public.campaigns where name = 'Branch flow')
              and idempotency_key like '%:2'), 0,
          'branch B''s campaign sends no further step to customers now outside branch B');

select * from finish();
rollback;
