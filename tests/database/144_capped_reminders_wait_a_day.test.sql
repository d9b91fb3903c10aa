-- Issue 9's sixth review (migration 20261201083925): a cadence step the frequency cap holds back
-- is kept on the outbox as blocked (frequency_cap) with its key set aside, and goes the next day
-- when the cap has room; a customer the cap did not hold gets the step once.
begin;
select plan(6);
select tests.create_test_org();
update public.app_settings set value = '{"service": {"max": 3, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('renewal_due', 'whatsapp', 'en', 'service',
        'Hello {{customer_name}}, renew {{policy_number}} by {{expiry_date}}.', 'renewal_due_en',
        'utility', 'approved', 3);

create function pg_temp.ist(day date, clock time) returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;
create temporary table mine (n integer, customer uuid, policy uuid);
do $$
declare c uuid; p uuid;
begin
  for n in 1..2 loop
    insert into public.customers (full_name, phone, email)
    values ('Capped ' || n, '+91972000014' || n, 'capped144_' || n || '@tests.py360.test') returning id into c;
    insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                                 sum_insured, start_date, end_date)
    values ('T-144-' || n, 'motor', 'Test', c, tests.get_user_id('agent_a'), 600000, 50000000,
            current_date + 37 - 365, current_date + 37) returning id into p;
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    values (p, c, tests.get_user_id('agent_a'), current_date + 37, current_date + 37);
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (c, 'whatsapp', 'service', 'granted', 'import');
    insert into mine values (n, c, p);
  end loop;
end $$;
-- Customer 1 had three service messages early on the step's day (the cap: three a day).
insert into public.messages (customer_id, channel, purpose, body, recipient, status, idempotency_key,
                             queued_at, sent_at)
select m.customer, 'email', 'service', 'An earlier message', 'capped144_1@tests.py360.test', 'sent',
       't144-earlier-' || g, pg_temp.ist(current_date + 30, '05:00'), pg_temp.ist(current_date + 30, '05:00')
  from mine m, generate_series(1, 3) g where m.n = 1;
create temporary view reminders as
  select m.n, x.status::text, x.blocked_reason, x.idempotency_key, x.id
    from mine m join public.messages x on x.customer_id = m.customer
   where x.idempotency_key like 'cadence:%';

-- Seven days before expiry: the -7 step.
select * from private.run_reminder_cadence(pg_temp.ist(current_date + 30, '06:15'));
select is((select string_agg(status || '/' || coalesce(blocked_reason, '-'), ',') from reminders where n = 1),
          'blocked/frequency_cap', 'the cap holds back customer 1''s reminder, recorded as blocked');
select ok((select idempotency_key = format('cadence:%s:%s:capped:%s', split_part(idempotency_key, ':', 2),
                                           split_part(idempotency_key, ':', 3), id)
             from reminders where n = 1),
          'its key is set aside, freeing the step');
select is((select string_agg(status, ',') from reminders where n = 2), 'queued',
          'customer 2, under the cap, gets it');

-- The next day the cap has room.
select * from private.run_reminder_cadence(pg_temp.ist(current_date + 31, '06:15'));
select is((select string_agg(status, ',' order by status) from reminders where n = 1), 'blocked,queued',
          'customer 1''s step goes the next day');
select is((select count(*)::integer from reminders r join mine m on m.n = r.n
            where r.n = 1 and r.status = 'queued'
              and r.idempotency_key = format('cadence:%s:%s', m.policy, split_part(r.idempotency_key, ':', 3))),
          1, 'under the step''s own key');
select is((select count(*)::integer from reminders where n = 2), 1, 'customer 2 gets it once');

select * from finish();
rollback;
