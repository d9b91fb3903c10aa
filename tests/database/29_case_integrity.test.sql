-- What ties a case together, for every writer (the superuser here: no grant or RLS helps): a
-- case's customer is its policy's customer, and a reason that must say something says something
-- (tabs and newlines are not a reason); a policy moved to another customer moves its cases.
begin;
select plan(8);
select tests.create_test_org();

insert into public.customers (id, full_name) values
  ('c0000000-0000-4000-8000-000000000291', 'Integrity Holder'),
  ('c0000000-0000-4000-8000-000000000292', 'Integrity Stranger');
insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                             premium, sum_insured, start_date, end_date)
values ('d0000000-0000-4000-8000-000000000291', 'T-INTEGRITY-1', 'motor', 'Test',
        'c0000000-0000-4000-8000-000000000291', tests.get_user_id('agent_a'), 1200000, 100000000,
        current_date - 340, current_date + 25);

select throws_ok($$
  insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
  values ('d0000000-0000-4000-8000-000000000291', 'c0000000-0000-4000-8000-000000000292',
          tests.get_user_id('agent_a'), current_date + 25, current_date + 25)$$,
  '23503', null, 'a case cannot name another customer than its policy''s');

insert into public.renewal_cases (id, policy_id, customer_id, assignee_id, due_date, grace_end)
values ('e0000000-0000-4000-8000-000000000291', 'd0000000-0000-4000-8000-000000000291',
        'c0000000-0000-4000-8000-000000000291', tests.get_user_id('agent_a'),
        current_date + 25, current_date + 25);
insert into public.outstanding_amounts (id, case_id, installment_number, due_date, amount)
values ('f0000000-0000-4000-8000-000000000291', 'e0000000-0000-4000-8000-000000000291', 1,
        current_date + 25, 1200000);
select pass('the policy''s own customer is taken');

select throws_ok($$
  update public.renewal_cases set customer_id = 'c0000000-0000-4000-8000-000000000292'
   where id = 'e0000000-0000-4000-8000-000000000291'$$,
  '23503', null, 'nor moved to another customer afterwards');

-- A policy corrected to another customer takes its case along.
update public.policies set customer_id = 'c0000000-0000-4000-8000-000000000292'
 where id = 'd0000000-0000-4000-8000-000000000291';
select is((select customer_id from public.renewal_cases
            where id = 'e0000000-0000-4000-8000-000000000291'),
  'c0000000-0000-4000-8000-000000000292'::uuid,
  'a policy moved to another customer moves its case');

select throws_ok($$
  update public.outstanding_amounts set status = 'waived', reason = E'\t\n '
   where id = 'f0000000-0000-4000-8000-000000000291'$$,
  '23514', null, 'a waiver''s reason of tabs and newlines is no reason');
select throws_ok($$
  update public.outstanding_amounts set status = 'paid', paid_at = now(), reason = E'\r\t'
   where id = 'f0000000-0000-4000-8000-000000000291'$$,
  '23514', null, 'nor an offline payment''s');
select throws_ok($$
  update public.renewal_cases set stage = 'lost', lost_reason = E'\n\t'
   where id = 'e0000000-0000-4000-8000-000000000291'$$,
  '23514', null, 'nor a lost case''s');
select lives_ok($$
  update public.renewal_cases set stage = 'lost', lost_reason = E'\tWent to another broker\n'
   where id = 'e0000000-0000-4000-8000-000000000291'$$,
  'a reason with words in it, whitespace around them, is taken');


select * from finish();
rollback;
