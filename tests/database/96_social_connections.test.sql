-- Social connections (migration 20261130020153_create_social_connections): desk members read
-- public.social_connections, nobody writes it directly; the encrypted tokens and the OAuth
-- states are read and written only through the private functions, granted to service_role; a
-- state is consumed once, not after its expiry, not for another platform.
begin;
select plan(44);
select tests.create_test_org();

select tests.rls_enabled('private');
select ok((select relrowsecurity from pg_class where oid = 'public.social_connections'::regclass),
          'social_connections has row level security');

-- The service role connects X with (stand-in) ciphertexts.
select tests.authenticate_as_service_role();
select is(
  (select status from private.save_social_connection(
     'x', '42', 'py360', array['tweet.read', 'users.read'], now() + interval '2 hours', null,
     '{"access_token": "AAECAw==", "refresh_token": "BAUGBw=="}', 'k0123', null)),
  'connected', 'service_role saves a connection');
select is((select tokens from private.social_token('x')),
          '{"access_token": "AAECAw==", "refresh_token": "BAUGBw=="}'::jsonb,
          'service_role reads the stored ciphertexts back, absent fields omitted');
select is((select key_id from private.social_token('x')), 'k0123', 'with their key id');
select is((select count(*)::int from private.social_token('facebook')), 0,
          'no tokens for a platform never connected');
select throws_ok($$select private.save_social_connection('wechat', null, null, null, null, null, '{}', 'k1')$$,
                 '22023', 'unknown social platform: wechat', 'an unknown platform is refused');
select throws_ok($$select private.save_social_connection('x', null, null, null, null, null, '{"password": "AA=="}', 'k1')$$,
                 '22023', 'unknown token field: password', 'an unknown token field is refused');
select throws_ok($$select private.save_social_connection('x', null, null, null, null, null, '{}', '')$$,
                 '22023', 'key_id is required', 'a missing key id is refused');
select throws_ok($$select private.record_social_error('linkedin', 'boom')$$,
                 'P0002', 'no social connection for linkedin', 'an error for a platform never connected is refused');
select throws_ok($$select * from private.social_tokens$$, '42501', null,
                 'service_role does not read the tokens table directly');
select throws_ok($$select * from private.oauth_states$$, '42501', null,
                 'service_role does not read the states table directly');
reset role;

-- Who reads the connections.
select tests.authenticate_as('admin');
select is((select count(*)::int from public.social_connections where platform = 'x'), 1, 'an admin sees the connection');
select tests.authenticate_as('zone_manager');
select is((select count(*)::int from public.social_connections where platform = 'x'), 1, 'a manager sees the connection');
select tests.authenticate_as('agent_a');
select is((select account_name from public.social_connections where platform = 'x'), 'py360', 'an agent sees the connection');
select tests.authenticate_as('analyst');
select is_empty($$select 1 from public.social_connections$$, 'an analyst sees no connection');
select tests.authenticate_as('newcomer');
select is_empty($$select 1 from public.social_connections$$, 'a user without a role sees no connection');
reset role;
select tests.clear_authentication();
select throws_ok($$select 1 from public.social_connections$$, '42501', null, 'anon cannot read connections');
reset role;

-- Nobody writes it, or reads the secrets, but through the service role's functions.
select is(tests.affected_rows_as('admin', $$update public.social_connections set status = 'error'$$),
          '42501', 'an admin cannot update a connection directly');
select is(tests.affected_rows_as('admin', $$insert into public.social_connections (platform) values ('facebook')$$),
          '42501', 'an admin cannot insert a connection directly');
select is(tests.affected_rows_as('admin', $$delete from public.social_connections$$),
          '42501', 'an admin cannot delete a connection directly');
select is(tests.affected_rows_as('admin', $$select * from private.social_tokens$$),
          '42501', 'an admin cannot read the tokens');
select is(tests.affected_rows_as('agent_a', $$select * from private.oauth_states$$),
          '42501', 'an agent cannot read the states');
select is(tests.affected_rows_as('admin', $$select * from private.social_token('x')$$),
          '42501', 'an admin cannot call social_token');
select is(tests.affected_rows_as('admin', $$select private.disconnect_social('x')$$),
          '42501', 'an admin cannot call disconnect_social');
select is(tests.affected_rows_as('admin', $$select private.create_oauth_state(repeat('a', 64), 'x', null, null, null)$$),
          '42501', 'an admin cannot create a state');
select is(tests.affected_rows_as('anon', $$select * from private.consume_oauth_state(repeat('a', 64), 'x')$$),
          '42501', 'anon cannot consume a state');
select is(tests.affected_rows_as('admin', $$select private.rekey_social_tokens('x', '{}', 'k9', '{}', 'k0123')$$),
          '42501', 'an admin cannot rekey tokens');

-- States: consumed once, never after expiry, never for another platform.
select tests.authenticate_as_service_role();
select ok(private.create_oauth_state(repeat('a', 64), 'x', 'CQoL', 'k0123', null) > now(),
          'a state is created with an expiry ahead');
select ok(private.create_oauth_state(repeat('b', 64), 'x', null, null, null, interval '-1 second') < now(),
          'a state may be created already expired (the expiry test)');
select ok(private.create_oauth_state(repeat('c', 64), 'facebook', null, null, null) > now(),
          'a facebook state is created');
select is((select code_verifier from private.consume_oauth_state(repeat('a', 64), 'x')), 'CQoL',
          'a fresh state is consumed, giving back its encrypted verifier');
select is_empty($$select * from private.consume_oauth_state(repeat('a', 64), 'x')$$, 'a used state is refused');
select is_empty($$select * from private.consume_oauth_state(repeat('b', 64), 'x')$$, 'an expired state is refused');
select is_empty($$select * from private.consume_oauth_state(repeat('c', 64), 'linkedin')$$,
                'a state is refused for another platform');
select is_empty($$select * from private.consume_oauth_state(repeat('d', 64), 'x')$$, 'an unknown state is refused');
select throws_ok($$select private.create_oauth_state('not-a-hash', 'x', null, null, null)$$, '23514', null,
                 'a state hash must be sha256 hex');

-- Rekeying swaps the ciphertexts only while they are still the ones read.
select is(private.rekey_social_tokens('x', '{"access_token": "CgsM"}', 'k2', '{"access_token": "AAAA"}', 'k0123'),
          false, 'a rekey over ciphertexts that changed meanwhile does nothing');
select is(private.rekey_social_tokens('x', '{"access_token": "CgsM", "refresh_token": "DQ4P"}', 'k2',
                                      '{"access_token": "AAECAw==", "refresh_token": "BAUGBw=="}', 'k0123'),
          true, 'a rekey over the ciphertexts read replaces them');
select is((select tokens || jsonb_build_object('key_id', key_id) from private.social_token('x')),
          '{"access_token": "CgsM", "refresh_token": "DQ4P", "key_id": "k2"}'::jsonb,
          'under the new key id');

-- Errors and disconnection.
select is((select status from private.record_social_error('x', 'refresh failed: invalid_grant')), 'error',
          'an error marks the connection');
select is((select status || ' ' || coalesce(expires_at::text, 'no expiry') from private.disconnect_social('x')),
          'disconnected no expiry', 'disconnecting marks it disconnected');
select is_empty($$select * from private.social_token('x')$$, 'and deletes its tokens');
select is((select status from private.record_social_error('x', 'late')), 'disconnected',
          'a late error leaves a disconnected connection disconnected');
reset role;

select * from finish();
rollback;
