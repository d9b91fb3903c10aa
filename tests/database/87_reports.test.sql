-- The scheduled reports with a moved clock (issue 11): a known week of June 2025 (IST) seeded
-- into the outbox, payments, tasks, breakers, quotas and alerts, the facts rebuilt for it, then
-- the daily report of Wednesday 11 June, the weekly report of 9 to 15 June (against 2 to 8 June)
-- and the monthly report of June, each figure checked exactly; the HTML and CSV with their
-- escaping; the email queued once for each active admin; a re-run that replaces in place; and
-- who may do what (service_role generates, admins read, nobody writes).
begin;
select plan(67);

select tests.create_test_book('2025-05-12');
update public.channels set daily_quota = 40 where name = 'SMS reminders';
-- ("lots" is refused on write since 20261130230500: written past the rule.)
select tests.write_settings_unchecked(
  '{"VENDOR_MONTHLY_BUDGET_PAISE": {"twilio": 1000, "aws_ses": 50, "whatsapp_cloud": "lots"}}');

create function pg_temp.ist(t text) returns timestamptz language sql immutable
as $$ select (t::timestamp at time zone 'Asia/Kolkata') $$;

-- The customers' messages of Wednesday 11 June 2025 (IST) and one to an admin.
insert into public.messages (customer_id, staff_id, case_id, channel, purpose, body, recipient, status,
  provider, idempotency_key, created_at, queued_at, sent_at, delivered_at, read_at, failed_at,
  blocked_at, blocked_reason, last_error_code, cost_paise, estimated_cost_paise)
values
  (tests.fixture('customer_a'), null, tests.fixture('case_a'), 'sms', 'service', 'm1', '+919800000001', 'delivered',
   'twilio', 'r87-m1', pg_temp.ist('2025-06-11 10:00'), pg_temp.ist('2025-06-11 10:00'),
   pg_temp.ist('2025-06-11 10:00:02'), pg_temp.ist('2025-06-11 10:00:10'), null, null, null, null, null, 25, 25),
  (tests.fixture('customer_b'), null, tests.fixture('case_b'), 'sms', 'service', 'm2', '+919800000002', 'delivered',
   'twilio', 'r87-m2', pg_temp.ist('2025-06-11 10:00'), pg_temp.ist('2025-06-11 10:00'),
   pg_temp.ist('2025-06-11 10:00:04'), pg_temp.ist('2025-06-11 10:00:20'), null, null, null, null, '20429', null, 25),
  (tests.fixture('customer_b'), null, tests.fixture('case_b'), 'sms', 'service', 'm3', '+919800000002', 'failed',
   'twilio', 'r87-m3', pg_temp.ist('2025-06-11 11:00'), pg_temp.ist('2025-06-11 11:00'),
   null, null, null, pg_temp.ist('2025-06-11 11:00:01'), null, null, '21211', null, 25),
  (tests.fixture('customer_a'), null, tests.fixture('case_a'), 'whatsapp', 'service', 'm4', '+919800000001', 'read',
   'whatsapp_cloud', 'r87-m4', pg_temp.ist('2025-06-11 12:00'), pg_temp.ist('2025-06-11 12:00'),
   pg_temp.ist('2025-06-11 12:00:03'), pg_temp.ist('2025-06-11 12:00:05'), pg_temp.ist('2025-06-11 12:00:09'),
   null, null, null, null, 11.5, 11.5),
  (tests.fixture('customer_a'), null, tests.fixture('case_a'), 'sms', 'service', 'm5', '+919800000001', 'blocked',
   null, 'r87-m5', pg_temp.ist('2025-06-11 13:00'), pg_temp.ist('2025-06-11 13:00'),
   null, null, null, null, pg_temp.ist('2025-06-11 13:00'), 'dnd', null, null, null),
  (tests.fixture('customer_a'), null, null, 'email', 'transactional', 'm6', 'customer_a@tests.py360.test', 'undeliverable',
   'aws_ses', 'r87-m6', pg_temp.ist('2025-06-11 14:00'), pg_temp.ist('2025-06-11 14:00'),
   pg_temp.ist('2025-06-11 14:00:01'), null, null, pg_temp.ist('2025-06-11 14:01'), null, null, 'Bounce.Permanent', null, 10),
  (null, tests.get_user_id('admin'), null, 'email', 'transactional', 'm7', 'admin@tests.py360.test', 'sent',
   'aws_ses', 'r87-m7', pg_temp.ist('2025-06-11 15:00'), pg_temp.ist('2025-06-11 15:00'),
   pg_temp.ist('2025-06-11 15:00:02'), null, null, null, null, null, null, null, 10),
  -- The week before: Wednesday 4 June.
  (tests.fixture('customer_a'), null, null, 'sms', 'service', 'p1', '+919800000001', 'delivered',
   'twilio', 'r87-p1', pg_temp.ist('2025-06-04 10:00'), pg_temp.ist('2025-06-04 10:00'),
   pg_temp.ist('2025-06-04 10:00:01'), pg_temp.ist('2025-06-04 10:00:08'), null, null, null, null, null, 30, 25),
  (tests.fixture('customer_a'), null, null, 'whatsapp', 'service', 'p2', '+919800000001', 'failed',
   'whatsapp_cloud', 'r87-p2', pg_temp.ist('2025-06-04 11:00'), pg_temp.ist('2025-06-04 11:00'),
   null, null, null, pg_temp.ist('2025-06-04 11:00:01'), null, null, '131047', null, 11.5);

