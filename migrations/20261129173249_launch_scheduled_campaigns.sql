-- Scheduled campaigns (issue 9): a campaign launched before its start_at is `scheduled`, not
-- queued. Its audience is drawn when it starts, not weeks before (a customer who renewed, moved
-- team or withdrew consent meanwhile is judged as of the start), by a job every minute that
-- launches what is due. Launching early checks everything a launch checks (filter, variants,
-- template) at once, and answers the preview of a launch at start_at, created 0.
--
-- Also: campaign_stats no longer locks the campaign row (it read under FOR UPDATE, so a manager
-- refreshing stats waited on, and held up, a launch or pause of the same campaign).

-- The access check of lock_runnable_campaign, without the lock, for readers.
create function private.runnable_campaign(campaign_id uuid) returns public.campaigns
language plpgsql
stable
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
  select * into c from public.campaigns x where x.id = runnable_campaign.campaign_id;
  if not found or (not backend and c.scope_node_id not in (select private.managed_node_ids())) then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;
  return c;
end;
$$;
comment on function private.runnable_campaign(uuid) is
  'The campaign when the caller may run it, unlocked (for reports): 42501 for agents, analysts '
  'and users without a profile, P0002 outside a manager''s subtree or when it does not exist. '
  'Security definer: called from the campaign functions only.';

create or replace function private.launch_campaign(campaign_id uuid, as_of timestamptz default now())
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  result private.campaign_counts;
begin
  if c.status in ('cancelled', 'completed') then
    raise exception 'campaign is %', c.status using errcode = '55000';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  -- Before its start: checked and answered as the launch at start_at would be, then scheduled.
  if c.status in ('draft', 'scheduled') and c.start_at > as_of then
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
     set status = case when x.status = 'paused' then 'paused' else 'running' end::public.campaign_status,
         launched_at = coalesce(x.launched_at, as_of)
   where x.id = c.id;
  if c.status = 'paused' then
    perform private.hold_campaign_messages(c.id);
  end if;
  return result;
end;
$$;
comment on function private.launch_campaign(uuid, timestamptz) is
  'Launches a campaign: see run_campaign_launch. Before its start_at it is only checked and '
  'scheduled (status scheduled; the counts are those of a launch at start_at, created 0) and '
  'private.launch_scheduled_campaigns launches it when it starts. Idempotent (a second launch '
  'creates nothing). 42501 for non-managers, P0002 outside the caller''s subtree, 55000 for a '
  'cancelled or completed campaign, 22023 for a bad filter or variants. Security definer: '
  'writes messages through the gate.';

