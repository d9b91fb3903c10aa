-- The persona matrix: for every table of the renewal domain, who may select, insert, update and
-- delete which rows. Each cell runs the statement as the persona and undoes it; the answer is the
-- number of rows touched or the SQLSTATE raised (42501: refused; 23503: allowed by RLS, stopped
-- by a foreign key). Personas: admin, zone manager (above both agents), manager of agent B's
-- branch, agent A, agent B, analyst, anon.
-- RLS decides rows; grants decide columns: below the row matrix, every column the desk may not
-- write and TRUNCATE on every table are refused to every persona, admins included (their
-- corrections go through service_role).
begin;
select tests.create_test_book();

-- Payment rows of each side (the payment flow's tables, written by its functions only).
with orders as (
  insert into public.payment_orders (case_id, razorpay_order_id, amount, installment_ids, status, expires_at)
  select tests.fixture('case_' || side), 'order_RLS' || upper(side), 1200000,
         array[tests.fixture('installment_' || side)], 'created', now() + interval '30 minutes'
    from unnest(array['a', 'b']) side
  returning id, case_id
), links as (
  insert into public.payment_links (case_id, razorpay_payment_link_id, amount, status, expire_by)
  select tests.fixture('case_' || side), 'plink_RLS' || upper(side), 1200000, 'created', now() + interval '15 days'
    from unnest(array['a', 'b']) side
  returning id, case_id
)
insert into tests.fixtures (name, id)
select 'payment_order_' || case when o.case_id = tests.fixture('case_a') then 'a' else 'b' end, o.id from orders o
union all
select 'payment_link_' || case when l.case_id = tests.fixture('case_a') then 'a' else 'b' end, l.id from links l;
insert into public.refunds (payment_id, case_id, amount, reason, idempotency_key)
select tests.fixture('payment_' || side), tests.fixture('case_' || side), 100, 'Test refund', 'rls_refund_' || side
  from unnest(array['a', 'b']) side;
insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount)
select tests.fixture('payment_' || side), tests.fixture('case_' || side), tests.fixture('installment_' || side), 100
  from unnest(array['a', 'b']) side;
insert into tests.fixtures (name, id)
select 'refund_' || right(r.idempotency_key, 1), r.id from public.refunds r where r.idempotency_key like 'rls_refund_%'
union all
select 'payment_allocation_' || case when a.case_id = tests.fixture('case_a') then 'a' else 'b' end, a.id
  from public.payment_allocations a where a.case_id in (tests.fixture('case_a'), tests.fixture('case_b'));

-- Autopay rows of each side: a plan both share, a mandate and a pre-debit notice per case.
insert into public.autopay_plans (period, "interval", amount, razorpay_plan_id, status)
values ('monthly', 1, 1200000, 'plan_RLS', 'created');
insert into public.autopay_mandates (case_id, autopay_plan_id, razorpay_plan_id, razorpay_subscription_id,
                                     status, installment_amount, period, "interval", total_count,
                                     start_at, expire_by, max_amount)
select tests.fixture('case_' || side), (select id from public.autopay_plans where razorpay_plan_id = 'plan_RLS'),
       'plan_RLS', 'sub_RLS' || upper(side), 'active', 1200000, 'monthly', 1, 1,
       now() + interval '30 days', now() + interval '28 days', 10000000
  from unnest(array['a', 'b']) side;
insert into public.autopay_debit_notices (autopay_mandate_id, case_id, outstanding_amount_id, amount, charge_at)
select m.id, m.case_id, o.id, 1200000, m.start_at
  from public.autopay_mandates m join public.outstanding_amounts o on o.case_id = m.case_id
 where m.razorpay_subscription_id like 'sub_RLS%';
insert into tests.fixtures (name, id)
select 'autopay_plan', id from public.autopay_plans where razorpay_plan_id = 'plan_RLS'
union all
select 'autopay_mandate_' || lower(right(razorpay_subscription_id, 1)), id
  from public.autopay_mandates where razorpay_subscription_id like 'sub_RLS%'
