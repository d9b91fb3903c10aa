-- The dispatcher's hot paths, measured with pg_stat_statements and auto_explain on a no-op drain
-- of 20,000 messages in batches of 100 (2 cores, shared): per batch the claim took 11.7 ms (one
-- claiming statement per priority level, 0.8 ms each; the send-time re-check 3.8 ms, one
-- private.message_block_reason() call and plan per message; one more pass to read the rows
-- back) and the results 9.1 ms, of which the two row triggers on public.messages cost about
-- 3 ms: _100_timestamps compares the whole old and new row of a wide table for every update.
-- Same rules, same results:
-- * private.claim_messages claims, re-checks and answers in one statement for messages that were
--   queued: the priority levels are one nested loop (each level its own index range, so a
--   deferred row of a higher priority is still never walked, and skip locked locks no more than
--   the batch); the gate's rules are asked of the whole batch in one set-based join (the same
--   checks in the same order as private.message_block_reason(), which the gate keeps; pgTAP 37
--   compares the two); the hours' next allowed time is computed once per batch, not per message.
--   A message whose lease expired (it was `sending`) is claimed as before and re-checked after
--   the early-callback trigger has had its say, as before.
-- * The timestamps trigger on public.messages runs only when a statement leaves updated_at
--   unchanged; the dispatcher's statements set it themselves.
-- * record_send_results skips the WhatsApp-to-SMS fallback call when no result asks for one.

drop trigger _100_timestamps on public.messages;
create trigger _100_timestamps before update on public.messages
  for each row when (old.updated_at is not distinct from new.updated_at)
  execute function private.tg__set_updated_at();

