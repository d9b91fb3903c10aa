-- Regression test from the issue 9 review, once a defect (issue 9, agent tasks): a call task whose case closes (lost, renewed, lapsed) is still
-- open and keeps escalating up the hierarchy; a task whose case is handed to another agent stays
-- with the old one (the new assignee never sees it, and it escalates up the old one's chain);
-- a done task's outcome can be rewritten by a second "done".
begin;
select plan(7);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable
as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

create function pg_temp.make_case(n integer, agent text, premium bigint) returns uuid
language plpgsql
as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Probe93 ' || n, '+9196100000' || lpad(n::text, 2, '0'), 'p93_' || n || '@tests.py360.test')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  values ('T-P93-' || n, 'motor', 'Test General', customer, tests.get_user_id(agent), premium,
          90000000, current_date - 335, current_date + 30)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id(agent), current_date + 30, current_date + 30)
  returning id into renewal;
  return renewal;
end;
$$;

create temporary table cases (name text, id uuid);
insert into cases values ('closed', pg_temp.make_case(1, 'agent_a', 6000000)),
                         ('moved', pg_temp.make_case(2, 'agent_a', 6000000));
grant select on cases to authenticated;
create function pg_temp.task(case_name text) returns public.tasks
language sql stable
as $$ select t.* from public.tasks t join cases c on c.id = t.case_id where c.name = case_name $$;
grant execute on function pg_temp.task(text) to authenticated;

select is((select c.cases from private.run_reminder_cadence(pg_temp.ist(current_date + 15)) c
            where c.outcome = 'tasks_opened'), 2::bigint, 'the -15 step opens both call tasks');

-- The customer of "closed" buys elsewhere the next morning: the case is lost.
update public.renewal_cases set stage = 'lost', lost_reason = 'Bought elsewhere'
 where id = (select id from cases where name = 'closed');
-- "moved" is handed to agent_b (another branch) by an admin.
update public.renewal_cases set assignee_id = tests.get_user_id('agent_b')
 where id = (select id from cases where name = 'moved');

select private.escalate_overdue_tasks(pg_temp.ist(current_date + 15) + interval '49 hours');
select is((select (t.status, t.escalation_level, t.outcome)::text from pg_temp.task('closed') t),
          '(done,0,"Closed with the case (lost)")',
          'the task of a lost case closes with it and never escalates (nothing left to call about)');
select is((select t.status from pg_temp.task('closed') t) <> 'open', true,
          'nor stays open on the agent''s list once its case closed');

select is(tests.affected_rows_as('agent_b', format('select 1 from public.tasks where case_id = %L',
                                                   (select id from cases where name = 'moved'))),
          '1', 'the new assignee (agent_b) sees the call task of the case they now hold');
select is((select t.escalated_to = tests.get_user_id('branch_b_manager') from pg_temp.task('moved') t), true,
          'it escalates to the new assignee''s manager (branch B), not the old one''s chain');

-- Done twice: the second "done" may not rewrite the outcome.
select tests.authenticate_as('agent_b');
update public.tasks set status = 'done', outcome = 'Customer renewing on Friday'
 where id = (pg_temp.task('moved')).id;
select throws_ok(format($$update public.tasks set status = 'done', outcome = 'Changed my story'
                           where id = %L$$, (pg_temp.task('moved')).id),
                 '22023', null, 'a second done is refused');
reset role;
select set_config('request.jwt.claims', '', true);
select is((select t.outcome from pg_temp.task('moved') t), 'Customer renewing on Friday',
          'a done task''s outcome is not rewritten by a second done');

select * from finish();
rollback;
