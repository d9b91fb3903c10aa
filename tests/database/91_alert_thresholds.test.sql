-- Alert thresholds the evaluator reads as whole numbers are whole when saved (migration
-- 20261129234611_check_alert_thresholds_are_whole, review of issue 11 defect 6): a fraction (or
-- 15.0) in window_minutes, minutes, grace_minutes, window_hours, the counts or the seconds is
-- refused with 22023 naming the key, by an admin's update as by an insert; percentages keep
-- their decimals; a whole value evaluates; a fraction saved before this check fails its rule
-- alone, with last_error saying why.
begin;
select plan(20);
select tests.create_test_book();

-- An admin's updates (the trigger checks every write, whoever makes it).
select tests.authenticate_as('admin');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 2.5}' where code = 'queue_delay'$$,
  '22023', 'threshold.minutes must be a whole number from 1 to 1440', 'queue_delay: 2.5 minutes refused');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 15.0}' where code = 'queue_delay'$$,
  '22023', 'threshold.minutes must be a whole number from 1 to 1440', 'queue_delay: 15.0 (a cast of its text fails) refused');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 1441}' where code = 'queue_delay'$$,
  '22023', 'threshold.minutes must be a number from 1 to 1440', 'queue_delay: above the range refused');
select throws_ok($$update public.alert_rules set threshold = '{"window_minutes": 15.5, "min_attempts": 20, "error_rate_percent": 20}' where code = 'provider_error_rate'$$,
  '22023', 'threshold.window_minutes must be a whole number from 1 to 1440', 'provider_error_rate: 15.5 window_minutes refused');
select throws_ok($$update public.alert_rules set threshold = '{"window_minutes": 15, "min_attempts": 2.5, "error_rate_percent": 20}' where code = 'provider_error_rate'$$,
  '22023', 'threshold.min_attempts must be a whole number from 1 to 1000000', 'provider_error_rate: a fractional count refused');
select throws_ok($$update public.alert_rules set threshold = '{"min_open_seconds": 0.5}' where code = 'provider_breaker_open'$$,
  '22023', 'threshold.min_open_seconds must be a whole number from 0 to 86400', 'provider_breaker_open: fractional seconds refused');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 30.5, "min_sent": 5, "grace_minutes": 5}' where code = 'webhooks_silent'$$,
  '22023', 'threshold.minutes must be a whole number from 1 to 1440', 'webhooks_silent: fractional minutes refused');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 30, "min_sent": 5, "grace_minutes": 4.5}' where code = 'webhooks_silent'$$,
  '22023', 'threshold.grace_minutes must be a whole number from 0 to 1440', 'webhooks_silent: fractional grace_minutes refused');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 30, "min_sent": 5.5, "grace_minutes": 5}' where code = 'webhooks_silent'$$,
  '22023', 'threshold.min_sent must be a whole number from 1 to 1000000', 'webhooks_silent: a fractional count refused');
select throws_ok($$update public.alert_rules set threshold = '{"window_hours": 1.5, "min_payments": 1}' where code = 'lost_payments'$$,
  '22023', 'threshold.window_hours must be a whole number from 1 to 720', 'lost_payments: fractional hours refused');
select throws_ok($$update public.alert_rules set threshold = '{"window_hours": 24, "min_payments": 0.5}' where code = 'lost_payments'$$,
  '22023', 'threshold.min_payments must be a number from 1 to 1000000', 'lost_payments: below the range refused');
reset role;
select is((select threshold from public.alert_rules where code = 'queue_delay'), '{"minutes": 15}',
  'the refused updates changed nothing');
select throws_ok($$insert into public.alert_rules (code, description, threshold) values ('queue_delay', 'x', '{"minutes": 2.5}')$$,
  '22023', 'threshold.minutes must be a whole number from 1 to 1440', 'an insert is checked too (before its key)');

-- Percentages keep their decimals; whole numbers (and 1e1, stored as 10) are accepted.
select tests.authenticate_as('admin');
select lives_ok($$update public.alert_rules set threshold = '{"percent": 80.5}' where code = 'provider_quota'$$,
  'a decimal percent is accepted');
select lives_ok($$update public.alert_rules set threshold = '{"window_minutes": 1e1, "min_attempts": 20, "error_rate_percent": 12.5}' where code = 'provider_error_rate'$$,
  'a whole window written 1e1 and a decimal error rate are accepted');
select lives_ok($$update public.alert_rules set threshold = '{"minutes": 2}' where code = 'queue_delay'$$,
  'two whole minutes are accepted');
reset role;

-- The saved whole values evaluate (queue_delay and provider_error_rate run with no error).
select is(private.evaluate_alerts(now() + interval '40 days') -> 'failed', '{}'::jsonb, 'every rule evaluates');
select is((select count(*)::integer from public.alert_rules where code in ('queue_delay', 'provider_error_rate', 'provider_quota') and last_error is null and last_evaluated_at is not null),
  3, 'the changed rules ran');

-- A fraction saved before the check (written here past the trigger) fails its rule alone, and
-- says why.
alter table public.alert_rules disable trigger _100_check;
update public.alert_rules set threshold = '{"minutes": 2.5}' where code = 'queue_delay';
alter table public.alert_rules enable trigger _100_check;
select is(private.evaluate_alerts(now() + interval '40 days') -> 'failed',
  '{"queue_delay": "threshold.minutes must be a whole number from 1 to 1440"}', 'the old fraction fails its rule alone');
select is((select last_error from public.alert_rules where code = 'queue_delay'),
  'threshold.minutes must be a whole number from 1 to 1440', 'last_error says why');

select * from finish();
rollback;
