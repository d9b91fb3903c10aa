-- Nothing sent twice when a vendor answers late (issue 7, found by a review). A send that outlasts
-- PROVIDER_TIMEOUT_MS is a transient failure with code `timeout`, "the vendor may have accepted the
-- message", and it was retried within the backoff's first step (full jitter from 30 s: seconds),
-- before the vendor's callback could say it had it: with SES answering in 11 s against a 10 s
-- deadline, one email reached the customer twice, and the outbox showed it delivered once.
-- private.record_send_results (restated from 20261202055703 with this one change) now holds a
-- timed-out message queued for MESSAGE_TIMEOUT_RETRY_SECONDS (600 by default) at least before its
-- retry, and as long before the channel's fallback provider takes it. Twilio, SES and SendGrid
-- put our message id in their callbacks (the StatusCallback's query, the SES message tag, SendGrid's
-- custom_args), so a callback that comes in the meantime moves the message forward (a status only
-- moves forward) and it is never claimed again. WhatsApp's callbacks name only its own id and AWS
-- SNS sends none: a late acceptance there still means a second send after the hold (README, known
-- limits).

insert into private.setting_rules (key, rule, note) values
  ('MESSAGE_TIMEOUT_RETRY_SECONDS', '{"type": "integer", "min": 0, "max": 86400, "unit": "seconds"}',
   null);

insert into public.app_settings (key, value, description) values
  ('MESSAGE_TIMEOUT_RETRY_SECONDS', '600',
   'Seconds a send that timed out (the vendor may have accepted it) waits before it is tried '
   'again or handed to the fallback provider, so that the vendor''s callback can settle it first.');

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
  -- A send that timed out may have reached the vendor: its retry waits for the callback.
  timeout_hold interval := make_interval(secs => coalesce(
    (private.setting('MESSAGE_TIMEOUT_RETRY_SECONDS') #>> '{}')::integer, 600));
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
             -- Twilio's opt-out list (the recipient replied STOP to its sender): an offer is not
             -- carried to them by the fallback provider; service and transactional messages are.
             when r.disposition = 'fallback' and r.provider = 'twilio' and r.code = '21610'
                  and m.channel = 'sms' and m.purpose = 'marketing' then 'failed'
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
                                 (retry ->> 'base_seconds')::numeric * power(2, m.provider_attempts - 1))),
                               -- the vendor may have it: its callback settles it first
                               case when o.code = 'timeout' then timeout_hold else interval '0' end)
                             -- the same wait before the fallback provider sends it
                             when 'switch' then as_of + case when o.code = 'timeout' then timeout_hold
                                                             else interval '0' end
                             else as_of end,
         deferred_reason = case o.fate when 'retry' then 'retry' else null end,
         locked_by = null,
         locked_until = null,
         updated_at = now()
    from outcome o
   where m.id = o.id and m.id = any (held);
  get diagnostics recorded = row_count;

  -- Twilio refused an offer because the recipient replied STOP to its sender (21610): that STOP
  -- is the customer's, so SMS marketing consent is withdrawn as private.record_message_events
  -- withdraws it for a STOP reply we receive ourselves (source sms_stop, recorded by nobody), for
  -- every customer on the number, with Twilio's refusal of our message as the evidence. Their
  -- queued offers are blocked when claimed (consent_withdrawn); the number is not suppressed.
  -- (Asked first, as the WhatsApp fallbacks below are: most batches hold no such result.)
  if exists (select 1 from unnest(batch) r
              where not r.ok and r.disposition = 'fallback' and r.provider = 'twilio'
                and r.code = '21610') then
  insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                     recorded_at, recorded_by)
  select distinct on (cu.id)
         cu.id, 'sms', 'marketing', 'withdrawn', 'sms_stop',
         jsonb_build_object('provider', r.provider, 'code', r.code, 'message_id', m.id),
         as_of, null
    from unnest(batch) r
    join public.messages m on m.id = r.id and m.id = any (held)
    join public.customers cu on cu.id = m.customer_id or cu.phone = m.recipient
   where not r.ok and r.disposition = 'fallback' and r.provider = 'twilio' and r.code = '21610'
     and m.channel = 'sms' and m.purpose = 'marketing'
   order by cu.id, m.id
  on conflict (customer_id, channel, purpose) do update
    set status = 'withdrawn', source = excluded.source, evidence = excluded.evidence,
        recorded_at = excluded.recorded_at, recorded_by = null;
  end if;

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

comment on function private.record_send_results(text, jsonb, timestamptz) is
  'Records a batch''s results in one pass: [{id, attempt (as claimed), ok, provider_message_id, '
  'cost_paise, disposition transient|permanent|fallback, code, message, retry_after_ms, '
  'address_dead, throttled}]. Results of messages the worker no longer holds at that attempt are ignored. '
  'ok -> sent; permanent -> failed (a dead address is suppressed); transient -> queued again after '
  'max(Retry-After, full-jitter exponential backoff from MESSAGE_RETRY, and for a timeout '
  'MESSAGE_TIMEOUT_RETRY_SECONDS) until max_attempts on the '
  'provider, then the channel''s fallback provider, then dead (retries_exhausted); fallback '
  'from WhatsApp -> failed, and the same template queued on SMS through the gate; fallback from '
  'Twilio with 21610 (the recipient replied STOP to Twilio) on a marketing SMS -> failed, and SMS '
  'marketing consent withdrawn for every customer on the number as by a STOP reply (source '
  'sms_stop); other fallbacks -> the channel''s fallback provider. Keeps the providers'' circuit '
  'breakers (PROVIDER_BREAKER), where throttling does not count. Returns how many messages it '
  'recorded.';
