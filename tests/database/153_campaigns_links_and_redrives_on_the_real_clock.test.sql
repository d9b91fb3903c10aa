-- Campaigns, Telegram link tokens and the redrive run on the real clock (migration
-- run_campaigns_telegram_links_and_redrives_now, found by a review after the desk's messages in
-- 151). A signed-in manager or admin calling them through SQL could pass as_of: launch a campaign
-- at a time of their choosing (the gate's frequency cap and send hours judged then, a scheduled
-- campaign launched before its start), pause, resume or cancel it at any recorded time (a resume
-- dated in the past released its held messages at once), mint a Telegram link token lasting years,
-- or redrive dead letters to any due time. The desk now calls the forms without a clock, always
-- now(); the forms taking as_of are the owner's (the launch job, tests), executable by neither
-- authenticated nor service_role.
begin;
select plan(35);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
-- Always open (no quiet hours), one service message a day per customer.
update public.app_settings set value = '{"end": "00:00", "start": "00:00"}' where key = 'QUIET_HOURS';
update public.app_settings set value = '{"service": {"max": 1, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

insert into public.templates (code, channel, purpose, subject, body)
values ('t153_mail', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.');
-- Clockpur 1-2 and Laterpur 3, each with an open case held by agent_a.
select count(*) from tests.campaign_customers('T153', 'Clockpur', 2, policy_prefix => 'T-153-',
                                              phone_prefix => '+919715300', email_prefix => 't153_');
select count(*) from tests.campaign_customers('T153', 'Laterpur', 1, policy_prefix => 'T-153-',
                                              phone_prefix => '+919715300', email_prefix => 't153_',
                                              first_number => 3);
-- T153 1 had a service message today: the cap leaves it no room for the campaign's.
select count(*) from private.enqueue_messages(jsonb_build_object(
  'customer_id', (select id from public.customers where full_name = 'T153 1'), 'channel', 'email',
  'purpose', 'service', 'subject', 'Hello', 'body', 'Earlier today', 'idempotency_key', 't153:earlier'), now());

create function pg_temp.campaign(campaign_name text) returns uuid
language sql stable security definer
as $$ select c.id from public.campaigns c where c.name = campaign_name $$;
grant execute on function pg_temp.campaign(text) to authenticated;

-- 1. What each role may execute.
select is(array(select f from unnest(array[
                  'private.launch_campaign(uuid)', 'private.pause_campaign(uuid)',
                  'private.resume_campaign(uuid)', 'private.cancel_campaign(uuid)',
                  'private.create_telegram_link_token(uuid, uuid)',
                  'private.redrive_dead_messages(text, text, text)']) f
                 where not (has_function_privilege('authenticated', f, 'execute')
                            and has_function_privilege('service_role', f, 'execute'))),
          '{}'::text[], 'the desk and the backend call the forms on the real clock');
select is(array(select f from unnest(array[
                  'private.launch_campaign(uuid, timestamptz)', 'private.pause_campaign(uuid, timestamptz)',
                  'private.resume_campaign(uuid, timestamptz)', 'private.cancel_campaign(uuid, timestamptz)',
                  'private.create_telegram_link_token(uuid, uuid, timestamptz)',
                  'private.redrive_dead_messages(text, text, text, timestamptz)']) f
                 where has_function_privilege('authenticated', f, 'execute')
                    or has_function_privilege('service_role', f, 'execute')
                    or has_function_privilege('anon', f, 'execute')),
          '{}'::text[], 'nobody but the owner calls the forms taking a clock');

-- 2. Launch: the manager's backdated or forward-dated launch is refused; the launch on now()
-- is judged by the cap at now().
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code, audience_filter, start_at)
select x.name, n.id, 'email', 'service', 't153_mail', jsonb_build_object('city', x.city), x.start_at
  from public.hierarchy_nodes n,
       (values ('Now', 'Clockpur', null::timestamptz), ('Later', 'Laterpur', now() + interval '3 days'))
         x (name, city, start_at)
 where n.code = 'T_ZONE';