create or replace function private.claim_messages(worker text, batch_size integer, as_of timestamptz default now())
returns setof private.claimed_message
language plpgsql
security definer
set search_path = ''
-- One plan for every call, made of index lookups for a batch of at most 1,000 rows: a custom
-- plan per call cost more to make (about 2 ms) than to run, and the generic one the planner
-- would otherwise pick hashes the whole outbox (25 ms).
set plan_cache_mode = force_generic_plan
set enable_hashjoin = off
set enable_mergejoin = off
as $$
declare
  lease interval := make_interval(secs => coalesce((private.setting('MESSAGE_LEASE_SECONDS') #>> '{}')::integer, 60));
  stall_limit integer := coalesce((private.setting('MESSAGE_STALL_LIMIT') #>> '{}')::integer, 3);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  claimed private.claimed_message[];
  expired uuid[];
  held uuid[] := '{}';
begin
  if worker is null or length(worker) = 0 or batch_size is null or batch_size not between 1 and 1000 then
    raise exception 'claim_messages needs a worker name and a batch of 1 to 1000' using errcode = '22023';
  end if;

  with picked as materialized (
    -- Priority by priority, each an index range (priority = p, next_attempt_at <= as_of) on the
    -- claimable rows; the outer limit stops the loop once the batch is full, so no more rows
    -- than the batch are locked. The columns come from the locked (latest) row version.
    select c.id, c.status, c.stalls, c.customer_id, c.channel, c.purpose, c.recipient,
           c.template_id, c.priority
      from generate_series(0, 9) as level (p)
     cross join lateral (
       select m.id, m.status, m.stalls, m.customer_id, m.channel, m.purpose, m.recipient,
              m.template_id, m.priority
         from public.messages m
        where m.status in ('queued', 'sending') and m.priority = level.p
          and m.next_attempt_at <= as_of
        order by m.next_attempt_at
        limit batch_size
          for update of m skip locked
     ) c
     limit batch_size
  ),
  switches as materialized (
    -- Per channel of the batch: is it on at all, and are its campaigns switched on (only `true`
    -- is on: a switch set to anything else fails closed).
    select d.channel,
           exists (select 1 from public.channels ch where ch.type = d.channel and ch.enabled) as enabled,
           coalesce(private.setting(format('ENABLE_%s_CAMPAIGNS', upper(d.channel::text))),
                    'true'::jsonb) = 'true'::jsonb as campaigns_on
      from (select distinct p.channel from picked p where p.status = 'queued') d
  ),
  judged as materialized (
    -- Asked again at send time: what the gate allowed may no longer be allowed (consent
    -- withdrawn, STOP, DND, suppressed, channel off, the WhatsApp window closed), and a retry or
    -- a redrive may fall outside the message's hours. private.message_block_reason()'s checks,
    -- in its order, for the whole batch at once; a message whose customer is gone has no reason,
    -- as there. Messages whose lease expired are re-checked below instead.
    select p.id, p.priority, p.status as was, p.stalls, p.purpose, p.template_id,
           case
             when p.status <> 'queued' or cu.id is null then null
             when not coalesce(sw.enabled, false) then 'channel_disabled'
             when p.purpose <> 'transactional' and not sw.campaigns_on then 'channel_disabled'
             when p.recipient is null then 'no_address'
             when p.channel = 'sms' and t.id is null then 'sms_needs_dlt_template'
             when cs.status = 'withdrawn' then 'consent_withdrawn'
             when p.purpose = 'marketing' and cs.status is distinct from 'granted' then 'no_consent'
             when p.channel = 'whatsapp'
                  and not exists (select 1 from public.consents w
                                   where w.customer_id = cu.id and w.channel = 'whatsapp'
                                     and w.status = 'granted')
               then 'whatsapp_not_opted_in'
             when p.purpose = 'marketing' and p.channel = 'sms' and cu.dnd then 'dnd'
             when exists (select 1 from public.suppressions s
                           where s.channel = p.channel and s.address = p.recipient)
               then 'suppressed'
             when p.channel = 'whatsapp' and t.id is null
                  and not coalesce(ww.last_inbound_at > as_of - interval '24 hours', false)
               then 'whatsapp_window_closed'
             when p.channel = 'whatsapp' and t.id is not null
                  and t.whatsapp_status is distinct from 'approved'
               then 'template_not_approved'
           end as reason
      from picked p
      left join switches sw on sw.channel = p.channel
      left join public.customers cu on cu.id = p.customer_id
      left join public.templates t on t.id = p.template_id
      left join public.consents cs
        on cs.customer_id = cu.id and cs.channel = p.channel and cs.purpose = p.purpose
      left join public.whatsapp_windows ww on ww.customer_id = cu.id
  ),
  fated as materialized (
    select j.id, j.priority, j.was, j.template_id, j.reason,
           case
             when j.was = 'sending' and j.stalls + 1 >= stall_limit then 'dead'
             -- A lease that expired: re-checked below, once the early callbacks are applied.
             when j.was = 'sending' then 'sending'
             when j.reason is not null then 'blocked'
             when d.due > as_of then 'deferred'
             else 'sending'
           end as fate,
           d.due
      from judged j
      cross join lateral (
        -- Each uncorrelated subquery runs once per statement, and only if a message needs it.
        select case
                 when j.purpose = 'marketing'
                   then (select private.next_allowed_time(as_of, (promotional ->> 'start')::time,
                                                          (promotional ->> 'end')::time))
                 when j.purpose = 'service' and quiet ->> 'start' is not null
                   then (select private.next_allowed_time(as_of, (quiet ->> 'end')::time,
                                                          (quiet ->> 'start')::time))
                 else as_of
               end as due
      ) d
  ),
  moved as (
    update public.messages m
       set status = case f.fate
                      when 'dead' then 'dead'
                      when 'blocked' then 'blocked'
                      when 'deferred' then 'queued'
                      else 'sending' end::public.message_status,
           stalls = m.stalls + (m.status = 'sending')::integer,
           dead_reason = case when f.fate = 'dead' then 'stalled' end,
           dead_at = case when f.fate = 'dead' then as_of end,
           blocked_reason = case f.fate when 'blocked' then f.reason when 'deferred' then null
                              else m.blocked_reason end,
           blocked_at = case f.fate when 'blocked' then as_of when 'deferred' then null
                          else m.blocked_at end,
           -- A message held back (blocked, deferred) is not an attempt.
           attempts = m.attempts + (f.fate in ('sending', 'dead'))::integer,
           provider_attempts = m.provider_attempts + (f.fate in ('sending', 'dead'))::integer,
           provider = coalesce(m.provider, (
             select ch.provider from public.channels ch
              where ch.type = m.channel and ch.enabled order by ch.name limit 1)),
           locked_by = case when f.fate in ('sending', 'dead') then worker end,
           locked_until = case when f.fate in ('sending', 'dead') then as_of + lease end,
           next_attempt_at = case when f.fate = 'deferred' then f.due else as_of + lease end,
           sending_at = as_of,
           deferred_reason = case
                               when f.fate = 'deferred' and m.purpose = 'marketing' then 'promotional_hours'
                               when f.fate = 'deferred' then 'quiet_hours'
                             end,
           updated_at = now()
      from fated f
      left join public.templates t on t.id = f.template_id
     where m.id = f.id
    -- After the triggers: an expired lease whose callbacks show the vendor had it is not sending.
    returning m.id, m.status, f.priority, (f.was = 'sending' and m.status = 'sending') as was_expired,
              row(m.id, m.attempts, m.channel, m.purpose, m.provider, m.recipient, m.subject, m.body,
                  coalesce(m.template_snapshot ->> 'whatsapp_name', t.whatsapp_name),
                  coalesce(m.template_snapshot ->> 'whatsapp_language', t.language),
                  coalesce(array(select jsonb_array_elements_text(m.template_snapshot -> 'whatsapp_parameters')),
                           array(select coalesce(m.variables ->> v[1], '')
                                   from regexp_matches(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as v)),
                  coalesce(m.template_snapshot ->> 'dlt_entity_id', t.dlt_entity_id),
                  coalesce(m.template_snapshot ->> 'dlt_header', t.dlt_header),
                  coalesce(m.template_snapshot ->> 'dlt_template_id', t.dlt_template_id)
              )::private.claimed_message as message
  )
  select array_agg(moved.message order by moved.priority, moved.id)
           filter (where moved.status = 'sending'),
         array_agg(moved.id) filter (where moved.was_expired)
    into claimed, expired
    from moved;

  if cardinality(expired) > 0 then
    -- Leases that ran out, claimed again: the same re-check, one message at a time (rare).
    with rechecked as (
      select m.id,
             private.message_block_reason(m.customer_id, m.channel, m.purpose, m.recipient,
                                          m.template_id, as_of) as reason,
             case
               when m.purpose = 'marketing'
                 then private.next_allowed_time(as_of, (promotional ->> 'start')::time,
                                                (promotional ->> 'end')::time)
               when m.purpose = 'service' and quiet ->> 'start' is not null
                 then private.next_allowed_time(as_of, (quiet ->> 'end')::time,
                                                (quiet ->> 'start')::time)
               else as_of
             end as due
        from public.messages m
       where m.id = any (expired)
    ),
    stopped as (
      update public.messages m
         set status = case when r.reason is not null then 'blocked' else 'queued' end::public.message_status,
             blocked_reason = r.reason,
             blocked_at = case when r.reason is not null then as_of end,
             next_attempt_at = case when r.reason is null then r.due else m.next_attempt_at end,
             deferred_reason = case when r.reason is null and m.purpose = 'marketing' then 'promotional_hours'
                                    when r.reason is null then 'quiet_hours' end,
             attempts = m.attempts - 1,
             provider_attempts = m.provider_attempts - 1,
             locked_by = null,
             locked_until = null,
             updated_at = now()
        from rechecked r
       where m.id = r.id and (r.reason is not null or r.due > as_of)
      returning m.id
    )
    select coalesce(array_agg(stopped.id), '{}') into held from stopped;
  end if;

  return query
  select c.* from unnest(claimed) c where c.id <> all (held);
end;
$$;

comment on function private.claim_messages(text, integer, timestamptz) is
  'Claims up to batch_size due messages (lowest priority first, then the earliest '
  'next_attempt_at; skip locked) under a lease of MESSAGE_LEASE_SECONDS for `worker`, counting '
  'the attempt; a message whose lease expired MESSAGE_STALL_LIMIT times becomes a dead letter '
  'instead. Each message''s rules are asked again (those of private.message_block_reason, for the '
  'batch in one join): one no longer allowed is blocked with the reason, one outside its hours '
  'deferred, neither counted as an attempt. Returns what the providers need '
  '(private.claimed_message), in claim order.';


-- As in 20261129012500, with updated_at set here (the timestamps trigger then stays idle) and the
-- fallback call only when a result asks for one.
create or replace function private.record_send_results(worker text, results jsonb, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  retry jsonb := coalesce(private.setting('MESSAGE_RETRY'), '{"max_attempts": 5, "base_seconds": 30, "max_seconds": 3600}');
  breaker_settings jsonb := coalesce(private.setting('PROVIDER_BREAKER'), '{"failures": 5, "open_seconds": 30}');
  recorded integer;
  batch private.send_result[];
begin
  -- Only results for messages this worker still holds, at the attempt it claimed (a result
  -- that comes back after its lease ran out and another dispatcher took the message is void).
  batch := array(
    select row(r.id, r.attempt, r.ok, m.provider, r.provider_message_id, r.cost_paise,
               r.disposition, r.code, left(r.message, 500), r.retry_after_ms,
               coalesce(r.address_dead, false), coalesce(r.throttled, false))::private.send_result
      from jsonb_to_recordset(results) as r (
             id uuid, attempt smallint, ok boolean, provider_message_id text, cost_paise numeric,
             disposition text, code text, message text, retry_after_ms bigint,
             address_dead boolean, throttled boolean)
      join public.messages m on m.id = r.id
     where m.locked_by = worker and m.status = 'sending' and m.attempts = r.attempt
       and (r.ok or r.disposition in ('transient', 'permanent', 'fallback')));

  with outcome as (
    select r.*, m.channel, m.provider_attempts, m.recipient,
           ch.fallback_provider,
           case
             when r.ok then 'sent'
             when r.disposition = 'permanent' then 'failed'
             when r.disposition = 'fallback' and m.channel = 'whatsapp' then 'failed'
             when r.disposition = 'fallback' and ch.fallback_provider is not null
                  and m.provider <> ch.fallback_provider then 'switch'
             when r.disposition = 'fallback' then 'failed'
             when m.provider_attempts < (retry ->> 'max_attempts')::integer then 'retry'
             when ch.fallback_provider is not null and m.provider <> ch.fallback_provider then 'switch'
             else 'dead'
           end as fate
      from unnest(batch) r
      join public.messages m on m.id = r.id
      left join lateral (
        select c.fallback_provider from public.channels c
         where c.type = m.channel and c.enabled and c.provider = m.provider
            or (c.type = m.channel and c.enabled and c.fallback_provider = m.provider)
         order by c.provider = m.provider desc limit 1
      ) ch on true
  )
  update public.messages m
     set status = case o.fate
                    when 'sent' then 'sent'
                    when 'failed' then 'failed'
                    when 'dead' then 'dead'
                    else 'queued' end::public.message_status,
         provider_message_id = case when o.ok then o.provider_message_id else m.provider_message_id end,
         sent_at = case when o.ok then as_of else m.sent_at end,
         cost_paise = case when o.ok then coalesce(o.cost_paise, m.cost_paise) else m.cost_paise end,
         failed_at = case when o.fate = 'failed' then as_of else m.failed_at end,
         dead_at = case when o.fate = 'dead' then as_of else m.dead_at end,
         dead_reason = case when o.fate = 'dead' then 'retries_exhausted' else m.dead_reason end,
         last_error_code = case when o.ok then m.last_error_code else o.code end,
         last_error = case when o.ok then m.last_error else o.message end,
         provider = case when o.fate = 'switch' then o.fallback_provider else m.provider end,
         provider_attempts = case when o.fate = 'switch' then 0 else m.provider_attempts end,
         next_attempt_at = case o.fate
                             when 'retry' then as_of + greatest(
                               make_interval(secs => coalesce(o.retry_after_ms, 0) / 1000.0),
                               -- full jitter: uniform in [0, min(cap, base * 2^(n-1))]
                               make_interval(secs => random() * least(
                                 (retry ->> 'max_seconds')::numeric,
                                 (retry ->> 'base_seconds')::numeric * power(2, m.provider_attempts - 1))))
                             else as_of end,
         deferred_reason = case o.fate when 'retry' then 'retry' else null end,
         locked_by = null,
         locked_until = null,
         updated_at = now()
    from outcome o
   where m.id = o.id;
  get diagnostics recorded = row_count;

  -- Dead addresses go on the suppression list.
  insert into public.suppressions (channel, address, reason, source, message_id)
  select distinct on (m.channel, m.recipient)
         m.channel, m.recipient,
         case when m.channel = 'email' then 'hard_bounce'
              when r.code = '21610' then 'unsubscribed'
              else 'invalid_number' end,
         format('%s_%s', r.provider, r.code), m.id
    from unnest(batch) r
    join public.messages m on m.id = r.id
   where not r.ok and r.address_dead and m.recipient is not null
  on conflict (channel, address) do nothing;

  -- WhatsApp refused for a reason SMS can get round (window closed, undeliverable, template
  -- refused): the same template on SMS, through the gate again, where the template has an SMS
  -- twin (a fallback the gate cannot take must not cost the batch its results).
  if exists (select 1 from unnest(batch) r where r.disposition = 'fallback' and not r.ok) then
    perform private.queue_sms_fallbacks(array(
      select r.id from unnest(batch) r where r.disposition = 'fallback' and not r.ok), as_of);
  end if;

  -- The breaker: a success closes it; consecutive transient failures open it (throttling does
  -- not count: a vendor pacing us is up); a failed probe opens it again.
  with tally as (
    select r.provider,
           bool_or(r.ok) as any_ok,
           count(*) filter (where not r.ok and r.disposition = 'transient' and not r.throttled)
             as transient,
           bool_or(not r.ok and (r.disposition <> 'transient' or r.throttled)) as answered
      from unnest(batch) r
     group by r.provider
  ),
  changed as (
    update public.provider_state ps
       set consecutive_failures = case when t.any_ok then 0
                                       else ps.consecutive_failures + t.transient end,
           breaker = case
                       when t.any_ok then 'closed'
                       -- A half-open probe the vendor answered (even with a refusal) shows it up.
                       when ps.breaker = 'half_open' and t.answered then 'closed'
                       when t.transient > 0 and (ps.breaker = 'half_open'
                            or ps.consecutive_failures + t.transient >= (breaker_settings ->> 'failures')::integer)
                         then 'open'
                       else ps.breaker end,
           breaker_since = case
                             when t.any_ok and ps.breaker <> 'closed' then as_of
                             when ps.breaker = 'half_open' and t.answered then as_of
                             when not t.any_ok and t.transient > 0 and (ps.breaker = 'half_open'
                                  or (ps.breaker = 'closed' and ps.consecutive_failures + t.transient
                                      >= (breaker_settings ->> 'failures')::integer))
                               then as_of
                             else ps.breaker_since end
      from tally t, public.provider_state before
     where ps.provider = t.provider and before.provider = t.provider
       -- A success changes the row only after failures; a quiet row is not rewritten (and not
       -- locked against the dispatchers taking permits).
       and ((t.any_ok and (before.consecutive_failures > 0 or before.breaker <> 'closed'))
            or (not t.any_ok and t.transient > 0)
            or (before.breaker = 'half_open' and t.answered))
    returning ps.provider, ps.breaker, before.breaker as was
  )
  insert into public.provider_breaker_events (provider, breaker, at)
  select c.provider, c.breaker, as_of from changed c where c.breaker is distinct from c.was;

  return recorded;
end;
$$;
