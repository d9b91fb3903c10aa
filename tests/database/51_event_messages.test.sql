-- Event messages (issue 9, "Events"): the stage changes a customer hears about, queued through the
-- gate by the _900_enqueue_messages triggers in the transaction of the change. quoted -> the quote
-- (premium, policy, expiry) once per case; lapsed -> what it means for the line, one per case also
-- when the daily job lapses many at once, and not cancelled with the case's reminders; renewed ->
-- "renewal confirmed" only without an online payment (whose receipt confirms it); lost and
-- not_taken -> nothing. The channel: preferred when the gate lets it through, else email, a
-- customer without an address blocked with its reason. A STOP gets one transactional confirmation
-- on its channel: SMS blocked until a DLT template exists, WhatsApp only inside the window.
begin;
select plan(42);
-- Cases of the test book lapse 10 days ago (motor, no grace, no NCB).
select tests.create_test_book(current_date - 40);

-- A customer, policy and open case per label; the case id is kept as fixture case_<label>.
create function pg_temp.make_case(label text, line public.product_line, ends date, grace integer,
                                  ncb smallint default 0, lang text default 'en',
                                  mail text default 'x', phone text default null,
                                  preferred public.channel_type default null) returns void
language plpgsql as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email, language, preferred_channel)
  values ('Customer ' || label, phone,
          case when mail = 'x' then 't51_' || label || '@tests.py360.test' else mail end,
          lang, preferred)
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date, ncb_percent)
  values ('T51-' || upper(label), line, 'Test Insurer', customer, tests.get_user_id('agent_a'),
          2813800, 50000000, ends - 365, ends, ncb)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), ends, ends + grace)
  returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, ends, 2813800);
  insert into tests.fixtures (name, id) values ('case_' || label, renewal), ('customer_' || label, customer);
end;
$$;

create function pg_temp.messages_of(label text)
returns table (code text, channel public.channel_type, language text, purpose public.consent_purpose,
               status public.message_status, blocked_reason text, idempotency_key text,
               variables jsonb, subject text, body text)
language sql as $$
  select t.code, m.channel, t.language, m.purpose, m.status, m.blocked_reason, m.idempotency_key,
         m.variables, m.subject, m.body
    from public.messages m left join public.templates t on t.id = m.template_id
   where m.case_id = tests.fixture('case_' || label)
     -- A quote's renewal notice has its own message (99_renewal_notices tests it).
     and t.code is distinct from 'renewal_notice'
   order by m.created_at, m.idempotency_key
$$;

select pg_temp.make_case('q1', 'motor', current_date + 30, 0, 20::smallint);
select pg_temp.make_case('q2', 'health', current_date + 30, 30, lang => 'hi');
select pg_temp.make_case('q3', 'motor', current_date + 30, 0, phone => '+919851000003', preferred => 'whatsapp');
select pg_temp.make_case('q4', 'life', current_date + 30, 30, preferred => 'whatsapp');
select pg_temp.make_case('q5', 'home', current_date + 30, 0, mail => null);
select pg_temp.make_case('life', 'life', current_date - 40, 30);
select pg_temp.make_case('health', 'health', current_date - 40, 30, lang => 'hi');
select pg_temp.make_case('motor', 'motor', current_date - 10, 0, 35::smallint);
select pg_temp.make_case('home', 'home', current_date - 10, 0);
-- q3 takes WhatsApp: opted in, with an approved WhatsApp version of the quote.
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_q3'), 'whatsapp', 'service', 'granted', 'import');
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('case_quoted', 'whatsapp', 'en', 'service',
        'Hi {{customer_name}}, your renewal quote for {{policy_number}} is {{premium}}.',
        't51_case_quoted', 'utility', 'approved', 3);

-- Quoted by the agent: one message, in the customer's language, with the quote's figures.
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'quoted'
 where id in (tests.fixture('case_q1'), tests.fixture('case_q2'), tests.fixture('case_q3'),
              tests.fixture('case_q4'), tests.fixture('case_q5'));
reset role;
select results_eq(
  $$select code, channel::text, language, purpose::text, status::text, idempotency_key from pg_temp.messages_of('q1')$$,
  $$values ('case_quoted', 'email', 'en', 'service', 'queued', 'event:' || tests.fixture('case_q1') || ':quoted')$$,
  'a quoted case gets one quote message, by email (no preference), service, keyed per case and event');
select results_eq(
  $$select variables ->> 'premium', variables ->> 'policy_number', variables ->> 'expiry_date' from pg_temp.messages_of('q1')$$,
  $$values ('₹28,138', 'T51-Q1', to_char(current_date + 30, 'DD Mon YYYY'))$$,
  'with the premium, the policy number and the expiry from the policy');
