-- Exports and erasure (migration *_end_exports_on_erasure): erasing a customer ends the download
-- of their finished exports at once and the next expiry queues the objects; an export being
-- built while they are erased is completed already expired; one built after the erasure from
-- the pseudonymised rows is offered as usual.
begin;
select plan(9);
select tests.create_test_org();

insert into public.customers (id, full_name, phone, email)
values ('00000000-0000-4000-8000-0000000fe001', 'Erin Export', '+919811100001', 'erin@tests.py360.test');

-- A finished export, offered for 7 days.
insert into public.data_requests (id, kind, customer_id, status, attempts, started_at, completed_at,
                                  object_key, byte_size, expires_at)
values ('00000000-0000-4000-8000-0000000fd001', 'export', '00000000-0000-4000-8000-0000000fe001',
        'done', 1, now() - interval '1 hour', now() - interval '1 hour',
        'exports/00000000-0000-4000-8000-0000000fd001.json', 100, now() + interval '6 days');
-- One being built (claimed a minute ago).
insert into public.data_requests (id, kind, customer_id, status, attempts, started_at, lease_expires_at)
values ('00000000-0000-4000-8000-0000000fd002', 'export', '00000000-0000-4000-8000-0000000fe001',
        'running', 1, now() - interval '1 minute', now() + interval '4 minutes');

select ok((private.erase_customer('00000000-0000-4000-8000-0000000fe001', 'ticket DPR-9 asked by email')
           ->> 'data_request_id') is not null, 'the customer is erased');

select ok((select expires_at <= now() from public.data_requests where id = '00000000-0000-4000-8000-0000000fd001'),
          'the finished export''s download ends at the erasure');
select is(private.expire_data_exports('documents', now()), 1, 'the next expiry takes it');
select results_eq($$select reason from private.object_deletions
                     where object_key = 'exports/00000000-0000-4000-8000-0000000fd001.json' and done_at is null$$,
                  $$values ('export_expired')$$, 'its object is queued for deletion');
select is((select object_key from public.data_requests where id = '00000000-0000-4000-8000-0000000fd001'),
          null, 'and no longer offered');

select is((select status from private.complete_data_export('00000000-0000-4000-8000-0000000fd002', 1,
                                                           'exports/00000000-0000-4000-8000-0000000fd002.json', 50)),
          'done', 'the export being built completes');
select ok((select expires_at <= now() from public.data_requests where id = '00000000-0000-4000-8000-0000000fd002'),
          'already expired: it may hold what was erased');

-- Requested and built after the erasure: from the pseudonymised rows, offered as usual.
insert into public.data_requests (id, kind, customer_id, status, attempts, started_at, lease_expires_at)
values ('00000000-0000-4000-8000-0000000fd003', 'export', '00000000-0000-4000-8000-0000000fe001',
        'running', 1, now() + interval '10 minutes', now() + interval '15 minutes');
select ok((select expires_at > now() + interval '6 days'
             from private.complete_data_export('00000000-0000-4000-8000-0000000fd003', 1,
                                               'exports/00000000-0000-4000-8000-0000000fd003.json', 50,
                                               now() + interval '11 minutes')),
          'an export begun well after the erasure is offered');
select ok((select position('Erin' in private.customer_export('00000000-0000-4000-8000-0000000fe001')::text) = 0),
          'and holds the pseudonym, not the name');

select * from finish();
rollback;
