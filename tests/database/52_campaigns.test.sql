-- Campaigns (issue 9, slice 2): a 10,000-recipient campaign whose preview equals its launch, a
-- second launch refused (nothing added), the deterministic A/B split and off-peak spreading, pause
-- (nothing claimable), resume (claimable again, no duplicates), cancel, stats that add up, and
-- who may run what: a manager only inside their subtree whatever the filter says, agents and
-- analysts never.
begin;
select plan(48);
select tests.create_test_book();
-- Only this file's cases are open, so the audience counts are this file's.
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the campaign test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

-- Noon on a business day (IST), a week ahead.
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('camp_a', 'whatsapp', 'service', 'Hi {{customer_name}}, renew {{policy_number}}', 'camp_a_en',
        'utility', 'approved', 2),
       ('camp_b', 'whatsapp', 'service', 'Hello {{customer_name}}, {{policy_number}} is due', 'camp_b_en',
        'utility', 'approved', 2);

-- 10,000 customers with an open case each: 9,000 held by agent_a (team A), 1,000 by agent_b
-- (team B, under branch_b_manager). Every 10th has no WhatsApp opt-in, every 50th no phone.
insert into public.customers (full_name, phone, email, city)
select 'Campaign ' || i, case when i % 50 <> 0 then '+9198' || lpad(i::text, 8, '0') end,
       'campaign' || i || '@tests.py360.test', case when i % 2 = 0 then 'Pune' else 'Delhi' end
  from generate_series(1, 10000) i;
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
select 'T-CMP-' || substr(cu.full_name, 10), case when substr(cu.full_name, 10)::integer % 2 = 0 then 'motor' else 'health' end::public.product_line,
       'Test General', cu.id,
       tests.get_user_id(case when substr(cu.full_name, 10)::integer <= 9000 then 'agent_a' else 'agent_b' end),
       1200000, 50000000, current_date + 30 - 365, current_date + 30
  from public.customers cu where cu.full_name like 'Campaign %';
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select p.id, p.customer_id, p.agent_id, p.end_date, p.end_date + 30
  from public.policies p where p.policy_number like 'T-CMP-%';
insert into public.consents (customer_id, channel, purpose, status, source)
select cu.id, 'whatsapp', 'service', 'granted', 'import'
  from public.customers cu
 where substring(cu.full_name from '^Campaign (\d+)$')::integer % 10 <> 0;

-- The zone manager's A/B campaign over the whole zone, spread at 5,000 an hour.
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, spread_rate_per_hour)
select 'Zone renewals', n.id, 'whatsapp', 'service', 5000 from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_variants (campaign_id, code, template_code, weight)
select c.id, v.code, v.template_code, 50
  from public.campaigns c, (values ('A', 'camp_a'), ('B', 'camp_b')) v (code, template_code)
 where c.name = 'Zone renewals';
select is((select created_by from public.campaigns where name = 'Zone renewals'),
          tests.get_user_id('zone_manager'), 'created_by is the caller, stamped by the database');
select is((select status::text from public.campaigns where name = 'Zone renewals'), 'draft',
          'a new campaign is a draft');

create temporary table zone_campaign on commit drop as
select id from public.campaigns where name = 'Zone renewals';
grant select on zone_campaign to authenticated, service_role;

create temporary table counts on commit drop as
select 'preview' as what, * from private.preview_campaign((select id from zone_campaign), pg_temp.at());
grant select, insert on counts to authenticated, service_role;
select is((select audience from counts), 10000, 'preview: the zone''s 10,000 customers');
select is((select count(*)::integer from public.messages where campaign_id = (select id from zone_campaign)), 0,
          'preview queues nothing');
select is((select count(*)::integer from public.campaign_recipients), 0, 'preview adds no recipient');

-- Managers launch on the real clock (private.launch_campaign(id)); the form moving it to the
-- week ahead is the owner's, called here with the manager's claims.
reset role;
insert into counts
select 'launch', * from private.launch_campaign((select id from zone_campaign), pg_temp.at());
select tests.authenticate_as('zone_manager');
select is((select row(audience, queued, deferred, blocked, blocked_reasons, estimated_cost_paise)::text
             from counts where what = 'launch'),
          (select row(audience, queued, deferred, blocked, blocked_reasons, estimated_cost_paise)::text
             from counts where what = 'preview'),
          'the launch''s numbers are the preview''s');
