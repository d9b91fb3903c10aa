-- A campaign's stats list every variant and measure delivery and payment (issue 9, second review;
-- private.campaign_stats of 20261201011907): a variant nobody drew keeps its row (the control
-- included, so nothing is compared with an empty control), delivery is what reached the customer
-- of what went to the vendor, and "payment within N days" counts a payment captured on the case
-- within CAMPAIGN_CONVERSION_DAYS after the first send, apart from a renewal.
begin;
select plan(12);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Closed for the stats test'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');

insert into public.templates (code, channel, purpose, subject, body)
values ('t134_a', 'email', 'service', 'Renew', 'Renew {{policy_number}} (A).'),
       ('t134_b', 'email', 'service', 'Renew', 'Renew {{policy_number}} (B).'),
       ('t134_c', 'email', 'service', 'Renew', 'Renew {{policy_number}} (C).');
-- Four customers of agent_a (Stats 1-4) in Statspur, each with an open case.
select tests.campaign_customers('Stats', 'Statspur', 4, policy_prefix => 'T-STATS-',
                                phone_prefix => '+91973400000', email_prefix => 'stats');

select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, audience_filter)
select 'Stats AB', n.id, 'email', 'service', '{"city": "Statspur"}'
  from public.hierarchy_nodes n where n.code = 'T_ZONE';
insert into public.campaign_variants (campaign_id, code, template_code, weight)
select c.id, v.code, v.template_code, v.weight
  from public.campaigns c,
       (values ('A', 't134_a', 10), ('B', 't134_b', 80), ('C', 't134_c', 10)) v (code, template_code, weight)
 where c.name = 'Stats AB';
select is((select count(*)::integer from private.campaign_stats((select id from public.campaigns where name = 'Stats AB'))),
          0, 'no rows before the launch');
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'Stats AB'))),
          4, 'four queued');
reset role;

-- Everyone drew B (the split is a hash of ids; set here so that A, the control, and C are empty).
update public.campaign_recipients r set variant_id = v.id
  from public.campaign_variants v
 where v.campaign_id = r.campaign_id and v.code = 'B'
   and r.campaign_id = (select id from public.campaigns where name = 'Stats AB');
-- 1 read, 2 delivered, 3 failed at the vendor, 4 still queued; all but 4 sent ten days ago.
update public.messages m
   set status = x.status::public.message_status, sent_at = now() - interval '10 days',
       delivered_at = case when x.n <= 2 then now() - interval '10 days' end,
       read_at = case when x.n = 1 then now() - interval '9 days' end
  from (select cu.id, right(cu.full_name, 1)::integer as n,
               case right(cu.full_name, 1) when '1' then 'read' when '2' then 'delivered' else 'failed' end as status
          from public.customers cu where cu.full_name like 'Stats %') x
 where m.customer_id = x.id and x.n <= 3
   and m.campaign_id = (select id from public.campaigns where name = 'Stats AB');
-- Payments: 1 paid two days after the send (counts), 2 paid before it, 3 paid 40 days after it
-- (past CAMPAIGN_CONVERSION_DAYS, 30), 4 tried and failed.
insert into public.payments (case_id, razorpay_payment_id, amount, status, captured_at)
select rc.id, 'pay_T134' || x.n, 1200000, x.status::public.payment_status, x.at
  from (values (1, 'captured', now() - interval '8 days'), (2, 'captured', now() - interval '11 days'),
               (3, 'captured', now() + interval '30 days'), (4, 'failed', null::timestamptz)) x (n, status, at)
  join public.customers cu on cu.full_name = 'Stats ' || x.n
  join public.renewal_cases rc on rc.customer_id = cu.id;

select tests.authenticate_as('zone_manager');
create temporary table s on commit drop as
select * from private.campaign_stats((select id from public.campaigns where name = 'Stats AB'));
reset role;

select is(array(select variant || ':' || recipients from s order by variant), array['A:0', 'B:4', 'C:0'],
          'every variant has its row, also those nobody drew');
select is((select row(queued, sent, delivered, read, failed, blocked, cancelled)::text from s where variant = 'A'),
          '(0,0,0,0,0,0,0)', 'an empty variant counts nothing (no phantom blocked recipient)');
select is((select row(delivery_rate, read_rate, payment_rate, conversion_rate)::text from s where variant = 'A'),
          '(,,,)', 'and its rates are null, not 0');
select is((select row(read, delivered, failed, queued)::text from s where variant = 'B'), '(1,1,1,1)',
          'B: one read, one delivered, one failed, one queued');
select is((select delivery_rate from s where variant = 'B'), 0.6667,
          'delivery: 2 reached of the 3 that went to the vendor');
select is((select read_rate from s where variant = 'B'), 0.5000, 'read: 1 of the 2 reached');
select is((select row(paid, payment_rate)::text from s where variant = 'B'), '(1,0.2500)',
          'paid: only the payment captured within 30 days after the first send');
select is((select row(converted, conversion_rate)::text from s where variant = 'B'), '(0,0.0000)',
          'a payment is not a renewal: converted stays 0');
select is((select row(delivery_difference, delivery_significant, payment_difference, payment_significant)::text
             from s where variant = 'B'),
          '(,,,)', 'against an empty control there is no difference and no test');
select is((select row(delivery_significant, read_significant, payment_significant, conversion_significant)::text
             from s where variant = 'A'),
          '(,,,)', 'the control is not compared with itself');

select * from finish();
rollback;
