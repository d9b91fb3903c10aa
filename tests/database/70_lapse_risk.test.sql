-- The lapse-risk scores (issue 10, "Risk"): private.score_lapse_risk scores every open case and
-- only those, with the scorecard's exact points and at least two reasons; the same data and as_of
-- give the same rows; a failed payment raises the score and, entering the high band, the case's
-- priority (once: an agent may lower it again); a closed case loses its score; agents read the
-- scores of their own cases only and write none; only service_role (and pg_cron) runs the job.
begin;
select plan(23);
select tests.create_test_book();
-- Only the two cases of the test book stay open (the seed's are closed).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
   and id not in (tests.fixture('case_a'), tests.fixture('case_b'));

-- A lost case: closed, never scored.
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end, stage,
                                  lost_reason)
values (tests.fixture('policy_spare'), tests.fixture('customer_a'), tests.get_user_id('agent_a'),
        current_date + 65, current_date + 65, 'lost', 'Bought elsewhere');

create temporary table runs (n integer, outcome text, cases bigint);
grant select on runs to authenticated;

insert into runs select 1, r.* from private.score_lapse_risk(now()) r;
select is(array(select format('%s=%s', outcome, cases) from runs where n = 1 order by outcome),
          array['high=0', 'priority_raised=0', 'removed=0', 'scored=2'],
          'the first run scores the two open cases, none of them high');
select set_eq($$select case_id from public.case_risk_scores$$,
              $$select id from public.renewal_cases
                 where stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse')$$,
              'every open case has a score, and only open cases');

-- Case a: motor, due in 30 days (0 points), first term (+8), motor (+6), no NCB, no history, every
-- channel reachable, stage new: 40 + 8 + 6 = 54.
select is((select (r.score, r.band, r.model_version, r.as_of = now())::text
             from public.case_risk_scores r where r.case_id = tests.fixture('case_a')),
          '(54,medium,rules-2026-11,t)',
          'case a scores 40 + 8 (first term) + 6 (motor) = 54, medium, with the model version and as_of');
select is((select reasons from public.case_risk_scores where case_id = tests.fixture('case_a')),
          '[{"feature": "tenure_years", "value": 0, "weight": 8, "direction": "raises"},
            {"feature": "product_line", "value": "motor", "weight": 6, "direction": "raises"}]'::jsonb,
          'its reasons are the features that scored, largest first, with their values and points');