select is((select blocked_reasons from counts where what = 'launch'),
          '{"no_address": 200, "whatsapp_not_opted_in": 800}'::jsonb,
          'blocked per reason: 200 without a phone, 800 more without WhatsApp opt-in');
select is((select queued from counts where what = 'launch'), 9000, '9,000 queued');
select is((select created from counts where what = 'launch'), 10000, 'the launch created 10,000 messages');
select is((select status::text from public.campaigns where id = (select id from zone_campaign)), 'running',
          'a launched campaign runs');

reset role;
select is((select count(*)::integer from public.campaign_recipients r where r.campaign_id = (select id from zone_campaign)),
          10000, 'one recipient per customer');
select is((select count(*)::integer from public.messages m
            where m.campaign_id = (select id from zone_campaign)
              and m.idempotency_key = format('campaign:%s:%s:1', m.campaign_id, m.customer_id)),
          10000, 'each message keyed campaign:<id>:<customer>:1 and tagged with the campaign');
select ok((select bool_and(n between 4700 and 5300) from (
             select count(*) as n from public.campaign_recipients r
              where r.campaign_id = (select id from zone_campaign) group by r.variant_id) s)
          and (select count(distinct variant_id) from public.campaign_recipients
                where campaign_id = (select id from zone_campaign)) = 2,
          'a 50/50 split gives each variant about half');
select is((select count(*)::integer from public.campaign_recipients r
             join public.campaign_variants v on v.id = r.variant_id
             join public.messages m on m.id = r.message_id
             join public.templates t on t.id = m.template_id
            where r.campaign_id = (select id from zone_campaign) and t.code <> v.template_code),
          0, 'each recipient got their variant''s template');
select ok((select count(*) from public.messages m where m.campaign_id = (select id from zone_campaign)
            and m.status = 'queued' and m.next_attempt_at < pg_temp.at(1)) between 4000 and 5000
          and (select max(m.next_attempt_at) from public.messages m
                where m.campaign_id = (select id from zone_campaign)) between pg_temp.at(1.9) and pg_temp.at(2),
          'off-peak spreading: at most 5,000 an hour, the last within two hours');

select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.launch_campaign(%L)', (select id from zone_campaign)),
                 '55000', 'only a draft or a scheduled campaign launches (this one is running)',
                 'a second launch is refused');
reset role;
select is((select count(*)::integer from public.messages where campaign_id = (select id from zone_campaign)), 10000,
          'still 10,000 messages after the second launch');

-- Pause: nothing of the campaign is claimable, however late.
select tests.authenticate_as('zone_manager');
reset role;
select is(private.pause_campaign((select id from zone_campaign), pg_temp.at(0.1)), 9000,
          'pause holds the 9,000 queued messages');
select tests.authenticate_as_service_role();
create temporary table claimed on commit drop as
select c.id, 'paused' as phase from private.claim_messages('w-paused', 1000, pg_temp.at(48)) c;
grant select, insert on claimed to service_role;
select is((select count(*)::integer from claimed c join public.messages m on m.id = c.id
            where m.campaign_id = (select id from zone_campaign)), 0,
          'a paused campaign''s messages are not claimed');
select is((select count(*)::integer from public.messages m where m.campaign_id = (select id from zone_campaign)
            and m.status = 'queued' and m.deferred_reason = 'campaign_paused'), 9000,
          'they stay queued, held as campaign_paused');

select tests.authenticate_as('zone_manager');
reset role;
select is(private.resume_campaign((select id from zone_campaign), pg_temp.at(1)), 9000,
          'resume releases the 9,000');
