-- A message handed back by a dispatcher (sending -> queued) after its case closed: a reminder is
-- cancelled, a notice about the close itself (event:<case>:<stage>, queued with it) goes on
-- (migrations 20261129182416 and 20261129185337).
begin;
select plan(3);
select tests.create_test_book();

create temporary table the_case on commit drop as
select c.id, c.customer_id from public.renewal_cases c
 where c.stage = 'new' and c.assignee_id = tests.get_user_id('agent_a')
 order by c.case_number limit 1;

select is((select count(*)::integer from private.enqueue_messages(jsonb_build_array(
             jsonb_build_object('customer_id', (select customer_id from the_case),
                                'case_id', (select id from the_case), 'channel', 'email',
                                'purpose', 'service', 'subject', 'Renew', 'body', 'Please renew.',
                                'idempotency_key', 'test-68-reminder')), now() - interval '1 hour') e
            where e.created and e.status = 'queued'), 1, 'a reminder queued before the close');
update public.messages set status = 'sending', locked_by = 'w-68', locked_until = now() + interval '1 minute'
 where idempotency_key = 'test-68-reminder';

update public.renewal_cases set stage = 'lost', lost_reason = 'Bought elsewhere'
 where id = (select id from the_case);
select private.enqueue_messages(jsonb_build_array(
         jsonb_build_object('customer_id', (select customer_id from the_case),
                            'case_id', (select id from the_case), 'channel', 'email',
                            'purpose', 'service', 'subject', 'Your policy', 'body', 'What it means.',
                            'idempotency_key', format('event:%s:lost', (select id from the_case)))), now());
update public.messages set status = 'sending', locked_by = 'w-68', locked_until = now() + interval '1 minute'
 where idempotency_key = format('event:%s:lost', (select id from the_case));

-- Both handed back unsent, as release_messages does.
update public.messages set status = 'queued', locked_by = null, locked_until = null
 where locked_by = 'w-68';
select is((select status::text from public.messages where idempotency_key = 'test-68-reminder'),
          'cancelled', 'the reminder queued before the case closed is cancelled on its way back');
select is((select status::text from public.messages
            where idempotency_key = format('event:%s:lost', (select id from the_case))),
          'queued', 'the notice about the close goes on');

select * from finish();
rollback;
