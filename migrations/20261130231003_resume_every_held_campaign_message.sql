-- Resume releases every message its campaign holds (issue 9 review). It released only the
-- messages that were a recipient's current message (campaign_recipients.message_id), but a
-- campaign holds others too: the SMS fallback of a refused WhatsApp message
-- (private.queue_sms_fallbacks, held when queued for a paused campaign or by the pause), and a
-- retry the _310_hold_paused_campaigns trigger held when it came back from a dispatcher. Those
-- stayed queued with next_attempt_at infinity forever, and the campaign never completed (the
-- flow job waits for nothing queued). Now every held message of the campaign (queued,
-- next_attempt_at infinity, deferred_reason campaign_paused) goes back:
--
-- * a recipient's current message at its planned time (campaign_recipients.due_at) shifted by the
--   length of the pause, as before: the spread's order and spacing kept, those due before the
--   pause at once;
-- * any other message at once: a fallback was due when it was queued, and a retry's remaining
--   backoff (at most MESSAGE_RETRY's max_seconds, 30 s to begin with) is not kept by the hold;
-- * then, each through the gate's send windows, as the gate places a message it queues:
--   promotional hours for marketing (as before), past quiet hours for service (the claim deferred
--   those anyway).
--
-- private.resume_campaign restated from 20261130081720 (nested loops off kept).

create or replace function private.resume_campaign(campaign_id uuid, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
-- Every held message of the campaign with its recipient: a hash join of two whole sets.
set enable_nestloop = off
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  resumed integer;
begin
  if c.status <> 'paused' then
    raise exception 'only a paused campaign resumes (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'running', paused_at = null where x.id = c.id;
  with held as (
    -- Every message the campaign holds; a recipient's current one back in spread order at its
    -- planned time shifted by the length of the pause (those due before the pause go now), any
    -- other (an SMS fallback, a retry) now.
    select m.id, m.purpose,
           greatest(as_of, coalesce(r.due_at + (as_of - coalesce(c.paused_at, as_of)), as_of)) as at
      from public.messages m
      left join public.campaign_recipients r on r.message_id = m.id and r.campaign_id = c.id
     where m.campaign_id = c.id and m.status = 'queued'
       and m.next_attempt_at = 'infinity' and m.deferred_reason = 'campaign_paused'
  ),
  timed as (
    -- The gate's send windows: promotional hours for marketing, past quiet hours for service.
    select h.id, h.at,
           case
             when h.purpose = 'marketing'
               then private.next_allowed_time(h.at, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time, zone)
             when h.purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(h.at, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time, zone)
             else h.at
           end as due,
           h.purpose
      from held h
  ),
  back as (
    update public.messages m
       set next_attempt_at = t.due,
           deferred_reason = case
                               when t.due > t.at and t.purpose = 'marketing' then 'promotional_hours'
                               when t.due > t.at then 'quiet_hours'
                               when t.at > as_of then 'scheduled'
                             end
      from timed t
     where m.id = t.id
    returning 1)
  select count(*)::integer into resumed from back;
  return resumed;
end;
$$;
comment on function private.resume_campaign(uuid, timestamptz) is
  'Resumes a paused campaign: every message it holds goes back, the same rows, so nothing is '
  'sent twice. A recipient''s current message at its planned time shifted by the pause (spread '
  'order and spacing kept), any other (an SMS fallback, a retry) at once; each then placed in '
  'the gate''s send windows (promotional hours for marketing, past quiet hours for service). '
  'Returns how many. 55000 unless paused; 42501 / P0002 as launch.';