-- Case a renewed: its installment paid on the day, online.
update public.payments set status = 'captured', captured_at = pg_temp.ist('2025-06-11 16:00')
 where id = tests.fixture('payment_a');
update public.outstanding_amounts set status = 'paid', paid_at = pg_temp.ist('2025-06-11 16:00'), reason = 'Razorpay'
 where id = tests.fixture('installment_a');

-- Two call tasks due on the day: one closed in time, one late.
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status, outcome, done_at)
values (tests.fixture('case_b'), tests.get_user_id('agent_b'), pg_temp.ist('2025-06-11 09:00'), 4,
        pg_temp.ist('2025-06-11 13:00'), 'done', 'Will pay', pg_temp.ist('2025-06-11 12:00')),
       (tests.fixture('case_b'), tests.get_user_id('agent_b'), pg_temp.ist('2025-06-11 09:00'), 4,
        pg_temp.ist('2025-06-11 13:00'), 'done', 'No answer', pg_temp.ist('2025-06-11 18:00'));

-- Each provider's breaker closed before the week; twilio not closed 90 s on the day, aws_sns open
-- from 23:59 to the day's end.
insert into public.provider_breaker_events (provider, breaker, at)
select v.code, 'closed', pg_temp.ist('2025-06-01 00:00') from public.vendors v
 where v.kind in ('sms', 'email', 'whatsapp');
insert into public.provider_breaker_events (provider, breaker, at) values
  ('twilio', 'open', pg_temp.ist('2025-06-11 14:00:00')),
  ('twilio', 'half_open', pg_temp.ist('2025-06-11 14:00:30')),
  ('twilio', 'closed', pg_temp.ist('2025-06-11 14:01:30')),
  ('aws_sns', 'open', pg_temp.ist('2025-06-11 23:59:00'));

-- What the claim counted against the quotas that day.
insert into private.provider_usage (provider, day, sent) values
  ('twilio', '2025-06-11', 3), ('whatsapp_cloud', '2025-06-11', 1), ('aws_ses', '2025-06-11', 2);

-- Alerts: one raised and resolved on the day (a subject built to break HTML and CSV), one raised
-- the day before and still open, one raised the week before and resolved then.
insert into public.alerts (rule, subject, status, raised_at, last_seen_at, resolved_at, resolution, summary)
values
  ('provider_breaker_open', '=HYPERLINK("x"), <b>"twilio"</b>', 'resolved', pg_temp.ist('2025-06-11 14:00:30'),
   pg_temp.ist('2025-06-11 14:01:00'), pg_temp.ist('2025-06-11 14:02:00'), 'cleared', 'breaker'),
  ('provider_quota', 'twilio', 'open', pg_temp.ist('2025-06-10 20:00'), pg_temp.ist('2025-06-11 20:00'),
   null, null, 'quota'),
  ('provider_error_rate', 'whatsapp_cloud', 'resolved', pg_temp.ist('2025-06-04 11:00'),
   pg_temp.ist('2025-06-04 11:10'), pg_temp.ist('2025-06-04 11:20'), 'cleared', 'errors');

select private.rebuild_analytics('2025-06-01', '2025-06-30');

-- The facts were last refreshed at 02:55 IST on the 12th, just before the daily report ran.
update private.analytics_state set refreshed_at = pg_temp.ist('2025-06-12 02:55');

-- p95 of queue-to-sent or queue-to-delivered latencies (seconds), as the facts' histograms give it.
create function pg_temp.p95(variadic seconds float8[]) returns numeric language sql immutable
as $$
  select trim_scale(round((analytics.latency_quantiles(array_agg(analytics.latency_bucket(s)),
                                                        array_agg(1::bigint), array[0.95]))[1]::numeric, 2))
    from unnest(seconds) s
