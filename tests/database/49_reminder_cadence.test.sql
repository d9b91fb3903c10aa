-- The reminder cadence (private.run_reminder_cadence, issue 9): a case walked day by day through
-- its ladder, each step once on the right channel and nothing once renewed; catch-up with the
-- latest step only; the NCB deadline; the channel choice (no WhatsApp opt-in, a bounced email,
-- STOP, every channel refused) and its recorded reason; engaged customers left alone; who may
-- run it.
begin;
select plan(36);
select tests.create_test_book();
-- Only this file's cases are open: the others (the test book's, any seed's) are closed, so the
-- cadence's counts are this file's.
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the cadence test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
-- Lapsed ones would still hear their ladder's steps after expiry: their successors are loaded.
do $$ begin perform tests.load_successors_of_lapsed_cases(); end $$;

-- Noon on a business day (IST).
create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable
as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- A customer with a motor (or other) case of their own, held by agent_a; returns the case.
create function pg_temp.make_case(n integer, line public.product_line, due date,
                                  ncb smallint default 35, premium bigint default 1200000,
                                  whatsapp boolean default true,
                                  preferred public.channel_type default null)
returns uuid
language plpgsql
as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email, preferred_channel)
  values ('Cadence ' || n, '+9197000000' || lpad(n::text, 2, '0'), 'cadence' || n || '@tests.py360.test',
          preferred)
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  values ('T-CAD-' || n, line, 'Test General', customer, tests.get_user_id('agent_a'), premium,
          50000000, due - 365, due, ncb)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), due,
          due + case line when 'health' then 30 when 'life' then 30 else 0 end)
  returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, due, premium);
  if whatsapp then
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (customer, 'whatsapp', 'service', 'granted', 'import');
  end if;
  return renewal;
end;
$$;

-- Runs the cadence once a day from one date to another; returns its counts summed per outcome.
create function pg_temp.walk(first_day date, last_day date) returns jsonb
language plpgsql
as $$
declare
  total jsonb := '{}';
  day date;
  r record;
begin
  for day in select generate_series(first_day, last_day, interval '1 day')::date loop
    for r in select * from private.run_reminder_cadence(pg_temp.ist(day)) loop
      total := total || jsonb_build_object(r.outcome, coalesce((total ->> r.outcome)::bigint, 0) + r.cases);
    end loop;
  end loop;
  return total;
end;
$$;

create function pg_temp.run(day date) returns jsonb
language sql
as $$ select jsonb_object_agg(c.outcome, c.cases) from private.run_reminder_cadence(pg_temp.ist(day)) c $$;

-- The cadence's message to a case: its steps' offsets, channels and reasons, in order.
create function pg_temp.sent(renewal uuid) returns text
language sql stable
as $$
  select coalesce(string_agg(format('%s %s %s', s.step, m.channel, m.status), ', ' order by s.step), '')
    from public.messages m
    cross join lateral (select tests.cadence_step(m.idempotency_key) as step) s
   where m.case_id = renewal and s.step is not null
$$;

-- WhatsApp and SMS versions of the ladder's templates (the demo seed brings the real ones).
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values
  ('renewal_due', 'whatsapp', 'en', 'service',
   'Hello {{customer_name}}, {{policy_number}} expires on {{expiry_date}}. Premium {{premium}}.',
   'renewal_due_en', 'utility', 'approved', 4, null, null, null, null),
  ('renewal_due', 'sms', 'en', 'service',
   'Dear {{customer_name}}, policy {{policy_number}} expires on {{expiry_date}} -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012345',
   'Dear {#var#}, policy {#var#} expires on {#var#} -PYRNWL'),
  ('ncb_at_risk', 'whatsapp', 'en', 'service',
   'Hello {{customer_name}}, renew {{policy_number}} by {{ncb_deadline}} to keep your {{ncb_percent}}% NCB.',
   'ncb_at_risk_en', 'utility', 'approved', 4, null, null, null, null),
  ('ncb_at_risk', 'sms', 'en', 'service',
   'Renew {{policy_number}} by {{ncb_deadline}} to keep your {{ncb_percent}}% NCB -PYRNWL',
   null, null, null, null, '1101234567890123456', 'PYRNWL', '1107123456789012346',
   'Renew {#var#} by {#var#} to keep your {#var#}% NCB -PYRNWL');

-- 1. A motor case walked day by day from 70 days before expiry to 40 after: each step once, on
-- WhatsApp (opted in), on its own day; a renewed one gets nothing more.
create temporary table walked (name text, id uuid);
insert into walked values ('walk', pg_temp.make_case(1, 'motor', current_date + 100)),
                          ('renew', pg_temp.make_case(2, 'motor', current_date + 100));