select tests.authenticate_as_service_role();
insert into claimed select c.id, 'resumed' from private.claim_messages('w-resumed', 1000, pg_temp.at(1.5)) c;
insert into claimed select c.id, 'resumed' from private.claim_messages('w-resumed-2', 1000, pg_temp.at(1.5)) c;
reset role;
select ok((select count(*) from claimed c join public.messages m on m.id = c.id
            where c.phase = 'resumed' and m.campaign_id = (select id from zone_campaign)) >= 1000,
          'resumed: the campaign''s messages are claimed again');
select is((select count(*) - count(distinct id) from claimed), 0::bigint, 'no message claimed twice');
select ok((select max(m.next_attempt_at) from public.messages m
            where m.campaign_id = (select id from zone_campaign) and m.status = 'queued')
          > pg_temp.at(2.5), 'resume keeps the spread, shifted by the pause');

-- Stats: some read, some delivered, some failed, as the webhooks would record them.
update public.messages m set status = 'read', sent_at = pg_temp.at(1), delivered_at = pg_temp.at(1), read_at = pg_temp.at(1.2)
 where m.id in (select c.id from claimed c) and m.customer_id in (
   select cu.id from public.customers cu
    where substring(cu.full_name from '^Campaign (\d+)$')::integer % 3 = 0);
update public.messages m set status = 'delivered', sent_at = pg_temp.at(1), delivered_at = pg_temp.at(1)
 where m.id in (select c.id from claimed c) and m.status = 'sending';
-- Statistics for the campaign's rows, as autovacuum would give them once the launch commits:
-- without them (an earlier test's rows analysed dead, reltuples 0) the planner takes the outbox
-- and the recipients for empty, and the stats below, and the claims after them, scan them once per
-- row they hand back (more than ten minutes in a full run of the suite).
analyze public.messages, public.campaign_recipients, public.payments;
select tests.authenticate_as('zone_manager');
create temporary table stats on commit drop as
select * from private.campaign_stats((select id from zone_campaign));
grant select on stats to authenticated;
select is((select array_agg(variant order by variant) from stats), array['A', 'B'], 'stats per variant');
select is((select count(*)::integer from stats
            where recipients <> queued + sent + delivered + read + failed + blocked + cancelled), 0,
          'each variant''s statuses add up to its recipients');
select is((select sum(recipients)::integer from stats), 10000, 'the variants add up to the audience');
select is((select sum(read)::integer from stats),
          (select count(*)::integer from public.messages where campaign_id = (select id from zone_campaign) and status = 'read'),
          'read counts what was read');
select ok((select read_significant is null and read_difference = 0 from stats where variant = 'A')
          and (select read_significant is not null from stats where variant = 'B'),
          'A is the control; B is compared with it');
reset role;
select is(round(private.two_proportion_z(50, 100, 30, 100)::numeric, 3), 2.887::numeric,
          'two-proportion z of 50/100 against 30/100 (pooled)');

-- Paused while the dispatcher holds some: handed back unsent, they are held with the others.
create temporary table inflight (id uuid) on commit drop;
grant select, insert on inflight to service_role;
select tests.authenticate_as_service_role();
insert into inflight select c.id from private.claim_messages('w-3', 50, pg_temp.at(2)) c;
select tests.authenticate_as('zone_manager');
reset role;
select ok(private.pause_campaign((select id from zone_campaign), pg_temp.at(2)) > 0, 'paused again');
select tests.authenticate_as_service_role();
select is(private.release_messages('w-3', array(select id from inflight), pg_temp.at(2), pg_temp.at(2)), 50,
          'the worker hands back the 50 it held');
select is((select count(*)::integer from public.messages m join inflight i on i.id = m.id
            where m.status = 'queued' and m.next_attempt_at = 'infinity' and m.deferred_reason = 'campaign_paused'),
          50, 'those come back held, as the paused campaign''s others');
select is((select count(*)::integer from private.claim_messages('w-4', 1000, pg_temp.at(100)) c
             join public.messages m on m.id = c.id where m.campaign_id = (select id from zone_campaign)),
          0, 'and no later claim takes them');
reset role;

-- Who may: a branch manager only inside their subtree, whatever the filter.
select tests.authenticate_as('branch_b_manager');
select throws_ok($$insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
                   select 'Too wide', n.id, 'whatsapp', 'service', 'camp_a' from public.hierarchy_nodes n
                    where n.code = 'T_ZONE'$$,
                 '42501', 'new row violates row-level security policy for table "campaigns"',
                 'a branch manager cannot scope a campaign above their node');
select is_empty($$select 1 from public.campaigns where name = 'Zone renewals'$$,
                'nor see the zone''s campaign');
select throws_ok(format('select private.launch_campaign(%L)', (select id from zone_campaign)),
                 'P0002', 'no such campaign', 'nor launch it');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter)
