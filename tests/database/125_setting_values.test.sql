-- Setting values are checked when they are written (20261130230500): each key's rule is a row of
-- private.setting_rules, and a trigger holds every insert and update of public.app_settings to it.
-- 1. Every setting has a rule, every key a function reads too, and every value as shipped passes.
-- 2. The values that stopped the daily reminder run (or made the campaign stats a 400) and more
--    that are wrong (null, wrong types, negative, huge, fractional, malformed times, zones, URLs,
--    intervals, missing and unknown fields; promotional hours outside TRAI's 10:00-21:00, equal or
--    backwards, 20261201020000): each refused with 22023 and what the key expects; no setting
--    changed.
-- 3. Good values are taken, edge ones included.
-- 4. An admin over the API's role is refused the same way (PostgREST answers 400 with the
--    message), as is service_role, and a session in replica mode; the admin may set a good value.
-- 5. A key needs a rule; a rule must pass its setting's current value and cannot go under it.
-- 6. After refused writes the cadence runs and reminds; a value like those refused stopped it.
begin;
select plan(167);
select tests.create_test_org();

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

-- 1. Coverage -------------------------------------------------------------------------------------

select is(
  array(select s.key from public.app_settings s
         where not exists (select 1 from private.setting_rules r where r.key = s.key) order by 1),
  '{}'::text[], 'every setting has a rule');
select is(
  array(select distinct m[2]
          from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace and n.nspname in ('public', 'private')
         cross join lateral regexp_matches(p.prosrc,
                                           '(setting|setting_interval|retention_number)\(''([A-Z][A-Z0-9_]*)''',
                                           'g') m
         where not exists (select 1 from private.setting_rules r where r.key = m[2])
         order by 1),
  '{}'::text[], 'every key a function of ours reads has a rule');
select is(
  array(select s.key from public.app_settings s join private.setting_rules r on r.key = s.key
         where private.setting_value_problem(s.key, r.rule, s.value) is not null order by 1),
  '{}'::text[], 'every value as shipped passes its rule');
select lives_ok($$update public.app_settings set value = value$$,
  'and every one of them is taken when written again');

create temporary table shipped on commit drop as select key, value from public.app_settings;

-- 2. Refused ------------------------------------------------------------------------------------

