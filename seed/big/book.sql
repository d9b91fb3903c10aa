-- Generator of large synthetic renewal books, for benchmarks. Not demo data: `npm run seed:big`
-- loads these session-local functions (pg_temp) and calls them chunk by chunk.
-- Everything derives from (seed, row number) through hashint8extended, so a book is the same
-- whatever the chunking, and ids are uuids made from the same inputs, so rows refer to each
-- other without lookups.

-- A uniform integer in [0, n) for row i and stream `salt`.
create function pg_temp.pick(seed integer, salt integer, i bigint, n integer) returns integer
language sql immutable parallel safe
as $$ select (abs(hashint8extended(i, seed::bigint * 1000 + salt)) % n)::integer $$;

create function pg_temp.big_id(seed integer, kind text, i bigint) returns uuid
language sql immutable parallel safe
as $$ select md5(seed || ':' || kind || ':' || i)::uuid $$;

-- The organisation: zones > regions > branches > teams, two agents a team, a manager per branch.
create function pg_temp.big_org(seed integer, agents integer) returns void
language plpgsql
as $$
declare
  teams integer := greatest(1, agents / 2);
  branches integer := greatest(1, teams / 4);
  regions integer := greatest(1, branches / 5);
  zones integer := greatest(1, regions / 5);
begin
  insert into public.hierarchy_nodes (id, parent_id, level, code, name)
  select pg_temp.big_id(seed, 'zone', z), null, 'zone', 'BZ' || seed || '_' || z, 'Zone ' || z
    from generate_series(1, zones) z;
  insert into public.hierarchy_nodes (id, parent_id, level, code, name)
  select pg_temp.big_id(seed, 'region', r), pg_temp.big_id(seed, 'zone', 1 + (r - 1) % zones),
         'region', 'BR' || seed || '_' || r, 'Region ' || r
    from generate_series(1, regions) r;
  insert into public.hierarchy_nodes (id, parent_id, level, code, name)
  select pg_temp.big_id(seed, 'branch', b), pg_temp.big_id(seed, 'region', 1 + (b - 1) % regions),
         'branch', 'BB' || seed || '_' || b, 'Branch ' || b
    from generate_series(1, branches) b;
  insert into public.hierarchy_nodes (id, parent_id, level, code, name)
  select pg_temp.big_id(seed, 'team', t), pg_temp.big_id(seed, 'branch', 1 + (t - 1) % branches),
         'team', 'BT' || seed || '_' || t, 'Team ' || t
    from generate_series(1, teams) t;

  -- Agents (one in fifty has left), then branch managers; the auth trigger makes their profiles.
  insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
  select pg_temp.big_id(seed, 'agent', a), 'authenticated', 'authenticated',
         'agent' || a || '.s' || seed || '@big.py360.test',
         jsonb_build_object('role', 'agent', 'node', 'BT' || seed || '_' || (1 + (a - 1) % teams)),
         jsonb_build_object('full_name', 'Agent ' || a)
    from generate_series(1, agents) a;
  insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
  select pg_temp.big_id(seed, 'manager', b), 'authenticated', 'authenticated',
         'manager' || b || '.s' || seed || '@big.py360.test',
         jsonb_build_object('role', 'manager', 'node', 'BB' || seed || '_' || b),
         jsonb_build_object('full_name', 'Manager ' || b)
    from generate_series(1, branches) b;
  update public.profiles set active = false
   where id in (select pg_temp.big_id(seed, 'agent', a) from generate_series(50, agents, 50) a);
end;
$$;

create function pg_temp.big_customers(seed integer, first_row bigint, last_row bigint) returns void
language sql
as $$
  insert into public.customers (id, full_name, phone, email, language, preferred_channel, dnd)
  select pg_temp.big_id(seed, 'customer', i),
         (array['Aarav', 'Diya', 'Kabir', 'Meera', 'Rohan', 'Saanvi', 'Imran', 'Lakshmi'])
           [1 + pg_temp.pick(seed, 1, i, 8)] || ' ' ||
         (array['Sharma', 'Iyer', 'Reddy', 'Nair', 'Patel', 'Singh', 'Khan', 'Das', 'Rao'])
           [1 + pg_temp.pick(seed, 2, i, 9)],
         '+9196' || lpad(i::text, 8, '0'),
         'customer' || i || '.s' || seed || '@big.py360.test',
         (array['en', 'hi', 'ta', 'kn'])[1 + pg_temp.pick(seed, 3, i, 4)],
         (array['whatsapp', 'sms', 'email'])[1 + pg_temp.pick(seed, 4, i, 3)]::public.channel_type,
         pg_temp.pick(seed, 5, i, 20) = 0
    from generate_series(first_row, last_row) i
$$;

-- Policies whose end dates spread over a year from 30 days ago, so a sixth fall in the window.
create function pg_temp.big_policies(
  seed integer, customers bigint, agents integer, first_row bigint, last_row bigint
) returns void
language sql
as $$
  insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date, payment_frequency, ncb_percent)
  select pg_temp.big_id(seed, 'policy', i),
         'B' || seed || '/' || lpad(i::text, 9, '0'),
         line, 'Insurer ' || (1 + pg_temp.pick(seed, 11, i, 12)),
         pg_temp.big_id(seed, 'customer', 1 + (i - 1) % customers),
         pg_temp.big_id(seed, 'agent', 1 + pg_temp.pick(seed, 12, i, agents)),
         100 * (3000 + pg_temp.pick(seed, 13, i, 150000)),
         100 * (300000 + pg_temp.pick(seed, 14, i, 20000000)),
         end_date - 364, end_date,
         case when line = 'life' then (array['annual', 'quarterly', 'monthly'])[1 + pg_temp.pick(seed, 15, i, 3)]
              else 'annual' end::public.payment_frequency,
         case when line = 'motor' then (array[0, 20, 25, 35, 45, 50])[1 + pg_temp.pick(seed, 16, i, 6)] else 0 end
    from generate_series(first_row, last_row) i
    cross join lateral (
      select (array['motor', 'motor', 'motor', 'motor', 'health', 'health', 'health', 'life', 'life', 'home'])
               [1 + pg_temp.pick(seed, 10, i, 10)]::public.product_line as line,
             current_date - 30 + pg_temp.pick(seed, 17, i, 365) as end_date
    ) chosen
$$;
