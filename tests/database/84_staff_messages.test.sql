-- Messages to desk users (migration 20261129225450_address_messages_to_staff): exactly one
-- addressee, email only; private.notify_admins queues one email per active admin to their auth
-- address, once per key, blocked with a reason when it cannot go; the staff email is claimed at
-- any hour, recorded sent, tracked by its callbacks, and stays out of the desk's reads; the
-- customer functions that read messages run beside it. Who may call notify_admins.
begin;
select plan(30);
select tests.create_test_book();
select count(*) from (select tests.create_user('admin_off', 'admin')) u;
update public.profiles set active = false where id = tests.get_user_id('admin_off');

-- A clock of our own, far from the real one, at 23:00 IST (quiet hours for service messages).
create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 5) + time '23:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role, authenticated;

create temporary table active_admins on commit drop as
select p.id, u.email from public.profiles p join auth.users u on u.id = p.id
 where p.role = 'admin' and p.active;
grant select on active_admins to service_role, authenticated;

-- The table's rules.
select throws_ok($$insert into public.messages (channel, purpose, body, idempotency_key)
                   values ('email', 'transactional', 'x', 'nobody')$$,
  '23514', null, 'a message with no addressee is refused');
select throws_ok(format($$insert into public.messages (customer_id, staff_id, channel, purpose, body, idempotency_key)
                   values (%L, %L, 'email', 'transactional', 'x', 'both')$$,
                   tests.fixture('customer_a'), tests.get_user_id('admin')),
  '23514', null, 'a message to a customer and a desk user at once is refused');
select throws_ok(format($$insert into public.messages (staff_id, channel, purpose, body, idempotency_key)
                   values (%L, 'sms', 'transactional', 'x', 'staff-sms')$$, tests.get_user_id('admin')),
  '23514', null, 'a staff message is an email (Telegram waits for issue 12)');

-- Refusals of bad arguments, nothing queued.
select throws_ok($$select private.notify_admins('Bad Kind', 's', null, 't', 'k')$$, '22023',
  'kind is a code of lowercase letters, digits and _ (at most 40)', 'a kind that is not a code');
select throws_ok($$select private.notify_admins('alert', 's', null, 't', '')$$, '22023',
  'key is 1 to 150 characters', 'an empty key');
select throws_ok($$select private.notify_admins('alert', ' ', null, 't', 'k')$$, '22023',
  'subject is 1 to 300 characters', 'a blank subject');
select throws_ok($$select private.notify_admins('alert', 's', '<p>x</p>', null, 'k')$$, '22023',
  'text_body is required (the text part of the email)', 'no text part');
select is((select count(*)::integer from public.messages where idempotency_key like 'staff:%:k'), 0,
  'nothing was queued by the refused calls');

-- One email per active admin.
select is(private.notify_admins('alert_raised', 'Queue is late', '<p>The <b>queue</b> is late</p>',
                                'The queue is late', 'alert:1', pg_temp.at()),
  (select count(*)::integer from active_admins), 'one email queued per active admin, counted');
select set_eq($$select staff_id, recipient from public.messages where idempotency_key like 'staff:%:alert:1'$$,
  $$select id, lower(email) from active_admins$$, 'to each active admin''s sign-in address');
select is((select count(*)::integer from public.messages
            where staff_id in (tests.get_user_id('admin_off'), tests.get_user_id('zone_manager'),
                               tests.get_user_id('agent_a'))),
  0, 'an inactive admin, a manager and an agent get nothing');
select is((select array_agg(distinct (customer_id, channel, purpose, status, priority, provider,
                                      subject, body, body_html, variables ->> 'kind',
                                      estimated_cost_paise, queued_at = pg_temp.at())::text)
             from public.messages where idempotency_key like 'staff:%:alert:1'),
  '{"(,email,transactional,queued,1,aws_ses,\"Queue is late\",\"The queue is late\",\"<p>The <b>queue</b> is late</p>\",alert_raised,0.8500,t)"}',
  'a transactional email on the email channel''s provider, text and HTML, costed like any email');
select is(private.notify_admins('alert_raised', 'Queue is late', null, 'again', 'alert:1', pg_temp.at(60)), 0,
  'the same key again queues nothing');
