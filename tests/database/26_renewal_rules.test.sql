-- The renewal rules hold whichever path writes: each of these was possible through the REST API
-- (PostgREST gives a signed-in agent the `authenticated` role) before the rules moved into SQL.
begin;
select plan(32);
select tests.create_test_book();
select tests.create_user('agent_left', 'agent', 'T_TEAM_A');
update public.profiles set active = false where id = tests.get_user_id('agent_left');

-- Amounts and dates are not the desk's to write.
select tests.authenticate_as('agent_a');
select throws_ok(
  $$update public.outstanding_amounts set amount = 100 where id = tests.fixture('installment_a')$$,
  '42501', 'permission denied for table outstanding_amounts',
  'an agent cannot cut their customer''s premium to one rupee');
select throws_ok(
  $$update public.renewal_cases set grace_end = grace_end + 365 where id = tests.fixture('case_a')$$,
  '42501', 'permission denied for table renewal_cases', 'nor stretch a case''s grace by a year');
select throws_ok($$truncate public.audit_log$$, '42501', 'permission denied for table audit_log',
  'nor truncate the audit log');

-- Consent evidence is stamped, not taken from the request.
select throws_ok(
  format($$insert into public.consents (customer_id, channel, purpose, status, source, recorded_at, recorded_by)
           values (%L, 'email', 'marketing', 'granted', 'web_form', '2024-01-01', %L)$$,
         tests.fixture('customer_a'), tests.get_user_id('admin')),
  '42501', 'permission denied for table consents',
  'an agent cannot backdate a consent or record it in an admin''s name');
-- The desk records consents through private.record_consent only (the consent ledger, issue 13).
select throws_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'granted', 'agent_call')$$,
         tests.fixture('customer_a')),
  '23514', null, 'a consent granted on the desk needs its evidence');
select private.record_consent(tests.fixture('customer_a'), 'email', 'marketing', 'granted',
                              'agent_call', '{"call_recording": "REC-2026-0042"}');
select private.record_consent(tests.fixture('customer_a'), 'whatsapp', 'service', 'withdrawn',
                              'agent_call');
select throws_ok(
  format($$select private.record_consent(%L, 'whatsapp', 'service', 'granted', 'agent_call')$$,
         tests.fixture('customer_a')),
  '23514', null, 'and so does granting again what the customer withdrew');
reset role;
select results_eq(
  $$select recorded_by, recorded_at = now() from public.consents
     where customer_id = tests.fixture('customer_a') order by channel$$,
  $$values (tests.get_user_id('agent_a'), true), (tests.get_user_id('agent_a'), true)$$,
  'a consent recorded or changed on the desk carries who and when from the session');

-- Stages that belong to settlement and to the calendar.
select tests.authenticate_as('agent_a');
select throws_ok($$update public.renewal_cases set stage = 'renewed' where id = tests.fixture('case_a')$$,
  'PY005', null, 'renewed on a new case that owes its premium is refused');
select throws_ok($$update public.renewal_cases set stage = 'pending_lapse' where id = tests.fixture('case_a')$$,
  'PY005', 'pending_lapse is set by the daily jobs from the case''s dates, not by hand',
  'the desk does not set date-driven stages');
reset role;
-- Case B: past its due date, in grace for twelve more days.
update public.renewal_cases
   set due_date = private.business_date(now()) - 3, grace_end = private.business_date(now()) + 12
 where id = tests.fixture('case_b');
update public.outstanding_amounts set due_date = private.business_date(now()) - 3
 where id = tests.fixture('installment_b');
select tests.authenticate_as_service_role();
select lives_ok($$select private.advance_lapses()$$, 'the job moves an expired case into pending_lapse');
select tests.authenticate_as('branch_b_manager');
select throws_ok($$update public.renewal_cases set stage = 'lapsed' where id = tests.fixture('case_b')$$,
  'PY005', 'lapsed is set by the daily jobs from the case''s dates, not by hand',
  'a manager cannot lapse a case with grace left');
select tests.authenticate_as_service_role();
select throws_ok($$update public.renewal_cases set stage = 'lapsed' where id = tests.fixture('case_b')$$,
  'PY005', null, 'nor can the backend while the customer may still pay');
select lives_ok($$select private.advance_lapses(now() + interval '13 days')$$,
  'the job runs on its own clock, thirteen days on');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_b')), 'lapsed',
  'and lapses the case once its grace has passed');

