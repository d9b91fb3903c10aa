-- Only a draft or a scheduled campaign launches or is previewed (issue 9 review).
--
-- * A launch of a running campaign was accepted (only cancelled and completed ones were refused):
--   it drew the audience again and sent the first step to every customer whose case had entered
--   the scope since, days later, as a "second launch" (the README: "a second launch creates
--   nothing"). A paused one was launched again the same way, then held. A launch of a campaign
--   that is not a draft or scheduled is now 55000 (409 in the API) and creates nothing; a
--   scheduled campaign launched again before its start is checked again, as before.
-- * A preview of a cancelled or completed campaign answered 200 with counts that did not add up
--   (its audience, nothing queued, nothing blocked: every key was already taken), where its
--   launch answered 409. A preview is what a launch would do, so it answers what a launch
--   answers: 55000 unless the campaign is a draft or scheduled.
--
-- private.launch_campaign restated from 20261129173249 (jit off, 20261129174102);
-- private.preview_campaign from 20261129161718 (jit off).

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
  '55000 for a running, paused, completed or cancelled campaign (nothing is created). 42501 for '
  'non-managers, P0002 outside the caller''s subtree, 22023 for a bad filter or variants. '
  'Security definer: writes messages through the gate.';

create or replace function private.preview_campaign(campaign_id uuid, as_of timestamptz default now())
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
  -- What a launch would do: a campaign that cannot launch has no preview.
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
  'launch in a subtransaction and rolls it back, so the numbers are the launch''s. 55000 for a '
  'running, paused, completed or cancelled campaign (it cannot launch), 42501 for non-managers, '
  'P0002 for a campaign outside the caller''s subtree, 22023 for a bad filter or variants. '
  'Security definer: reads the book and the gate''s rules.';

comment on type private.campaign_counts is
  'What a launch (or its preview) gives: audience size, messages queued (deferred included), '
  'queued but not before a later time (spreading, promotional or quiet hours, start_at), blocked '
  'by the gate with counts per reason, the estimated cost of the queued ones in paise, and how '
  'many messages this call created (0 for a preview, or a launch before start_at).';
