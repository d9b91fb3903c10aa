-- A campaign's messages carry the variables the reminder cadence gives, computed for each step
-- when it is queued (issue 9 review). The issue's own flow (WhatsApp, then after three days the
-- email with the payment link, template payment_link_reminder) could not be sent: a campaign's
-- messages had only customer_name, policy_number, expiry_date, premium, product_line and
-- ncb_percent (private.run_campaign_launch), each flow step re-used the previous message's
-- (private.advance_campaign_flows), and the email was blocked missing_variables for everyone,
-- though the API had accepted the step and the preview judged only the first.
--
-- * Every step, the first and each flow step, carries what private.run_reminder_cadence gives
--   (20261130221132, its `wanted`): customer_name, policy_number, case_number, product_line,
--   expiry_date, due_date, premium (private.format_inr), amount_due (what the case still owes),
--   grace_end, ncb_percent, ncb_deadline, and payment_link (private.tracked_link to the case's
--   newest open payment link, when LINK_BASE_URL is valid), computed from the recipient's case
--   when the step is queued: a payment link opened after the launch reaches a later step, and
--   amount_due is what is owed then. Dates are written as the cadence writes them (5 Jan 2027,
--   not 05 Jan 2027), amounts in rupees the Indian way (₹12,000, not 12,000.00).
-- * What costs a look-up per recipient is computed only for a step whose template uses it:
--   amount_due (a sum over the case's installments) and payment_link (a tracked link written per
--   case). A launch whose template uses neither pays for a few more formatted fields per row
--   (format_inr: about 3 µs a message), no more.
-- * Decided: a template using a variable no campaign message carries (agent_name, insurer, ...;
--   withdrawal_link and its tokens only on marketing templates, where the gate signs them) is
--   refused when the campaign, a variant or a step is written (22023, so 422 in the API), as a
--   step naming no template is; and a preview or launch checks every step again (22023), since a
--   template may be edited after the campaign was written. A customer whose case has no open
--   payment link when a step that needs one comes is blocked missing_variables, visibly.
--
-- Restated: private.run_campaign_launch (20261129191246), private.advance_campaign_flows
-- (20261129194843), both with jit off.

create function private.campaign_variables() returns text[]
language sql immutable
set search_path = ''
as $$
  select array['customer_name', 'policy_number', 'case_number', 'product_line', 'expiry_date',
               'due_date', 'premium', 'amount_due', 'grace_end', 'ncb_percent', 'ncb_deadline',
               'payment_link']
$$;
comment on function private.campaign_variables() is
  'The template variables every campaign message carries (those of the reminder cadence), '
  'computed from the recipient''s case when each step is queued; the gate adds withdrawal_link '
  'and its tokens to marketing messages.';

create function private.campaign_template_gaps(campaign_id uuid)
returns table (what text, channel public.channel_type, template_code text, variables text[])
language sql stable
security definer
set search_path = ''
as $$
  with used as (
    -- Each template the campaign sends, in flow order: its own (when it has no variants), its
    -- variants (on its channel), its steps.
    select 0 as step, '' as code, 'the first step' as what, c.channel, c.template_code
      from public.campaigns c
     where c.id = campaign_template_gaps.campaign_id and c.template_code is not null
       and not exists (select 1 from public.campaign_variants v where v.campaign_id = c.id)
    union all
    select 1, v.code, format('variant %s', v.code), c.channel, v.template_code
      from public.campaign_variants v join public.campaigns c on c.id = v.campaign_id
     where v.campaign_id = campaign_template_gaps.campaign_id
    union all
    select s.position, '', format('step %s', s.position), s.channel, s.template_code
      from public.campaign_steps s where s.campaign_id = campaign_template_gaps.campaign_id
  )
  select u.what, u.channel, u.template_code, g.variables
    from used u
   cross join lateral (
     -- The placeholders of its active templates (every language) that a campaign message does
     -- not carry; the withdrawal link only where the gate signs it (a marketing template).
     select array(
       select distinct n
         from public.templates t
        cross join lateral unnest(private.template_names(t.body) || private.template_names(t.subject)) n
        where t.code = u.template_code and t.channel = u.channel and t.active
          and n <> all (private.campaign_variables())
          and not (t.purpose = 'marketing'
                   and n in ('withdrawal_link', 'withdrawal_token_1', 'withdrawal_token_2'))
        order by n) as variables
   ) g
   where cardinality(g.variables) > 0
   order by u.step, u.code;
