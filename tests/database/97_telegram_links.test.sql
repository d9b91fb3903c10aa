-- Telegram links (migration *_connect_telegram_channel): who reads customer_social_accounts, the
-- deep-link tokens (who may make one, stored hashed, single use, 7 days), what a /start and a
-- STOP do through private.record_telegram_update (once per update_id), the gate's telegram
-- address and consent, and admins' alerts by Telegram.
begin;
select plan(64);
select tests.create_test_book();

-- A clock of our own, at 12:00 IST (inside every sending window), days from the real one.
create function pg_temp.at(days integer default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 5 + days) + time '12:00') at time zone 'Asia/Kolkata' $$;
grant execute on function pg_temp.at(integer) to service_role, authenticated;

create function pg_temp.start(update_id bigint, chat text, token text, days integer default 0) returns jsonb
language sql volatile
as $$ select private.record_telegram_update(update_id, chat, '/start ' || token,
         jsonb_build_object('update_id', update_id, 'message', jsonb_build_object(
           'text', '/start ' || token, 'chat', jsonb_build_object('id', chat::bigint),
           'from', jsonb_build_object('id', chat::bigint, 'username', 'user' || chat))),
         pg_temp.at(days)) $$;
grant execute on function pg_temp.start(bigint, text, text, integer) to service_role;

create function pg_temp.send(customer uuid, key text, purpose text default 'service') returns text
language plpgsql volatile
as $$
begin
  perform private.enqueue_messages(jsonb_build_object(
            'customer_id', customer, 'channel', 'telegram', 'purpose', purpose,
            'body', 'Your policy renews soon', 'idempotency_key', key), pg_temp.at());
  return (select (m.status, m.blocked_reason, m.recipient)::text
            from public.messages m where m.idempotency_key = key);
end;
$$;
grant execute on function pg_temp.send(uuid, text, text) to service_role;

-- Tokens made as the desk are kept here for later steps (the token itself is shown only once).
create temporary table tokens (name text primary key, token text, expires_at timestamptz) on commit drop;
grant all on tokens to authenticated, service_role;

-- 1. Reading customer_social_accounts: whoever sees the customer; nobody writes.
insert into public.customer_social_accounts (customer_id, platform, external_id, handle, source)
values (tests.fixture('customer_b'), 'x', '1450000000000000001', 'customer_b_x', 'lookup');

select is(tests.affected_rows_as('agent_b', 'select 1 from public.customer_social_accounts'), '1',
  'agent_b sees the account of their customer');
select is(tests.affected_rows_as('agent_a', 'select 1 from public.customer_social_accounts'), '0',
  'agent_a does not see another agent''s customer''s account');
select is(tests.affected_rows_as('admin', 'select 1 from public.customer_social_accounts'), '1',
  'an admin sees it');
select is(tests.affected_rows_as('analyst', 'select 1 from public.customer_social_accounts'), '0',
  'an analyst sees none');
select is(tests.affected_rows_as('anon', 'select 1 from public.customer_social_accounts'), '42501',
  'anon may not read the table');
select is(tests.affected_rows_as('agent_b', format(
  $$insert into public.customer_social_accounts (customer_id, platform, external_id, source)
    values (%L, 'telegram', '555', 'deep_link')$$, tests.fixture('customer_b'))), '42501',
  'an agent cannot link a chat by REST');
select is(tests.affected_rows_as('admin',
  $$update public.customer_social_accounts set external_id = '666'$$), '42501',
  'an admin cannot change a link by REST');
select is(tests.affected_rows_as('admin', 'delete from public.customer_social_accounts'), '42501',
  'nor delete one');
select is(tests.affected_rows_as('agent_a', 'select 1 from private.telegram_link_tokens'), '42501',
  'the tokens table is out of the desk''s reach');

-- 2. Making link tokens.
select tests.authenticate_as('agent_a');
select throws_ok(format('select * from private.create_telegram_link_token(%L)', tests.fixture('customer_b')),
  'P0002', 'no such customer, or not yours to see', 'an agent gets no token for a customer they do not see');