select is(pg_temp.walk(current_date + 30, current_date + 85),
  '{"queued": 6, "blocked": 0, "duplicate": 0, "no_channel": 0, "tasks_opened": 0, "skipped_engaged": 0, "after_lapse_notice": 0}'::jsonb,
  'up to 15 days before expiry: three steps for each of the two cases, nothing else');
-- The second case is renewed (its installment paid) 15 days before expiry.
update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'Cheque 1'
 where case_id = (select id from walked where name = 'renew');
select is((select stage::text from public.renewal_cases where id = (select id from walked where name = 'renew')),
  'renewed', 'the second case is renewed');
select is(pg_temp.walk(current_date + 86, current_date + 140),
  '{"queued": 6, "blocked": 0, "duplicate": 0, "no_channel": 0, "tasks_opened": 0, "skipped_engaged": 0, "after_lapse_notice": 0}'::jsonb,
  'then the first case''s six remaining steps, none for the renewed one');
select is(pg_temp.sent((select id from walked where name = 'walk')),
  '-60 whatsapp queued, -30 whatsapp queued, -15 whatsapp queued, -7 whatsapp queued, '
  '-1 whatsapp queued, 1 whatsapp queued, 7 whatsapp queued, 15 whatsapp queued, 30 whatsapp queued',
  'the walked case got every step of the ladder once, on WhatsApp');
select is(
  (select array_agg(private.business_date(m.queued_at) - (current_date + 100) order by m.queued_at)
     from public.messages m where m.case_id = (select id from walked where name = 'walk')),
  array[-60, -30, -15, -7, -1, 1, 7, 15, 30],
  'each on its own day');
select is(
  (select array_agg(t.code order by m.queued_at) from public.messages m
     join public.templates t on t.id = m.template_id
    where m.case_id = (select id from walked where name = 'walk') and m.queued_at > pg_temp.ist(current_date + 100)),
  array['ncb_at_risk', 'ncb_at_risk', 'ncb_at_risk', 'ncb_at_risk'],
  'after expiry, "NCB at risk" messages');
select is(
  (select m.body from public.messages m
    where m.idempotency_key like 'cadence:' || (select c.policy_id from public.renewal_cases c join walked w on w.id = c.id where w.name = 'walk') || ':%'
      and private.business_date(m.queued_at) = current_date + 107),
  format('Hello Cadence 1, renew T-CAD-1 by %s to keep your 35%% NCB.',
         to_char(current_date + 190, 'FMDD Mon YYYY')),
  'with the policy''s NCB percentage and the NCB deadline (expiry + NCB_RETENTION_DAYS)');
select is(
  (select array_agg(distinct m.choice_reason) from public.messages m
    where m.case_id = (select id from walked where name = 'walk')),
  array['first_choice'], 'the reason recorded: WhatsApp was the ladder''s first choice and allowed');
select is(pg_temp.sent((select id from walked where name = 'renew')),
  '-60 whatsapp cancelled, -30 whatsapp cancelled, -15 whatsapp cancelled',
  'the renewed case got the steps before its renewal only (still queued ones cancelled by the renewal)');
select is(pg_temp.walk(current_date + 100, current_date + 140) -> 'queued', '0'::jsonb,
  'walking the same days again queues nothing (each step once)');

-- 2. Catch-up and the NCB deadline: a motor case expired 100 days ago gets nothing (its latest
-- step, +30, is past the NCB deadline); 40 days after expiry, the +30 step alone, not a burst.
insert into walked values ('late', pg_temp.make_case(3, 'motor', current_date - 100));
select is(pg_temp.run(current_date) -> 'queued', '0'::jsonb,
  'a motor case past the NCB deadline gets no NCB message');
select is(pg_temp.sent((select id from walked where name = 'late')), '', 'none at all');
select is(pg_temp.run(current_date - 60) -> 'queued', '1'::jsonb, 'run 40 days after expiry, one message');
select is(pg_temp.sent((select id from walked where name = 'late')), '30 whatsapp queued',
  'the latest due step only (+30), not the steps missed before it');
-- A motor policy with no bonus to lose gets no "NCB at risk" message.
insert into walked values ('no_ncb', pg_temp.make_case(4, 'motor', current_date - 10, 0::smallint));
select is(pg_temp.run(current_date) -> 'queued', '0'::jsonb, 'a motor policy without a no-claim bonus ...');
select is(pg_temp.sent((select id from walked where name = 'no_ncb')), '', '... gets no NCB message');

