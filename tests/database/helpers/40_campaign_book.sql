-- The campaign tests' book: numbered customers, each with one policy held by agent_a (team A) and
-- one open renewal case assigned to agent_a. Call it after tests.create_test_book() (which makes
-- agent_a), as the table owner (before any tests.authenticate_as).
--
-- Customer n (first_number, first_number + 1, ... how_many of them) is:
--   full name  '<prefix> <n>'                     ('Flow 1')
--   city       city (null for none)
--   phone      phone_prefix followed by n, zero-padded to +91 and ten digits
--              ('+91971000000' gives '+919710000001'; '+9197170000' gives '+919717000001')
--   email      '<email_prefix><n>@tests.py360.test' ('flow' gives 'flow1@tests.py360.test')
-- with
--   policy     '<policy_prefix><n>' ('T-FLOW-1'), product_line, insurer 'Test General', premium
--              (paise, 1200000 = ₹12,000), sum insured ₹5,00,000, ncb_percent; a year's term
--              from current_date - 335 to current_date + 30 (it expires in 30 days)
--   case       open (stage new), due on the policy's end date, grace to 30 days after it
--   consent    with whatsapp_opt_in: WhatsApp for service, granted (source import), which a
--              campaign's WhatsApp step needs; otherwise no consent at all
-- Customers of two cities: call it twice, the second time from first_number => how_many + 1.
-- Returns what it made, one row a customer in order: customer_no (n), customer_id, policy_id,
-- case_id. Phones, emails and policy numbers are the callers' own, so each file keeps its values.
create or replace function tests.campaign_customers(
  prefix text,
  city text,
  how_many integer,
  policy_prefix text,
  phone_prefix text,
  email_prefix text,
  first_number integer default 1,
  whatsapp_opt_in boolean default false,
  product_line public.product_line default 'health',
  premium bigint default 1200000,
  ncb_percent integer default 0
) returns table (customer_no integer, customer_id uuid, policy_id uuid, case_id uuid)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  agent uuid := tests.get_user_id('agent_a');
  digits integer := 13 - length(campaign_customers.phone_prefix);
  last_number integer := campaign_customers.first_number + campaign_customers.how_many - 1;
  customer_ids uuid[];
  policy_ids uuid[];
  case_ids uuid[];
begin
  if agent is null then
    raise exception 'tests.campaign_customers: no agent_a (call tests.create_test_book() first)';
  end if;
  if campaign_customers.phone_prefix !~ '^\+91\d*$' or length(last_number::text) > digits then
    raise exception 'tests.campaign_customers: customer % does not fit phone prefix %',
      last_number, campaign_customers.phone_prefix;
  end if;

  -- One statement a table, each in customer order, as the tests wrote them by hand.
  with made as (
    insert into public.customers (full_name, phone, email, city)
    select campaign_customers.prefix || ' ' || i,
           campaign_customers.phone_prefix || lpad(i::text, digits, '0'),
           campaign_customers.email_prefix || i || '@tests.py360.test', campaign_customers.city
      from generate_series(campaign_customers.first_number, last_number) i
     order by i
    returning id, phone
  )
  select array_agg(made.id order by made.phone) into customer_ids from made;

  with made as (
    insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                                 sum_insured, start_date, end_date, ncb_percent)
    select campaign_customers.policy_prefix || (campaign_customers.first_number + k - 1),
           campaign_customers.product_line, 'Test General', customer_ids[k], agent,
           campaign_customers.premium, 50000000, current_date + 30 - 365, current_date + 30,
           campaign_customers.ncb_percent
      from generate_subscripts(customer_ids, 1) k
     order by k
    returning id, customer_id
  )
  select array_agg(made.id order by pg_catalog.array_position(customer_ids, made.customer_id))
    into policy_ids from made;

  with made as (
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    select p.id, p.customer_id, p.agent_id, p.end_date, p.end_date + 30
      from generate_subscripts(policy_ids, 1) k join public.policies p on p.id = policy_ids[k]
     order by k
    returning id, policy_id
  )
  select array_agg(made.id order by pg_catalog.array_position(policy_ids, made.policy_id))
    into case_ids from made;

  if campaign_customers.whatsapp_opt_in then
    insert into public.consents (customer_id, channel, purpose, status, source)
    select customer_ids[k], 'whatsapp', 'service', 'granted', 'import'
      from generate_subscripts(customer_ids, 1) k
     order by k;
  end if;

  return query
  select campaign_customers.first_number + k - 1, customer_ids[k], policy_ids[k], case_ids[k]
    from generate_subscripts(customer_ids, 1) k
   order by k;
end;
$$;
