-- Retention covers dead letters (issue 13, review): a message in status `dead` was never purged,
-- so an 800-day-old dead letter kept its body. private.purge_expired_data now empties dead
-- letters past MESSAGE_BODY_RETENTION_DAYS too, and private.redrive_dead_messages never puts a
-- purged one (content_purged_at set) back in the queue: a selection holding only purged letters
-- is refused (55000, the API's 409), changing nothing. Both restated whole, every clause kept.
-- Unprocessed payment_events payloads still stay past WEBHOOK_PAYLOAD_RETENTION_DAYS: a person
-- still has to apply that money, and the payload is what says whose and how much.

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

  -- Message content: final statuses and dead letters (a dead letter past retention may not be
  -- sent any more: private.redrive_dead_messages leaves purged ones dead). Never queued,
  -- deferred or sending ones.
  total := 0;
  loop
    with picked as (
      select m.id from public.messages m
       where m.content_purged_at is null and m.created_at < message_cut
         and m.status in ('sent', 'delivered', 'read', 'failed', 'undeliverable', 'cancelled',
                          'blocked', 'dead')
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
  'tests): empties message content (final statuses and dead letters, which then cannot be '
  'redriven) past MESSAGE_BODY_RETENTION_DAYS, '
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


create or replace function private.redrive_dead_messages(
  dead_reason text default null,
  provider text default null,
  template_code text default null,
  as_of timestamptz default now()
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  redriven integer;
  purged integer;
begin
  -- The caller's role as set for the session (a definer function's current_user is its owner).
  if current_setting('role') not in ('none', 'postgres', 'service_role') and not private.is_admin() then
    raise exception 'only admins redrive dead messages' using errcode = '42501';
  end if;
  if dead_reason is not null and dead_reason not in ('stalled', 'retries_exhausted') then
    raise exception 'dead_reason is stalled or retries_exhausted' using errcode = '22023';
  end if;
  -- A dead letter whose content the retention purge emptied cannot be sent again: it stays dead.
  update public.messages m
     set status = 'queued', dead_reason = null, dead_at = null, attempts = 0,
         provider_attempts = 0, stalls = 0, provider = null, next_attempt_at = as_of,
         deferred_reason = null, locked_by = null, locked_until = null
   where m.status = 'dead' and m.content_purged_at is null
     and (redrive_dead_messages.dead_reason is null or m.dead_reason = redrive_dead_messages.dead_reason)
     and (redrive_dead_messages.provider is null or m.provider = redrive_dead_messages.provider)
     and (redrive_dead_messages.template_code is null or m.template_id in (
            select t.id from public.templates t where t.code = redrive_dead_messages.template_code));
  get diagnostics redriven = row_count;
  if redriven = 0 then
    select count(*) into purged
      from public.messages m
     where m.status = 'dead' and m.content_purged_at is not null
       and (redrive_dead_messages.dead_reason is null or m.dead_reason = redrive_dead_messages.dead_reason)
       and (redrive_dead_messages.provider is null or m.provider = redrive_dead_messages.provider)
       and (redrive_dead_messages.template_code is null or m.template_id in (
              select t.id from public.templates t where t.code = redrive_dead_messages.template_code));
    if purged > 0 then
      raise exception '% dead message(s) match, all past MESSAGE_BODY_RETENTION_DAYS: their content was purged, so they cannot be sent again', purged
        using errcode = '55000';
    end if;
  end if;
  if redriven > 0 then
    perform pg_notify('messages_queued', '');
  end if;
  return redriven;
end;
$$;

comment on function private.redrive_dead_messages(text, text, text, timestamptz) is
  'Puts dead letters back in the queue, all or those of a dead_reason (stalled, '
  'retries_exhausted), a provider or a template code: counters reset, provider chosen afresh, '
  'due at as_of. Idempotent: a second call finds no dead letters left to move. Admins (and '
  'service_role) only: 42501 for others. Returns how many it redrove. Only dead messages move: '
  'blocked, failed and cancelled ones never do, whoever asks (a regulatory opt-out is never '
  'overridden). A dead letter whose content the retention purge emptied (content_purged_at set) '
  'never moves: when the selection holds only such letters the call is refused, 55000 (409), '
  'changing nothing; beside letters that can move, they are left dead (the count excludes them).';

revoke execute on function private.redrive_dead_messages(text, text, text, timestamptz) from public;
grant execute on function private.redrive_dead_messages(text, text, text, timestamptz)
  to authenticated, service_role;