$$;

-- The periods ---------------------------------------------------------------------------------

select results_eq(
  $$select k, d, p.period_start, p.period_end
      from (values ('daily', date '2025-06-12'), ('daily', date '2024-03-01'),
                   ('weekly', date '2025-06-16'), ('weekly', date '2025-06-15'),
                   ('monthly', date '2025-07-01'), ('monthly', date '2024-03-31')) as t (k, d),
           private.report_period(k, (d + time '03:00') at time zone 'Asia/Kolkata') p$$,
  $$values ('daily', date '2025-06-12', date '2025-06-11', date '2025-06-11'),
           ('daily', date '2024-03-01', date '2024-02-29', date '2024-02-29'),
           ('weekly', date '2025-06-16', date '2025-06-09', date '2025-06-15'),
           ('weekly', date '2025-06-15', date '2025-06-02', date '2025-06-08'),
           ('monthly', date '2025-07-01', date '2025-06-01', date '2025-06-30'),
           ('monthly', date '2024-03-31', date '2024-02-01', date '2024-02-29')$$,
  'each report covers the last complete IST day, Monday to Sunday week, or month before as_of');
select is(
  (select p.period_start from private.report_period('daily', '2025-06-11 20:00+00') p),
  date '2025-06-11',
  '20:00 UTC on the 11th is 01:30 IST on the 12th: the daily report is the 11th''s');

-- The daily report of Wednesday 11 June ---------------------------------------------------------

select tests.authenticate_as_service_role();
create temporary table daily as
  select * from private.generate_report('daily', '2025-06-12 03:00+05:30');
reset role;

select is((select (kind, period_start, period_end, as_of)::text from daily),
  ('daily', date '2025-06-11', date '2025-06-11', pg_temp.ist('2025-06-12 03:00'))::text,
  'service_role generates the daily report of the day before as_of');
select is((select figures - array['messages', 'providers', 'channels', 'failures', 'quota', 'costs',
                                  'renewals', 'alerts', 'alert_list'] from daily),
  '{"kind": "daily", "period_start": "2025-06-11", "period_end": "2025-06-11",
    "as_of": "2025-06-11T21:30:00Z", "facts_as_of": "2025-06-11T21:25:00Z"}'::jsonb,
  'it says what it covers, for which clock, and how fresh the facts were');
select is((select figures -> 'messages' from daily),
  jsonb_build_object('messages', 6, 'sent', 4, 'delivered', 3, 'read', 1, 'failed', 2,
    'blocked', 1, 'cancelled', 0, 'delivery_rate', 0.75, 'error_rate', 0.4,
    'p95_delivered_seconds', pg_temp.p95(10, 20, 5), 'cost_paise', 71.5, 'renewals', 1,
    'cost_per_renewal_paise', 71.5),
  'messages: the customers'' six of the day (not the admin''s email), 3 of 4 sent delivered, '
  '2 failed of 5 handed to a vendor, 71.5 paise, the renewal credited to the last message');
select is((select figures -> 'providers' from daily),
  jsonb_build_array(
    jsonb_build_object('provider', 'aws_ses', 'messages', 2, 'sent', 2, 'delivered', 0, 'failed', 1,
      'delivery_rate', 0, 'error_rate', 0.5, 'p95_sent_seconds', pg_temp.p95(1, 2),
      'p95_delivered_seconds', null, 'breaker_open_seconds', 0, 'cost_paise', 20),
    jsonb_build_object('provider', 'aws_sns', 'messages', 0, 'sent', 0, 'delivered', 0, 'failed', 0,
      'delivery_rate', null, 'error_rate', null, 'p95_sent_seconds', null,
      'p95_delivered_seconds', null, 'breaker_open_seconds', 60, 'cost_paise', 0),
    jsonb_build_object('provider', 'sendgrid', 'messages', 0, 'sent', 0, 'delivered', 0, 'failed', 0,
      'delivery_rate', null, 'error_rate', null, 'p95_sent_seconds', null,
      'p95_delivered_seconds', null, 'breaker_open_seconds', 0, 'cost_paise', 0),
    jsonb_build_object('provider', 'test_vendor', 'messages', 0, 'sent', 0, 'delivered', 0, 'failed', 0,
      'delivery_rate', null, 'error_rate', null, 'p95_sent_seconds', null,
      'p95_delivered_seconds', null, 'breaker_open_seconds', 0, 'cost_paise', 0),
    jsonb_build_object('provider', 'twilio', 'messages', 3, 'sent', 2, 'delivered', 2, 'failed', 1,
      'delivery_rate', 1, 'error_rate', 0.3333, 'p95_sent_seconds', pg_temp.p95(2, 4),
      'p95_delivered_seconds', pg_temp.p95(10, 20), 'breaker_open_seconds', 90, 'cost_paise', 50),
    jsonb_build_object('provider', 'whatsapp_cloud', 'messages', 1, 'sent', 1, 'delivered', 1,
      'failed', 0, 'delivery_rate', 1, 'error_rate', 0, 'p95_sent_seconds', pg_temp.p95(3),
      'p95_delivered_seconds', pg_temp.p95(5), 'breaker_open_seconds', 0, 'cost_paise', 11.5)),
  'providers: every messaging vendor, the admin''s email counted for SES; twilio''s breaker not '
  'closed for 90 s, SNS''s open from 23:59 to the day''s end');