create function private.launch_scheduled_campaigns(as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
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
     for update skip locked
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
comment on function private.launch_scheduled_campaigns(timestamptz) is
  'The launch job (pg_cron every minute, service_role): launches every scheduled campaign whose '
  'start_at has come (as_of), its audience drawn now. A campaign that fails to launch stays '
  'scheduled with a warning in the job''s log. Returns how many were launched. Idempotent; '
  'concurrent runs skip each other''s campaigns. Security definer: writes through the gate.';

create or replace function private.campaign_stats(campaign_id uuid)
returns table (
  variant text,
  recipients integer,
  queued integer,
  sent integer,
  delivered integer,
  read integer,
  failed integer,
  blocked integer,
  cancelled integer,
  cost_paise numeric,
  converted integer,
  read_rate numeric,
  read_difference numeric,
  read_significant boolean,
  conversion_rate numeric,
  conversion_difference numeric,
  conversion_significant boolean
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.runnable_campaign(campaign_id);
begin
  return query
  with per as (
    select coalesce(v.code, '-') as variant,
           count(*)::integer as recipients,
           count(*) filter (where m.status in ('queued', 'sending'))::integer as queued,
           count(*) filter (where m.status = 'sent')::integer as sent,
           count(*) filter (where m.status = 'delivered')::integer as delivered,
           count(*) filter (where m.status = 'read')::integer as read,
           count(*) filter (where m.status in ('failed', 'undeliverable', 'dead'))::integer as failed,
           count(*) filter (where m.status = 'blocked' or m.id is null)::integer as blocked,
           count(*) filter (where m.status = 'cancelled')::integer as cancelled,
           -- Reached: delivered or read (a read implies delivery even when its callback came alone).
           count(*) filter (where m.delivered_at is not null or m.read_at is not null)::integer as reached,
           count(*) filter (where m.read_at is not null)::integer as readers,
           count(*) filter (where rc.stage = 'renewed' and first_send.at is not null
                              and rc.closed_at > first_send.at)::integer as converted
      from public.campaign_recipients r
      left join public.campaign_variants v on v.id = r.variant_id
      left join public.messages m on m.id = r.message_id
      left join public.renewal_cases rc on rc.id = r.case_id
      left join lateral (
        select min(m1.sent_at) as at from public.messages m1
         where m1.campaign_id = c.id and m1.customer_id = r.customer_id) first_send on true
     where r.campaign_id = c.id
     group by 1
  ),
  costs as (
    select coalesce(v.code, '-') as variant,
           coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise))
                    filter (where m.status not in ('blocked', 'cancelled', 'queued')), 0) as cost
      from public.messages m
      join public.campaign_recipients r on r.campaign_id = c.id and r.customer_id = m.customer_id
      left join public.campaign_variants v on v.id = r.variant_id
     where m.campaign_id = c.id
     group by 1
  ),
  control as (
    select p.* from per p order by p.variant limit 1
  )
  select p.variant, p.recipients, p.queued, p.sent, p.delivered, p.read, p.failed, p.blocked,
         p.cancelled, coalesce(k.cost, 0), p.converted,
         round(private.proportion(p.readers, p.reached), 4),
         round(private.proportion(p.readers, p.reached) - private.proportion(ct.readers, ct.reached), 4),
         case when p.variant = ct.variant then null
              else coalesce(abs(private.two_proportion_z(p.readers, p.reached, ct.readers, ct.reached)) >= 1.96, false) end,
         round(private.proportion(p.converted, p.recipients), 4),
         round(private.proportion(p.converted, p.recipients) - private.proportion(ct.converted, ct.recipients), 4),
         case when p.variant = ct.variant then null
              else coalesce(abs(private.two_proportion_z(p.converted, p.recipients, ct.converted, ct.recipients)) >= 1.96, false) end
    from per p
    cross join control ct
    left join costs k on k.variant = p.variant
   order by p.variant;
end;
$$;
comment on function private.campaign_stats(uuid) is
  'Per variant (''-'' without variants; the control is the first by code): recipients by where '
  'their current message stands (queued includes sending and held; failed includes undeliverable '
  'and dead; blocked by the gate; the columns sum to recipients), cost in paise of what was sent '
  '(the vendor''s cost, else the estimate), converted = their case renewed after the first send; '
  'read_rate = read / reached (delivered or read), conversion_rate = converted / recipients, '
  'each with the difference to the control and whether a two-proportion z-test finds it '
  'significant at 95 % (null for the control). 42501 / P0002 as launch_campaign. Reads without '
  'locking the campaign. Security definer: reads messages and cases of the whole campaign.';

revoke execute on function private.runnable_campaign(uuid),
  private.launch_scheduled_campaigns(timestamptz) from public, anon, authenticated;
grant execute on function private.launch_scheduled_campaigns(timestamptz) to service_role;

comment on type public.campaign_status is
  'draft: being edited, not launched; scheduled: launched before its start_at, launched by the '
  'job private.launch_scheduled_campaigns when it starts; running: launched, its messages and '
  'flow go on; paused: its queued messages are held and its flow waits; completed: nobody left '
  'in its flow, nothing queued; cancelled: stopped, what was queued cancelled.';

select cron.schedule('launch-scheduled-campaigns', '* * * * *',
                     'select private.launch_scheduled_campaigns(now())');
