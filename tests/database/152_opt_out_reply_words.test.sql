-- private.is_opt_out_reply knows Twilio's whole default opt-out list (STOP, STOPALL, UNSUBSCRIBE,
-- CANCEL, END, QUIT, REVOKE, OPTOUT) and reads the reply as a phone may write it: full-width
-- letters (ＳＴＯＰ), compatibility spaces, any case, with its punctuation (migration
-- 20261202055554_know_every_opt_out_word). Ordinary sentences stay ordinary: only the whole
-- reply is an opt-out.
begin;
select plan(9);
select tests.create_test_book();

select is(array(select r from unnest(array['REVOKE', 'revoke', 'Revoke.', 'OPTOUT', 'optout',
                                           'Opt-Out!', 'opt out']) r
                 where not private.is_opt_out_reply(r)),
  '{}'::text[], 'REVOKE and OPTOUT, as Twilio takes them, in any case and with punctuation');

select is(array(select r from unnest(array['STOP', 'STOPALL', 'stop all', 'UNSUBSCRIBE', 'CANCEL',
                                           'END', 'QUIT', 'Stop promotions', 'stop promo']) r
                 where not private.is_opt_out_reply(r)),
  '{}'::text[], 'the words it knew still count');

select is(array(select r from unnest(array['ＳＴＯＰ', 'ｓｔｏｐ', 'ＳＴＯＰ！', 'ＲＥＶＯＫＥ',
                                           'ＯＰＴＯＵＴ', 'ＵＮＳＵＢＳＣＲＩＢＥ', '　STOP　',
                                           U&'\00A0stop\00A0', 'ｓｔｏｐ　ａｌｌ']) r
                 where not private.is_opt_out_reply(r)),
  '{}'::text[], 'full-width letters and punctuation, ideographic and no-break spaces');

select is(array(select r from unnest(array['रोकें', 'रोको', 'बंद', 'बंद करें', 'बंद करो',
                                           'सदस्यता समाप्त', 'रोकें।', ' बंद करें ॥']) r
                 where not private.is_opt_out_reply(r)),
  '{}'::text[], 'the Hindi words, with their danda');

select is(array(select r from unnest(array['Please stop calling me', 'please stop calling after 6',
                                           'STOP calling', 'ＳＴＯＰ calling', 'I will not revoke',
                                           'end of month', 'Cancel my policy?', 'stopp',
                                           'बंद मत करो', 'What is my premium?', '', '   ']) r
                 where private.is_opt_out_reply(r)),
  '{}'::text[], 'a sentence holding an opt-out word is no opt-out: only the whole reply counts');
select is(private.is_opt_out_reply(null), false, 'no reply is no opt-out');

-- Through the webhook's recorder: a full-width REVOKE by SMS withdraws SMS marketing.
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_a'), 'sms', 'marketing', 'granted', 'web_form');
select tests.authenticate_as_service_role();
select is((private.record_message_events('twilio', jsonb_build_array(jsonb_build_object(
             'event_key', 'in-revoke', 'kind', 'inbound', 'channel', 'sms',
             'address', (select phone from public.customers where id = tests.fixture('customer_a')),
             'reply', 'ＲＥＶＯＫＥ', 'payload', '{}'::jsonb))) ->> 'opted_out')::integer,
  1, 'a full-width REVOKE by SMS is an opt-out');
reset role;
select is((select (status, source, evidence ->> 'reply')::text from public.consents
            where customer_id = tests.fixture('customer_a') and channel = 'sms'
              and purpose = 'marketing'),
  '(withdrawn,sms_stop,ＲＥＶＯＫＥ)',
  'the marketing SMS consent is withdrawn, the reply kept as written');

select is((select provolatile::text from pg_proc
            where oid = 'private.is_opt_out_reply(text)'::regprocedure),
  'i', 'still immutable');

select * from finish();
rollback;
