-- A customer's own opt-out stands (issue 13, review; migration keep_customer_opt_outs): once the
-- customer withdrew a consent themselves (an SMS STOP, a WhatsApp opt-out, the one-tap withdrawal
-- link, a Telegram /stop), only the customer's own act gives it back. The desk (agent or admin,
-- through private.record_consent), an import or any direct write to consents or the ledger is
-- refused with PY014, whatever its evidence; a withdrawal the desk recorded can still be lifted
-- by the desk; a backdated grant is history, not the state; the desk cannot claim the customer's
-- sources; and private.restore_customer_opt_outs() puts back opt-outs overridden before the rule.
begin;
select plan(27);
select tests.create_test_book();

create function pg_temp.state(customer uuid, consent_channel text, consent_purpose text) returns text
language sql stable
as $$
  select format('%s %s', c.status, c.source) from public.consents c
   where c.customer_id = customer and c.channel::text = consent_channel
     and c.purpose::text = consent_purpose
$$;
grant execute on function pg_temp.state(uuid, text, text) to authenticated, service_role;

-- The message a refused grant raises.
create function pg_temp.refusal(customer uuid, consent_channel text, consent_purpose text,
                                own_source text, own_at timestamptz) returns text
language sql stable
as $$
  select format('customer %s withdrew their %s consent on %s themselves (%s, %s IST): only the '
                'customer can give it again, not the desk or an import',
                customer, consent_purpose, consent_channel, own_source,
                to_char(own_at at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI'))
$$;
grant execute on function pg_temp.refusal(uuid, text, text, text, timestamptz) to authenticated;

-- Customer A replies STOP to an SMS (Twilio's inbound webhook, as recorded in production).
select private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
  'event_key', 'SM149stop', 'kind', 'inbound', 'channel', 'sms', 'address', '+919800000001',
  'reply', 'STOP', 'occurred_at', '2026-11-30T04:30:00Z',
  'payload', '{"From": "+919800000001", "Body": "STOP"}'::jsonb)));
select is(pg_temp.state(tests.fixture('customer_a'), 'sms', 'marketing'), 'withdrawn sms_stop',
  'the STOP withdrew SMS marketing (the customer''s own source)');

-- 1. The desk cannot give it back, whatever evidence it brings.
select tests.authenticate_as('agent_a');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'granted', 'agent_call',
                                         '{"call_id": "C-149"}')$$, tests.fixture('customer_a')),
  'PY014',
  pg_temp.refusal(tests.fixture('customer_a'), 'sms', 'marketing', 'sms_stop', '2026-11-30T04:30:00Z'),
  'an agent''s grant after the customer''s STOP is refused (PY014), with what stands and since when');
select tests.authenticate_as('admin');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'granted', 'web_form',
                                         '{"form": "F-149"}')$$, tests.fixture('customer_a')),
  'PY014', null, 'so is an admin''s, from a web form');
select lives_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'withdrawn', 'agent_call', '{}')$$,
         tests.fixture('customer_a')),
  'the desk may record a withdrawal of its own on top of it');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'granted', 'agent_call',
                                         '{"call_id": "C-150"}')$$, tests.fixture('customer_a')),
  'PY014', null, 'and that does not open a way round: the customer''s STOP still stands');
reset role;
select is(pg_temp.state(tests.fixture('customer_a'), 'sms', 'marketing'), 'withdrawn agent_call',
  'the state stays withdrawn');
select is((select count(*)::integer from public.consent_ledger
            where customer_id = tests.fixture('customer_a') and channel = 'sms'
              and purpose = 'marketing' and status = 'granted'),
  0, 'and the ledger holds none of the refused grants');

-- Nor can a system: a direct write to consents or the ledger meets the same rule.
select tests.authenticate_as_service_role();
select throws_ok(
  format($$update public.consents set status = 'granted', source = 'import', evidence = '{"file": "crm.csv"}'
            where customer_id = %L and channel = 'sms' and purpose = 'marketing'$$,
         tests.fixture('customer_a')),
  'PY014', null, 'service_role''s direct update of consents is refused');
select throws_ok(
  format($$insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
           values (%L, 'sms', 'marketing', 'granted', 'import', '{"file": "crm.csv"}')$$,
         tests.fixture('customer_a')),
  'PY014', null, 'so is its grant appended to the ledger');
select lives_ok(
  format($$insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                              recorded_at)
           values (%L, 'sms', 'marketing', 'granted', 'import', '{"file": "2025.csv"}',
                   '2025-01-01T00:00:00Z')$$, tests.fixture('customer_a')),
  'a grant dated before the STOP is history and may be appended');
reset role;
select throws_ok(
  format($$insert into public.consents (customer_id, channel, purpose, status, source, evidence)
           values (%L, 'sms', 'marketing', 'granted', 'seed', '{"n": 1}')
           on conflict (customer_id, channel, purpose) do update
              set status = excluded.status, source = excluded.source, evidence = excluded.evidence$$,
         tests.fixture('customer_a')),
  'PY014', null, 'and the owner''s upsert is refused too');
select is(pg_temp.state(tests.fixture('customer_a'), 'sms', 'marketing'), 'withdrawn agent_call',
  'after all of that SMS marketing is still withdrawn');

-- Other channels and purposes are the desk's to record as before.
select tests.authenticate_as('agent_a');
select lives_ok(
  format($$select private.record_consent(%L, 'whatsapp', 'marketing', 'granted', 'agent_call',
                                         '{"call_id": "C-151"}')$$, tests.fixture('customer_a')),
  'a STOP on SMS leaves WhatsApp marketing to the desk');
