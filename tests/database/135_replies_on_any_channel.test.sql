-- Every reply counts as engagement (20261201032500): the reminder cadence leaves alone a customer
-- who wrote to us within CADENCE_RECENT_REPLY_HOURS on any channel we receive (SMS, WhatsApp,
-- Telegram; a STOP too), noted per customer in private.customer_last_replies; not one whose reply
-- is older, nor one whose reply came after the run's clock, nor anyone because another customer
-- wrote. An SMS opens no WhatsApp window. The step left owed goes once the window has passed.
begin;
select plan(26);
select tests.create_test_book();
-- Only this file's cases are open.
update public.renewal_cases set stage = 'lost', lost_reason = 'Not this test''s case'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '24' where key = 'CADENCE_RECENT_REPLY_HOURS';

-- The run's clock: today, 12:00 IST; each case's -30 step is due today.
create function pg_temp.at(hours integer default 0) returns timestamptz
language sql stable
as $$ select (current_date + time '12:00') at time zone 'Asia/Kolkata'
               + make_interval(hours => hours) $$;
grant execute on function pg_temp.at(integer) to service_role;

-- Customer n: +91976700000n.
create temporary table made on commit drop as
select * from tests.campaign_customers('Reply', 'Pune', 7, policy_prefix => 'T-REPLY-',
                                       phone_prefix => '+91976700', email_prefix => 'reply');
grant select on made to service_role;
create function pg_temp.phone(n integer) returns text
language sql immutable
as $$ select '+91976700000' || n $$;
grant execute on function pg_temp.phone(integer) to service_role;

create function pg_temp.inbound(provider text, channel text, n integer, key text, reply text,
                                at timestamptz) returns jsonb
language sql volatile
as $$ select private.record_message_events(provider, jsonb_build_array(jsonb_build_object(
         'event_key', key, 'kind', 'inbound', 'channel', channel, 'address', pg_temp.phone(n),
         'reply', reply, 'occurred_at', at, 'payload', '{}'::jsonb))) $$;
grant execute on function pg_temp.inbound(text, text, integer, text, text, timestamptz)
  to service_role;

create function pg_temp.reminders(n integer) returns integer
language sql stable
as $$ select count(*)::integer from public.messages m
       where m.case_id = (select case_id from made where customer_no = n)
         and m.idempotency_key like 'cadence:%' $$;

-- Customer n's latest reply: its channel, and whether it came at hours from the run's clock.
create function pg_temp.reply_of(n integer, hours integer default -1) returns text
language sql stable
as $$ select (r.channel, r.last_reply_at = pg_temp.at(hours))::text
        from private.customer_last_replies r
       where r.customer_id = (select customer_id from made where customer_no = n) $$;

-- The replies, as the webhooks record them (service_role).
-- 1 wrote by SMS an hour ago; 2 by WhatsApp; 3 by SMS 25 hours ago; 4 never; 5 replied STOP by
-- SMS two hours ago; 6 wrote in their Telegram chat an hour ago; 7 by SMS an hour after the run's
-- clock.
insert into public.customer_social_accounts (customer_id, platform, external_id, source)
select customer_id, 'telegram', '7670006', 'deep_link' from made where customer_no = 6;
select tests.authenticate_as_service_role();
select pg_temp.inbound('twilio', 'sms', 1, 'SM135-1', 'I will pay tomorrow, please stop calling',
                       pg_temp.at(-1));
select pg_temp.inbound('whatsapp_cloud', 'whatsapp', 2, 'wamid.135-2', 'I will pay tomorrow',
                       pg_temp.at(-1));
select pg_temp.inbound('twilio', 'sms', 3, 'SM135-3', 'Which policy is this?', pg_temp.at(-25));
select pg_temp.inbound('twilio', 'sms', 5, 'SM135-5', 'STOP', pg_temp.at(-2));
select pg_temp.inbound('twilio', 'sms', 7, 'SM135-7', 'Call me', pg_temp.at(1));
select pg_temp.inbound('twilio', 'sms', 9, 'SM135-9', 'Wrong number?', pg_temp.at(-1));
select is(private.record_telegram_update(1350006, '7670006', 'Paid at the branch today', '{}',
                                         pg_temp.at(-1)) ->> 'action',
          'ignored', 'a Telegram message that is no command is recorded as before');
reset role;

