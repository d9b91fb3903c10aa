-- A reminder does not outlive its case (issue 9 review; 20261130221131, 20261130221132):
-- 1. A case closed while a cadence run held its reminder uncommitted: the closing's cancellation
--    could not see the row. Simulated here by closing the case with that cancellation switched
--    off; the claim then cancels the reminder, while the case's transactional notice and an open
--    case's reminder go. The same on the path of a lease that ran out.
-- 2. A deleted case's queued reminder is cancelled, its step freed for the term's next case; a
--    step already sent to the customer is not sent again by that next case.
begin;
select plan(13);
select tests.create_test_org();

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values
  ('renewal_due', 'whatsapp', 'en', 'service',
   'Hello {{customer_name}}, {{policy_number}} expires on {{expiry_date}}. Premium {{premium}}.',
   'renewal_due_en', 'utility', 'approved', 4),
  ('closing_notice', 'whatsapp', 'en', 'transactional', 'Hello {{customer_name}}, noted.',
   'closing_notice_en', 'utility', 'approved', 1)
on conflict do nothing;

-- Motor terms ending 2034-03-01, each with its customer (WhatsApp opted in) and case.
create temporary table fx (name text, policy_id uuid, case_id uuid, customer_id uuid);
create function pg_temp.term(name text, n integer) returns void
language plpgsql as $$
declare
  customer uuid;
  term uuid;
begin
  insert into public.customers (full_name, phone) values ('Closing ' || name, '+91971000124' || n)
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date)
  values ('T-RE-' || upper(name), 'motor', 'Test', customer, tests.get_user_id('agent_a'), 1200000,
          50000000, date '2034-03-01' - 365, '2034-03-01')
  returning id into term;
  insert into public.consents (customer_id, channel, purpose, status, source)
  select customer, 'whatsapp', p, 'granted', 'import'
    from unnest(array['service', 'transactional']::public.consent_purpose[]) p;
  insert into fx values (name, term, null, customer);
  perform pg_temp.open_case(name);
end;
$$;
create function pg_temp.open_case(name text) returns uuid
language sql as $$
  with ca as (
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    select f.policy_id, f.customer_id, tests.get_user_id('agent_a'), '2034-03-01', '2034-03-01'
      from fx f where f.name = open_case.name
    returning id
  )
  update fx set case_id = (select id from ca) where fx.name = open_case.name returning case_id
$$;
create function pg_temp.case_of(name text) returns uuid
language sql stable as $$ select case_id from fx where fx.name = case_of.name $$;
select pg_temp.term('renewed', 1), pg_temp.term('open', 2), pg_temp.term('sent', 3),
       pg_temp.term('queued', 4);

-- 1. The race of a closing and a cadence run.
select private.enqueue_messages(jsonb_build_array(
  jsonb_build_object('customer_id', f.customer_id, 'case_id', f.case_id, 'channel', 'whatsapp',
                     'template_code', 'renewal_due', 'idempotency_key', 'test:124:reminder:' || f.name,
                     'variables', jsonb_build_object('customer_name', 'Asha', 'policy_number', 'T',
                                                     'expiry_date', '1 Mar 2034', 'premium', '₹12,000')),
  jsonb_build_object('customer_id', f.customer_id, 'case_id', f.case_id, 'channel', 'whatsapp',
                     'template_code', 'closing_notice', 'idempotency_key', 'test:124:notice:' || f.name,
                     'variables', jsonb_build_object('customer_name', 'Asha'))))
  from fx f where f.name in ('renewed', 'open');
alter table public.renewal_cases disable trigger _850_cancel_queued_reminders;
update public.renewal_cases set stage = 'not_taken', lost_reason = 'Sold the car'
 where id = pg_temp.case_of('renewed');
alter table public.renewal_cases enable trigger _850_cancel_queued_reminders;
select is((select status::text from public.messages where idempotency_key = 'test:124:reminder:renewed'),
  'queued', 'the closing did not see the reminder (the race)');

