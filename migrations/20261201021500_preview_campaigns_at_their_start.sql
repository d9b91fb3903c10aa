-- A campaign's preview is judged when its launch would be (issue 9, third review).
--
-- private.preview_campaign ran the launch at the moment of the preview, while
-- private.launch_campaign runs a campaign that starts later at its start_at: for a campaign
-- starting tomorrow the preview answered queued 71, deferred 71, and the launch a second later
-- queued 71, deferred 0 (the issue's "preview numbers equal launch numbers"). The preview now runs
-- the launch at the later of now and start_at, as the launch does; everything else is as before.
--
-- Restated: private.preview_campaign (20261130231002).

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
  -- The launch itself, undone, at the moment the launch would run it (its start_at when that
  -- is later): numbers equal to the launch's by construction.
  begin
    result := private.run_campaign_launch(c, greatest(as_of, coalesce(c.start_at, as_of)));
    raise exception 'preview rollback' using errcode = 'PYPRV';
  exception when sqlstate 'PYPRV' then
    null;
  end;
  result.created := 0;
  return result;
end;
$$;

comment on function private.preview_campaign(uuid, timestamptz) is
  'What launching a draft or scheduled campaign would do, without doing it: audience, queued, '
  'deferred, blocked (and per reason), estimated cost in paise. It runs the launch at the moment '
  'the launch would (the later of as_of and the campaign''s start_at) in a subtransaction and '
  'rolls it back, so the numbers are the launch''s. It does not lock the campaign''s row (a pause '
  'or cancel meanwhile does not wait for it); a launch of the same campaign waits for it '
  '(private.lock_campaign_launches). 55000 for a running, paused, completed or cancelled campaign '
  '(it cannot launch), 42501 for non-managers, P0002 for a campaign outside the caller''s '
  'subtree, 22023 for a bad filter or variants. Security definer: reads the book and the gate''s '
  'rules.';
