-- A two-agent renewal book on top of the test organisation, for RLS and job tests:
-- agent_a (T_TEAM_A) holds customer, policy, case, installment, payment and consent "a";
-- agent_b (T_TEAM_B) holds the "b" ones. Fixture ids are kept in tests.fixtures by name.
create table if not exists tests.fixtures (name text primary key, id uuid not null);
grant select on tests.fixtures to anon, authenticated, service_role;

create or replace function tests.fixture(fixture_name text) returns uuid
language sql stable
set search_path = ''
as $$
  select f.id from tests.fixtures f where f.name = fixture_name
$$;

create or replace function tests.create_test_book(as_of date default current_date) returns void
language plpgsql
set search_path = ''
as $$
declare
  side text;
  agent uuid;
  customer uuid;
  policy uuid;
  renewal uuid;
  installment uuid;
begin
  perform tests.create_test_org();
  foreach side in array array['a', 'b'] loop
    agent := tests.get_user_id('agent_' || side);
    insert into public.customers (full_name, phone, email)
    values ('Customer ' || upper(side), '+9198000000' || (case side when 'a' then '01' else '02' end),
            'customer_' || side || '@tests.py360.test')
    returning id into customer;
    insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                 premium, sum_insured, start_date, end_date)
    values ('T-POL-' || upper(side), 'motor', 'Test General', customer, agent, 1200000, 50000000,
            as_of - 335, as_of + 30)
    returning id into policy;
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    values (policy, customer, agent, as_of + 30, as_of + 30)
    returning id into renewal;
    insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
    values (renewal, 1, as_of + 30, 1200000)
    returning id into installment;
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (customer, 'whatsapp', 'service', 'granted', 'import');
    insert into public.payments (case_id, razorpay_order_id, razorpay_payment_id, amount)
    values (renewal, 'order_T' || upper(side), 'pay_T' || upper(side), 1200000);
    insert into tests.fixtures (name, id)
    select 'customer_' || side, customer
    union all select 'policy_' || side, policy
    union all select 'case_' || side, renewal
    union all select 'installment_' || side, installment
    union all select 'consent_' || side, c.id from public.consents c where c.customer_id = customer
    union all select 'payment_' || side, p.id from public.payments p where p.case_id = renewal;
  end loop;

  -- A policy without a case, for case inserts; a channel and a vendor nobody uses, for deletes.
  insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                               premium, sum_insured, start_date, end_date)
  values ('T-POL-SPARE', 'health', 'Test Health', tests.fixture('customer_a'),
          tests.get_user_id('agent_a'), 2500000, 100000000, as_of - 300, as_of + 65);
  insert into public.vendors (code, name, kind) values ('test_vendor', 'Test Vendor', 'sms');
  insert into public.channels (type, name, provider) values ('sms', 'Test channel', 'twilio');
  insert into public.payment_events (event_id, event_type, payload)
  values ('evt_test_1', 'payment.captured', '{}');
  insert into tests.fixtures (name, id)
  select 'policy_spare', id from public.policies where policy_number = 'T-POL-SPARE'
  union all select 'vendor_x', id from public.vendors where code = 'test_vendor'
  union all select 'channel_x', id from public.channels where name = 'Test channel'
  union all select 'payment_event_x', id from public.payment_events where event_id = 'evt_test_1';
end;
$$;

-- Runs `statement` and undoes it, returning how many rows it touched, or the SQLSTATE it raised.
create or replace function tests.affected_rows(statement text) returns text
language plpgsql
set search_path = ''
as $$
declare
  touched bigint;
begin
  begin
    execute statement;
    get diagnostics touched = row_count;
    raise exception using errcode = 'TS001', message = touched::text;
  exception
    when sqlstate 'TS001' then return sqlerrm;
    when others then return sqlstate;
  end;
end;
$$;

-- affected_rows() as a persona (or 'anon'), then back to the test's own role.
create or replace function tests.affected_rows_as(persona text, statement text) returns text
language plpgsql
set search_path = ''
as $$
declare
  result text;
begin
  if persona = 'anon' then
    perform tests.clear_authentication();
  else
    perform tests.authenticate_as(persona);
  end if;
  result := tests.affected_rows(statement);
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
  return result;
end;
$$;

-- A lapsed case still hears its ladder's steps after expiry (motor's NCB at risk, home's renewal
-- expired) until a successor term is loaded for its policy. Tests that count what the cadence
-- sends close the cases that are not theirs; the lapsed ones they close with this: a successor
-- term for each, as if the customer had renewed after all.
create or replace function tests.load_successors_of_lapsed_cases() returns integer
language sql
set search_path = ''
as $$
  with loaded as (
    insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                                 sum_insured, start_date, end_date, renewed_from_policy_id)
    select p.policy_number || '-NEXT', p.product_line, p.insurer, p.customer_id, p.agent_id, p.premium,
           p.sum_insured, p.end_date + 1, p.end_date + 365, p.id
      from public.policies p
      join public.renewal_cases c on c.policy_id = p.id
     where c.stage = 'lapsed'
       and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id)
    returning 1
  )
  select count(*)::integer from loaded
$$;

-- The step (days from expiry) of a cadence message's key, cadence:<term>:<rule id>[...]; null
-- for any other key.
create or replace function tests.cadence_step(idempotency_key text) returns integer
language sql stable as $$
  select r.offset_days from public.reminder_rules r
   where r.id::text = (regexp_match(idempotency_key, '^cadence:[0-9a-f-]{36}:([0-9a-f-]{36})'))[1]
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;
