-- Resuming a freshly launched campaign could take minutes (found by journey 5,
-- tests/e2e/campaign_ab_flow.test.ts: a resume of 10,000 recipients through the API ran past
-- the 8 s statement timeout, then past 120 s, busy on CPU, waiting on nothing). The resume joins
-- the campaign's held messages to its recipients. A launch minutes old is in no statistics yet
-- (autovacuum has not analyzed the outbox and the recipients since), so the planner takes each
-- side for one row and nested-loops: for each held message, a bitmap AND of its recipient by
-- message_id with the whole campaign's recipients by (campaign_id, customer_id), which reads the
-- campaign's 10,000 index entries every time. With the statistics of those two tables deleted
-- (the planner then takes each side for one row, as for the fresh launch), 7,400 held messages:
-- that plan 18.1 s (7,400 x 1.9 ms on the busy machine), a hash join 79 ms. Nested loops are off
-- for this function: the join is a hash of the two sets, linear whatever the statistics say.
-- Otherwise as in 20261129161718.

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
  resumed integer;
begin
  if c.status <> 'paused' then
    raise exception 'only a paused campaign resumes (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'running', paused_at = null where x.id = c.id;
  -- Back in spread order: each message at its planned time shifted by the length of the pause
  -- (spacing kept; those due before the pause go now), promotional hours kept for marketing.
  with back as (
    update public.messages m
       set next_attempt_at = case when m.purpose = 'marketing'
                                  then private.next_allowed_time(x.at, (promotional ->> 'start')::time,
                                                                 (promotional ->> 'end')::time)
                                  else x.at end,
           deferred_reason = case when x.at > as_of then 'scheduled' end
      from public.campaign_recipients r
     cross join lateral (select greatest(as_of, coalesce(r.due_at, as_of) + (as_of - coalesce(c.paused_at, as_of))) as at) x
     where r.campaign_id = c.id and m.id = r.message_id
       and m.campaign_id = c.id and m.status = 'queued' and m.next_attempt_at = 'infinity'
    returning 1)
  select count(*)::integer into resumed from back;
  return resumed;
end;
$$;
