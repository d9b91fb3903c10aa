-- Regression test from the issue 9 review, once a defect (issue 9, campaign flows; "crashes midway"): the flow job gates every campaign's next
-- step in one call of the gate, and the gate raises 22023 for a template that is no longer
-- active. So when one campaign's follow-up template is switched off after its launch, the whole
-- job fails every five minutes and every other campaign's flow stands still too.
begin;
select plan(3);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body)
values ('pr98_first', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.'),
       ('pr98_next_a', 'email', 'service', 'Still due: {{policy_number}}', 'Hello {{customer_name}}, {{policy_number}}.'),
       ('pr98_next_b', 'email', 'service', 'Still due: {{policy_number}}', 'Dear {{customer_name}}, {{policy_number}}.');

-- Four customers of agent_a with an open case: Probe98 1-2 in Apur, 3-4 in Bpur.
select tests.campaign_customers('Probe98', 'Apur', 2, policy_prefix => 'T-P98-',
                                phone_prefix => '+91971800000', email_prefix => 'p98_');
select tests.campaign_customers('Probe98', 'Bpur', 2, policy_prefix => 'T-P98-',
                                phone_prefix => '+91971800000', email_prefix => 'p98_',
                                first_number => 3);

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter)
select x.name, n.id, 'email', 'service', 'pr98_first', x.filter::jsonb
  from public.hierarchy_nodes n, (values ('Probe98 A', '{"city": "Apur"}'), ('Probe98 B', '{"city": "Bpur"}')) x (name, filter)
 where n.code = 'T_ZONE';
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait, condition)
select c.id, 2, 'email', case c.name when 'Probe98 A' then 'pr98_next_a' else 'pr98_next_b' end, '1 hour', 'always'
  from public.campaigns c where c.name like 'Probe98 %';
-- Launched at the moved clock: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select sum((private.launch_campaign(c.id, pg_temp.at())).queued)::integer
             from public.campaigns c where c.name like 'Probe98 %'), 4, 'both campaigns launched (2 + 2)');
update public.messages m set status = 'sent', sent_at = pg_temp.at(0)
  from public.campaigns c where c.id = m.campaign_id and c.name like 'Probe98 %';
-- Campaign A's follow-up template is switched off after the launch.
update public.templates set active = false where code = 'pr98_next_a';

select tests.authenticate_as_service_role();
select lives_ok($$select * from private.advance_campaign_flows(pg_temp.at(2))$$,
                'the flow job runs although one campaign''s follow-up template is off');
reset role;
select is((select count(*)::integer from public.campaign_recipients r join public.campaigns c on c.id = r.campaign_id
            where c.name = 'Probe98 B' and r.step = 2), 2,
          'campaign B''s recipients move to their follow-up regardless');

select * from finish();
rollback;
