-- Review of issue 9 (a fresh engineer's probes), fixed:
-- * campaign flows: a recipient whose case closed (renewed, lapsed, lost) got the next step all
--   the same; a step whose template was switched off made the whole flow job fail, for every
--   campaign, every five minutes; a pause committed while the job ran left the job's new
--   messages claimable. Now closed cases leave the flow, such a step waits, and the job skips a
--   campaign being paused or cancelled (it takes the campaign row FOR SHARE);
-- * a campaign's or a closed case's message a dispatcher had in hand came back to `queued` when
--   handed back (no send permit, a retry) and went out: now it is cancelled on its way back;
-- * the SMS fallback of a campaign's WhatsApp message was not the campaign's (pause, cancel and
--   stats missed it);
-- * a campaign's audience took cases whose policy's agent sat in the manager's subtree though
--   the case was assigned elsewhere (the manager cannot see it): assignee only, as RLS;
-- * A/B stats counted where each recipient's flow had got to, not the variant's own message, and
--   cost the estimate of messages never sent; conversions are now within
--   CAMPAIGN_CONVERSION_DAYS (30) of the first send, as the issue's "payment within N days";
-- * tasks: a call task outlived its case (and escalated up the hierarchy) and stayed with the
--   old agent when the case was reassigned; a done task's outcome could be rewritten;
-- * a reminder step could name a template code that does not exist (the cadence then sent
--   nothing for it, silently).

create function private.tg_messages__cancel_returning_closed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if (new.campaign_id is not null
      and exists (select 1 from public.campaigns c
                   where c.id = new.campaign_id and c.status = 'cancelled'))
     or (new.case_id is not null and new.purpose <> 'transactional'
         and exists (select 1 from public.renewal_cases rc
                      where rc.id = new.case_id and private.case_stage_is_final(rc.stage))) then
    new.status := 'cancelled';
    new.cancelled_at := now();
    new.deferred_reason := null;
    new.locked_by := null;
    new.locked_until := null;
  end if;
  return new;
end;
$$;
comment on function private.tg_messages__cancel_returning_closed() is
  'Before update on messages, for a message going back from sending to queued (handed back '
  'without a send permit, or to retry): cancelled instead when its campaign was cancelled, or '
  'its case closed and it is not transactional, while a dispatcher had it in hand.';
revoke execute on function private.tg_messages__cancel_returning_closed() from public, anon, authenticated, service_role;

create trigger _320_cancel_returning_closed before update on public.messages
  for each row
  when (old.status = 'sending' and new.status = 'queued'
        and (new.campaign_id is not null or new.case_id is not null))
  execute function private.tg_messages__cancel_returning_closed();

create function private.tg_renewal_cases__follow_tasks() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Planned on every run (execute): the transition tables' sizes differ from run to run.
  execute $q$
    update public.tasks t
       set status = 'done',
           outcome = format('Closed with the case (%s)', n.stage)
      from new_rows n
      join old_rows o on o.id = n.id
     where t.case_id = n.id and t.status <> 'done'
       and private.case_stage_is_final(n.stage) and not private.case_stage_is_final(o.stage)$q$;
  execute $q$
    update public.tasks t
       set assignee_id = n.assignee_id,
           escalated_to = null,
           escalation_level = 0,
           escalated_at = null,
           sla_due_at = now() + make_interval(hours => t.sla_hours)
      from new_rows n
      join old_rows o on o.id = n.id
     where t.case_id = n.id and t.status <> 'done'
       and n.assignee_id is not null and n.assignee_id is distinct from o.assignee_id
       and not private.case_stage_is_final(n.stage)$q$;
  return null;
end;
$$;
comment on function private.tg_renewal_cases__follow_tasks() is
  'Statement trigger: a case that closes closes its open call tasks (done, "Closed with the case '
  '(<stage>)"); a case handed to another agent hands them its open tasks, their SLA restarted '
  'and their escalation reset. Security definer: whoever changes the case.';
revoke execute on function private.tg_renewal_cases__follow_tasks() from public, anon, authenticated, service_role;

create trigger _860_follow_tasks after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__follow_tasks();

create function private.tg_reminder_rules__check_template() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.template_code is not null
     and not exists (select 1 from public.templates t
                      where t.code = new.template_code and t.channel = any (new.channels)) then
    raise exception 'no template % on any of the step''s channels (%)', new.template_code,
      array_to_string(new.channels, ', ') using errcode = '22023';
  end if;
  return null;
end;
$$;
comment on function private.tg_reminder_rules__check_template() is
  'After insert or update of a reminder step: its template_code must name a template on one of '
  'its channels (22023), so that a typo is refused rather than sending nothing.';
revoke execute on function private.tg_reminder_rules__check_template() from public, anon, authenticated, service_role;

-- After the row is written, so that row-level security refuses a non-admin first (42501).
create trigger _200_check_template after insert or update of template_code, channels
  on public.reminder_rules
  for each row execute function private.tg_reminder_rules__check_template();

insert into public.app_settings (key, value, description)
values ('CAMPAIGN_CONVERSION_DAYS', '30',
        'A campaign recipient counts as converted when their case is renewed within this many '
        'days after the campaign''s first message to them (campaign stats).')
on conflict (key) do nothing;

create or replace function private.advance_campaign_flows(as_of timestamptz default now())
returns table (outcome text, recipients integer)
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  sent_next integer;
  blocked_next integer;
  left_flow integer;
  finished integer;
  moves private.campaign_flow_move[];
  answers private.campaign_gate_answer[];
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  moves := array(select row(x.*)::private.campaign_flow_move from (
  select r.id, r.campaign_id, r.customer_id, r.case_id, s.position, s.channel, s.template_code,
         c.purpose, c.created_by,
         format('campaign:%s:%s:%s', r.campaign_id, r.customer_id, s.position),
         m.variables,
         -- A customer whose case closed (renewed, lapsed, lost) leaves the flow.
         rc.stage is not null and not private.case_stage_is_final(rc.stage)
         and case s.condition
               when 'always' then true
               when 'not_read' then m.read_at is null
               else m.read_at is null and m.delivered_at is null
             end,
         (select s2.wait from public.campaign_steps s2
           where s2.campaign_id = r.campaign_id and s2.position = s.position + 1)
    from public.campaign_recipients r
    join public.campaigns c on c.id = r.campaign_id and c.status = 'running'
    join public.campaign_steps s on s.campaign_id = r.campaign_id and s.position = r.step + 1
    join public.messages m on m.id = r.message_id
    left join public.renewal_cases rc on rc.id = r.case_id
   where r.state = 'active'
     and r.next_at <= as_of
     and m.status not in ('queued', 'sending')
     and coalesce(m.sent_at, m.blocked_at, m.failed_at, m.cancelled_at, m.queued_at) + s.wait <= as_of
     -- A step whose template was switched off waits (the others go on) until it is back.
     and exists (select 1 from public.templates t
                  where t.code = s.template_code and t.channel = s.channel and t.active)
   -- A campaign being paused or cancelled right now is left for the next run: its pause then
   -- finds every message this run would have made.
   for update of r skip locked
   for share of c skip locked) x);

  -- The gate's answer in an array: the statements after it must see its rows.
  answers := array(select row(g.*)::private.campaign_gate_answer from private.enqueue_messages(coalesce((
           select jsonb_agg(jsonb_build_object(
                    'customer_id', f.customer_id, 'case_id', f.case_id, 'channel', f.channel,
                    'purpose', f.purpose, 'template_code', f.template_code,
                    'variables', f.variables, 'priority', 9, 'idempotency_key', f.key,
                    'created_by', f.created_by))
             from unnest(moves) f where f.proceeds), '[]'), as_of) g);

  update public.messages m set campaign_id = f.campaign_id
    from unnest(answers) g join unnest(moves) f on f.key = g.idempotency_key
   where m.id = g.message_id and m.campaign_id is null;

  update public.campaign_recipients r
     set step = case when f.proceeds then f.step else r.step end,
         message_id = case when f.proceeds then g.message_id else r.message_id end,
         due_at = case when f.proceeds then g.next_attempt_at else r.due_at end,
         state = case when f.proceeds and f.following is not null then 'active' else 'done' end,
         next_at = case when f.proceeds and f.following is not null then g.next_attempt_at + f.following end
    from unnest(moves) f
    left join unnest(answers) g on g.idempotency_key = f.key
   where r.id = f.recipient_id;

  select count(*) filter (where f.proceeds and g.status <> 'blocked'),
         count(*) filter (where f.proceeds and g.status = 'blocked'),
         count(*) filter (where not f.proceeds)
    into sent_next, blocked_next, left_flow
    from unnest(moves) f
    left join unnest(answers) g on g.idempotency_key = f.key;

  -- A running campaign is completed once nobody is left in its flow and nothing is queued.
  with done as (
    update public.campaigns c set status = 'completed', completed_at = as_of
     where c.status = 'running'
       and not exists (select 1 from public.campaign_recipients r
                        where r.campaign_id = c.id and r.state = 'active')
       and not exists (select 1 from public.messages m
                        where m.campaign_id = c.id and m.status in ('queued', 'sending'))
    returning 1)
  select count(*)::integer into finished from done;

  return query values ('sent_next_step', sent_next), ('blocked_next_step', blocked_next),
                      ('left_flow', left_flow), ('campaigns_completed', finished);
  return;
end;
$$;
comment on function private.advance_campaign_flows(timestamptz) is
  'The flow job (pg_cron every 5 minutes, service_role): recipients of running campaigns whose '
  'current message is no longer queued and whose next step''s wait has passed since it was sent '
  '(or refused) move to that step when its condition holds (always; not_read: no read receipt; '
  'not_delivered: neither delivered nor read), one gate call for all, keys '
  'campaign:<id>:<customer>:<step>; the others leave the flow (done). Campaigns with nobody left '
  'and nothing queued complete. Returns counts per outcome: sent_next_step, blocked_next_step, '
  'left_flow, campaigns_completed. Recipients whose case closed leave the flow; a step whose '
  'template is switched off waits; a campaign being paused or cancelled is skipped this run. '
  'Idempotent. Security definer: writes through the gate.';

create or replace function private.campaign_audience(campaign_id uuid)
returns table (customer_id uuid, case_id uuid)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  c public.campaigns;
  f jsonb;
  unknown text;
  lines text[]; stages text[]; cities text[]; languages text[]; channels text[];
  expiry_from date; expiry_to date; premium_min bigint; premium_max bigint;
  scope extensions.ltree;
begin
  select * into c from public.campaigns x where x.id = campaign_audience.campaign_id;
  if not found then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;
  f := c.audience_filter;
  select string_agg(k, ', ') into unknown from jsonb_object_keys(f) k
   where k not in ('product_line', 'stage', 'city', 'language', 'preferred_channel',
                   'expiry_from', 'expiry_to', 'premium_min', 'premium_max');
  if unknown is not null then
    raise exception 'audience filter: unknown key(s) %', unknown using errcode = '22023';
  end if;
  lines := private.campaign_filter_values(f, 'product_line');
  stages := private.campaign_filter_values(f, 'stage');
  cities := private.campaign_filter_values(f, 'city');
  languages := private.campaign_filter_values(f, 'language');
  channels := private.campaign_filter_values(f, 'preferred_channel');
  if not lines <@ array(select unnest(enum_range(null::public.product_line))::text)
     or not stages <@ array['new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse']
     or not channels <@ array['sms', 'email', 'whatsapp'] then
    raise exception 'audience filter: unknown product_line, stage (open stages only) or preferred_channel'
      using errcode = '22023';
  end if;
  begin
    expiry_from := (f ->> 'expiry_from')::date;
    expiry_to := (f ->> 'expiry_to')::date;
    premium_min := (f ->> 'premium_min')::bigint;
    premium_max := (f ->> 'premium_max')::bigint;
  exception when others then
    raise exception 'audience filter: expiry_from/expiry_to are dates, premium_min/premium_max paise'
      using errcode = '22023';
  end;
  select n.path into scope from public.hierarchy_nodes n where n.id = c.scope_node_id;

  return query
  select distinct on (rc.customer_id) rc.customer_id, rc.id
    from public.renewal_cases rc
    join public.policies p on p.id = rc.policy_id
    join public.customers cu on cu.id = rc.customer_id
   where rc.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse')
     -- Always inside the scope node's book, as the desk sees it (row-level security on cases
     -- goes by assignee): the case's assignee sits in the subtree. No filter key can widen this.
     and rc.assignee_id in (select pr.id from public.profiles pr
                              join public.hierarchy_nodes n on n.id = pr.node_id
                             where n.path operator(extensions.<@) scope)
     and (lines is null or p.product_line::text = any (lines))
     and (stages is null or rc.stage::text = any (stages))
     and (cities is null or lower(cu.city) = any (array(select lower(x) from unnest(cities) x)))
     and (languages is null or cu.language = any (languages))
     and (channels is null or cu.preferred_channel::text = any (channels))
     and (expiry_from is null or rc.due_date >= expiry_from)
     and (expiry_to is null or rc.due_date <= expiry_to)
     and (premium_min is null or p.premium >= premium_min)
     and (premium_max is null or p.premium <= premium_max)
   order by rc.customer_id, rc.due_date, rc.id;
