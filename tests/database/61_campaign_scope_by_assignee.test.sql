-- Regression test from the issue 9 review, once a defect (issue 9, "A manager cannot target customers outside their subtree"): the audience takes
-- a case when its assignee OR its policy's agent sits in the scope subtree. A case handed to an
-- agent of another zone (its policy's agent still in branch B) is invisible to branch B's manager
-- under RLS, yet their campaign messages it, and its recipient row hands them the case id.
begin;
select plan(4);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

select tests.create_user('agent_z2', 'agent', 'T_ZONE2');
insert into public.templates (code, channel, purpose, subject, body)
values ('pr95', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.');

-- Customer 1: policy and case with agent_b (branch B). Customer 2: policy with agent_b, but the
-- case is worked by agent_z2 in the other zone.
insert into public.customers (full_name, phone, email)
select 'Probe95 ' || i, '+91971500000' || i, 'p95_' || i || '@tests.py360.test' from generate_series(1, 2) i;
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
select 'T-P95-' || right(cu.full_name, 1), 'health', 'Test General', cu.id, tests.get_user_id('agent_b'),
       1200000, 50000000, current_date + 30 - 365, current_date + 30
  from public.customers cu where cu.full_name like 'Probe95 %';
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select p.id, p.customer_id,
       case when p.policy_number = 'T-P95-2' then tests.get_user_id('agent_z2') else p.agent_id end,
       p.end_date, p.end_date + 30
  from public.policies p where p.policy_number like 'T-P95-%';

create temporary table other_case on commit drop as
select c.id from public.renewal_cases c join public.policies p on p.id = c.policy_id where p.policy_number = 'T-P95-2';
grant select on other_case to authenticated;

select tests.authenticate_as('branch_b_manager');
select is_empty($$select 1 from public.renewal_cases where id = (select id from other_case)$$,
                'branch B''s manager cannot see the case worked in the other zone (RLS)');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'Probe95', n.id, 'email', 'service', 'pr95' from public.hierarchy_nodes n where n.code = 'T_BRANCH_B';
select is((select audience from private.launch_campaign((select id from public.campaigns where name = 'Probe95'))),
          1, 'the launch reaches only the case the manager may see (customer 1)');
select is_empty($$select 1 from public.campaign_recipients where case_id = (select id from other_case)$$,
                'no recipient row shows the manager a case id they cannot see');
reset role;
select is((select count(*)::integer from public.messages m where m.case_id = (select id from other_case)), 0,
          'no message about the other zone''s case');

select * from finish();
rollback;
