-- Drain scaling (issue 7): a claim locks the provider's shared rows last.
--
-- Every claim updates two rows per provider that every dispatcher shares: its daily use
-- (private.provider_usage, counted by private.claim_messages) and its token bucket
-- (public.provider_state, private.take_send_permits). A row lock is held until the claim commits,
-- and the use was counted first thing after the batch's rows were leased, so the dispatcher's
-- claim statement held it through its join for each message's HTML part and document and through
-- the permits. With 4 and 8 dispatchers on 2 cores the claims queued behind one another: most of
-- the claims' time went waiting on that lock (wait event Lock:transactionid, sampled from
-- pg_stat_activity during the drain bench), and the drain fell from 6,139/s with one dispatcher
-- to 3,553/s with four. Counted last, just before the permits, the two locks are held only for
-- the end of the statement.
--
-- lease_messages also plans each call afresh (see below), and the dispatcher finds its batch's
-- HTML parts and documents by key.
--
-- private.claim_messages is now the two steps it always took, each its own function:
-- private.lease_messages (the claim up to the quotas, as in 20261201031000, planned per call) and
-- private.apply_daily_quotas (its quota step, unchanged). The dispatcher (functions/_shared/
-- dispatch.ts) calls them apart, with its lookup between; every other caller keeps claim_messages.

create function private.lease_messages(worker text, batch_size integer, as_of timestamptz default now())
returns setof private.claimed_message
language plpgsql
security definer
set search_path = ''
-- Index lookups for a batch of at most 1,000 rows (no hash join reads the whole outbox), and a
-- plan made for each call. claim_messages kept one generic plan per session, made at its first
-- claim: a dispatcher starts by claiming, often from an empty outbox, and that plan then read
-- and sorted the whole outbox once per priority for every claim until autovacuum analyzed the
-- table again (auto_explain in the drain bench: 3 s claims, 20,000 messages drained in 33 to
-- 67 s instead of 4). A plan per call costs less than those runs lost: the bench drains faster.
set plan_cache_mode = force_custom_plan
set enable_hashjoin = off
set enable_mergejoin = off
set jit = off
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
    raise exception 'lease_messages needs a worker name and a batch of 1 to 1000' using errcode = '22023';
  end if;

  with picked as materialized (
    -- Priority by priority, each an index range (priority = p, next_attempt_at <= as_of) on the
    -- claimable rows; the outer limit stops the loop once the batch is full, so no more rows
    -- than the batch are locked. The columns come from the locked (latest) row version.
    select c.id, c.status, c.stalls, c.customer_id, c.case_id, c.channel, c.purpose, c.recipient,
           c.template_id, c.priority
      from generate_series(0, 9) as level (p)
     cross join lateral (
       select m.id, m.status, m.stalls, m.customer_id, m.case_id, m.channel, m.purpose, m.recipient,
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
           -- A reminder of a case renewed, lost or not taken since it was queued, or whose policy
           -- moved to another customer: a change that committed while the cadence's run was open
           -- could not see the run's rows to cancel them (_850_cancel_queued_reminders,
           -- _850_cancel_reminders_of_former_customer). Transactional messages (receipts) still
           -- go; a lapsed case's post-expiry steps too.
           p.status = 'queued' and p.purpose <> 'transactional' and p.case_id is not null
           and exists (select 1 from public.renewal_cases rc
                        where rc.id = p.case_id
                          and (rc.stage in ('renewed', 'lost', 'not_taken')
                               or rc.customer_id is distinct from p.customer_id))
             as case_closed,
           case
             when p.status <> 'queued' or cu.id is null then null
             when cu.erased_at is not null then 'customer_erased'
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
             when j.case_closed then 'cancelled'
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
                                                          (promotional ->> 'end')::time, 'Asia/Kolkata'))
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
                      when 'cancelled' then 'cancelled'
                      when 'deferred' then 'queued'
                      else 'sending' end::public.message_status,
           stalls = m.stalls + (m.status = 'sending')::integer,
           dead_reason = case when f.fate = 'dead' then 'stalled' end,
           dead_at = case when f.fate = 'dead' then as_of end,
           cancelled_at = case when f.fate = 'cancelled' then as_of else m.cancelled_at end,
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
           sending_at = case when f.fate = 'cancelled' then m.sending_at else as_of end,
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
             m.purpose <> 'transactional'
             and exists (select 1 from public.renewal_cases rc
                          where rc.id = m.case_id
                            and (rc.stage in ('renewed', 'lost', 'not_taken')
                                 or rc.customer_id is distinct from m.customer_id))
               as case_closed,
             case
               when m.purpose = 'marketing'
                 then private.next_allowed_time(as_of, (promotional ->> 'start')::time,
                                                (promotional ->> 'end')::time, 'Asia/Kolkata')
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
         set status = case when r.case_closed then 'cancelled'
                           when r.reason is not null then 'blocked'
                           else 'queued' end::public.message_status,
             blocked_reason = case when not r.case_closed then r.reason end,
             blocked_at = case when r.reason is not null and not r.case_closed then as_of end,
             cancelled_at = case when r.case_closed then as_of else m.cancelled_at end,
             next_attempt_at = case when r.reason is null and not r.case_closed then r.due
                                    else m.next_attempt_at end,
             deferred_reason = case when r.case_closed or r.reason is not null then null
                                    when m.purpose = 'marketing' then 'promotional_hours'
                                    else 'quiet_hours' end,
             attempts = m.attempts - 1,
             provider_attempts = m.provider_attempts - 1,
             locked_by = null,
             locked_until = null,
             updated_at = now()
        from rechecked r
       where m.id = r.id and (r.case_closed or r.reason is not null or r.due > as_of)
      returning m.id
    )
    select coalesce(array_agg(stopped.id), '{}') into held from stopped;
  end if;

  return query
  select c.* from unnest(claimed) c where c.id <> all (held);
