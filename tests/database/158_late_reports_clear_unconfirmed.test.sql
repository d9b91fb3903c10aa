-- A message flagged unconfirmed (no delivery or failure within MESSAGE_UNCONFIRMED_HOURS) is
-- unconfirmed no more once its vendor reports it (migration clear_unconfirmed_on_a_late_report);
-- a message still without a report keeps its flag.
begin;
select plan(4);
select tests.create_test_org();

with c as (insert into public.customers (full_name, email) values ('Late Report', 'late158@example.test')
           returning id)
insert into public.messages (customer_id, channel, purpose, recipient, subject, body, status,
                             provider, provider_message_id, sent_at, idempotency_key)
select c.id, 'email', 'service', 'late158@example.test', 'Hello', 'Hello', 'sent', 'aws_ses',
       'ses-158-' || k, now() - interval '25 hours', 't158:' || k
  from c, unnest(array['reported', 'silent']) k;

select is(private.flag_unconfirmed_messages(), 2, 'both are flagged unconfirmed after 25 hours');

select private.record_message_events('aws_ses', jsonb_build_array(jsonb_build_object(
  'event_key', 'ses-158-delivery', 'kind', 'status', 'provider_message_id', 'ses-158-reported',
  'status', 'delivered', 'vendor_status', 'Delivery', 'payload', '{}'::jsonb)));
select is((select (status, unconfirmed_at is null)::text from public.messages
            where idempotency_key = 't158:reported'),
  '(delivered,t)', 'the late delivery clears the flag');
select is((select (status, unconfirmed_at is not null)::text from public.messages
            where idempotency_key = 't158:silent'),
  '(sent,t)', 'the message still without a report keeps it');
select is((select count(*)::int from public.messages
            where idempotency_key like 't158:%' and status = 'delivered' and unconfirmed_at is not null),
  0, 'no message is delivered and unconfirmed at once');

select * from finish();
rollback;