select throws_ok(format('select private.launch_campaign(%L, %L)', pg_temp.campaign('Now'), '2020-01-01T06:30:00Z'),
                 '42501', 'permission denied for function launch_campaign',
                 'a manager''s backdated launch is refused');
select throws_ok(format('select private.launch_campaign(%L, %L)', pg_temp.campaign('Later'), now() + interval '4 days'),
                 '42501', 'permission denied for function launch_campaign',
                 'so is a launch dated past a scheduled campaign''s start');
select is((select row(audience, queued, blocked, blocked_reasons, created)::text
             from private.launch_campaign(pg_temp.campaign('Now'))),
          '(2,1,1,"{""frequency_cap"": 1}",2)',
          'the launch on now(): T153 2 queued, T153 1 held back by the cap (its message today counts)');
select is((select row(audience, created)::text from private.launch_campaign(pg_temp.campaign('Later'))),
          '(1,0)', 'a campaign that starts in three days is only scheduled');
reset role;
select is((select array_agg(row(name, status, launched_at = now())::text order by name)
             from public.campaigns where name in ('Now', 'Later')),
          array['(Later,scheduled,)', '(Now,running,t)'], 'Now runs, launched at now(); Later waits');
select is((select array_agg(distinct queued_at = now())::text from public.messages
            where campaign_id = pg_temp.campaign('Now')),
          '{t}', 'its messages were queued at now()');

-- 3. Pause and resume: the recorded times are the real ones.
select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.pause_campaign(%L, %L)', pg_temp.campaign('Now'), now() + interval '1 year'),
                 '42501', 'permission denied for function pause_campaign',
                 'a manager cannot date a pause');
select is(private.pause_campaign(pg_temp.campaign('Now')), 1, 'the pause on now() holds the queued message');
select throws_ok(format('select private.resume_campaign(%L, %L)', pg_temp.campaign('Now'), '2020-01-01T06:30:00Z'),
                 '42501', 'permission denied for function resume_campaign',
                 'nor release its messages at a time of their choosing');
reset role;
select is((select row(status, paused_at = now())::text from public.campaigns where name = 'Now'),
          '(paused,t)', 'paused at now()');
select is((select count(*)::integer from public.messages where campaign_id = pg_temp.campaign('Now')
            and status = 'queued' and next_attempt_at = 'infinity'), 1, 'its message is still held');
select tests.authenticate_as('zone_manager');
select is(private.resume_campaign(pg_temp.campaign('Now')), 1, 'the resume on now() releases it');
reset role;
select is((select array_agg(next_attempt_at >= now())::text from public.messages
            where campaign_id = pg_temp.campaign('Now') and status = 'queued'),
          '{t}', 'due from now, not from a time in the past');

-- 4. Cancel: the campaign's and its messages' cancelled_at are the real time.
select tests.authenticate_as('zone_manager');
select throws_ok(format('select private.cancel_campaign(%L, %L)', pg_temp.campaign('Now'), '2020-01-01T06:30:00Z'),
                 '42501', 'permission denied for function cancel_campaign',
                 'a manager cannot date a cancellation');
select is(private.cancel_campaign(pg_temp.campaign('Now')), 1, 'the cancel on now() cancels the queued message');
reset role;
select is((select row(status, cancelled_at = now())::text from public.campaigns where name = 'Now'),
          '(cancelled,t)', 'cancelled at now()');
select is((select array_agg(cancelled_at = now())::text from public.messages
            where campaign_id = pg_temp.campaign('Now') and status = 'cancelled'),
          '{t}', 'and so is its message');

