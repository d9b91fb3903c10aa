-- The outbox read by time (migration 20261129012000_index_messages_by_creation): the API's
-- delivery-status pages (newest first, under RLS) walk messages_created_idx instead of sorting
-- every visible message, their next pages too, and a report's period is an index range.
begin;
select plan(7);
select tests.create_test_book();

select has_index('public', 'messages', 'messages_created_idx', array['created_at', 'id'],
  'messages are indexed by (created_at desc, id)');
select is((select pg_get_indexdef('public.messages_created_idx'::regclass) like '%(created_at DESC, id)'),
  true, 'newest first, in the API''s keyset order');

-- 5,000 messages of customer A, one a minute back from now.
insert into public.templates (code, channel, purpose, subject, body)
values ('note', 'email', 'transactional', 'Note', 'Hello {{customer_name}}');
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', 'email',
            'template_code', 'note', 'variables', '{"customer_name": "A"}'::jsonb,
            'idempotency_key', 'by-time-' || n))
     from generate_series(1, 5000) n));
update public.messages set created_at = now() - make_interval(mins => substr(idempotency_key, 9)::integer)
 where idempotency_key like 'by-time-%';
analyze public.messages;

-- The plan of a query, as the role of the moment.
create function pg_temp.plan_of(query text) returns text
language plpgsql
as $$
declare
  line text;
  plan text := '';
begin
  for line in execute 'explain ' || query loop
    plan := plan || line || E'\n';
  end loop;
  return plan;
end;
$$;
grant execute on function pg_temp.plan_of(text) to authenticated;

-- The shapes of functions/api/communications (a first page, a next page, a report's period).
create temporary table shapes (name text, query text) on commit drop;
grant select on shapes to authenticated;
insert into shapes values
  ('first page', 'select m.id from public.messages m order by m.created_at desc, m.id limit 51'),
  ('next page', format('select m.id from public.messages m
     where (m.created_at < %L::timestamptz or (m.created_at = %L::timestamptz and m.id > %L::uuid))
     order by m.created_at desc, m.id limit 51', now() - interval '1 hour', now() - interval '1 hour',
     '00000000-0000-0000-0000-000000000000')),
  ('period', format('select count(*) from public.messages m
     where m.created_at >= %L::timestamptz and m.created_at < %L::timestamptz',
     now() - interval '2 hours', now() - interval '1 hour'));

select tests.authenticate_as('admin');
select ok(pg_temp.plan_of(query) like '%Index % using messages_created_idx%'
          and pg_temp.plan_of(query) not like '%Sort%',
  'an admin''s first page walks the index, no sort')
  from shapes where name = 'first page';
select ok(pg_temp.plan_of(query) like '%Index % using messages_created_idx%'
          and pg_temp.plan_of(query) not like '%Sort%',
  'so does the next page')
  from shapes where name = 'next page';
select ok(pg_temp.plan_of(query) like '%Index Cond: ((created_at >=%',
  'a report''s hour is an index range')
  from shapes where name = 'period';
select tests.authenticate_as('agent_a');
select ok(pg_temp.plan_of(query) like '%Index % using messages_created_idx%'
          and pg_temp.plan_of(query) not like '%Sort%',
  'an agent''s first page too (RLS filters the walk)')
  from shapes where name = 'first page';
select is((select count(*)::integer from (select m.id from public.messages m
            order by m.created_at desc, m.id limit 51) page), 51,
  'and it finds their messages');
reset role;

select * from finish();
rollback;