select is((select count(*)::integer from public.messages where idempotency_key like 'staff:%:alert:1'),
  (select count(*)::integer from active_admins), 'and adds no message');

-- Blocked with a reason, not counted.
insert into public.suppressions (channel, address, reason, source)
select 'email', lower(email), 'hard_bounce', 'test' from auth.users where id = tests.get_user_id('admin');
select is(private.notify_admins('alert_raised', 'S', null, 'T', 'alert:2', pg_temp.at()),
  (select count(*)::integer - 1 from active_admins), 'an admin whose address bounced is not counted');
select is((select (status, blocked_reason, provider)::text from public.messages
            where idempotency_key = format('staff:%s:alert:2', tests.get_user_id('admin'))),
  '(blocked,suppressed,)', 'their email is blocked: suppressed');
update public.channels set enabled = false where type = 'email';
select is(private.notify_admins('alert_raised', 'S', null, 'T', 'alert:3', pg_temp.at()), 0,
  'with the email channel switched off nothing is queued');
select is((select array_agg(distinct blocked_reason) from public.messages where idempotency_key like 'staff:%:alert:3'),
  '{channel_disabled}', 'each is blocked: channel_disabled');
update public.channels set enabled = true where type = 'email';

-- Claimed at 23:00 IST (transactional: never held for quiet hours), sent, tracked.
select tests.authenticate_as_service_role();
create temporary table claimed on commit drop as
select c.* from private.claim_messages('staff-w', 1000, pg_temp.at(5)) c
 where c.id in (select id from public.messages where idempotency_key like 'staff:%:alert:1');
select is((select count(*)::integer from claimed), (select count(*)::integer from active_admins),
  'the dispatcher claims every queued staff email at night');
select is((select array_agg(distinct (channel, provider, subject, body)::text) from claimed),
  '{"(email,aws_ses,\"Queue is late\",\"The queue is late\")"}', 'with what the email provider needs');
select is(private.record_send_results('staff-w', (
    select jsonb_agg(jsonb_build_object('id', c.id, 'attempt', c.attempts, 'ok', true,
                                        'provider_message_id', 'ses-staff-' || c.id)) from claimed c),
    pg_temp.at(6)),
  (select count(*)::integer from active_admins), 'its send is recorded');
select count(*) from private.record_message_events('aws_ses', (
  select jsonb_agg(jsonb_build_object('event_key', 'ses-staff-delivery-' || c.id, 'kind', 'status',
                                      'provider_message_id', 'ses-staff-' || c.id,
                                      'status', 'delivered', 'payload', '{}'::jsonb))
    from claimed c));
select is((select array_agg(distinct (status, sent_at = pg_temp.at(6), delivered_at is not null)::text)
             from public.messages where id in (select id from claimed)),
  '{"(delivered,t,t)"}', 'and the vendor''s delivery callback moves it on, as for any message');
reset role;

-- Nobody at the desk reads staff messages (their addressees included).
select tests.authenticate_as('admin');
select is_empty($$select id from public.messages where staff_id is not null$$,
  'an admin does not read staff messages through the API roles');
select tests.authenticate_as('zone_manager');
select is_empty($$select id from public.messages where customer_id is null$$, 'nor does a manager');
select tests.authenticate_as('agent_a');
select is_empty($$select id from public.messages where customer_id is null$$, 'nor does an agent');
select throws_ok($$select private.notify_admins('alert', 's', null, 't', 'k')$$, '42501', null,
  'an agent may not notify the admins');
select tests.authenticate_as('admin');
select throws_ok($$select private.notify_admins('alert', 's', null, 't', 'k')$$, '42501', null,
  'nor may an admin''s session (only the backend)');
select tests.authenticate_as_service_role();
select is(private.notify_admins('report_daily', 'Daily', '<p>d</p>', 'd', 'report:1', pg_temp.at()),
  (select count(*)::integer from active_admins) - 1, 'service_role may (the bounced admin excepted)');
reset role;

-- The customer side runs beside staff messages.
select lives_ok($$select private.run_reminder_cadence(pg_temp.at())$$,
  'the reminder cadence runs with staff messages in the outbox');
select lives_ok($$select private.customer_profile_figures(tests.fixture('customer_a'), 90, pg_temp.at())$$,
  'a customer''s profile figures too');

select * from finish();
rollback;