select is((select body from pg_temp.messages_of('q1')),
  format('Dear Customer q1, your renewal quote for policy T51-Q1 with Test Insurer is ready: the premium is '
         '₹28,138. Your cover ends on %s; renew before then to stay covered without a break. Your agent can '
         'take the payment or answer any question (case %s).',
         to_char(current_date + 30, 'DD Mon YYYY'),
         (select case_number from public.renewal_cases where id = tests.fixture('case_q1'))),
  'rendered in full');
select results_eq($$select code, language, channel::text from pg_temp.messages_of('q2')$$,
  $$values ('case_quoted', 'hi', 'email')$$, 'a Hindi speaker gets the Hindi quote');
select matches((select subject from pg_temp.messages_of('q2')), '^T51-Q2 के नवीनीकरण का कोटेशन तैयार है$',
  'in Hindi words');
select results_eq($$select channel::text, status::text, variables ->> 'premium' from pg_temp.messages_of('q3')$$,
  $$values ('whatsapp', 'queued', '₹28,138')$$,
  'a customer who prefers WhatsApp, opted in, gets it on WhatsApp');
select results_eq($$select channel::text, status::text from pg_temp.messages_of('q4')$$,
  $$values ('email', 'queued')$$,
  'preferring WhatsApp without a number (the gate would block it): email instead');
select results_eq($$select channel::text, status::text, blocked_reason from pg_temp.messages_of('q5')$$,
  $$values ('email', 'blocked', 'no_address')$$,
  'a customer with no address at all: blocked with its reason, not an error');
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_q5')), 'quoted',
  'and the stage change stands');
select results_eq(
  $$select (select choice_reason from public.messages where case_id = tests.fixture('case_' || l)
                                                          and idempotency_key like 'event:%')
      from unnest(array['q1', 'q3', 'q4', 'q5']) l$$,
  $$values ('first_allowed (whatsapp: no_address)'), ('preferred_channel'), ('first_allowed (whatsapp: no_address)'),
           ('none_allowed (email: no_address, whatsapp: no_address)')$$,
  'why each channel was chosen is written on the message');

-- A re-quote is the same event: nothing more.
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'payment_pending' where id = tests.fixture('case_q1');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_q1');
reset role;
select is((select count(*)::integer from pg_temp.messages_of('q1')), 1,
  'payment_pending, then quoted again: still one quote message');

-- Lost and not taken: nothing to the customer (the queued quote, a service message, is cancelled).
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'lost', lost_reason = 'Went to another broker' where id = tests.fixture('case_q2');
update public.renewal_cases set stage = 'not_taken', lost_reason = 'Sold the car' where id = tests.fixture('case_q5');
reset role;
select results_eq($$select code, status::text from pg_temp.messages_of('q2')$$,
  $$values ('case_quoted', 'cancelled')$$, 'a lost case: nothing new, its quote cancelled');
select is((select count(*)::integer from pg_temp.messages_of('q5')), 1, 'a case not taken: nothing new');

-- Renewed offline: the desk records the cheque; the case renews with "renewal confirmed".
select tests.authenticate_as('agent_a');
update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'Cheque 51'
 where case_id = tests.fixture('case_q1');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_q1')), 'renewed',
  'the offline settlement renews the case');
select results_eq(
  $$select code, channel::text, purpose::text, status::text, idempotency_key from pg_temp.messages_of('q1')$$,
  $$values ('case_quoted', 'email', 'service', 'cancelled', 'event:' || tests.fixture('case_q1') || ':quoted'),
           ('case_renewed', 'email', 'transactional', 'queued', 'event:' || tests.fixture('case_q1') || ':renewed')$$,
  'one renewal confirmation, transactional, queued after the close cancelled the quote');
select is((select subject from pg_temp.messages_of('q1') where code = 'case_renewed'), 'Policy T51-Q1 is renewed',
  'saying the policy is renewed');

-- Renewed online: the payment's receipt is the confirmation; no second one.
create temporary table orders (payment_order_id uuid);
grant all on orders to authenticated;
select tests.authenticate_as('agent_a');
insert into orders select o.payment_order_id from private.open_payment_order(tests.fixture('case_q4'),
  array(select id from public.outstanding_amounts where case_id = tests.fixture('case_q4'))) o;
reset role;
select count(private.record_order_created(po.id, null, jsonb_build_object('id', 'order_T51Q4', 'receipt', po.receipt, 'amount', po.amount)))
  from public.payment_orders po join orders o on o.payment_order_id = po.id;
