-- The lapse scoring's kept histories (issue 10, migration 20261130141207): the slow-moving
-- features of each open case are kept in private.case_risk_histories between runs; triggers on
-- policies, renewal_cases and outstanding_amounts mark the customers whose data changed, and a run
-- computes again the histories of marked customers, of new cases, and of cases whose spans do not
-- hold at its as_of. What must hold: the kept features are the ones a run computing everything
-- would find, for any as_of, and only open cases have one.
begin;
select plan(30);
select tests.create_test_book();
-- Only the two cases of the test book stay open (the seed's are closed).
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the probe'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
   and id not in (tests.fixture('case_a'), tests.fixture('case_b'));

create temporary table runs (n integer, outcome text, cases bigint);
create temporary view history_a as
select h.* from private.case_risk_histories h where h.case_id = tests.fixture('case_a');

-- Whether the scores a run at as_of writes from the kept histories equal those it writes when it
-- computes every history again (the kept ones deleted), in a savepoint rolled back after.
create function pg_temp.kept_equals_computed(as_of timestamptz) returns boolean
language plpgsql as $$
declare
  same boolean;
begin
  perform private.score_lapse_risk(as_of);
  create temporary table kept_scores as
    select case_id, score, band, reasons from public.case_risk_scores;
  delete from private.case_risk_histories;
  perform private.score_lapse_risk(as_of);
  select not exists (
    (select case_id, score, band, reasons from public.case_risk_scores
     except select * from pg_temp.kept_scores)
    union all
    (select * from pg_temp.kept_scores
     except select case_id, score, band, reasons from public.case_risk_scores))
    into same;
  drop table pg_temp.kept_scores;
  return same;
end
$$;

insert into runs select 1, r.* from private.score_lapse_risk(now()) r;
select set_eq($$select case_id from private.case_risk_histories$$,
              array[tests.fixture('case_a'), tests.fixture('case_b')],
              'a run keeps the histories of the two open cases, and only theirs');
select is((select (policy_id, product_line, premium, ncb_percent, previous_premium, earlier_lapses,
                   late_installments, first_start = current_date - 335)::text from history_a),
          (tests.fixture('policy_a'), 'motor', 1200000, 0, null::bigint, 0, 0, true)::text,
          'case a''s history: its policy''s line and premium, no term before it, its first start');
select ok((select private.business_date(now()) <@ days and now() <@ as_of_span from history_a),
          'the history holds on the day and at the as_of it was computed for');
select is_empty($$select 1 from private.case_risk_history_changes$$,
                'the run took every mark');

-- Changes nothing a history reads: no mark.
update public.policies set insurer = 'Test General Renamed' where id = tests.fixture('policy_a');
update public.renewal_cases set stage = 'contacted' where id = tests.fixture('case_a');
update public.outstanding_amounts set amount = amount where id = tests.fixture('installment_a');
select is_empty($$select 1 from private.case_risk_history_changes$$,
                'renaming an insurer, contacting a case, rewriting an amount mark nobody');

-- History: case a's policy renewed a term of ₹10,000 (+20 %) that started 700 days ago, and the
-- customer let a home policy lapse 136 days ago.
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
select is((select array_agg(distinct customer_id) from private.case_risk_history_changes),
          array[tests.fixture('customer_a')],
          'the new terms and the renewal link mark customer a, and only customer a');

insert into runs select 2, r.* from private.score_lapse_risk(now()) r;
select is((select (previous_premium, earlier_lapses, first_start = current_date - 700)::text
             from history_a),
          (1000000::bigint, 1, true)::text,
          'the next run reads the new history: the premium renewed, one lapse, the first start');
select ok(pg_temp.kept_equals_computed(now()),
          'and scores as a run computing every history would');

-- Another as_of: 200 days ago the home policy had not lapsed yet (it ended 136 days ago), and
-- 800 days ago no term had started. The spans do not hold there: computed again, not read.
savepoint earlier;
insert into runs select 3, r.* from private.score_lapse_risk(now() - interval '200 days') r;
select is((select (earlier_lapses, previous_premium, first_start = current_date - 700)::text
             from history_a),
          (0, 1000000::bigint, true)::text,
          '200 days ago: no lapse yet, the same renewed term');
select ok(pg_temp.kept_equals_computed(now() - interval '200 days'),
          '200 days ago the kept histories score as computed ones');
insert into runs select 4, r.* from private.score_lapse_risk(now() - interval '800 days') r;
select is((select (earlier_lapses, previous_premium, first_start)::text from history_a),
          (0, null::bigint, null::date)::text,
          '800 days ago: no term had started, so no first start and no renewed premium');
select ok(pg_temp.kept_equals_computed(now() - interval '800 days'),
          '800 days ago as well');
rollback to savepoint earlier;

-- Late installments: customer a's health case (the spare policy), closed lost two days ago with
-- an installment overdue, counts from then on.
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end, stage,
                                  lost_reason, closed_at)
values (tests.fixture('policy_spare'), tests.fixture('customer_a'), tests.get_user_id('agent_a'),
        current_date - 10, current_date - 10, 'lost', 'Bought elsewhere', now() - interval '2 days');
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount, status)
select c.id, 1, current_date - 10, 2500000, 'overdue'
  from public.renewal_cases c where c.policy_id = tests.fixture('policy_spare');
select is((select array_agg(distinct customer_id) from private.case_risk_history_changes),
          array[tests.fixture('customer_a')],
          'a closed case and its installment mark their customer');
