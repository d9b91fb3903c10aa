-- Feature flags: the desk reads them, only admins change them.
begin;
select plan(8);
select tests.create_test_org();

select isnt_empty($$select 1 from public.app_settings where key = 'ENABLE_WHATSAPP_CAMPAIGNS'$$,
  'the specification''s feature flags exist');

select tests.authenticate_as('agent_a');
select is((select value from public.app_settings where key = 'ENABLE_SMS_CAMPAIGNS'), 'true'::jsonb,
  'an agent reads the flags');
update public.app_settings set value = 'false' where key = 'ENABLE_SMS_CAMPAIGNS';
select tests.authenticate_as('analyst');
select is_empty('select 1 from public.app_settings', 'an analyst reads no flag: analytics is theirs');
select tests.authenticate_as('newcomer');
select is_empty('select 1 from public.app_settings', 'an inactive user reads no flag');
select tests.clear_authentication();
select throws_ok('select 1 from public.app_settings', '42501',
  'permission denied for table app_settings', 'anon reads no flag');
reset role;
select is((select value from public.app_settings where key = 'ENABLE_SMS_CAMPAIGNS'), 'true'::jsonb,
  'an agent cannot change a flag');

select tests.authenticate_as('admin');
update public.app_settings set value = 'false' where key = 'ENABLE_SMS_CAMPAIGNS';
reset role;
select is((select value from public.app_settings where key = 'ENABLE_SMS_CAMPAIGNS'), 'false'::jsonb,
  'an admin can change a flag');
select is((select updated_by from public.app_settings where key = 'ENABLE_SMS_CAMPAIGNS'),
  tests.get_user_id('admin'), 'and the change records who made it');

select * from finish();
rollback;