select tests.authenticate_as_service_role();
select results_eq(
  $$select outcome, case_stage::text from private.apply_razorpay_payment(
      '{"id": "pay_T51Q4", "order_id": "order_T51Q4", "amount": 2813800, "currency": "INR", "status": "captured", "method": "upi"}', 'webhook')$$,
  $$values ('credited', 'renewed')$$, 'an online payment of the whole premium renews the case');
reset role;
select results_eq(
  $$select code, status::text, idempotency_key from pg_temp.messages_of('q4') where status <> 'cancelled'$$,
  $$values ('payment_receipt', 'queued', 'receipt:pay_T51Q4')$$,
  'its receipt is the one confirmation: no renewal_confirmed besides it');

-- The daily job lapses many cases in one statement: each gets exactly one lapse message. The
-- life case has a reminder queued, which its close cancels; the lapse notice queued with it stays.
insert into public.templates (code, channel, language, purpose, subject, body)
values ('t51_reminder', 'email', 'en', 'service', 'Renew {{policy_number}}', 'Dear {{customer_name}}, renew {{policy_number}}.');
select count(*) from private.enqueue_messages(jsonb_build_object(
  'customer_id', tests.fixture('customer_life'), 'case_id', tests.fixture('case_life'), 'channel', 'email',
  'template_code', 't51_reminder', 'idempotency_key', 't51:reminder:life',
  'variables', jsonb_build_object('customer_name', 'L', 'policy_number', 'T51-LIFE')));
-- A case whose successor term the insurer loaded renews in the same run, offline: confirmed.
select pg_temp.make_case('succ', 'motor', current_date + 5, 0);
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium, sum_insured,
                             start_date, end_date, renewed_from_policy_id)
select 'T51-SUCC-2', 'motor', 'Test Insurer', p.customer_id, p.agent_id, 2900000, 50000000, p.end_date + 1,
       p.end_date + 366, p.id
  from public.policies p where p.policy_number = 'T51-SUCC';
create temporary table lapsing as
select c.id, p.product_line, p.ncb_percent from public.renewal_cases c join public.policies p on p.id = c.policy_id
 where c.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse')
   and c.grace_end < current_date and public.case_outstanding(c.id) > 0;
select tests.authenticate_as_service_role();
select cmp_ok((private.run_daily_renewal_jobs(now()) ->> 'lapsed')::integer, '>=', 6,
  'the daily job lapses the test''s six cases (and any of the demo book) at once');
reset role;
select is((select count(*)::integer from lapsing l join public.renewal_cases c on c.id = l.id where c.stage = 'lapsed'),
  (select count(*)::integer from lapsing), 'every case past grace lapsed');
select is_empty(
  $$select l.id, count(m.id) from lapsing l left join public.messages m
      on m.case_id = l.id and m.idempotency_key = 'event:' || l.id || ':lapsed'
     group by l.id having count(m.id) <> 1$$,
  'each lapsed case has exactly one lapse message');
select is_empty(
  $$select l.id, t.code from lapsing l
      join public.messages m on m.idempotency_key = 'event:' || l.id || ':lapsed'
      join public.templates t on t.id = m.template_id
     where t.code <> case l.product_line when 'life' then 'case_lapsed_life' when 'health' then 'case_lapsed_health'
                        when 'motor' then case when l.ncb_percent > 0 then 'case_lapsed_motor_ncb' else 'case_lapsed_motor' end
                        else 'case_lapsed' end
        or m.status <> 'queued' or m.purpose <> 'service'$$,
  'each in its line''s words, queued (not cancelled with the case''s reminders), service');
select results_eq(
  $$select code, purpose::text, status::text from pg_temp.messages_of('succ')$$,
  $$values ('case_renewed', 'transactional', 'queued')$$,
  'a case renewed by its successor term in the same job run: one renewal confirmation');
select results_eq(
  $$select code, language, status::text from pg_temp.messages_of('life')$$,
  $$values ('case_lapsed_life', 'en', 'queued'), ('t51_reminder', 'en', 'cancelled')$$,
  'life: the reminder cancelled by the close, the lapse message queued in the same statement');
select matches((select body from pg_temp.messages_of('life') where code = 'case_lapsed_life'), 'life cover has stopped.*revived',
  'life: the cover stopped, and revival');
select results_eq($$select code, language from pg_temp.messages_of('health')$$,
  $$values ('case_lapsed_health', 'hi')$$, 'health: in Hindi for a Hindi speaker');
