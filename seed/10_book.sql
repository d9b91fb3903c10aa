-- Demo renewal book: 200 customers and 300 policies whose expiries run from 60 days ago to 90
-- days ahead, spread over the demo agents (one of whom has left). The last 90 days are replayed
-- day by day: the daily jobs open cases and lapse them, and customers answer in ways fixed by
-- each policy's number, so the book holds cases in every stage and installments in every status.
-- Deterministic apart from the dates, which follow today.

insert into public.customers (full_name, phone, email, language, preferred_channel, dnd, kyc_verified_on, city)
select first_names[1 + (i * 7) % array_length(first_names, 1)] || ' ' ||
         last_names[1 + (i * 11) % array_length(last_names, 1)],
       '+9198' || lpad((10000000 + i * 7919)::text, 8, '0'),
       lower(first_names[1 + (i * 7) % array_length(first_names, 1)]) || '.' || i || '@mail.py360.test',
       (array['en', 'en', 'hi', 'hi', 'ta', 'kn'])[1 + i % 6],
       (array['whatsapp', 'whatsapp', 'sms', 'email', null])[1 + i % 5]::public.channel_type,
       i % 17 = 0,
       current_date - (i * 13) % 900,
       (array['New Delhi', 'Gurugram', 'Noida', 'Bengaluru', 'Chennai', 'Mysuru'])[1 + i % 6]
  from generate_series(1, 200) as i,
       (select array['Aarav', 'Vivaan', 'Aditya', 'Vihaan', 'Arjun', 'Sai', 'Reyansh', 'Ayaan',
                     'Krishna', 'Ishaan', 'Ananya', 'Diya', 'Saanvi', 'Aadhya', 'Pari', 'Anika',
                     'Navya', 'Myra', 'Sara', 'Meera', 'Rohan', 'Kabir', 'Nikhil', 'Priya',
                     'Lakshmi', 'Karthik', 'Deepa', 'Suresh', 'Fatima', 'Imran'] as first_names,
               array['Sharma', 'Verma', 'Gupta', 'Iyer', 'Reddy', 'Nair', 'Patel', 'Singh',
                     'Khan', 'Das', 'Rao', 'Menon', 'Joshi', 'Kulkarni', 'Bose', 'Chopra',
                     'Pillai', 'Mehta', 'Agarwal', 'Krishnan'] as last_names) as names;

-- Consent to service messages on every channel; marketing granted by some, withdrawn by a few.
insert into public.consents (customer_id, channel, purpose, status, source, recorded_at, evidence)
select c.id, channel, 'service', 'granted', 'import', now() - interval '400 days', '{"batch": "onboarding"}'
  from public.customers c, unnest(array['whatsapp', 'sms', 'email']::public.channel_type[]) as channel;
insert into public.consents (customer_id, channel, purpose, status, source, recorded_at, evidence)
select c.id, 'whatsapp', 'marketing',
       case when n % 5 = 0 then 'withdrawn' else 'granted' end::public.consent_status,
       case when n % 5 = 0 then 'whatsapp_reply' else 'web_form' end,
       now() - (n % 200) * interval '1 day', jsonb_build_object('form', 'renewal-offers')
  from (select id, row_number() over (order by id) as n from public.customers) c
 where n % 3 = 0;

with agents as (
  select array_agg(p.id order by p.email) as ids
    from public.profiles p
   where p.role = 'agent'
),
numbered_customers as (
  select id, row_number() over (order by email) as n from public.customers
)
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium,
                             sum_insured, start_date, end_date, payment_frequency, ncb_percent)