-- Deterministic: the same data and as_of give the same rows (scored_at is the run's wall clock).
create temporary table first_scores as
select case_id, as_of, model_version, score, band, reasons from public.case_risk_scores;
insert into runs select 11, r.* from private.score_lapse_risk(now()) r;
select set_eq($$select case_id, as_of, model_version, score, band, reasons from public.case_risk_scores$$,
              $$select * from first_scores$$,
              'a second run with the same as_of writes the same scores');

-- A failed payment on case a: +12, high; its priority rises from normal to high.
insert into public.payments (case_id, razorpay_order_id, razorpay_payment_id, amount, status,
                             failure_reason)
values (tests.fixture('case_a'), 'order_TFAIL', 'pay_TFAIL', 1200000, 'failed', 'Card declined');
insert into runs select 2, r.* from private.score_lapse_risk(now()) r;
select is((select (score, band)::text from public.case_risk_scores where case_id = tests.fixture('case_a')),
          '(66,high)', 'a failed payment raises case a from 54 to 66, into the high band');
select is((select reasons -> 0 from public.case_risk_scores where case_id = tests.fixture('case_a')),
          '{"feature": "failed_payments", "value": 1, "weight": 12, "direction": "raises"}'::jsonb,
          'the failed payment is its first reason');
select is((select score from public.case_risk_scores where case_id = tests.fixture('case_b')),
          54::smallint, 'case b, without a failed payment, keeps its 54');
select is(array(select format('%s=%s', outcome, cases) from runs where n = 2 order by outcome),
          array['high=1', 'priority_raised=1', 'removed=0', 'scored=2'],
          'the run counts one high case and one priority raised');
select is(array(select format('%s %s', case_number, priority) from public.renewal_cases
                 where id in (tests.fixture('case_a'), tests.fixture('case_b'))
                 order by id = tests.fixture('case_b')),
          array[(select case_number from public.renewal_cases where id = tests.fixture('case_a')) || ' high',
                (select case_number from public.renewal_cases where id = tests.fixture('case_b')) || ' normal'],
          'case a entering the high band is raised to high priority; case b stays normal');

-- The agent lowers it again: the next run, still high, leaves the agent's choice alone.
update public.renewal_cases set priority = 'normal' where id = tests.fixture('case_a');
insert into runs select 12, r.* from private.score_lapse_risk(now()) r;
select is((select priority from public.renewal_cases where id = tests.fixture('case_a')),
          'normal'::public.case_priority,
          'a case already in the high band is not raised again over the agent''s choice');

-- RLS: each agent reads the scores of the cases they hold; nobody writes through the API roles.
select tests.authenticate_as('agent_a');
select results_eq($$select case_id from public.case_risk_scores$$,
                  array[tests.fixture('case_a')], 'agent a reads case a''s score only');
select tests.authenticate_as('agent_b');
select results_eq($$select case_id from public.case_risk_scores$$,
                  array[tests.fixture('case_b')], 'agent b reads case b''s score only');
reset role;
select is(array[
            tests.affected_rows_as('agent_a', $$update public.case_risk_scores set score = 0$$),
            tests.affected_rows_as('agent_a', $$delete from public.case_risk_scores$$),
            tests.affected_rows_as('agent_a', format(
              $$insert into public.case_risk_scores (case_id, as_of, model_version, score, band, reasons)
                values (%L, now(), 'rules-x', 1, 'low', '[{}, {}]')$$, tests.fixture('case_a'))),
            tests.affected_rows_as('admin', $$update public.case_risk_scores set score = 0$$)],
          array['42501', '42501', '42501', '42501'],
          'agents and admins may not update, delete or insert scores');
select throws_ok(
  $$insert into public.case_risk_scores (case_id, as_of, model_version, score, band, reasons)
    values (tests.fixture('case_a'), now(), 'rules-x', 90, 'low', '[{}, {}]')$$,
  '23514', null, 'a band that does not match the score is refused');

-- A closed case loses its score at the next run.
update public.renewal_cases set stage = 'lost', lost_reason = 'Moved abroad'
 where id = tests.fixture('case_b');
insert into runs select 3, r.* from private.score_lapse_risk(now()) r;
select is((select cases from runs where n = 3 and outcome = 'removed'), 1::bigint,
          'the run removes one score');
select is_empty($$select 1 from public.case_risk_scores where case_id = tests.fixture('case_b')$$,
                'the lost case b has no score any more');

-- Another moment: three days before expiry case a gains 12 points more (40 + 8 + 6 + 12 + 12).
insert into runs select 13, r.* from private.score_lapse_risk(now() + interval '27 days') r;
select is((select score from public.case_risk_scores where case_id = tests.fixture('case_a')),
          78::smallint, 'three days before expiry case a scores 12 points more (78)');

-- History: case a's policy renewed a term of ₹10,000 (now ₹12,000: +20 %) that started 700 days
-- ago (tenure 1 year), and the customer let a home policy lapse.
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, status)
values ('T-POL-A-PREV', 'motor', 'Test General', tests.fixture('customer_a'),
        tests.get_user_id('agent_a'), 1000000, 50000000, current_date - 700, current_date - 336,
        'renewed'),
       ('T-POL-A-HOME', 'home', 'Test Home', tests.fixture('customer_a'),
        tests.get_user_id('agent_a'), 500000, 90000000, current_date - 500, current_date - 136,
        'lapsed');
update public.policies set renewed_from_policy_id = (select id from public.policies
                                                      where policy_number = 'T-POL-A-PREV')
 where id = tests.fixture('policy_a');
insert into runs select 14, r.* from private.score_lapse_risk(now()) r;
select is((select (score, reasons)::text from public.case_risk_scores
            where case_id = tests.fixture('case_a')),
          (81, '[{"feature": "earlier_lapses", "value": 1, "weight": 15, "direction": "raises"},
                 {"feature": "failed_payments", "value": 1, "weight": 12, "direction": "raises"},
                 {"feature": "premium_change_pct", "value": 20.0, "weight": 10, "direction": "raises"}]'::jsonb)::text,
          'a lapse before (+15), the failed payment (+12), +20 % at the last renewal (+10), tenure 1 year (-2): 81');

-- Who runs it: pg_cron daily at 00:40 UTC (06:10 IST, after the renewal jobs), and service_role.
select is((select (schedule, command)::text from cron.job where jobname = 'score-lapse-risk'),
          '("40 0 * * *","select count(*) from private.score_lapse_risk()")',
          'pg_cron scores the book daily at 00:40 UTC, after the renewal jobs');
select tests.authenticate_as_service_role();
select lives_ok($$select private.score_lapse_risk(now())$$, 'service_role runs the scoring');
select tests.authenticate_as('admin');
select throws_ok($$select private.score_lapse_risk(now())$$, '42501', null,
                 'a signed-in admin cannot');
reset role;
select throws_ok($$select private.score_lapse_risk(null)$$, '22023', null, 'a null as_of is refused');

select * from finish();
rollback;
