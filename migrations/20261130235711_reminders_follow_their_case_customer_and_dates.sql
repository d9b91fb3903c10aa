-- A case's queued reminders follow its customer and its dates (issue 9, second review):
--
-- * The claim cancels a reminder whose case now belongs to another customer (its policy moved),
--   as it cancels one whose case closed: _850_cancel_reminders_of_former_customer
--   (20261130234153) cancels what it can see, but not a reminder a cadence run queued while the
--   move committed. private.claim_messages restated from 20261130221131 with that condition.
-- * A case re-dated (its policy's end date corrected) while a reminder was queued kept that
--   reminder, which named the old date. Re-dating a case now cancels its queued reminders that
--   are not transactional and frees their cadence steps; the case is visited again at the next
--   run (_900_visit_cases_again) and gets the step its new dates call for.

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
  today date := private.business_date(as_of);
  over_quota boolean;
  deferred uuid[] := '{}';
  switched jsonb := '{}';
begin
  if worker is null or length(worker) = 0 or batch_size is null or batch_size not between 1 and 1000 then
    raise exception 'claim_messages needs a worker name and a batch of 1 to 1000' using errcode = '22023';
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
       where c.id <> all (held) and c.provider is not null
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
         where c.id <> all (held) and c.provider is not null
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
  select c.* from unnest(claimed) c where c.id <> all (held);
end;
$$;

comment on function private.claim_messages(text, integer, timestamptz) is
  'Claims up to batch_size due messages (lowest priority first, then the earliest '
  'next_attempt_at; skip locked) under a lease of MESSAGE_LEASE_SECONDS for `worker`, counting '
  'the attempt; a message whose lease expired MESSAGE_STALL_LIMIT times becomes a dead letter '
  'instead. Each message''s rules are asked again (those of private.message_block_reason, for the '
  'batch in one join): one no longer allowed is blocked with the reason, one outside its hours '
  'deferred, neither counted as an attempt; one that is not transactional and whose case was '
  'renewed, lost or not taken, or moved to another customer, since it was queued is cancelled. Daily quotas: each message handed to a provider '
  'counts one in private.provider_usage for the business day; beyond the provider''s quota '
  '(private.provider_quota) it moves to the channel''s fallback provider while that has quota '
  'left, else waits queued until the next business day (deferred_reason quota_exhausted). '
  'Returns what the providers need (private.claimed_message), in claim order.';

create function private.tg_renewal_cases__cancel_reminders_of_old_dates() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.messages m
     set status = 'cancelled', cancelled_at = now(), deferred_reason = null,
         next_attempt_at = now(), updated_at = now(),
         -- The step is the case's again: its next visit judges it by the new dates.
         idempotency_key = case when m.idempotency_key like 'cadence:%'
                                then format('%s:case-redated:%s', m.idempotency_key, m.id)
                                else m.idempotency_key end
   where m.case_id = new.id and m.status = 'queued' and m.purpose <> 'transactional';
  return null;
end;
$$;

comment on function private.tg_renewal_cases__cancel_reminders_of_old_dates() is
  'Trigger (_850_cancel_reminders_of_old_dates, after update of due_date or grace_end on '
  'renewal_cases, per row that changes them): the case''s queued messages that are not '
  'transactional named its old dates; they are cancelled and the cadence steps among them freed '
  '(key suffix :case-redated:<message id>). Security definer: whoever re-dates the case.';

revoke execute on function private.tg_renewal_cases__cancel_reminders_of_old_dates()
  from public, anon, authenticated, service_role;

-- Per row, and only when a date changes (rare): no cost to the jobs' bulk updates.
create trigger _850_cancel_reminders_of_old_dates after update of due_date, grace_end on public.renewal_cases
  for each row when (old.due_date is distinct from new.due_date or old.grace_end is distinct from new.grace_end)
  execute function private.tg_renewal_cases__cancel_reminders_of_old_dates();