select 'Branch B', n.id, 'whatsapp', 'service', 'camp_a', '{"city": "Pune'' or ''1''=''1"}'
  from public.hierarchy_nodes n where n.code = 'T_BRANCH_B';
select is((select audience from private.preview_campaign((select id from public.campaigns where name = 'Branch B'), pg_temp.at())),
          0, 'a value that tries SQL is just a value: no city matches it');
update public.campaigns set audience_filter = '{"city": ["pune", "Delhi"], "product_line": "motor"}' where name = 'Branch B';
select is((select audience from private.preview_campaign((select id from public.campaigns where name = 'Branch B'), pg_temp.at())),
          500, 'the branch''s own motor customers only (1,000 in the branch, half motor)');
update public.campaigns set audience_filter = '{"agent_id": "x", "city": "Pune"}' where name = 'Branch B';
select throws_ok(format('select private.preview_campaign(%L, %L)',
                        (select id from public.campaigns where name = 'Branch B'), pg_temp.at()),
                 '22023', 'audience filter: unknown key(s) agent_id', 'an unknown filter key is refused');

-- Agents and analysts run nothing and see nothing.
select tests.authenticate_as('agent_a');
select throws_ok(format('select private.preview_campaign(%L)', (select id from zone_campaign)),
                 '42501', 'only managers and admins run campaigns', 'agents cannot preview');
select is_empty('select 1 from public.campaigns', 'agents see no campaign');
select tests.authenticate_as('analyst');
select is_empty('select 1 from public.campaign_recipients', 'analysts see no recipient');

-- Cancel: what is still queued is cancelled and never claimed.
select tests.authenticate_as('zone_manager');
select ok(private.cancel_campaign((select id from zone_campaign)) > 0, 'cancel cancels what is queued');
reset role;
select is((select count(*)::integer from public.messages where campaign_id = (select id from zone_campaign) and status = 'queued'),
          0, 'nothing of a cancelled campaign stays queued');

-- Off-peak with a window: 200 an hour between 10:00 and 12:00 IST, launched at noon: the 1,000
-- of branch B go over the next three mornings (400, 400, 200).
select tests.authenticate_as('branch_b_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, spread_rate_per_hour,
                              spread_window_start, spread_window_end)
select 'Branch window', n.id, 'whatsapp', 'service', 'camp_a', 200, '10:00', '12:00'
  from public.hierarchy_nodes n where n.code = 'T_BRANCH_B';
reset role;
select is((select audience from private.launch_campaign((select id from public.campaigns where name = 'Branch window'), pg_temp.at())),
          1000, 'the branch''s 1,000 launched');
select is((select array_agg(n order by d) from (
             select (r.due_at at time zone 'Asia/Kolkata')::date as d, count(*)::integer as n
               from public.campaign_recipients r join public.campaigns c on c.id = r.campaign_id
              where c.name = 'Branch window' group by 1) s),
          array[400, 400, 200], 'spread over the next three mornings: 400, 400, 200');
select ok((select bool_and((m.next_attempt_at at time zone 'Asia/Kolkata')::time >= '10:00'
                           and (m.next_attempt_at at time zone 'Asia/Kolkata')::time < '12:00')
             from public.messages m join public.campaigns c on c.id = m.campaign_id
            where c.name = 'Branch window' and m.status = 'queued')
          and (select min(m.next_attempt_at) from public.messages m join public.campaigns c on c.id = m.campaign_id
                where c.name = 'Branch window' and m.status = 'queued') >= pg_temp.at(22),
          'every queued message inside the window, none before the next morning');

select * from finish();
rollback;
