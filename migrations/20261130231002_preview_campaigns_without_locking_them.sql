-- A preview no longer holds up a pause or a cancel (issue 9 review). GET .../preview took the
-- campaign's row lock FOR UPDATE (private.lock_runnable_campaign) for as long as its rolled-back
-- launch ran (about 30 s for 100,000 recipients), and a pause or cancel asked meanwhile waited for
-- it. Now:
--
-- * private.preview_campaign reads the campaign without locking its row
--   (private.runnable_campaign: the same access check). Previews and launches of one campaign
--   still go one at a time, on a transaction-level advisory lock of the campaign that pause,
--   resume and cancel never take: a launch waits for a preview of the same campaign (each would
--   otherwise wait on the other's message keys), a pause or a cancel does not.
-- * The campaign functions lock the row FOR NO KEY UPDATE (lock_runnable_campaign; the launch
--   job's loop), not FOR UPDATE: they change its status, never its key. The preview's launch
--   writes messages and recipients whose foreign keys take the row's key-share lock until the
--   preview rolls them back, and FOR UPDATE waited for that lock, FOR NO KEY UPDATE does not.
--   Two functions that lock the row still wait for each other, and the flow job's FOR SHARE
--   still skips a campaign being paused or cancelled.
--
-- Restated: private.lock_runnable_campaign (20261129161718), private.preview_campaign and
-- private.launch_campaign (20261130231001), private.launch_scheduled_campaigns (20261129173249,
-- jit off 20261129174102).

create or replace function private.lock_runnable_campaign(campaign_id uuid) returns public.campaigns
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns;
  backend boolean := current_setting('role') in ('none', 'postgres', 'service_role');
begin
  if not backend and coalesce(private.current_app_role() not in ('admin', 'manager'), true) then
    raise exception 'only managers and admins run campaigns' using errcode = '42501';
  end if;
  -- The lock an update of its status takes: the key-share locks of the messages and recipients
  -- a preview is writing (and will roll back) do not hold it up.
  select * into c from public.campaigns x where x.id = lock_runnable_campaign.campaign_id
     for no key update;
  if not found or (not backend and c.scope_node_id not in (select private.managed_node_ids())) then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;
  return c;
end;
$$;
comment on function private.lock_runnable_campaign(uuid) is
  'Locks (FOR NO KEY UPDATE: its status changes, never its key) and returns the campaign when '
  'the caller may run it: 42501 for agents, analysts and users without a profile, P0002 when the '
  'campaign is not in a manager''s subtree (or does not exist). Security definer: called from '
  'the campaign functions only.';

create function private.lock_campaign_launches(campaign_id uuid) returns void
language sql
security definer
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended('py360.campaign_launch:' || campaign_id::text, 0))
$$;
comment on function private.lock_campaign_launches(uuid) is
  'Waits for, then holds until the transaction ends, the lock of the campaign''s launches and '
  'previews (a transaction-level advisory lock): one preview or launch of a campaign at a time. '
  'Pause, resume and cancel do not take it. Security definer: called from the campaign '
  'functions only.';
revoke execute on function private.lock_campaign_launches(uuid) from public, anon, authenticated, service_role;

create or replace function private.preview_campaign(campaign_id uuid, as_of timestamptz default now())
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  -- Read, not locked: the preview changes nothing, and must not hold up a pause or a cancel.
  c public.campaigns := private.runnable_campaign(campaign_id);
  result private.campaign_counts;
begin
  -- What a launch would do: a campaign that cannot launch has no preview.
  if c.status not in ('draft', 'scheduled') then
    raise exception 'only a draft or a scheduled campaign is previewed (this one is %)', c.status
      using errcode = '55000';
  end if;
  -- One preview or launch of the campaign at a time, then the campaign as it is now (a launch
  -- waited for may have launched it).
  perform private.lock_campaign_launches(c.id);
  select * into c from public.campaigns x where x.id = c.id;
  if c.status not in ('draft', 'scheduled') then
    raise exception 'only a draft or a scheduled campaign is previewed (this one is %)', c.status
      using errcode = '55000';
  end if;
  -- The launch itself, undone: numbers equal to the launch's for the same as_of by construction.
  begin
    result := private.run_campaign_launch(c, as_of);
    raise exception 'preview rollback' using errcode = 'PYPRV';
  exception when sqlstate 'PYPRV' then
    null;
  end;
  result.created := 0;
  return result;
end;
$$;
comment on function private.preview_campaign(uuid, timestamptz) is
  'What launching a draft or scheduled campaign now (as_of) would do, without doing it: '
  'audience, queued, deferred, blocked (and per reason), estimated cost in paise. It runs the '
  'launch in a subtransaction and rolls it back, so the numbers are the launch''s. It does not '
  'lock the campaign''s row (a pause or cancel meanwhile does not wait for it); a launch of the '
  'same campaign waits for it (private.lock_campaign_launches). 55000 for a running, paused, '
  'completed or cancelled campaign (it cannot launch), 42501 for non-managers, P0002 for a '
  'campaign outside the caller''s subtree, 22023 for a bad filter or variants. Security definer: '
  'reads the book and the gate''s rules.';

create or replace function private.launch_campaign(campaign_id uuid, as_of timestamptz default now())
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  result private.campaign_counts;
begin
  -- Launched once: running, paused, completed and cancelled campaigns are not launched again.
  if c.status not in ('draft', 'scheduled') then
    raise exception 'only a draft or a scheduled campaign launches (this one is %)', c.status
      using errcode = '55000';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  -- After a preview of the campaign that is running: each would wait on the other's keys.
  perform private.lock_campaign_launches(c.id);
  -- Before its start: checked and answered as the launch at start_at would be, then scheduled.
  if c.start_at > as_of then
    begin
      result := private.run_campaign_launch(c, c.start_at);
      raise exception 'preview rollback' using errcode = 'PYPRV';
    exception when sqlstate 'PYPRV' then
      null;
    end;
    result.created := 0;
    update public.campaigns x set status = 'scheduled' where x.id = c.id and x.status = 'draft';
    return result;
  end if;
  result := private.run_campaign_launch(c, as_of);
  update public.campaigns x
     set status = 'running', launched_at = coalesce(x.launched_at, as_of)
   where x.id = c.id;
  return result;
end;
$$;
comment on function private.launch_campaign(uuid, timestamptz) is
  'Launches a draft or scheduled campaign: see run_campaign_launch. Before its start_at it is '
  'only checked and scheduled (status scheduled; the counts are those of a launch at start_at, '
  'created 0) and private.launch_scheduled_campaigns launches it when it starts. Launched once: '
  '55000 for a running, paused, completed or cancelled campaign (nothing is created). Waits for '
  'a preview of the same campaign (private.lock_campaign_launches). 42501 for non-managers, '
  'P0002 outside the caller''s subtree, 22023 for a bad filter or variants. Security definer: '
  'writes messages through the gate.';

create or replace function private.launch_scheduled_campaigns(as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  due uuid;
  launched integer := 0;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  for due in
    select c.id from public.campaigns c
     where c.status = 'scheduled' and c.start_at <= as_of
     order by c.start_at, c.id
     -- As lock_runnable_campaign: a preview's key-share locks (which FOR UPDATE waited for,
     -- while the preview waited for this launch's lock of the campaign's launches) do not
     -- conflict with it.
     for no key update skip locked
  loop
    -- One campaign's failure (its template withdrawn since it was scheduled) must not hold up
    -- the others: it stays scheduled, and the log of the job run says why.
    begin
      perform private.launch_campaign(due, as_of);
      launched := launched + 1;
    exception when others then
      raise warning 'campaign % not launched: % (%)', due, sqlerrm, sqlstate;
    end;
  end loop;
  return launched;
end;
$$;