$$;
comment on function private.campaign_template_gaps(uuid) is
  'The campaign''s templates (its own, its variants'', its steps''; active ones, every language) '
  'that use variables no campaign message carries (private.campaign_variables; withdrawal links '
  'only on marketing templates), with those variables; none when every step can be filled. '
  'Security definer: reads the campaign and the templates whoever writes it.';

create function private.tg_campaigns__check_template_variables() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  written jsonb := to_jsonb(new);
  gap record;
begin
  -- The rows this write is about: a step, a variant, or the campaign's own template and its
  -- variants (on its channel, which may have changed).
  select g.* into gap
    from private.campaign_template_gaps(case tg_table_name when 'campaigns' then new.id
                                        else (written ->> 'campaign_id')::uuid end) g
   where case tg_table_name
           when 'campaign_steps' then g.what = format('step %s', written ->> 'position')
           when 'campaign_variants' then g.what = format('variant %s', written ->> 'code')
           else g.what = 'the first step' or g.what like 'variant %'
         end
   limit 1;
  if found then
    raise exception '% (% %) uses {{%}}, which no campaign message carries', gap.what, gap.channel,
      gap.template_code, array_to_string(gap.variables, '}}, {{')
      using errcode = '22023',
            hint = 'A campaign''s messages carry ' || array_to_string(private.campaign_variables(), ', ')
                   || ' (and a marketing template''s withdrawal_link).';
  end if;
  return null;
end;
$$;
comment on function private.tg_campaigns__check_template_variables() is
  'After insert or update of a campaign''s template, a variant or a step: 22023 when its template '
  'uses a variable no campaign message carries (private.campaign_template_gaps), so that the step '
  'is refused when written rather than blocked missing_variables for every recipient when it '
  'comes. Security definer: reads the templates and the campaign whoever writes it.';
revoke execute on function private.campaign_variables(), private.campaign_template_gaps(uuid),
  private.tg_campaigns__check_template_variables() from public, anon, authenticated, service_role;

-- After the row is written, so that row-level security refuses another subtree's manager first.
create trigger _210_check_template_variables after insert or update of template_code, channel
  on public.campaigns
  for each row execute function private.tg_campaigns__check_template_variables();
create trigger _210_check_template_variables after insert or update of template_code
  on public.campaign_variants
  for each row execute function private.tg_campaigns__check_template_variables();
create trigger _210_check_template_variables after insert or update of template_code, channel
  on public.campaign_steps
  for each row execute function private.tg_campaigns__check_template_variables();

create or replace function private.run_campaign_launch(c public.campaigns, as_of timestamptz)
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  requests jsonb;
  result private.campaign_counts;
  first_wait interval;
  start timestamptz := greatest(as_of, coalesce(c.start_at, as_of));
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  hours jsonb;
  window_start time := c.spread_window_start;
  window_end time := c.spread_window_end;
  window_hours double precision;
  first_send timestamptz;
  window_opened timestamptz;
  launch_rows private.campaign_launch_row[];
  answers private.campaign_gate_answer[];
  unfillable text;
  ncb_days integer := coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90);
  link_base text := private.setting('LINK_BASE_URL') #>> '{}';
  -- The first step's placeholders (every variant, every language): what costs a look-up per
  -- recipient is computed only when they use it.
  placeholders text[];
  needs_amount boolean;
  needs_link boolean;
