-- Issue 9's fifth review (migration 20261201082435): a lapsed motor case's post-expiry reminder
-- ("NCB at risk") handed back for a retry, or redriven, is queued again, not cancelled; a task
-- whose agent moved to another branch escalates up the agent's chain as it is now.
begin;
select plan(6);
select tests.create_test_org();
create function pg_temp.ist(day date, clock time) returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;
do $$
declare customer uuid; policy uuid; renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Lapse 143', '+919710001431', 'lapse143@tests.py360.test') returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  values ('T-143-1', 'motor', 'Test', customer, tests.get_user_id('agent_a'), 1200000, 50000000,
          date '2035-03-01' - 365, '2035-03-01', 35) returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), '2035-03-01', '2035-03-01') returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, '2035-03-01', 1200000);
end $$;
do $$
declare day date;
begin
  for day in select generate_series(date '2035-02-28', date '2035-03-03', interval '1 day')::date loop
    perform private.run_daily_renewal_jobs(pg_temp.ist(day, '00:30'));
    perform * from private.run_reminder_cadence(pg_temp.ist(day, '00:45'));
  end loop;
end $$;
create temporary table ncb as
  select m.id from public.messages m join public.templates t on t.id = m.template_id
   where m.recipient = 'lapse143@tests.py360.test' and t.code = 'ncb_at_risk' and m.status = 'queued';
select is((select c.stage::text from public.renewal_cases c join public.messages m on m.case_id = c.id
            where m.id = (select id from ncb)), 'lapsed', 'the case has lapsed and its NCB reminder is queued');

update public.messages
   set status = 'sending', locked_by = 'w', attempts = 1, provider_attempts = 1, sending_at = now(),
       locked_until = now() + interval '1 minute',
       provider = (select provider from public.channels where type = 'email' and enabled order by name limit 1)
 where id = (select id from ncb);
select private.record_send_results('w', (
         select jsonb_agg(jsonb_build_object('id', m.id, 'attempt', m.attempts, 'ok', false,
                                             'disposition', 'transient', 'code', '500', 'message', 'Internal'))
           from public.messages m where m.id = (select id from ncb)), now());
select is((select status::text from public.messages where id = (select id from ncb)), 'queued',
          'a transient failure queues it again for a retry');

update public.messages set status = 'dead', dead_reason = 'retries_exhausted', dead_at = now()
 where id = (select id from ncb);
select is(private.redrive_dead_messages(), 1, 'a redrive counts it');
select is((select status::text from public.messages where id = (select id from ncb)), 'queued',
          'and queues it again');

-- agent_a's task escalates to T_BRANCH_A's manager; agent_a then moves to T_TEAM_B.
select tests.create_user('branch_a_manager', 'manager', 'T_BRANCH_A');
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
select c.id, c.assignee_id, now(), 1, now() + interval '1 hour'
  from public.renewal_cases c join public.policies p on p.id = c.policy_id where p.policy_number = 'T-143-1';
select private.escalate_overdue_tasks(now() + interval '2 hours');
select is((select escalated_to from public.tasks), tests.get_user_id('branch_a_manager'),
          'level 1: the manager of the agent''s branch');
update public.profiles set node_id = (select id from public.hierarchy_nodes where code = 'T_TEAM_B')
 where id = tests.get_user_id('agent_a');
select private.escalate_overdue_tasks(now() + interval '10 hours');
select is((select escalated_to from public.tasks), tests.get_user_id('branch_b_manager'),
          'level 2, after the agent moved to T_TEAM_B: that branch''s manager, not one above T_BRANCH_A');

select * from finish();
rollback;
