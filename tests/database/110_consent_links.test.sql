-- The desk's consent door and the one-tap withdrawal links (issue 13, migration
-- sign_consent_withdrawal_links): who may record a consent; a link signed in SQL works once for
-- the message's own customer, and a forged, tampered, expired or replayed one changes nothing;
-- the next marketing message is blocked at once; key rotation keeps old links working inside the
-- overlap only.
begin;
select plan(50);
select tests.create_test_book();

-- The desk's door (private.record_consent), per persona.
select tests.authenticate_as('agent_a');
select is(
  (select (r.status, r.source, r.notice_version, r.recorded_by = tests.get_user_id('agent_a'))::text
     from private.record_consent(tests.fixture('customer_a'), 'email', 'marketing', 'granted',
                                 'web_form', '{"form": "F-1"}') r),
  '(granted,web_form,2026-11,t)',
  'agent A records a grant for their customer, stamped with them and the notice version');
select throws_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'granted', 'web_form', '{"form": "F-1"}')$$,
         tests.fixture('customer_b')),
  'P0002', 'no such customer', 'agent A cannot record for agent B''s customer');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'granted', 'agent_call', '{}')$$,
         tests.fixture('customer_a')),
  '23514', null, 'a grant without evidence is refused');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'withdrawn', 'withdrawal_link', '{}')$$,
         tests.fixture('customer_a')),
  '22023', 'source withdrawal_link is recorded by the system only', 'the desk cannot pose as the link');
select throws_ok(
  format($$select private.record_consent(%L, 'sms', 'marketing', 'withdrawn', 'Agent Call', '{}')$$,
         tests.fixture('customer_a')),
  '22023', null, 'a malformed source is refused');
select tests.authenticate_as('branch_b_manager');
select lives_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'granted', 'agent_call', '{"call": "C-9"}', 'v-old')$$,
         tests.fixture('customer_b')),
  'branch B''s manager records for customer B');
select tests.authenticate_as('analyst');
select throws_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'withdrawn', 'agent_call', '{}')$$,
         tests.fixture('customer_a')),
  'P0002', 'no such customer', 'an analyst sees no customer');
select tests.clear_authentication();
select throws_ok(
  format($$select private.record_consent(%L, 'email', 'marketing', 'withdrawn', 'agent_call', '{}')$$,
         tests.fixture('customer_a')),
  '42501', null, 'anon may not call it');
reset role;
select results_eq(
  $$select customer_id, status::text, source, notice_version from public.consent_ledger
     where channel = 'email' and purpose = 'marketing' order by id$$,
  format($$values (%L::uuid, 'granted', 'web_form', '2026-11'), (%L::uuid, 'granted', 'agent_call', 'v-old')$$,
         tests.fixture('customer_a'), tests.fixture('customer_b')),
  'the ledger holds the two recorded grants, and nothing refused');