-- 5. Telegram link tokens last 7 days from now, whoever asks.
create temporary table tokens (name text primary key, token text, expires_at timestamptz) on commit drop;
grant all on tokens to authenticated, service_role;
select tests.authenticate_as('agent_a');
select throws_ok(format('select * from private.create_telegram_link_token(%L, null, %L)',
                        tests.fixture('customer_a'), '2090-01-01T00:00:00Z'),
                 '42501', 'permission denied for function create_telegram_link_token',
                 'an agent cannot mint a token lasting until 2090');
insert into tokens select 'agent', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_a')) t;
select tests.authenticate_as('admin');
select throws_ok(format('select * from private.create_telegram_link_token(null, %L, %L)',
                        tests.get_user_id('admin'), '2090-01-01T00:00:00Z'),
                 '42501', 'permission denied for function create_telegram_link_token',
                 'nor an admin their own alert link');
insert into tokens select 'admin', t.token, t.expires_at
  from private.create_telegram_link_token(null, tests.get_user_id('admin')) t;
select tests.authenticate_as_service_role();
select throws_ok(format('select * from private.create_telegram_link_token(%L, null, %L)',
                        tests.fixture('customer_b'), '2090-01-01T00:00:00Z'),
                 '42501', 'permission denied for function create_telegram_link_token',
                 'nor the backend');
insert into tokens select 'backend', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_b')) t;
reset role;
select is((select array_agg(name || ':' || (expires_at = now() + interval '7 days') order by name) from tokens),
          array['admin:true', 'agent:true', 'backend:true'], 'each token made on now() expires in 7 days');
select is((select array_agg(distinct (t.created_at = now() and t.expires_at = now() + interval '7 days'))::text
             from private.telegram_link_tokens t join tokens k
               on t.token_hash = encode(sha256(convert_to(k.token, 'UTF8')), 'hex')),
          '{t}', 'as stored');
select is((select count(*)::integer from private.telegram_link_tokens where expires_at > now() + interval '7 days'),
          0, 'no token lasts longer');

-- 6. Redrive: dead letters go back due now.
update public.messages set status = 'dead', dead_reason = 'retries_exhausted', dead_at = now()
 where idempotency_key = 't153:earlier';
select tests.authenticate_as('admin');
select throws_ok($$select private.redrive_dead_messages(null, null, null, '2020-01-01T06:30:00Z')$$,
                 '42501', 'permission denied for function redrive_dead_messages',
                 'an admin cannot date a redrive ahead of the queue');
select throws_ok($$select private.redrive_dead_messages('retries_exhausted', null, null, 'infinity')$$,
                 '42501', 'permission denied for function redrive_dead_messages',
                 'nor park dead letters forever');
select is(private.redrive_dead_messages('retries_exhausted'), 1, 'the redrive on now() queues the dead letter');
reset role;
select is((select row(status, next_attempt_at = now())::text from public.messages where idempotency_key = 't153:earlier'),
          '(queued,t)', 'due now');
select tests.authenticate_as('zone_manager');
select throws_ok($$select private.redrive_dead_messages()$$, '42501', 'only admins redrive dead messages',
                 'a manager still may not redrive');
reset role;

-- 7. The owner (the launch job, tests) still moves the clock, with a desk member's claims.
select tests.authenticate_as('zone_manager');
reset role;
select is((select created from private.launch_campaign(pg_temp.campaign('Later'), now() + interval '3 days 1 hour')),
          1, 'the owner launches at a moved clock');
select is((select launched_at from public.campaigns where name = 'Later'), now() + interval '3 days 1 hour',
          'launched at as_of');
select is((select expires_at from private.create_telegram_link_token(tests.fixture('customer_a'), null,
                                                                      '2030-01-01T00:00:00Z')),
          '2030-01-08T00:00:00Z'::timestamptz, 'the owner''s token is made at as_of');
select is(private.pause_campaign(pg_temp.campaign('Later'), now() + interval '3 days 2 hours'), 1,
          'the owner pauses at a moved clock');
select is((select paused_at from public.campaigns where name = 'Later'), now() + interval '3 days 2 hours',
          'paused at as_of');

select * from finish();
rollback;