-- 3. Channels. Without WhatsApp opt-in: SMS, and why.
insert into walked values ('no_optin', pg_temp.make_case(5, 'motor', current_date + 30, whatsapp => false));
select pg_temp.run(current_date);
select is(
  (select (m.channel, m.status, m.choice_reason)::text from public.messages m
    where m.case_id = (select id from walked where name = 'no_optin')),
  '(sms,queued,"first_allowed (whatsapp: whatsapp_not_opted_in)")',
  'no WhatsApp opt-in: the reminder goes by SMS, with the reason recorded');

-- A bounced email address (suppressed) of a customer who prefers email: the next channel.
insert into walked values ('bounced', pg_temp.make_case(6, 'motor', current_date + 30, whatsapp => false,
                                                        preferred => 'email'));
insert into public.suppressions (channel, address, reason, source)
values ('email', 'cadence6@tests.py360.test', 'hard_bounce', 'aws_ses');
-- And one whose last email was undeliverable a week ago (no suppression).
insert into walked values ('undelivered', pg_temp.make_case(7, 'motor', current_date + 30, preferred => 'email'));
insert into public.messages (customer_id, channel, purpose, body, recipient, status, idempotency_key,
                             failed_at)
select c.customer_id, 'email', 'service', 'x', 'cadence7@tests.py360.test', 'undeliverable',
       'test-undelivered-7', now() - interval '7 days'
  from public.renewal_cases c where c.id = (select id from walked where name = 'undelivered');
select pg_temp.run(current_date);
select is(
  (select (m.channel, m.status, m.choice_reason)::text from public.messages m
    where m.case_id = (select id from walked where name = 'bounced')),
  '(sms,queued,"first_allowed (email: suppressed, whatsapp: whatsapp_not_opted_in)")',
  'a bounced email address: preferred email is skipped, and WhatsApp (no opt-in), so SMS');
select is(
  (select (m.channel, m.choice_reason)::text from public.messages m
    where m.case_id = (select id from walked where name = 'undelivered') and m.idempotency_key like 'cadence:%'),
  '(whatsapp,"first_allowed (email: recent_undeliverable)")',
  'an email undeliverable last week: the next channel, WhatsApp');

-- A preferred channel that is allowed comes first.
insert into walked values ('prefers_sms', pg_temp.make_case(8, 'motor', current_date + 30, preferred => 'sms'));
select pg_temp.run(current_date);
select is(
  (select (m.channel, m.choice_reason)::text from public.messages m
    where m.case_id = (select id from walked where name = 'prefers_sms')),
  '(sms,preferred_channel)', 'the customer''s preferred channel first when the step lists it');

-- STOP on WhatsApp withdraws marketing there (record_message_events); the reply itself makes the
-- customer engaged for a day, then the service reminder still goes by WhatsApp, while marketing
-- on WhatsApp is refused.
insert into walked values ('stop', pg_temp.make_case(9, 'motor', current_date + 30));
insert into public.consents (customer_id, channel, purpose, status, source, evidence)
select c.customer_id, 'whatsapp', 'marketing', 'withdrawn', 'whatsapp_reply', '{"reply": "STOP"}'
  from public.renewal_cases c where c.id = (select id from walked where name = 'stop');
insert into public.whatsapp_windows (customer_id, last_inbound_at)
select c.customer_id, pg_temp.ist(current_date + 1, '09:00')
  from public.renewal_cases c where c.id = (select id from walked where name = 'stop');
select is(pg_temp.run(current_date + 1) -> 'skipped_engaged', '1'::jsonb,
  'the day of the STOP reply, the customer who wrote is not nagged');
select is(pg_temp.sent((select id from walked where name = 'stop')), '', 'nothing queued for them that day');
select is(pg_temp.run(current_date + 2) -> 'queued', '1'::jsonb, 'the next day the step is caught up');
select is(
  (select (m.channel, m.purpose, (select private.message_block_reason(m.customer_id, 'whatsapp', 'marketing',
                                                                        m.recipient, null, now())))::text
     from public.messages m where m.case_id = (select id from walked where name = 'stop')),
  '(whatsapp,service,consent_withdrawn)',
  'STOP: the service reminder goes on WhatsApp, marketing there is refused');

-- Every channel refused (service consent withdrawn everywhere): the gate records the block.
insert into walked values ('withdrawn', pg_temp.make_case(10, 'motor', current_date + 30, whatsapp => false));
insert into public.consents (customer_id, channel, purpose, status, source)
select c.customer_id, ch, 'service', 'withdrawn', 'agent_call'
  from public.renewal_cases c, unnest(array['whatsapp', 'sms', 'email']::public.channel_type[]) ch
 where c.id = (select id from walked where name = 'withdrawn');
