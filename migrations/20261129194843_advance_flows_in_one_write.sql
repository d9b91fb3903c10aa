-- The flow job wrote each next-step message twice, as the launch did until
-- 20261129185629: the gate inserted it, then an update tagged it with its campaign (every foreign
-- key checked again, every index entry rewritten). Its requests now carry campaign_id, which the
-- gate writes as it inserts. Behaviour unchanged.

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
                    'created_by', f.created_by, 'campaign_id', f.campaign_id))
             from unnest(moves) f where f.proceeds), '[]'), as_of) g);

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
