-- Queue overhead (issue 7): private.record_send_results finds its batch in the outbox by key.
--
-- It joined its batch (at most 1,000 results) to public.messages four times, and while the
-- outbox held fewer than about 50,000 messages the planner chose to read the whole outbox for
-- each join (EXPLAIN with 20,000 analyzed messages: Hash Semi Join over Seq Scan on messages),
-- so recording a batch of 100 read every message and every dead row version four times. When the
-- statistics said the outbox was empty (autovacuum had analyzed it while a bulk insert was still
-- uncommitted, as in the drain bench), a plan with hash joins off read it once per result: 3.4 s
-- a batch (auto_explain). Every scan of the outbox now names the batch's ids (id = any (...)),
-- a condition on the primary key, so it reads the batch's rows and no others, and the joins are
-- between batch-sized sets whatever their method. Otherwise as in 20261130080411.

create or replace function private.record_send_results(worker text, results jsonb, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  retry jsonb := coalesce(private.setting('MESSAGE_RETRY'), '{"max_attempts": 5, "base_seconds": 30, "max_seconds": 3600}');
  breaker_settings jsonb := coalesce(private.setting('PROVIDER_BREAKER'), '{"failures": 5, "open_seconds": 30}');
  recorded integer;
  ids uuid[] := array(select r.id from jsonb_to_recordset(results) as r (id uuid));
  held uuid[];
  batch private.send_result[];
begin
  -- The batch's messages locked first, in id order: the webhooks' private.record_message_events
  -- locks the messages of its (batched) callbacks in id order, and this update took them in
  -- whatever order its join produced, so a callback batch and a result batch sharing messages
  -- deadlocked (a callback arriving before its send was recorded: the worker lost the batch's
  -- results and its messages stayed `sending` until their lease ran out). `for no key update`,
  -- the lock the update takes, which the webhooks' event inserts (key-share) do not wait for.
  perform 1 from public.messages m
   where m.id = any (ids)
   order by m.id
     for no key update;

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
     where m.id = any (ids)
       and m.locked_by = worker and m.status = 'sending' and m.attempts = r.attempt
       and (r.ok or r.disposition in ('transient', 'permanent', 'fallback')));
  held := array(select r.id from unnest(batch) r);

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
      join public.messages m on m.id = r.id and m.id = any (held)
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
   where m.id = o.id and m.id = any (held);
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
    join public.messages m on m.id = r.id and m.id = any (held)
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
