-- Generator of large synthetic renewal books, for benchmarks. Not demo data: `npm run seed:big`
-- loads these session-local functions (pg_temp) and calls them chunk by chunk
-- (scripts/lib/big_book.ts).
-- Everything derives from (seed, row number) through hashint8extended, so a book is the same
-- whatever the chunking, and ids are uuids made from the same inputs, so rows refer to each
-- other without lookups. Dates are relative to the day of the load (current_date), the case
-- activity's to the as_of it is given.
--
-- The book carries a history and an outcome drawn from a hidden process (section "The hidden
-- process" below), so that a lapse-risk model can be judged on it (bench/risk.ts): each customer
-- has hidden traits (financial strain, engagement, price sensitivity, tenure, reachability), each
-- current term a lapse propensity made of them with interactions and noise, and an outcome drawn
-- from it (renewed or lapsed), stored in simulation.outcomes, which nothing of the application
-- reads. What the application sees is what such customers leave behind: earlier terms and their
-- premiums, installments paid late, terms that lapsed, suppressed addresses, and, once the cases
-- are open, reminders delivered, read or ignored, payment links clicked, failed payments, replies.
-- Each of those is a noisy reading of the traits, never of the outcome.

-- A uniform integer in [0, n) for row i and stream `salt`.
create function pg_temp.pick(seed integer, salt integer, i bigint, n integer) returns integer
language sql immutable parallel safe
as $$ select (abs(hashint8extended(i, seed::bigint * 1000 + salt)) % n)::integer $$;

-- A uniform number in (0, 1) for row i and stream `salt` (a million steps).
create function pg_temp.unit(seed integer, salt integer, i bigint) returns double precision
language sql immutable parallel safe
as $$ select ((abs(hashint8extended(i, seed::bigint * 1000 + salt)) % 1000000)::double precision + 0.5) / 1000000 $$;

-- A standard normal number for row i, from streams `salt` and `salt + 1` (Box-Muller).
create function pg_temp.normal(seed integer, salt integer, i bigint) returns double precision
language sql immutable parallel safe
as $$
  select sqrt(-2 * ln(pg_temp.unit(seed, salt, i))) * cos(2 * pi() * pg_temp.unit(seed, salt + 1, i))
$$;

create function pg_temp.sigmoid(x double precision) returns double precision
language sql immutable parallel safe
as $$ select 1 / (1 + exp(-x)) $$;

-- A moment of a business day (IST), as the desk would have recorded it.
create function pg_temp.at_ist(day date, minutes integer) returns timestamptz
language sql immutable parallel safe
as $$ select (day + make_interval(mins => minutes)) at time zone 'Asia/Kolkata' $$;

-- Explicit casts: `integer || text` is only stable, which would keep the planner from inlining it.
create function pg_temp.big_id(seed integer, kind text, i bigint) returns uuid
language sql immutable parallel safe
as $$ select md5(seed::text || ':' || kind || ':' || i::text)::uuid $$;

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

-- Customers first_row..last_row, with the book keys that private.refresh_customer_book_keys would
-- give them once their policies are in (the agents of their current terms, which their history
-- shares, and the key every customer with a policy holds): the terms are then written without
-- the trigger that refreshes them one customer at a time (tests/functions/big_book.test.ts
-- checks that a refresh changes nothing).
create function pg_temp.big_customers(
  seed integer, customers bigint, agents integer, policies bigint, first_row bigint,
  last_row bigint
) returns void
language sql
as $$
  insert into public.customers (id, full_name, phone, email, language, preferred_channel, dnd,
                                book_keys)
  select pg_temp.big_id(seed, 'customer', i),
         (array['Aarav', 'Diya', 'Kabir', 'Meera', 'Rohan', 'Saanvi', 'Imran', 'Lakshmi'])
           [1 + pg_temp.pick(seed, 1, i, 8)] || ' ' ||
         (array['Sharma', 'Iyer', 'Reddy', 'Nair', 'Patel', 'Singh', 'Khan', 'Das', 'Rao'])
           [1 + pg_temp.pick(seed, 2, i, 9)],
         '+9196' || lpad(i::text, 8, '0'),
         'customer' || i || '.s' || seed || '@big.py360.test',
         (array['en', 'hi', 'ta', 'kn'])[1 + pg_temp.pick(seed, 3, i, 4)],
         (array['whatsapp', 'sms', 'email'])[1 + pg_temp.pick(seed, 4, i, 3)]::public.channel_type,
         pg_temp.pick(seed, 5, i, 20) = 0,
         array(select distinct k.key
                 from (select pg_temp.big_id(seed, 'agent', 1 + pg_temp.pick(seed, 12, r, agents))
                         from generate_series(i, policies, customers) r
                       union all
                       select '00000000-0000-0000-0000-000000000000'::uuid) as k (key)
                order by k.key)
    from generate_series(first_row, last_row) i
$$;


-- The hidden process ------------------------------------------------------------------------
--
-- Customer j's traits (big_traits), never stored:
--   strain              N(0, 1): money trouble; readings: installments paid late, failed
--                       payments, earlier lapses
--   engagement          N(0, 1): attention to the insurer; readings: reminders read, payment
--                       links clicked, WhatsApp replies
--   price_sensitivity   U(0, 1): readings: earlier lapses, fewer clicks after a premium rise
--   tenure_years        0-12, P(0) = 28 %: readings: the first policy's start, earlier terms
--   lapses_before       0-2 earlier terms that lapsed (customers of 2 years or more), drawn
--                       from strain and price sensitivity; stored as lapsed policies
--   reachability        invalid phone (5 %: SMS and WhatsApp suppressed), WhatsApp STOP (6 %),
--                       bounced email (10 %): stored as suppressions; `reachable` counts the
--                       channels left (0-3)
-- Each current term i (big_outcomes) then has the lapse log-odds
--   z = -3.0 + 1.6 strain + 0.6 (price_sensitivity - 0.5)
--       + 3.6 price_sensitivity * max(premium rise %, 0) / 30       (a rise hurts the sensitive)
--       - 1.2 engagement * (0, 0.5, 1 for 0, 1, 2+ reachable channels)  (engagement needs a channel)
--       + (1.8, 0.6, 0 for 0, 1, 2+ reachable channels)
--       + 1.0 if tenure 0, else -0.12 per year (at most 10)
--       + 0.9 per earlier lapse
--       + motor 0.6, home 0.3, health -0.4, life -0.1; monthly 0.7, quarterly 0.3
--       - 0.024 NCB % * (1 - 0.5 price_sensitivity)                  (NCB holds the less sensitive)
--       + 1.2 if the term ended before the load day (unpaid into grace), 0.5 if it ends within 7 days
--       + noise N(0, 1)
-- and lapses with probability sigmoid(z): about 22 % of terms. simulation.outcomes keeps the
-- outcome and the propensity sigmoid(z without the noise): the best ranking anyone knowing the
-- traits could make (no model of the database's data can know them). Its ROC-AUC is about 0.87,
-- near the 0.88 that random forests reach on real insurers' lapse data (the issue's anchor): all
-- effects were scaled by one factor, and the intercept moved, to reach that ceiling and the base
-- rate; their shape (which trait, which interaction) was chosen without regard to the
-- scorecard's points.

-- The hidden traits of customer j.
create function pg_temp.big_traits(seed integer, j bigint)
returns table (
  strain double precision, engagement double precision, price_sensitivity double precision,
  tenure_years integer, lapses_before integer, phone_dead boolean, whatsapp_stopped boolean,
  email_bounced boolean, reachable integer
)
language sql immutable parallel safe
as $$
  select t.strain, t.engagement, t.price_sensitivity, t.tenure_years,
         case when t.tenure_years < 2 then 0
              else (pg_temp.unit(seed, 27, j) < l.p)::integer
                   + (pg_temp.unit(seed, 28, j) < 0.35 * l.p)::integer
         end,
         t.phone_dead, t.whatsapp_stopped, t.email_bounced,
         case when t.phone_dead then 0 else 2 - t.whatsapp_stopped::integer end
           + (not t.email_bounced)::integer
    from (select pg_temp.normal(seed, 20, j) as strain,
                 pg_temp.normal(seed, 22, j) as engagement,
                 pg_temp.unit(seed, 24, j) as price_sensitivity,
                 least(12, floor(-3 * ln(pg_temp.unit(seed, 25, j))))::integer as tenure_years,
                 pg_temp.unit(seed, 29, j) < 0.05 as phone_dead,
                 pg_temp.unit(seed, 30, j) < 0.06 as whatsapp_stopped,
                 pg_temp.unit(seed, 31, j) < 0.10 as email_bounced
          -- offset 0: computed once per row, not once per reference below
          offset 0) t
   cross join lateral (
     select pg_temp.sigmoid(-2.0 + 0.8 * t.strain + 1.2 * (t.price_sensitivity - 0.5)) as p
   ) l
$$;

-- Current term i: its customer's and agent's rows and what big_policies writes. End dates spread
-- over a year from 30 days before the load day (end_offset, days), so a sixth fall in the window.
create function pg_temp.big_policy(seed integer, customers bigint, agents integer, i bigint)
returns table (
  customer_row bigint, agent_row integer, line public.product_line, insurer text, premium bigint,
  sum_insured bigint, end_offset integer, frequency public.payment_frequency, ncb_percent integer
)
language sql immutable parallel safe
as $$
  select 1 + (i - 1) % customers, 1 + pg_temp.pick(seed, 12, i, agents), l.line,
         'Insurer ' || (1 + pg_temp.pick(seed, 11, i, 12)),
         100 * (3000 + pg_temp.pick(seed, 13, i, 150000)),
         100 * (300000 + pg_temp.pick(seed, 14, i, 20000000)),
         pg_temp.pick(seed, 17, i, 365) - 30,
         case when l.line = 'life' then (array['annual', 'quarterly', 'monthly'])[1 + pg_temp.pick(seed, 15, i, 3)]
              else 'annual' end::public.payment_frequency,
         case when l.line = 'motor' then (array[0, 20, 25, 35, 45, 50])[1 + pg_temp.pick(seed, 16, i, 6)] else 0 end
    from (select (array['motor', 'motor', 'motor', 'motor', 'health', 'health', 'health', 'life', 'life', 'home'])
                   [1 + pg_temp.pick(seed, 10, i, 10)]::public.product_line as line) l
$$;

-- The premium change (%, one decimal) of term i against the term it renewed: 55 % of terms
-- -6 to +8, 33 % a rise of 8 to 25, 12 % a rise of 25 to 45.
create function pg_temp.big_premium_change(seed integer, i bigint) returns double precision
language sql immutable parallel safe
as $$
  -- One expression (no FROM), so that the planner inlines it.
  select round((case when pg_temp.unit(seed, 32, i) < 0.55 then -6 + 14 * pg_temp.unit(seed, 33, i)
                     when pg_temp.unit(seed, 32, i) < 0.88 then 8 + 17 * pg_temp.unit(seed, 33, i)
                     else 25 + 20 * pg_temp.unit(seed, 33, i) end)::numeric, 1)::double precision
$$;

-- The outcome of current terms first_row..last_row (see the head of this section).
create function pg_temp.big_outcomes(
  seed integer, customers bigint, agents integer, first_row bigint, last_row bigint
) returns table (policy_id uuid, policy_row bigint, propensity double precision, lapsed boolean)
language sql immutable parallel safe
as $$
  select pg_temp.big_id(seed, 'policy', i), i, pg_temp.sigmoid(h.z),
         pg_temp.unit(seed, 41, i) < pg_temp.sigmoid(h.z + pg_temp.normal(seed, 42, i))
    from generate_series(first_row, last_row) i
   cross join lateral pg_temp.big_policy(seed, customers, agents, i) p
   cross join lateral pg_temp.big_traits(seed, p.customer_row) t
   cross join lateral (
     select case when t.tenure_years >= 1 then pg_temp.big_premium_change(seed, i) else 0 end as change
   ) c
   cross join lateral (
     select -3.0
            + 1.6 * t.strain
            + 0.6 * (t.price_sensitivity - 0.5)
            + 3.6 * t.price_sensitivity * greatest(c.change, 0) / 30
            - 1.2 * t.engagement * case t.reachable when 0 then 0 when 1 then 0.5 else 1 end
            + case t.reachable when 0 then 1.8 when 1 then 0.6 else 0 end
            + case when t.tenure_years = 0 then 1.0 else -0.12 * least(t.tenure_years, 10) end
            + 0.9 * t.lapses_before
            + case p.line when 'motor' then 0.6 when 'home' then 0.3 when 'health' then -0.4
                          else -0.1 end
            + case p.frequency when 'monthly' then 0.7 when 'quarterly' then 0.3 else 0 end
            - 0.024 * p.ncb_percent * (1 - 0.5 * t.price_sensitivity)
            + case when p.end_offset < 0 then 1.2 when p.end_offset <= 7 then 0.5 else 0 end as z
     offset 0
   ) h
$$;

-- The book ----------------------------------------------------------------------------------

-- Scratch rows of one chunk's history (a SQL function cannot create a table it then reads).
create temporary table big_previous (
  i bigint, customer_row bigint, agent_row integer, line public.product_line, premium bigint,
  end_date date, late integer
);
create temporary table big_lapsed (
  j bigint, k integer, agent_row integer, line public.product_line, premium bigint,
  start_date date, grace integer
);

-- Current terms; a customer of a year or more renewed each from the term before
-- (big_previous_terms writes it first). Written without triggers: the customers' book keys are
-- already there (big_customers).
create function pg_temp.big_policies(
  seed integer, customers bigint, agents integer, first_row bigint, last_row bigint
) returns void
language sql
as $$
  insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date, payment_frequency,
                               ncb_percent, renewed_from_policy_id)
  select pg_temp.big_id(seed, 'policy', i),
         'B' || seed || '/' || lpad(i::text, 9, '0'),
         p.line, p.insurer,
         pg_temp.big_id(seed, 'customer', p.customer_row),
         pg_temp.big_id(seed, 'agent', p.agent_row),
         p.premium, p.sum_insured,
         current_date + p.end_offset - 364, current_date + p.end_offset,
         p.frequency, p.ncb_percent,
         case when t.tenure_years >= 1 then pg_temp.big_id(seed, 'previous', i) end
    from generate_series(first_row, last_row) i
   cross join lateral pg_temp.big_policy(seed, customers, agents, i) p
   cross join lateral pg_temp.big_traits(seed, p.customer_row) t
