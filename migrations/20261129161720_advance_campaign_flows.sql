-- Campaign flows (issue 9, slice 2): private.advance_campaign_flows(as_of), every 5 minutes on
-- pg_cron, moves recipients of running campaigns whose current step was sent (or refused) and
-- whose wait has passed: those for whom the next step's condition holds get its message (one gate
-- call, keys campaign:<id>:<customer>:<step>), the others are done. Set-based and idempotent: a
-- recipient moves once per step; a message still queued (a paused or spread one) holds its
-- recipient back.

create function private.advance_campaign_flows(as_of timestamptz default now())
returns table (outcome text, recipients integer)
language plpgsql
security definer
set search_path = ''
as $$
declare
  sent_next integer;
  blocked_next integer;
  left_flow integer;
  finished integer;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  if to_regclass('pg_temp.campaign_flow_moves') is null then
  create temporary table campaign_flow_moves (
    recipient_id uuid, campaign_id uuid, customer_id uuid, case_id uuid, step smallint,
    channel public.channel_type, template_code text, purpose public.consent_purpose,
    created_by uuid, key text, variables jsonb, proceeds boolean, following interval)
    on commit drop;
  end if;
  truncate pg_temp.campaign_flow_moves;

  insert into pg_temp.campaign_flow_moves
  select r.id, r.campaign_id, r.customer_id, r.case_id, s.position, s.channel, s.template_code,
         c.purpose, c.created_by,
         format('campaign:%s:%s:%s', r.campaign_id, r.customer_id, s.position),
         m.variables,
         case s.condition
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
   where r.state = 'active'
     and r.next_at <= as_of
     and m.status not in ('queued', 'sending')
     and coalesce(m.sent_at, m.blocked_at, m.failed_at, m.cancelled_at, m.queued_at) + s.wait <= as_of
   for update of r skip locked;

  -- The gate's answer in a table of its own: the statements after it must see its rows.
  if to_regclass('pg_temp.campaign_flow_gated') is null then
  create temporary table campaign_flow_gated (
    message_id uuid, idempotency_key text, status public.message_status, blocked_reason text,
    deferred_reason text, next_attempt_at timestamptz, created boolean) on commit drop;
  end if;
  truncate pg_temp.campaign_flow_gated;
  insert into pg_temp.campaign_flow_gated
  select * from private.enqueue_messages(coalesce((
           select jsonb_agg(jsonb_build_object(
                    'customer_id', f.customer_id, 'case_id', f.case_id, 'channel', f.channel,
                    'purpose', f.purpose, 'template_code', f.template_code,
                    'variables', f.variables, 'priority', 9, 'idempotency_key', f.key,
                    'created_by', f.created_by))
             from pg_temp.campaign_flow_moves f where f.proceeds), '[]'), as_of);

  update public.messages m set campaign_id = f.campaign_id
    from pg_temp.campaign_flow_gated g join pg_temp.campaign_flow_moves f on f.key = g.idempotency_key
   where m.id = g.message_id and m.campaign_id is null;

  update public.campaign_recipients r
     set step = case when f.proceeds then f.step else r.step end,
         message_id = case when f.proceeds then g.message_id else r.message_id end,
         due_at = case when f.proceeds then g.next_attempt_at else r.due_at end,
         state = case when f.proceeds and f.following is not null then 'active' else 'done' end,
         next_at = case when f.proceeds and f.following is not null then g.next_attempt_at + f.following end
    from pg_temp.campaign_flow_moves f
    left join pg_temp.campaign_flow_gated g on g.idempotency_key = f.key
   where r.id = f.recipient_id;

  select count(*) filter (where f.proceeds and g.status <> 'blocked'),
         count(*) filter (where f.proceeds and g.status = 'blocked'),
         count(*) filter (where not f.proceeds)
    into sent_next, blocked_next, left_flow
    from pg_temp.campaign_flow_moves f
    left join pg_temp.campaign_flow_gated g on g.idempotency_key = f.key;

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
  'left_flow, campaigns_completed. Idempotent. Security definer: writes through the gate.';

revoke execute on function private.advance_campaign_flows(timestamptz) from public, anon, authenticated;
grant execute on function private.advance_campaign_flows(timestamptz) to service_role;

select cron.schedule('advance-campaign-flows', '*/5 * * * *',
                     'select private.advance_campaign_flows(now())');