select throws_ok(format('select * from private.create_telegram_link_token(%L, %L)',
                        tests.fixture('customer_a'), tests.get_user_id('agent_a')),
  '22023', 'a link token is for one customer or one staff member', 'one addressee only');
select throws_ok(format('select * from private.create_telegram_link_token(null, %L)', tests.get_user_id('admin')),
  '42501', 'a staff member links their own Telegram', 'an agent cannot make an admin''s token');
select throws_ok(format('select * from private.create_telegram_link_token(null, %L)', tests.get_user_id('agent_a')),
  '42501', 'only active admins get alerts by Telegram', 'an agent gets no alert link for themselves');
-- The desk's tokens are made on the real clock (the form without as_of; migration
-- 20261202062257): they are still good at pg_temp.at(), five days on.
insert into tokens select 'a', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_a')) t;
select tests.authenticate_as('admin');
insert into tokens select 'admin', t.token, t.expires_at
  from private.create_telegram_link_token(null, tests.get_user_id('admin')) t;
-- The backend's, at moved clocks (one eight days old): the owner's form taking as_of.
reset role;
select set_config('request.jwt.claims', '', true);
insert into tokens select 'b', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_b'), null, pg_temp.at()) t;
insert into tokens select 'old', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_b'), null, pg_temp.at(-8)) t;

select ok((select bool_and(token ~ '^[A-Za-z0-9_-]{22}$') from tokens) and (select count(*) = 4 from tokens),
  'each token is 22 base64url characters (128 bits)');
select is((select expires_at from tokens where name = 'a'), now() + interval '7 days',
  'a token lasts 7 days');
select is((select count(*)::integer from private.telegram_link_tokens t join tokens k
            on t.token_hash = encode(sha256(convert_to(k.token, 'UTF8')), 'hex')), 4,
  'only each token''s sha256 is stored');
select is((select count(*)::integer from private.telegram_link_tokens t join tokens k
            on position(k.token in t::text) > 0), 0, 'the token itself is stored nowhere in its row');
select is((select created_by from private.telegram_link_tokens t join tokens k
            on t.token_hash = encode(sha256(convert_to(k.token, 'UTF8')), 'hex') where k.name = 'a'),
  tests.get_user_id('agent_a'), 'the token records who asked for it');

-- 3. Updates: only the backend records them.
select tests.authenticate_as('agent_a');
select throws_ok($$select private.record_telegram_update(1, '42', '/start x', '{}')$$, '42501', null,
  'the desk cannot record an update');
reset role;
select set_config('request.jwt.claims', '', true);


select is(pg_temp.start(9001, '424242', 'AAAAAAAAAAAAAAAAAAAAAA') ->> 'reason', 'unknown',
  'a forged token links nothing');
select is(private.record_telegram_update(9002, '424242', '/start', '{}', pg_temp.at()) ->> 'reason', 'no_token',
  'a bare /start links nothing');
select is(pg_temp.start(9003, '424243', (select token from tokens where name = 'old')) ->> 'reason', 'expired',
  'a token older than 7 days links nothing');
select is((select count(*)::integer from public.customer_social_accounts where platform = 'telegram'), 0,
  'no chat was linked by the refused updates');

select is(pg_temp.start(9010, '424242', (select token from tokens where name = 'a')) ->> 'action', 'linked',
  'the customer''s token links their chat');
select is((select (customer_id, external_id, handle, source, verified_at = pg_temp.at())::text
             from public.customer_social_accounts where platform = 'telegram'),
  format('(%s,424242,user424242,deep_link,t)', tests.fixture('customer_a')),
  'customer A is linked to chat 424242, by deep link');
select is((select array_agg((purpose, status, source, evidence ->> 'update_id', evidence ->> 'chat_id')::text
                            order by purpose)
             from public.consents where customer_id = tests.fixture('customer_a') and channel = 'telegram'),
  array['(transactional,granted,telegram_start,9010,424242)', '(service,granted,telegram_start,9010,424242)'],
  'the /start grants transactional and service consent on telegram, with the update as evidence');
