-- private.lease_batch says how many messages its pick took from the queue, the ones it held back
-- at send time included (migration 20261202022752): the dispatcher drains on while that is above
-- 0, so a batch blocked whole at send time no longer reads as an empty outbox.
begin;
select plan(6);
select tests.create_test_book();

-- A clock of our own, at noon IST.
create function pg_temp.at(seconds numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 3) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => seconds) $$;
grant execute on function pg_temp.at(numeric) to service_role;

insert into public.templates (code, channel, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('due', 'sms', 'service', 'Renew {{policy_number}} -PYRNWL', '1101234567890123456', 'PYRNWL',
        '1107123456789012345', 'Renew {#var#} -PYRNWL');

-- Two SMS to customer A, then one to customer B, queued an hour before our clock; A's number is
-- suppressed afterwards, so A's two are blocked when claimed.
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object(
            'customer_id', tests.fixture(c), 'channel', 'sms', 'template_code', 'due',
            'variables', jsonb_build_object('policy_number', 'P' || n),
            'idempotency_key', 'lb-' || n) order by n)
     from (values (1, 'customer_a'), (2, 'customer_a'), (3, 'customer_b')) v (n, c)),
  pg_temp.at(-3600));
insert into public.suppressions (channel, address, reason, source)
select 'sms', c.phone, 'stop_reply', 'test' from public.customers c
 where c.id = tests.fixture('customer_a');

select tests.authenticate_as_service_role();
create temporary table first_lease on commit drop as
select * from private.lease_batch('w1', 10, pg_temp.at());
create temporary table second_lease on commit drop as
select * from private.lease_batch('w1', 10, pg_temp.at(1));
reset role;

select is((select picked from first_lease), 3, 'the pick took all three due messages');
select is((select array(select m.idempotency_key from first_lease f, unnest(f.leased) l
                         join public.messages m on m.id = l.id)),
          '{lb-3}', 'and leased only the one still allowed');
select is((select array_agg(m.blocked_reason order by m.idempotency_key) from public.messages m
            where m.idempotency_key in ('lb-1', 'lb-2')),
          '{suppressed,suppressed}', 'the other two are blocked with the reason');
select is((select picked from second_lease), 0, 'then the pick finds nothing');
select is((select leased from second_lease), '{}'::private.claimed_message[],
          'and leases an empty array, not null');
select throws_ok($$ select * from private.lease_batch('w1', 0) $$, '22023',
                 'a lease needs a worker name and a batch of 1 to 1000',
                 'a batch of 0 is refused');
select * from finish();
rollback;