$$;

-- The terms that current terms first_row..last_row renewed (status renewed, a year earlier, the
-- premium before this term's change) and, for those paid late, their closed case with the
-- installments paid 3 to 25 days late: up to 1 for an annual term, 2 for a quarterly, 3 for a
-- monthly, each drawn from the customer's strain. Installments paid on time are not written:
-- nothing reads them.
create function pg_temp.big_previous_terms(
  seed integer, customers bigint, agents integer, first_row bigint, last_row bigint
) returns void
language sql
as $$
  truncate pg_temp.big_previous;
  insert into pg_temp.big_previous
  select i, p.customer_row, p.agent_row, p.line,
         (round(p.premium / (1 + pg_temp.big_premium_change(seed, i) / 100) / 100) * 100)::bigint,
         current_date + p.end_offset - 365,
         least(case p.frequency when 'annual' then 1 when 'quarterly' then 2 else 3 end,
               (pg_temp.unit(seed, 34, i) < l.p)::integer
                 + (pg_temp.unit(seed, 35, i) < 0.6 * l.p)::integer
                 + (pg_temp.unit(seed, 36, i) < 0.3 * l.p)::integer)
    from generate_series(first_row, last_row) i
   cross join lateral pg_temp.big_policy(seed, customers, agents, i) p
   cross join lateral pg_temp.big_traits(seed, p.customer_row) t
   cross join lateral (select pg_temp.sigmoid(-1.6 + 1.0 * t.strain) as p) l
   where t.tenure_years >= 1;

  insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date, payment_frequency,
                               ncb_percent, status)
  select pg_temp.big_id(seed, 'previous', b.i), 'H' || seed || '/P' || b.i, b.line, p.insurer,
         pg_temp.big_id(seed, 'customer', b.customer_row), pg_temp.big_id(seed, 'agent', b.agent_row),
         b.premium, p.sum_insured, b.end_date - 364, b.end_date, p.frequency, p.ncb_percent, 'renewed'
    from pg_temp.big_previous b
   cross join lateral pg_temp.big_policy(seed, customers, agents, b.i) p;

  insert into public.renewal_cases (id, case_number, policy_id, customer_id, assignee_id, stage,
                                    due_date, grace_end, stage_changed_at, closed_at, created_at,
                                    updated_at)
  select pg_temp.big_id(seed, 'previous case', b.i), 'RB' || seed || '-P' || b.i,
         pg_temp.big_id(seed, 'previous', b.i), pg_temp.big_id(seed, 'customer', b.customer_row),
         pg_temp.big_id(seed, 'agent', b.agent_row), 'renewed', b.end_date, b.end_date,
         pg_temp.at_ist(b.end_date + 25, 720), pg_temp.at_ist(b.end_date + 25, 720),
         pg_temp.at_ist(b.end_date - 60, 360), pg_temp.at_ist(b.end_date + 25, 720)
    from pg_temp.big_previous b
   where b.late > 0;

  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount, status,
                                          paid_at, amount_paid, created_at, updated_at)
  select pg_temp.big_id(seed, 'previous case', b.i), n, b.end_date - 30 * (b.late - n),
         b.premium / b.late, 'paid',
         pg_temp.at_ist(b.end_date - 30 * (b.late - n) + 3 + pg_temp.pick(seed, 36 + n, b.i, 23), 660),
         b.premium / b.late, pg_temp.at_ist(b.end_date - 60, 360),
         pg_temp.at_ist(b.end_date - 30 * (b.late - n) + 3 + pg_temp.pick(seed, 36 + n, b.i, 23), 660)
    from pg_temp.big_previous b
   cross join generate_series(1, b.late) n;