select is(pg_temp.start(9011, '777', (select token from tokens where name = 'a')) ->> 'reason', 'used',
  'a token is single use');
select is((select external_id from public.customer_social_accounts
            where customer_id = tests.fixture('customer_a') and platform = 'telegram'), '424242',
  'the reused token moved nothing');
select is(pg_temp.start(9010, '999', (select token from tokens where name = 'b')),
  '{"new": false, "action": "duplicate"}'::jsonb, 'a repeated update_id is recorded once and does nothing');
select is((select count(*)::integer from public.message_events where provider = 'telegram' and event_key = 'update:9010'),
  1, 'one event for update 9010');
select is((select count(*)::integer from private.telegram_link_tokens t join tokens k
            on t.token_hash = encode(sha256(convert_to(k.token, 'UTF8')), 'hex')
           where k.name = 'b' and t.used_at is null), 1, 'the duplicate did not use customer B''s token');

-- 4. The gate's telegram address and consent.

select is(pg_temp.send(tests.fixture('customer_a'), 'tg-a-1'), '(queued,,424242)',
  'a message to a linked customer is queued to their chat');
select is((select (provider, estimated_cost_paise)::text from public.messages where idempotency_key = 'tg-a-1'),
  '(telegram,0.0000)', 'on the telegram provider, at no cost');
select is(pg_temp.send(tests.fixture('customer_b'), 'tg-b-1'), '(blocked,no_address,)',
  'a customer who never linked has no telegram address');
select is(pg_temp.send(tests.fixture('customer_a'), 'tg-a-m', 'marketing'), '(blocked,no_consent,424242)',
  'marketing on telegram needs its own consent');
insert into public.suppressions (channel, address, reason, source)
values ('telegram', '424242', 'invalid_number', 'telegram_403');
select is(pg_temp.send(tests.fixture('customer_a'), 'tg-a-2'), '(blocked,suppressed,424242)',
  'a chat that blocked the bot is suppressed');
select is(pg_temp.start(9020, '424242', (select token from tokens where name = 'b')) ->> 'action', 'linked',
  'customer B''s token opened in the same chat');
select is((select array_agg(customer_id) from public.customer_social_accounts where external_id = '424242'),
  array[tests.fixture('customer_b')], 'the chat now belongs to customer B alone');
select is((select count(*)::integer from public.suppressions where channel = 'telegram' and address = '424242'),
  0, 'starting the bot again lifts the chat''s suppression');

-- 5. STOP.
select is(pg_temp.send(tests.fixture('customer_b'), 'tg-b-2'), '(queued,,424242)',
  'customer B is reachable there');
select is(private.record_telegram_update(9030, '424242', 'Stop', '{}', pg_temp.at()) ->> 'action', 'opted_out',
  'STOP in the chat opts out');
select is((select array_agg((purpose, status, source)::text order by purpose) from public.consents
            where customer_id = tests.fixture('customer_b') and channel = 'telegram'),
  array['(transactional,withdrawn,telegram_stop)', '(service,withdrawn,telegram_stop)',
        '(marketing,withdrawn,telegram_stop)'],
  'every telegram consent of the customer is withdrawn');
select is((select status::text from public.messages where idempotency_key = 'tg-b-2'), 'cancelled',
  'their queued telegram message is cancelled');
select is(pg_temp.send(tests.fixture('customer_b'), 'tg-b-3'), '(blocked,consent_withdrawn,424242)',
  'and the gate refuses the next one');
select is(private.record_telegram_update(9031, '31337', 'hello', '{}', pg_temp.at()) ->> 'action', 'ignored',
  'other text is recorded and ignored');

-- 6. Admins' alerts by Telegram.
select is(pg_temp.start(9040, '5550001', (select token from tokens where name = 'admin')) ->> 'staff', 'true',
  'the admin''s token links their chat for alerts');
