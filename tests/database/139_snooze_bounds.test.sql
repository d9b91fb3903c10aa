-- A task's snooze is checked in the database (issue 9, third review; 20261201033000): the API's
-- bounds (after now, at most 30 days ahead) held only for PATCH /api/tasks/{id}, while the
-- assignee may write snoozed_until over REST. Now any write that sets a snooze is checked; a
-- snooze already stored is not judged again when something else changes.
begin;
select plan(6);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the snooze bounds test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
create temporary table made on commit drop as
select * from tests.campaign_customers('Bound', 'Boundpur', 1, policy_prefix => 'T-BOUND-',
                                       phone_prefix => '+91976700000', email_prefix => 'bound');
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
select case_id, tests.get_user_id('agent_a'), now(), 48, now() + interval '48 hours' from made;
grant select on made to authenticated;

select tests.authenticate_as('agent_a');
select throws_ok(
  $$update public.tasks set status = 'snoozed', snoozed_until = now() + interval '31 days'
     where case_id = (select case_id from made)$$,
  '22023', 'snoozed_until must be in the future, at most 30 days ahead',
  'over REST, a snooze of 31 days is refused');
select throws_ok(
  $$update public.tasks set status = 'snoozed', snoozed_until = now() - interval '1 minute'
     where case_id = (select case_id from made)$$,
  '22023', null, 'and one that has already ended');
select is((select status::text from public.tasks where case_id = (select case_id from made)), 'open',
  'the task is unchanged');
select lives_ok(
  $$update public.tasks set status = 'snoozed', snoozed_until = now() + interval '30 days'
     where case_id = (select case_id from made)$$,
  'thirty days is allowed');
select throws_ok(
  $$update public.tasks set snoozed_until = now() + interval '60 days'
     where case_id = (select case_id from made)$$,
  '22023', null, 'and a snooze moved beyond it is refused');
reset role;
-- A stored snooze whose end has passed (the clock moved on; set here with the check off) is not
-- judged when something else changes.
alter table public.tasks disable trigger _150_check_snooze;
update public.tasks set snoozed_until = now() - interval '1 hour'
 where case_id = (select case_id from made);
alter table public.tasks enable trigger _150_check_snooze;
select lives_ok(
  $$update public.tasks set sla_due_at = sla_due_at + interval '1 hour' where case_id = (select case_id from made)$$,
  'an update of other columns does not judge the stored snooze again');

select * from finish();
rollback;
