-- Issue 9's sixth review: in a flow whose next step is SMS (to those who did not read, say), a
-- recipient whose WhatsApp message failed and whose SMS fallback (queue_sms_fallbacks) went also
-- got the flow's SMS step: two SMS, both paid for. Such a recipient now leaves the flow at that
-- step, as one who does not meet its condition does.
--
-- Restated: private.advance_campaign_flows (20261201031500), with only the step's condition
-- changed.

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
  ncb_days integer := coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90);
  link_base text := private.setting('LINK_BASE_URL') #>> '{}';
  links_ok boolean;
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  links_ok := coalesce(link_base, 'http://') ~* '^https?://[!-~]+$';

  moves := array(select row(x.*)::private.campaign_flow_move from (
  select r.id, r.campaign_id, r.customer_id, r.case_id, s.position, s.channel, s.template_code,
         c.purpose, c.created_by,
         format('campaign:%s:%s:%s', r.campaign_id, r.customer_id, s.position),
         -- The step's variables are computed below, for those who get it, once locked.
         null::jsonb,
         -- A customer whose case closed (renewed, lapsed, lost) leaves the flow, as does one
         -- whose case has left the campaign's scope (reassigned to an agent outside its subtree):
         -- a manager's campaign reaches their own book only.
         rc.stage is not null and not private.case_stage_is_final(rc.stage)
         and exists (select 1 from public.profiles pr
                       join public.hierarchy_nodes n on n.id = pr.node_id
                       join public.hierarchy_nodes sc on sc.id = c.scope_node_id
                      where pr.id = rc.assignee_id and n.path operator(extensions.<@) sc.path)
         and case s.condition
               when 'always' then true
               when 'not_read' then m.read_at is null
               else m.read_at is null and m.delivered_at is null
             end
         -- An SMS step does not go to a recipient whose failed WhatsApp message already has its
         -- SMS twin on its way or delivered (queue_sms_fallbacks): one SMS for the step, not two.
         and not (s.channel = 'sms'
                  and exists (select 1 from public.messages tw
                               where tw.idempotency_key = 'sms-fallback:' || m.id
                                 and tw.status not in ('blocked', 'cancelled', 'failed',
                                                       'undeliverable', 'dead'))),
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

  if not links_ok and exists (select 1 from unnest(moves) f where f.proceeds) then
    raise warning 'LINK_BASE_URL is not an http(s) URL (%): campaign steps go without payment links',
      left(link_base, 80);
  end if;

  -- The gate's answer in an array: the statements after it must see its rows.
  answers := array(select row(g.*)::private.campaign_gate_answer from private.enqueue_messages(coalesce((
           with needs as (
             -- What each step's templates use that costs a look-up per recipient.
             select t.code, t.channel,
                    bool_or('amount_due' = any (n.names)) as amount,
                    bool_or('payment_link' = any (n.names)) and links_ok as link
               from public.templates t
              cross join lateral (select private.template_names(t.body)
                                         || private.template_names(t.subject) as names) n
              where t.active
                and (t.code, t.channel) in (select f.template_code, f.channel
                                              from unnest(moves) f where f.proceeds)
              group by t.code, t.channel
           ),
           lanes as (
             -- A spread campaign's step keeps the campaign's rate within its window: per campaign
             -- and step, the first slot this run may take, after the last one the step has used
             -- (its recipients' due_at) and not before the window's next opening. Without this
             -- the movers of a night all went at the hours' opening.
             select x.campaign_id, x.step, c.spread_rate_per_hour as rate, w.window_start, w.window_end,
                    greatest(case when w.window_start is null then as_of
                                  else private.next_allowed_time(as_of, w.window_start, w.window_end, zone) end,
                             (select private.spread_send_time(max(r.due_at), 1, c.spread_rate_per_hour,
                                                              w.window_start, w.window_end, zone)
                                from public.campaign_recipients r
                               where r.campaign_id = x.campaign_id and r.step = x.step)) as first
               from (select distinct f.campaign_id, f.step from unnest(moves) f where f.proceeds) x
               join public.campaigns c on c.id = x.campaign_id and c.spread_rate_per_hour is not null
              cross join lateral private.campaign_spread_window(c.purpose, c.spread_window_start,
                                                                c.spread_window_end, strict => false) w
           ),
           slots as (
             select f.key,
                    private.spread_send_time(l.first,
                                             row_number() over (partition by f.campaign_id, f.step
                                                                order by f.customer_id) - 1,
                                             l.rate, l.window_start, l.window_end, zone) as at
               from unnest(moves) f
               join lanes l on l.campaign_id = f.campaign_id and l.step = f.step
              where f.proceeds
           )
           select jsonb_agg(jsonb_build_object(
                    'customer_id', f.customer_id, 'case_id', f.case_id, 'channel', f.channel,
                    'purpose', f.purpose, 'template_code', f.template_code,
                    -- The cadence's variables (run_reminder_cadence's `wanted`) from the case as
                    -- it is now, as run_campaign_launch writes them for the first step.
                    'variables', jsonb_strip_nulls(jsonb_build_object(
                      'customer_name', cu.full_name,
                      'policy_number', p.policy_number,
                      'case_number', rc.case_number,
                      'product_line', p.product_line,
                      'expiry_date', to_char(rc.due_date, 'FMDD Mon YYYY'),
                      'due_date', to_char(rc.due_date, 'FMDD Mon YYYY'),
                      'premium', private.format_inr(p.premium),
                      'amount_due', case when nd.amount then private.format_inr((
                                      select coalesce(sum(o.amount - o.amount_paid), 0)::bigint
                                        from public.outstanding_amounts o
                                       where o.case_id = rc.id and o.status in ('pending', 'overdue'))) end,
                      'grace_end', to_char(rc.grace_end, 'FMDD Mon YYYY'),
                      'ncb_percent', p.ncb_percent::text,
                      'ncb_deadline', to_char(rc.due_date + ncb_days, 'FMDD Mon YYYY'),
                      'payment_link', case when nd.link then (
                                        select case when pl.short_url ~* '^https?://[!-~]+$'
                                                         and length(pl.short_url) <= 2048
                                                    then private.tracked_link(rc.id, pl.short_url,
                                                                              'payment_link', pl.expire_by) end
                                          from public.payment_links pl
                                         where pl.case_id = rc.id and pl.short_url is not null
                                           and pl.status in ('created', 'partially_paid')
                                           and pl.expire_by > as_of
                                         order by pl.created_at desc
                                         limit 1) end)),
                    'priority', 9, 'idempotency_key', f.key,
                    'created_by', f.created_by, 'campaign_id', f.campaign_id)
                    || case when sl.at is not null then jsonb_build_object('not_before', sl.at)
                            else '{}' end)
             from unnest(moves) f
             join public.customers cu on cu.id = f.customer_id
             join public.renewal_cases rc on rc.id = f.case_id
             join public.policies p on p.id = rc.policy_id
             left join needs nd on nd.code = f.template_code and nd.channel = f.channel
             left join slots sl on sl.key = f.key
            where f.proceeds), '[]'), as_of) g);

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
