-- No payment is opened for an erased customer (migration 20261130055032_refuse_payments_for_erased_customers):
-- private.open_payment_order, open_payment_link and open_autopay refuse a case whose customer was
-- erased (55000, the API's 409), for the case's agent and for the backend, writing nothing and
-- journalling no Razorpay call; the same calls for a customer not erased open as before. That the
-- refusal and the erasure's in-flight check wait for each other (the case's lock) is proved with
-- two connections in tests/functions/erasure_races.test.ts.
begin;
select plan(14);
select tests.create_test_book();

-- Both cases: monthly policies owing three equal installments, far enough ahead for autopay.
update public.policies set payment_frequency = 'monthly'
 where id in (tests.fixture('policy_a'), tests.fixture('policy_b'));
update public.outstanding_amounts set amount = 100000
 where id in (tests.fixture('installment_a'), tests.fixture('installment_b'));
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select c, n, current_date + 30 * n, 100000
  from unnest(array[tests.fixture('case_a'), tests.fixture('case_b')]) c, generate_series(2, 3) n;
-- Customer A's test payment settles: nothing in flight, the erasure goes through.
update public.payments set status = 'captured', captured_at = now(), method = 'upi'
 where id = tests.fixture('payment_a');
select lives_ok(format($$select private.erase_customer(%L, 'the customer asked, in writing')$$,
                       tests.fixture('customer_a')),
                'customer A is erased');

create temporary table before as
select (select count(*) from private.razorpay_calls) as calls;
grant select on before to authenticated, service_role;

create function pg_temp.refusal() returns text
language sql stable as $$
  select format('the customer of case %s was erased on %s: no payment can be opened for them',
                tests.fixture('case_a'), cu.erased_at)
    from public.customers cu where cu.id = tests.fixture('customer_a')
$$;
grant execute on function pg_temp.refusal() to authenticated, service_role;

-- The case's agent, through the functions the API calls.
select tests.authenticate_as('agent_a');
select throws_ok(format($$select * from private.open_payment_order(%L)$$, tests.fixture('case_a')),
                 '55000', pg_temp.refusal(), 'open_payment_order refuses an erased customer''s case (55000)');
select throws_ok(format($$select * from private.open_payment_order(%L, array[%L]::uuid[], 100000)$$,
                        tests.fixture('case_a'), tests.fixture('installment_a')),
                 '55000', pg_temp.refusal(), 'open_payment_order refuses it for one installment too');
select throws_ok(format($$select * from private.open_payment_link(%L)$$, tests.fixture('case_a')),
                 '55000', pg_temp.refusal(), 'open_payment_link refuses an erased customer''s case (55000)');
select throws_ok(format($$select * from private.open_payment_link(%L, %L)$$,
                        tests.fixture('case_a'), tests.fixture('installment_a')),
                 '55000', pg_temp.refusal(), 'open_payment_link refuses it for one installment too');
select throws_ok(format($$select * from private.open_autopay(%L)$$, tests.fixture('case_a')),
                 '55000', pg_temp.refusal(), 'open_autopay refuses an erased customer''s case (55000)');
-- Another agent still does not learn that the case exists.
select tests.authenticate_as('agent_b');
select throws_ok(format($$select * from private.open_payment_link(%L)$$, tests.fixture('case_a')),
                 'P0002', 'no such case, or not yours to see', 'another agent gets 404 first, not 409');
-- The backend (the autopay runner's fallback link goes through open_payment_link).
select tests.authenticate_as_service_role();
select throws_ok(format($$select * from private.open_payment_link(%L)$$, tests.fixture('case_a')),
                 '55000', pg_temp.refusal(), 'open_payment_link refuses it for service_role too');
reset role;

select is((select count(*)::integer from public.payment_orders where case_id = tests.fixture('case_a'))
          + (select count(*)::integer from public.payment_links where case_id = tests.fixture('case_a'))
          + (select count(*)::integer from public.autopay_mandates where case_id = tests.fixture('case_a')),
          0, 'no order, link or mandate was written for the erased customer');
select is((select count(*) from private.razorpay_calls), (select calls from before),
          'no Razorpay call was journalled');

-- The same calls for customer B (not erased) open as before.
select tests.authenticate_as('agent_b');
select is((select status from private.open_autopay(tests.fixture('case_b'))), 'creating',
          'open_autopay opens a mandate for a customer not erased');
select is((select reused from private.open_payment_order(tests.fixture('case_b'))), false,
          'open_payment_order opens an order for a customer not erased');
select is((select reused from private.open_payment_link(tests.fixture('case_b'))), false,
          'open_payment_link opens a link for a customer not erased');
reset role;
select is((select count(*)::integer from private.razorpay_calls
            where subject_id in (select id from public.payment_orders where case_id = tests.fixture('case_b')
                                 union all select id from public.payment_links where case_id = tests.fixture('case_b')
                                 union all select id from public.autopay_mandates where case_id = tests.fixture('case_b'))),
          3, 'each journalled its create call');

select * from finish();
rollback;