create temporary table refused (n serial, key text, value jsonb, message text) on commit drop;
insert into refused (key, value, message) values
  -- What stopped the daily reminder run, or blamed the client for the campaign stats.
  ('CADENCE_RECENT_REPLY_HOURS', '1.5',
   'CADENCE_RECENT_REPLY_HOURS must be a whole number of hours from 1 to 720'),
  ('CADENCE_LINK_OPENED_HOURS', '"24 hours"',
   'CADENCE_LINK_OPENED_HOURS must be a whole number of hours from 1 to 720'),
  ('CALL_TASK_MIN_PREMIUM_PAISE', '5000000.0',
   'CALL_TASK_MIN_PREMIUM_PAISE must be a whole number of paise from 0 to 100000000000'),
  ('NCB_RETENTION_DAYS', '2147483647', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365'),
  ('CADENCE_BOUNCE_LOOKBACK_DAYS', '100000000',
   'CADENCE_BOUNCE_LOOKBACK_DAYS must be a whole number of days from 0 to 365'),
  ('QUIET_HOURS', '{"end": "8"}', 'QUIET_HOURS.end must be a time of day "HH:MM" (00:00 to 23:59) or null'),
  ('MESSAGE_FREQUENCY_CAPS', '{"marketing": {"max": 2, "days": 7}, "service": {"max": 3, "days": 1.5}}',
   'MESSAGE_FREQUENCY_CAPS.service.days must be a whole number of days from 1 to 365'),
  ('CAMPAIGN_CONVERSION_DAYS', '"30 days"', 'CAMPAIGN_CONVERSION_DAYS must be a whole number of days from 1 to 365'),
  -- Taken silently before.
  ('NCB_RETENTION_DAYS', '-30', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365'),
  -- Null JSON and wrong types.
  ('NCB_RETENTION_DAYS', 'null', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365'),
  ('NCB_RETENTION_DAYS', '"90"', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365'),
  ('NCB_RETENTION_DAYS', '[90]', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365'),
  ('NCB_RETENTION_DAYS', '90.5', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365'),
  ('ENABLE_SMS_CAMPAIGNS', '"false"', 'ENABLE_SMS_CAMPAIGNS must be true or false'),
  ('ENABLE_PAYMENT_LINKS', 'null', 'ENABLE_PAYMENT_LINKS must be true or false'),
  ('ENABLE_AI_ASSISTANT', '1', 'ENABLE_AI_ASSISTANT must be true or false'),
  ('GRACE_DAYS', 'null', 'GRACE_DAYS must be an object {health, home, life, life_monthly, motor}'),
  ('GRACE_DAYS', '[0, 30]', 'GRACE_DAYS must be an object {health, home, life, life_monthly, motor}'),
  ('QUIET_HOURS', 'null',
   'QUIET_HOURS must be an object {"start": "HH:MM" or null (no quiet hours), "end": "HH:MM"}'),
  ('MESSAGE_RETRY', '"5 tries"', 'MESSAGE_RETRY must be an object {base_seconds, max_attempts, max_seconds}'),
  -- Negative, zero where it means nothing, huge, fractional.
  ('CADENCE_RECENT_REPLY_HOURS', '0', 'CADENCE_RECENT_REPLY_HOURS must be a whole number of hours from 1 to 720'),
  ('CADENCE_PAYMENT_IN_PROGRESS_HOURS', '100000',
   'CADENCE_PAYMENT_IN_PROGRESS_HOURS must be a whole number of hours from 1 to 720'),
  ('HIGH_PRIORITY_PREMIUM_PAISE', '-1',
   'HIGH_PRIORITY_PREMIUM_PAISE must be a whole number of paise from 0 to 100000000000'),
  ('AUTOPAY_MANDATE_LIMIT_PAISE', '1e20',
   'AUTOPAY_MANDATE_LIMIT_PAISE must be a whole number of paise from 0 to 100000000000'),
  ('MESSAGE_LEASE_SECONDS', '0', 'MESSAGE_LEASE_SECONDS must be a whole number of seconds from 5 to 86400'),
  ('MESSAGE_STALL_LIMIT', '2.5', 'MESSAGE_STALL_LIMIT must be a whole number of leases from 1 to 100'),
  ('CONSENT_LINK_DAYS', '3651', 'CONSENT_LINK_DAYS must be a whole number of days from 1 to 3650'),
  ('AI_RETENTION_DAYS', '0', 'AI_RETENTION_DAYS must be a whole number of days from 1 to 36500'),
  ('AI_RATE_LIMIT_PER_MINUTE', '"ten"', 'AI_RATE_LIMIT_PER_MINUTE must be a whole number of requests from 0 to 100000'),
  ('ANALYST_STATEMENT_LIMIT_SECONDS', '0',
   'ANALYST_STATEMENT_LIMIT_SECONDS must be a whole number of seconds from 10 to 3600'),
  ('RETENTION_BATCH_SIZE', '5', 'RETENTION_BATCH_SIZE must be a whole number of rows from 10 to 100000'),
  -- Per-line maps: a line missing, a line unknown, a value out of range.
  ('GRACE_DAYS', '{"motor": 0, "health": 30, "life": 30, "home": 0}',
   'GRACE_DAYS.life_monthly is missing; it must be a whole number of days from 0 to 365'),
  ('GRACE_DAYS', '{"moter": 0, "motor": 0, "health": 30, "life": 30, "life_monthly": 15, "home": 0}',
   'GRACE_DAYS has no field "moter" (its fields: health, home, life, life_monthly, motor)'),
  ('GRACE_DAYS', '{"motor": 0, "health": 30, "life": 30, "life_monthly": 15, "home": -30}',
   'GRACE_DAYS.home must be a whole number of days from 0 to 365'),
  ('RENEWAL_LEAD_DAYS', '{"motor": 60, "health": 60, "life": 90, "home": "60"}',
   'RENEWAL_LEAD_DAYS.home must be a whole number of days from 0 to 365'),
  ('DOCUMENT_RETENTION_YEARS', '{"receipt": "eight", "kyc": 5}',
   'DOCUMENT_RETENTION_YEARS.endorsement is missing; it must be a whole number of years from 0 to 100'),
  ('PARTIAL_PAYMENTS', '{"life": {"min_first_percent": 0}}',
   'PARTIAL_PAYMENTS.life.min_first_percent must be a whole percentage from 1 to 100'),
  ('PARTIAL_PAYMENTS', '{"car": null}',
   'PARTIAL_PAYMENTS has no field "car" (its fields: health, home, life, motor)'),
  ('PARTIAL_PAYMENTS', '{"life": {"min_first": 25}}',
   'PARTIAL_PAYMENTS.life has no field "min_first" (its fields: min_first_percent)'),
  ('INSTALLMENT_LOADING_PCT', '{"monthly": 120}', 'INSTALLMENT_LOADING_PCT.monthly must be a percentage from 0 to 99'),
  ('INSTALLMENT_LOADING_PCT', '{"annual": 0}',
   'INSTALLMENT_LOADING_PCT has no field "annual" (its fields: half_yearly, monthly, quarterly)'),
  -- Objects with given fields.
  ('MESSAGE_FREQUENCY_CAPS', '{"transactional": {"max": 1, "days": 1}}',
   'MESSAGE_FREQUENCY_CAPS has no field "transactional" (its fields: marketing, service)'),
  ('MESSAGE_FREQUENCY_CAPS', '{"service": {"max": 0, "days": 1}}',
   'MESSAGE_FREQUENCY_CAPS.service.max must be a whole number of messages from 1 to 1000'),
  ('MESSAGE_FREQUENCY_CAPS', '{"marketing": {"max": 2}}',
   'MESSAGE_FREQUENCY_CAPS.marketing.days is missing; it must be a whole number of days from 1 to 365'),
  ('MESSAGE_RATES_PAISE', '{"sms_segment": -25, "email": 0.85, "whatsapp_utility": 11.5, "whatsapp_marketing": 86.31, "whatsapp_authentication": 11.5, "whatsapp_service": 0}',
   'MESSAGE_RATES_PAISE.sms_segment must be a number of paise from 0 to 100000'),
  ('MESSAGE_RATES_PAISE', '{"sms_segment": 25}',
   'MESSAGE_RATES_PAISE.email is missing; it must be a number of paise from 0 to 100000'),
  ('MESSAGE_RETRY', '{"max_attempts": 5, "base_seconds": 30, "max_seconds": 3}',
   'MESSAGE_RETRY.max_seconds must be at least base_seconds (30)'),
  ('MESSAGE_RETRY', '{"max_attempts": 0, "base_seconds": 30, "max_seconds": 3600}',
   'MESSAGE_RETRY.max_attempts must be a whole number of attempts from 1 to 100'),
  ('MESSAGE_RETRY', '{"max_attempts": 5, "base_seconds": 0, "max_seconds": 3600}',
   'MESSAGE_RETRY.base_seconds must be a number of seconds from 0.01 to 86400'),
  ('PROVIDER_BREAKER', '{"failures": 5, "open_seconds": 0.5}',
   'PROVIDER_BREAKER.open_seconds must be a whole number of seconds from 1 to 3600'),
  ('PROVIDER_BREAKER', '{"failures": 5}',
   'PROVIDER_BREAKER.open_seconds is missing; it must be a whole number of seconds from 1 to 3600'),
  ('AI_PRICE_PAISE_PER_1K_TOKENS', '{"input": "cheap", "output": 5.28}',
   'AI_PRICE_PAISE_PER_1K_TOKENS.input must be a number of paise from 0 to 1000000'),
  ('VENDOR_MONTHLY_BUDGET_PAISE', '{"twilio": "lots"}',
   'VENDOR_MONTHLY_BUDGET_PAISE.twilio must be a whole number of paise from 1 to 100000000000'),
  ('VENDOR_MONTHLY_BUDGET_PAISE', '{"twilio": 0}',
   'VENDOR_MONTHLY_BUDGET_PAISE.twilio must be a whole number of paise from 1 to 100000000000'),
  ('VENDOR_MONTHLY_BUDGET_PAISE', '{"Twilio SMS": 5000}',
   'VENDOR_MONTHLY_BUDGET_PAISE has a key "Twilio SMS" that is not a vendor code (lower case, e.g. twilio)'),
  -- Hours "HH:MM".
  ('QUIET_HOURS', '{"start": "21:00"}',
   'QUIET_HOURS.end must be a time of day "HH:MM" (00:00 to 23:59) when start is set'),
  ('QUIET_HOURS', '{"end": "08:00"}',
   'QUIET_HOURS.start is missing; it must be a time of day "HH:MM" (00:00 to 23:59) or null'),
  ('QUIET_HOURS', '{"start": "9pm", "end": "08:00"}',
   'QUIET_HOURS.start must be a time of day "HH:MM" (00:00 to 23:59) or null'),
  ('PROMOTIONAL_HOURS', '{"start": "10:00", "end": "24:00"}',
   'PROMOTIONAL_HOURS.end must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "10:60", "end": "21:00"}',
   'PROMOTIONAL_HOURS.start must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "8:00", "end": "21:00"}',
   'PROMOTIONAL_HOURS.start must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": null, "end": "21:00"}',
   'PROMOTIONAL_HOURS.start must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "10:00", "end": "21:00", "days": "weekdays"}',
   'PROMOTIONAL_HOURS has no field "days" (its fields: end, start)'),
  ('PROMOTIONAL_HOURS', '{"start": "10:00"}',
   'PROMOTIONAL_HOURS.end is missing; it must be a time of day "HH:MM" from 10:00 to 21:00'),
  -- Promotional hours outside TRAI's 10:00-21:00 IST (TCCCPR 2018): before, past, always open
  -- (equal ends), backwards, across midnight.
  ('PROMOTIONAL_HOURS', '{"start": "09:00", "end": "21:00"}',
   'PROMOTIONAL_HOURS.start must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "10:00", "end": "21:30"}',
   'PROMOTIONAL_HOURS.end must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "09:00", "end": "23:59"}',
   'PROMOTIONAL_HOURS.end must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "00:00", "end": "00:00"}',
   'PROMOTIONAL_HOURS.end must be a time of day "HH:MM" from 10:00 to 21:00'),
  ('PROMOTIONAL_HOURS', '{"start": "12:00", "end": "12:00"}',
   'PROMOTIONAL_HOURS.end must be later than start (12:00)'),
  ('PROMOTIONAL_HOURS', '{"start": "21:00", "end": "21:00"}',
   'PROMOTIONAL_HOURS.end must be later than start (21:00)'),
  ('PROMOTIONAL_HOURS', '{"start": "20:00", "end": "11:00"}',
   'PROMOTIONAL_HOURS.end must be later than start (20:00)'),
  ('PROMOTIONAL_HOURS', '{"start": "20:00", "end": "10:00"}',
   'PROMOTIONAL_HOURS.end must be later than start (20:00)'),
  ('PROMOTIONAL_HOURS', '{"start": "22:00", "end": "21:00"}',
   'PROMOTIONAL_HOURS.start must be a time of day "HH:MM" from 10:00 to 21:00'),
  -- Time zones.
  ('BUSINESS_TIME_ZONE', '"IST"',
   'BUSINESS_TIME_ZONE must be a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'),
  ('BUSINESS_TIME_ZONE', '"Asia/Calcutta "',
   'BUSINESS_TIME_ZONE must be a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'),
  ('BUSINESS_TIME_ZONE', '"Mars/Olympus_Mons"',
   'BUSINESS_TIME_ZONE must be a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'),
  ('BUSINESS_TIME_ZONE', '"posix/Asia/Kolkata"',
   'BUSINESS_TIME_ZONE must be a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'),
  ('BUSINESS_TIME_ZONE', '"+05:30"',
   'BUSINESS_TIME_ZONE must be a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'),
  ('BUSINESS_TIME_ZONE', '""',
   'BUSINESS_TIME_ZONE must be a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'),
  -- URLs.
  ('LINK_BASE_URL', '"javascript:alert(1)"',
   'LINK_BASE_URL must be an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'),
  ('LINK_BASE_URL', '"go.py360.example/l"',
   'LINK_BASE_URL must be an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'),
  ('LINK_BASE_URL', '"ftp://go.py360.example"',
   'LINK_BASE_URL must be an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'),
  ('LINK_BASE_URL', '"https://go.py360.example/l?src=sms"',
   'LINK_BASE_URL must be an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'),
  ('LINK_BASE_URL', '"https://go py360.example"',
   'LINK_BASE_URL must be an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'),
  ('CONSENT_PAGE_BASE_URL', '"https://"',
   'CONSENT_PAGE_BASE_URL must be an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'),
  -- Intervals, strings, sizes.
  ('PAYMENT_LINK_TTL', '"-1 day"', 'PAYMENT_LINK_TTL must be an interval such as "15 days", from 1 hour to 180 days'),
  ('PAYMENT_LINK_TTL', '"1 year"', 'PAYMENT_LINK_TTL must be an interval such as "15 days", from 1 hour to 180 days'),
  ('RAZORPAY_ORDER_TTL', '"forever"',
   'RAZORPAY_ORDER_TTL must be an interval such as "30 minutes", from 1 second to 1 day'),
  ('RAZORPAY_ORDER_TTL', '1800',
   'RAZORPAY_ORDER_TTL must be an interval such as "30 minutes", from 1 second to 1 day'),
  ('RAZORPAY_WEBHOOK_REPLAY_WINDOW', '"100000000 years"',
   'RAZORPAY_WEBHOOK_REPLAY_WINDOW must be an interval such as "7 days", from 1 hour to 90 days'),
  ('AUTOPAY_MIN_LEAD', '"1 hour"', 'AUTOPAY_MIN_LEAD must be an interval such as "48 hours", from 37 hours to 90 days'),
  ('AI_MODEL', '" gpt-4o-mini"',
   'AI_MODEL must be a model name such as "gpt-4o-mini" (letters, digits, . _ : / -; at most 100 characters)'),
  ('CONSENT_NOTICE_VERSION', '""',
   'CONSENT_NOTICE_VERSION must be a notice version such as "2026-11" (printable ASCII, 1 to 100 characters, no space at either end)'),
  ('ANALYST_TEMP_FILE_LIMIT', '"1 GB"',
   'ANALYST_TEMP_FILE_LIMIT must be a size such as "1GB" (a whole number of kB, MB, GB or TB) from 1MB to 1TB, or "-1" for no limit'),
  ('ANALYST_TEMP_FILE_LIMIT', '"2TB"',
   'ANALYST_TEMP_FILE_LIMIT must be a size such as "1GB" (a whole number of kB, MB, GB or TB) from 1MB to 1TB, or "-1" for no limit'),
  ('ANALYST_TEMP_FILE_LIMIT', '-1',
   'ANALYST_TEMP_FILE_LIMIT must be a size such as "1GB" (a whole number of kB, MB, GB or TB) from 1MB to 1TB, or "-1" for no limit');

select throws_ok(format('update public.app_settings set value = %L where key = %L', r.value, r.key),
                 '22023', r.message, format('%s = %s is refused', r.key, r.value))
  from refused r order by r.n;

-- An insert that would overwrite a setting is checked too.
select throws_ok(
  $$insert into public.app_settings (key, value, description) values ('NCB_RETENTION_DAYS', '-30', 'x')
    on conflict (key) do update set value = excluded.value$$,
  '22023', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365',
  'an upsert is checked on its insert');
select is(
  (select count(*)::integer from public.app_settings s join shipped p using (key)
    where s.value is distinct from p.value),
  0, 'no refused write changed a setting');

-- 3. Taken --------------------------------------------------------------------------------------

create temporary table taken (n serial, key text, value jsonb) on commit drop;
insert into taken (key, value) values
  ('NCB_RETENTION_DAYS', '0'), ('NCB_RETENTION_DAYS', '365'), ('NCB_RETENTION_DAYS', '1e2'),
  ('CADENCE_RECENT_REPLY_HOURS', '1'), ('CADENCE_RECENT_REPLY_HOURS', '720'),
  ('CALL_TASK_MIN_PREMIUM_PAISE', '0'), ('ENABLE_SMS_CAMPAIGNS', 'false'),
  ('QUIET_HOURS', '{"start": null}'), ('QUIET_HOURS', '{"start": null, "end": null}'),
  ('QUIET_HOURS', '{"start": "22:30", "end": "07:00"}'), ('QUIET_HOURS', '{"start": "00:00", "end": "00:00"}'),
  ('PROMOTIONAL_HOURS', '{"start": "10:00", "end": "21:00"}'),
  ('PROMOTIONAL_HOURS', '{"start": "11:00", "end": "20:00"}'),
  ('PROMOTIONAL_HOURS', '{"start": "20:59", "end": "21:00"}'),
  ('MESSAGE_FREQUENCY_CAPS', '{}'), ('MESSAGE_FREQUENCY_CAPS', '{"marketing": {"max": 100, "days": 1}}'),
  ('MESSAGE_RETRY', '{"max_attempts": 3, "base_seconds": 0.05, "max_seconds": 0.2}'),
  ('MESSAGE_RETRY', '{"max_attempts": 2, "base_seconds": 1, "max_seconds": 1}'),
  ('PROVIDER_BREAKER', '{"failures": 2, "open_seconds": 300}'),
  ('BUSINESS_TIME_ZONE', '"UTC"'), ('BUSINESS_TIME_ZONE', '"America/New_York"'),
  ('BUSINESS_TIME_ZONE', '"Asia/Calcutta"'),
  ('LINK_BASE_URL', '"https://py3.in/"'), ('LINK_BASE_URL', '"https://abcdefghijklmnopqrst.supabase.co/functions/v1/go"'),
  ('CONSENT_PAGE_BASE_URL', '"http://127.0.0.1:54321/functions/v1/consent"'),
  ('GRACE_DAYS', '{"motor": 0, "health": 30, "life": 30, "life_monthly": 15, "home": 7}'),
  ('PARTIAL_PAYMENTS', '{}'), ('PARTIAL_PAYMENTS', '{"home": {"min_first_percent": 50}, "life": null}'),
  ('INSTALLMENT_LOADING_PCT', '{"monthly": 2.5}'),
  ('VENDOR_MONTHLY_BUDGET_PAISE', '{}'), ('VENDOR_MONTHLY_BUDGET_PAISE', '{"twilio": 2000000, "aws_ses": 50000}'),
  ('MESSAGE_RATES_PAISE', '{"sms_segment": 20, "email": 0, "whatsapp_utility": 11.5, "whatsapp_marketing": 86.31, "whatsapp_authentication": 11.5, "whatsapp_service": 0}'),
  ('AUTOPAY_MIN_LEAD', '"37 hours"'), ('AUTOPAY_MIN_LEAD', '"45 days"'), ('PAYMENT_LINK_TTL', '"6 months"'),
  ('RAZORPAY_ORDER_TTL', '"1 second"'),
  ('ANALYST_TEMP_FILE_LIMIT', '"-1"'), ('ANALYST_TEMP_FILE_LIMIT', '"512MB"'), ('ANALYST_TEMP_FILE_LIMIT', '"1TB"'),
  ('AI_MODEL', '"gpt-4.1-mini"'), ('AI_RATE_LIMIT_PER_MINUTE', '0'), ('AI_USER_DAILY_BUDGET_PAISE', '0'),
  ('CONSENT_NOTICE_VERSION', '"2027-01 rev 2"');

select lives_ok(format('update public.app_settings set value = %L where key = %L', t.value, t.key),
                format('%s = %s is taken', t.key, t.value))
  from taken t order by t.n;
select is((select value from public.app_settings where key = 'CONSENT_NOTICE_VERSION'), '"2027-01 rev 2"'::jsonb,
  'and stored');
update public.app_settings s set value = p.value from shipped p where p.key = s.key;

-- 4. Whoever writes -----------------------------------------------------------------------------

select tests.authenticate_as('admin');
select throws_ok($$update public.app_settings set value = '-30' where key = 'NCB_RETENTION_DAYS'$$,
  '22023', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365',
  'an admin over the API role is refused the same way (PostgREST: 400 with the message)');
select throws_ok($$update public.app_settings set value = '{"end": "8"}' where key = 'QUIET_HOURS'$$,
  '22023', 'QUIET_HOURS.end must be a time of day "HH:MM" (00:00 to 23:59) or null',
  'a malformed time too, named by its field');
select throws_ok(
  $$update public.app_settings set value = '{"start": "10:00", "end": "10:00"}' where key = 'PROMOTIONAL_HOURS'$$,
  '22023', 'PROMOTIONAL_HOURS.end must be later than start (10:00)',
  'promotional hours always open (equal ends) are refused to an admin: TRAI''s 10:00-21:00 is law');
select lives_ok($$update public.app_settings set value = '45' where key = 'NCB_RETENTION_DAYS'$$,
  'the admin sets a good value');
reset role;
select is((select (value = '45', updated_by = tests.get_user_id('admin'))::text
             from public.app_settings where key = 'NCB_RETENTION_DAYS'),
  '(t,t)', 'it is stored, with who set it');
select is((select value from public.app_settings where key = 'PROMOTIONAL_HOURS'),
  '{"start": "10:00", "end": "21:00"}'::jsonb, 'the refused promotional hours changed nothing');
select tests.authenticate_as_service_role();
select throws_ok($$update public.app_settings set value = '"ninety"' where key = 'NCB_RETENTION_DAYS'$$,
  '22023', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365', 'so is the backend');
reset role;
set local session_replication_role = replica;
select throws_ok($$update public.app_settings set value = '-30' where key = 'NCB_RETENTION_DAYS'$$,
  '22023', 'NCB_RETENTION_DAYS must be a whole number of days from 0 to 365',
  'and a session in replica mode (a bulk load): the check fires always');
set local session_replication_role = origin;
select tests.authenticate_as('admin');
select throws_ok($$select count(*) from private.setting_rules$$, '42501', null,
  'the rules are private: the admin cannot read them');
reset role;

-- 5. Rules --------------------------------------------------------------------------------------

select throws_ok(
  $$insert into public.app_settings (key, value, description) values ('T125_LIMIT', '3', 'A test limit.')$$,
  '22023', 'the setting T125_LIMIT has no rule: a migration that adds a setting adds its rule to private.setting_rules first',
  'a key without a rule is refused, whoever inserts it');
insert into private.setting_rules (key, rule) values ('T125_LIMIT', '{"type": "integer", "min": 1, "max": 5}');
select throws_ok(
  $$insert into public.app_settings (key, value, description) values ('T125_LIMIT', '9', 'A test limit.')$$,
  '22023', 'T125_LIMIT must be a whole number from 1 to 5', 'with its rule, a new key''s value is checked');
select lives_ok(
  $$insert into public.app_settings (key, value, description) values ('T125_LIMIT', '3', 'A test limit.')$$,
  'and a good one inserted');
select throws_ok($$update private.setting_rules set rule = '{"type": "boolean"}' where key = 'T125_LIMIT'$$,
  '22023', 'the rule of T125_LIMIT refuses its current value: T125_LIMIT must be true or false',
  'a rule changed under a value it refuses is refused');
select throws_ok($$delete from private.setting_rules where key = 'T125_LIMIT'$$, '23503', null,
  'a rule cannot go while its setting is there');
select throws_ok($$update public.app_settings set key = 'T125_OTHER' where key = 'T125_LIMIT'$$,
  '22023', 'the setting T125_OTHER has no rule: a migration that adds a setting adds its rule to private.setting_rules first',
  'nor can a setting move to a key without one');
-- A time's bounds, either alone (20261201020000).
insert into private.setting_rules (key, rule) values ('T125_OPENS', '{"type": "time", "min": "08:00"}');
select throws_ok(
  $$insert into public.app_settings (key, value, description) values ('T125_OPENS', '"07:59"', 'A test time.')$$,
  '22023', 'T125_OPENS must be a time of day "HH:MM" from 08:00 to 23:59', 'a time before its min is refused');
select lives_ok(
  $$insert into public.app_settings (key, value, description) values ('T125_OPENS', '"08:00"', 'A test time.')$$,
  'and its min itself taken');

-- 6. The cadence after refused writes -----------------------------------------------------------

insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('renewal_due', 'whatsapp', 'en', 'service',
        'Hello {{customer_name}}, {{policy_number}} expires on {{expiry_date}}. Premium {{premium}}.',
        'renewal_due_en', 'utility', 'approved', 4)
on conflict do nothing;
insert into public.customers (id, full_name, phone)
values ('c0000000-0000-4000-8000-000000000125', 'Setting Values', '+919710001251');
insert into public.consents (customer_id, channel, purpose, status, source)
values ('c0000000-0000-4000-8000-000000000125', 'whatsapp', 'service', 'granted', 'import');
insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date)
values ('d0000000-0000-4000-8000-000000000125', 'T-SV-125', 'motor', 'Test',
        'c0000000-0000-4000-8000-000000000125', tests.get_user_id('agent_a'), 1200000, 50000000,
        date '2035-03-01' - 365, '2035-03-01');
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
values ('d0000000-0000-4000-8000-000000000125', 'c0000000-0000-4000-8000-000000000125',
        tests.get_user_id('agent_a'), '2035-03-01', '2035-03-01');

-- Before the rules, a value like those refused above stopped the whole run.
savepoint unchecked;
select tests.write_settings_unchecked('{"CADENCE_RECENT_REPLY_HOURS": 1.5}');
select throws_ok($$select * from private.run_reminder_cadence(pg_temp.ist(date '2035-03-01' - 30))$$,
  '22P02', null, 'CADENCE_RECENT_REPLY_HOURS = 1.5 written past its rule stops the cadence (why the rule)');
rollback to savepoint unchecked;

select throws_ok($$update public.app_settings set value = '1.5' where key = 'CADENCE_RECENT_REPLY_HOURS'$$,
  '22023', 'CADENCE_RECENT_REPLY_HOURS must be a whole number of hours from 1 to 720',
  'written now, it is refused');
select lives_ok($$select * from private.run_reminder_cadence(pg_temp.ist(date '2035-03-01' - 30))$$,
  'and after all the refused writes the cadence runs');
select is((select array_agg(m.status::text || ' ' || m.channel::text) from public.messages m
            where m.customer_id = 'c0000000-0000-4000-8000-000000000125'),
  array['queued whatsapp'], 'the customer gets their -30 reminder');

select * from finish();
rollback;
