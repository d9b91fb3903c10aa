-- The daily jobs' opening step under a generic plan (what PL/pgSQL may switch to from a
-- session's sixth run) opens the same cases and hands them round as under a custom plan. (Its
-- speed there, migration 20261201045503, is the renewals bench's: several days in one session.)
begin;
select plan(3);
select tests.create_test_org();
select tests.create_user('agent_a2', 'agent', 'T_TEAM_A');
select tests.create_user('agent_gone', 'agent', 'T_TEAM_A');
update public.profiles set active = false where id = tests.get_user_id('agent_gone');

insert into public.customers (id, full_name) values ('c0000000-0000-4000-8000-000000000140', 'Generic Plan');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
select format('T-GENERIC-%s-%s', agent, i), 'motor', 'Test', 'c0000000-0000-4000-8000-000000000140',
       tests.get_user_id(agent), 1200000, 100000000, date '2029-03-01', date '2030-03-01' + i
  from generate_series(1, 6) i, unnest(array['agent_a', 'agent_gone']) agent;

set local plan_cache_mode = force_generic_plan;
select is(private.open_renewal_cases('2030-03-01 03:30+00'), 12,
  'under a generic plan, every due term opens its case');
reset plan_cache_mode;
select is_empty($$
  select 1 from public.renewal_cases c join public.policies p on p.id = c.policy_id
   where p.policy_number like 'T-GENERIC-agent_gone-%'
     and c.assignee_id = tests.get_user_id('agent_gone')$$,
  'none of them goes to the agent who left');
select is(
  (select array_agg(n order by n) from (
     select count(*)::int as n
       from public.renewal_cases c join public.policies p on p.id = c.policy_id
      where p.policy_number like 'T-GENERIC-agent_gone-%' group by c.assignee_id) t),
  array[3, 3],
  'they go round the two active agents of the branch');
select * from finish();
rollback;
