-- The retention purge hands expired exports to the export runner's own expiry,
-- private.expire_data_exports (20261130043700_export_customer_data, which sorts after the purge's
-- first migration): it queues the object and clears data_requests.object_key, so the download is
-- offered no longer and a second call finds nothing. The purge's first version queued the object
-- itself and left object_key set, a second rule for the same thing. Everything else is as in
-- 20261130043600_purge_expired_data.

create or replace function private.purge_expired_data(as_of timestamptz default now())
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  started timestamptz := clock_timestamp();
  message_days integer := private.retention_number('MESSAGE_BODY_RETENTION_DAYS', 365, 1, 36500);
  webhook_days integer := private.retention_number('WEBHOOK_PAYLOAD_RETENTION_DAYS', 90, 1, 36500);
  click_days integer := private.retention_number('LINK_CLICK_RETENTION_DAYS', 365, 1, 36500);
  ai_days integer;
  batch integer := private.retention_number('RETENTION_BATCH_SIZE', 1000, 10, 100000);
  cap integer := private.retention_number('RETENTION_MAX_ROWS_PER_RUN', 100000, 1000, 100000000);
  message_cut timestamptz;
  webhook_cut timestamptz;
  click_cut timestamptz;
  ai_cut timestamptz;
  -- A document may go on the day after retain_until as the business calendar counts it, and
  -- never before that day has come in fact, whatever as_of says (its delete trigger agrees).
  document_day date;
  counts jsonb := '{}'::jsonb;
  complete boolean := true;
  total bigint;
  n bigint;
