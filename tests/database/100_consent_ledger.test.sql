-- The consent ledger (issue 13, migration create_consent_ledger): append-only for every role, the
-- erasure's one exception (evidence only, the customer named only), both directions of the sync
-- with public.consents (latest wins, no loop), and who sees which rows.
begin;
select plan(42);
select tests.create_test_book();

-- The state is derived: every consent equals the latest ledger row of its customer, channel and
-- purpose (the backfill and the test book's inserts through the sync).
select ok((select count(*) from public.consents) > 0, 'there are consents to compare');
select is_empty(
  $$select c.customer_id, c.channel, c.purpose, c.status, c.source
      from public.consents c
    except
    select distinct on (l.customer_id, l.channel, l.purpose)
           l.customer_id, l.channel, l.purpose, l.status, l.source
      from public.consent_ledger l
     order by 1, 2, 3$$,
  'every consent is the latest ledger row of its customer, channel and purpose');

-- Direction 1: a direct write to consents appends the ledger row, once.
insert into public.consents (customer_id, channel, purpose, status, source, evidence)
values (tests.fixture('customer_a'), 'sms', 'marketing', 'granted', 'web_form', '{"form": "F-100"}');
select results_eq(
  $$select status::text, source, evidence, notice_version from public.consent_ledger
     where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing'$$,
  $$values ('granted', 'web_form', '{"form": "F-100"}'::jsonb, null::text)$$,
  'a direct insert into consents appends one ledger row');
update public.consents set status = 'withdrawn', source = 'agent_call', evidence = '{"call": "C-1"}'
 where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing';
select results_eq(
  $$select status::text, source from public.consent_ledger
     where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing'
     order by id$$,
  $$values ('granted', 'web_form'), ('withdrawn', 'agent_call')$$,
  'a direct update appends the withdrawal after the grant');
update public.consents set status = status
 where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing';
select is(
  (select count(*)::int from public.consent_ledger
    where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing'),
  2, 'an update that changes nothing appends nothing');

-- Direction 2: a ledger insert becomes the state, without coming back as a second ledger row.
select tests.authenticate_as_service_role();
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence, notice_version)
values (tests.fixture('customer_a'), 'email', 'marketing', 'granted', 'web_form', '{"form": "F-7"}', '2026-11');
reset role;
select results_eq(
  $$select status::text, source, evidence from public.consents
     where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'$$,
  $$values ('granted', 'web_form', '{"form": "F-7"}'::jsonb)$$,
  'a ledger insert (service_role) creates the consent');
select is(
  (select count(*)::int from public.consent_ledger
    where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'),
  1, 'and the consent''s own trigger does not write it back to the ledger');
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
values (tests.fixture('customer_a'), 'email', 'marketing', 'withdrawn', 'withdrawal_link', '{"message_id": "m1"}');
select results_eq(
  $$select status::text, source from public.consents
     where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'$$,
  $$values ('withdrawn', 'withdrawal_link')$$,
  'a later ledger row updates the consent');
select is(
  (select count(*)::int from public.consent_ledger
    where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'),
  2, 'one ledger row per change, no loop');

-- Latest wins: a backdated row is history, not the state; within one statement the latest counts.
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence, recorded_at)
values (tests.fixture('customer_a'), 'email', 'marketing', 'granted', 'import', '{"file": "old.csv"}',
        now() - interval '1 year');
select results_eq(
  $$select status::text, source from public.consents
     where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'$$,
  $$values ('withdrawn', 'withdrawal_link')$$,
  'a backdated grant does not overwrite the later withdrawal');
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence, recorded_at)
values (tests.fixture('customer_b'), 'email', 'service', 'withdrawn', 'import', '{}', now() + interval '2 minutes'),
       (tests.fixture('customer_b'), 'email', 'service', 'granted', 'import', '{"n": 1}', now() + interval '1 minute');
select results_eq(
  $$select status::text from public.consents
     where customer_id = tests.fixture('customer_b') and channel = 'email' and purpose = 'service'$$,
  $$values ('withdrawn')$$,
  'of two rows in one insert, the later recorded_at is the state');
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence, recorded_at)
values (tests.fixture('customer_b'), 'email', 'service', 'granted', 'web_form', '{"form": "F-9"}', now() + interval '3 minutes');
select results_eq(
  $$select status::text, source from public.consents
     where customer_id = tests.fixture('customer_b') and channel = 'email' and purpose = 'service'$$,
  $$values ('granted', 'web_form')$$,
  'a newer grant after it is the state again');

-- Append-only, for every role.
select is(tests.affected_rows_as('anon', 'update public.consent_ledger set status = ''granted'''),
  '42501', 'anon cannot update the ledger');
select is(tests.affected_rows_as('anon', 'delete from public.consent_ledger'),
  '42501', 'anon cannot delete from the ledger');
select is(tests.affected_rows_as('anon', 'insert into public.consent_ledger (customer_id, channel, purpose, status, source) select id, ''sms'', ''marketing'', ''granted'', ''web_form'' from public.customers limit 1'),
  '42501', 'anon cannot insert into the ledger');
select is(tests.affected_rows_as('agent_a', 'update public.consent_ledger set status = ''granted'''),
  '42501', 'an agent cannot update the ledger');
select is(tests.affected_rows_as('admin', 'delete from public.consent_ledger'),
  '42501', 'an admin cannot delete from the ledger');
