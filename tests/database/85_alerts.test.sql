-- Alerts (migration 20261129230520_create_alerts): each rule fires on its condition, once per
-- subject however often it is evaluated, emails the admins once, stays quiet when it comes back
-- within its cooldown, resolves by itself when the condition clears (a short email), and a new
-- alert after the cooldown; thresholds checked on write; a rule that cannot be evaluated stops
-- no other; who reads and writes rules and alerts, per persona; the health figures' and the
-- alerts' emails' access (migration 20261129230634_count_alert_emails).
begin;
select plan(78);
select tests.create_test_book();

-- A clock far from the real one (40 days ahead, noon IST): nothing of the demo book or of the
-- real clock's evaluations is in its windows. The outbox and the breakers start quiet.
create function pg_temp.at(minutes numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 40) + time '12:00') at time zone 'Asia/Kolkata' + minutes * interval '1 minute' $$;
grant execute on function pg_temp.at(numeric) to service_role, authenticated;
update public.messages set status = 'cancelled', cancelled_at = now(), locked_by = null, locked_until = null
 where status in ('queued', 'sending');
update public.provider_state set breaker = 'closed', consecutive_failures = 0;
delete from public.alerts;

-- Only the rule under test is on (the others' alerts would be unrelated noise).
create function pg_temp.only(rule text) returns void
language sql
as $$ update public.alert_rules set enabled = (code = rule) $$;
-- One message with the given times (minutes from the clock), for the windows.
create function pg_temp.msg(provider text, status public.message_status, sending numeric,
                            sent numeric default null, failed numeric default null,
                            code text default null, deferred text default null,
                            due numeric default null) returns uuid
language sql
as $$
  insert into public.messages (customer_id, channel, purpose, body, recipient, idempotency_key,
                               status, provider, sending_at, sent_at, failed_at, dead_at,
                               dead_reason, last_error_code, deferred_reason, next_attempt_at,
                               queued_at)
  values (tests.fixture('customer_a'), (case when provider in ('aws_ses', 'sendgrid') then 'email' else 'sms' end)::public.channel_type,
          'service', 'x', '+919800000001', 'alert-test-' || gen_random_uuid(), status, provider,
          pg_temp.at(sending), pg_temp.at(sent),
          case when status in ('failed', 'undeliverable') then pg_temp.at(failed) end,
          case when status = 'dead' then pg_temp.at(failed) end,
          case when status = 'dead' then 'retries_exhausted' end, code, deferred,
          coalesce(pg_temp.at(due), pg_temp.at(sending)), pg_temp.at(coalesce(sending, due) - 1))
  returning id
$$;
create function pg_temp.evaluate(minutes numeric) returns jsonb
language sql
as $$ select private.evaluate_alerts(pg_temp.at(minutes)) $$;
create function pg_temp.alerts_of(rule text) returns text
language sql
as $$ select coalesce(string_agg(format('%s:%s:%s', a.subject, a.status, a.reopened), ',' order by a.raised_at, a.subject), '')
        from public.alerts a where a.rule = alerts_of.rule $$;
-- Emails queued about the alerts of a rule: kind (raised or resolved) and how many.
create function pg_temp.emails_of(rule text, kind text) returns integer
language sql
as $$ select count(*)::integer from public.messages m join public.alerts a on a.rule = emails_of.rule
        where m.staff_id is not null and m.idempotency_key like format('staff:%%:alert:%s:%s', a.id, kind) $$;
create temporary table admins on commit drop as
select count(*)::integer as n from public.profiles where role = 'admin' and active;
grant select on admins to authenticated;

-- The seeded rules.
select is((select string_agg(code, ',' order by code) from public.alert_rules),
  'lost_payments,provider_breaker_open,provider_error_rate,provider_quota,provider_spend,queue_delay,webhooks_silent',
  'the seven rules of the issue are seeded');
select is((select count(*)::integer from cron.job where jobname = 'evaluate-alerts' and schedule = '* * * * *'), 1,
  'pg_cron evaluates them every minute');

-- Provider error rate, with the cooldown's whole life.
select pg_temp.only('provider_error_rate');
select count(*) from (
  select pg_temp.msg('twilio', 'sent', -10, -10) from generate_series(1, 16)
  union all select pg_temp.msg('twilio', 'queued', -8, null, null, '20500', 'retry', 5) from generate_series(1, 3)
  union all select pg_temp.msg('twilio', 'failed', -6, null, -6, '30008')
  -- Below min_attempts (2 of 2 failed), and failures the customer caused (bounces): no alert.
  union all select pg_temp.msg('sendgrid', 'dead', -6, null, -6, '429') from generate_series(1, 2)
  union all select pg_temp.msg('aws_ses', 'sent', -10, -10) from generate_series(1, 10)
  union all select pg_temp.msg('aws_ses', 'failed', -6, null, -6, 'Bounce.Permanent') from generate_series(1, 10)
) m;
select is(pg_temp.evaluate(0) ->> 'raised', '1', 'one alert raised');
select is(pg_temp.alerts_of('provider_error_rate'), 'twilio:open:0',
  'for twilio at 4 errors in 20 (20 %); not for sendgrid (2 attempts) nor SES (bounces are the customer''s)');
select is((select (value, details ->> 'errors', details ->> 'attempts')::text from public.alerts
            where rule = 'provider_error_rate'), '(20.0,4,20)', 'its value and figures');
select is(pg_temp.emails_of('provider_error_rate', 'raised'), (select n from admins), 'every active admin is emailed');
select is((select string_agg(distinct m.subject, ',') from public.messages m join public.alerts a on a.rule = 'provider_error_rate'
            where m.idempotency_key like format('staff:%%:alert:%s:raised', a.id)),
  '[Py360] Alert: twilio: 20.0 % of sends failed in the last 15 minutes (4 of 20; threshold 20 %)',
  'the email says what and how much');
select is((select notified from public.alerts where rule = 'provider_error_rate'), (select n from admins),
  'the alert counts the emails');
select is(pg_temp.evaluate(1) ->> 'raised', '0', 'evaluated again a minute later: nothing raised');
select is(pg_temp.alerts_of('provider_error_rate'), 'twilio:open:0', 'still the one alert');
select is((select last_seen_at from public.alerts where rule = 'provider_error_rate'), pg_temp.at(1), 'seen again');
select is(pg_temp.emails_of('provider_error_rate', 'raised'), (select n from admins), 'and no second email');
select is(pg_temp.evaluate(30) ->> 'resolved', '1', 'half an hour later the window is clean: resolved');
select is((select (status, resolution, resolved_at = pg_temp.at(30))::text from public.alerts where rule = 'provider_error_rate'),
  '(resolved,cleared,t)', 'cleared at that evaluation');
select is(pg_temp.emails_of('provider_error_rate', 'resolved'), (select n from admins), 'the admins are told it resolved');
select count(*) from (
  select pg_temp.msg('twilio', 'sent', 40, 40) from generate_series(1, 10)
  union all select pg_temp.msg('twilio', 'failed', 40, null, 40, '20500') from generate_series(1, 10)
) m;
select is(pg_temp.evaluate(41) - 'open' - 'evaluated' - 'failed', '{"raised": 0, "reopened": 1, "resolved": 0}',
  'back within the cooldown (1 hour): reopened, not raised');
select is(pg_temp.alerts_of('provider_error_rate'), 'twilio:open:1', 'the same alert, open again');
select is(pg_temp.emails_of('provider_error_rate', 'raised'), (select n from admins), 'no new email');
select is(pg_temp.evaluate(60) ->> 'resolved', '1', 'it clears again');
select is(pg_temp.emails_of('provider_error_rate', 'resolved'), (select n from admins),
  'quietly: the reopened alert is not announced as resolved twice');
select count(*) from (
  select pg_temp.msg('twilio', 'dead', 200, null, 200, 'timeout') from generate_series(1, 20)
) m;
select is(pg_temp.evaluate(201) ->> 'raised', '1', 'after the cooldown the condition raises a new alert');
select is(pg_temp.alerts_of('provider_error_rate'), 'twilio:resolved:1,twilio:open:0', 'a second row');
select is(pg_temp.emails_of('provider_error_rate', 'raised'), 2 * (select n from admins), 'emailed again');

-- Breaker open.
select pg_temp.only('provider_breaker_open');
update public.provider_state set breaker = 'open', breaker_since = pg_temp.at(300) where provider = 'aws_sns';
insert into public.provider_breaker_events (provider, breaker, at) values ('aws_sns', 'open', pg_temp.at(300));
select is(pg_temp.evaluate(300) ->> 'raised', '1', 'an open breaker raises an alert');
update public.provider_state set breaker = 'half_open', breaker_since = pg_temp.at(301) where provider = 'aws_sns';
insert into public.provider_breaker_events (provider, breaker, at) values ('aws_sns', 'half_open', pg_temp.at(301));
select is(pg_temp.evaluate(302) ->> 'raised', '0', 'half open (probing) is the same alert');
select is((select (subject, status, value)::text from public.alerts where rule = 'provider_breaker_open'),
  '(aws_sns,open,120)', 'for aws_sns, open for two minutes since it left closed');
update public.provider_state set breaker = 'closed', breaker_since = pg_temp.at(303) where provider = 'aws_sns';
select is(pg_temp.evaluate(304) ->> 'resolved', '1', 'closed again: resolved');
select is(pg_temp.alerts_of('provider_breaker_open'), 'aws_sns:resolved:0', 'once raised, once resolved');

-- Quota at 80 %.
select pg_temp.only('provider_quota');
insert into private.provider_usage (provider, day, sent)
values ('twilio', private.business_date(pg_temp.at(400)), 39999);
select is(pg_temp.evaluate(400) ->> 'raised', '0', '39,999 of 50,000: no alert');
update private.provider_usage set sent = 40000 where provider = 'twilio' and day = private.business_date(pg_temp.at(400));
select is(pg_temp.evaluate(401) ->> 'raised', '1', '40,000 of 50,000 (80 %): raised');
select is(pg_temp.evaluate(402) ->> 'raised', '0', 'once');
select is((select (subject, value, details ->> 'daily_quota')::text from public.alerts where rule = 'provider_quota'),
  '(twilio,80.0,50000)', 'for twilio at 80 %');
select is(pg_temp.evaluate(400 + 24 * 60) ->> 'resolved', '1', 'the next IST day starts at 0: resolved');

-- Spend at 80 % of the budget, from the month's daily facts.
select pg_temp.only('provider_spend');
-- ("lots" is refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked(
  '{"VENDOR_MONTHLY_BUDGET_PAISE": {"whatsapp_cloud": 10000, "twilio": "lots"}}');
insert into analytics.message_facts (grain, bucket_start, day, audience, channel, provider, purpose, status,
                                     messages, sent, delivered, read, unconfirmed, cost_paise,
                                     actual_cost_paise, priced_messages, renewals, refreshed_at)
select 'day', d::timestamp at time zone 'Asia/Kolkata', d, 'customer', 'whatsapp', p, 'service', st::public.message_status,
       100, 100, 0, 0, 0, c, 0, 0, 0, now()
  from (values (date_trunc('month', private.business_date(pg_temp.at(2000)))::date, 'whatsapp_cloud', 'sent', 5000.0),
               (private.business_date(pg_temp.at(2000)), 'whatsapp_cloud', 'delivered', 2999.9999),
               (date_trunc('month', private.business_date(pg_temp.at(2000)))::date - 1, 'whatsapp_cloud', 'sent', 90000.0),
               (private.business_date(pg_temp.at(2000)), 'twilio', 'sent', 999999.0)) as f (d, p, st, c);
select is(pg_temp.evaluate(2000) ->> 'raised', '0',
  '₹79.99 of ₹100 this month (last month''s spend does not count; a budget that is not a number is none): no alert');
update analytics.message_facts set cost_paise = 3000 where provider = 'whatsapp_cloud' and cost_paise = 2999.9999;
select is(pg_temp.evaluate(2001) ->> 'raised', '1', '₹80 of ₹100: raised');
select is((select (subject, value, details ->> 'spend_month_paise', details ->> 'budget_paise')::text
             from public.alerts where rule = 'provider_spend'),
  '(whatsapp_cloud,80.0,8000.0000,10000)', 'for whatsapp_cloud at 80 %, from the facts');
select is((select summary from public.alerts where rule = 'provider_spend'),
  'whatsapp_cloud: ₹80.00 spent this month, 80.0 % of its budget of ₹100.00 (threshold 80 %)', 'in rupees');
select is(pg_temp.evaluate(2000 + 40 * 24 * 60) ->> 'resolved', '1', 'a new month: resolved');

-- Queue older than N minutes.
select pg_temp.only('queue_delay');
update public.messages set status = 'cancelled', cancelled_at = now() where status = 'queued';
select pg_temp.msg('twilio', 'queued', null, null, null, null, 'quiet_hours', 3000 + 120) is not null;
select pg_temp.msg('twilio', 'queued', null, null, null, null, null, 3000 - 14) is not null;
select is(pg_temp.evaluate(3000) ->> 'raised', '0', 'due 14 minutes ago (and one deferred to later): not late yet');
create temporary table late on commit drop as select pg_temp.msg('aws_ses', 'queued', null, null, null, null, null, 3000 - 20) as id;
select is(pg_temp.evaluate(3001) ->> 'raised', '1', 'due 21 minutes ago: raised');
select is((select (subject, value, details ->> 'due')::text from public.alerts where rule = 'queue_delay'),
  '(outbox,21,2)', 'about the outbox: 21 minutes, two due');
update public.messages set status = 'cancelled', cancelled_at = now()
 where status = 'queued' and next_attempt_at < pg_temp.at(3000);
select is(pg_temp.evaluate(3002) ->> 'resolved', '1', 'once they went: resolved');

-- Webhooks silent while we sent.
select pg_temp.only('webhooks_silent');
select count(*) from (
  select pg_temp.msg('twilio', 'sent', 4000 - 20, 4000 - 20) from generate_series(1, 5)
  union all select pg_temp.msg('aws_sns', 'sent', 4000 - 20, 4000 - 20) from generate_series(1, 5)
  union all select pg_temp.msg('aws_ses', 'sent', 4000 - 20, 4000 - 20) from generate_series(1, 4)
  union all select pg_temp.msg('whatsapp_cloud', 'sent', 4000 - 2, 4000 - 2) from generate_series(1, 9)
) m;
insert into public.message_events (provider, event_key, kind, status, payload, received_at)
values ('aws_ses', 'alert-test-old', 'status', 'delivered', '{}', pg_temp.at(4000 - 31));
select is(pg_temp.evaluate(4000) ->> 'raised', '1', 'one provider went silent');
select is(pg_temp.alerts_of('webhooks_silent'), 'twilio:open:0',
  'twilio (5 sent, no callback); not aws_sns (no callbacks by design), SES (4 sent, under min_sent), WhatsApp (sent inside the grace)');
insert into public.message_events (provider, event_key, kind, status, payload, received_at)
values ('twilio', 'alert-test-new', 'status', 'delivered', '{}', pg_temp.at(4001));
select is(pg_temp.evaluate(4002) ->> 'resolved', '1', 'a callback arrives: resolved');

-- Lost payments found by the reconciliation.
select pg_temp.only('lost_payments');
insert into public.payments (case_id, razorpay_payment_id, amount, status, captured_at, credited_at, credited_via)
values (tests.fixture('case_a'), 'pay_TALERTWEBHOOK', 50000, 'captured', pg_temp.at(4900), pg_temp.at(4900), 'webhook');
select is(pg_temp.evaluate(5000) ->> 'raised', '0', 'a payment its webhook credited is not lost');
insert into public.payments (case_id, razorpay_payment_id, amount, status, captured_at, credited_at, credited_via)
values (tests.fixture('case_a'), 'pay_TALERTLOST', 120000, 'captured', pg_temp.at(4950), pg_temp.at(4950), 'reconcile');
select is(pg_temp.evaluate(5001) ->> 'raised', '1', 'one credited by the reconciliation: raised');
select is((select (subject, value, details ->> 'amount_paise')::text from public.alerts where rule = 'lost_payments'),
  '(razorpay,1,120000)', 'about razorpay: one payment of ₹1,200');
select is(pg_temp.evaluate(4950 + 24 * 60 + 1) ->> 'resolved', '1', 'a day later: resolved');

-- A rule switched off ends its open alert quietly; one that cannot be evaluated stops no other.
select pg_temp.only('provider_breaker_open');
update public.provider_state set breaker = 'open', breaker_since = pg_temp.at(6000) where provider = 'twilio';
select pg_temp.evaluate(6000) is not null;
update public.alert_rules set enabled = false;
select is(pg_temp.evaluate(6001) ->> 'resolved', '1', 'switching the rule off resolves its open alert');
select is((select resolution from public.alerts where rule = 'provider_breaker_open' and subject = 'twilio'),
  'rule_disabled', 'as rule_disabled, without an email');
update public.alert_rules set enabled = true where code in ('provider_breaker_open', 'queue_delay');
alter table public.alert_rules disable trigger _100_check;
update public.alert_rules set threshold = '{"minutes": "soon"}' where code = 'queue_delay';
alter table public.alert_rules enable trigger _100_check;
select is(pg_temp.evaluate(6002) -> 'failed', '{"queue_delay": "threshold.minutes must be a number from 1 to 1440"}',
  'a rule with a broken threshold fails alone');
select is((select (raised_at = pg_temp.at(6002), status)::text from public.alerts where rule = 'provider_breaker_open' and subject = 'twilio' and status = 'open'),
  '(t,open)', 'and the others are evaluated');
select is((select last_error from public.alert_rules where code = 'queue_delay'),
  'threshold.minutes must be a number from 1 to 1440', 'the rule says why');

-- Who reads and writes rules and alerts.
select tests.authenticate_as('admin');
select is((select count(*)::integer from public.alert_rules), 7, 'an admin reads the rules');
select ok((select count(*) from public.alerts) > 0, 'and the alerts');
select lives_ok($$update public.alert_rules set threshold = '{"minutes": 30}', cooldown = '2 hours', enabled = true where code = 'queue_delay'$$,
  'an admin changes a threshold, the cooldown and enabled');
select is((select (threshold, cooldown, updated_by = tests.get_user_id('admin'))::text from public.alert_rules where code = 'queue_delay'),
  '("{""minutes"": 30}",02:00:00,t)', 'stamped with who did it');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 0}' where code = 'queue_delay'$$,
  '22023', 'threshold.minutes must be a number from 1 to 1440', 'an out-of-range threshold is refused');
