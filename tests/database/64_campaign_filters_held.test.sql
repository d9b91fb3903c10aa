-- Regression test from the issue 9 review, once a defect (issue 9, campaigns): attacks that HELD. A manager writing the tables directly (as
-- PostgREST would let them) with crafted filters, another subtree, a launched campaign, the
-- status column; agents, analysts and managers calling the jobs.
begin;
select plan(16);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

insert into public.templates (code, channel, purpose, subject, body)
values ('pr99', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.');

select tests.authenticate_as('branch_b_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'Probe99', n.id, 'email', 'service', 'pr99' from public.hierarchy_nodes n where n.code = 'T_BRANCH_B';
create temporary table c99 on commit drop as select id from public.campaigns where name = 'Probe99';

create function pg_temp.preview_with(filter text) returns text
language plpgsql
as $$
begin
  update public.campaigns set audience_filter = filter::jsonb where id = (select id from c99);
  return (select audience::text from private.preview_campaign((select id from c99)));
exception when others then
  return sqlstate;
end;
$$;

select is(pg_temp.preview_with('{"stage": ["new", "renewed"]}'), '22023', 'a closed stage is refused');
select is(pg_temp.preview_with('{"city": {"$ne": ""}}'), '22023', 'an object value is refused');
select is(pg_temp.preview_with('{"city": ["Pune", 1]}'), '22023', 'a number inside a list is refused');
select is(pg_temp.preview_with('{"premium_min": "1e99"}'), '22023', 'an out-of-range premium is refused');
select is(pg_temp.preview_with('{"expiry_from": "2027-02-29"}'), '22023', 'a date that does not exist is refused');
select is(pg_temp.preview_with('{"product_line": []}'), '0', 'an empty list matches nobody (not everybody)');
select is(pg_temp.preview_with('{"city": null}'), '22023', 'a null value is refused');

select throws_ok($$update public.campaigns set scope_node_id = (select id from public.hierarchy_nodes where code = 'T_ZONE')
                    where id = (select id from c99)$$, '42501', null, 'a draft cannot be moved above the manager''s node');
select throws_ok($$update public.campaigns set status = 'running' where id = (select id from c99)$$, '42501', null,
                 'status is not writable');
update public.campaigns set audience_filter = '{}' where id = (select id from c99);
select lives_ok($$select private.launch_campaign((select id from c99))$$, 'launch');
select is(tests.affected_rows(format('update public.campaigns set audience_filter = ''{}'' where id = %L', (select id from c99))),
          '0', 'a launched campaign''s filter does not change');
select is(tests.affected_rows(format($f$insert into public.campaign_steps (campaign_id, position, channel, template_code, wait)
                                     values (%L, 2, 'email', 'pr99', '1 hour')$f$, (select id from c99))),
          '42501', 'nor gets a new step');

select tests.authenticate_as('agent_b');
select throws_ok(format('select private.cancel_campaign(%L)', (select id from c99)), '42501', null, 'agents cancel nothing');
select tests.authenticate_as('analyst');
select throws_ok(format('select * from private.campaign_stats(%L)', (select id from c99)), '42501', null,
                 'analysts read no stats');
select tests.authenticate_as('branch_b_manager');
select throws_ok('select private.launch_scheduled_campaigns()', '42501', null, 'the launch job is the backend''s');
select tests.authenticate_as('zone_manager');
select lives_ok(format('select private.pause_campaign(%L)', (select id from c99)),
                'the zone manager (above the scope) may pause the branch''s campaign');
reset role;

select * from finish();
rollback;
