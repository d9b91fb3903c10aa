-- What the dispatchers call, whoever hosts them (the `dispatch` edge function, the local worker):
-- claim a batch under a lease, ask for send permits (rate limit and circuit breaker shared by
-- every instance), hand back what they may not send yet, and record a batch's results in one
-- statement: retries with backoff, the fallback provider, dead letters, suppressions, and the
-- breaker's bookkeeping. All are security definer in private, executable by service_role only.

alter table public.messages
  add column provider_attempts smallint not null default 0;

comment on column public.messages.provider_attempts is
  'Sends tried on the current provider; at MESSAGE_RETRY.max_attempts it moves to the channel''s '
  'fallback provider.';

-- The message as a provider sends it: the template's vendor fields beside the rendered text.
create type private.claimed_message as (
  id uuid,
  attempts smallint,
  channel public.channel_type,
  purpose public.consent_purpose,
  provider text,
  recipient text,
  subject text,
  body text,
  whatsapp_name text,
  whatsapp_language text,
  whatsapp_parameters text[],
  dlt_entity_id text,
  dlt_header text,
  dlt_template_id text
);

comment on type private.claimed_message is
  'A claimed message as a provider needs it: id and attempts (to fence the result), channel, '
  'provider to use, recipient, subject and body as rendered, the WhatsApp template''s name, '
  'language and body parameters in order, and the SMS template''s DLT ids.';