select is((select figures -> 'channels' from daily),
  jsonb_build_array(
    jsonb_build_object('channel', 'email', 'provider', 'aws_ses', 'messages', 1, 'sent', 1,
      'delivered', 0, 'failed', 1, 'delivery_rate', 0, 'p95_delivered_seconds', null,
      'cost_paise', 10, 'cost_per_delivered_paise', null),
    jsonb_build_object('channel', 'sms', 'provider', 'twilio', 'messages', 3, 'sent', 2,
      'delivered', 2, 'failed', 1, 'delivery_rate', 1, 'p95_delivered_seconds', pg_temp.p95(10, 20),
      'cost_paise', 50, 'cost_per_delivered_paise', 25),
    jsonb_build_object('channel', 'sms', 'provider', null, 'messages', 1, 'sent', 0,
      'delivered', 0, 'failed', 0, 'delivery_rate', null, 'p95_delivered_seconds', null,
      'cost_paise', 0, 'cost_per_delivered_paise', null),
    jsonb_build_object('channel', 'whatsapp', 'provider', 'whatsapp_cloud', 'messages', 1,
      'sent', 1, 'delivered', 1, 'failed', 0, 'delivery_rate', 1,
      'p95_delivered_seconds', pg_temp.p95(5), 'cost_paise', 11.5, 'cost_per_delivered_paise', 11.5)),
  'channels: each channel and vendor pair of the customers'' messages, the blocked SMS with none');
select is((select figures -> 'failures' from daily),
  '[{"cause": "customer", "messages": 2, "share": 0.6667},
    {"cause": "provider", "messages": 0, "share": 0},
    {"cause": "us", "messages": 0, "share": 0},
    {"cause": "regulation", "messages": 1, "share": 0.3333}]'::jsonb,
  'failures by cause: an invalid number and a hard bounce are the customer''s, DND regulation''s');
select is((select figures -> 'quota' from daily),
  '[{"provider": "aws_ses", "daily_quota": null, "used": 2, "used_ratio": null},
    {"provider": "aws_sns", "daily_quota": null, "used": 0, "used_ratio": null},
    {"provider": "sendgrid", "daily_quota": null, "used": 0, "used_ratio": null},
    {"provider": "telegram", "daily_quota": null, "used": 0, "used_ratio": null},
    {"provider": "twilio", "daily_quota": 40, "used": 3, "used_ratio": 0.075},
    {"provider": "whatsapp_cloud", "daily_quota": 100000, "used": 1, "used_ratio": 0}]'::jsonb,
  'quota: what each provider was handed that day against its daily quota');
select is((select figures -> 'costs' from daily),
  '[{"provider": "aws_ses", "cost_paise": 20, "month_to_date_paise": 20, "budget_paise": 50,
     "budget_used_ratio": 0.4, "cost_per_delivered_paise": null},
    {"provider": "aws_sns", "cost_paise": 0, "month_to_date_paise": 0, "budget_paise": null,
     "budget_used_ratio": null, "cost_per_delivered_paise": null},
    {"provider": "sendgrid", "cost_paise": 0, "month_to_date_paise": 0, "budget_paise": null,
     "budget_used_ratio": null, "cost_per_delivered_paise": null},
    {"provider": "test_vendor", "cost_paise": 0, "month_to_date_paise": 0, "budget_paise": null,
     "budget_used_ratio": null, "cost_per_delivered_paise": null},
    {"provider": "twilio", "cost_paise": 50, "month_to_date_paise": 80, "budget_paise": 1000,
     "budget_used_ratio": 0.08, "cost_per_delivered_paise": 25},
    {"provider": "whatsapp_cloud", "cost_paise": 11.5, "month_to_date_paise": 11.5,
     "budget_paise": null, "budget_used_ratio": null, "cost_per_delivered_paise": 11.5}]'::jsonb,
  'costs: the day''s and the month''s spend per vendor against its budget ("lots" is none)');
