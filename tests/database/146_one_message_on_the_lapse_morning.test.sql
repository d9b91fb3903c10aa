-- Issue 9's sixth review (migration 20261201085355): on the morning after a motor case with NCB
-- lapses, the customer gets the lapse notice and not the ladder's +1 step (NCB at risk) as well;
-- the step goes the next morning, once.
begin;
select plan(5);
select tests.create_test_org();
create function pg_temp.ist(day date, clock time) returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;
do $$
declare customer uuid; policy uuid; renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Lapse 146', '+919710001461', 'lapse146@tests.py360.test') returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  values ('T-146-1', 'motor', 'Test', customer, tests.get_user_id('agent_a'), 1200000, 50000000,
          date '2035-03-01' - 365, '2035-03-01', 35) returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), '2035-03-01', '2035-03-01') returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, '2035-03-01', 1200000);
end $$;
create function pg_temp.day(d date) returns jsonb language plpgsql as $$
begin
  perform private.run_daily_renewal_jobs(pg_temp.ist(d, '00:30'));
  return (select jsonb_object_agg(c.outcome, c.cases) from private.run_reminder_cadence(pg_temp.ist(d, '00:45')) c);
end;
$$;
create temporary view sent as
  select t.code, m.status::text, private.business_date(m.queued_at) as day
    from public.messages m join public.templates t on t.id = m.template_id
   where m.recipient = 'lapse146@tests.py360.test' and m.status not in ('cancelled', 'blocked');

select pg_temp.day(d::date) from generate_series(date '2035-02-28', date '2035-03-01', interval '1 day') d;
select is(pg_temp.day('2035-03-02') -> 'after_lapse_notice', '1'::jsonb,
          'the lapse morning: the +1 step waits after the lapse notice');
select is((select string_agg(code, ',') from sent where day = '2035-03-02'), 'case_lapsed_motor_ncb',
          'that morning brings the lapse notice alone');
select is(pg_temp.day('2035-03-03') -> 'after_lapse_notice', '0'::jsonb, 'the next morning nothing waits');
select is((select string_agg(code, ',') from sent where day = '2035-03-03'), 'ncb_at_risk',
          'and the NCB step goes');
select is(pg_temp.day('2035-03-04') -> 'queued', '0'::jsonb, 'once');

select * from finish();
rollback;