end;
$$;

create function private.apply_daily_quotas(claimed private.claimed_message[],
                                          as_of timestamptz default now())
returns setof private.claimed_message
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  over_quota boolean;
  deferred uuid[] := '{}';
  switched jsonb := '{}';
begin
  -- Daily quotas ("Quota exceeded" runbook): every message handed to a provider counts one in
  -- private.provider_usage for the business day, in one upsert per batch (one row per provider).
  -- The upsert locks each row (in provider order, so two dispatchers never deadlock) and adds
  -- the batch's count to the latest committed value: what the row held before is its result
  -- minus that count, so two dispatchers claiming at once never both take the last unit. The
  -- fallbacks of providers that have a quota are locked in the same statement (added 0, not
  -- rewritten), so the rare over-quota step below takes no lock out of order.
  if cardinality(claimed) > 0 then
    with handed as (
      select c.provider, count(*)::integer as n
        from unnest(claimed) c
       where c.provider is not null
       group by c.provider
    ),
    wanted as (
      select w.provider, sum(w.n)::integer as n
        from (select h.provider, h.n from handed h
              union all
              select ch.fallback_provider, 0
                from handed h
                join public.channels ch on ch.provider = h.provider
               where ch.enabled and ch.fallback_provider is not null
                 and exists (select 1 from public.channels q
                              where q.provider = h.provider and q.daily_quota is not null)) w
       group by w.provider
    ),
    counted as (
      insert into private.provider_usage as u (provider, day, sent)
      select w.provider, today, w.n from wanted w order by w.provider
      on conflict (provider, day) do update set sent = u.sent + excluded.sent
        where excluded.sent > 0
      returning u.provider, u.sent
    )
    select coalesce(bool_or(c.sent > (select min(ch.daily_quota) from public.channels ch
                                        where ch.provider = c.provider)), false)
      into over_quota
      from counted c;

    if over_quota then
      -- Some provider got more than its quota left (rare: at most once a day per provider). Its
      -- first messages in claim order keep it; the rest move to the channel's fallback provider
      -- while that has quota left, the others wait for the next business day (queued, not an
      -- attempt, deferred_reason quota_exhausted). The usage rows are ours until commit.
      with batch as (
        select c.id, c.channel, c.provider, c.ordinality as ord
          from unnest(claimed) with ordinality as c
         where c.provider is not null
      ),
      handed as (
        select b.provider, count(*)::integer as n from batch b group by b.provider
      ),
      room as (
        -- Per provider of the batch or of a fallback: the quota left before this batch's
        -- messages (null = no limit) and after them (may be negative).
        select u.provider,
               q.quota - (u.sent - coalesce(h.n, 0)) as before_batch,
               q.quota - u.sent as after_batch
          from private.provider_usage u
          left join handed h on h.provider = u.provider
          cross join lateral (select min(ch.daily_quota) as quota from public.channels ch
                               where ch.provider = u.provider) q
         where u.day = today
           and u.provider in (select b.provider from batch b
                              union
                              select ch.fallback_provider from public.channels ch
                               where ch.provider in (select b.provider from batch b))
      ),
      ranked as (
        select b.*, row_number() over (partition by b.provider order by b.ord) as rank
          from batch b
      ),
      overflow as (
        -- Beyond its provider's quota: the channel's fallback, if any (the one record_send_results
        -- would switch to: an enabled channel of the type whose primary provider it is).
        select r.id, r.ord, r.provider,
               (select ch.fallback_provider from public.channels ch
                 where ch.type = r.channel and ch.enabled and ch.provider = r.provider
                   and ch.fallback_provider is not null
                 order by ch.name limit 1) as fallback
          from ranked r
          join room rm on rm.provider = r.provider
         where r.rank > greatest(rm.before_batch, 0)
      ),
      placed as (
        select o.id, o.provider,
               case when o.fallback is not null
                         and (fb.after_batch is null
                              or row_number() over (partition by o.fallback order by o.ord)
                                 <= greatest(fb.after_batch, 0))
                    then o.fallback end as moved_to
          from overflow o
          left join room fb on fb.provider = o.fallback
      ),
      requeued as (
        update public.messages m
           set provider = coalesce(p.moved_to, m.provider),
               -- Onto the fallback: its first attempt there. Waiting: no attempt at all.
               provider_attempts = case when p.moved_to is not null then 1
                                        else m.provider_attempts - 1 end,
               status = case when p.moved_to is null then 'queued' else m.status end::public.message_status,
               attempts = m.attempts - (p.moved_to is null)::integer,
               locked_by = case when p.moved_to is null then null else m.locked_by end,
               locked_until = case when p.moved_to is null then null else m.locked_until end,
               next_attempt_at = case when p.moved_to is null
                                   then (today + 1)::timestamp at time zone
                                        coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata')
                                   else m.next_attempt_at end,
               deferred_reason = case when p.moved_to is null then 'quota_exhausted' end,
               updated_at = now()
          from placed p
         where m.id = p.id
        returning m.id, p.provider as was, p.moved_to
      ),
      recounted as (
        -- Each message taken off a provider gives its unit back; each moved counts on its fallback.
        update private.provider_usage u
           set sent = u.sent + d.delta
          from (select x.provider, sum(x.delta)::integer as delta
                  from (select r.was as provider, -1 as delta from requeued r
                        union all
                        select r.moved_to, 1 from requeued r where r.moved_to is not null) x
                 group by x.provider) d
         where u.provider = d.provider and u.day = today and d.delta <> 0
      )
      select coalesce(array_agg(r.id) filter (where r.moved_to is null), '{}'),
             coalesce(jsonb_object_agg(r.id, r.moved_to) filter (where r.moved_to is not null), '{}')
        into deferred, switched
        from requeued r;

      claimed := array(
        select row(c.id, c.attempts, c.channel, c.purpose,
                   coalesce(switched ->> c.id::text, c.provider), c.recipient, c.subject, c.body,
                   c.whatsapp_name, c.whatsapp_language, c.whatsapp_parameters, c.dlt_entity_id,
                   c.dlt_header, c.dlt_template_id)::private.claimed_message
          from unnest(claimed) with ordinality as c
         where c.id <> all (deferred)
         order by c.ordinality);
    end if;
  end if;

  return query
  select c.* from unnest(claimed) c;
