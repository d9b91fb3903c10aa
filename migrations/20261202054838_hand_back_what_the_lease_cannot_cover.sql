-- Nothing sent twice when a batch outlasts its lease (issue 7, found by a review).
--
-- A dispatcher sends a batch 32 at a time and records its results once the slowest send is
-- over. A batch whose sends queued behind slow vendors (6 s each here, under the 10 s timeout)
-- outlasted its 15 s lease: another dispatcher took the messages not yet sent, as an expired
-- lease allows, sent them, and then the first sent them too (36 of 100 twice). The drain now
-- starts a send only while it can end, and its result be recorded, within the lease
-- (functions/_shared/dispatch.ts); the messages it could not start in time are handed back unsent
-- at once, with this reason. private.release_messages gains the reason (rate_limit, as before,
-- for messages without a send permit; lease_ran_short for these).

drop function private.release_messages(text, uuid[], timestamptz, timestamptz);

create function private.release_messages(worker text, message_ids uuid[], retry_at timestamptz,
                                         as_of timestamptz default now(),
                                         reason text default 'rate_limit')
returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  released integer;
begin
  if reason is null or reason not in ('rate_limit', 'lease_ran_short') then
    raise exception 'a message is handed back for rate_limit or lease_ran_short, not %', reason
      using errcode = '22023';
  end if;

  with handed_back as (
    update public.messages m
       set status = 'queued',
           attempts = m.attempts - 1,
           provider_attempts = case when switch.fallback is not null then 0
                                    else m.provider_attempts - 1 end,
           provider = coalesce(switch.fallback, m.provider),
           next_attempt_at = case when switch.fallback is not null then as_of
                                  else greatest(coalesce(retry_at, as_of), as_of) end,
           deferred_reason = case when switch.fallback is not null then null else reason end,
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
       and cur.locked_by = worker and cur.status = 'sending'
    returning cur.provider, cur.sending_at
  ),
  given_back as (
    -- Not sent: the unit the claim counted on the provider's day is given back.
    update private.provider_usage u
       set sent = greatest(u.sent - g.n, 0)
      from (select h.provider, private.business_date(h.sending_at) as day, count(*)::integer as n
              from handed_back h where h.provider is not null
             group by h.provider, private.business_date(h.sending_at)) g
     where u.provider = g.provider and u.day = g.day
  )
  select count(*)::integer into released from handed_back;
  return released;
end;
$$;

revoke execute on function private.release_messages(text, uuid[], timestamptz, timestamptz, text)
  from public;
grant execute on function private.release_messages(text, uuid[], timestamptz, timestamptz, text)
  to service_role;

comment on function private.release_messages(text, uuid[], timestamptz, timestamptz, text) is
  'Hands claimed messages back unsent: queued again at retry_at without counting the attempt, or '
  'at once on the channel''s fallback provider when their provider''s breaker is open; the unit '
  'each counted in private.provider_usage is given back. `reason` (deferred_reason): rate_limit '
  '(no send permit yet, the default) or lease_ran_short (the dispatcher could not start the send '
  'in time to end within its lease). Only the worker holding them may. Returns how many were '
  'released; 22023 for another reason.';

comment on column public.messages.deferred_reason is
  'Why it waits beyond its queue time: promotional_hours (TRAI: marketing 10:00-21:00 IST), '
  'quiet_hours, scheduled, retry, rate_limit (no send permit yet), lease_ran_short (handed back '
  'unsent: its dispatcher''s lease would have run out before the send ended), quota_exhausted '
  '(its provider and the channel''s fallback used their daily quota: it goes at the start of the '
  'next business day).';
