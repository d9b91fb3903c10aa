-- Tracked links (issue 9, "the payment link was opened in the last N hours"): the short URL made
-- once per case and target and refused for anything but http(s); a click counted only when the
-- `go` function says so, never for an unknown, malformed or expired code; the desk reads the
-- links and clicks of its own cases and writes none; the cadence leaves a case alone while its
-- link was opened within CADENCE_LINK_OPENED_HOURS, and puts the tracked URL, not Razorpay's, in
-- its reminders (and so does the autopay fallback's link reminder).
begin;
select plan(59);
select tests.create_test_book();
-- Only this file's cases are open (the cadence's counts are this file's).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the tracked links test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
   and id not in (tests.fixture('case_a'), tests.fixture('case_b'));
-- Lapsed ones would still hear their ladder's steps after expiry: their successors are loaded.
do $$ begin perform tests.load_successors_of_lapsed_cases(); end $$;

-- 1. private.tracked_link: one short URL per case and target.
create temporary table made (name text primary key, url text);
insert into made values
  ('a', private.tracked_link(tests.fixture('case_a'), 'https://rzp.io/i/T54A', 'payment_link')),
  ('a again', private.tracked_link(tests.fixture('case_a'), 'https://rzp.io/i/T54A', 'payment_link')),
  ('b same target', private.tracked_link(tests.fixture('case_b'), 'https://rzp.io/i/T54A', 'payment_link')),
  ('a other target', private.tracked_link(tests.fixture('case_a'), 'http://example.test/quote?id=7', 'quote'));
grant select on made to authenticated, service_role;

select matches((select url from made where name = 'a'), '^http://127\.0\.0\.1:54321/functions/v1/go/[0-9A-Za-z]{12}$',
  'the short URL: LINK_BASE_URL, then a 12-character base62 code');
select is((select url from made where name = 'a again'), (select url from made where name = 'a'),
  'asked again for the same case and target: the same URL');
select is((select count(*)::int from public.tracked_links
            where case_id = tests.fixture('case_a') and target_url = 'https://rzp.io/i/T54A'), 1,
  'one row for the case and target');
select isnt((select url from made where name = 'b same target'), (select url from made where name = 'a'),
  'the same target for another case: another code');
select isnt((select url from made where name = 'a other target'), (select url from made where name = 'a'),
  'another target of the same case: another code');
select is((select (customer_id, purpose, click_count, expires_at)::text from public.tracked_links
            where case_id = tests.fixture('case_a') and target_url = 'https://rzp.io/i/T54A'),
  (tests.fixture('customer_a'), 'payment_link', 0, null::timestamptz)::text,
  'stored with the case''s customer, its purpose, no click and no expiry');

select throws_ok($$select private.tracked_link(tests.fixture('case_a'), 'javascript:alert(1)', 'payment_link')$$,
  '22023', null, 'a javascript: target is refused');
select throws_ok($$select private.tracked_link(tests.fixture('case_a'), '//evil.example/pay', 'payment_link')$$,
  '22023', null, 'a scheme-relative target is refused');
select throws_ok($$select private.tracked_link(tests.fixture('case_a'), 'ftp://files.example/x', 'payment_link')$$,
  '22023', null, 'an ftp target is refused');
select throws_ok($$select private.tracked_link(tests.fixture('case_a'), e'https://rzp.io/i/x\r\nSet-Cookie: a=b', 'payment_link')$$,
  '22023', null, 'a target with a line break (header injection) is refused');
select throws_ok($$select private.tracked_link(tests.fixture('case_a'), 'https://rzp.io/i/x', 'Payment Link')$$,
  '22023', null, 'a purpose that is not snake_case is refused');
select throws_ok($$select private.tracked_link(gen_random_uuid(), 'https://rzp.io/i/x', 'payment_link')$$,
  'P0002', null, 'an unknown case: P0002');
select is((select count(*)::int from public.tracked_links), 3, 'the refused calls stored nothing');

-- The base comes from LINK_BASE_URL (a trailing slash is not doubled); links made before keep theirs.
update public.app_settings set value = '"https://py3.in/"' where key = 'LINK_BASE_URL';
select matches(private.tracked_link(tests.fixture('case_b'), 'https://rzp.io/i/T54B', 'payment_link'),
  '^https://py3\.in/[0-9A-Za-z]{12}$', 'the base is LINK_BASE_URL''s, without a doubled slash');
-- (Refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked('{"LINK_BASE_URL": "javascript:alert(1)"}');
select throws_ok($$select private.tracked_link(tests.fixture('case_b'), 'https://rzp.io/i/T54C', 'payment_link')$$,
  '22023', null, 'a LINK_BASE_URL that is not http(s) is refused');
update public.app_settings set value = '"http://127.0.0.1:54321/functions/v1/go"' where key = 'LINK_BASE_URL';

-- The codes: base62 only, every character of the alphabet in use, none repeated.
create temporary table codes as select private.random_base62(12) as code from generate_series(1, 2000);
select is((select count(distinct code)::int from codes where code ~ '^[0-9A-Za-z]{12}$'), 2000,
  '2,000 codes: 12 base62 characters each, all different');
select is((select count(distinct c)::int from codes, regexp_split_to_table(code, '') c), 62,
  'all 62 characters appear (no character of the alphabet left out)');

-- 2. private.record_link_click: the target of a live code; counted only when told.
create function pg_temp.code(name text) returns text
language sql stable
as $$ select regexp_replace((select m.url from made m where m.name = code.name), '^.*/', '') $$;

select is(private.record_link_click(pg_temp.code('a'), 'WhatsApp/2.24.1 A', false, now()),
  'https://rzp.io/i/T54A', 'not counted (a preview): the target all the same');
select is((select (click_count, first_clicked_at)::text from public.tracked_links
            where code = pg_temp.code('a')), (0, null::timestamptz)::text, 'and the link not counted');
select is_empty($$select 1 from public.link_clicks$$, 'nor a click recorded');

select is(private.record_link_click(pg_temp.code('a'), repeat('Mozilla/5.0 ', 40), true,
                                    '2026-01-10 10:00+05:30'),
  'https://rzp.io/i/T54A', 'counted: the target');
select is(private.record_link_click(pg_temp.code('a'), 'Mozilla/5.0 (Linux; Android 14)', true,
                                    '2026-01-11 09:00+05:30'),
  'https://rzp.io/i/T54A', 'counted again a day later');
select is((select (click_count, first_clicked_at, last_clicked_at)::text from public.tracked_links
            where code = pg_temp.code('a')),
  (2, '2026-01-10 10:00+05:30'::timestamptz, '2026-01-11 09:00+05:30'::timestamptz)::text,
  'two clicks, the first and the last');
select is(
  array(select (lc.case_id, lc.clicked_at, length(lc.user_agent))::text from public.link_clicks lc
         where lc.tracked_link_id = (select id from public.tracked_links where code = pg_temp.code('a'))
         order by lc.clicked_at),
  array[(tests.fixture('case_a'), '2026-01-10 10:00+05:30'::timestamptz, 200)::text,
        (tests.fixture('case_a'), '2026-01-11 09:00+05:30'::timestamptz, 31)::text],
  'one click row each, with the case and the User-Agent cut to 200 characters');

create temporary table clicks_before as select * from public.link_clicks;
select is(private.record_link_click('Zz9Zz9Zz9Zz9', 'Mozilla/5.0', true, now()), null,
  'an unknown code: null');
select is(private.record_link_click('../../api/me', 'Mozilla/5.0', true, now()), null,
  'a malformed code: null');
select is(private.record_link_click(null, 'Mozilla/5.0', true, now()), null, 'no code: null');
-- A link that expired an hour before the click.
update public.tracked_links set expires_at = '2026-01-12 09:00+05:30' where code = pg_temp.code('b same target');
select is(private.record_link_click(pg_temp.code('b same target'), 'Mozilla/5.0', true, '2026-01-12 10:00+05:30'),
  null, 'an expired code: null, even when it would be counted');
select is(private.record_link_click(pg_temp.code('b same target'), 'Mozilla/5.0', false, '2026-01-12 10:00+05:30'),
  null, '... and when not');
select is(private.record_link_click(pg_temp.code('b same target'), 'Mozilla/5.0', true, '2026-01-12 08:00+05:30'),
  'https://rzp.io/i/T54A', 'the same link before it expired: the target');
select is((select count(*)::int from public.link_clicks), (select count(*)::int + 1 from clicks_before),
  'the unknown, malformed and expired codes recorded nothing; the live one its click');

-- 3. Who may call them: service_role (the `go` function, producers); nobody on the desk.
select tests.authenticate_as('admin');
select throws_ok($$select private.record_link_click('Zz9Zz9Zz9Zz9', 'x', true, now())$$, '42501', null,
  'not even an admin records a click');
select throws_ok($$select private.tracked_link(tests.fixture('case_a'), 'https://rzp.io/i/x', 'payment_link')$$,
  '42501', null, 'nor makes a tracked link');
select tests.authenticate_as_service_role();
select is(private.record_link_click((select regexp_replace(url, '^.*/', '') from made where name = 'a'),
                                    'Mozilla/5.0', false, now()),
  'https://rzp.io/i/T54A', 'service_role looks a code up');
reset role;

-- 4. RLS: the desk reads the links and clicks of the cases it sees, and writes none.
select tests.authenticate_as('agent_a');
select is((select array_agg(distinct case_id) from public.tracked_links), array[tests.fixture('case_a')],
  'agent A sees the links of their case only');
select is((select count(*)::int from public.link_clicks), 2, 'and its clicks');
select is_empty($$select 1 from public.link_clicks where case_id = tests.fixture('case_b')$$,
  'not the clicks of agent B''s case');
select throws_ok($$insert into public.tracked_links (code, case_id, customer_id, purpose, target_url)
                   values ('Abcdefghij12', tests.fixture('case_a'), tests.fixture('customer_a'), 'payment_link', 'https://evil.example')$$,
  '42501', null, 'agent A cannot add a link, even to their case');
select throws_ok($$update public.tracked_links set target_url = 'https://evil.example' where case_id = tests.fixture('case_a')$$,
  '42501', null, 'nor redirect one elsewhere');
select throws_ok($$insert into public.link_clicks (tracked_link_id, case_id, clicked_at)
                   select id, case_id, now() from public.tracked_links limit 1$$,
  '42501', null, 'nor add a click');
select throws_ok($$delete from public.link_clicks$$, '42501', null, 'nor delete clicks');
select tests.authenticate_as('branch_b_manager');
select is((select array_agg(distinct case_id) from public.tracked_links), array[tests.fixture('case_b')],
  'the manager of agent B''s branch sees case B''s links, not case A''s');
select tests.authenticate_as('analyst');
select is_empty($$select 1 from public.tracked_links union all select 1 from public.link_clicks$$,
  'an analyst sees no link and no click');
select tests.authenticate_as_service_role();
select throws_ok($$update public.tracked_links set click_count = 99$$, '42501', null,
  'service_role writes only through the functions');
select tests.clear_authentication();
select throws_ok($$select 1 from public.tracked_links$$, '42501', null, 'anon reads nothing');
reset role;
select is((select count(*)::int from public.tracked_links
            where target_url = 'https://evil.example' or click_count = 99), 0, 'nothing of that got in');

-- 5. The autopay fallback's link reminder carries the tracked link.
insert into public.payment_links (case_id, razorpay_payment_link_id, short_url, amount, amount_paid, status, expire_by)
values (tests.fixture('case_b'), 'plink_T54FB', 'https://rzp.io/i/t54fallback', 1200000, 0, 'created', now() + interval '15 days');
select isnt(private.queue_payment_link_reminder((select id from public.payment_links where razorpay_payment_link_id = 'plink_T54FB')),
  null, 'the link reminder is queued');
select is(
  (select (m.variables ->> 'payment_link', tl.target_url, tl.expires_at = pl.expire_by)::text
     from public.messages m
     join public.payment_links pl on pl.razorpay_payment_link_id = 'plink_T54FB'
     join public.tracked_links tl on tl.case_id = m.case_id and tl.target_url = pl.short_url
    where m.idempotency_key = 'link_reminder:' || pl.id),
  (private.tracked_link(tests.fixture('case_b'), 'https://rzp.io/i/t54fallback', 'payment_link'),
   'https://rzp.io/i/t54fallback', true)::text,
  'its {{payment_link}} is the tracked redirect to the fallback link, expiring with it');

-- 6. The cadence, over four cases of its own (cases A and B closed). A WhatsApp template of the
-- -30 step that shows the link (the demo seed brings the real ones).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the cadence part'
 where id in (tests.fixture('case_a'), tests.fixture('case_b'));
insert into public.templates (code, channel, language, purpose, body, whatsapp_name, whatsapp_category,
                              whatsapp_status, whatsapp_parameter_count)
values ('renewal_due', 'whatsapp', 'en', 'service',
        'Hello {{customer_name}}, {{policy_number}} expires on {{expiry_date}}. Pay: {{payment_link}}',
        'renewal_due_en', 'utility', 'approved', 4);
-- Cases 30 days before expiry on the run day (current_date + 8), opted in to WhatsApp, each with
-- an open payment link.
create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable
as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;
create temporary table cases (n integer primary key, name text unique, id uuid, link text);
insert into cases (n, name) values (1, 'recent'), (2, 'older'), (3, 'later'), (4, 'fresh');
create temporary table new_customers as
with inserted as (
  insert into public.customers (full_name, phone, email)
  select 'Link ' || n, '+9196000000' || lpad(n::text, 2, '0'), 'link' || n || '@tests.py360.test'
    from cases
  returning id, full_name
)
select id, right(full_name, 1)::integer as n from inserted;
create temporary table new_policies as
with inserted as (
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  select 'T-LNK-' || nc.n, 'motor', 'Test General', nc.id, tests.get_user_id('agent_a'),
         1200000, 50000000, current_date + 38 - 365, current_date + 38, 20
    from new_customers nc
  returning id, customer_id, end_date
)
select * from inserted;
with inserted as (
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  select p.id, p.customer_id, tests.get_user_id('agent_a'), p.end_date, p.end_date from new_policies p
  returning id, customer_id
)
update cases c set id = i.id
  from inserted i join new_customers nc on nc.id = i.customer_id
 where nc.n = c.n;
insert into public.consents (customer_id, channel, purpose, status, source)
select id, 'whatsapp', 'service', 'granted', 'import' from new_customers;
insert into public.payment_links (case_id, razorpay_payment_link_id, short_url, amount, amount_paid, status, expire_by)
select c.id, 'plink_T54' || upper(c.name), 'https://rzp.io/i/t54' || c.name, 1200000, 0, 'created',
       pg_temp.ist(current_date + 20)
  from cases c;
-- Earlier reminders' tracked links (not for "fresh"), opened 2 hours and 30 hours before the
-- run, and 1 hour after it.
update cases set link = private.tracked_link(id, 'https://rzp.io/i/t54' || name, 'payment_link',
                                             pg_temp.ist(current_date + 20))
 where name <> 'fresh';
select private.record_link_click(regexp_replace(c.link, '^.*/', ''), 'Mozilla/5.0', true,
         pg_temp.ist(current_date + 8) + case c.name when 'recent' then interval '-2 hours'
                                                     when 'older' then interval '-30 hours'
                                                     else interval '1 hour' end)
  from cases c where c.name <> 'fresh';
-- And a preview fetch of the later one inside the window: not counted, so not a click.
select private.record_link_click(regexp_replace(c.link, '^.*/', ''), 'WhatsApp/2.24', false,
                                 pg_temp.ist(current_date + 8) - interval '1 hour')
  from cases c where c.name = 'later';

create function pg_temp.run(day date) returns jsonb
language sql
as $$ select jsonb_object_agg(c.outcome, c.cases) from private.run_reminder_cadence(pg_temp.ist(day)) c $$;
create function pg_temp.link_sent(case_name text) returns text
language sql stable
as $$ select m.variables ->> 'payment_link' from public.messages m
       where m.case_id = (select c.id from cases c where c.name = case_name) and m.idempotency_key like 'cadence:%' $$;

-- CADENCE_LINK_OPENED_HOURS = 48: the links opened 2 and 30 hours ago both hold their cases back.
update public.app_settings set value = '48' where key = 'CADENCE_LINK_OPENED_HOURS';
select is(pg_temp.run(current_date + 8),
  '{"queued": 2, "blocked": 0, "duplicate": 0, "no_channel": 0, "tasks_opened": 0, "skipped_engaged": 2, "after_lapse_notice": 0}'::jsonb,
  'a 48-hour window: the two cases whose links were opened 2 and 30 hours ago are skipped');
select is(pg_temp.link_sent('recent'), null, 'the case opened 2 hours ago gets nothing');
select is(pg_temp.link_sent('later'), (select link from cases where name = 'later'),
  'a click after the run''s as_of and a preview fetch do not count: reminded, with its tracked link');
select matches(pg_temp.link_sent('fresh'), '^http://127\.0\.0\.1:54321/functions/v1/go/[0-9A-Za-z]{12}$',
  'a case without a tracked link yet: its reminder carries a new one, not Razorpay''s URL');
select is(
  (select (tl.target_url, tl.purpose, tl.expires_at)::text from public.tracked_links tl
    where tl.code = regexp_replace(pg_temp.link_sent('fresh'), '^.*/', '')
      and tl.case_id = (select id from cases where name = 'fresh')),
  ('https://rzp.io/i/t54fresh', 'payment_link', pg_temp.ist(current_date + 20))::text,
  'made by the cadence for the case''s open payment link, expiring with it');
-- 24 hours (the default): the link opened 30 hours ago no longer does.
update public.app_settings set value = '24' where key = 'CADENCE_LINK_OPENED_HOURS';
select is(pg_temp.run(current_date + 8),
  '{"queued": 1, "blocked": 0, "duplicate": 0, "no_channel": 0, "tasks_opened": 0, "skipped_engaged": 1, "after_lapse_notice": 0}'::jsonb,
  'a 24-hour window: the case opened 30 hours ago is reminded, the one opened 2 hours ago still not');
select is(pg_temp.link_sent('older'), (select link from cases where name = 'older'),
  'its reminder carries the tracked link it opened before (the same code)');
select is(
  (select m.body from public.messages m
    where m.case_id = (select id from cases where name = 'older') and m.idempotency_key like 'cadence:%'),
  format('Hello Link 2, T-LNK-2 expires on %s. Pay: %s', to_char(current_date + 38, 'FMDD Mon YYYY'),
         (select link from cases where name = 'older')),
  'and its text shows the tracked link');
select is((select count(*)::int from public.tracked_links where case_id in (select id from cases)), 4,
  'one tracked link per case: the cadence reused those it found');
select is(pg_temp.run(current_date + 9) -> 'skipped_engaged', '0'::jsonb,
  'a day later the click of 2 hours before is out of the window ...');
select isnt(pg_temp.link_sent('recent'), null, '... and that case gets its reminder');

select * from finish();
rollback;