-- A closed case takes no settlement, and the overdue sweep leaves it alone.
select tests.authenticate_as('agent_b');
select throws_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = 'cash'
     where id = tests.fixture('installment_b')$$,
  'PY006', null, 'an installment of a lapsed case cannot be settled');
reset role;
select is(private.mark_overdue_installments(), 0, 'the overdue sweep skips closed cases');
select is((select status::text from public.outstanding_amounts where id = tests.fixture('installment_b')),
  'pending', 'so the lapsed case''s installment is untouched');

-- Offline payments are not dated in the future; waivers are a manager's.
select tests.authenticate_as('agent_a');
select throws_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = now() + interval '5 years', reason = 'cheque'
     where id = tests.fixture('installment_a')$$,
  'PY008', null, 'a payment dated five years ahead is refused');
select throws_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = '1999-01-01', reason = 'cash'
     where id = tests.fixture('installment_a')$$,
  'PY008', null, 'nor one dated before the term it renews began');
select throws_ok(
  $$update public.outstanding_amounts set status = 'paid', paid_at = now() where id = tests.fixture('installment_a')$$,
  '23514', null, 'an offline payment needs a reference');
select throws_ok(
  $$update public.outstanding_amounts set status = 'waived', reason = 'goodwill'
     where id = tests.fixture('installment_a')$$,
  'PY003', 'only a manager or an admin may waive an installment',
  'an agent cannot write off their own customer''s premium');
select throws_ok(
  $$update public.outstanding_amounts set status = 'overdue' where id = tests.fixture('installment_a')$$,
  'PY003', null, 'overdue is the jobs'' to set');
select tests.authenticate_as('zone_manager');
select lives_ok(
  $$update public.outstanding_amounts set status = 'waived', reason = 'Goodwill, approved by zone'
     where id = tests.fixture('installment_a')$$,
  'a manager waives an installment of their subtree');
reset role;
select is((select stage::text from public.renewal_cases where id = tests.fixture('case_a')), 'renewed',
  'and the waiver settles the case');

-- Cases go to active agents only.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('T-POL-A2', 'motor', 'Test', tests.fixture('customer_a'), tests.get_user_id('agent_a'),
        1000000, 50000000, current_date - 300, current_date + 65);
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select id, customer_id, agent_id, end_date, end_date from public.policies where policy_number = 'T-POL-A2';
select tests.authenticate_as('zone_manager');
select throws_ok(
  format($$update public.renewal_cases set assignee_id = %L
            where policy_id = (select id from public.policies where policy_number = 'T-POL-A2')$$,
         tests.get_user_id('agent_left')),
  'PY007', null, 'a manager cannot hand a case to an agent who has left');
select throws_ok(
  format($$update public.renewal_cases set assignee_id = %L
            where policy_id = (select id from public.policies where policy_number = 'T-POL-A2')$$,
         tests.get_user_id('branch_b_manager')),
  'PY007', null, 'nor to a manager');
select lives_ok(
  format($$update public.renewal_cases set assignee_id = %L
            where policy_id = (select id from public.policies where policy_number = 'T-POL-A2')$$,
         tests.get_user_id('agent_b')),
  'but may hand it to an active agent of the subtree');
select tests.authenticate_as_service_role();
select throws_ok(
  $$update public.renewal_cases set stage = 'pending_lapse'
     where policy_id = (select id from public.policies where policy_number = 'T-POL-A2')$$,
  'PY005', null, 'a case that owes nothing never lapses, whoever asks');
reset role;

-- Indian mobiles: +91 and ten digits from 6-9, whoever writes them.
select throws_ok($$insert into public.customers (full_name, phone) values ('Zero', '+910000000000')$$,
  '23514', null, '+910000000000 is not a mobile number');
select throws_ok($$insert into public.customers (full_name, phone) values ('Short', '+91980000010')$$,
  '23514', null, 'nor is an Indian number one digit short');
select lives_ok(
  $$insert into public.customers (full_name, phone) values ('Mobile', '+919800000101'), ('Abroad', '+14155550100')$$,
  'an Indian mobile and a foreign E.164 number are accepted');

-- The case number's year is the business year.
select matches(
  pg_get_expr(d.adbin, d.adrelid), 'business_date\(now\(\)\)',
  'case numbers take their year from the business date, not the server''s UTC date')
  from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
 where d.adrelid = 'public.renewal_cases'::regclass and a.attname = 'case_number';

select * from finish();
rollback;