begin
  if exists (select 1 from public.campaign_variants v where v.campaign_id = c.id) then
    if (select sum(v.weight) from public.campaign_variants v where v.campaign_id = c.id) <> 100 then
      raise exception 'variant weights must sum to 100' using errcode = '22023';
    end if;
  elsif c.template_code is null then
    raise exception 'a campaign needs a template_code or variants' using errcode = '22023';
  end if;
  -- Every step judged, not only the first: a template may have been edited since the campaign
  -- was written to use what no campaign message carries.
  select string_agg(format('%s (%s %s): {{%s}}', g.what, g.channel, g.template_code,
                           array_to_string(g.variables, '}}, {{')), '; ' order by g.n)
    into unfillable
    from private.campaign_template_gaps(c.id) with ordinality as g (what, channel, template_code, variables, n);
  if unfillable is not null then
    raise exception 'the campaign''s templates use variables no campaign message carries: %', unfillable
      using errcode = '22023';
  end if;
  select s.wait into first_wait from public.campaign_steps s where s.campaign_id = c.id and s.position = 2;

  placeholders := array(
    select distinct n
      from public.templates t
     cross join lateral unnest(private.template_names(t.body) || private.template_names(t.subject)) n
     where t.channel = c.channel and t.active
       and t.code in (select v.template_code from public.campaign_variants v where v.campaign_id = c.id
                      union all select c.template_code));
  needs_amount := 'amount_due' = any (placeholders);
  needs_link := 'payment_link' = any (placeholders);
  -- A bad LINK_BASE_URL: the links are left out (the gate blocks the messages that need one as
  -- missing_variables, visibly), as the cadence does.
  if needs_link and not coalesce(link_base, 'http://') ~* '^https?://[!-~]+$' then
    raise warning 'LINK_BASE_URL is not an http(s) URL (%): campaign % goes without payment links',
      left(link_base, 80), c.id;
    needs_link := false;
  end if;

  -- Spreading without a window of its own keeps to the hours the gate allows the purpose
  -- (promotional hours for marketing, outside quiet hours for service), so that sends falling
  -- outside them are not all moved to the same opening minute.
  if c.spread_rate_per_hour is not null and window_start is null then
    hours := case when c.purpose = 'marketing'
                  then coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}')
                  else jsonb_build_object('start', private.setting('QUIET_HOURS') ->> 'end',
                                          'end', private.setting('QUIET_HOURS') ->> 'start') end;
    if (hours ->> 'start') is not null and (hours ->> 'start')::time < (hours ->> 'end')::time then
      window_start := (hours ->> 'start')::time;
      window_end := (hours ->> 'end')::time;
    end if;
  end if;
  -- Sends are laid out in window time counted from the window's opening on the first day, so
  -- one launched late in its window continues the next day instead of running past its end.
  if window_start is not null then
    window_hours := extract(epoch from (window_end - window_start)) / 3600;
    first_send := private.next_allowed_time(start, window_start, window_end);
    window_opened := ((first_send at time zone zone)::date + window_start) at time zone zone;
  end if;

  launch_rows := array(select row(x.*)::private.campaign_launch_row from (
  select a.customer_id, a.case_id, v.id, coalesce(v.template_code, c.template_code),
         format('campaign:%s:%s:1', c.id, a.customer_id),
         case
           when c.spread_rate_per_hour is null then start
           when window_start is null
             then start + make_interval(secs => 3600.0 * (row_number() over w - 1) / c.spread_rate_per_hour)
           else
             -- Hours of window time since the window opened on the first day, laid onto days.
             window_opened
             + make_interval(
                 days => floor((extract(epoch from (first_send - window_opened)) / 3600
                                + (row_number() over w - 1)::double precision / c.spread_rate_per_hour) / window_hours)::integer,
                 secs => 3600.0 * mod((extract(epoch from (first_send - window_opened)) / 3600
                                + (row_number() over w - 1)::double precision / c.spread_rate_per_hour)::numeric, window_hours::numeric))
         end,
         -- The cadence's variables (run_reminder_cadence's `wanted`), as advance_campaign_flows
         -- writes them for the later steps.
         jsonb_strip_nulls(jsonb_build_object(
           'customer_name', cu.full_name,
           'policy_number', p.policy_number,
           'case_number', rc.case_number,
           'product_line', p.product_line,
           'expiry_date', to_char(rc.due_date, 'FMDD Mon YYYY'),
           'due_date', to_char(rc.due_date, 'FMDD Mon YYYY'),
           'premium', private.format_inr(p.premium),
           -- What is still owed on the case (public.case_outstanding's sum), when used.
           'amount_due', case when needs_amount then private.format_inr((
                           select coalesce(sum(o.amount - o.amount_paid), 0)::bigint
                             from public.outstanding_amounts o
                            where o.case_id = rc.id and o.status in ('pending', 'overdue'))) end,
           'grace_end', to_char(rc.grace_end, 'FMDD Mon YYYY'),
           'ncb_percent', p.ncb_percent::text,
           'ncb_deadline', to_char(rc.due_date + ncb_days, 'FMDD Mon YYYY'),
           -- Our tracked redirect to the case's newest open payment link, when used.
           'payment_link', case when needs_link then (
                             select case when pl.short_url ~* '^https?://[!-~]+$'
                                              and length(pl.short_url) <= 2048
                                         then private.tracked_link(rc.id, pl.short_url, 'payment_link',
                                                                   pl.expire_by) end
                               from public.payment_links pl
                              where pl.case_id = rc.id and pl.short_url is not null
                                and pl.status in ('created', 'partially_paid') and pl.expire_by > as_of
                              order by pl.created_at desc
                              limit 1) end))
    from private.campaign_audience(c.id) a
    join public.customers cu on cu.id = a.customer_id
    join public.renewal_cases rc on rc.id = a.case_id
    join public.policies p on p.id = rc.policy_id
    left join lateral (
      -- Deterministic split: a bucket 0-99 from the campaign and customer, then the variant
      -- whose cumulative weight (by code) covers it.
      select x.id, x.template_code
        from (select v.id, v.template_code,
                     sum(v.weight) over (order by v.code) as upto
                from public.campaign_variants v where v.campaign_id = c.id) x
       where x.upto > mod(abs(hashtextextended(c.id::text || a.customer_id::text, 0)), 100)
       order by x.upto
       limit 1
    ) v on true
  window w as (order by a.customer_id)) x);

  requests := coalesce((select jsonb_agg(jsonb_build_object(
                  'customer_id', r.customer_id, 'case_id', r.case_id, 'channel', c.channel,
                  'purpose', c.purpose, 'template_code', r.template_code, 'variables', r.variables,
                  'priority', 9, 'idempotency_key', r.key, 'not_before', r.not_before,
                  'created_by', c.created_by, 'campaign_id', c.id))
                  from unnest(launch_rows) r), '[]');

  -- The gate's answer kept in an array: the statements after it must see the rows it inserted
  -- (a CTE around the call would not).
  answers := array(select row(g.*)::private.campaign_gate_answer
                      from private.enqueue_messages(requests, as_of) g);

  insert into public.campaign_recipients (campaign_id, customer_id, case_id, variant_id, message_id,
                                          due_at, state, next_at)
  select c.id, r.customer_id, r.case_id, r.variant_id, g.message_id, g.next_attempt_at,
         case when first_wait is null then 'done' else 'active' end,
         g.next_attempt_at + first_wait
    from unnest(launch_rows) r join unnest(answers) g on g.idempotency_key = r.key
  on conflict on constraint campaign_recipients_campaign_id_customer_id_key do nothing;

  select (select count(*) from unnest(launch_rows)),
         count(*) filter (where g.status = 'queued'),
         count(*) filter (where g.status = 'queued' and g.next_attempt_at > as_of),
         count(*) filter (where g.status = 'blocked'),
         coalesce((select jsonb_object_agg(b.blocked_reason, b.n)
                     from (select g2.blocked_reason, count(*) as n from unnest(answers) g2
                            where g2.status = 'blocked' group by 1) b), '{}'),
         -- The campaign's queued messages by their campaign, one pass whatever the planner
         -- believes of the outbox: a join with the gate's answer was a nested loop with stale
         -- statistics (an autovacuum after a rolled-back preview recorded the outbox empty), and
         -- `id = any (array)` over a sequential scan compares every row with every id.
         coalesce((select sum(m.estimated_cost_paise) from public.messages m
                    where m.campaign_id = c.id and m.status = 'queued'), 0),
         count(*) filter (where g.created)
    into result
    from unnest(answers) g;
  return result;