select is((select figures -> 'renewals' from daily),
  '{"cases_due": 2, "renewed": 1, "renewal_rate": 0.5, "premium_due_paise": 2400000,
    "premium_collected_paise": 1200000, "payments_captured": 1, "tasks_due": 2,
    "sla_breaches": 1}'::jsonb,
  'renewals: the two cases due that day, one renewed; premium due and collected; one late task');
select is((select figures -> 'alerts' from daily),
  '{"raised": 1, "resolved": 1, "open_at_end": 1}'::jsonb,
  'alerts: the breaker''s raised and resolved that day; the quota alert of the 10th still open');
select is((select figures -> 'alert_list' from daily),
  '[{"subject": "=HYPERLINK(\"x\"), <b>\"twilio\"</b>", "rule": "provider_breaker_open",
     "status": "resolved", "raised_at": "2025-06-11T08:30:30Z",
     "resolved_at": "2025-06-11T08:32:00Z"}]'::jsonb,
  'the alerts raised that day, in UTC');

-- Its HTML and CSV -----------------------------------------------------------------------------

select ok((select html like '%<td style="padding:4px 8px;border:1px solid #ccc;text-align:left">'
                            '=HYPERLINK(&quot;x&quot;), &lt;b&gt;&quot;twilio&quot;&lt;/b&gt;</td>%'
             from daily),
  'the HTML escapes a value from the data');
select ok((select html not like '%<b>%' and html not like '%"twilio"%' from daily),
  'and never carries it raw');
select ok((select html like '<!doctype html>%<title>Daily operations report, Wednesday 11 Jun 2025</title>%'
                  and html like '%>Cost</th><td style="padding:4px 8px;border:1px solid #ccc;text-align:right">₹0.72</td>%'
                  and html like '%>75.00 %</td>%'
                  and html like '%>90.0 s</td>%'
                  and html like '%11 Jun 2025 14:00 IST%'
                  and html like format('%%GET /api/reports/%s/csv%%', id)
             from daily),
  'the HTML reads as people do: rupees, per cent, seconds, IST, and where the CSV is');
select is((select split_part(csv, E'\r\n', 1) from daily), 'section,item,measure,value',
  'the CSV opens with its header');
select is((select array_length(string_to_array(rtrim(csv, E'\r\n'), E'\r\n'), 1) from daily), 181,
  'one line per figure: 5 about the report, 13 messages, 6 vendors x 10, 4 causes x 2, 6 quotas x 3, '
  '6 costs x 5, 4 channels x 8, 8 renewals, 3 alerts, 1 alert x 3, and the header');
select ok((select csv like E'%\r\n' and csv !~ E'[^\\r]\\n' from daily),
  'every line ends with CRLF, none with a bare LF');
select ok((select string_to_array(csv, E'\r\n') @> array[
              'report,,as_of,2025-06-11T21:30:00Z',
              'messages,,cost_paise,71.5',
              'messages,,delivery_rate,0.75',
              'providers,twilio,breaker_open_seconds,90',
              'channels,sms / none,messages,1',
              'channels,email / aws_ses,p95_delivered_seconds,',
              'costs,whatsapp_cloud,budget_paise,',
              'renewals,,premium_collected_paise,1200000',
              'alert_list,"''=HYPERLINK(""x""), <b>""twilio""</b> / provider_breaker_open",raised_at,2025-06-11T08:30:30Z']
             from daily),
  'the CSV''s figures, raw; the alert''s subject quoted, its quotes doubled, guarded by an apostrophe');