$$;

-- Customers first_row..last_row's older history: the first policy of a customer of two years or
-- more (renewed long ago), the terms that lapsed (each with its closed case and the installment
-- left unpaid), and the suppressed addresses. The agent is that of the customer's first current
-- term, so the customer's book keys (big_customers) need nothing more.
create function pg_temp.big_customer_history(
  seed integer, customers bigint, agents integer, first_row bigint, last_row bigint
) returns void
language sql
as $$
  insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date, payment_frequency,
                               ncb_percent, status)
  select pg_temp.big_id(seed, 'first', j), 'H' || seed || '/F' || j, p.line, p.insurer,
         pg_temp.big_id(seed, 'customer', j), pg_temp.big_id(seed, 'agent', p.agent_row),
         100 * (2500 + pg_temp.pick(seed, 60, j, 60000)), p.sum_insured,
         f.start_date, f.start_date + 364, 'annual', 0, 'renewed'
    from generate_series(first_row, last_row) j
   cross join lateral pg_temp.big_traits(seed, j) t
   cross join lateral pg_temp.big_policy(seed, customers, agents, j) p
   cross join lateral (
     select current_date - 365 * t.tenure_years - pg_temp.pick(seed, 61, j, 180) as start_date
   ) f
   where t.tenure_years >= 2;

  truncate pg_temp.big_lapsed;
  insert into pg_temp.big_lapsed
  select j, k, p.agent_row, l.line, 100 * (2500 + pg_temp.pick(seed, 64 + k, j, 60000)),
         current_date - 400 - 365 * (k - 1) - pg_temp.pick(seed, 62 + k, j, 300),
         case when l.line in ('life', 'health') then 30 else 0 end
    from generate_series(first_row, last_row) j
   cross join lateral pg_temp.big_traits(seed, j) t
   cross join lateral pg_temp.big_policy(seed, customers, agents, j) p
   cross join lateral generate_series(1, t.lapses_before) k
   cross join lateral (
     select (array['motor', 'motor', 'motor', 'motor', 'health', 'health', 'health', 'life', 'life', 'home'])
              [1 + pg_temp.pick(seed, 66 + k, j, 10)]::public.product_line as line
   ) l;

  insert into public.policies (id, policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date, status)
  select pg_temp.big_id(seed, 'lapsed', 2 * b.j + b.k), 'H' || seed || '/L' || b.j || '-' || b.k,
         b.line, 'Insurer ' || (1 + pg_temp.pick(seed, 68 + b.k, b.j, 12)),
         pg_temp.big_id(seed, 'customer', b.j), pg_temp.big_id(seed, 'agent', b.agent_row),
         b.premium, 100 * b.premium, b.start_date, b.start_date + 364, 'lapsed'
    from pg_temp.big_lapsed b;

  insert into public.renewal_cases (id, case_number, policy_id, customer_id, assignee_id, stage,
                                    due_date, grace_end, stage_changed_at, closed_at, created_at,
                                    updated_at)
  select pg_temp.big_id(seed, 'lapsed case', 2 * b.j + b.k), 'RB' || seed || '-L' || b.j || '-' || b.k,
         pg_temp.big_id(seed, 'lapsed', 2 * b.j + b.k), pg_temp.big_id(seed, 'customer', b.j),
         pg_temp.big_id(seed, 'agent', b.agent_row), 'lapsed',
         b.start_date + 364, b.start_date + 364 + b.grace,
         pg_temp.at_ist(b.start_date + 365 + b.grace, 360), pg_temp.at_ist(b.start_date + 365 + b.grace, 360),
         pg_temp.at_ist(b.start_date + 304, 360), pg_temp.at_ist(b.start_date + 365 + b.grace, 360)
    from pg_temp.big_lapsed b;

  insert into public.outstanding_amounts (case_id, installment_number, due_date, amount, status,
                                          created_at, updated_at)
  select pg_temp.big_id(seed, 'lapsed case', 2 * b.j + b.k), 1, b.start_date + 364, b.premium,
         'overdue', pg_temp.at_ist(b.start_date + 304, 360), pg_temp.at_ist(b.start_date + 365, 360)
    from pg_temp.big_lapsed b;

  -- Phone numbers repeat across seeds (big_customers): a second book's suppressions of the
  -- same number are already there.
  insert into public.suppressions (channel, address, reason, source, created_at)
  select s.channel, s.address, s.reason, 'synthetic book', pg_temp.at_ist(current_date - 1 - pg_temp.pick(seed, 71, j, 300), 600)
    from generate_series(first_row, last_row) j
   cross join lateral pg_temp.big_traits(seed, j) t
   cross join lateral (
     values ('sms'::public.channel_type, '+9196' || lpad(j::text, 8, '0'), 'invalid_number', t.phone_dead),
            ('whatsapp', '+9196' || lpad(j::text, 8, '0'), 'invalid_number', t.phone_dead),
            ('whatsapp', '+9196' || lpad(j::text, 8, '0'), 'stop_reply', t.whatsapp_stopped and not t.phone_dead),
            ('email', 'customer' || j || '.s' || seed || '@big.py360.test', 'hard_bounce', t.email_bounced)
   ) as s (channel, address, reason, chosen)
   where s.chosen
  on conflict (channel, address) do nothing;
