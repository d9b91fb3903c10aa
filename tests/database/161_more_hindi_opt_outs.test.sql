-- More Hindi opt-outs (migration hear_more_hindi_opt_outs): बन्द करें (a half न for the nasal
-- dot) is बंद करें, the polite and Hinglish forms count, and sentences still do not.
begin;
select plan(5);
select tests.create_test_book();

select is(array(select r from unnest(array['बन्द करें', 'बन्द', 'बन्द करो।', 'बंद कीजिए',
                                           'बंद कीजिये', 'बन्द कीजिए', 'बंद करिए', 'रोक दो',
                                           'रोक दें', 'मत भेजो', 'मत भेजें', 'Band karo',
                                           'BAND KAREIN', 'band karen!', 'band kro']) r
                 where not private.is_opt_out_reply(r)),
  '{}'::text[], 'the half-न spelling, the polite forms and Hinglish are opt-outs');
select is(array(select r from unnest(array['बन्द मत करो', 'बंद मत करो', 'band mat karo',
                                           'मत भेजो कल', 'hindi band', 'band']) r
                 where private.is_opt_out_reply(r)),
  '{}'::text[], 'sentences holding those words are not');
select ok(private.is_opt_out_reply('रोकें') and private.is_opt_out_reply('STOP'),
  'the words known before still count');

-- End to end through the webhook's recorder: a WhatsApp reply बन्द करें withdraws WhatsApp
-- marketing and cancels the queued offer.
insert into public.consents (customer_id, channel, purpose, status, source)
values (tests.fixture('customer_b'), 'whatsapp', 'marketing', 'granted', 'web_form');
select tests.authenticate_as_service_role();
select is((private.record_message_events('whatsapp_cloud', jsonb_build_array(jsonb_build_object(
             'event_key', 'wamid.in-161', 'kind', 'inbound', 'channel', 'whatsapp',
             'address', (select phone from public.customers where id = tests.fixture('customer_b')),
             'reply', 'बन्द करें', 'payload', '{}'::jsonb))) ->> 'opted_out')::integer,
  1, 'बन्द करें on WhatsApp is an opt-out');
reset role;
select is((select status::text from public.consents
            where customer_id = tests.fixture('customer_b') and channel = 'whatsapp'
              and purpose = 'marketing'),
  'withdrawn', 'WhatsApp marketing is withdrawn');

select * from finish();
rollback;