select is(private.csv_field(f), expected, format('csv_field(%s)', f))
  from (values ('"=SUM(A1:A2)"'::jsonb, '''=SUM(A1:A2)'), ('"+1"', '''+1'), ('"-1+1"', '''-1+1'),
               ('"@cmd"', '''@cmd'), ('"\tx"', E'''\tx'), ('"\rx"', E'"''\rx"'),
               ('"a,b"', '"a,b"'), ('"say \"hi\""', '"say ""hi"""'), ('"a\nb"', E'"a\nb"'),
               ('-12', '-12'), ('"-12"', '''-12'), ('0.0001', '0.0001'), ('null', ''),
               ('"plain"', 'plain')) as t (f, expected);
select is(private.csv_field(null), '', 'csv_field of SQL null is an empty field');
select is(private.html_escape('<a href="x" title=''y''>R&D</a>'),
  '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;R&amp;D&lt;/a&gt;',
  'html_escape escapes the five characters, & first');

-- Emailed to each active admin, once -----------------------------------------------------------

create temporary view report_emails as
  select m.* from public.messages m where m.idempotency_key like 'staff:%:report:%';

select set_eq(
  $$select staff_id from report_emails where idempotency_key like '%:report:daily:2025-06-11'$$,
  $$select id from public.profiles where role = 'admin' and active$$,
  'the daily report is queued for every active admin (the demo''s and the test''s)');
select is_empty(
  $$select 1 from report_emails e, daily d
     where e.idempotency_key like '%:report:daily:2025-06-11'
       and not (e.channel = 'email' and e.status = 'queued' and e.body_html = d.html
                and e.subject = 'Py360: Daily operations report, Wednesday 11 Jun 2025'
                and e.body like E'Daily operations report, Wednesday 11 Jun 2025\nPeriod 2025-06-11 to 2025-06-11 (IST).\n%'
                and e.body like E'%\n  Subject =HYPERLINK("x"), <b>"twilio"</b>, Rule provider_breaker_open, %')
  $$,
  'each email carries the report''s HTML, its title as subject and the figures as text');

-- A re-run replaces the report in place, and mails nobody again ---------------------------------

insert into public.messages (customer_id, channel, purpose, body, recipient, status, provider,
  idempotency_key, created_at, queued_at, sent_at, delivered_at, estimated_cost_paise)
values (tests.fixture('customer_b'), 'sms', 'service', 'm8', '+919800000002', 'delivered', 'twilio',
        'r87-m8', pg_temp.ist('2025-06-11 21:00'), pg_temp.ist('2025-06-11 21:00'),
        pg_temp.ist('2025-06-11 21:00:01'), pg_temp.ist('2025-06-11 21:00:09'), 25);
select private.rebuild_analytics('2025-06-11', '2025-06-11');

select tests.authenticate_as_service_role();
create temporary table daily_again as
  select * from private.generate_report('daily', '2025-06-12 09:00+05:30');
reset role;

select is((select (id, as_of, figures #> '{messages,messages}', figures #> '{messages,cost_paise}')::text
             from daily_again),
  (select (id, pg_temp.ist('2025-06-12 09:00'), 7, 96.5)::text from daily),
  'a re-run for the same day keeps the report''s id and takes the facts as they are now');
select is((select count(*)::int from public.reports where kind = 'daily' and period_start = '2025-06-11'), 1,
  'one row per kind and period');
select is((select count(*)::int from report_emails
            where idempotency_key like '%:report:daily:2025-06-11'
              and body_html = (select html from daily)),
  (select count(*)::int from public.profiles where role = 'admin' and active),
  'and no second email: each admin still has the first one only');

-- The weekly report: 9 to 15 June against 2 to 8 June ---------------------------------------------

select tests.authenticate_as_service_role();
create temporary table weekly as
  select * from private.generate_report('weekly', '2025-06-16 03:15+05:30');
reset role;

select is((select (period_start, period_end)::text from weekly),
  (date '2025-06-09', date '2025-06-15')::text,
  'the weekly report covers the Monday to Sunday before as_of');
select is((select figures -> 'trends' from weekly),
  jsonb_build_array(
    '{"measure": "messages", "unit": "count", "this_period": 7, "previous_period": 2, "change": 5, "change_ratio": 2.5}'::jsonb,
    '{"measure": "delivered", "unit": "count", "this_period": 4, "previous_period": 1, "change": 3, "change_ratio": 3}'::jsonb,
    '{"measure": "delivery_rate", "unit": "rate", "this_period": 0.8, "previous_period": 1, "change": -0.2, "change_ratio": -0.2}'::jsonb,
    '{"measure": "failed", "unit": "count", "this_period": 2, "previous_period": 1, "change": 1, "change_ratio": 1}'::jsonb,
    '{"measure": "error_rate", "unit": "rate", "this_period": 0.3333, "previous_period": 0.5, "change": -0.1667, "change_ratio": -0.3334}'::jsonb,
    jsonb_build_object('measure', 'p95_delivered_seconds', 'unit', 'seconds',
      'this_period', pg_temp.p95(10, 20, 5, 9), 'previous_period', pg_temp.p95(8),
      'change', pg_temp.p95(10, 20, 5, 9) - pg_temp.p95(8),
      'change_ratio', trim_scale(round((pg_temp.p95(10, 20, 5, 9) - pg_temp.p95(8)) / pg_temp.p95(8), 4))),
    '{"measure": "cost_paise", "unit": "paise", "this_period": 96.5, "previous_period": 30, "change": 66.5, "change_ratio": 2.2167}'::jsonb,
    '{"measure": "cases_due", "unit": "count", "this_period": 2, "previous_period": 0, "change": 2, "change_ratio": null}'::jsonb,
    '{"measure": "renewed", "unit": "count", "this_period": 1, "previous_period": 0, "change": 1, "change_ratio": null}'::jsonb,
    '{"measure": "renewal_rate", "unit": "rate", "this_period": 0.5, "previous_period": null, "change": null, "change_ratio": null}'::jsonb,
    '{"measure": "premium_collected_paise", "unit": "paise", "this_period": 1200000, "previous_period": 0, "change": 1200000, "change_ratio": null}'::jsonb,
    '{"measure": "sla_breaches", "unit": "count", "this_period": 1, "previous_period": 0, "change": 1, "change_ratio": null}'::jsonb,
    '{"measure": "alerts_raised", "unit": "count", "this_period": 2, "previous_period": 1, "change": 1, "change_ratio": 1}'::jsonb),
  'trends: each headline figure against the week before, the change and the relative change');
select is((select figures -> 'alerts' from weekly),
  '{"raised": 2, "resolved": 1, "open_at_end": 1}'::jsonb,
  'the week''s alerts: the quota alert of the 10th and the breaker''s of the 11th');
select is((select jsonb_path_query_array(figures, '$.providers[*] ? (@.provider == "aws_sns" || @.provider == "twilio").breaker_open_seconds') from weekly),
  '[345660, 90]'::jsonb,
  'SNS''s breaker, open from 23:59 on the 11th, counts to the week''s end: 4 days and 60 s');
select ok((select string_to_array(csv, E'\r\n') @> array[
              'trends,error_rate,this_period,0.3333',
              'trends,error_rate,unit,rate',
              'trends,delivery_rate,change,-0.2',
              'trends,renewal_rate,previous_period,']
             from weekly),
  'the weekly CSV: a negative change is a number, not guarded text');
select ok((select html like '%<h2 style="font-size:16px;margin:20px 0 6px">This week against the week before</h2>%'
                  and html like '%>-20.00 %</td>%'
             from weekly),
  'the weekly HTML opens with the trends');

-- The monthly report: June ---------------------------------------------------------------------

select tests.authenticate_as_service_role();
create temporary table monthly as
  select * from private.generate_report('monthly', '2025-07-01 05:30+05:30');
reset role;

select is((select (period_start, period_end)::text from monthly),
  (date '2025-06-01', date '2025-06-30')::text, 'the monthly report covers June');
select is((select figures -> 'costs' from monthly),
  '[{"provider": "aws_ses", "cost_paise": 20, "month_to_date_paise": 20, "budget_paise": 50,
     "budget_used_ratio": 0.4, "cost_per_delivered_paise": null},
    {"provider": "aws_sns", "cost_paise": 0, "month_to_date_paise": 0, "budget_paise": null,
     "budget_used_ratio": null, "cost_per_delivered_paise": null},
    {"provider": "sendgrid", "cost_paise": 0, "month_to_date_paise": 0, "budget_paise": null,
     "budget_used_ratio": null, "cost_per_delivered_paise": null},
    {"provider": "test_vendor", "cost_paise": 0, "month_to_date_paise": 0, "budget_paise": null,
     "budget_used_ratio": null, "cost_per_delivered_paise": null},
    {"provider": "twilio", "cost_paise": 105, "month_to_date_paise": 105, "budget_paise": 1000,
     "budget_used_ratio": 0.105, "cost_per_delivered_paise": 26.25},
    {"provider": "whatsapp_cloud", "cost_paise": 11.5, "month_to_date_paise": 11.5,
     "budget_paise": null, "budget_used_ratio": null, "cost_per_delivered_paise": 11.5}]'::jsonb,
  'the cost report: each vendor''s month against its budget, and per message delivered');
select is((select jsonb_path_query_array(figures, '$.providers[*] ? (@.provider == "twilio" || @.provider == "whatsapp_cloud" || @.provider == "aws_sns")') from monthly),
  jsonb_build_array(
    jsonb_build_object('provider', 'aws_sns', 'messages', 0, 'sent', 0, 'delivered', 0, 'failed', 0,
      'delivery_rate', null, 'error_rate', null, 'p95_sent_seconds', null,
      'p95_delivered_seconds', null, 'breaker_open_seconds', 1641660, 'cost_paise', 0),
    jsonb_build_object('provider', 'twilio', 'messages', 5, 'sent', 4, 'delivered', 4, 'failed', 1,
      'delivery_rate', 1, 'error_rate', 0.2, 'p95_sent_seconds', pg_temp.p95(2, 4, 1, 1),
      'p95_delivered_seconds', pg_temp.p95(10, 20, 8, 9), 'breaker_open_seconds', 90,
      'cost_paise', 105),
    jsonb_build_object('provider', 'whatsapp_cloud', 'messages', 2, 'sent', 1, 'delivered', 1,
      'failed', 1, 'delivery_rate', 1, 'error_rate', 0.5, 'p95_sent_seconds', pg_temp.p95(3),
      'p95_delivered_seconds', pg_temp.p95(5), 'breaker_open_seconds', 0, 'cost_paise', 11.5)),
  'the SLA review: each vendor''s delivery rate, error rate, p95 and breaker time over the month');
select is((select figures -> 'failures' from monthly),
  '[{"cause": "customer", "messages": 2, "share": 0.5},
    {"cause": "provider", "messages": 0, "share": 0},
    {"cause": "us", "messages": 0, "share": 0},
    {"cause": "regulation", "messages": 2, "share": 0.5}]'::jsonb,
  'the month''s failures: WhatsApp''s 24-hour window of the 4th counts as regulation''s');
select ok((select html like '%<h2 style="font-size:16px;margin:20px 0 6px">Cost report: the month against the budget</h2>%'
                  and html like '%<h2 style="font-size:16px;margin:20px 0 6px">Vendor SLA review</h2>%'
                  and html like '%<title>Monthly cost and vendor SLA report, June 2025</title>%'
             from monthly),
  'the monthly HTML: the cost report and the vendor SLA review');

-- Who may do what ---------------------------------------------------------------------------------

select throws_ok($$select private.generate_report('yearly', now())$$, '22023',
  'kind must be daily, weekly or monthly', 'an unknown kind is refused');
select throws_ok($$select private.generate_report('daily', 'infinity')$$, '22023',
  'as_of must be a finite time', 'an endless clock is refused');

select tests.authenticate_as('admin');
select is((select count(*)::int from public.reports where period_start between '2025-06-01' and '2025-06-30'), 3,
  'an admin reads the reports');
select throws_ok($$select private.generate_report('daily', now())$$, '42501',
  'permission denied for function generate_report', 'an admin cannot generate one');
select throws_ok(
  $$insert into public.reports (kind, period_start, period_end, as_of, figures, html, csv)
    values ('daily', '2031-01-01', '2031-01-01', now(), '{}', '', '')$$,
  '42501', 'permission denied for table reports', 'an admin cannot write one');
select throws_ok($$update public.reports set html = '<p>forged</p>'$$,
  '42501', 'permission denied for table reports', 'nor change one');
select throws_ok($$delete from public.reports$$,
  '42501', 'permission denied for table reports', 'nor delete one');

select tests.authenticate_as('zone_manager');
select is_empty($$select 1 from public.reports$$, 'a manager sees no report');
select throws_ok($$select private.generate_report('daily', now())$$, '42501',
  'permission denied for function generate_report', 'nor generates one');
select tests.authenticate_as('agent_a');
select is_empty($$select 1 from public.reports$$, 'an agent sees no report');
select throws_ok($$select private.generate_report('daily', now())$$, '42501',
  'permission denied for function generate_report', 'nor generates one');
select tests.authenticate_as('analyst');
select is_empty($$select 1 from public.reports$$, 'an analyst sees no report');
select tests.clear_authentication();
select throws_ok($$select 1 from public.reports$$, '42501', 'permission denied for table reports',
  'anon may not read reports at all');
select tests.authenticate_as_service_role();
select throws_ok($$delete from public.reports$$,
  '42501', 'permission denied for table reports', 'service_role reads them but writes only through generate_report');
reset role;

-- The schedule --------------------------------------------------------------------------------------

-- One hourly job generates what is due in the business time zone (tests/database/92_due_reports).
select is(
  (select string_agg(format('%s | %s | %s', jobname, schedule, command), E'\n' order by jobname)
     from cron.job where jobname like 'report-%'),
  'report-due | 5 * * * * | select count(*) from private.generate_due_reports()',
  'pg_cron: hourly, generating each report once due (past 03:00 of the next business day)');

select * from finish();
rollback;