$$;

-- The hidden outcomes ------------------------------------------------------------------------

-- A schema of the generator's own: no role of the application may read it, and nothing of the
-- application reads it (tests/functions/big_book.test.ts checks both).
create schema if not exists simulation;
comment on schema simulation is
  'Synthetic books'' hidden outcomes (seed/big/book.sql), for judging the lapse-risk model '
  '(bench/risk.ts). Not application data: nothing of the application reads it.';
revoke all on schema simulation from public;

create table if not exists simulation.books (
  seed integer primary key,
  policies bigint not null,
  customers bigint not null,
  agents integer not null,
  loaded_on date not null,
  activity_as_of timestamptz
);
comment on table simulation.books is
  'One row per synthetic book loaded: its size, the day it was loaded (its dates are relative to '
  'it) and the as_of of its case activity, once added.';

create table if not exists simulation.outcomes (
  policy_id uuid primary key,
  seed integer not null,
  policy_row bigint not null,
  propensity double precision not null,
  lapsed boolean not null
);
comment on table simulation.outcomes is
  'The hidden outcome of each current term of a synthetic book: lapsed (true) or renewed, drawn '
  'with probability sigmoid(z) of the hidden process (seed/big/book.sql), and propensity, '
  'sigmoid(z) without its noise: the best ranking anyone knowing the customers'' hidden traits '
  'could make.';