create function private.claim_messages(worker text, batch_size integer, as_of timestamptz default now())
returns setof private.claimed_message
language plpgsql
security definer
set search_path = ''
as $$
declare
  lease interval := make_interval(secs => coalesce((private.setting('MESSAGE_LEASE_SECONDS') #>> '{}')::integer, 60));
  stall_limit integer := coalesce((private.setting('MESSAGE_STALL_LIMIT') #>> '{}')::integer, 3);
  wanted integer := batch_size;
  level smallint;
  taken uuid[] := '{}';
begin
  if worker is null or length(worker) = 0 or batch_size is null or batch_size not between 1 and 1000 then
    raise exception 'claim_messages needs a worker name and a batch of 1 to 1000' using errcode = '22023';
  end if;
  -- Priority by priority, each an index range (priority = p, next_attempt_at <= as_of) on the
  -- claimable rows: deferred rows of a higher priority are never walked.
  for level in 0..9 loop
    exit when wanted <= 0;
    with picked as (
      select m.id from public.messages m
       where m.status in ('queued', 'sending') and m.priority = level
         and m.next_attempt_at <= as_of
       order by m.next_attempt_at
       limit wanted
       for update skip locked
    ),
    moved as (
      update public.messages m
         set status = case when m.status = 'sending' and m.stalls + 1 >= stall_limit
                           then 'dead' else 'sending' end::public.message_status,
             stalls = m.stalls + (m.status = 'sending')::integer,
             dead_reason = case when m.status = 'sending' and m.stalls + 1 >= stall_limit
                                then 'stalled' end,
             dead_at = case when m.status = 'sending' and m.stalls + 1 >= stall_limit then as_of end,
             attempts = m.attempts + 1,
             provider_attempts = m.provider_attempts + 1,
             provider = coalesce(m.provider, (
               select ch.provider from public.channels ch
                where ch.type = m.channel and ch.enabled order by ch.name limit 1)),
             locked_by = worker,
             locked_until = as_of + lease,
             next_attempt_at = as_of + lease,
             sending_at = as_of,
             deferred_reason = null
        from picked
       where m.id = picked.id
      returning m.id, m.status
    )
    select taken || coalesce(array_agg(moved.id) filter (where moved.status = 'sending'), '{}'),
           wanted - count(*)::integer
      into taken, wanted
      from moved;
  end loop;

  return query
  select m.id, m.attempts, m.channel, m.purpose, m.provider, m.recipient, m.subject, m.body,
         t.whatsapp_name, t.language,
         array(select coalesce(m.variables ->> v[1], '')
                 from regexp_matches(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as v),
         t.dlt_entity_id, t.dlt_header, t.dlt_template_id
    from public.messages m
    left join public.templates t on t.id = m.template_id
   where m.id = any (taken)
   order by m.priority, m.sending_at, m.id;
end;
$$;

comment on function private.claim_messages(text, integer, timestamptz) is
  'Claims up to batch_size (1-1000) messages due by as_of, lowest priority number first, then '
  'the earliest next_attempt_at, skipping rows another dispatcher holds: each becomes sending '
  'under a lease of MESSAGE_LEASE_SECONDS held by `worker`, with attempts counted and the '
  'channel''s provider chosen if none was. A message whose earlier lease ran out (its '
  'dispatcher died) is claimed again; at MESSAGE_STALL_LIMIT stalls it becomes dead (stalled) '
  'instead. Returns what the providers need (private.claimed_message).';

-- Permits to send now, per provider: the circuit breaker (an open breaker lets one probe through
-- once PROVIDER_BREAKER.open_seconds have passed) and a token bucket of rate_per_second tokens
-- (one second of burst), shared by every dispatcher through the provider_state row's lock.
create function private.take_send_permits(wanted jsonb, as_of timestamptz default now())
returns table (provider text, permits integer, breaker text, retry_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  breaker_settings jsonb := coalesce(private.setting('PROVIDER_BREAKER'), '{"failures": 5, "open_seconds": 30}');
  ask record;
  state public.provider_state;
  refilled numeric;
  granted integer;
begin
  for ask in select w.key as provider, (w.value #>> '{}')::integer as n
               from jsonb_each(wanted) w order by w.key loop
    select * into state from public.provider_state ps where ps.provider = ask.provider for update;
    if not found then
      insert into public.provider_state (provider) values (ask.provider)
      on conflict do nothing;
      select * into state from public.provider_state ps where ps.provider = ask.provider for update;
    end if;
    if state.breaker = 'open'
       and as_of >= state.breaker_since + make_interval(secs => (breaker_settings ->> 'open_seconds')::integer) then
      update public.provider_state ps set breaker = 'half_open', breaker_since = as_of
       where ps.provider = ask.provider;
      insert into public.provider_breaker_events (provider, breaker, at) values (ask.provider, 'half_open', as_of);
      provider := ask.provider; permits := least(ask.n, 1); breaker := 'half_open'; retry_at := null;
      return next;
      continue;
    elsif state.breaker <> 'closed' then
      -- Open, or half-open with its probe out: nothing until the probe's result.
      provider := ask.provider; permits := 0; breaker := state.breaker;
      retry_at := case when state.breaker = 'open'
                       then state.breaker_since + make_interval(secs => (breaker_settings ->> 'open_seconds')::integer)
                       else as_of + interval '1 second' end;
      return next;
      continue;
    end if;
    refilled := least(state.rate_per_second,
                      state.tokens + state.rate_per_second
                        * greatest(extract(epoch from as_of - state.tokens_at), 0));
    granted := least(ask.n, floor(refilled)::integer);
    update public.provider_state ps
       set tokens = refilled - granted, tokens_at = greatest(as_of, ps.tokens_at)
     where ps.provider = ask.provider;
    provider := ask.provider; permits := granted; breaker := 'closed';
    retry_at := case when granted < ask.n
                     then as_of + make_interval(secs => (ask.n - granted) / state.rate_per_second)
                end;
    return next;
  end loop;
end;
$$;

comment on function private.take_send_permits(jsonb, timestamptz) is
  'Takes send permits: {provider: messages wanted, ...} -> per provider the permits granted now, '
  'its breaker state, and when to try again for the rest. Closed: tokens of a bucket refilled at '
  'rate_per_second (at most one second''s worth banked), shared by every dispatcher. Open: none, '
  'until PROVIDER_BREAKER.open_seconds have passed; then half_open with one probe.';

-- Messages claimed but not sent (no permit): back to the queue without counting an attempt;
-- when the provider's breaker is open and the channel has a fallback, onto the fallback now.
create function private.release_messages(worker text, message_ids uuid[], retry_at timestamptz,
                                         as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  released integer;
begin
  update public.messages m
     set status = 'queued',
         attempts = m.attempts - 1,
         provider_attempts = case when switch.fallback is not null then 0
                                  else m.provider_attempts - 1 end,
         provider = coalesce(switch.fallback, m.provider),
         next_attempt_at = case when switch.fallback is not null then as_of
                                else greatest(coalesce(retry_at, as_of), as_of) end,
         deferred_reason = case when switch.fallback is not null then null else 'rate_limit' end,
         locked_by = null,
         locked_until = null
    from public.messages cur
    left join lateral (
      select ch.fallback_provider as fallback
        from public.channels ch
        join public.provider_state ps on ps.provider = cur.provider and ps.breaker = 'open'
       where ch.type = cur.channel and ch.enabled and ch.provider = cur.provider
         and ch.fallback_provider is not null
       limit 1
    ) switch on true
   where m.id = cur.id and cur.id = any (message_ids)
     and cur.locked_by = worker and cur.status = 'sending';
  get diagnostics released = row_count;
  return released;
end;
$$;

comment on function private.release_messages(text, uuid[], timestamptz, timestamptz) is
  'Hands claimed messages back unsent (no permit): queued again at retry_at without counting the '
  'attempt, or at once on the channel''s fallback provider when their provider''s breaker is '
  'open. Only the worker holding them may. Returns how many were released.';

-- A batch's results in one statement.
create function private.record_send_results(worker text, results jsonb, as_of timestamptz default now())
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
  if to_regclass('pg_temp.send_results') is null then
    create temporary table send_results (
    id uuid, attempt smallint, ok boolean, provider text, provider_message_id text,
    cost_paise numeric, disposition text, code text, message text, retry_after_ms bigint,
    address_dead boolean
    ) on commit drop;
  end if;
  truncate pg_temp.send_results;

  -- Only results for messages this worker still holds, at the attempt it claimed (a result
  -- that comes back after its lease ran out and another dispatcher took the message is void).
  insert into pg_temp.send_results
  select r.id, r.attempt, r.ok, m.provider, r.provider_message_id, r.cost_paise, r.disposition,
         r.code, left(r.message, 500), r.retry_after_ms, coalesce(r.address_dead, false)
    from jsonb_to_recordset(results) as r (
           id uuid, attempt smallint, ok boolean, provider_message_id text, cost_paise numeric,
           disposition text, code text, message text, retry_after_ms bigint, address_dead boolean)
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
      from pg_temp.send_results r
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
    from pg_temp.send_results r
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
    from pg_temp.send_results r
    join public.messages m on m.id = r.id
    left join public.templates t on t.id = m.template_id
   where r.disposition = 'fallback' and m.channel = 'whatsapp' and not r.ok;

  -- The breaker: a success closes it; consecutive transient failures open it; a failed probe
  -- opens it again.
  with tally as (
    select r.provider,
           bool_or(r.ok) as any_ok,
           count(*) filter (where not r.ok and r.disposition = 'transient') as transient
      from pg_temp.send_results r
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
  'address_dead}]. Results of messages the worker no longer holds at that attempt are ignored. '
  'ok -> sent; permanent -> failed (a dead address is suppressed); transient -> queued again after '
  'max(Retry-After, full-jitter exponential backoff from MESSAGE_RETRY) until max_attempts on the '
  'provider, then the channel''s fallback provider, then dead (retries_exhausted); fallback '
  'from WhatsApp -> failed, and the same template queued on SMS through the gate. Keeps the '
  'providers'' circuit breakers (PROVIDER_BREAKER). Returns how many messages it recorded.';

revoke execute on function private.claim_messages(text, integer, timestamptz),
  private.take_send_permits(jsonb, timestamptz),
  private.release_messages(text, uuid[], timestamptz, timestamptz),
  private.record_send_results(text, jsonb, timestamptz) from public;
grant execute on function private.claim_messages(text, integer, timestamptz),
  private.take_send_permits(jsonb, timestamptz),
  private.release_messages(text, uuid[], timestamptz, timestamptz),
  private.record_send_results(text, jsonb, timestamptz) to service_role;