end;
$$;
comment on function private.campaign_audience(uuid) is
  'The campaign''s audience: one row per customer (their soonest-due open case) whose case '
  'assignee is in the scope node''s subtree (the cases its managers see), narrowed by the whitelisted filter '
  '(values compared as values, never spliced into SQL). 22023 for an unknown key or a malformed '
  'value, P0002 for no such campaign. Security definer: reads the whole book; callers check the '
  'campaign is the caller''s first. Not executable by clients.';

create or replace function private.queue_sms_fallbacks(message_ids uuid[], as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  requests jsonb;
  created integer;
begin
  select jsonb_agg(jsonb_build_object(
           'customer_id', m.customer_id, 'case_id', m.case_id, 'channel', 'sms',
           'template_code', t.code, 'language', t.language, 'variables', m.variables,
           'priority', m.priority, 'created_by', m.created_by,
           'idempotency_key', 'sms-fallback:' || m.id))
    into requests
    from public.messages m
    join public.templates t on t.id = m.template_id
   where m.id = any (message_ids) and m.channel = 'whatsapp'
     and exists (select 1 from public.templates s
                  where s.code = t.code and s.channel = 'sms' and s.active);
  if requests is null then
    return 0;
  end if;
  created := (select count(*) from private.enqueue_messages(requests, as_of) e where e.created);
  -- A campaign's fallback belongs to the campaign: paused with it (held), cancelled with it.
  update public.messages f
     set campaign_id = w.campaign_id,
         status = case when c.status = 'cancelled' then 'cancelled' else f.status end,
         cancelled_at = case when c.status = 'cancelled' then as_of else f.cancelled_at end,
         next_attempt_at = case when c.status = 'paused' then 'infinity' else f.next_attempt_at end,
         deferred_reason = case when c.status = 'paused' then 'campaign_paused' else f.deferred_reason end
    from public.messages w
    join public.campaigns c on c.id = w.campaign_id
   where w.id = any (message_ids) and w.campaign_id is not null
     and f.idempotency_key = 'sms-fallback:' || w.id and f.campaign_id is null
     and f.status = 'queued';
  return created;
end;
$$;

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
  conversion_window interval := make_interval(days => coalesce(
    (private.setting('CAMPAIGN_CONVERSION_DAYS') #>> '{}')::integer, 30));
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
                              and rc.closed_at > first_send.at
                              and rc.closed_at <= first_send.at + conversion_window)::integer as converted
      from public.campaign_recipients r
      left join public.campaign_variants v on v.id = r.variant_id
      -- The variant's own message (the first step), not where the flow has got to since.
      left join public.messages m
        on m.idempotency_key = format('campaign:%s:%s:1', c.id, r.customer_id)
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
                    filter (where m.sent_at is not null), 0) as cost
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
  'their variant''s message (the first step) stands (queued includes sending and held; failed includes undeliverable '
  'and dead; blocked by the gate; the columns sum to recipients), cost in paise of every step''s '
  'messages that were sent (the vendor''s cost, else the estimate), converted = their case '
  'renewed within CAMPAIGN_CONVERSION_DAYS (30) after the first send; '
  'read_rate = read / reached (delivered or read), conversion_rate = converted / recipients, '
  'each with the difference to the control and whether a two-proportion z-test finds it '
  'significant at 95 % (null for the control). 42501 / P0002 as launch_campaign. Reads without '
  'locking the campaign. Security definer: reads messages and cases of the whole campaign.';

create or replace function private.tg_tasks__stamp_done() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status = 'done' and (new.status <> 'done' or new.outcome is distinct from old.outcome) then
    raise exception 'a done task stays done, with its outcome' using errcode = '22023';
  end if;
  if new.status = 'done' and old.status <> 'done' then
    new.done_at := now();
  end if;
  if new.status <> 'snoozed' then
    new.snoozed_until := null;
  end if;
  return new;
end;
$$;