select matches((select body from pg_temp.messages_of('health')), 'निरंतरता लाभ समाप्त',
  'health: continuity benefits lost');
select results_eq(
  $$select code, variables ->> 'ncb_percent', variables ->> 'ncb_deadline' from pg_temp.messages_of('motor')$$,
  $$values ('case_lapsed_motor_ncb', '35', to_char(current_date - 10 + 90, 'DD Mon YYYY'))$$,
  'motor with an NCB: the NCB and its deadline, 90 days after expiry');
select matches((select body from pg_temp.messages_of('motor')),
  'no-claim bonus of 35% is kept only if you take a new policy by .*inspect the vehicle',
  'motor: NCB lost after the deadline, re-inspection');
select results_eq(
  $$select t.code from public.messages m join public.templates t on t.id = m.template_id
     where m.idempotency_key in ('event:' || tests.fixture('case_a') || ':lapsed', 'event:' || tests.fixture('case_home') || ':lapsed')
     order by t.code$$,
  $$values ('case_lapsed'), ('case_lapsed_motor')$$,
  'motor without an NCB, and home: their own words');
select tests.authenticate_as_service_role();
select private.run_daily_renewal_jobs(now());
reset role;
select is((select count(*)::integer from public.messages m join lapsing l on m.case_id = l.id
            where m.idempotency_key like 'event:%'),
  (select count(*)::integer from lapsing), 'the job run again queues nothing more');

-- Without an active template for the event the stage still changes; nothing is queued.
update public.templates set active = false where code = 'case_quoted';
select pg_temp.make_case('q6', 'motor', current_date + 30, 0);
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_q6');
reset role;
select results_eq(
  $$select c.stage::text, (select count(*)::integer from pg_temp.messages_of('q6'))
      from public.renewal_cases c where c.id = tests.fixture('case_q6')$$,
  $$values ('quoted', 0)$$, 'no active quote template: the case is quoted all the same, without a message');

-- A STOP on SMS: one transactional confirmation on SMS, blocked until a DLT template is registered.
select tests.authenticate_as_service_role();
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'SM51-stop', 'kind', 'inbound', 'channel', 'sms', 'address', '+919851000003',
  'reply', 'STOP', 'payload', '{}'::jsonb)));
reset role;
select results_eq(
  $$select channel::text, purpose::text, status::text, blocked_reason, template_id is null
      from public.messages where customer_id = tests.fixture('customer_q3') and idempotency_key like 'event:%:opt_out:%'$$,
  $$values ('sms', 'transactional', 'blocked', 'sms_needs_dlt_template', true)$$,
  'an SMS STOP: one confirmation on SMS, blocked (no DLT-registered template), not an error');
-- Once admins register the SMS template, a STOP after a new grant is confirmed with it.
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
values ('opt_out_confirmation', 'sms', 'en', 'transactional',
        'Dear {{customer_name}}, you will get no more offers on this number. PY360',
        '1101000000000051', 'PYRNWL', '1107000000000051',
        'Dear {#var#}, you will get no more offers on this number. PY360');
-- (Only the customer's own act lifts their STOP (20261202055416), and no path gives SMS marketing
-- back from the customer's side yet: the new grant is written past that rule's trigger.)
alter table public.consents disable trigger _700_keep_customer_opt_outs_update;
update public.consents set status = 'granted', source = 'web_form', evidence = '{"form": "t51"}'
 where customer_id = tests.fixture('customer_q3') and channel = 'sms' and purpose = 'marketing';
alter table public.consents enable trigger _700_keep_customer_opt_outs_update;
select tests.authenticate_as_service_role();
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'SM51-stop-2', 'kind', 'inbound', 'channel', 'sms', 'address', '+919851000003',
  'reply', 'stop', 'payload', '{}'::jsonb)));
reset role;
select results_eq(
  $$select t.code, m.status::text, m.body from public.messages m join public.templates t on t.id = m.template_id
     where m.customer_id = tests.fixture('customer_q3') and m.idempotency_key like 'event:%:opt_out:sms:%'$$,
  $$values ('opt_out_confirmation', 'queued', 'Dear Customer q3, you will get no more offers on this number. PY360')$$,
  'with the registered template the confirmation is queued');
select is((select count(*)::integer from public.messages
            where customer_id = tests.fixture('customer_q3') and idempotency_key like 'event:%:opt_out:sms:%'), 2,
  'one confirmation per STOP: two opt-outs, two confirmations');

