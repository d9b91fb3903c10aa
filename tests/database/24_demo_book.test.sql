-- The demo book is what `npm start` shows: it must stay readable and cover every case the desk meets.
begin;
select plan(7);

select is((select count(*)::int from public.customers where email like '%@mail.py360.test'), 200,
  '200 demo customers');
select is((select count(*)::int from public.policies where customer_id in (
            select id from public.customers where email like '%@mail.py360.test')), 300,
  '300 demo policies');
select ok((select min(end_date) = current_date - 60 and max(end_date) >= current_date + 89
             from public.policies where policy_number ~ '^(MOT|HEA|LIF|HOM)/'),
  'expiries run from 60 days ago to 90 days ahead');
select set_eq('select distinct stage::text from public.renewal_cases',
  $$select unnest(enum_range(null::public.case_stage))::text$$, 'cases in every stage');
select set_eq('select distinct status::text from public.outstanding_amounts',
  $$select unnest(enum_range(null::public.installment_status))::text$$, 'installments in every status');
select is_empty(
  $$select 1 from public.renewal_cases c join public.profiles p on p.id = c.assignee_id
     where not p.active$$,
  'the agent who left holds no case: colleagues in the branch took them');
select is(private.run_daily_renewal_jobs() - 'business_date',
  '{"renewed_by_successor": 0, "reassigned": 0, "opened": 0, "unassigned": 0, "pending_lapse": 0, "lapsed": 0,
    "expired": 0, "overdue": 0}'::jsonb,
  'the book is up to date: today''s jobs have already run');

select * from finish();
rollback;