select is(pg_temp.run(current_date + 3) -> 'blocked', '1'::jsonb, 'counted blocked');
select is(
  (select (m.channel, m.blocked_reason, m.choice_reason)::text from public.messages m
    where m.case_id = (select id from walked where name = 'withdrawn')),
  '(whatsapp,consent_withdrawn,"none_allowed (whatsapp: consent_withdrawn, sms: consent_withdrawn, email: consent_withdrawn)")',
  'every channel refused: the first is asked and blocked by the gate, with every reason recorded');

-- A payment in progress: no reminder while an order was created in the last hours.
insert into walked values ('paying', pg_temp.make_case(11, 'motor', current_date + 30));
insert into public.payment_orders (case_id, razorpay_order_id, amount, installment_ids, status, expires_at, created_at)
select c.id, 'order_CAD11', 1200000, array[o.id], 'created', pg_temp.ist(current_date + 4, '11:30'),
       pg_temp.ist(current_date + 4, '11:00')
  from public.renewal_cases c join public.outstanding_amounts o on o.case_id = c.id
 where c.id = (select id from walked where name = 'paying');
select is(pg_temp.run(current_date + 4) -> 'skipped_engaged', '1'::jsonb, 'a payment in progress ...');
select is(pg_temp.sent((select id from walked where name = 'paying')), '', '... no reminder that day');
select is(pg_temp.run(current_date + 5) -> 'queued', '1'::jsonb, 'a day later (the order a day old) it goes');

-- Health and life after expiry: only until the grace end, with its date; the customer's language
-- (Hindi), else English.
insert into walked values ('health_late', pg_temp.make_case(12, 'health', current_date - 31)),
                          ('life', pg_temp.make_case(13, 'life', current_date - 7, whatsapp => false)),
                          ('tamil', pg_temp.make_case(14, 'home', current_date - 1, whatsapp => false));
update public.customers cu set language = 'hi', phone = null
  from public.renewal_cases c where c.id = (select id from walked where name = 'life') and cu.id = c.customer_id;
update public.customers cu set language = 'ta', phone = null
  from public.renewal_cases c where c.id = (select id from walked where name = 'tamil') and cu.id = c.customer_id;
select pg_temp.run(current_date + 6);
select is(pg_temp.sent((select id from walked where name = 'health_late')), '',
  'a health case a day past its grace end gets no continuity message');
select is(
  (select (t.code, t.language, m.channel, m.subject) from public.messages m join public.templates t on t.id = m.template_id
    where m.case_id = (select id from walked where name = 'life'))::text,
  format('(life_grace_end,hi,email,"आपकी पॉलिसी T-CAD-13 %s के बाद व्यपगत हो जाएगी")',
         to_char(current_date + 23, 'FMDD Mon YYYY')),
  'a life case in grace: the grace end date, in Hindi by email (no phone)');
select is(
  (select (t.code, t.language, m.choice_reason) from public.messages m join public.templates t on t.id = m.template_id
    where m.case_id = (select id from walked where name = 'tamil'))::text,
  '(renewal_expired,en,"first_allowed (whatsapp: no_template, sms: no_template)")',
  'a Tamil speaker without a Tamil template: English, by email (the only channel with the step''s template); a home case after expiry: expired, renew now');

-- An open payment link goes into the message's variables; a link partly paid in the last hours
-- is a payment in progress.
insert into walked values ('linked', pg_temp.make_case(15, 'motor', current_date + 38)),
                          ('part_paid', pg_temp.make_case(16, 'motor', current_date + 38));
insert into public.payment_links (case_id, razorpay_payment_link_id, short_url, amount, amount_paid, status,
                                  expire_by, updated_at)
values ((select id from walked where name = 'linked'), 'plink_CAD15', 'https://rzp.io/i/cad15', 1200000, 0,
        'created', pg_temp.ist(current_date + 20), pg_temp.ist(current_date + 8, '08:00')),
       ((select id from walked where name = 'part_paid'), 'plink_CAD16', 'https://rzp.io/i/cad16', 1200000,
        500000, 'partially_paid', pg_temp.ist(current_date + 20), pg_temp.ist(current_date + 8, '08:00'));
select is(pg_temp.run(current_date + 8) -> 'skipped_engaged', '1'::jsonb, 'the partly paid case is skipped ...');
select is(pg_temp.sent((select id from walked where name = 'part_paid')), '', '... and gets nothing');
select is(
  (select tl.target_url from public.messages m
     join public.tracked_links tl on tl.case_id = m.case_id and m.variables ->> 'payment_link' like '%/' || tl.code
    where m.case_id = (select id from walked where name = 'linked')),
  'https://rzp.io/i/cad15', 'the open payment link is in the reminder''s variables (as our tracked redirect to it)');

-- Only the job runs it.
select tests.authenticate_as('admin');
select throws_ok($$select * from private.run_reminder_cadence()$$, '42501', null,
  'not even an admin runs the cadence');
select * from finish();
rollback;
