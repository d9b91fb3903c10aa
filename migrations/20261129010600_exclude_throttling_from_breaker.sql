-- A vendor that throttles us (429, Throttling, WhatsApp 130429) is up: counting its replies as
-- failures opened the circuit breaker in a 429 storm and moved every message to the fallback
-- provider (tests/functions/dispatch.test.ts). Results now say when a failure was throttling,
-- and the breaker leaves those out. Everything else in record_send_results is unchanged.

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
begin
  if to_regclass('pg_temp.send_batch') is null then
    create temporary table send_batch (
    id uuid, attempt smallint, ok boolean, provider text, provider_message_id text,
    cost_paise numeric, disposition text, code text, message text, retry_after_ms bigint,
    address_dead boolean, throttled boolean
    ) on commit drop;
  end if;
  truncate pg_temp.send_batch;

  -- Only results for messages this worker still holds, at the attempt it claimed (a result
  -- that comes back after its lease ran out and another dispatcher took the message is void).
  insert into pg_temp.send_batch
  select r.id, r.attempt, r.ok, m.provider, r.provider_message_id, r.cost_paise, r.disposition,
         r.code, left(r.message, 500), r.retry_after_ms, coalesce(r.address_dead, false),
         coalesce(r.throttled, false)
    from jsonb_to_recordset(results) as r (
           id uuid, attempt smallint, ok boolean, provider_message_id text, cost_paise numeric,
           disposition text, code text, message text, retry_after_ms bigint, address_dead boolean,
           throttled boolean)
    join public.messages m on m.id = r.id
   where m.locked_by = worker and m.status = 'sending' and m.attempts = r.attempt
     and (r.ok or r.disposition in ('transient', 'permanent', 'fallback'));

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
      from pg_temp.send_batch r
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
         locked_until = null
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
    from pg_temp.send_batch r
    join public.messages m on m.id = r.id
   where not r.ok and r.address_dead and m.recipient is not null
  on conflict (channel, address) do nothing;

  -- WhatsApp refused for a reason SMS can get round (window closed, undeliverable, template
  -- refused): the same template on SMS, through the gate again.
  perform private.enqueue_messages(coalesce(jsonb_agg(jsonb_build_object(
             'customer_id', m.customer_id, 'case_id', m.case_id, 'channel', 'sms',
             'template_code', t.code, 'variables', m.variables,
             'purpose', m.purpose, 'body', case when t.id is null then m.body end,
             'priority', m.priority, 'created_by', m.created_by,
             'idempotency_key', m.idempotency_key || ':sms')), '[]'), as_of)
    from pg_temp.send_batch r
    join public.messages m on m.id = r.id
    left join public.templates t on t.id = m.template_id
   where r.disposition = 'fallback' and m.channel = 'whatsapp' and not r.ok;

  -- The breaker: a success closes it; consecutive transient failures open it (throttling does
  -- not count: a vendor pacing us is up); a failed probe opens it again.
  with tally as (
    select r.provider,
           bool_or(r.ok) as any_ok,
           count(*) filter (where not r.ok and r.disposition = 'transient' and not r.throttled)
             as transient
      from pg_temp.send_batch r
     group by r.provider
  ),
  changed as (
    update public.provider_state ps
       set consecutive_failures = case when t.any_ok then 0
                                       else ps.consecutive_failures + t.transient end,
           breaker = case
                       when t.any_ok then 'closed'
                       when t.transient > 0 and (ps.breaker = 'half_open'
                            or ps.consecutive_failures + t.transient >= (breaker_settings ->> 'failures')::integer)
                         then 'open'
                       else ps.breaker end,
           breaker_since = case
                             when t.any_ok and ps.breaker <> 'closed' then as_of
                             when not t.any_ok and t.transient > 0 and (ps.breaker = 'half_open'
                                  or (ps.breaker = 'closed' and ps.consecutive_failures + t.transient
                                      >= (breaker_settings ->> 'failures')::integer))
                               then as_of
                             else ps.breaker_since end
      from tally t, public.provider_state before
     where ps.provider = t.provider and before.provider = t.provider
       and (t.any_ok or t.transient > 0)
    returning ps.provider, ps.breaker, before.breaker as was
  )
  insert into public.provider_breaker_events (provider, breaker, at)
  select c.provider, c.breaker, as_of from changed c where c.breaker is distinct from c.was;

  return recorded;
end;
$$;

comment on function private.record_send_results(text, jsonb, timestamptz) is
  'Records a batch''s results in one pass: [{id, attempt (as claimed), ok, provider_message_id, '
  'cost_paise, disposition transient|permanent|fallback, code, message, retry_after_ms, '
  'address_dead, throttled}]. Results of messages the worker no longer holds at that attempt are ignored. '
  'ok -> sent; permanent -> failed (a dead address is suppressed); transient -> queued again after '
  'max(Retry-After, full-jitter exponential backoff from MESSAGE_RETRY) until max_attempts on the '
  'provider, then the channel''s fallback provider, then dead (retries_exhausted); fallback '
  'from WhatsApp -> failed, and the same template queued on SMS through the gate. Keeps the '
  'providers'' circuit breakers (PROVIDER_BREAKER), where throttling does not count. Returns how many messages it recorded.';

