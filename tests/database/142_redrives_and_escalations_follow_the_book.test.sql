-- Issue 9's fourth review (migration 20261201081235): a redrive cancels, instead of queueing, the
-- dead letters of a cancelled campaign and the dead reminders of a case closed since (a
-- transactional message of that case still goes); a task escalates up its assignee's chain even
-- when the manager holding it has moved elsewhere in the hierarchy.
begin;
select plan(11);
select tests.create_test_book();
update public.renewal_cases set stage = 'lost', lost_reason = 'Out of the way'
 where stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
update public.app_settings set value = '{"marketing": {"max": 100, "days": 1}, "service": {"max": 100, "days": 1}}'
 where key = 'MESSAGE_FREQUENCY_CAPS';

-- Noon IST a week ahead (inside promotional hours), plus `hours`.
create function pg_temp.at(hours numeric default 0) returns timestamptz
language sql stable
as $$ select ((current_date + 7) + time '12:00') at time zone 'Asia/Kolkata' + make_interval(secs => hours * 3600) $$;
grant execute on function pg_temp.at(numeric) to authenticated, service_role;

-- Kills every queued message: four claims past the lease (stalled three times).
create function pg_temp.stall_all(from_hour numeric) returns void
language plpgsql as $$
begin
  for i in 1..4 loop
    perform private.claim_messages('w' || i, 100, pg_temp.at(from_hour + i * 0.1));
  end loop;
end;
$$;

-- A cancelled campaign's dead letters.
insert into public.templates (code, channel, purpose, subject, body)
values ('t142_offer', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{customer_name}}, renew {{policy_number}}.'),
       ('t142_due', 'email', 'service', 'Renew {{policy_number}}', 'Your policy {{policy_number}} expires tomorrow.'),
       ('t142_receipt', 'email', 'transactional', 'Receipt', 'We received your payment for {{policy_number}}.');
select tests.campaign_customers('C142', null, 3, policy_prefix => 'T-C142-',
                                phone_prefix => '+91971420000', email_prefix => 'c142_');
select tests.authenticate_as('zone_manager');
insert into public.campaigns (name, scope_node_id, channel, purpose, template_code)
select 'C142', n.id, 'email', 'service', 't142_offer' from public.hierarchy_nodes n where n.code = 'T_ZONE';
-- Launched at the moved clock: the owner's form (managers launch on now()), with the manager's
-- claims.
reset role;
select is((select queued from private.launch_campaign((select id from public.campaigns where name = 'C142'), pg_temp.at())),
          3, 'the campaign queues three messages');
select pg_temp.stall_all(0);
select is((select string_agg(m.status::text, ',') from public.messages m
            where m.campaign_id = (select id from public.campaigns where name = 'C142')),
          'dead,dead,dead', 'all three die (stalled)');
select tests.authenticate_as('zone_manager');
select private.cancel_campaign((select id from public.campaigns where name = 'C142'));
reset role;

-- A lapsed case's "expires tomorrow" reminder (a cadence step before expiry) and its receipt,
-- both dead.
insert into public.customers (full_name, phone, email) values ('Lapse 142', '+919620001421', 'lapse142@tests.py360.test');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium, sum_insured, start_date, end_date)
select 'T-LAPSE-142', 'motor', 'Test General', id, tests.get_user_id('agent_a'), 1200000, 90000000,
       current_date - 367, current_date - 2
  from public.customers where full_name = 'Lapse 142';
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select p.id, p.customer_id, p.agent_id, current_date - 2, current_date - 2
  from public.policies p where p.policy_number = 'T-LAPSE-142';
insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
select c.id, 1, c.due_date, 1200000
  from public.renewal_cases c join public.policies p on p.id = c.policy_id where p.policy_number = 'T-LAPSE-142';
select private.enqueue_messages(jsonb_build_array(
         jsonb_build_object('customer_id', c.customer_id, 'case_id', c.id, 'channel', 'email',
                            'template_code', 't142_due',
                            -- The key the cadence gives the motor ladder's last step before expiry.
                            'idempotency_key', format('cadence:%s:%s', p.id, (
                              select r.id from public.reminder_rules r
                               where r.product_line = 'motor' and r.kind = 'message' and r.offset_days <= 0
                               order by r.offset_days desc limit 1)),
                            'variables', jsonb_build_object('policy_number', 'T-LAPSE-142')),
         jsonb_build_object('customer_id', c.customer_id, 'case_id', c.id, 'channel', 'email',
                            'template_code', 't142_receipt', 'idempotency_key', 't142:receipt',
                            'variables', jsonb_build_object('policy_number', 'T-LAPSE-142'))),
       pg_temp.at(2))
  from public.renewal_cases c join public.policies p on p.id = c.policy_id where p.policy_number = 'T-LAPSE-142';
