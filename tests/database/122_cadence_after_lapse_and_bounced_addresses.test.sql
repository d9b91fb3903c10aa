-- The cadence after a lapse, and bounced addresses (20261130203658, issue 9 review). Motor and
-- home have no grace: the daily jobs lapse their cases the day after expiry, before the cadence
-- runs. Their ladder's steps after expiry still go: motor's "NCB at risk" until the NCB deadline,
-- home's "renewal expired"; none once a successor term is loaded. Walked day by day through both
-- pg_cron jobs in their order (the jobs at 00:30 IST, the cadence at 00:45). And a bounce skips
-- the address that bounced, not the channel.
begin;
select plan(8);
select tests.create_test_org();

create function pg_temp.ist(day date, clock time) returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- Cases due on 2035-03-01, each with one unpaid installment and WhatsApp opted in.
create function pg_temp.renewal(n integer, line public.product_line) returns uuid
language plpgsql as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Lapse Walk ' || n, '+9197100012' || lpad(n::text, 2, '0'), 'lapse' || n || '@tests.py360.test')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  values ('T-LW-' || n, line, 'Test', customer, tests.get_user_id('agent_a'), 1200000, 50000000,
          date '2035-03-01' - 365, '2035-03-01', 35)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), '2035-03-01', '2035-03-01')
  returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, '2035-03-01', 1200000);
  insert into public.consents (customer_id, channel, purpose, status, source)
  values (customer, 'whatsapp', 'service', 'granted', 'import');
  return renewal;
end;
$$;
create temporary table walked as
  select 'motor' as name, pg_temp.renewal(1, 'motor') as id
  union all select 'home', pg_temp.renewal(2, 'home')
  union all select 'renewed later', pg_temp.renewal(3, 'motor');

create function pg_temp.walk(first date, last date) returns void
language plpgsql as $$
declare
  day date;
begin
  for day in select generate_series(first, last, interval '1 day')::date loop
    perform private.run_daily_renewal_jobs(pg_temp.ist(day, '00:30'));
    perform * from private.run_reminder_cadence(pg_temp.ist(day, '00:45'));
  end loop;
end;
$$;
create temporary view after_expiry as
  select w.name, tests.cadence_step(m.idempotency_key) as offset_days, t.code
    from walked w
    join public.messages m on m.case_id = w.id
    join public.templates t on t.id = m.template_id
   where tests.cadence_step(m.idempotency_key) > 0;

select pg_temp.walk('2035-02-27', '2035-03-03');
select is((select array_agg(stage::text order by name) from public.renewal_cases c join walked w on w.id = c.id),
  array['lapsed', 'lapsed', 'lapsed'], 'each lapsed the day after expiry (no grace)');
-- The customer of the third renewed after all: the insurer loads its successor term.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, renewed_from_policy_id)
select 'T-LW-3-NEXT', 'motor', 'Test', p.customer_id, p.agent_id, 1300000, 50000000,
       '2035-03-04', date '2035-03-04' + 364, p.id
  from public.policies p where p.policy_number = 'T-LW-3';
select pg_temp.walk('2035-03-04', '2035-06-15');

select is((select array_agg(offset_days order by offset_days) from after_expiry where name = 'motor'),
  array[1, 7, 15, 30], 'motor, lapsed: NCB at risk at +1, +7, +15 and +30');
select is((select array_agg(distinct code) from after_expiry where name = 'motor'), array['ncb_at_risk'],
  'on its NCB template');
select is((select array_agg(offset_days order by offset_days) from after_expiry where name = 'home'),
  array[1, 7, 15, 30], 'home, lapsed: renewal expired at +1, +7, +15 and +30');
select is((select array_agg(offset_days order by offset_days) from after_expiry where name = 'renewed later'),
  array[1], 'a lapsed case whose successor term is loaded hears nothing more');
select is((select count(*)::integer from private.cadence_next_visits v join walked w on w.id = v.case_id), 0,
  'and no lapsed case is visited once its ladder is done');

-- A bounce skips the address that bounced, not the channel: two customers who prefer email,
-- each with a bounce a week ago; one has given a new address since.
create function pg_temp.bounced(n integer, bounced_address text, address text) returns uuid
language plpgsql as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email, preferred_channel)
  values ('Bounced ' || n, '+9197100013' || lpad(n::text, 2, '0'), address, 'email')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  values ('T-LW-B' || n, 'health', 'Test', customer, tests.get_user_id('agent_a'), 1200000, 50000000,
          date '2035-08-01' - 365, '2035-08-01')
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), '2035-08-01', '2035-08-31')
  returning id into renewal;
  insert into public.messages (customer_id, channel, purpose, body, recipient, status,
                               idempotency_key, failed_at)
  values (customer, 'email', 'service', 'An earlier note', bounced_address, 'undeliverable',
          'test:122:bounce:' || n, pg_temp.ist('2035-06-25', '10:00'));
  return renewal;
end;
$$;
create temporary table bounced as
  select 'new address' as name, pg_temp.bounced(1, 'old@tests.py360.test', 'new@tests.py360.test') as id
  union all
  select 'same address', pg_temp.bounced(2, 'same@tests.py360.test', 'same@tests.py360.test');
select lives_ok($$select * from private.run_reminder_cadence(pg_temp.ist('2035-07-02', '00:45'))$$,
  'the cadence runs on the day of the -30 step');
select is((select array_agg(b.name || ': ' || coalesce(m.recipient, 'nothing') order by b.name)
             from bounced b left join public.messages m
               on m.case_id = b.id and m.idempotency_key like 'cadence:%'),
  array['new address: new@tests.py360.test', 'same address: nothing'],
  'the new address gets the reminder; the address that bounced is skipped (email is the only channel with a template)');

select * from finish();
rollback;
