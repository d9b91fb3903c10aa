-- The outbox's upkeep (migration 20261129010500_create_message_upkeep): unconfirmed messages
-- flagged after MESSAGE_UNCONFIRMED_HOURS, dead letters redriven by an admin only, idempotently.
begin;
select plan(11);
select tests.create_test_book();

insert into public.templates (code, channel, purpose, subject, body)
values ('note', 'email', 'transactional', 'Note', 'Hello {{customer_name}}');
select count(*) from private.enqueue_messages(
  (select jsonb_agg(jsonb_build_object('customer_id', tests.fixture('customer_a'), 'channel', 'email',
            'template_code', 'note', 'variables', '{"customer_name": "A"}'::jsonb, 'idempotency_key', 'u-' || n))
     from generate_series(1, 4) n), now() - interval '2 days');
update public.messages set status = 'sent', sent_at = now() - interval '25 hours', provider = 'aws_ses'
 where idempotency_key in ('u-1', 'u-2');
update public.messages set sent_at = now() - interval '1 hour' where idempotency_key = 'u-2';
update public.messages set status = 'dead', dead_reason = 'stalled', dead_at = now(), provider = 'aws_ses',
       attempts = 3, stalls = 3
 where idempotency_key = 'u-3';
update public.messages set status = 'dead', dead_reason = 'retries_exhausted', dead_at = now(), provider = 'sendgrid'
 where idempotency_key = 'u-4';

select is(private.flag_unconfirmed_messages(), 1, 'one message sent 25 hours ago without news is flagged');
select is((select unconfirmed_at is not null from public.messages where idempotency_key = 'u-1'), true,
  'the old one');
select is(private.flag_unconfirmed_messages(), 0, 'a second sweep flags nothing new');

select tests.authenticate_as('zone_manager');
select throws_ok($$select private.redrive_dead_messages()$$, '42501', null, 'a manager may not redrive');
select tests.authenticate_as('admin');
select throws_ok($$select private.redrive_dead_messages('tired')$$, '22023', null, 'an unknown reason is refused');
select is(private.redrive_dead_messages('stalled'), 1, 'an admin redrives the stalled dead letters');
select is((select (status, attempts, stalls, provider, dead_reason)::text from public.messages where idempotency_key = 'u-3'),
  '(queued,0,0,,)', 'queued afresh, counters reset, provider to be chosen again');
select is(private.redrive_dead_messages('stalled'), 0, 'a second redrive moves nothing');
select is((select status::text from public.messages where idempotency_key = 'u-4'), 'dead',
  'the other reason''s dead letter stays');
select is(private.redrive_dead_messages(provider => 'sendgrid'), 1, 'redrive by provider');
reset role;
select is((select count(*)::integer from cron.job where jobname = 'flag-unconfirmed-messages'), 1,
  'the sweep is scheduled');

select * from finish();
rollback;
