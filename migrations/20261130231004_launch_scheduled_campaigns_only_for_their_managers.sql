-- A scheduled campaign launches only while its creator may still run it (issue 9 review). The
-- every-minute job (private.launch_scheduled_campaigns) launched a campaign whose start had come
-- as the backend, with no look at who had scheduled it: a manager deactivated, demoted or moved to
-- another branch since still had it sent over their old subtree. At the start the job now checks
-- the creator as the desk's own functions would check them if they launched it then: an active
-- admin, or an active manager whose subtree (their node and below) holds the campaign's scope.
--
-- Decided: a campaign that fails the check is cancelled, not left scheduled. Nothing of it has
-- been sent, so nothing is lost but the plan; left scheduled it would be refused again every
-- minute, unseen. The reason is kept in the new campaigns.cancelled_reason (shown by the API), and
-- the job's log has a warning. A manager who now runs that subtree (or an admin) creates it again
-- if it should still go. A campaign already running goes on when its creator leaves (README,
-- known limits): its subtree's managers and the admins may pause or cancel it.
--
-- private.launch_scheduled_campaigns restated from 20261130231002.

alter table public.campaigns add column cancelled_reason text
  check (cancelled_reason is null or length(cancelled_reason) between 1 and 200);
comment on column public.campaigns.cancelled_reason is
  'Why it was cancelled when nobody cancelled it by hand: the launch job cancels a scheduled '
  'campaign at its start when its creator is no longer active, no longer a manager (or admin), or '
  'no longer manages its scope. Null otherwise.';

create or replace function private.launch_scheduled_campaigns(as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  due record;
  launched integer := 0;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  for due in
    select c.id,
           -- Why its creator may no longer launch it (null: they may), as the desk's functions
           -- would judge them now: an active admin, or an active manager over its scope.
           case
             when p.id is null then 'its creator no longer exists'
             when not p.active then 'its creator is no longer active'
             when p.role not in ('admin', 'manager') then 'its creator is no longer a manager'
             when p.role = 'manager'
                  and not coalesce(scope.path operator(extensions.<@) own.path, false)
               then 'its scope is no longer in its creator''s subtree'
           end as refusal
      from public.campaigns c
      left join public.profiles p on p.id = c.created_by
      left join public.hierarchy_nodes own on own.id = p.node_id
      left join public.hierarchy_nodes scope on scope.id = c.scope_node_id
     where c.status = 'scheduled' and c.start_at <= as_of
     order by c.start_at, c.id
     -- As lock_runnable_campaign: a preview's key-share locks (which FOR UPDATE waited for,
     -- while the preview waited for this launch's lock of the campaign's launches) do not
     -- conflict with it.
     for no key update of c skip locked
  loop
    if due.refusal is not null then
      update public.campaigns x
         set status = 'cancelled', cancelled_at = as_of, cancelled_reason = due.refusal
       where x.id = due.id;
      raise warning 'campaign % not launched, cancelled: %', due.id, due.refusal;
      continue;
    end if;
    -- One campaign's failure (its template withdrawn since it was scheduled) must not hold up
    -- the others: it stays scheduled, and the log of the job run says why.
    begin
      perform private.launch_campaign(due.id, as_of);
      launched := launched + 1;
    exception when others then
      raise warning 'campaign % not launched: % (%)', due.id, sqlerrm, sqlstate;
    end;
  end loop;
  return launched;
end;
$$;
comment on function private.launch_scheduled_campaigns(timestamptz) is
  'The launch job (pg_cron every minute, service_role): launches every scheduled campaign whose '
  'start_at has come (as_of), its audience drawn now, while its creator may still run it (an '
  'active admin, or an active manager whose subtree holds its scope); one whose creator may not '
  'is cancelled, nothing sent, with the reason in cancelled_reason and a warning in the job''s '
  'log. A campaign that fails to launch stays scheduled with a warning in the job''s log. '
  'Returns how many were launched. Idempotent; concurrent runs skip each other''s campaigns. '
  'Security definer: writes through the gate.';