-- What was noted.
select is(pg_temp.reply_of(1), '(sms,t)', 'the SMS reply is the customer''s latest reply');
select is(pg_temp.reply_of(2), '(whatsapp,t)', 'the WhatsApp reply too');
select is(pg_temp.reply_of(6), '(telegram,t)', 'and the Telegram message from their linked chat');
select is(pg_temp.reply_of(4), null, 'a customer who never wrote has none');
select is((select count(*)::integer from private.customer_last_replies r
            where r.customer_id in (select customer_id from made)), 6,
          'one row per customer who wrote; the unknown number notes nobody');
select is((select array_agg(customer_no order by customer_no) from made m
             join public.whatsapp_windows w on w.customer_id = m.customer_id),
          array[2], 'an SMS opens no WhatsApp window: only the WhatsApp reply did');

-- The run.
create temporary table outcome on commit drop as
select * from private.run_reminder_cadence(pg_temp.at());
select is((select cases from outcome where outcome = 'skipped_engaged'), 4::bigint,
          'four customers wrote within 24 hours: SMS, WhatsApp, STOP by SMS, Telegram');
select is(pg_temp.reminders(1), 0, 'the SMS replier gets no reminder');
select is(pg_temp.reminders(2), 0, 'nor does the WhatsApp replier');
select is(pg_temp.reminders(5), 0, 'nor the customer who replied STOP by SMS');
select is(pg_temp.reminders(6), 0, 'nor the one who wrote on Telegram');
select is(pg_temp.reminders(3), 1, 'a reply 25 hours old does not hold the step back');
select is(pg_temp.reminders(4), 1,
          'others'' replies do not hold back the customer who never wrote');
select is(pg_temp.reminders(7), 1, 'a reply after the run''s clock does not count for it');
select is((select array_agg(customer_no order by customer_no) from made m
             join private.cadence_next_visits v on v.case_id = m.case_id
            where v.visit_on = current_date),
          array[1, 2, 5, 6], 'the engaged customers'' cases stay due today, their step owed');

-- The window passes: two days later the owed steps go, and nothing is sent twice.
create temporary table later on commit drop as
select * from private.run_reminder_cadence(pg_temp.at(48));
select is((select cases from later where outcome = 'skipped_engaged'), 0::bigint,
          'two days later nobody is engaged');
select is((select array_agg(pg_temp.reminders(customer_no) order by customer_no) from made),
          array[1, 1, 1, 1, 1, 1, 1], 'every case has had its step once');

-- The window's own writers: whoever opens or extends a WhatsApp window notes a reply (later
-- only); the table keeps the latest of every channel.
insert into public.whatsapp_windows (customer_id, last_inbound_at)
select customer_id, pg_temp.at(49) from made where customer_no = 4;
select is(pg_temp.reply_of(4, 49), '(whatsapp,t)', 'a window opened is a WhatsApp reply');
update public.whatsapp_windows set last_inbound_at = pg_temp.at(47)
 where customer_id = (select customer_id from made where customer_no = 4);
select is(pg_temp.reply_of(4, 49), '(whatsapp,t)',
          'a window moved back does not move the reply back');
select tests.authenticate_as_service_role();
select pg_temp.inbound('twilio', 'whatsapp', 1, 'SM135-1b', 'Paid', pg_temp.at(50));
select pg_temp.inbound('twilio', 'sms', 2, 'SM135-2b', 'Done', pg_temp.at(50));
select pg_temp.inbound('twilio', 'sms', 2, 'SM135-2c', 'Earlier', pg_temp.at(30));
reset role;
select is(pg_temp.reply_of(1, 50), '(whatsapp,t)',
          'a later WhatsApp reply (through Twilio) replaces an SMS one');
select is(pg_temp.reply_of(2, 50), '(sms,t)',
          'a later SMS replaces a WhatsApp one; one received late with an earlier time does not');
select is((select count(*)::integer from public.whatsapp_windows w
            where w.customer_id = (select customer_id from made where customer_no = 2)
              and w.last_inbound_at = pg_temp.at(-1)), 1,
          'the SMS leaves the WhatsApp window where it was');

-- Private: the API roles neither read nor write it.
select is(array(select r from unnest(array['anon', 'authenticated', 'service_role']) r
                 where has_table_privilege(r, 'private.customer_last_replies',
                                           'select, insert, update, delete')),
          '{}'::text[], 'no API role may read or write the replies');
select tests.authenticate_as_service_role();
select throws_ok($$select 1 from private.customer_last_replies$$, '42501', null,
                 'service_role cannot read them');
reset role;
select is((select description like '%any channel%' from public.app_settings
            where key = 'CADENCE_RECENT_REPLY_HOURS'),
          true, 'the setting says any channel');

select * from finish();
rollback;