select throws_ok($$update public.alert_rules set threshold = '{"minutes": 30, "hours": 1}' where code = 'queue_delay'$$,
  '22023', 'threshold.hours is not a setting of queue_delay', 'an unknown key is refused');
select throws_ok($$update public.alert_rules set cooldown = '8 days' where code = 'queue_delay'$$,
  '23514', null, 'a cooldown beyond 7 days is refused');
select throws_ok($$update public.alert_rules set description = 'x' where code = 'queue_delay'$$,
  '42501', null, 'the description is not an admin''s to change');
select throws_ok($$insert into public.alert_rules (code, description, threshold) values ('mine', 'x', '{}')$$,
  '42501', null, 'nor are new rules');
select throws_ok($$update public.alerts set status = 'resolved'$$, '42501', null, 'an admin does not write alerts');
select throws_ok($$delete from public.alerts$$, '42501', null, 'nor delete them');
select throws_ok($$select private.evaluate_alerts()$$, '42501', null, 'nor runs the evaluator');
select lives_ok($$select private.vendor_health()$$, 'an admin reads the vendors'' health');
select is((select string_agg(format('%s:%s', kind, total), ',' order by kind)
             from (select kind, sum(emails) as total
                     from private.alert_emails(array(select id from public.alerts where rule = 'provider_error_rate'))
                    group by kind) k),
  format('raised:%s,resolved:%s', 2 * (select n from admins), (select n from admins)),
  'an admin sees what became of the alerts'' emails (staff messages are not theirs to read directly)');

select tests.authenticate_as('zone_manager');
select ok((select count(*) from public.alerts) > 0, 'a manager reads the alerts');
select is_empty($$select code from public.alert_rules$$, 'but not the rules');
select is(tests.affected_rows($$update public.alert_rules set enabled = false$$), '0', 'and changes none');
select throws_ok($$select private.vendor_health()$$, '42501', 'only admins read the vendors'' health',
  'nor the vendors'' health');
select throws_ok($$select private.alert_emails(array[gen_random_uuid()])$$, '42501',
  'only admins read the alerts'' emails', 'nor the alerts'' emails');
select tests.authenticate_as('agent_a');
select is_empty($$select id from public.alerts$$, 'an agent reads no alert');
select is_empty($$select code from public.alert_rules$$, 'and no rule');
select tests.authenticate_as('analyst');
select is_empty($$select id from public.alerts$$, 'nor does an analyst');
select tests.clear_authentication();
select throws_ok($$select id from public.alerts$$, '42501', null, 'anon reads nothing');
select tests.authenticate_as_service_role();
select ok(private.evaluate_alerts(pg_temp.at(6003)) ? 'raised', 'service_role runs the evaluator');
reset role;

select * from finish();
rollback;