union all
select 'autopay_notice_' || case when n.case_id = tests.fixture('case_a') then 'a' else 'b' end, n.id
  from public.autopay_debit_notices n where n.case_id in (tests.fixture('case_a'), tests.fixture('case_b'));

-- A cadence step (seeded by its migration) and a call task of each side.
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
select tests.fixture('case_' || side), tests.get_user_id('agent_' || side), now(), 48, now() + interval '48 hours'
  from unnest(array['a', 'b']) side;
insert into tests.fixtures (name, id)
select 'task_' || case when t.case_id = tests.fixture('case_a') then 'a' else 'b' end, t.id
  from public.tasks t where t.case_id in (tests.fixture('case_a'), tests.fixture('case_b'))
union all
select 'reminder_rule', r.id from public.reminder_rules r
 where r.product_line = 'home' and r.offset_days = -60 and r.kind = 'message';

-- Campaigns: a draft of each branch, a running one of branch B with a recipient; a variant and a
-- flow step of branch B's draft.
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'RLS ' || b, n.id, 'whatsapp', 'service', 'renewal_due'
  from (values ('a', 'T_BRANCH_A'), ('b', 'T_BRANCH_B'), ('run', 'T_BRANCH_B')) v (b, code)
  join public.hierarchy_nodes n on n.code = v.code;
update public.campaigns set status = 'running' where name = 'RLS run';
insert into tests.fixtures (name, id)
select 'campaign_' || substr(c.name, 5), c.id from public.campaigns c where c.name like 'RLS %'
union all
select 'node_' || lower(n.code), n.id from public.hierarchy_nodes n where n.code in ('T_BRANCH_A', 'T_BRANCH_B', 'T_ZONE');
insert into public.campaign_variants (campaign_id, code, template_code, weight)
values (tests.fixture('campaign_b'), 'A', 'renewal_due', 100);
insert into public.campaign_steps (campaign_id, position, channel, template_code, wait)
values (tests.fixture('campaign_b'), 2, 'sms', 'renewal_due', '1 day');
insert into public.campaign_recipients (campaign_id, customer_id, case_id)
values (tests.fixture('campaign_run'), tests.fixture('customer_b'), tests.fixture('case_b'));
insert into tests.fixtures (name, id)
select 'campaign_variant', id from public.campaign_variants where campaign_id = tests.fixture('campaign_b')
union all
select 'campaign_step', id from public.campaign_steps where campaign_id = tests.fixture('campaign_b')
union all
select 'campaign_recipient', id from public.campaign_recipients where campaign_id = tests.fixture('campaign_run');

create temporary table matrix (
  tbl text, op text, statement text,
  admin text, zone_manager text, branch_b_manager text, agent_a text, agent_b text,
  analyst text, anon text
);
grant select on matrix to anon, authenticated;

