-- The lease's statements are planned at each call, its triggers' queries are not (migrations
-- 20261202015928, 20261202032807). A plan kept for the session was made at a dispatcher's first
-- claim, often on an empty outbox, and then read and sorted the whole outbox on every claim
-- until autovacuum analyzed it again (3 s claims in the drain bench). plan_cache_mode on the
-- function cured that but reached its triggers: the foreign key check of messages.provider was
-- planned for every message. The speed itself is the drain bench's (bench/messages.ts), not a
-- test's; here, what reads the outbox.
begin;
select plan(5);
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
update public.app_settings set value = '{"marketing": {"max": 1000, "days": 1}, "service": {"max": 1000, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

select ok(not exists (select 1 from pg_catalog.pg_proc p, unnest(p.proconfig) c
                       where p.oid = 'private.lease_messages(text, integer, timestamptz)'::regprocedure
                         and c like 'plan_cache_mode=%'),
          'private.lease_messages sets no plan_cache_mode (its triggers'' plans are kept)');

-- A dispatcher waking to an empty outbox, statistics saying so, the session keeping a generic
-- plan of every statement that may keep one; then one message, claimed (every statement of the
-- lease runs, on an outbox of one).
truncate public.messages cascade;
analyze public.messages;
set local plan_cache_mode = force_generic_plan;
select tests.authenticate_as_service_role();
select count(*) from generate_series(1, 6) n, private.lease_messages('w1', 100, pg_temp.at());
reset role;
select count(*) from private.enqueue_messages(
  jsonb_build_array(jsonb_build_object(
    'customer_id', tests.fixture('customer_b'), 'channel', 'sms', 'template_code', 'due',
    'variables', jsonb_build_object('policy_number', 'P0'), 'idempotency_key', 'p-0')),
  pg_temp.at(-3600));
select tests.authenticate_as_service_role();
select count(*) from private.lease_messages('w1', 100, pg_temp.at());
reset role;

-- Then 20,000 messages, the statistics not yet told: 1,000 through the gate, four of them of
-- priority 1, and 19 copies of each at priority 5 (an outbox of a few thousand is read faster
-- whole than by 100 keys, and the planner rightly does so).
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object(
            'customer_id', tests.fixture('customer_a'), 'channel', 'sms', 'template_code', 'due',
            'variables', jsonb_build_object('policy_number', 'P' || n),
            'priority', case when n % 250 = 0 then 1 else 5 end,
            'idempotency_key', 'p-' || n))
     from generate_series(1, 1000) n), pg_temp.at(-3600));
insert into public.messages
select (jsonb_populate_record(null::public.messages, to_jsonb(m) || jsonb_build_object(
          'id', gen_random_uuid(), 'idempotency_key', m.idempotency_key || '-' || g,
          'priority', 5))).*
  from public.messages m, generate_series(1, 19) g
 where m.idempotency_key like 'p-%' and m.idempotency_key <> 'p-0';

create temporary table scans_before on commit drop as
select seq_scan, seq_tup_read + coalesce(idx_tup_fetch, 0) as tuples
  from pg_catalog.pg_stat_xact_user_tables where relid = 'public.messages'::regclass;
select tests.authenticate_as_service_role();
create temporary table leased on commit drop as
select * from private.lease_messages('w1', 100, pg_temp.at());
reset role;
create temporary table scans_after on commit drop as
select seq_scan, seq_tup_read + coalesce(idx_tup_fetch, 0) as tuples
  from pg_catalog.pg_stat_xact_user_tables where relid = 'public.messages'::regclass;

select is((select count(*)::integer from leased), 100, 'the lease takes a batch of 100');
select is((select count(*)::integer from leased l join public.messages m on m.id = l.id
            where m.priority = 1), 4, 'the priority 1 messages among them');
select is((select seq_scan from scans_after) - (select seq_scan from scans_before), 0::bigint,
          'and scans no whole outbox to find it');
select cmp_ok((select tuples from scans_after) - (select tuples from scans_before), '<', 2000::bigint,
              'reading under a tenth of the outbox''s 20,001 rows');
select * from finish();
rollback;
