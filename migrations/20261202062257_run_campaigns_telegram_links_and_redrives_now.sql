-- The campaign doors, the Telegram link tokens and the redrive run on the real clock (found by a
-- review, after private.send_desk_message in 20261202055907). Each took `as_of timestamptz
-- default now()` and was executable by `authenticated`, so a signed-in manager or admin calling it
-- through SQL (not our API, which passed now()) chose the clock its rules were judged by:
-- * private.launch_campaign(id, as_of): the gate judges the frequency cap and the send hours at
--   as_of. A launch dated 2020 queued messages the cap did not count against (it counts what was
--   queued in the last days before as_of), due in 2020, so sent at once whatever the hour; an
--   as_of past a scheduled campaign's start_at launched it before its start; launched_at is as_of.
-- * private.resume_campaign(id, as_of): the held messages go back due from as_of: a resume dated
--   in the past released them all at once, past the campaign's spread and the send hours.
-- * private.pause_campaign / private.cancel_campaign(id, as_of): paused_at and cancelled_at (the
--   campaign's and its messages') are as_of: audit times the caller wrote, and the pause's length
--   by which a resume shifts the held messages.
-- * private.create_telegram_link_token(customer_id, staff_id, as_of): the token expires at as_of
--   + 7 days (one dated 2090 linked a chat for decades), and the sweep of month-old expired tokens
--   ran at as_of (a future one deleted everyone's tokens).
-- * private.redrive_dead_messages(dead_reason, provider, template_code, as_of): the dead letters
--   go back due at as_of (in the past: ahead of the whole queue; in the future: parked for years).
--
-- Now each has a form without the clock that calls the other at now(), for `authenticated` (the
-- API's handlers call it, same arguments otherwise, same answers and errors) and service_role as
-- before. The form taking as_of keeps its body as restated below, loses its default (so that a
-- call without the clock is not ambiguous) and is the owner's only: pg_cron's launch job
-- (private.launch_scheduled_campaigns, a definer function, calls launch_campaign(id, as_of)), the
-- simulator (as the owner) and pgTAP tests moving the clock. No job host calls any of them with a
-- clock as service_role, so service_role keeps only the forms on now().
-- Left as it was: private.preview_campaign(id, as_of) runs the launch in a subtransaction and
-- rolls it back: the clock changes only the numbers of the caller's own answer.
-- Dropped and created again: a default cannot be removed in place. Bodies unchanged from
-- 20261130231002 (launch_campaign, jit off), 20261201011239 (resume_campaign, nested loops off),
-- 20261129161718 (pause_campaign, cancel_campaign), 20261130020727 (create_telegram_link_token)
-- and 20261201081235 (redrive_dead_messages).

-- Campaigns ------------------------------------------------------------------------------------

drop function private.launch_campaign(uuid, timestamptz);

create function private.launch_campaign(campaign_id uuid, as_of timestamptz)
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  result private.campaign_counts;
begin
  -- Launched once: running, paused, completed and cancelled campaigns are not launched again.
  if c.status not in ('draft', 'scheduled') then
    raise exception 'only a draft or a scheduled campaign launches (this one is %)', c.status
      using errcode = '55000';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  -- After a preview of the campaign that is running: each would wait on the other's keys.
  perform private.lock_campaign_launches(c.id);
  -- Before its start: checked and answered as the launch at start_at would be, then scheduled.
  if c.start_at > as_of then
    begin
      result := private.run_campaign_launch(c, c.start_at);
      raise exception 'preview rollback' using errcode = 'PYPRV';
    exception when sqlstate 'PYPRV' then
      null;
    end;
    result.created := 0;
    update public.campaigns x set status = 'scheduled' where x.id = c.id and x.status = 'draft';
    return result;
  end if;
  result := private.run_campaign_launch(c, as_of);
  update public.campaigns x
     set status = 'running', launched_at = coalesce(x.launched_at, as_of)
   where x.id = c.id;
  return result;
end;
$$;
comment on function private.launch_campaign(uuid, timestamptz) is
  'Launches a draft or scheduled campaign at the instant as_of: see run_campaign_launch. Before '
  'its start_at it is only checked and scheduled (status scheduled; the counts are those of a '
  'launch at start_at, created 0) and private.launch_scheduled_campaigns launches it when it '
  'starts. Launched once: 55000 for a running, paused, completed or cancelled campaign (nothing is '
  'created). Waits for a preview of the same campaign (private.lock_campaign_launches). 42501 for '
  'non-managers, P0002 outside the caller''s subtree, 22023 for a bad filter or variants. The '
  'owner''s only (the launch job, tests moving the clock): managers and the backend call '
  'private.launch_campaign(uuid), on the real clock. Security definer: writes messages through '
  'the gate.';
revoke execute on function private.launch_campaign(uuid, timestamptz) from public;

create function private.launch_campaign(campaign_id uuid)
returns private.campaign_counts
language sql
security definer
set search_path = ''
set jit = off
as $$
  select * from private.launch_campaign(launch_campaign.campaign_id, now())
$$;
comment on function private.launch_campaign(uuid) is
  'Launches a draft or scheduled campaign now (POST /api/campaigns/{id}/launch): '
  'private.launch_campaign(campaign_id, now()), so a caller cannot move the clock the gate''s '
  'frequency cap and send hours, and the campaign''s start, are judged by. Same answers and '
  'errors. Security definer: calls the owner''s form with the clock.';
revoke execute on function private.launch_campaign(uuid) from public;
grant execute on function private.launch_campaign(uuid) to authenticated, service_role;

drop function private.pause_campaign(uuid, timestamptz);

create function private.pause_campaign(campaign_id uuid, as_of timestamptz)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
begin
  if c.status <> 'running' then
    raise exception 'only a running campaign pauses (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'paused', paused_at = as_of where x.id = c.id;
  return private.hold_campaign_messages(c.id);
end;
$$;
comment on function private.pause_campaign(uuid, timestamptz) is
  'Pauses a running campaign at the instant as_of (its paused_at): its queued messages are held '
  '(never claimed) and its flow does not advance. Returns how many messages were held. 55000 '
  'unless running; 42501 / P0002 as launch. The owner''s only (tests moving the clock): managers '
  'and the backend call private.pause_campaign(uuid), on the real clock.';
revoke execute on function private.pause_campaign(uuid, timestamptz) from public;

create function private.pause_campaign(campaign_id uuid)
returns integer
language sql
security definer
set search_path = ''
as $$
  select private.pause_campaign(pause_campaign.campaign_id, now())
$$;
comment on function private.pause_campaign(uuid) is
  'Pauses a running campaign now (POST /api/campaigns/{id}/pause): '
  'private.pause_campaign(campaign_id, now()), so the pause''s time (paused_at, by which a resume '
  'shifts the held messages) is the real one. Same answers and errors. Security definer: calls '
  'the owner''s form with the clock.';
revoke execute on function private.pause_campaign(uuid) from public;
grant execute on function private.pause_campaign(uuid) to authenticated, service_role;

drop function private.resume_campaign(uuid, timestamptz);

create function private.resume_campaign(campaign_id uuid, as_of timestamptz)
returns integer
language plpgsql
security definer
set search_path = ''
-- Every held message of the campaign with its recipient: a hash join of two whole sets.
set enable_nestloop = off
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  window_start time;
  window_end time;
  first_send timestamptz := as_of;
  resumed integer;
begin
  if c.status <> 'paused' then
    raise exception 'only a paused campaign resumes (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'running', paused_at = null where x.id = c.id;
  if c.spread_rate_per_hour is not null then
    select w.window_start, w.window_end into window_start, window_end
      from private.campaign_spread_window(c.purpose, c.spread_window_start, c.spread_window_end,
                                          strict => false) w;
    if window_start is not null then
      first_send := private.next_allowed_time(as_of, window_start, window_end, zone);
    end if;
  end if;
  with held as (
    -- Every message the campaign holds; a recipient's current one at its planned time shifted by
    -- the length of the pause (those due before the pause go now), any other (an SMS fallback, a
    -- retry) now. A spread campaign's first sends are spread again (below).
    select m.id, m.purpose, r.due_at,
           c.spread_rate_per_hour is not null and r.message_id is not null
             and m.idempotency_key = format('campaign:%s:%s:1', c.id, m.customer_id) as spread,
           greatest(as_of, coalesce(r.due_at + (as_of - coalesce(c.paused_at, as_of)), as_of)) as at
      from public.messages m
      left join public.campaign_recipients r on r.message_id = m.id and r.campaign_id = c.id
     where m.campaign_id = c.id and m.status = 'queued'
       and m.next_attempt_at = 'infinity' and m.deferred_reason = 'campaign_paused'
  ),
  laid as (
    -- A spread campaign's first sends laid out again from the resume, in their planned order, at
    -- its rate within its window (shifted by a pause of hours, they would fall past the window's
    -- end and gather at the next opening).
    select h.id, h.purpose,
           case when h.spread
                then private.spread_send_time(first_send,
                                              row_number() over (partition by h.spread order by h.due_at, h.id) - 1,
                                              c.spread_rate_per_hour, window_start, window_end, zone)
                else h.at end as at
      from held h
  ),
  timed as (
    -- The gate's send windows: promotional hours for marketing, past quiet hours for service.
    select h.id, h.at,
           case
             when h.purpose = 'marketing'
               then private.next_allowed_time(h.at, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time, 'Asia/Kolkata')
             when h.purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(h.at, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time, zone)
             else h.at
           end as due,
           h.purpose
      from laid h
  ),
  back as (
    update public.messages m
       set next_attempt_at = t.due,
           deferred_reason = case
                               when t.due > t.at and t.purpose = 'marketing' then 'promotional_hours'
                               when t.due > t.at then 'quiet_hours'
                               when t.at > as_of then 'scheduled'
                             end
      from timed t
     where m.id = t.id
    returning 1)
  select count(*)::integer into resumed from back;
  return resumed;
end;
$$;
comment on function private.resume_campaign(uuid, timestamptz) is
  'Resumes a paused campaign at the instant as_of: every message it holds goes back, the same '
  'rows, so nothing is sent twice. A spread campaign''s first sends laid out again from as_of at '
  'its rate within private.campaign_spread_window (in their planned order); a recipient''s other '
  'current message at its planned time shifted by the pause, any other (an SMS fallback, a '
  'retry) at once; each then placed in the gate''s send windows (promotional hours for '
  'marketing, past quiet hours for service). Returns how many. 55000 unless paused; 42501 / '
  'P0002 as launch. The owner''s only (tests moving the clock): managers and the backend call '
  'private.resume_campaign(uuid), on the real clock.';
revoke execute on function private.resume_campaign(uuid, timestamptz) from public;

create function private.resume_campaign(campaign_id uuid)
returns integer
language sql
security definer
set search_path = ''
as $$
  select private.resume_campaign(resume_campaign.campaign_id, now())
$$;
comment on function private.resume_campaign(uuid) is
  'Resumes a paused campaign now (POST /api/campaigns/{id}/resume): '
  'private.resume_campaign(campaign_id, now()), so its held messages cannot be released at a '
  'time of the caller''s choosing, past the spread and the send hours. Same answers and errors. '
  'Security definer: calls the owner''s form with the clock.';
revoke execute on function private.resume_campaign(uuid) from public;
grant execute on function private.resume_campaign(uuid) to authenticated, service_role;

drop function private.cancel_campaign(uuid, timestamptz);

create function private.cancel_campaign(campaign_id uuid, as_of timestamptz)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  cancelled integer;
begin
  if c.status in ('cancelled', 'completed') then
    raise exception 'campaign is already %', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'cancelled', cancelled_at = as_of where x.id = c.id;
  update public.campaign_recipients r set state = 'cancelled', next_at = null
   where r.campaign_id = c.id and r.state = 'active';
  with gone as (
    update public.messages m set status = 'cancelled', cancelled_at = as_of
     where m.campaign_id = c.id and m.status = 'queued'
    returning 1)
  select count(*)::integer into cancelled from gone;
  return cancelled;
end;
$$;
comment on function private.cancel_campaign(uuid, timestamptz) is
  'Cancels a campaign at the instant as_of (its and its messages'' cancelled_at): what is still '
  'queued is cancelled, the flow stops. Returns how many messages were cancelled. 55000 when '
  'already cancelled or completed; 42501 / P0002 as launch. The owner''s only (tests moving the '
  'clock): managers and the backend call private.cancel_campaign(uuid), on the real clock.';
revoke execute on function private.cancel_campaign(uuid, timestamptz) from public;

create function private.cancel_campaign(campaign_id uuid)
returns integer
language sql
security definer
set search_path = ''
as $$
  select private.cancel_campaign(cancel_campaign.campaign_id, now())
$$;
comment on function private.cancel_campaign(uuid) is
  'Cancels a campaign now (POST /api/campaigns/{id}/cancel): '
  'private.cancel_campaign(campaign_id, now()), so the cancellation times are the real ones. Same '
  'answers and errors. Security definer: calls the owner''s form with the clock.';
revoke execute on function private.cancel_campaign(uuid) from public;
grant execute on function private.cancel_campaign(uuid) to authenticated, service_role;

-- Telegram link tokens -------------------------------------------------------------------------

drop function private.create_telegram_link_token(uuid, uuid, timestamptz);

create function private.create_telegram_link_token(
  customer_id uuid,
  staff_id uuid,
  as_of timestamptz
) returns table (token text, expires_at timestamptz)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  raw text;
  expiry timestamptz;
  -- The backend (service_role, jobs) may link anyone; a desk user only whom they see. The
  -- session's role, not current_user (the definer's).
  trusted boolean := coalesce(current_setting('role', true), 'none') not in ('authenticated', 'anon');
begin
  if num_nonnulls(customer_id, staff_id) <> 1 then
    raise exception 'a link token is for one customer or one staff member' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  if customer_id is not null and not exists (
       select 1 from public.customers cu
        where cu.id = create_telegram_link_token.customer_id
          and (trusted or cu.book_keys && private.visible_book_keys())) then
    raise exception 'no such customer, or not yours to see' using errcode = 'P0002';
  end if;
  if staff_id is not null then
    if not trusted and staff_id is distinct from auth.uid() then
      raise exception 'a staff member links their own Telegram' using errcode = '42501';
    end if;
    if not exists (select 1 from public.profiles p
                    where p.id = create_telegram_link_token.staff_id and p.active
                      and p.role = 'admin') then
      raise exception 'only active admins get alerts by Telegram' using errcode = '42501';
    end if;
  end if;
  -- 16 random bytes as base64url (22 characters: what a /start parameter may hold).
  raw := rtrim(translate(encode(extensions.gen_random_bytes(16), 'base64'), '+/', '-_'), '=');
  expiry := as_of + interval '7 days';
  delete from private.telegram_link_tokens t where t.expires_at < as_of - interval '30 days';
  insert into private.telegram_link_tokens (token_hash, customer_id, staff_id, created_by,
                                            created_at, expires_at)
  values (encode(sha256(convert_to(raw, 'UTF8')), 'hex'), create_telegram_link_token.customer_id,
          create_telegram_link_token.staff_id, auth.uid(), as_of, expiry);
  return query select raw, expiry;
end;
$$;
comment on function private.create_telegram_link_token(uuid, uuid, timestamptz) is
  'A new deep-link token, made at the instant as_of, for a customer (the caller must see them; '
  'the backend any) or for an active admin (the admin themselves; the backend any): returns the '
  'token (22 characters, base64url of 128 random bits; shown once, only its sha256 is stored) and '
  'its expiry (as_of + 7 days). Month-old expired tokens are swept. Errors: 22023 unless exactly '
  'one of customer_id and staff_id; P0002 for a customer not seen; 42501 for another staff member '
  'or a non-admin. The owner''s only (tests moving the clock): the desk and the backend call '
  'private.create_telegram_link_token(uuid, uuid), on the real clock. Security definer: the '
  'tokens table is private.';
revoke execute on function private.create_telegram_link_token(uuid, uuid, timestamptz) from public;

create function private.create_telegram_link_token(customer_id uuid default null,
                                                   staff_id uuid default null)
returns table (token text, expires_at timestamptz)
language sql
volatile
security definer
set search_path = ''
as $$
  select t.token, t.expires_at
    from private.create_telegram_link_token(create_telegram_link_token.customer_id,
                                            create_telegram_link_token.staff_id, now()) t
$$;
comment on function private.create_telegram_link_token(uuid, uuid) is
  'A new deep-link token for a customer or an active admin, made now (the desk''s invitation, '
  'an admin''s own link): private.create_telegram_link_token(customer_id, staff_id, now()), so '
  'the token expires 7 days from the real time, not from a time of the caller''s choosing. Same '
  'answers and errors. Security definer: calls the owner''s form with the clock.';
revoke execute on function private.create_telegram_link_token(uuid, uuid) from public;
grant execute on function private.create_telegram_link_token(uuid, uuid) to authenticated, service_role;

-- The redrive ----------------------------------------------------------------------------------

drop function private.redrive_dead_messages(text, text, text, timestamptz);

create function private.redrive_dead_messages(dead_reason text, provider text, template_code text,
                                              as_of timestamptz)
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
  -- One of a cancelled campaign, or a reminder of a case closed since, is cancelled on the way
  -- (_320_cancel_returning_closed) and not counted.
  with back as (
    update public.messages m
       set status = 'queued', dead_reason = null, dead_at = null, attempts = 0,
           provider_attempts = 0, stalls = 0, provider = null, next_attempt_at = as_of,
           deferred_reason = null, locked_by = null, locked_until = null
     where m.status = 'dead' and m.content_purged_at is null
       and (redrive_dead_messages.dead_reason is null or m.dead_reason = redrive_dead_messages.dead_reason)
       and (redrive_dead_messages.provider is null or m.provider = redrive_dead_messages.provider)
       and (redrive_dead_messages.template_code is null or m.template_id in (
              select t.id from public.templates t where t.code = redrive_dead_messages.template_code))
    returning m.status)
  select count(*) filter (where b.status = 'queued') into redriven from back b;
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
  'due at as_of. Idempotent: a second call finds no dead letters left to move. Admins (and the '
  'backend) only: 42501 for others. Returns how many it queued. Only dead messages move: '
  'blocked, failed and cancelled ones never do, whoever asks (a regulatory opt-out is never '
  'overridden). A dead letter of a cancelled campaign, or a reminder of a case that has closed, '
  'is cancelled instead (_320_cancel_returning_closed) and not counted. A dead letter whose '
  'content the retention purge emptied (content_purged_at set) never moves: when the selection '
  'holds only such letters the call is refused, 55000 (409), changing nothing; beside letters '
  'that can move, they are left dead (the count excludes them). The owner''s only (tests moving '
  'the clock): admins and the backend call private.redrive_dead_messages(text, text, text), on '
  'the real clock.';
revoke execute on function private.redrive_dead_messages(text, text, text, timestamptz) from public;

create function private.redrive_dead_messages(dead_reason text default null,
                                              provider text default null,
                                              template_code text default null)
returns integer
language sql
security definer
set search_path = ''
as $$
  select private.redrive_dead_messages(redrive_dead_messages.dead_reason,
                                       redrive_dead_messages.provider,
                                       redrive_dead_messages.template_code, now())
$$;
comment on function private.redrive_dead_messages(text, text, text) is
  'Puts dead letters back in the queue, due now (POST /api/messages/redrive): '
  'private.redrive_dead_messages(dead_reason, provider, template_code, now()), so an admin '
  'cannot date them ahead of the queue or park them for years. Same filters, answers and errors '
  '(admins and the backend only: 42501 for others). Security definer: calls the owner''s form '
  'with the clock.';
revoke execute on function private.redrive_dead_messages(text, text, text) from public;
grant execute on function private.redrive_dead_messages(text, text, text) to authenticated, service_role;