insert into matrix values
  -- campaigns: managers read and write the campaigns of their subtree (drafts only for writes),
  -- admins all, agents and analysts nothing; status and who-did-it move through the functions.
  ('campaigns', 'select a', 'select 1 from public.campaigns where id = tests.fixture(''campaign_a'')',
   '1', '1', '0', '0', '0', '0', '42501'),
  ('campaigns', 'select b', 'select 1 from public.campaigns where id = tests.fixture(''campaign_b'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaigns', 'insert b', 'insert into public.campaigns (name, scope_node_id, channel, purpose, template_code) values (''New'', tests.fixture(''node_t_branch_b''), ''sms'', ''service'', ''renewal_due'')',
   '1', '1', '1', '42501', '42501', '42501', '42501'),
  ('campaigns', 'insert a', 'insert into public.campaigns (name, scope_node_id, channel, purpose, template_code) values (''New'', tests.fixture(''node_t_branch_a''), ''sms'', ''service'', ''renewal_due'')',
   '1', '1', '42501', '42501', '42501', '42501', '42501'),
  ('campaigns', 'update b', 'update public.campaigns set name = ''Renamed'', audience_filter = ''{"city": "Pune"}'' where id = tests.fixture(''campaign_b'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaigns', 'update b to zone', 'update public.campaigns set scope_node_id = tests.fixture(''node_t_zone'') where id = tests.fixture(''campaign_b'')',
   '1', '1', '42501', '0', '0', '0', '42501'),
  ('campaigns', 'update running', 'update public.campaigns set name = ''Renamed'' where id = tests.fixture(''campaign_run'')',
   '0', '0', '0', '0', '0', '0', '42501'),
  ('campaigns', 'delete b', 'delete from public.campaigns where id = tests.fixture(''campaign_b'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaigns', 'delete running', 'delete from public.campaigns where id = tests.fixture(''campaign_run'')',
   '0', '0', '0', '0', '0', '0', '42501'),
  ('campaigns', 'column status', 'update public.campaigns set status = ''running'' where id = tests.fixture(''campaign_b'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaigns', 'column created_by', 'update public.campaigns set created_by = null where id = tests.fixture(''campaign_b'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaigns', 'truncate', 'truncate public.campaigns cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- campaign_variants and campaign_steps: with their campaign, written while it is a draft.
  ('campaign_variants', 'select b', 'select 1 from public.campaign_variants where id = tests.fixture(''campaign_variant'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_variants', 'insert b', 'insert into public.campaign_variants (campaign_id, code, template_code, weight)
     values (tests.fixture(''campaign_b''), ''B'', ''renewal_due'', 50)',
   '1', '1', '1', '42501', '42501', '42501', '42501'),
  ('campaign_variants', 'insert running', 'insert into public.campaign_variants (campaign_id, code, template_code, weight)
     values (tests.fixture(''campaign_run''), ''B'', ''renewal_due'', 50)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_variants', 'update b', 'update public.campaign_variants set weight = 60 where id = tests.fixture(''campaign_variant'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_variants', 'delete b', 'delete from public.campaign_variants where id = tests.fixture(''campaign_variant'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_variants', 'column campaign_id', 'update public.campaign_variants set campaign_id = tests.fixture(''campaign_a'') where id = tests.fixture(''campaign_variant'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_variants', 'truncate', 'truncate public.campaign_variants cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_steps', 'select b', 'select 1 from public.campaign_steps where id = tests.fixture(''campaign_step'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_steps', 'insert b', 'insert into public.campaign_steps (campaign_id, position, channel, template_code, wait)
     values (tests.fixture(''campaign_b''), 3, ''email'', ''renewal_due'', ''3 days'')',
   '1', '1', '1', '42501', '42501', '42501', '42501'),
  ('campaign_steps', 'update b', 'update public.campaign_steps set wait = ''2 days'' where id = tests.fixture(''campaign_step'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_steps', 'delete b', 'delete from public.campaign_steps where id = tests.fixture(''campaign_step'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_steps', 'column position', 'update public.campaign_steps set position = 5 where id = tests.fixture(''campaign_step'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_steps', 'truncate', 'truncate public.campaign_steps cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- campaign_recipients: read with the campaign; written by the campaign functions only.
  ('campaign_recipients', 'select run', 'select 1 from public.campaign_recipients where id = tests.fixture(''campaign_recipient'')',
   '1', '1', '1', '0', '0', '0', '42501'),
  ('campaign_recipients', 'insert', 'insert into public.campaign_recipients (campaign_id, customer_id)
     values (tests.fixture(''campaign_run''), tests.fixture(''customer_a''))',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_recipients', 'update', 'update public.campaign_recipients set state = ''done'' where id = tests.fixture(''campaign_recipient'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_recipients', 'delete', 'delete from public.campaign_recipients where id = tests.fixture(''campaign_recipient'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('campaign_recipients', 'truncate', 'truncate public.campaign_recipients cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- reminder_rules: the desk reads the ladder; admins edit it, and switch steps off rather than
  -- delete them (a step keeps its identity: the cadence's key names it).
  ('reminder_rules', 'select', 'select 1 from public.reminder_rules where id = tests.fixture(''reminder_rule'')',
   '1', '1', '1', '1', '1', '0', '42501'),
  ('reminder_rules', 'insert', 'insert into public.reminder_rules (product_line, offset_days, kind, channels, template_code)
     values (''home'', -45, ''message'', ''{email}'', ''renewal_due'')',
   '1', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('reminder_rules', 'update', 'update public.reminder_rules set offset_days = -45 where id = tests.fixture(''reminder_rule'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('reminder_rules', 'delete', 'delete from public.reminder_rules where id = tests.fixture(''reminder_rule'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('reminder_rules', 'column created_at', 'update public.reminder_rules set created_at = now() where id = tests.fixture(''reminder_rule'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('reminder_rules', 'truncate', 'truncate public.reminder_rules cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- tasks: read by the assignee and the managers above; the assignee updates status, outcome and
  -- snoozed_until (so does the manager a task is escalated to: 126_escalated_task_holders);
  -- opened and escalated by the jobs only.
  ('tasks', 'select a', 'select 1 from public.tasks where id = tests.fixture(''task_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('tasks', 'select b', 'select 1 from public.tasks where id = tests.fixture(''task_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('tasks', 'insert', 'insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
     values (tests.fixture(''case_a''), tests.get_user_id(''agent_a''), now(), 1, now())',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('tasks', 'update a', 'update public.tasks set status = ''snoozed'', snoozed_until = now() + interval ''1 day'',
     outcome = ''No answer'' where id = tests.fixture(''task_a'')',
   '0', '0', '0', '1', '0', '0', '42501'),
  ('tasks', 'delete a', 'delete from public.tasks where id = tests.fixture(''task_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('tasks', 'column sla_due_at', 'update public.tasks set sla_due_at = now() + interval ''1 year'' where id = tests.fixture(''task_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('tasks', 'column escalated_to', 'update public.tasks set escalated_to = null where id = tests.fixture(''task_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('tasks', 'truncate', 'truncate public.tasks cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- customers: read through a visible policy; the desk edits contact data; admins import.
  ('customers', 'select a', 'select 1 from public.customers where id = tests.fixture(''customer_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('customers', 'select b', 'select 1 from public.customers where id = tests.fixture(''customer_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('customers', 'insert', 'insert into public.customers (full_name) values (''New'')',
   '1', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('customers', 'update a', 'update public.customers set city = ''Pune'' where id = tests.fixture(''customer_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('customers', 'delete a', 'delete from public.customers where id = tests.fixture(''customer_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- consents: read for visible customers; recorded only through private.record_consent (the
  -- consent ledger, issue 13), never written directly; never deleted.
  ('consents', 'select a', 'select 1 from public.consents where id = tests.fixture(''consent_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('consents', 'select b', 'select 1 from public.consents where id = tests.fixture(''consent_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('consents', 'insert', 'insert into public.consents (customer_id, channel, purpose, status, source)
     values (tests.fixture(''customer_a''), ''email'', ''marketing'', ''withdrawn'', ''agent_call'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'update a', 'update public.consents set status = ''withdrawn'' where id = tests.fixture(''consent_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'delete a', 'delete from public.consents where id = tests.fixture(''consent_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- policies: read by the agent's line; written by imports (service_role) only.
  ('policies', 'select a', 'select 1 from public.policies where id = tests.fixture(''policy_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('policies', 'select b', 'select 1 from public.policies where id = tests.fixture(''policy_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('policies', 'insert', 'insert into public.policies (policy_number, product_line, insurer, customer_id,
     agent_id, premium, sum_insured, start_date, end_date) values (''T-NEW'', ''home'', ''X'',
     tests.fixture(''customer_a''), tests.get_user_id(''agent_a''), 100, 100, current_date, current_date + 365)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('policies', 'update a', 'update public.policies set insurer = ''Y'' where id = tests.fixture(''policy_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('policies', 'delete a', 'delete from public.policies where id = tests.fixture(''policy_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- renewal_cases: read and worked by the assignee's line; opened by the daily jobs.
  ('renewal_cases', 'select a', 'select 1 from public.renewal_cases where id = tests.fixture(''case_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('renewal_cases', 'select b', 'select 1 from public.renewal_cases where id = tests.fixture(''case_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('renewal_cases', 'insert', 'insert into public.renewal_cases (policy_id, customer_id, assignee_id,
     due_date, grace_end) values (tests.fixture(''policy_spare''), tests.fixture(''customer_a''),
     tests.get_user_id(''agent_a''), current_date + 65, current_date + 95)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'update a', 'update public.renewal_cases set priority = ''high'' where id = tests.fixture(''case_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('renewal_cases', 'delete a', 'delete from public.renewal_cases where id = tests.fixture(''case_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- outstanding_amounts: follow their case; created by the jobs; the desk only settles them.
  ('outstanding_amounts', 'select a', 'select 1 from public.outstanding_amounts where id = tests.fixture(''installment_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('outstanding_amounts', 'select b', 'select 1 from public.outstanding_amounts where id = tests.fixture(''installment_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('outstanding_amounts', 'insert', 'insert into public.outstanding_amounts (case_id, installment_number,
     due_date, amount) values (tests.fixture(''case_a''), 2, current_date + 60, 100)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('outstanding_amounts', 'update a', 'update public.outstanding_amounts set status = ''paid'', paid_at = now(),
     reason = ''Cheque 1'' where id = tests.fixture(''installment_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('outstanding_amounts', 'waive a', 'update public.outstanding_amounts set status = ''waived'',
     reason = ''Goodwill'' where id = tests.fixture(''installment_a'')',
   '1', '1', '0', 'PY003', '0', '0', '42501'),
  ('outstanding_amounts', 'delete a', 'delete from public.outstanding_amounts where id = tests.fixture(''installment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- payments: read with their case; written by the backend only.
  ('payments', 'select a', 'select 1 from public.payments where id = tests.fixture(''payment_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('payments', 'select b', 'select 1 from public.payments where id = tests.fixture(''payment_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('payments', 'insert', 'insert into public.payments (case_id, amount) values (tests.fixture(''case_a''), 100)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payments', 'update a', 'update public.payments set status = ''captured'' where id = tests.fixture(''payment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payments', 'delete a', 'delete from public.payments where id = tests.fixture(''payment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- payment_events: nobody on the desk.
  ('payment_events', 'select', 'select 1 from public.payment_events where id = tests.fixture(''payment_event_x'')',
   '0', '0', '0', '0', '0', '0', '42501'),
  ('payment_events', 'select all', 'select 1 from public.payment_events',
   '0', '0', '0', '0', '0', '0', '42501'),
  ('payment_events', 'insert', 'insert into public.payment_events (event_id, event_type, payload) values (''e'', ''t'', ''{}'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_events', 'update', 'update public.payment_events set processed_at = now()',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_events', 'delete', 'delete from public.payment_events',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- payment_orders, payment_links, payment_allocations, refunds: read with their case; written
  -- by the payment functions only.
  ('payment_orders', 'select a', 'select 1 from public.payment_orders where id = tests.fixture(''payment_order_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('payment_orders', 'select b', 'select 1 from public.payment_orders where id = tests.fixture(''payment_order_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('payment_orders', 'insert', 'insert into public.payment_orders (case_id, amount, installment_ids, expires_at) values (tests.fixture(''case_a''), 100, array[tests.fixture(''installment_a'')], now())',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_orders', 'update a', 'update public.payment_orders set status = ''paid'' where id = tests.fixture(''payment_order_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_orders', 'delete a', 'delete from public.payment_orders where id = tests.fixture(''payment_order_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_orders', 'truncate', 'truncate public.payment_orders cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_links', 'select a', 'select 1 from public.payment_links where id = tests.fixture(''payment_link_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('payment_links', 'select b', 'select 1 from public.payment_links where id = tests.fixture(''payment_link_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('payment_links', 'insert', 'insert into public.payment_links (case_id, amount, expire_by) values (tests.fixture(''case_a''), 100, now())',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_links', 'update a', 'update public.payment_links set amount_paid = 1200000 where id = tests.fixture(''payment_link_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_links', 'delete a', 'delete from public.payment_links where id = tests.fixture(''payment_link_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_links', 'truncate', 'truncate public.payment_links cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_allocations', 'select a', 'select 1 from public.payment_allocations where id = tests.fixture(''payment_allocation_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('payment_allocations', 'select b', 'select 1 from public.payment_allocations where id = tests.fixture(''payment_allocation_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('payment_allocations', 'insert', 'insert into public.payment_allocations (payment_id, case_id, outstanding_amount_id, amount) values (tests.fixture(''payment_a''), tests.fixture(''case_a''), tests.fixture(''installment_a''), 1)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_allocations', 'update a', 'update public.payment_allocations set amount = 1200000 where id = tests.fixture(''payment_allocation_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_allocations', 'delete a', 'delete from public.payment_allocations where id = tests.fixture(''payment_allocation_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_allocations', 'truncate', 'truncate public.payment_allocations cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('refunds', 'select a', 'select 1 from public.refunds where id = tests.fixture(''refund_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('refunds', 'select b', 'select 1 from public.refunds where id = tests.fixture(''refund_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('refunds', 'insert', 'insert into public.refunds (payment_id, case_id, amount, reason, idempotency_key) values (tests.fixture(''payment_a''), tests.fixture(''case_a''), 1, ''x'', ''forged_key_1'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('refunds', 'update a', 'update public.refunds set status = ''processed'', processed_at = now() where id = tests.fixture(''refund_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('refunds', 'delete a', 'delete from public.refunds where id = tests.fixture(''refund_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('refunds', 'truncate', 'truncate public.refunds cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- autopay_mandates, autopay_debit_notices: read with their case; autopay_plans: read by the
  -- desk; all written by the autopay functions only.
  ('autopay_mandates', 'select a', 'select 1 from public.autopay_mandates where id = tests.fixture(''autopay_mandate_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('autopay_mandates', 'select b', 'select 1 from public.autopay_mandates where id = tests.fixture(''autopay_mandate_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('autopay_mandates', 'insert', 'insert into public.autopay_mandates (case_id, autopay_plan_id, installment_amount, period, "interval", total_count, start_at, expire_by, max_amount) values (tests.fixture(''case_a''), tests.fixture(''autopay_plan''), 1200000, ''monthly'', 1, 1, now(), now(), 10000000)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_mandates', 'update a', 'update public.autopay_mandates set pause_reason = null, pause_requested_at = null where id = tests.fixture(''autopay_mandate_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_mandates', 'delete a', 'delete from public.autopay_mandates where id = tests.fixture(''autopay_mandate_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_mandates', 'truncate', 'truncate public.autopay_mandates cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_debit_notices', 'select a', 'select 1 from public.autopay_debit_notices where id = tests.fixture(''autopay_notice_a'')',
   '1', '1', '0', '1', '0', '0', '42501'),
  ('autopay_debit_notices', 'select b', 'select 1 from public.autopay_debit_notices where id = tests.fixture(''autopay_notice_b'')',
   '1', '1', '1', '0', '1', '0', '42501'),
  ('autopay_debit_notices', 'insert', 'insert into public.autopay_debit_notices (autopay_mandate_id, case_id, outstanding_amount_id, amount, charge_at) values (tests.fixture(''autopay_mandate_a''), tests.fixture(''case_a''), tests.fixture(''installment_b''), 1200000, now())',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_debit_notices', 'update a', 'update public.autopay_debit_notices set charge_at = now() where id = tests.fixture(''autopay_notice_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_debit_notices', 'delete a', 'delete from public.autopay_debit_notices where id = tests.fixture(''autopay_notice_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_debit_notices', 'truncate', 'truncate public.autopay_debit_notices cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_plans', 'select', 'select 1 from public.autopay_plans where id = tests.fixture(''autopay_plan'')',
   '1', '1', '1', '1', '1', '0', '42501'),
  ('autopay_plans', 'insert', 'insert into public.autopay_plans (period, "interval", amount) values (''monthly'', 3, 500000)',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_plans', 'update', 'update public.autopay_plans set amount = 100 where id = tests.fixture(''autopay_plan'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_plans', 'delete', 'delete from public.autopay_plans where id = tests.fixture(''autopay_plan'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('autopay_plans', 'truncate', 'truncate public.autopay_plans cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payments', 'column autopay_mandate_id', 'update public.payments set autopay_mandate_id = null where id = tests.fixture(''payment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payments', 'column amount_refunded', 'update public.payments set amount_refunded = 0 where id = tests.fixture(''payment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('outstanding_amounts', 'column amount_paid', 'update public.outstanding_amounts set amount_paid = amount where id = tests.fixture(''installment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- channels and vendors: the desk reads, admins configure.
  ('channels', 'select', 'select 1 from public.channels where id = tests.fixture(''channel_x'')',
   '1', '1', '1', '1', '1', '0', '42501'),
  ('channels', 'select all', 'select 1 from public.channels where name like ''%reminders''',
   '3', '3', '3', '3', '3', '0', '42501'),
  ('channels', 'insert', 'insert into public.channels (type, name, provider) values (''email'', ''New'', ''aws_ses'')',
   '1', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('channels', 'update', 'update public.channels set enabled = false where id = tests.fixture(''channel_x'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('channels', 'delete', 'delete from public.channels where id = tests.fixture(''channel_x'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('vendors', 'select', 'select 1 from public.vendors where id = tests.fixture(''vendor_x'')',
   '1', '1', '1', '1', '1', '0', '42501'),
  ('vendors', 'select all', 'select 1 from public.vendors where code = ''twilio''',
   '1', '1', '1', '1', '1', '0', '42501'),
  ('vendors', 'insert', 'insert into public.vendors (code, name, kind) values (''new_vendor'', ''New'', ''ai'')',
   '1', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('vendors', 'update', 'update public.vendors set active = false where id = tests.fixture(''vendor_x'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('vendors', 'delete', 'delete from public.vendors where id = tests.fixture(''vendor_x'')',
   '1', '0', '0', '0', '0', '0', '42501'),
  -- audit_log: admins read; nobody writes.
  ('audit_log', 'select', 'select 1 from public.audit_log where row_id = tests.fixture(''case_a'') and action = ''insert''',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('audit_log', 'select all', 'select 1 from public.audit_log limit 1',
   '1', '0', '0', '0', '0', '0', '42501'),
  ('audit_log', 'insert', 'insert into public.audit_log (table_name, row_id, action, actor_role)
     values (''x'', gen_random_uuid(), ''insert'', ''x'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('audit_log', 'update', 'update public.audit_log set actor_role = ''x''',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('audit_log', 'delete', 'delete from public.audit_log',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  -- Columns nobody on the desk writes, and TRUNCATE (it skips RLS and the audit triggers).
  ('customers', 'column dnd', 'update public.customers set dnd = true where id = tests.fixture(''customer_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('customers', 'column kyc_verified_on', 'update public.customers set kyc_verified_on = current_date where id = tests.fixture(''customer_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('customers', 'column created_at', 'update public.customers set created_at = now() where id = tests.fixture(''customer_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'column recorded_at', 'update public.consents set recorded_at = ''2024-01-01'' where id = tests.fixture(''consent_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'column recorded_by', 'update public.consents set recorded_by = tests.get_user_id(''admin'') where id = tests.fixture(''consent_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'column insert recorded_at', 'insert into public.consents (customer_id, channel, purpose, status, source, recorded_at) values (tests.fixture(''customer_a''), ''sms'', ''marketing'', ''granted'', ''web_form'', ''2024-01-01'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'column customer_id', 'update public.consents set customer_id = tests.fixture(''customer_b'') where id = tests.fixture(''consent_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'column due_date', 'update public.renewal_cases set due_date = due_date + 365 where id = tests.fixture(''case_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'column grace_end', 'update public.renewal_cases set grace_end = grace_end + 365 where id = tests.fixture(''case_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'column case_number', 'update public.renewal_cases set case_number = ''RC-1999-000001'' where id = tests.fixture(''case_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'column closed_at', 'update public.renewal_cases set closed_at = now() where id = tests.fixture(''case_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'column policy_id', 'update public.renewal_cases set policy_id = tests.fixture(''policy_spare'') where id = tests.fixture(''case_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('outstanding_amounts', 'column amount', 'update public.outstanding_amounts set amount = 100 where id = tests.fixture(''installment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('outstanding_amounts', 'column due_date', 'update public.outstanding_amounts set due_date = due_date + 365 where id = tests.fixture(''installment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('outstanding_amounts', 'column case_id', 'update public.outstanding_amounts set case_id = tests.fixture(''case_b'') where id = tests.fixture(''installment_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('profiles', 'column email', 'update public.profiles set email = ''x@y.test'' where id = tests.get_user_id(''agent_a'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('hierarchy_nodes', 'column path', 'update public.hierarchy_nodes set path = ''X'' where code = ''T_TEAM_A''',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('app_settings', 'column description', 'update public.app_settings set description = ''x'' where key = ''GRACE_DAYS''',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('channels', 'column created_at', 'update public.channels set created_at = now() where id = tests.fixture(''channel_x'')',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('app_settings', 'truncate', 'truncate public.app_settings cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('audit_log', 'truncate', 'truncate public.audit_log cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('channels', 'truncate', 'truncate public.channels cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('consents', 'truncate', 'truncate public.consents cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('customers', 'truncate', 'truncate public.customers cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('hierarchy_nodes', 'truncate', 'truncate public.hierarchy_nodes cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('outstanding_amounts', 'truncate', 'truncate public.outstanding_amounts cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payment_events', 'truncate', 'truncate public.payment_events cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('payments', 'truncate', 'truncate public.payments cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('policies', 'truncate', 'truncate public.policies cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('profiles', 'truncate', 'truncate public.profiles cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('renewal_cases', 'truncate', 'truncate public.renewal_cases cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501'),
  ('vendors', 'truncate', 'truncate public.vendors cascade',
   '42501', '42501', '42501', '42501', '42501', '42501', '42501');

select plan((select count(*)::int * 7 from matrix));

select is(
  tests.affected_rows_as(cell.persona, m.statement),
  cell.expected,
  format('%s: %s as %s -> %s', m.tbl, m.op, cell.persona, cell.expected)
)
  from matrix m
  cross join lateral (values
    (1, 'admin', m.admin), (2, 'zone_manager', m.zone_manager),
    (3, 'branch_b_manager', m.branch_b_manager), (4, 'agent_a', m.agent_a),
    (5, 'agent_b', m.agent_b), (6, 'analyst', m.analyst), (7, 'anon', m.anon)
  ) as cell (n, persona, expected)
 order by m.tbl, m.op, cell.n;

select * from finish();
rollback;
