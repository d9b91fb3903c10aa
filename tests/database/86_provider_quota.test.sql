-- Daily provider quotas in the claim (migration 20261129230137_throttle_claims_to_provider_quotas,
-- the specification's "Quota exceeded" runbook): each message handed to a provider counts one in
-- private.provider_usage for the IST business day; beyond a provider's quota the claim moves the
-- rest to the channel's fallback provider while that has quota left, and leaves the others queued
-- until the next IST day (deferred_reason quota_exhausted): never failed, never dropped. A retry is
-- another send and counts again; a message handed back unsent gives its unit back; a provider
-- with no quota is only counted. Two dispatchers at the edge of a quota: Deno quota_races.
begin;
select plan(42);
select tests.create_test_book();

-- A clock of our own, far from the real one and from other tests' days: noon IST of day `d`.
create function pg_temp.at(d integer, seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 40 + d) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(integer, numeric) to service_role;
create function pg_temp.day(d integer) returns date
language sql stable
as $$ select current_date + 40 + d $$;
grant execute on function pg_temp.day(integer) to service_role;

-- Whatever else is queued waits out this file (rolled back at its end).
update public.messages set next_attempt_at = 'infinity' where status in ('queued', 'sending');

insert into public.templates (code, channel, purpose, subject, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('quota_due', 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL', '1101234567890123456',
        'PYRNWL', '1107123456789012345', 'Renew {#var#} -PYRNWL', null, null, null, null),
       ('quota_due', 'email', 'transactional', 'Renewal', 'Renew {{policy_number}}', null, null,
        null, null, null, null, null, null),
       ('quota_due', 'whatsapp', 'service', null, 'Renew {{policy_number}}', null, null, null, null,
        'quota_due', 'utility', 'approved', 1);
update public.app_settings set value = '{}' where key = 'MESSAGE_FREQUENCY_CAPS';
update public.app_settings set value = '{"max_attempts": 5, "base_seconds": 1, "max_seconds": 2}'
 where key = 'MESSAGE_RETRY';
update public.channels set daily_quota = 3 where name = 'SMS reminders';

create function pg_temp.queue(keys text[], channel text, at timestamptz, priority integer default 5)
returns integer
language sql
as $$
  select count(*)::integer from private.enqueue_messages(
    (select jsonb_agg(jsonb_build_object(
              'customer_id', tests.fixture('customer_a'), 'channel', channel,
              'template_code', 'quota_due', 'variables', jsonb_build_object('policy_number', k),
              'priority', priority, 'idempotency_key', k))
       from unnest(keys) k), at) e
   where e.status = 'queued'
$$;
-- What a provider has on a day: (daily_quota, used) as private.provider_quota reports it.
create function pg_temp.quota(code text, d integer) returns text
language sql stable
as $$ select (q.daily_quota, q.used)::text from private.provider_quota(pg_temp.at(d)) q where q.provider = code $$;
grant execute on function pg_temp.quota(text, integer) to service_role;
create function pg_temp.providers(keys text) returns text[]
language sql stable
as $$
  select array_agg(format('%s:%s', coalesce(m.provider, '-'), n) order by m.provider)
    from (select provider, count(*) as n from public.messages where idempotency_key like keys
           group by provider) m
$$;
grant execute on function pg_temp.providers(text) to service_role;

-- 1. Under the quota, then over it: the rest goes to the fallback.
select tests.authenticate_as_service_role();
select is(pg_temp.quota('twilio', 0), '(3,0)', 'Twilio''s quota is the SMS channel''s daily_quota, nothing used yet');
select is(pg_temp.quota('aws_sns', 0), '(,0)', 'SNS, only a fallback, has no quota of its own');
reset role;
select is(pg_temp.queue('{q-1,q-2,q-3,q-4}', 'sms', pg_temp.at(0, -60))
          + pg_temp.queue('{q-5}', 'sms', pg_temp.at(0, -60), 0), 5, 'five SMS are queued, q-5 urgent');
select tests.authenticate_as_service_role();
create temporary table first_claim on commit drop as
select c.*, m.idempotency_key from private.claim_messages('w1', 10, pg_temp.at(0)) c
  join public.messages m on m.id = c.id;
select is((select count(*)::integer from first_claim), 5, 'the claim hands out all five');
select is(array(select format('%s:%s', provider, count(*)) from first_claim group by provider order by provider),
  '{aws_sns:2,twilio:3}', 'three to Twilio, its quota; two to SNS, the channel''s fallback');
select is((select provider from first_claim where idempotency_key = 'q-5'), 'twilio',
  'the quota goes to the highest priority first');
select is((select count(*)::integer from first_claim c join public.messages m on m.id = c.id
            where m.provider = c.provider and m.status = 'sending' and m.locked_by = 'w1'
              and m.attempts = 1 and m.provider_attempts = 1),
  5, 'each is sending under w1 on the provider it was handed to, its first attempt there');
select is(pg_temp.quota('twilio', 0), '(3,3)', 'Twilio has used its quota');
select is(pg_temp.quota('aws_sns', 0), '(,2)', 'SNS counted the two moved to it');

create function pg_temp.sent(worker text, at timestamptz) returns integer
language sql
as $$
  select private.record_send_results(worker, jsonb_agg(jsonb_build_object(
           'id', m.id, 'attempt', m.attempts, 'ok', true, 'provider_message_id', 'SM' || m.id)), at)
    from public.messages m where m.locked_by = worker and m.status = 'sending'
$$;
grant execute on function pg_temp.sent(text, timestamptz) to service_role;
select is(pg_temp.sent('w1', pg_temp.at(0, 5)), 5, 'the five are sent');

-- 2. The fallback's quota used too: the rest waits for the next IST day, nothing fails.
reset role;
insert into public.channels (type, name, provider, fallback_provider, cost_per_message, daily_quota)
values ('sms', 'SMS via SNS', 'aws_sns', null, 50, 3);
select is(pg_temp.queue('{q-6,q-7,q-8,q-9}', 'sms', pg_temp.at(0, 60)), 4, 'four more SMS are queued');
select tests.authenticate_as_service_role();
select is(pg_temp.quota('aws_sns', 0), '(3,2)', 'SNS now has a quota of three, two used');
create temporary table second_claim on commit drop as
select c.*, m.idempotency_key from private.claim_messages('w2', 10, pg_temp.at(0, 120)) c
  join public.messages m on m.id = c.id;
select is(array(select provider from second_claim), '{aws_sns}',
  'with Twilio full, only one goes, on SNS''s last unit');
select is((select array_agg(distinct (m.status, m.deferred_reason, m.provider, m.attempts, m.provider_attempts,
                                      m.locked_by, m.locked_until, m.next_attempt_at)::text)
             from public.messages m
            where m.idempotency_key in ('q-6', 'q-7', 'q-8', 'q-9')
              and m.id not in (select id from second_claim)),
  array[(select format('(queued,quota_exhausted,twilio,0,0,,,"%s")',
                       ((pg_temp.day(1))::timestamp at time zone 'Asia/Kolkata')))],
  'the other three wait queued until midnight IST, quota_exhausted, on Twilio, with no attempt counted');
select is(pg_temp.quota('twilio', 0), '(3,3)', 'Twilio''s use is unchanged by what waits');
select is(pg_temp.quota('aws_sns', 0), '(3,3)', 'SNS has used its quota');
select is(pg_temp.sent('w2', pg_temp.at(0, 130)), 1, 'it is sent');
select is((select count(*)::integer from private.claim_messages('w3', 10, pg_temp.at(0, 3600))), 0,
  'an hour later the same day nothing is claimed');
select is((select array_agg(distinct status::text) from public.messages where idempotency_key like 'q-%'),
  '{queued,sent}', 'nothing failed, was blocked or dropped');
select is((select count(*)::integer from public.messages where idempotency_key like 'q-%'), 9,
  'all nine are there');

-- 3. The next IST day: fresh quotas, the waiting ones go, on Twilio.
select is(pg_temp.quota('twilio', 1), '(3,0)', 'the moved clock: a new day starts at nothing used');
create temporary table next_day on commit drop as
select c.*, m.idempotency_key from private.claim_messages('w4', 10, pg_temp.at(1, -4 * 3600 + 1)) c
  join public.messages m on m.id = c.id;
select is(array(select format('%s:%s', provider, count(*)) from next_day group by provider order by provider),
  '{twilio:3}', 'the next morning at 08:00 IST (quiet hours end) the three waiting go on Twilio');
select is(pg_temp.quota('twilio', 1), '(3,3)', 'counted on the new day');
select is(pg_temp.quota('twilio', 0), '(3,3)', 'the day before is left as it was');
reset role;
select is(array(select provider from private.provider_usage where day = pg_temp.day(0) order by 1),
  '{aws_sns,twilio}', 'usage rows of the first day: Twilio and SNS');

-- 4. A retry is another send, and counts again; a message handed back unsent gives its unit back.
reset role;
update public.channels set daily_quota = 10 where name = 'SMS reminders';
select tests.authenticate_as_service_role();
select is((select private.record_send_results('w4', jsonb_build_array(jsonb_build_object(
                   'id', n.id, 'attempt', n.attempts, 'ok', false, 'disposition', 'transient',
                   'code', '503', 'message', 'Service Unavailable')), pg_temp.at(1, -4 * 3600 + 2))
             from next_day n order by n.idempotency_key limit 1),
  1, 'one send fails for now');
select is(pg_temp.sent('w4', pg_temp.at(1, -4 * 3600 + 2)), 2, 'the other two are sent');
select is((select count(*)::integer from private.claim_messages('w5', 10, pg_temp.at(1))), 1,
  'its retry is claimed');
select is(pg_temp.quota('twilio', 1), '(10,4)', 'and counted again: four sends on Twilio that day');
select is(pg_temp.sent('w5', pg_temp.at(1, 1)), 1, 'this time it is sent');
reset role;
select is(pg_temp.queue('{q-10}', 'sms', pg_temp.at(1, 10)), 1, 'one more SMS is queued');
select tests.authenticate_as_service_role();
select is(private.release_messages('w6', array(select c.id from private.claim_messages('w6', 10, pg_temp.at(1, 20)) c),
                                   pg_temp.at(1, 7200), pg_temp.at(1, 20)),
  1, 'claimed and handed back unsent (no permit)');
select is(pg_temp.quota('twilio', 1), '(10,4)', 'its unit is given back');
select is((select (status, deferred_reason, attempts)::text from public.messages where idempotency_key = 'q-10'),
  '(queued,rate_limit,0)', 'it waits for a permit, as before');

-- 5. No quota: only counted.
reset role;
select is(pg_temp.queue('{e-1,e-2,e-3}', 'email', pg_temp.at(1, 40)), 3, 'three emails are queued');
select tests.authenticate_as_service_role();
select is(array(select format('%s:%s', c.provider, count(*))
                  from private.claim_messages('w7', 10, pg_temp.at(1, 50)) c
                 group by c.provider),
  '{aws_ses:3}', 'all three go on SES, which has no quota');
select is(pg_temp.quota('aws_ses', 1), '(,3)', 'and are counted');
select is(pg_temp.sent('w7', pg_temp.at(1, 51)), 3, 'and sent');

-- 6. WhatsApp has no fallback provider: over its quota the rest waits.
reset role;
update public.channels set daily_quota = 1 where name = 'WhatsApp reminders';
select is(pg_temp.queue('{w-1,w-2}', 'whatsapp', pg_temp.at(1, 60)), 2, 'two WhatsApp messages are queued');
select tests.authenticate_as_service_role();
select is((select count(*)::integer from private.claim_messages('w8', 10, pg_temp.at(1, 70))), 1,
  'one is claimed, the quota');
select is(pg_temp.providers('w-%'), '{whatsapp_cloud:2}', 'both stay on WhatsApp');
select is((select array_agg(status::text || '/' || coalesce(deferred_reason, '-') order by status)
             from public.messages where idempotency_key like 'w-%'),
  '{queued/quota_exhausted,sending/-}', 'the other waits for the next day');

select * from finish();
rollback;