select upper(left(line::text, 3)) || '/' || to_char(end_date, 'YYYY') || '/' || lpad(i::text, 6, '0'),
       line, insurer, customer_id, agent_id, premium, sum_insured, end_date - 364, end_date,
       frequency, ncb
  from (
    select i,
           line,
           insurers[1 + i % array_length(insurers, 1)] as insurer,
           c.id as customer_id,
           agents.ids[1 + i % array_length(agents.ids, 1)] as agent_id,
           100 * case line
             when 'motor' then 8000 + (i * 379) % 32000
             when 'health' then 15000 + (i * 613) % 45000
             when 'life' then 25000 + (i * 1543) % 175000
             else 3000 + (i * 97) % 12000
           end as premium,
           100 * case line
             when 'motor' then 300000 + (i * 7919) % 1200000
             when 'health' then 500000 * (1 + i % 4)
             when 'life' then 2500000 * (1 + i % 8)
             else 1500000 + (i * 4001) % 6000000
           end as sum_insured,
           current_date - 60 + (i * 150) / 300 as end_date,
           case
             when line = 'life' then (array['annual', 'quarterly', 'monthly'])[1 + i % 3]
             when line = 'health' and i % 4 = 0 then 'half_yearly'
             else 'annual'
           end::public.payment_frequency as frequency,
           case when line = 'motor' then (array[0, 20, 25, 35, 45, 50])[1 + i % 6] else 0 end as ncb
      from generate_series(1, 300) as i
      cross join lateral (
        select (case when i % 10 < 4 then 'motor' when i % 10 < 7 then 'health'
                     when i % 10 < 9 then 'life' else 'home' end)::public.product_line as line
      ) l
      cross join lateral (
        select case l.line
                 when 'motor' then array['ICICI Lombard', 'Bajaj Allianz', 'HDFC ERGO', 'Tata AIG']
                 when 'health' then array['Star Health', 'Niva Bupa', 'Care Health']
                 when 'life' then array['LIC', 'HDFC Life', 'SBI Life', 'Max Life']
                 else array['New India Assurance', 'HDFC ERGO']
               end as insurers
      ) ins
      join numbered_customers c on c.n = 1 + (i - 1) % 200
      cross join agents
  ) p;

-- A case's fate, 0..99, fixed by its policy number.
create function pg_temp.fate(policy uuid) returns integer
language sql stable
as $$
  select abs(hashtext(p.policy_number)) % 100 from public.policies p where p.id = policy
$$;

-- Replay the last 90 days.
do $$
declare
  day integer;
  as_of timestamptz;
  today date;
begin
  for day in reverse 90..0 loop
    as_of := now() - day * interval '1 day';
    today := private.business_date(as_of);
    perform private.run_daily_renewal_jobs(as_of);

    update public.renewal_cases c set stage = 'contacted'
     where c.stage = 'new' and c.due_date - today <= 50 and pg_temp.fate(c.policy_id) < 95;
    update public.renewal_cases c set stage = 'quoted'
     where c.stage = 'contacted' and c.due_date - today <= 40 and pg_temp.fate(c.policy_id) < 75;
    update public.renewal_cases c set stage = 'payment_pending'
     where c.stage = 'quoted' and c.due_date - today <= 25 and pg_temp.fate(c.policy_id) < 60;
    update public.outstanding_amounts a set status = 'paid', paid_at = as_of
      from public.renewal_cases c
     where c.id = a.case_id and a.status in ('pending', 'overdue') and c.stage = 'payment_pending'
       and c.due_date - today <= 12 and pg_temp.fate(c.policy_id) < 45;
    update public.outstanding_amounts a set status = 'waived',
           reason = 'Premium adjusted against an earlier excess payment'
      from public.renewal_cases c
     where c.id = a.case_id and a.status in ('pending', 'overdue') and c.stage = 'quoted'
       and c.due_date - today <= 20 and pg_temp.fate(c.policy_id) between 70 and 72;
    update public.renewal_cases c set stage = 'lost',
           lost_reason = (array['Renewed with another insurer', 'Premium too high',
                                'Vehicle sold', 'Moved abroad'])[1 + pg_temp.fate(c.policy_id) % 4]
     where c.stage in ('contacted', 'quoted') and c.due_date - today <= 30
       and pg_temp.fate(c.policy_id) between 75 and 84;
    update public.renewal_cases c set stage = 'not_taken',
           lost_reason = 'Customer did not respond to the renewal offer'
     where c.stage = 'contacted' and c.due_date - today <= 20
       and pg_temp.fate(c.policy_id) between 85 and 89;
  end loop;
end
$$;

-- The replay is history: the event messages its stage changes queued (quotes, lapses, renewals;
-- the _900_enqueue_messages triggers) and the renewal notices of its quotes (_950) were news on
-- days long past and are not sent now. (Their notice documents stay, pending: never rendered.)
delete from public.messages
 where idempotency_key like 'event:%' or idempotency_key like 'renewal\_notice:%';

-- Some cases are urgent for their managers.
update public.renewal_cases set priority = 'urgent'
 where stage in ('payment_pending', 'pending_lapse') and pg_temp.fate(policy_id) % 7 = 0;
