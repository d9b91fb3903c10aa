-- The profile follows its auth user and never blocks one: GoTrue inserts and updates auth.users in
-- its own transactions, so a trigger of ours that raised there would fail the sign-up itself.
begin;
select plan(9);
select tests.create_test_org();

select lives_ok(
  $$insert into auth.users (id, email, raw_app_meta_data)
    values ('a0000000-0000-4000-8000-000000000013', 'typo@tests.py360.test',
            '{"role": "agent", "node": "T_TEEM_A"}')$$,
  'a misspelled node in app_metadata does not fail the sign-up');
select results_eq(
  $$select role::text, node_id, active from public.profiles
     where id = 'a0000000-0000-4000-8000-000000000013'$$,
  $$values ('agent', null::uuid, false)$$,
  'the profile waits, inactive and without a node, for an admin');

-- An address moves from one user to another.
update auth.users set email = 'agent_a.new@tests.py360.test' where id = tests.get_user_id('agent_a');
select is((select email::text from public.profiles where id = tests.get_user_id('agent_a')),
  'agent_a.new@tests.py360.test', 'a changed email is copied to the profile');
select lives_ok(
  $$insert into auth.users (id, email, raw_app_meta_data)
    values ('a0000000-0000-4000-8000-000000000014', 'agent_a@tests.py360.test',
            '{"role": "agent", "node": "T_TEAM_A"}')$$,
  'a new user may sign up with the freed address');
select results_eq(
  $$select email::text, active from public.profiles where id = 'a0000000-0000-4000-8000-000000000014'$$,
  $$values ('agent_a@tests.py360.test', true)$$,
  'and gets their profile');

-- An SSO identity may share an address with a password user (auth's uniqueness is partial).
select lives_ok(
  $$insert into auth.users (id, email, is_sso_user, raw_app_meta_data)
    values ('a0000000-0000-4000-8000-000000000015', 'agent_b@tests.py360.test', true, '{}')$$,
  'an SSO user with a password user''s address signs up');
select is((select count(*)::int from public.profiles where email = 'agent_b@tests.py360.test'), 2,
  'both have profiles');

-- Whatever else goes wrong in the profile insert, the auth user is still created.
alter table public.profiles add constraint test_refuses_boom check (full_name <> 'Boom');
select lives_ok(
  $$insert into auth.users (id, email, raw_user_meta_data, raw_app_meta_data)
    values ('a0000000-0000-4000-8000-000000000016', 'boom@tests.py360.test',
            '{"full_name": "Boom"}', '{"role": "agent", "node": "T_TEAM_A"}')$$,
  'an unexpected failure in the profile trigger does not fail the sign-up');
select is_empty($$select 1 from public.profiles where id = 'a0000000-0000-4000-8000-000000000016'$$,
  'that user simply has no profile, and so no access, until an admin repairs it');

select * from finish();
rollback;