alter table simulation.books enable row level security;
alter table simulation.outcomes enable row level security;
revoke all on table simulation.books, simulation.outcomes
  from public, anon, authenticated, service_role;

-- Case activity ------------------------------------------------------------------------------

-- What the open cases of book `seed` show at `as_of`, once the daily jobs have opened them:
-- reminders sent 30, 14, 7 and 1 days before the due date and 5 and 15 days after it (those of
-- the last 60 days before the business date of as_of), on the customer's preferred channel or the
-- next one that reaches them (failed when none does); WhatsApp and email reminders read
-- (engagement), none on SMS (no read receipts); payment links clicked (engagement, less with
-- strain or a premium rise felt by the price-sensitive); one or two failed payments for cases due
-- within 20 days or past due (strain); a WhatsApp reply within 57 days (engagement, when WhatsApp
-- reaches them). Once per book (simulation.books.activity_as_of). Returns the rows written.
create function pg_temp.big_activity(seed integer, as_of timestamptz) returns jsonb
language plpgsql
as $$
declare
  today date := private.business_date(as_of);
  book simulation.books;
  n_cases bigint;
  n_messages bigint;
  n_links bigint;
  n_clicks bigint;
  n_payments bigint;
  n_replies bigint;
begin
  select * into book from simulation.books b where b.seed = big_activity.seed for update;
  if not found then
    raise exception 'no synthetic book with seed % here', big_activity.seed;
  end if;
  if book.activity_as_of is not null then
    raise exception 'the cases of book % already have their activity (as of %)',
      big_activity.seed, book.activity_as_of;
  end if;

  create temporary table big_open on commit drop as
  select c.id as case_id, c.customer_id, c.due_date, x.i, 1 + (x.i - 1) % book.customers as j,
         t.strain, t.engagement, t.price_sensitivity, t.phone_dead, t.whatsapp_stopped,
         t.email_bounced,
         case when t.tenure_years >= 1 then pg_temp.big_premium_change(big_activity.seed, x.i)
              else 0 end as change,
         cu.preferred_channel, cu.phone, lower(cu.email::text) as email
    from public.renewal_cases c
    join public.policies po on po.id = c.policy_id
    join public.customers cu on cu.id = c.customer_id
   cross join lateral (
     select substr(po.policy_number, length(big_activity.seed::text) + 3)::bigint as i
   ) x
   cross join lateral pg_temp.big_traits(big_activity.seed, 1 + (x.i - 1) % book.customers) t
   where po.policy_number like 'B' || big_activity.seed || '/%'
     and c.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse');
  get diagnostics n_cases = row_count;

  create temporary table big_sent on commit drop as
  select o.case_id, o.customer_id, o.i, s.k, o.due_date,
         pg_temp.big_id(big_activity.seed, 'message', 8 * o.i + s.k) as message_id,
         ch.channel, ch.reachable,
         case ch.channel when 'email' then o.email else o.phone end as recipient,
         w.sent_at,
         case when ch.reachable and ch.channel <> 'sms'
                   and pg_temp.unit(big_activity.seed, 80 + s.k, o.i)
                       < pg_temp.sigmoid(case ch.channel when 'whatsapp' then 0.2 else -1.0 end
                                         + 1.1 * o.engagement)
              then w.sent_at + make_interval(mins => 5 + pg_temp.pick(big_activity.seed, 90 + s.k, o.i, 600))
         end as read_at,
         case when ch.reachable
                   and pg_temp.unit(big_activity.seed, 100 + s.k, o.i)
                       < pg_temp.sigmoid(-2.2 + 0.8 * o.engagement - 0.5 * o.strain
                                         - 1.0 * o.price_sensitivity * greatest(o.change, 0) / 30)
              then w.sent_at + make_interval(mins => 20 + pg_temp.pick(big_activity.seed, 110 + s.k, o.i, 900))
         end as clicked_at
    from pg_temp.big_open o
   cross join lateral unnest(array[30, 14, 7, 1, -5, -15]) with ordinality as d (days_before, n)
   cross join lateral (select d.n::integer as k, o.due_date - d.days_before as day) s
   cross join lateral (
     select pg_temp.at_ist(s.day, 600 + pg_temp.pick(big_activity.seed, 120 + s.k, o.i, 240)) as sent_at
   ) w
   cross join lateral (
     select x.channel,
            case x.channel when 'whatsapp' then not o.phone_dead and not o.whatsapp_stopped
                           when 'sms' then not o.phone_dead
                           else not o.email_bounced end as reachable
       from (select case
                      when o.preferred_channel = 'whatsapp' and not o.phone_dead
                           and not o.whatsapp_stopped then 'whatsapp'
                      when o.preferred_channel = 'sms' and not o.phone_dead then 'sms'
                      when o.preferred_channel = 'email' and not o.email_bounced then 'email'
                      when not o.phone_dead and not o.whatsapp_stopped then 'whatsapp'
                      when not o.phone_dead then 'sms'
                      when not o.email_bounced then 'email'
                      else coalesce(o.preferred_channel::text, 'sms')
                    end::public.channel_type as channel) x
   ) ch
   where s.day < today and s.day > today - 60;

  insert into public.messages (id, customer_id, case_id, channel, purpose, body, recipient, status,
                               idempotency_key, attempts, provider_attempts, next_attempt_at,
                               queued_at, sending_at, sent_at, delivered_at, read_at, failed_at,
                               last_error, created_at, updated_at)
  select m.message_id, m.customer_id, m.case_id, m.channel, 'service',
         'Your policy is due for renewal on ' || to_char(m.due_date, 'DD Mon YYYY') || '.',
         m.recipient,
         case when not m.reachable then 'failed' when m.read_at is not null then 'read'
              else 'delivered' end::public.message_status,
         'synthetic:' || big_activity.seed || ':' || m.i || ':' || m.k, 1, 1, m.sent_at,
         m.sent_at, m.sent_at, m.sent_at,
         case when m.reachable then m.sent_at + interval '1 minute' end, m.read_at,
         case when not m.reachable then m.sent_at + interval '1 minute' end,
         case when not m.reachable then 'address suppressed' end,
         m.sent_at, coalesce(m.read_at, m.sent_at + interval '1 minute')
    from pg_temp.big_sent m;
  get diagnostics n_messages = row_count;

  insert into public.tracked_links (id, code, case_id, customer_id, message_id, purpose, target_url,
                                    created_at, click_count, first_clicked_at, last_clicked_at)
  select pg_temp.big_id(big_activity.seed, 'link', m.i),
         's' || big_activity.seed || 'l' || lpad(m.i::text, 9, '0'), m.case_id, m.customer_id,
         (array_agg(m.message_id order by m.k))[1], 'payment',
         'https://pay.big.py360.test/' || m.case_id, min(m.sent_at), count(*),
         min(m.clicked_at), max(m.clicked_at)
    from pg_temp.big_sent m
   where m.clicked_at is not null
   group by m.i, m.case_id, m.customer_id;
  get diagnostics n_links = row_count;

  insert into public.link_clicks (tracked_link_id, case_id, clicked_at)
  select pg_temp.big_id(big_activity.seed, 'link', m.i), m.case_id, m.clicked_at
    from pg_temp.big_sent m
   where m.clicked_at is not null;
  get diagnostics n_clicks = row_count;

  insert into public.payments (case_id, razorpay_payment_id, amount, method, status, failure_reason,
                               error_code, attempted_at, created_at, updated_at)
  select o.case_id, 'pay_sim' || big_activity.seed || '_' || o.i || '_' || n, a.amount, 'upi',
         'failed', 'Payment declined by the bank', 'BAD_REQUEST_ERROR', t.at, t.at, t.at
    from pg_temp.big_open o
    join public.outstanding_amounts a on a.case_id = o.case_id and a.installment_number = 1
   cross join generate_series(1, 2) n
   cross join lateral (
     select as_of - make_interval(days => 1 + pg_temp.pick(big_activity.seed, 130 + n, o.i, 9),
                                  hours => n) as at
   ) t
   where o.due_date - today <= 20
     and pg_temp.unit(big_activity.seed, 132 + n, o.i)
         < case n when 1 then 1 else 0.5 end * pg_temp.sigmoid(-2.4 + 0.9 * o.strain);
  get diagnostics n_payments = row_count;

  insert into public.whatsapp_windows (customer_id, last_inbound_at)
  select distinct o.customer_id,
         as_of - make_interval(hours => 1 + pg_temp.pick(big_activity.seed, 140, o.j, 24 * 57))
    from pg_temp.big_open o
   where not o.phone_dead and not o.whatsapp_stopped
     and pg_temp.unit(big_activity.seed, 141, o.j) < pg_temp.sigmoid(-2.0 + 0.9 * o.engagement)
  on conflict (customer_id) do nothing;
  get diagnostics n_replies = row_count;
  -- What the windows' trigger (off here) notes: each WhatsApp reply as the customer's latest.
  insert into private.customer_last_replies as r (customer_id, last_reply_at, channel)
  select w.customer_id, w.last_inbound_at, 'whatsapp'
    from public.whatsapp_windows w
   where w.customer_id in (select o.customer_id from pg_temp.big_open o)
  on conflict (customer_id) do update
    set last_reply_at = excluded.last_reply_at, channel = excluded.channel
   where r.last_reply_at < excluded.last_reply_at;

  update simulation.books b set activity_as_of = as_of where b.seed = big_activity.seed;
  return jsonb_build_object('cases', n_cases, 'messages', n_messages, 'links_clicked', n_links,
                            'clicks', n_clicks, 'failed_payments', n_payments,
                            'replies', n_replies);
end;
$$;