-- WhatsApp: a free-form reply inside the window the STOP opened; a repeat STOP gets none.
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_q3'), 'whatsapp', 'marketing', 'granted', 'web_form');
update public.customers set language = 'hi' where id = tests.fixture('customer_q3');
select tests.authenticate_as_service_role();
select private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
  'event_key', 'wamid.T51STOP', 'kind', 'inbound', 'channel', 'whatsapp', 'address', '+919851000003',
  'reply', 'STOP', 'occurred_at', now() - interval '1 minute', 'payload', '{}'::jsonb)));
select private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
  'event_key', 'wamid.T51STOP2', 'kind', 'inbound', 'channel', 'whatsapp', 'address', '+919851000003',
  'reply', 'Stop!', 'occurred_at', now(), 'payload', '{}'::jsonb)));
reset role;
select results_eq(
  $$select channel::text, purpose::text, status::text, template_id is null, body from public.messages
     where customer_id = tests.fixture('customer_q3') and idempotency_key like 'event:%:opt_out:whatsapp:%'$$,
  $$values ('whatsapp', 'transactional', 'queued', true,
            'प्रिय Customer q3, आपके कहे अनुसार अब हम इस नंबर पर कोई ऑफ़र नहीं भेजेंगे। आपकी पॉलिसियों से जुड़े संदेश, जैसे नवीनीकरण रिमाइंडर और रसीदें, आते रहेंगे। ऑफ़र फिर से पाने के लिए अपने एजेंट को बताएं।')$$,
  'a WhatsApp STOP: one free-form confirmation in the customer''s language, queued inside the window; a repeat adds none');
-- A STOP reported late, its window already closed: blocked with that reason.
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_b'), 'whatsapp', 'marketing', 'granted', 'web_form');
select tests.authenticate_as_service_role();
select private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
  'event_key', 'wamid.T51LATE', 'kind', 'inbound', 'channel', 'whatsapp', 'address', '+919800000002',
  'reply', 'STOP', 'occurred_at', now() - interval '2 days', 'payload', '{}'::jsonb)));
reset role;
select results_eq(
  $$select channel::text, status::text, blocked_reason from public.messages
     where customer_id = tests.fixture('customer_b') and idempotency_key like 'event:%:opt_out:%'$$,
  $$values ('whatsapp', 'blocked', 'whatsapp_window_closed')$$,
  'a STOP whose window has closed: blocked (whatsapp_window_closed), never sent outside it');
-- The desk recording a withdrawal is not an inbound STOP: no confirmation.
select tests.authenticate_as('agent_a');
select private.record_consent(tests.fixture('customer_a'), 'sms', 'marketing', 'withdrawn',
                              'agent_call', '{"call": "t51"}');
reset role;
select is((select count(*)::integer from public.messages
            where customer_id = tests.fixture('customer_a') and idempotency_key like 'event:%:opt_out:%'), 0,
  'a withdrawal the desk records gets no automatic confirmation');

-- A failure while building the messages (a malformed setting) is a warning: the change stands.
-- (Refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked('{"NCB_RETENTION_DAYS": "ninety"}');
update public.templates set active = true where code = 'case_quoted';
select pg_temp.make_case('q7', 'motor', current_date + 30, 0);
select tests.authenticate_as('agent_a');
update public.renewal_cases set stage = 'quoted' where id = tests.fixture('case_q7');
reset role;
select results_eq(
  $$select c.stage::text, (select count(*)::integer from pg_temp.messages_of('q7'))
      from public.renewal_cases c where c.id = tests.fixture('case_q7')$$,
  $$values ('quoted', 0)$$, 'a message that cannot be built leaves the stage change standing, without a message');

-- The triggers: after the cancellation, as statement triggers.
select is(
  (select string_agg(t.tgname::text, ' < ' order by t.tgname::text collate "C") from pg_trigger t
    where t.tgrelid = 'public.renewal_cases'::regclass
      and t.tgname::text in ('_850_cancel_queued_reminders', '_900_enqueue_messages')),
  '_850_cancel_queued_reminders < _900_enqueue_messages',
  'the event trigger sorts after the reminder cancellation');
select is_empty(
  $$select code, language from public.templates
     where (code like 'case\_%' or code = 'opt_out_confirmation') and jsonb_array_length(lint -> 'errors') > 0$$,
  'the event templates pass their lint');
select results_eq(
  $$select count(*)::integer, count(distinct code)::integer from public.templates
     where (code in ('case_quoted', 'case_renewed', 'case_lapsed', 'opt_out_confirmation') or code like 'case\_lapsed\_%')
       and channel = 'email' and language in ('en', 'hi')$$,
  $$values (16, 8)$$, 'eight event templates, by email in English and Hindi');

select * from finish();
rollback;
