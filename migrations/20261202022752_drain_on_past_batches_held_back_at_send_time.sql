-- Drain (issue 7): a batch held back whole at send time no longer ends the drain.
--
-- private.lease_messages returns only the messages to send; the ones it takes from the queue and
-- holds back (blocked because a rule no longer allows them, deferred to their hours, cancelled
-- with their case, dead after their last stall) it keeps to itself, as do the daily quotas those
-- they defer to the next day. The dispatcher (functions/_shared/dispatch.ts) stopped draining at
-- the first batch that gave it nothing to send, until its next tick or NOTIFY: a run of 10,000
-- reminders whose customers had withdrawn consent since the gate went at 100 per lane per tick
-- (about 50 s), and the due messages queued behind them waited as long.
--
-- private.lease_batch is the lease that also says how many messages its pick took from the queue
-- (`picked`): the dispatcher drains on while that is above 0. Each of them left the due set (sent,
-- held back until later, or finished), so the drain cannot spin on the same messages. The body is
-- 20261202015928's lease_messages, its answer an array in claim order; lease_messages is now a
-- wrapper over it, for private.claim_messages and any other caller.

create function private.lease_batch(worker text, batch_size integer, as_of timestamptz default now(),
                                    out picked integer, out leased private.claimed_message[])
language plpgsql
security definer
set search_path = ''
-- Index lookups for a batch of at most 1,000 rows: no hash join reads the whole outbox. No
-- plan_cache_mode here: a function's setting reaches its triggers' queries too.
set enable_hashjoin = off
set enable_mergejoin = off
set jit = off
as $$
declare
  lease interval := make_interval(secs => coalesce((private.setting('MESSAGE_LEASE_SECONDS') #>> '{}')::integer, 60));
  stall_limit integer := coalesce((private.setting('MESSAGE_STALL_LIMIT') #>> '{}')::integer, 3);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  chosen uuid[];
  claimed private.claimed_message[];
  expired uuid[];
  held uuid[] := '{}';
begin
  if worker is null or length(worker) = 0 or batch_size is null or batch_size not between 1 and 1000 then
    raise exception 'a lease needs a worker name and a batch of 1 to 1000' using errcode = '22023';
  end if;

  -- The pick: priority by priority, each an index range (priority = p, next_attempt_at <= as_of)
  -- on the claimable rows; the outer limit stops the loop once the batch is full, so no more rows
  -- than the batch are locked. EXECUTE plans it at each call, for the outbox as it is now.
  execute $pick$
    select coalesce(array_agg(c.id), '{}')
      from (select c.id
              from generate_series(0, 9) as level (p)
             cross join lateral (
               select m.id
                 from public.messages m
                where m.status in ('queued', 'sending') and m.priority = level.p
                  and m.next_attempt_at <= $2
                order by m.next_attempt_at
                limit $1
                  for update of m skip locked
             ) c
             limit $1) c
  $pick$ into chosen using batch_size, as_of;
  picked := cardinality(chosen);
  leased := '{}';
  if picked = 0 then
    return;
  end if;

  with picked as materialized (
    -- The picked rows, locked: this statement's snapshot shows their latest versions.
    select m.id, m.status, m.stalls, m.customer_id, m.case_id, m.channel, m.purpose, m.recipient,
           m.template_id, m.priority
      from public.messages m
     where m.id = any (chosen)
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

  -- What goes to the sender, in claim order: the leased messages less those re-checked above.
  select coalesce(array_agg(claimed[i] order by i), '{}')
    into leased
    from generate_subscripts(claimed, 1) as i
   where (claimed[i]).id <> all (held);
end;
$$;

comment on function private.lease_batch(text, integer, timestamptz) is
  'private.lease_messages that also says how many messages its pick took from the queue: '
  '`picked` (those leased to send, and those it held back: blocked, deferred, cancelled, dead), '
  'and `leased`, the messages to send in claim order (private.claimed_message[], empty when '
  'none). The dispatcher drains on while `picked` is above 0.';

create or replace function private.lease_messages(worker text, batch_size integer,
                                                  as_of timestamptz default now())
returns setof private.claimed_message
language sql
security definer
set search_path = ''
set jit = off
as $$
  select m.* from private.lease_batch(worker, batch_size, as_of) b
   cross join lateral unnest(b.leased) m
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
  'applies the quotas and takes its permits after its lookup, so those locks are held briefly.';

revoke execute on function private.lease_batch(text, integer, timestamptz) from public, anon, authenticated;
grant execute on function private.lease_batch(text, integer, timestamptz) to service_role;
