-- Review of issue 9: the every-minute job (private.launch_scheduled_campaigns) launched a
-- scheduled campaign as the backend, with no look at who scheduled it: a manager deactivated,
-- demoted to agent or moved to another branch after scheduling still had it sent over the old
-- subtree. At its start the job now launches a campaign only while its creator is an active admin,
-- or an active manager whose subtree still holds its scope; any other is cancelled, nothing sent,
-- with the reason in campaigns.cancelled_reason and a warning in the job's log.
begin;
select plan(14);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"end": "00:00", "start": "00:00"}' where key = 'QUIET_HOURS';
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body)
values ('c129_mail', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.');
-- Two customers of agent_a (C129 1-2) in Schedpur, each with an open case.
select tests.campaign_customers('C129', 'Schedpur', 2, policy_prefix => 'T-C129-',
                                phone_prefix => '+91971290000', email_prefix => 'c129_');

-- Five schedulers, each scheduling a campaign over Schedpur (agent_a's customers, team A) for
-- tomorrow: four managers and the admin.
select tests.create_user('c129_leaves', 'manager', 'T_ZONE');
select tests.create_user('c129_demoted', 'manager', 'T_ZONE');
select tests.create_user('c129_moved', 'manager', 'T_BRANCH_A');
select tests.create_user('c129_stays', 'manager', 'T_REGION');
create function pg_temp.schedule(who text, campaign_name text, scope text) returns integer
language plpgsql
as $$
declare
  new_id uuid;
begin
  perform tests.authenticate_as(who);
  insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter, start_at)
  select campaign_name, n.id, 'email', 'service', 'c129_mail', '{"city": "Schedpur"}', pg_temp.at(24)
    from public.hierarchy_nodes n where n.code = scope
  returning campaigns.id into new_id;
  -- As the manager, on the real clock: before its start, so scheduled.
  return (private.launch_campaign(new_id)).audience;
end;
$$;
grant execute on function pg_temp.schedule(text, text, text) to authenticated;
select is(pg_temp.schedule('c129_leaves', 'By the leaver', 'T_ZONE'), 2, 'scheduled by a manager who will leave');
select is(pg_temp.schedule('c129_demoted', 'By the demoted', 'T_ZONE'), 2, 'by one who will be made an agent');
select is(pg_temp.schedule('c129_moved', 'By the moved', 'T_BRANCH_A'), 2, 'by one who will move to branch B');
select is(pg_temp.schedule('c129_stays', 'By the stayer', 'T_BRANCH_A'), 2, 'by one who stays');
select is(pg_temp.schedule('admin', 'By the admin', 'T_TEAM_A'), 2, 'by the admin');
reset role;
select is((select count(*)::integer from public.campaigns where name like 'By the %' and status = 'scheduled'), 5,
          'five scheduled campaigns');

-- Before the start: one leaves, one is made an agent, one moves to branch B (outside the scope
-- of their campaign); the stayer is moved up to the zone (their subtree still holds it).
update public.profiles set active = false where id = tests.get_user_id('c129_leaves');
update public.profiles set role = 'agent' where id = tests.get_user_id('c129_demoted');
update public.profiles set node_id = (select id from public.hierarchy_nodes where code = 'T_BRANCH_B')
 where id = tests.get_user_id('c129_moved');
update public.profiles set node_id = (select id from public.hierarchy_nodes where code = 'T_ZONE')
 where id = tests.get_user_id('c129_stays');

select tests.authenticate_as_service_role();
select is(private.launch_scheduled_campaigns(pg_temp.at(24)), 2,
          'at the start the job launches only the two whose creator may still run them');
reset role;
select is((select array_agg(name order by name) from public.campaigns where name like 'By the %' and status = 'running'),
          array['By the admin', 'By the stayer'], 'the admin''s and the stayer''s run');
select is((select count(*)::integer from public.messages m join public.campaigns c on c.id = m.campaign_id
            where c.name in ('By the admin', 'By the stayer')), 4, 'each sent to its two customers');
select is((select array_agg(row(name, status, cancelled_at = pg_temp.at(24), cancelled_reason)::text order by name)
             from public.campaigns where name in ('By the leaver', 'By the demoted', 'By the moved')),
          array[row('By the demoted', 'cancelled', true, 'its creator is no longer a manager')::text,
                row('By the leaver', 'cancelled', true, 'its creator is no longer active')::text,
                row('By the moved', 'cancelled', true, 'its scope is no longer in its creator''s subtree')::text],
          'the other three are cancelled at their start, each with its reason');
select is((select count(*)::integer from public.messages m join public.campaigns c on c.id = m.campaign_id
            where c.name in ('By the leaver', 'By the demoted', 'By the moved')), 0, 'nothing of theirs is sent');
select is((select count(*)::integer from public.campaign_recipients r join public.campaigns c on c.id = r.campaign_id
            where c.name in ('By the leaver', 'By the demoted', 'By the moved')), 0, 'nobody is their recipient');
select is((select count(*)::integer from public.campaigns where cancelled_reason is not null
            and name in ('By the admin', 'By the stayer')), 0, 'the launched ones have no such reason');
select tests.authenticate_as_service_role();
select is(private.launch_scheduled_campaigns(pg_temp.at(25)), 0, 'a later run has nothing left to do');

select * from finish();
rollback;
