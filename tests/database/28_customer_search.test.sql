-- private.search_customers() (migration 20261129009500_search_customers_by_name): a definer
-- function that applies the customers select policy's rule itself. For every persona it finds
-- exactly what the same name search finds under RLS, through both of its forms (a few keys, and
-- more than 32), treats %, _ and \ as letters, orders and limits, refuses bad arguments, and is
-- not anon's to call.
begin;
select plan(21);
select tests.create_test_book();

-- Meeras held by agent A, by agent B, by both, and by nobody; names with the wildcard letters.
insert into public.customers (full_name, phone) values
  ('Meera Agent A', '+919800000281'), ('Ameera Agent B', '+919800000282'),
  ('Meera Both', '+919800000283'), ('Meera Nobody', '+919800000284'),
  ('Meer_a Percent 100%', '+919800000285'), ('MeerXa Percent 1000', '+919800000286'),
  ('Meer\a Slash', '+919800000287');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                             premium, sum_insured, start_date, end_date)
select 'T-POL-S' || row_number() over (order by cu.full_name, a.agent), 'health', 'Test Health',
       cu.id, tests.get_user_id(a.agent), 1500000, 50000000, current_date - 300, current_date + 65
  from public.customers cu
  join (values ('Meera Agent A', 'agent_a'), ('Ameera Agent B', 'agent_b'),
               ('Meera Both', 'agent_a'), ('Meera Both', 'agent_b'),
               ('Meer_a Percent 100%', 'agent_a'), ('MeerXa Percent 1000', 'agent_a'),
               ('Meer\a Slash', 'agent_b')) as a (name, agent)
    on a.name = cu.full_name;

-- A zone large enough for the hashed form: 40 more agents in team A, each holding one Meera.
do $$
begin
  for n in 1..40 loop
    perform tests.create_user('agent_z' || n, 'agent', 'T_TEAM_A');
  end loop;
end
$$;
with added as (
  insert into public.customers (full_name, phone)
  select 'Meera Z' || lpad(n::text, 2, '0'), '+9198000003' || lpad(n::text, 2, '0')
    from generate_series(1, 40) as n
  returning id, full_name
)
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                             premium, sum_insured, start_date, end_date)
select 'T-POL-' || added.full_name, 'health', 'Test Health', added.id,
       tests.get_user_id('agent_z' || ltrim(right(added.full_name, 2), '0')), 1500000, 50000000,
       current_date - 300, current_date + 65
  from added;

-- What a persona's search finds, as names in its order, with a mark when it is not exactly what
-- the same name search finds under RLS.
create function pg_temp.search_as(persona text, fragment text) returns text
language plpgsql
as $$
declare
  names text;
begin
  perform tests.authenticate_as(persona);
  names := coalesce(string_agg(s.full_name, ', ' order by s.ordinality), '(nobody)')
    from private.search_customers(fragment, 200) with ordinality as s;
  if array(select s.id from private.search_customers(fragment, 200) s order by s.id)
     is distinct from
     array(select cu.id from public.customers cu
            where strpos(lower(cu.full_name), lower(btrim(fragment))) > 0 order by cu.id) then
    names := names || ' [not what RLS shows]';
  end if;
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
  return names;
end;
$$;

select tests.authenticate_as('zone_manager');
select cmp_ok(cardinality(private.visible_book_keys()), '>', 32,
  'the zone manager holds more than 32 keys (the hashed form)');
select tests.authenticate_as('branch_b_manager');
select cmp_ok(cardinality(private.visible_book_keys()), '<=', 32,
  'the branch manager holds 32 or fewer (the && form)');
reset role;

select is(pg_temp.search_as('agent_a', 'meera'), 'Meera Agent A, Meera Both',
  'agent A finds their Meeras, as under RLS, in name order');
select is(pg_temp.search_as('agent_b', 'MEERA'), 'Ameera Agent B, Meera Both',
  'agent B theirs, in any case');
select is(pg_temp.search_as('branch_b_manager', 'eera'), 'Ameera Agent B, Meera Both',
  'branch B''s manager the branch''s');
select is(pg_temp.search_as('zone_manager', 'meera'),
  'Ameera Agent B, Meera Agent A, Meera Both, ' ||
  (select string_agg('Meera Z' || lpad(n::text, 2, '0'), ', ') from generate_series(1, 40) n),
  'the zone manager every held Meera of the zone, as RLS shows');
select matches(pg_temp.search_as('admin', 'meera'),
  '^Ameera Agent B, Meera Agent A, Meera Both, .*, Meera Z40$',
  'the admin every held Meera of the book (the demo book''s too), as RLS shows');
select is(pg_temp.search_as('admin', 'meera nobody'), '(nobody)',
  'but not the customer without a policy');
select is(pg_temp.search_as('analyst', 'meera'), '(nobody)', 'an analyst finds nobody');
select is(pg_temp.search_as('newcomer', 'meera'), '(nobody)', 'nor does a user without a role');
update public.profiles set active = false where id = tests.get_user_id('agent_a');
select is(pg_temp.search_as('agent_a', 'meera'), '(nobody)', 'nor an agent who left');
update public.profiles set active = true where id = tests.get_user_id('agent_a');

-- The fragment is letters: %, _ and \ match themselves only.
select is(pg_temp.search_as('admin', 'eer_a'), 'Meer_a Percent 100%', '_ is a letter');
select is(pg_temp.search_as('admin', '100%'), 'Meer_a Percent 100%', '% is a letter');
select is(pg_temp.search_as('admin', 'er\a'), 'Meer\a Slash', '\ is a letter');
select is(pg_temp.search_as('admin', '  Meer_a  '), 'Meer_a Percent 100%',
  'and the fragment is trimmed');

-- Order and limit.
select tests.authenticate_as('zone_manager');
select is(array(select s.full_name from private.search_customers('meera', 3) s),
  '{"Ameera Agent B","Meera Agent A","Meera Both"}', 'max_rows takes the first in name order');

-- Bad arguments are refused.
select throws_ok($$select * from private.search_customers('me', 10)$$, '22023',
  'a name search takes 3 to 100 characters', 'two letters are refused');
select throws_ok($$select * from private.search_customers('  me  ', 10)$$, '22023',
  'a name search takes 3 to 100 characters', 'also when padded with spaces');
select throws_ok($$select * from private.search_customers(null, 10)$$, '22023',
  'a name search takes 3 to 100 characters', 'a null fragment is refused');
select throws_ok($$select * from private.search_customers('meera', 201)$$, '22023',
  'a name search returns 1 to 200 rows', 'so is more than 200 rows');

-- anon may not call it.
select tests.clear_authentication();
select throws_ok($$select * from private.search_customers('meera', 10)$$, '42501', null,
  'anon may not search');

select * from finish();
rollback;