select is(tests.affected_rows_as('admin', format('insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence) values (%L, ''sms'', ''marketing'', ''granted'', ''web_form'', ''{"f": 1}'')', tests.fixture('customer_a'))),
  '42501', 'an admin cannot insert into the ledger directly (the API''s function does)');
select is(tests.affected_rows_as('admin', 'truncate public.consent_ledger'),
  '42501', 'an admin cannot truncate the ledger');

select tests.authenticate_as_service_role();
select throws_ok('update public.consent_ledger set status = ''granted''', '42501', null,
  'service_role cannot update the ledger');
select throws_ok('delete from public.consent_ledger', '42501', null,
  'service_role cannot delete from the ledger');
select throws_ok('truncate public.consent_ledger', '42501', null,
  'service_role cannot truncate the ledger');
reset role;

-- The analyst role runs none of pgTAP's functions: its answers are carried out in settings.
grant usage on schema tests to analyst;
grant execute on function tests.affected_rows(text) to analyst;
set local role analyst;
select set_config('t100.update', tests.affected_rows('update public.consent_ledger set status = ''granted'''), true),
       set_config('t100.delete', tests.affected_rows('delete from public.consent_ledger'), true);
reset role;
select is(current_setting('t100.update'), '42501', 'analyst cannot update the ledger');
select is(current_setting('t100.delete'), '42501', 'analyst cannot delete from the ledger');

select throws_ok('update public.consent_ledger set status = ''granted''', '42501',
  'the consent ledger is append-only: UPDATE refused', 'the owner (postgres) cannot update the ledger');
select throws_ok('update public.consent_ledger set evidence = ''{}''', '42501',
  'the consent ledger is append-only: UPDATE refused', 'nor replace evidence outside an erasure');
select throws_ok('delete from public.consent_ledger', '42501',
  'the consent ledger is append-only: DELETE refused', 'the owner cannot delete from the ledger');
select throws_ok('truncate public.consent_ledger', '42501',
  'the consent ledger is append-only: TRUNCATE refused', 'the owner cannot truncate the ledger');
select throws_ok(format('delete from public.customers where id = %L', tests.fixture('customer_b')),
  '23503', null, 'a customer with consent history cannot be deleted (erasure pseudonymises instead)');

-- The erasure's exception: evidence only, of the customer named only.
select set_config('py360.erasing_customer', tests.fixture('customer_a')::text, true);
select lives_ok(
  format($$update public.consent_ledger set evidence = '{"erased": true}' where customer_id = %L$$,
         tests.fixture('customer_a')),
  'while customer A is erased, their ledger rows'' evidence may be replaced');
select is(
  (select count(*)::int from public.consent_ledger
    where customer_id = tests.fixture('customer_a') and evidence <> '{"erased": true}'),
  0, 'every row of customer A now carries the neutral evidence');
select throws_ok(
  format($$update public.consent_ledger set status = 'granted' where customer_id = %L$$, tests.fixture('customer_a')),
  '42501', 'the consent ledger is append-only: UPDATE refused', 'but not their status');
select throws_ok(
  format($$update public.consent_ledger set evidence = '{}', source = 'erasure' where customer_id = %L$$, tests.fixture('customer_a')),
  '42501', 'the consent ledger is append-only: UPDATE refused', 'nor evidence together with another column');
select throws_ok(
  format($$update public.consent_ledger set evidence = '{}' where customer_id = %L$$, tests.fixture('customer_b')),
  '42501', 'the consent ledger is append-only: UPDATE refused', 'nor another customer''s evidence');
select throws_ok(
  format($$delete from public.consent_ledger where customer_id = %L$$, tests.fixture('customer_a')),
  '42501', 'the consent ledger is append-only: DELETE refused', 'nor delete their rows');
select set_config('py360.erasing_customer', '', true);

-- Who sees which rows: the ledger of the customers they see.
select is(tests.affected_rows_as('agent_a', format('select 1 from public.consent_ledger where customer_id = %L', tests.fixture('customer_a'))),
  (select count(*)::text from public.consent_ledger where customer_id = tests.fixture('customer_a')),
  'agent A sees every ledger row of their customer');
select is(tests.affected_rows_as('agent_a', format('select 1 from public.consent_ledger where customer_id <> %L', tests.fixture('customer_a'))),
  '0', 'agent A sees no other customer''s ledger');
select is(tests.affected_rows_as('agent_b', format('select 1 from public.consent_ledger where customer_id = %L', tests.fixture('customer_a'))),
  '0', 'agent B does not see customer A''s ledger');
select is(tests.affected_rows_as('branch_b_manager', format('select 1 from public.consent_ledger where customer_id in (%L, %L)', tests.fixture('customer_a'), tests.fixture('customer_b'))),
  (select count(*)::text from public.consent_ledger where customer_id = tests.fixture('customer_b')),
  'branch B''s manager sees customer B''s ledger only');
select is(tests.affected_rows_as('zone_manager', format('select 1 from public.consent_ledger where customer_id in (%L, %L)', tests.fixture('customer_a'), tests.fixture('customer_b'))),
  (select count(*)::text from public.consent_ledger where customer_id in (tests.fixture('customer_a'), tests.fixture('customer_b'))),
  'the zone manager sees both');
select is(tests.affected_rows_as('admin', 'select 1 from public.consent_ledger'),
  (select count(*)::text from public.consent_ledger where customer_id in (select id from public.customers where book_keys <> '{}')),
  'an admin sees the ledger of every customer with a policy');
select is(tests.affected_rows_as('anon', 'select 1 from public.consent_ledger'),
  '42501', 'anon reads nothing');

select * from finish();
rollback;