end;
$$;
comment on function private.run_campaign_launch(public.campaigns, timestamptz) is
  'The launch of a checked campaign: its audience through one call of the gate (keys '
  'campaign:<id>:<customer>:1, priority 9, not_before spread by the off-peak rate and window, '
  'variants by a deterministic hash split, the variables of private.campaign_variables from each '
  'recipient''s case: amount_due and the tracked payment_link only when the first step''s '
  'templates use them), one insert of recipients. 22023 when weights do not sum to 100, no '
  'template is given, or a step''s template uses a variable no campaign message carries '
  '(private.campaign_template_gaps: every step is judged). Security definer: the gate is the '
  'backend''s. Not executable by clients.';

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
                    'created_by', f.created_by, 'campaign_id', f.campaign_id))
             from unnest(moves) f
             join public.customers cu on cu.id = f.customer_id
             join public.renewal_cases rc on rc.id = f.case_id
             join public.policies p on p.id = rc.policy_id
             left join needs nd on nd.code = f.template_code and nd.channel = f.channel
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
comment on function private.advance_campaign_flows(timestamptz) is
  'The flow job (pg_cron every 5 minutes, service_role): recipients of running campaigns whose '
  'current message is no longer queued and whose next step''s wait has passed since it was sent '
  '(or refused) move to that step when its condition holds (always; not_read: no read receipt; '
  'not_delivered: neither delivered nor read), one gate call for all, keys '
  'campaign:<id>:<customer>:<step>, each message with the variables of '
  'private.campaign_variables computed from the case now (amount_due and the tracked '
  'payment_link only for a template that uses them); the others leave the flow (done). '
  'Campaigns with nobody left and nothing queued complete. Returns counts per outcome: '
  'sent_next_step, blocked_next_step, left_flow, campaigns_completed. Recipients whose case '
  'closed leave the flow; a step whose template is switched off waits; a campaign being paused '
  'or cancelled is skipped this run. Idempotent. Security definer: writes through the gate.';
