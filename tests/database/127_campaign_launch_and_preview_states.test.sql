-- Review of issue 9: only a draft or a scheduled campaign launches or is previewed. A second
-- launch of a running campaign drew the audience again and sent the first step to customers whose
-- case had entered the scope since (created: 1, "a second launch creates nothing" said the
-- README); a preview of a cancelled or completed campaign answered counts that did not add up
-- where its launch answered 55000. Both are 55000 now (409 in the API), creating nothing.
begin;
select plan(21);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"end": "00:00", "start": "00:00"}' where key = 'QUIET_HOURS';
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;
-- A campaign's id by name (as the caller sees it).
create function pg_temp.campaign(campaign_name text) returns uuid
language sql stable
as $$ select c.id from public.campaigns c where c.name = campaign_name $$;
grant execute on function pg_temp.campaign(text) to authenticated, service_role;
create function pg_temp.messages_of(campaign_name text) returns integer
language sql stable
security definer
as $$ select count(*)::integer from public.messages m where m.campaign_id = pg_temp.campaign(campaign_name) $$;
grant execute on function pg_temp.messages_of(text) to authenticated;

insert into public.templates (code, channel, purpose, subject, body)
values ('c127_mail', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.');

-- Relaunch 1-2 in Relaunchpur and Done 1 in Donepur, each with an open case held by agent_a
-- (Relaunch 3 joins Relaunchpur after the first launch).
select tests.campaign_customers('Relaunch', 'Relaunchpur', 2, policy_prefix => 'T-127-RELAUNCH-',
                                phone_prefix => '+919712700', email_prefix => 'relaunch');
select tests.campaign_customers('Done', 'Donepur', 1, policy_prefix => 'T-127-DONE-',
                                phone_prefix => '+919712710', email_prefix => 'done');

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter, start_at)
select x.name, n.id, 'email', 'service', 'c127_mail', jsonb_build_object('city', x.city), x.start_at
  from public.hierarchy_nodes n,
       (values ('Relaunch', 'Relaunchpur', null::timestamptz), ('Done', 'Donepur', null),
               ('Later', 'Relaunchpur', pg_temp.at(24)), ('Draft', 'Relaunchpur', null))
         x (name, city, start_at)
 where n.code = 'T_ZONE';

-- A running campaign: launched once, then refused. Managers launch on the real clock
-- (private.launch_campaign(id)); the form moving it to the week ahead is the owner's, called
-- here with the manager's claims.
reset role;
select is((select created from private.launch_campaign(pg_temp.campaign('Relaunch'), pg_temp.at())), 2,
          'the first launch creates a message per customer');
reset role;
-- Relaunch 3 enters the campaign's scope.
select tests.campaign_customers('Relaunch', 'Relaunchpur', 1, policy_prefix => 'T-127-RELAUNCH-',
                                phone_prefix => '+919712700', email_prefix => 'relaunch',
                                first_number => 3);
select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.launch_campaign(%L)', pg_temp.campaign('Relaunch')),
                 '55000', 'only a draft or a scheduled campaign launches (this one is running)',
                 'a second launch of a running campaign is refused');
select is(pg_temp.messages_of('Relaunch'), 2,
          'and creates nothing: the customer whose case entered the scope since is not added');
select is((select count(*)::integer from public.campaign_recipients where campaign_id = pg_temp.campaign('Relaunch')), 2,
          'no recipient added');
select throws_ok(format('select private.preview_campaign(%L, %L)', pg_temp.campaign('Relaunch'), pg_temp.at(1)),
                 '55000', 'only a draft or a scheduled campaign is previewed (this one is running)',
                 'a running campaign has no preview');

-- Paused, then cancelled: neither launches nor previews.
select is(private.pause_campaign(pg_temp.campaign('Relaunch')), 2, 'paused: its two messages held');
select throws_ok(format('select private.launch_campaign(%L)', pg_temp.campaign('Relaunch')),
                 '55000', 'only a draft or a scheduled campaign launches (this one is paused)',
                 'a paused campaign is not launched again');
select throws_ok(format('select private.preview_campaign(%L, %L)', pg_temp.campaign('Relaunch'), pg_temp.at(2)),
                 '55000', 'only a draft or a scheduled campaign is previewed (this one is paused)',
                 'nor previewed');
select is(private.cancel_campaign(pg_temp.campaign('Relaunch')), 2, 'cancelled: its two messages');
select throws_ok(format('select private.preview_campaign(%L, %L)', pg_temp.campaign('Relaunch'), pg_temp.at(3)),
                 '55000', 'only a draft or a scheduled campaign is previewed (this one is cancelled)',
                 'a cancelled campaign has no preview (it had counts that did not add up)');
select throws_ok(format('select private.launch_campaign(%L)', pg_temp.campaign('Relaunch')),
                 '55000', 'only a draft or a scheduled campaign launches (this one is cancelled)',
                 'nor launches');
select is(pg_temp.messages_of('Relaunch'), 2, 'still two messages, both cancelled');

-- Completed: launched, sent, its flow over.
reset role;
select is((select created from private.launch_campaign(pg_temp.campaign('Done'), pg_temp.at())), 1, 'Done launched');
update public.messages set status = 'sent', sent_at = pg_temp.at(0.1), attempts = 1
 where campaign_id = pg_temp.campaign('Done');
select tests.authenticate_as_service_role();
select is((select recipients from private.advance_campaign_flows(pg_temp.at(1)) where outcome = 'campaigns_completed'),
          1, 'the flow job completes it');
select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.preview_campaign(%L, %L)', pg_temp.campaign('Done'), pg_temp.at(2)),
                 '55000', 'only a draft or a scheduled campaign is previewed (this one is completed)',
                 'a completed campaign has no preview');
select throws_ok(format('select private.launch_campaign(%L)', pg_temp.campaign('Done')),
                 '55000', 'only a draft or a scheduled campaign launches (this one is completed)',
                 'nor launches');

-- A draft and a scheduled campaign are previewed; the scheduled one is checked again when
-- launched again before its start, creating nothing.
select is((select audience from private.preview_campaign(pg_temp.campaign('Draft'), pg_temp.at())), 3,
          'a draft is previewed (the late customer included)');
reset role;
select is((select row(audience, created)::text from private.launch_campaign(pg_temp.campaign('Later'), pg_temp.at())),
          '(3,0)', 'launched before its start: scheduled, nothing created');
select tests.authenticate_as('zone_manager');
select is((select audience from private.preview_campaign(pg_temp.campaign('Later'), pg_temp.at(1))), 3,
          'a scheduled campaign is previewed');
select is((select created from private.launch_campaign(pg_temp.campaign('Later'))), 0,
          'and launched again (by the manager, now) before its start: checked, still nothing created');
select is((select status::text from public.campaigns where id = pg_temp.campaign('Later')), 'scheduled',
          'still scheduled');

select * from finish();
rollback;