end;
$$;

create or replace function private.claim_messages(worker text, batch_size integer, as_of timestamptz default now())
returns setof private.claimed_message
language sql
security definer
set search_path = ''
set jit = off
as $$
  select q.*
    from private.apply_daily_quotas(
           array(select row(l.id, l.attempts, l.channel, l.purpose, l.provider, l.recipient,
                            l.subject, l.body, l.whatsapp_name, l.whatsapp_language,
                            l.whatsapp_parameters, l.dlt_entity_id, l.dlt_header,
                            l.dlt_template_id)::private.claimed_message
                   from private.lease_messages(worker, batch_size, as_of) with ordinality as l
                  order by l.ordinality), as_of) q
$$;

comment on function private.lease_messages(text, integer, timestamptz) is
  'The claim before its quotas (private.claim_messages without private.apply_daily_quotas): '
  'leases up to batch_size due messages (lowest priority first, then the earliest '
  'next_attempt_at; skip locked) to `worker` for MESSAGE_LEASE_SECONDS, counting the attempt; a '
  'message whose lease expired MESSAGE_STALL_LIMIT times becomes a dead letter instead. Each '
  'message''s rules are asked again: one no longer allowed is blocked with the reason, one '
  'outside its hours deferred, neither counted as an attempt; one that is not transactional '
  'and whose case was closed or moved to another customer is cancelled. Returns the leased '
  'messages (private.claimed_message) in claim order. Locks no shared row: the dispatcher '
  'applies the quotas and takes its permits after its own join, so those locks are held briefly.';

comment on function private.apply_daily_quotas(private.claimed_message[], timestamptz) is
  'The daily quotas of a claimed batch ("Quota exceeded" runbook): each message handed to a '
  'provider counts one in private.provider_usage for the business day (one upsert per provider, '
  'locked in provider order); beyond the provider''s quota (private.provider_quota) a message '
  'moves to the channel''s fallback provider while that has quota left, else waits queued until '
  'the next business day (deferred_reason quota_exhausted, not an attempt). Takes the leased '
  'messages in claim order; returns those to send, in that order, with their provider.';

comment on function private.claim_messages(text, integer, timestamptz) is
  'Claims up to batch_size due messages for `worker`: private.lease_messages, then '
  'private.apply_daily_quotas. Returns what the providers need (private.claimed_message), in '
  'claim order.';

revoke execute on function private.lease_messages(text, integer, timestamptz),
  private.apply_daily_quotas(private.claimed_message[], timestamptz) from public;
grant execute on function private.lease_messages(text, integer, timestamptz),
  private.apply_daily_quotas(private.claimed_message[], timestamptz) to service_role;