select is(private.notify_admins('alert_raised', 'Queue is late', null, 'The queue is late', 'tg-alert-1', pg_temp.at()),
  (select count(*)::integer + 1 from public.profiles where role = 'admin' and active),
  'one email per active admin and one Telegram message for the linked admin');
select is((select (staff_id, status, recipient, provider, body)::text from public.messages
            where idempotency_key like 'staff:%:tg-alert-1:telegram'),
  format(E'(%s,queued,5550001,telegram,"Queue is late\n\nThe queue is late")', tests.get_user_id('admin')),
  'the Telegram alert goes to the admin''s chat with the subject and the text');
select is(private.record_telegram_update(9041, '5550001', '/stop', '{}', pg_temp.at()) ->> 'staff', 'true',
  '/stop from the admin''s chat unlinks it');
select is(private.notify_admins('alert_raised', 'Again', null, 'Again', 'tg-alert-2', pg_temp.at()),
  (select count(*)::integer from public.profiles where role = 'admin' and active),
  'then alerts are emails only');

-- 7. Linking again after STOP, the verify endpoint's read, revoking pending links.
insert into tokens select 'b2', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_b'), null, pg_temp.at()) t;
select is(pg_temp.start(9050, '424242', (select token from tokens where name = 'b2')) ->> 'action', 'linked',
  'a new link after STOP');
select is((select array_agg((purpose, status)::text order by purpose) from public.consents
            where customer_id = tests.fixture('customer_b') and channel = 'telegram'),
  array['(transactional,granted)', '(service,granted)', '(marketing,withdrawn)'],
  'grants transactional and service again; marketing stays withdrawn');
select is(pg_temp.send(tests.fixture('customer_b'), 'tg-b-4'), '(queued,,424242)',
  'and the customer is reachable again');
select is((select (chat_id, handle)::text from private.telegram_chat(tests.fixture('customer_b'))),
  '(424242,user424242)', 'telegram_chat reads the linked chat');
select is((select count(*)::integer from private.telegram_chat(tests.fixture('customer_a'))), 0,
  'and nothing for a customer whose chat moved to another');
insert into tokens select 'pending', t.token, t.expires_at
  from private.create_telegram_link_token(tests.fixture('customer_a'), null, pg_temp.at()) t;
select ok(private.delete_telegram_link_tokens() >= 1, 'disconnecting revokes the pending links');
select is(pg_temp.start(9060, '31338', (select token from tokens where name = 'pending')) ->> 'reason', 'unknown',
  'a revoked link links nothing');
select is((select count(*)::integer from private.telegram_link_tokens where used_at is not null), 4,
  'used tokens stay, for the record');

-- 8. Blocking and unblocking the bot (migration *_follow_telegram_blocks).
select is(private.record_telegram_update(9070, '424242', null,
            '{"my_chat_member": {"new_chat_member": {"status": "kicked"}}}', pg_temp.at()) ->> 'action',
  'blocked', 'a linked user blocking the bot');
select is((select (reason, source)::text from public.suppressions where channel = 'telegram' and address = '424242'),
  '(unsubscribed,telegram_blocked)', 'suppresses the chat at once');
select is(pg_temp.send(tests.fixture('customer_b'), 'tg-b-5'), '(blocked,suppressed,424242)',
  'so the gate holds the next message');
select is(private.record_telegram_update(9071, '424242', '/start', '{}', pg_temp.at()) ->> 'action',
  'restarted', 'the Restart button (a bare /start) from the linked chat');
select is((select count(*)::integer from public.suppressions where channel = 'telegram' and address = '424242'),
  0, 'lifts the suppression');
select is(private.record_telegram_update(9072, '31339', null,
            '{"my_chat_member": {"new_chat_member": {"status": "kicked"}}}', pg_temp.at()) ->> 'action',
  'ignored', 'a block from a chat nobody linked changes nothing');

select * from finish();
rollback;
