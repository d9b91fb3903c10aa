-- Retention (issue 13, "a pg_cron job purges message bodies, webhook payloads, AI prompts and
-- documents past their retention settings; the counts are reported"). DPDP Act 2023 s. 8(7) and
-- GDPR art. 5(1)(e): personal data is kept no longer than its purpose needs. What the law makes
-- us keep (the insurance record: policies, premiums, payments, refunds, their amounts, statuses
-- and times; documents until retain_until) is never touched.
-- * Settings (days): MESSAGE_BODY_RETENTION_DAYS (365), WEBHOOK_PAYLOAD_RETENTION_DAYS (90),
--   LINK_CLICK_RETENTION_DAYS (365); the AI requests' prompts and the case chat keep their own
--   AI_RETENTION_DAYS (30, issue 10) rather than a second setting for the same data, which
--   would either contradict it or never act. RETENTION_BATCH_SIZE (1000 rows a statement) and
--   RETENTION_MAX_ROWS_PER_RUN (100000 rows a kind a run) bound the work and the locks.
-- * private.purge_expired_data(as_of): one pass over every kind, each in bounded batches
--   (`limit ... for update skip locked`: a row in use elsewhere waits for the next run, nothing
--   waits on the purge for long); idempotent (what is purged is marked, a second run finds
--   nothing); records a row in public.retention_runs and returns the counts.
--   - messages in a final status (sent, delivered, read, failed, undeliverable, cancelled,
--     blocked: never queued, sending, nor dead, which an admin may redrive) created more than
--     MESSAGE_BODY_RETENTION_DAYS ago: subject, body (NOT NULL: ''), body_html, variables ({})
--     and the template parameters rendered for the vendor go; content_purged_at says when. Who,
--     which channel, template, status, costs and times stay.
--   - message_events payloads (every vendor callback and inbound message is applied in the
--     transaction that stores it) and processed payment_events payloads (processed_at set: the
--     ones kept for review or unmatched wait for a person) received more than
--     WEBHOOK_PAYLOAD_RETENTION_DAYS ago become {}; the columns beside them (event, status,
--     times, note) stay. private.razorpay_calls requests of finished calls likewise (not those
--     of a refund still being created: the reconciliation may repeat that call's body).
--   - ai_requests prompt and response nulled, ai_chat_messages deleted, past AI_RETENTION_DAYS
--     (the same rule as expire_ai_requests / expire_ai_chat_messages, counted here too).
--   - link_clicks user agents nulled past LINK_CLICK_RETENTION_DAYS (the click's time stays).
--   - documents past retain_until and not under legal hold are deleted (their delete trigger
--     allows it then) and their objects queued in private.object_deletions; documents without
--     retain_until (no legal minimum) are the desk's to delete, not the purge's.
--   - exports (data_requests) past expires_at: their objects queued.
-- * public.retention_runs: one row per run; admins read them (GET /api/retention/runs).
-- * pg_cron `purge-expired-data` daily at 21:45 UTC (03:15 IST, the quiet hours).

insert into public.app_settings (key, value, description) values
  ('MESSAGE_BODY_RETENTION_DAYS', '365',
   'Days a sent message''s content (subject, body, HTML, variables, the parameters rendered for '
   'the vendor''s template) is kept after it was created; the daily purge then empties it (only '
   'messages in a final status). A year answers the customer''s questions and a grievance '
   'about what we told them; the fact of the message (to whom, when, status, cost) stays. 1 to '
   '36500.'),
  ('WEBHOOK_PAYLOAD_RETENTION_DAYS', '90',
   'Days the raw payloads of vendor webhooks (delivery reports, inbound messages, processed '
   'Razorpay events) and the bodies of our calls to Razorpay are kept; they hold phone numbers, '
   'emails and texts and are needed only to debug and reconcile, which happens within days. '
   'What they did stays in the payments and messages. 1 to 36500.'),
  ('LINK_CLICK_RETENTION_DAYS', '365',
   'Days the browser (User-Agent) of a tracked-link click is kept; the click''s time stays '
   'for the cadence and reports. 1 to 36500.'),
  ('RETENTION_BATCH_SIZE', '1000',
   'Rows the daily retention purge changes per statement (10 to 100000): smaller batches hold '
   'fewer locks at a time.'),
  ('RETENTION_MAX_ROWS_PER_RUN', '100000',
   'Rows of each kind one retention run purges at most (1000 to 100000000); the rest waits '
   'for the next run (the run''s complete is false).');

alter table public.messages add column content_purged_at timestamptz;

comment on column public.messages.content_purged_at is
  'When the retention purge emptied the content (subject, body, body_html, variables, the '
  'template''s rendered parameters) after MESSAGE_BODY_RETENTION_DAYS; null while kept.';

-- The purge's look-ups: only what is still to purge is indexed, so each index shrinks as the
-- purge goes and a run never walks past the rows purged before.
create index messages_retention_idx on public.messages (created_at)
  where content_purged_at is null;
create index message_events_retention_idx on public.message_events (received_at)
  where payload <> '{}'::jsonb;
create index payment_events_retention_idx on public.payment_events (received_at)
  where payload <> '{}'::jsonb and processed_at is not null;
create index razorpay_calls_retention_idx on private.razorpay_calls (created_at)
  where request <> '{}'::jsonb;
create index ai_requests_retention_idx on public.ai_requests (created_at)
  where prompt is not null or response is not null;
create index link_clicks_retention_idx on public.link_clicks (clicked_at)
  where user_agent is not null;
create index documents_retention_idx on public.documents (retain_until)
  where retain_until is not null and not legal_hold;

comment on column public.message_events.payload is
  'The event as received (parsed JSON or form fields); {} once older than '
  'WEBHOOK_PAYLOAD_RETENTION_DAYS (the retention purge).';
comment on column public.payment_events.payload is
  'The webhook body as received (JSON); {} once processed and older than '
  'WEBHOOK_PAYLOAD_RETENTION_DAYS (the retention purge).';
comment on column private.razorpay_calls.request is
  'The body sent to Razorpay (never a secret); {} once the call is finished and older than '
  'WEBHOOK_PAYLOAD_RETENTION_DAYS (the retention purge).';
comment on column public.link_clicks.user_agent is
  'The browser''s User-Agent header, cut to its first 200 characters; null when none was sent, '
  'and after LINK_CLICK_RETENTION_DAYS (the retention purge).';

create table public.retention_runs (
  id uuid primary key default gen_random_uuid(),
  as_of timestamptz not null,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  counts jsonb not null check (jsonb_typeof(counts) = 'object'),
  settings jsonb not null check (jsonb_typeof(settings) = 'object'),
  complete boolean not null,
  check (finished_at >= started_at)
);

comment on table public.retention_runs is
  'One row per run of the retention purge (private.purge_expired_data, daily at 03:15 IST): '
  'how many items of each kind it purged, under which settings. Evidence that personal data is '
  'not kept beyond its retention. Admins read it; written only by the purge.';
comment on column public.retention_runs.as_of is
  'The instant the retention periods were counted back from (now() for the daily job).';
comment on column public.retention_runs.started_at is 'When the run started (wall clock).';
comment on column public.retention_runs.finished_at is 'When the run finished (wall clock).';
comment on column public.retention_runs.counts is
  'Items purged per kind: message_bodies, message_event_payloads, payment_event_payloads, '
  'razorpay_call_requests, ai_request_prompts, ai_chat_messages, link_click_user_agents, '
  'documents (deleted, objects queued), expired_exports (objects queued).';
comment on column public.retention_runs.settings is
  'The retention periods the run applied, in days (message_body, webhook_payload, ai_prompt, '
  'link_click), and the batch size and per-run cap.';
comment on column public.retention_runs.complete is
  'False when a kind reached RETENTION_MAX_ROWS_PER_RUN: the next run goes on where it stopped.';

create index retention_runs_list_idx on public.retention_runs (started_at desc, id);

alter table public.retention_runs enable row level security;
revoke all on public.retention_runs from public, anon, authenticated, service_role;
grant select on public.retention_runs to authenticated, service_role;

create policy retention_runs_select_admin on public.retention_runs
  for select to authenticated
  using ((select private.is_admin()));

create function private.retention_number(setting_key text, fallback integer, low integer,
                                         high integer)
returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  raw jsonb := private.setting(retention_number.setting_key);
  given text := btrim(raw #>> '{}');
begin
  if raw is null then
    return retention_number.fallback;
  end if;
  if given ~ '^[0-9]{1,9}$' and given::integer between retention_number.low and retention_number.high then
    return given::integer;
  end if;
  raise warning '% is not a whole number from % to %: % used', retention_number.setting_key,
    retention_number.low, retention_number.high, retention_number.fallback;
  return retention_number.fallback;
end;
$$;

comment on function private.retention_number(text, integer, integer, integer) is
  'A whole-number retention setting (a JSON number or a string holding one) from low to high; '
  'the fallback, with a warning, when it is missing or anything else, so an admin''s typo '
  'never stops the purge nor purges everything.';

revoke execute on function private.retention_number(text, integer, integer, integer) from public;

create function private.purge_expired_data(as_of timestamptz default now())
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

  -- Exports whose download has ended: their object (exports/{id}.json in the documents bucket)
  -- is queued once; the request row stays as evidence of the request.
  total := 0;
  loop
    with picked as (
      select dr.object_key from public.data_requests dr
       where dr.kind = 'export' and dr.object_key is not null
         and dr.expires_at < purge_expired_data.as_of
         and not exists (select 1 from private.object_deletions od
                          where od.bucket = 'documents' and od.object_key = dr.object_key)
       order by dr.expires_at
       limit least(batch, cap - total))
    insert into private.object_deletions (bucket, object_key, reason)
    select 'documents', p.object_key, 'export_expired' from picked p
    on conflict (bucket, object_key) where done_at is null do nothing;
    get diagnostics n = row_count;
    total := total + n;
    exit when n < batch or total >= cap;
  end loop;
  counts := counts || jsonb_build_object('expired_exports', total);
  complete := complete and total < cap;

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
  'past retain_until and not under legal hold, queueing their objects, and queues the objects of '
  'exports past expires_at. In batches of RETENTION_BATCH_SIZE rows (skipping rows locked '
  'elsewhere), at most RETENTION_MAX_ROWS_PER_RUN of a kind. Idempotent: a second run counts '
  '0. Records a public.retention_runs row; returns the counts per kind and complete. 22023 for '
  'an infinite as_of; 55000 while another purge runs. Security definer: no API role may change '
  'these tables; service_role and pg_cron only.';

revoke execute on function private.purge_expired_data(timestamptz) from public;
grant execute on function private.purge_expired_data(timestamptz) to service_role;

-- 21:45 UTC = 03:15 IST, after the day's dispatch and before the nightly analytics.
select cron.schedule('purge-expired-data', '45 21 * * *', 'select private.purge_expired_data()');
