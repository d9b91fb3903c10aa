-- Data requests and the object-deletion queue (migration 20261130042747_create_data_requests):
-- admins read public.data_requests, nobody writes it through the API roles; the queue
-- private.object_deletions is closed to every API role, one open row per object.
begin;
select plan(21);
select tests.create_test_book();

select ok((select relrowsecurity from pg_class where oid = 'public.data_requests'::regclass),
          'data_requests has row level security');
select ok((select relrowsecurity from pg_class where oid = 'private.object_deletions'::regclass),
          'object_deletions has row level security');

insert into public.data_requests (kind, customer_id, reason, requested_by)
values ('export', tests.fixture('customer_a'), 'asked by email', tests.get_user_id('admin')),
       ('erasure', tests.fixture('customer_b'), 'asked by letter', tests.get_user_id('admin'));

-- Who reads them.
select tests.authenticate_as('admin');
select is((select count(*)::int from public.data_requests
            where customer_id in (tests.fixture('customer_a'), tests.fixture('customer_b'))),
          2, 'an admin reads the requests');
select tests.authenticate_as('zone_manager');
select is_empty($$select 1 from public.data_requests$$, 'a manager reads no request');
select tests.authenticate_as('agent_a');
select is_empty($$select 1 from public.data_requests$$, 'an agent reads no request, not even of their customer');
select tests.authenticate_as('analyst');
select is_empty($$select 1 from public.data_requests$$, 'an analyst reads no request');
reset role;
select is(tests.affected_rows_as('anon', $$select 1 from public.data_requests$$), '42501',
          'anon cannot read requests');

-- Nobody writes them directly.
select is(tests.affected_rows_as('admin',
  format($$insert into public.data_requests (kind, customer_id) values ('export', %L)$$, tests.fixture('customer_a'))),
  '42501', 'an admin cannot insert a request directly');
select is(tests.affected_rows_as('admin', $$update public.data_requests set status = 'done', completed_at = now()$$),
          '42501', 'an admin cannot update a request directly');
select is(tests.affected_rows_as('admin', $$delete from public.data_requests$$),
          '42501', 'an admin cannot delete a request directly');
select tests.authenticate_as_service_role();
select throws_ok(format($$insert into public.data_requests (kind, customer_id) values ('export', %L)$$,
                        tests.fixture('customer_a')),
                 '42501', null, 'service_role cannot insert a request directly');
select throws_ok($$update public.data_requests set status = 'failed'$$, '42501', null,
                 'service_role cannot update a request directly');
reset role;

-- Rules of the row.
select throws_ok(format($$insert into public.data_requests (kind, customer_id) values ('copy', %L)$$,
                        tests.fixture('customer_a')),
                 '23514', null, 'an unknown kind is refused');
select throws_ok(format($$insert into public.data_requests (kind, customer_id, status) values ('export', %L, 'done')$$,
                        tests.fixture('customer_a')),
                 '23514', null, 'done without completed_at is refused');

-- The deletion queue: closed to the API roles, one open row per object.
select is(tests.affected_rows_as('admin', $$select * from private.object_deletions$$), '42501',
          'an admin cannot read the deletion queue');
select is(tests.affected_rows_as('admin', $$select private.queue_object_deletion('documents', 'x', 'retention')$$),
          '42501', 'an admin cannot queue a deletion');
select tests.authenticate_as_service_role();
select throws_ok($$select * from private.object_deletions$$, '42501', null,
                 'service_role does not read the queue directly');
select lives_ok($$select private.queue_object_deletion('documents', 'tests/101/a.pdf', 'retention')$$,
                'service_role queues a deletion through the function');
select private.queue_object_deletion('documents', 'tests/101/a.pdf', 'erasure');
reset role;
select is((select count(*)::int from private.object_deletions where object_key = 'tests/101/a.pdf'), 1,
          'queueing an object twice keeps one open row');
update private.object_deletions set done_at = now() where object_key = 'tests/101/a.pdf';
select private.queue_object_deletion('documents', 'tests/101/a.pdf', 'export_expired');
select is((select count(*)::int from private.object_deletions where object_key = 'tests/101/a.pdf'), 1,
          'an object deleted and queued again gets a new row (the done one keeps no key)');
select throws_ok($$select private.queue_object_deletion('documents', 'tests/101/b.pdf', 'because')$$,
                 '23514', null, 'an unknown reason is refused');

select * from finish();
rollback;
