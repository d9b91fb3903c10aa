-- Regression test from the issue 9 review, once a defect (issue 9, the daily cadence): one bad value aborts the whole day for the whole book.
-- (Failed at 47459fe; holds since a36f049, which fixed (a)-(c) after review.)
-- private.tracked_link raises 22023 inside run_reminder_cadence's single statement, so:
--   (a) one case's payment link whose short_url is not a plain http(s) URL, or
--   (b) LINK_BASE_URL (an admin-edited setting) written without its scheme,
-- make run_reminder_cadence fail, and no customer gets a reminder that day (nor any later day
-- until someone fixes the row). Also (c): an as_of replay is judged with facts from after as_of
-- (a WhatsApp reply received later makes the customer "engaged" on an earlier day), whereas link
-- clicks are cut at as_of.
begin;
select plan(6);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

create function pg_temp.ist(day date, clock time default '12:00') returns timestamptz
language sql immutable
as $$ select (day + clock) at time zone 'Asia/Kolkata' $$;

create function pg_temp.make_case(n integer, due date) returns uuid
language plpgsql
as $$
declare
  customer uuid;
  policy uuid;
  renewal uuid;
begin
  insert into public.customers (full_name, phone, email)
  values ('Probe94 ' || n, '+9197400000' || lpad(n::text, 2, '0'), 'p94_' || n || '@tests.py360.test')
  returning id into customer;
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                               sum_insured, start_date, end_date, ncb_percent)
  values ('T-P94-' || n, 'motor', 'Test General', customer, tests.get_user_id('agent_a'), 1200000,
          50000000, due - 365, due, 20)
  returning id into policy;
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values (policy, customer, tests.get_user_id('agent_a'), due, due)
  returning id into renewal;
  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
  values (renewal, 1, due, 1200000);
  return renewal;
end;
$$;

create function pg_temp.run(day date) returns jsonb
language sql
as $$ select jsonb_object_agg(c.outcome, c.cases) from private.run_reminder_cadence(pg_temp.ist(day)) c $$;

-- Three cases due in 30 days: their -30 step (email: the ladder's templates are seeded in email).
create temporary table cases (name text, id uuid);
insert into cases values ('plain', pg_temp.make_case(1, current_date + 30)),
                         ('odd_link', pg_temp.make_case(2, current_date + 30)),
                         ('replied_later', pg_temp.make_case(3, current_date + 60));
-- Case 2 has an open payment link whose short_url Razorpay gave us with a space in it.
insert into public.payment_links (case_id, razorpay_payment_link_id, short_url, amount, amount_paid, status, expire_by)
values ((select id from cases where name = 'odd_link'), 'plink_P94A', 'https://rzp.io/i/p94 a', 1200000, 0,
        'created', now() + interval '60 days');

-- (a)
select lives_ok($$select pg_temp.run(current_date)$$,
                'the cadence runs although one case''s payment link is odd');
select is((select count(*)::integer from public.messages m where m.case_id = (select id from cases where name = 'plain')),
          1, 'the other customer gets their -30 reminder that day');

-- (b) the link fixed, but the base URL has no scheme (refused on write since 20261130230500:
-- written past the rule).
update public.payment_links set short_url = 'https://rzp.io/i/p94a' where razorpay_payment_link_id = 'plink_P94A';
select tests.write_settings_unchecked('{"LINK_BASE_URL": "go.py360.example/l"}');
select lives_ok($$select pg_temp.run(current_date)$$,
                'a mistyped LINK_BASE_URL does not stop the whole cadence');
select is((select count(*)::integer from public.messages m where m.case_id = (select id from cases where name = 'plain')),
          1, 'the customer without a payment link still gets their reminder');
update public.app_settings set value = '"http://127.0.0.1:54321/functions/v1/go"' where key = 'LINK_BASE_URL';

-- (c) Replaying day D (the -30 step of case 3) after the customer wrote to us on D+5: on day D
-- they had not replied, so the replay should send the step.
insert into public.whatsapp_windows (customer_id, last_inbound_at)
select customer_id, pg_temp.ist(current_date + 35) from public.renewal_cases where id = (select id from cases where name = 'replied_later');
select is(pg_temp.run(current_date + 30) -> 'skipped_engaged', '0'::jsonb,
          'a replay of day D does not count a reply received after D as engagement');
select is((select count(*)::integer from public.messages m where m.case_id = (select id from cases where name = 'replied_later')
              and m.queued_at = pg_temp.ist(current_date + 30)),
          1, 'so the replayed day queues the step');

select * from finish();
rollback;