select pg_temp.stall_all(2);
create temporary view t142 as
  select t.code, m.status::text, m.id from public.messages m join public.templates t on t.id = m.template_id
   where t.code in ('t142_due', 't142_receipt');
select is(array(select status from t142 order by 1),
          array['dead', 'dead'], 'the reminder and the receipt die');
update public.renewal_cases c set stage = 'pending_lapse'
  from public.policies p where p.id = c.policy_id and p.policy_number = 'T-LAPSE-142';
update public.renewal_cases c set stage = 'lapsed'
  from public.policies p where p.id = c.policy_id and p.policy_number = 'T-LAPSE-142';

select tests.authenticate_as('admin');
-- An admin's redrive is due now (before the dispatcher's claim at pg_temp.at(3.1)).
select is(private.redrive_dead_messages(), 1,
          'a redrive queues only the receipt');
reset role;
select is((select string_agg(m.status::text, ',') from public.messages m
            where m.campaign_id = (select id from public.campaigns where name = 'C142')),
          'cancelled,cancelled,cancelled', 'the cancelled campaign''s dead letters are cancelled, not queued');
select is((select status from t142 where code = 't142_due'), 'cancelled',
          'the lapsed case''s reminder is cancelled, not queued');
select is((select status from t142 where code = 't142_receipt'), 'queued',
          'its receipt (transactional) is queued again');
select is(array(select coalesce(t.code, 'campaign') from private.claim_messages('w9', 100, pg_temp.at(3.1)) x
                  left join t142 t on t.id = x.id
                  join public.messages m on m.id = x.id
                 where t.id is not null or m.campaign_id is not null),
          array['t142_receipt'], 'a dispatcher is handed the receipt and nothing else of theirs');

-- A task escalates up its agent's chain after its holder moved to another zone.
select tests.create_user('branch_a_manager', 'manager', 'T_BRANCH_A');
insert into public.customers (full_name, phone, email) values ('Esc 142', '+919620001422', 'esc142@tests.py360.test');
insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id, premium, sum_insured, start_date, end_date)
select 'T-ESC-142', 'motor', 'Test General', id, tests.get_user_id('agent_a'), 6000000, 90000000,
       current_date - 335, current_date + 30
  from public.customers where full_name = 'Esc 142';
insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
select p.id, p.customer_id, p.agent_id, current_date + 30, current_date + 30
  from public.policies p where p.policy_number = 'T-ESC-142';
insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
select c.id, c.assignee_id, now(), 1, now() + interval '1 hour'
  from public.renewal_cases c join public.policies p on p.id = c.policy_id where p.policy_number = 'T-ESC-142';
select private.escalate_overdue_tasks(now() + interval '2 hours');
select is((select escalated_to from public.tasks t join public.renewal_cases c on c.id = t.case_id
             join public.policies p on p.id = c.policy_id where p.policy_number = 'T-ESC-142'),
          tests.get_user_id('branch_a_manager'), 'level 1: the branch manager');
update public.profiles set node_id = (select id from public.hierarchy_nodes where code = 'T_ZONE2')
 where id = tests.get_user_id('branch_a_manager');
select private.escalate_overdue_tasks(now() + interval '10 hours');
select is((select escalated_to from public.tasks t join public.renewal_cases c on c.id = t.case_id
             join public.policies p on p.id = c.policy_id where p.policy_number = 'T-ESC-142'),
          tests.get_user_id('zone_manager'),
          'level 2: the zone manager above the agent, though the branch manager moved to another zone');
select is((select t.escalation_level::integer from public.tasks t join public.renewal_cases c on c.id = t.case_id
             join public.policies p on p.id = c.policy_id where p.policy_number = 'T-ESC-142'),
          2, 'escalated twice');

select * from finish();
rollback;