select is(
  (select status::text from public.consents
    where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'),
  'granted', 'which are the state');

-- A marketing message for each customer (the one the link is in).
insert into public.messages (customer_id, channel, purpose, body, idempotency_key, status)
select tests.fixture('customer_' || side), 'email', 'marketing', 'An offer', 't110:' || side, 'sent'
  from unnest(array['a', 'b']) side;
create temporary table links on commit drop as
select side, m.id as message_id, private.consent_link_url(m.id) as url
  from unnest(array['a', 'b']) side
  join public.messages m on m.idempotency_key = 't110:' || side;
create function pg_temp.token(side text) returns text language sql as $$
  select substring(l.url from '/w/(.*)$') from links l where l.side = $1
$$;
create function pg_temp.state(token text, as_of timestamptz default now()) returns text language sql as $$
  select c.state from private.consent_link_check(token, as_of) c
$$;
create function pg_temp.flip(token text, at integer) returns text language sql as $$
  select overlay(token placing case when substr(token, at, 1) = 'A' then 'B' else 'A' end
                 from at for 1)
$$;
create function pg_temp.ledger_size() returns bigint language sql as $$
  select count(*) from public.consent_ledger
$$;

select matches((select url from links where side = 'a'),
  '^http://127\.0\.0\.1:54321/functions/v1/consent/w/[A-Za-z0-9_-]{52}$',
  'the link is <CONSENT_PAGE_BASE_URL>/w/<52 base64url characters>');
select is(
  (select (c.state, c.message_id = l.message_id, c.customer_id, c.expires_at::date)::text
     from links l, private.consent_link_check(pg_temp.token('a')) c where l.side = 'a'),
  format('(valid,t,%s,%s)', tests.fixture('customer_a'), (now() + interval '30 days')::date),
  'a fresh token is valid, names its message and customer, and expires in CONSENT_LINK_DAYS (30)');

-- Refused tokens, each changing nothing.
select is(pg_temp.state('not-a-token'), 'malformed', 'garbage is malformed');
select is(pg_temp.state(left(pg_temp.token('a'), 51)), 'malformed', 'a token one character short is malformed');
select is(pg_temp.state(pg_temp.flip(pg_temp.token('a'), 10)), 'forged', 'a token with its message id changed is forged');
select is(pg_temp.state(pg_temp.flip(pg_temp.token('a'), 50)), 'forged', 'a token with its signature changed is forged');
select is(
  pg_temp.state(private.consent_link_token(
    (select message_id from links where side = 'a'), now() - interval '1 second')),
  'expired', 'a token past its expiry is expired');
select is(pg_temp.state(pg_temp.token('a'), now() + interval '31 days'), 'expired',
  'and a real one is expired after 30 days');
select is(
  (select count(*)::int from (
     select private.withdraw_by_consent_link(t) ->> 'state' as state
       from unnest(array['not-a-token', pg_temp.flip(pg_temp.token('a'), 10),
                         pg_temp.flip(pg_temp.token('a'), 50),
                         private.consent_link_token((select message_id from links where side = 'a'),
                                                    now() - interval '1 second')]) t) s
    where s.state = 'withdrawn'), 0,
  'none of them withdraws');
select is(
  (select count(*)::int from public.consent_ledger where source = 'withdrawal_link'), 0,
  'and none wrote a ledger row');
select is(
  (select status::text from public.consents
    where customer_id = tests.fixture('customer_a') and channel = 'email' and purpose = 'marketing'),
  'granted', 'customer A''s marketing consent is unchanged');

-- Before the tap, the gate lets a marketing email to A through consent.
select is(
  (select e.blocked_reason from private.enqueue_messages(jsonb_build_object(
     'customer_id', tests.fixture('customer_a'), 'channel', 'email', 'idempotency_key', 't110:before',
     'body', 'Another offer', 'subject', 'Offer', 'purpose', 'marketing')) e),
  null, 'before the tap a marketing email to A is not blocked');

-- The real tap.
select is(
  (select (w ->> 'state', w ->> 'customer_id', w ->> 'channels')::text
     from private.withdraw_by_consent_link(pg_temp.token('a')) w),
  format('(withdrawn,%s,5)', tests.fixture('customer_a')),
  'the real link withdraws marketing for A on all five channels');
select results_eq(
  $$select channel::text, status::text, source, evidence ->> 'message_id' from public.consents
     where customer_id = tests.fixture('customer_a') and purpose = 'marketing' order by channel$$,
  format($$select ch::text, 'withdrawn', 'withdrawal_link', %L from unnest(enum_range(null::public.channel_type)) ch order by ch$$,
         (select message_id from links where side = 'a')),
  'every marketing consent of A is withdrawn, with the message as evidence');
select is(
  (select e.blocked_reason from private.enqueue_messages(jsonb_build_object(
     'customer_id', tests.fixture('customer_a'), 'channel', 'email', 'idempotency_key', 't110:after',
     'body', 'Another offer', 'subject', 'Offer', 'purpose', 'marketing')) e),
  'consent_withdrawn', 'the next marketing message to A is blocked: consent_withdrawn');
select is(
  (select e.blocked_reason from private.enqueue_messages(jsonb_build_object(
     'customer_id', tests.fixture('customer_a'), 'channel', 'whatsapp', 'idempotency_key', 't110:after-wa',
     'body', 'Another offer', 'purpose', 'marketing')) e),
  'consent_withdrawn', 'on WhatsApp too');
select count(*) from private.claim_messages('t110', 1000, now() + interval '1 day');
select is(
  (select (status, blocked_reason)::text from public.messages where idempotency_key = 't110:before'),
  '(blocked,consent_withdrawn)',
  'the offer queued before the tap is blocked when a dispatcher comes for it');
select is(
  (select status::text from public.consents
    where customer_id = tests.fixture('customer_b') and channel = 'email' and purpose = 'marketing'),
  'granted', 'customer B''s consent is untouched: A''s link names A''s message only');
select is(
  (select status::text from public.consents
    where customer_id = tests.fixture('customer_a') and channel = 'whatsapp' and purpose = 'service'),
  'granted', 'and A''s service consent stays');

-- Replay.
select is(pg_temp.state(pg_temp.token('a')), 'used', 'the used link checks as used');
select ok(
  (select pg_temp.ledger_size() = x.before and w ->> 'state' = 'used'
     from (select pg_temp.ledger_size() as before) x,
          lateral private.withdraw_by_consent_link(pg_temp.token('a')) w),
  'a replay is refused (used) and writes nothing');

-- Rotation without downtime.
create temporary table old_token on commit drop as select pg_temp.token('b') as token;
select throws_ok($$select private.rotate_link_signing_key('7 days')$$, '22023',
  'an overlap other than 0 is at least 30 days (CONSENT_LINK_DAYS): links signed with the previous key live that long; 0 revokes it at once (a leak)',
  'an overlap shorter than the links'' lifetime is refused, naming the minimum');
select is((select count(*) from private.link_signing_keys where retire_at is null or retire_at > now()), 1::bigint,
  'and rotates nothing');
select ok(private.rotate_link_signing_key('30 days') > 1, 'a rotation makes a new key');
select is(pg_temp.state((select token from old_token)), 'valid',
  'a token signed with the previous key still works inside the overlap');
select is(pg_temp.state((select token from old_token), now() + interval '29 days 23 hours'), 'valid',
  'up to the end of a link''s lifetime (no link in date is refused)');
select is(pg_temp.state((select token from old_token), now() + interval '30 days 1 hour'), 'forged',
  'and is refused after the previous key''s retire_at');
select isnt(
  substr(private.consent_link_token((select message_id from links where side = 'b'), now() + interval '1 day'), 1, 4),
  substr((select token from old_token), 1, 4),
  'new tokens carry the new kid');
select is(
  pg_temp.state(private.consent_link_token((select message_id from links where side = 'b'), now() + interval '1 day'),
                now() + interval '2 hours'),
  'valid', 'and stay valid after the old key retires');
create temporary table current_token on commit drop as
select private.consent_link_token((select message_id from links where side = 'b'), now() + interval '1 day') as token;
select is(pg_temp.state((select token from current_token)), 'valid', 'a token of the current key is valid');
select lives_ok($$select private.rotate_link_signing_key('0 seconds')$$, 'a leaked key is revoked at once');
select is(pg_temp.state((select token from current_token)), 'forged', 'after which its tokens are refused');
select is(pg_temp.state((select token from old_token)), 'forged',
  'and so are those of the key before it, though still inside its own overlap');
select is((select count(*) from private.link_signing_keys where retire_at is null or retire_at > now()), 1::bigint,
  'only the new key verifies');
select is(pg_temp.state(private.consent_link_token((select message_id from links where side = 'b'), now() + interval '1 day')),
  'valid', 'and signs valid links');
update public.app_settings set value = '400' where key = 'CONSENT_LINK_DAYS';
select throws_ok($$select private.rotate_link_signing_key('365 days')$$, '22023',
  'an overlap other than 0 is at least 400 days (CONSENT_LINK_DAYS): links signed with the previous key live that long; 0 revokes it at once (a leak)',
  'the minimum follows CONSENT_LINK_DAYS');
select lives_ok($$select private.rotate_link_signing_key('400 days')$$,
  'and may exceed 365 days when the links live longer');
update public.app_settings set value = '30' where key = 'CONSENT_LINK_DAYS';
select throws_ok($$select private.rotate_link_signing_key('-1 hour')$$, '22023', null,
  'a negative overlap is refused');

-- Only the backend checks links, and nobody reads the keys.
select set_config('t110.token', pg_temp.token('b'), true);
select tests.authenticate_as('admin');
select throws_ok(format($$select private.withdraw_by_consent_link(%L)$$, current_setting('t110.token')), '42501', null,
  'a signed-in user cannot use a link through the API');
select tests.authenticate_as_service_role();
select throws_ok('select * from private.link_signing_keys', '42501', null, 'service_role cannot read the keys');
reset role;

select * from finish();
rollback;