begin
  if purge_expired_data.as_of is null or not isfinite(purge_expired_data.as_of) then
    raise exception 'purge_expired_data needs a finite as_of' using errcode = '22023';
  end if;
  -- One run at a time (the job, an operator's manual run).
  if not pg_try_advisory_xact_lock(hashtext('private.purge_expired_data')) then
    raise exception 'a retention purge is already running' using errcode = '55000';
  end if;
  -- 0 (keep nothing) is not a retention period: AI_RETENTION_DAYS below 1 counts as 1.
  ai_days := greatest(1, (select s.retention_days from private.ai_settings() s));
  message_cut := purge_expired_data.as_of - make_interval(days => message_days);
  webhook_cut := purge_expired_data.as_of - make_interval(days => webhook_days);
  click_cut := purge_expired_data.as_of - make_interval(days => click_days);
  ai_cut := purge_expired_data.as_of - make_interval(days => ai_days);
  document_day := least(private.business_date(purge_expired_data.as_of),
                        private.business_date(now()));

  -- Message content, final statuses only.
  total := 0;
  loop
    with picked as (
      select m.id from public.messages m
       where m.content_purged_at is null and m.created_at < message_cut
         and m.status in ('sent', 'delivered', 'read', 'failed', 'undeliverable', 'cancelled',
                          'blocked')
       order by m.created_at
       limit least(batch, cap - total)
         for update skip locked)
    update public.messages m
       set subject = null, body = '', body_html = null, variables = '{}'::jsonb,
           template_snapshot = m.template_snapshot - 'whatsapp_parameters',
           content_purged_at = purge_expired_data.as_of
      from picked p
     where m.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('message_bodies', total);
  complete := complete and total < cap;

  total := 0;
  loop
    with picked as (
      select e.id from public.message_events e
       where e.payload <> '{}'::jsonb and e.received_at < webhook_cut
       order by e.received_at
       limit least(batch, cap - total)
         for update skip locked)
    update public.message_events e set payload = '{}'::jsonb
      from picked p
     where e.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('message_event_payloads', total);
  complete := complete and total < cap;

  total := 0;
  loop
    with picked as (
      select e.id from public.payment_events e
       where e.payload <> '{}'::jsonb and e.processed_at is not null
         and e.received_at < webhook_cut
       order by e.received_at
       limit least(batch, cap - total)
         for update skip locked)
    update public.payment_events e set payload = '{}'::jsonb
      from picked p
     where e.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('payment_event_payloads', total);
  complete := complete and total < cap;

  total := 0;
  loop
    with picked as (
      select rc.id from private.razorpay_calls rc
       where rc.request <> '{}'::jsonb and rc.state <> 'pending' and rc.created_at < webhook_cut
         and not exists (select 1 from public.refunds r
                          where r.id = rc.subject_id and r.status = 'creating')
       order by rc.created_at
       limit least(batch, cap - total)
         for update skip locked)
    update private.razorpay_calls rc set request = '{}'::jsonb
      from picked p
     where rc.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('razorpay_call_requests', total);
  complete := complete and total < cap;

  -- A pending request is left to expire_ai_requests, which closes it first.
  total := 0;
  loop
    with picked as (
      select r.id from public.ai_requests r
       where (r.prompt is not null or r.response is not null) and r.created_at < ai_cut
         and r.outcome <> 'pending'
       order by r.created_at
       limit least(batch, cap - total)
         for update skip locked)
    update public.ai_requests r set prompt = null, response = null
      from picked p
     where r.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('ai_request_prompts', total);
  complete := complete and total < cap;

  total := 0;
  loop
    with picked as (
      select m.id from public.ai_chat_messages m
       where m.created_at < ai_cut
       order by m.created_at
       limit least(batch, cap - total)
         for update skip locked)
    delete from public.ai_chat_messages m
     using picked p
     where m.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('ai_chat_messages', total);
  complete := complete and total < cap;

  total := 0;
  loop
    with picked as (
      select l.id from public.link_clicks l
       where l.user_agent is not null and l.clicked_at < click_cut
       order by l.clicked_at
       limit least(batch, cap - total)
         for update skip locked)
    update public.link_clicks l set user_agent = null
      from picked p
     where l.id = p.id;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('link_click_user_agents', total);
  complete := complete and total < cap;

  -- Documents: the row goes (the object's metadata and links with it) and the object is queued
  -- for the deletion sweep in the same transaction.
  total := 0;
  loop
    with picked as (
      select d.id from public.documents d
       where d.retain_until is not null and not d.legal_hold and d.retain_until <= document_day
       order by d.retain_until
       limit least(batch, cap - total)
         for update skip locked),
    gone as (
      delete from public.documents d
       using picked p
       where d.id = p.id and not d.legal_hold
      returning d.bucket, d.object_key),
    queued as (
      insert into private.object_deletions (bucket, object_key, reason)
      select g.bucket, g.object_key, 'retention' from gone g
      on conflict (bucket, object_key) where done_at is null do nothing
      returning 1)
    select count(*) into n from gone;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('documents', total);
  complete := complete and total < cap;

  -- Exports whose download has ended: the export runner's own expiry (private.expire_data_exports,
  -- which the housekeeping also runs every minute) queues their objects (exports/{id}.json in the
  -- documents bucket) and clears object_key, so a second call finds nothing; the request row stays
  -- as evidence of the request. Few rows: no batches.
  n := private.expire_data_exports('documents', purge_expired_data.as_of);
  counts := counts || jsonb_build_object('expired_exports', n);

  insert into public.retention_runs (as_of, started_at, finished_at, counts, settings, complete)
  values (purge_expired_data.as_of, started, clock_timestamp(), counts,
          jsonb_build_object('message_body_days', message_days, 'webhook_payload_days', webhook_days,
                             'ai_prompt_days', ai_days, 'link_click_days', click_days,
                             'batch_size', batch, 'max_rows_per_run', cap),
          complete);
  return counts || jsonb_build_object('complete', complete);
end;
$$;

comment on function private.purge_expired_data(timestamptz) is
  'The daily retention purge (pg_cron purge-expired-data, 03:15 IST; as_of moves the clock in '
  'tests): empties message content (final statuses only) past MESSAGE_BODY_RETENTION_DAYS, '
  'webhook payloads (processed payment events) and finished Razorpay call bodies past '
  'WEBHOOK_PAYLOAD_RETENTION_DAYS, AI prompts and answers and the case chat past '
  'AI_RETENTION_DAYS, link-click user agents past LINK_CLICK_RETENTION_DAYS; deletes documents '
  'past retain_until and not under legal hold, queueing their objects, and expires the exports '
  'past expires_at (private.expire_data_exports: objects queued, object_key cleared). In '
  'batches of RETENTION_BATCH_SIZE rows (skipping rows locked elsewhere), at most '
  'RETENTION_MAX_ROWS_PER_RUN of a kind. Idempotent: a second run counts 0. Records a '
  'public.retention_runs row; returns the counts per kind and complete. 22023 for an infinite '
  'as_of; 55000 while another purge runs. Security definer: no API role may change these '
  'tables; service_role and pg_cron only.';

