-- Scheduled campaigns (issue 9): a campaign launched before its start_at is checked and
-- scheduled, queues nothing, and is launched by private.launch_scheduled_campaigns when it
-- starts, its audience drawn then; a campaign that cannot launch stays scheduled without holding
-- up the others; a scheduled campaign can be cancelled, not paused.
begin;
select plan(18);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the scheduling test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

insert into public.templates (code, channel, purpose, subject, body)
values ('sched_email', 'email', 'service', 'Renew {{policy_number}}', 'Pay for {{policy_number}} here.'),
       ('sched_email_2', 'email', 'service', 'Renew {{policy_number}} now', 'Renew {{policy_number}}.');

-- Five customers of agent_a (Sched 1-5) with an open case and an email address.
select tests.campaign_customers('Sched', null, 5, policy_prefix => 'T-SCHED-',
                                phone_prefix => '+91972000000', email_prefix => 'sched');

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, start_at)
select x.name, n.id, 'email', 'service', x.template_code, pg_temp.at(24)
  from public.hierarchy_nodes n,
       (values ('Tomorrow', 'sched_email'), ('Doomed', 'sched_email_2'), ('Called off', 'sched_email'))
         x (name, template_code)
 where n.code = 'T_ZONE';
create temporary table campaign_ids on commit drop as
select name, id from public.campaigns where name in ('Tomorrow', 'Doomed', 'Called off');
grant select on campaign_ids to authenticated, service_role;

create temporary table early_preview on commit drop as
select * from private.preview_campaign((select id from campaign_ids where name = 'Tomorrow'), pg_temp.at());
-- The manager launches on the real clock (private.launch_campaign(id)): eight days early.
create temporary table early on commit drop as
select * from private.launch_campaign((select id from campaign_ids where name = 'Tomorrow'));
grant select on early to authenticated, service_role;
select is((select row(audience, queued, created)::text from early), '(5,5,0)',
          'launched before its start: the counts of a launch at its start, nothing created');
select is((select row(audience, queued, deferred, blocked, estimated_cost_paise)::text from early_preview),
          (select row(audience, queued, deferred, blocked, estimated_cost_paise)::text from early),
          'its preview a day early has the launch''s numbers (both judged at its start: none deferred)');
select is((select status::text from public.campaigns where name = 'Tomorrow'), 'scheduled',
          'the campaign is scheduled');
select is((select launched_at from public.campaigns where name = 'Tomorrow'), null,
          'not launched yet');
select is((select created from private.launch_campaign((select id from campaign_ids where name = 'Tomorrow'))),
          0, 'launching it again before its start creates nothing either');
select throws_ok(format('select private.pause_campaign(%L)',
                        (select id from campaign_ids where name = 'Tomorrow')),
                 '55000', null, 'a scheduled campaign cannot be paused');
select lives_ok(format('select private.launch_campaign(%L)',
                       (select id from campaign_ids where name = 'Doomed')),
                'a second campaign is scheduled');
select lives_ok(format('select private.launch_campaign(%L)',
                       (select id from campaign_ids where name = 'Called off')),
                'and a third');
select is(private.cancel_campaign((select id from campaign_ids where name = 'Called off')),
          0, 'a scheduled campaign is cancelled with nothing queued to cancel');
select throws_ok($$select private.launch_scheduled_campaigns(now())$$, '42501', null,
                 'the launch job is not the desk''s to run');

reset role;
-- Before the start: one customer renews elsewhere and the second campaign's template is withdrawn.
update public.renewal_cases c set stage = 'lost', lost_reason = 'Renewed with another insurer'
  from public.policies p where p.id = c.policy_id and p.policy_number = 'T-SCHED-1';
update public.templates set active = false where code = 'sched_email_2';
select is((select count(*)::integer from public.messages m
            where m.campaign_id in (select id from campaign_ids)), 0,
          'nothing is queued before the start');

select tests.authenticate_as_service_role();
select is(private.launch_scheduled_campaigns(pg_temp.at(23.9)), 0, 'not before its start_at');
select is(private.launch_scheduled_campaigns(pg_temp.at(24)), 1,
          'at its start the job launches the one that can launch');
reset role;
select is((select row(status, launched_at)::text from public.campaigns where name = 'Tomorrow'),
          (select row('running'::public.campaign_status, pg_temp.at(24))::text),
          'it runs, launched at its start');
select is((select count(*)::integer from public.messages m
            where m.campaign_id = (select id from campaign_ids where name = 'Tomorrow')),
          4, 'its audience is drawn at the start: the customer who renewed meanwhile is left out');
select is((select status::text from public.campaigns where name = 'Doomed'), 'scheduled',
          'the campaign whose template was withdrawn stays scheduled');
select is((select status::text from public.campaigns where name = 'Called off'), 'cancelled',
          'the cancelled one is not launched');
select tests.authenticate_as_service_role();
select is(private.launch_scheduled_campaigns(pg_temp.at(25)), 0,
          'a second run launches nothing again');

select * from finish();
rollback;