create temporary table claimed as
select c.id from private.claim_messages('t124', 100, pg_temp.ist(current_date + 1)) c;
select is(
  (select array_agg(m.idempotency_key order by m.idempotency_key)
     from claimed c join public.messages m on m.id = c.id where m.idempotency_key like 'test:124:%'),
  array['test:124:notice:open', 'test:124:notice:renewed', 'test:124:reminder:open'],
  'the claim hands over the notices and the open case''s reminder, not the closed case''s reminder');
select is(
  (select format('%s %s %s', status, cancelled_at is not null, attempts) from public.messages
    where idempotency_key = 'test:124:reminder:renewed'),
  'cancelled t 0', 'the closed case''s reminder is cancelled, not counted as an attempt');

-- The open case closes while its reminder is being sent; the dispatcher dies; the lease runs out.
alter table public.renewal_cases disable trigger _850_cancel_queued_reminders;
update public.renewal_cases set stage = 'not_taken', lost_reason = 'Moved abroad'
 where id = pg_temp.case_of('open');
alter table public.renewal_cases enable trigger _850_cancel_queued_reminders;
select is(
  (select count(*)::integer from private.claim_messages('t124-next', 100, pg_temp.ist(current_date + 1, '13:00')) c
     join public.messages m on m.id = c.id where m.idempotency_key = 'test:124:reminder:open'),
  0, 'after the lease, the closed case''s reminder is not handed over again');
select is(
  (select format('%s %s %s', status, cancelled_at is not null, attempts) from public.messages
    where idempotency_key = 'test:124:reminder:open'),
  'cancelled t 1', 'it is cancelled, its one attempt kept');

-- 2. Deleted cases. The cadence queues the -15 step for both; 'sent' has gone out.
create temporary view steps as
  select f.name, tests.cadence_step(m.idempotency_key) as offset_days, m.status::text as status,
         m.idempotency_key
    from fx f
    join public.messages m on m.customer_id = f.customer_id
   where m.idempotency_key like 'cadence:%';
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2034-03-01' - 15));
select is((select array_agg(format('%s %s %s', name, offset_days, status) order by name) from steps),
  array['queued -15 queued', 'sent -15 queued'], 'day -15: the step for the two open cases');
select is(
  (select array_agg(idempotency_key order by name) from steps),
  (select array[format('cadence:%s:%s', (select policy_id from fx where name = 'queued'), r.id),
                format('cadence:%s:%s', (select policy_id from fx where name = 'sent'), r.id)]
     from public.reminder_rules r
    where r.product_line = 'motor' and r.kind = 'message' and r.offset_days = -15),
  'each keyed by its policy term and step');
update public.messages m set status = 'sent', sent_at = now(), attempts = 1, provider = 'whatsapp_cloud'
  from steps s where s.name = 'sent' and m.idempotency_key = s.idempotency_key;

delete from public.renewal_cases where id in (pg_temp.case_of('sent'), pg_temp.case_of('queued'));
select is(
  (select array_agg(format('%s %s', name, status) order by name) from steps),
  array['queued cancelled', 'sent sent'],
  'deleting the cases cancels the queued reminder; the one sent stays sent');
select ok(
  (select idempotency_key like '%:case-deleted:%' from steps where name = 'queued'),
  'the cancelled reminder''s key is freed');
select ok(
  (select idempotency_key not like '%:case-deleted:%' from steps where name = 'sent'),
  'the sent reminder keeps its key');
select is((select count(*)::integer from public.messages m join fx f on f.customer_id = m.customer_id
            where f.name in ('sent', 'queued') and m.case_id is not null), 0,
  'the messages of deleted cases keep no case');

-- The daily jobs would open each term again; the next cadence day visits the new cases.
select pg_temp.open_case('sent'), pg_temp.open_case('queued');
select count(*) from private.run_reminder_cadence(pg_temp.ist(date '2034-03-01' - 14));
select is(
  (select array_agg(format('%s %s %s', name, offset_days, status) order by name, status)
     from steps),
  array['queued -15 cancelled', 'queued -15 queued', 'sent -15 sent'],
  'the freed step goes to its term''s new case; the step sent is not sent again');
select is(
  (select case_id from public.messages where idempotency_key =
     (select idempotency_key from steps where name = 'queued' and status = 'queued')),
  pg_temp.case_of('queued'), 'under the new case');

select * from finish();
rollback;