select lives_ok(
  format($$select private.record_consent(%L, 'sms', 'service', 'granted', 'agent_call',
                                         '{"call_id": "C-152"}')$$, tests.fixture('customer_a')),
  'and SMS service messages too');

-- 2. The desk may not claim the customer's own sources.
select throws_ok(
  format($$select private.record_consent(%L, 'telegram', 'marketing', 'granted', 'telegram_start',
                                         '{"update_id": 1}')$$, tests.fixture('customer_a')),
  '22023', 'source telegram_start is recorded by the system only',
  'a grant claiming to be the customer''s Telegram /start is refused (22023)');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'granted', 'sms_stop', '{"x": 1}')$$,
         tests.fixture('customer_a')),
  '22023', 'source sms_stop is recorded by the system only', 'as is one claiming to be an SMS reply');

-- 3. A withdrawal the desk recorded may be lifted by the desk (a phone request noted by an agent
-- is the desk's word, and so is the grant that follows; both carry who recorded them).
select lives_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'withdrawn', 'agent_call', '{}')$$,
         tests.fixture('customer_a')),
  'the agent records the customer''s phone request to stop email offers');
select lives_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'granted', 'agent_call',
                                         '{"call_id": "C-153"}')$$, tests.fixture('customer_a')),
  'and later their request to have them again');
reset role;
select is(pg_temp.state(tests.fixture('customer_a'), 'email', 'marketing'), 'granted agent_call',
  'email marketing is granted again');

-- 4. The one-tap withdrawal link is the customer's own too.
insert into public.consents (customer_id, channel, purpose, status, source, evidence)
values (tests.fixture('customer_b'), 'email', 'marketing', 'granted', 'web_form', '{"form": "F-9"}');
select private.withdraw_by_consent_link(private.consent_link_token(m.message_id, now() + interval '1 day'))
  from private.enqueue_messages(jsonb_build_object(
         'customer_id', tests.fixture('customer_b'), 'channel', 'email', 'purpose', 'marketing',
         'subject', 'Offer', 'body', 'An offer', 'idempotency_key', 't149:link')) m;
select tests.authenticate_as('agent_b');
select throws_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'granted', 'agent_call',
                                         '{"call_id": "C-154"}')$$, tests.fixture('customer_b')),
  'PY014', null, 'after the withdrawal link the agent cannot give email marketing back');
reset role;

-- 5. The customer's own grant lifts their own withdrawal (Telegram: /stop, then /start).
select tests.authenticate_as_service_role();
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence, recorded_at)
values (tests.fixture('customer_b'), 'telegram', 'service', 'withdrawn', 'telegram_stop', '{"update_id": 7}',
        now() - interval '1 hour');
select throws_ok(
  format($$insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
           values (%L, 'telegram', 'service', 'granted', 'import', '{"file": "x.csv"}')$$,
         tests.fixture('customer_b')),
  'PY014', null, 'after a Telegram /stop an import cannot give service messages back');
select lives_ok(
  format($$insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence)
           values (%L, 'telegram', 'service', 'granted', 'telegram_start', '{"update_id": 8}')$$,
         tests.fixture('customer_b')),
  'the customer''s /start does');
reset role;
select is(pg_temp.state(tests.fixture('customer_b'), 'telegram', 'service'), 'granted telegram_start',
  'and is the state');

-- 6. Opt-outs overridden before the rule (the trigger switched off to make one) are put back.
alter table public.consents disable trigger _700_keep_customer_opt_outs_update;
update public.consents set status = 'granted', source = 'agent_call', evidence = '{"call_id": "old"}'
 where customer_id = tests.fixture('customer_a') and channel = 'sms' and purpose = 'marketing';
alter table public.consents enable trigger _700_keep_customer_opt_outs_update;
select is(private.restore_customer_opt_outs(), 1, 'private.restore_customer_opt_outs() finds the one');
select results_eq(
  format($$select c.status::text, c.source, c.evidence ->> 'customer_withdrawal_id' = l.id::text
             from public.consents c
             join public.consent_ledger l
               on l.customer_id = c.customer_id and l.channel = c.channel
              and l.purpose = c.purpose and l.source = 'sms_stop'
            where c.customer_id = %L and c.channel = 'sms' and c.purpose = 'marketing'$$,
         tests.fixture('customer_a')),
  $$values ('withdrawn', 'opt_out_restored', true)$$,
  'and withdraws it again, naming the customer''s own withdrawal');

-- 7. A SendGrid unsubscribe over a withdrawal the desk recorded becomes the customer's own: the
-- desk cannot lift it afterwards (the webhook records it even though email marketing was already
-- withdrawn).
select tests.authenticate_as('agent_a');
select private.record_consent(tests.fixture('customer_a'), 'email', 'marketing', 'withdrawn',
                              'agent_call', '{}');
reset role;
select private.record_message_events('sendgrid', jsonb_build_array(jsonb_build_object(
  'event_key', 'sg149unsub', 'kind', 'status', 'status', null, 'vendor_status', 'unsubscribe',
  'opt_out', true, 'channel', 'email', 'occurred_at', now(),
  'address', (select lower(email) from public.customers where id = tests.fixture('customer_a')),
  'payload', '{"event": "unsubscribe"}'::jsonb)));
select is(pg_temp.state(tests.fixture('customer_a'), 'email', 'marketing'), 'withdrawn email_unsubscribe',
  'the unsubscribe is recorded over the desk''s withdrawal, as the customer''s own');
select tests.authenticate_as('agent_a');
select throws_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'granted', 'agent_call',
                                         '{"call_id": "C-157"}')$$, tests.fixture('customer_a')),
  'PY014', null, 'so the desk cannot give email marketing back');
reset role;

select * from finish();
rollback;
