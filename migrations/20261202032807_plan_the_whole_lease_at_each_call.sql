-- Claim robustness (issue 7): the whole lease is planned at each call again, its triggers not.
--
-- 20261202015928 planned only the lease's pick at each call (EXECUTE) and let the session keep
-- its plan of the rest, which finds the picked rows by key. A review found the case that breaks:
-- the rest is first planned at the session's first claim that finds something, and when the
-- outbox then held a message or two (its statistics saying empty), a kept generic plan read the
-- whole outbox twice on every later claim (psql, plan_cache_mode = force_generic_plan: 68 ms for
-- a claim of 100 on 20,001 messages, 194 ms on 100,001, against 8 and 10 ms planned per call).
-- The rest and the re-check of expired leases now run with EXECUTE too, so each is planned for
-- the outbox as it is, whatever the session's plan cache mode; the foreign key checks their
-- updates fire still keep their plans (no plan_cache_mode on the function), which was the gain
-- of 20261202015928. pgTAP 147 adds the case.

create or replace function private.lease_batch(worker text, batch_size integer, as_of timestamptz default now(),
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

  -- The rest, planned at each call too (EXECUTE): a plan kept for the session, made when the
  -- outbox held a message or two, joined the batch to the whole outbox on every later claim.
  -- $1 chosen, $2 as_of, $3 worker, $4 lease, $5 stall_limit, $6 promotional, $7 quiet.
  execute $claim$
    with picked as materialized (
      -- The picked rows, locked: this statement's snapshot shows their latest versions.
      select m.id, m.status, m.stalls, m.customer_id, m.case_id, m.channel, m.purpose, m.recipient,
             m.template_id, m.priority
        from public.messages m
       where m.id = any ($1)
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
                    and not coalesce(ww.last_inbound_at > $2 - interval '24 hours', false)
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
               when j.was = 'sending' and j.stalls + 1 >= $5 then 'dead'
               -- A lease that expired: re-checked below, once the early callbacks are applied.
               when j.was = 'sending' then 'sending'
               when j.case_closed then 'cancelled'
               when j.reason is not null then 'blocked'
               when d.due > $2 then 'deferred'
               else 'sending'
             end as fate,
             d.due
        from judged j
        cross join lateral (
          -- Each uncorrelated subquery runs once per statement, and only if a message needs it.
          select case
                   when j.purpose = 'marketing'
                     then (select private.next_allowed_time($2, ($6 ->> 'start')::time,
                                                            ($6 ->> 'end')::time, 'Asia/Kolkata'))
                   when j.purpose = 'service' and $7 ->> 'start' is not null
                     then (select private.next_allowed_time($2, ($7 ->> 'end')::time,
                                                            ($7 ->> 'start')::time))
                   else $2
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
             dead_at = case when f.fate = 'dead' then $2 end,
             cancelled_at = case when f.fate = 'cancelled' then $2 else m.cancelled_at end,
             blocked_reason = case f.fate when 'blocked' then f.reason when 'deferred' then null
                                else m.blocked_reason end,
             blocked_at = case f.fate when 'blocked' then $2 when 'deferred' then null
                            else m.blocked_at end,
             -- A message held back (blocked, deferred) is not an attempt.
             attempts = m.attempts + (f.fate in ('sending', 'dead'))::integer,
             provider_attempts = m.provider_attempts + (f.fate in ('sending', 'dead'))::integer,
             provider = coalesce(m.provider, (
               select ch.provider from public.channels ch
                where ch.type = m.channel and ch.enabled order by ch.name limit 1)),
             locked_by = case when f.fate in ('sending', 'dead') then $3 end,
             locked_until = case when f.fate in ('sending', 'dead') then $2 + $4 end,
             next_attempt_at = case when f.fate = 'deferred' then f.due else $2 + $4 end,
             sending_at = case when f.fate = 'cancelled' then m.sending_at else $2 end,
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
      from moved
  $claim$
    into claimed, expired
    using chosen, as_of, worker, lease, stall_limit, promotional, quiet;

  if cardinality(expired) > 0 then
    -- Leases that ran out, claimed again: the same re-check, one message at a time (rare).
    -- $1 expired, $2 as_of, $3 promotional, $4 quiet.
    execute $recheck$
      with rechecked as (
        select m.id,
               private.message_block_reason(m.customer_id, m.channel, m.purpose, m.recipient,
                                            m.template_id, $2) as reason,
               m.purpose <> 'transactional'
               and exists (select 1 from public.renewal_cases rc
                            where rc.id = m.case_id
                              and (rc.stage in ('renewed', 'lost', 'not_taken')
                                   or rc.customer_id is distinct from m.customer_id))
                 as case_closed,
               case
                 when m.purpose = 'marketing'
                   then private.next_allowed_time($2, ($3 ->> 'start')::time,
                                                  ($3 ->> 'end')::time, 'Asia/Kolkata')
                 when m.purpose = 'service' and $4 ->> 'start' is not null
                   then private.next_allowed_time($2, ($4 ->> 'end')::time,
                                                  ($4 ->> 'start')::time)
                 else $2
               end as due
          from public.messages m
         where m.id = any ($1)
      ),
      stopped as (
        update public.messages m
           set status = case when r.case_closed then 'cancelled'
                             when r.reason is not null then 'blocked'
                             else 'queued' end::public.message_status,
               blocked_reason = case when not r.case_closed then r.reason end,
               blocked_at = case when r.reason is not null and not r.case_closed then $2 end,
               cancelled_at = case when r.case_closed then $2 else m.cancelled_at end,
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
         where m.id = r.id and (r.case_closed or r.reason is not null or r.due > $2)
        returning m.id
      )
      select coalesce(array_agg(stopped.id), '{}') from stopped
    $recheck$
      into held
      using expired, as_of, promotional, quiet;
  end if;

  -- What goes to the sender, in claim order: the leased messages less those re-checked above.
  select coalesce(array_agg(claimed[i] order by i), '{}')
    into leased
    from generate_subscripts(claimed, 1) as i
   where (claimed[i]).id <> all (held);
end;
$$;