insert into runs select 5, r.* from private.score_lapse_risk(now()) r;
select is((select (late_installments, lower(as_of_span) = now() - interval '2 days',
                   upper_inf(as_of_span))::text from history_a),
          (1, true, true)::text,
          'case a counts the installment left overdue, from its case''s closing on');
select ok(pg_temp.kept_equals_computed(now()), 'and scores as computed');
savepoint before_closing;
insert into runs select 6, r.* from private.score_lapse_risk(now() - interval '3 days') r;
select is((select late_installments from history_a), 0,
          'three days ago the case was not closed yet: nothing late');
select ok(pg_temp.kept_equals_computed(now() - interval '3 days'), 'as computed');
rollback to savepoint before_closing;

-- Another business time zone decides "paid late" differently: every history is computed again.
update public.app_settings set value = '"UTC"' where key = 'BUSINESS_TIME_ZONE';
insert into runs select 7, r.* from private.score_lapse_risk(now()) r;
select is((select array_agg(distinct time_zone) from private.case_risk_histories), array['UTC'],
          'a run under another time zone keeps histories of that zone');
update public.app_settings set value = '"Asia/Kolkata"' where key = 'BUSINESS_TIME_ZONE';

-- A bulk load under session_replication_role = replica still marks (the triggers fire always).
delete from private.case_risk_history_changes;
set local session_replication_role = replica;
update public.policies set premium = 1300000 where id = tests.fixture('policy_b');
set local session_replication_role = origin;
select is((select array_agg(distinct customer_id) from private.case_risk_history_changes),
          array[tests.fixture('customer_b')],
          'a premium changed under replica role marks its customer');
insert into runs select 8, r.* from private.score_lapse_risk(now()) r;
select is((select premium from private.case_risk_histories where case_id = tests.fixture('case_b')),
          1300000::bigint, 'and the next run reads the new premium');

-- A closed case loses its history; deleting an installment marks its customer.
update public.renewal_cases set stage = 'lost', lost_reason = 'Moved abroad'
 where id = tests.fixture('case_b');
delete from public.outstanding_amounts
 where case_id = (select id from public.renewal_cases where policy_id = tests.fixture('policy_spare'));
select set_eq($$select customer_id from private.case_risk_history_changes$$,
              array[tests.fixture('customer_a'), tests.fixture('customer_b')],
              'closing case b and deleting customer a''s installment mark both customers');
insert into runs select 9, r.* from private.score_lapse_risk(now()) r;
select set_eq($$select case_id from private.case_risk_histories$$, array[tests.fixture('case_a')],
              'the next run deletes case b''s history');
select is((select late_installments from history_a), 0, 'and case a has nothing late any more');

-- A truncate names no rows to mark: it forgets every kept history.
savepoint truncating;
truncate public.outstanding_amounts cascade;
select is_empty($$select 1 from private.case_risk_histories$$,
                'truncating the installments deletes every kept history');
rollback to savepoint truncating;

-- A policy deleted under replica role (no foreign key to stop it): its case's history cannot be
-- computed again, so the case has none and no score, as in a run computing everything.
savepoint deleting;
set local session_replication_role = replica;
delete from public.policies where id = tests.fixture('policy_a');
set local session_replication_role = origin;
insert into runs select 10, r.* from private.score_lapse_risk(now()) r;
select is_empty($$select 1 from history_a$$, 'a case whose policy is gone keeps no history');
select ok(pg_temp.kept_equals_computed(now()), 'and is scored as a run computing everything would');
rollback to savepoint deleting;

-- A lapsed term ending on the last date there is: the span is unbounded, the run does not fail.
savepoint far_end;
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, status)
values ('T-POL-A-FAR', 'home', 'Test Home', tests.fixture('customer_a'),
        tests.get_user_id('agent_a'), 500000, 90000000, current_date - 10, '5874897-12-31',
        'lapsed');
insert into runs select 11, r.* from private.score_lapse_risk(now()) r;
select ok((select upper_inf(days) from history_a),
          'a lapse ending on 5874897-12-31 leaves the span unbounded, and the run scores');
rollback to savepoint far_end;

-- BUSINESS_TIME_ZONE as an abbreviation: read with the Default abbreviations whatever the
-- session's, so what one session keeps another would compute. An installment of the closed
-- health case due on a day and paid at 20:00 UTC that day: late in India (01:30 the next day),
-- not under Default's IST (+02).
savepoint abbreviated;
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount, status,
                                        paid_at)
select c.id, 2, current_date - 40, 2500000, 'paid', ((current_date - 40)::timestamp + interval '20 hours') at time zone 'UTC'
  from public.renewal_cases c where c.policy_id = tests.fixture('policy_spare');
-- (An abbreviation is no longer a BUSINESS_TIME_ZONE a write may store: written past the rule.)
select tests.write_settings_unchecked('{"BUSINESS_TIME_ZONE": "IST"}');
set local timezone_abbreviations = 'India';
insert into runs select 12, r.* from private.score_lapse_risk(now()) r;
select is((select late_installments from history_a), 0,
          'under IST read as Default (+02) the installment was paid on its day');
set local timezone_abbreviations = 'Default';
select ok(pg_temp.kept_equals_computed(now()),
          'a session with other abbreviations computes what the first kept');
rollback to savepoint abbreviated;

-- Nobody but the scoring reads or writes them.
select ok(not has_table_privilege('authenticated', 'private.case_risk_histories', 'select')
          and not has_table_privilege('service_role', 'private.case_risk_histories', 'select')
          and not has_table_privilege('authenticated', 'private.case_risk_history_changes', 'insert'),
          'signed-in users and service_role have no access to the histories or their marks');

select * from finish();
rollback;
