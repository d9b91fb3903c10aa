-- A campaign's spread keeps to the hours its purpose may be sent (issue 9, second review).
--
-- A campaign's own spread window was taken as it was written: a marketing campaign spread over
-- 06:00-09:00 laid its sends there, the gate deferred every one of them to the promotional hours'
-- opening, and all went at 10:00, the burst spreading exists to avoid. A resume shifted the
-- remaining sends by the length of the pause, which for a pause of hours pushed them past the
-- window's end, to gather at the next opening the same way.
--
-- * private.campaign_spread_window(purpose, own window) is the one rule of where a campaign's
--   sends are laid: its own window clipped to the hours the gate allows its purpose (promotional
--   hours, IST, for marketing; outside quiet hours for service), or those hours when it has none. A
--   window that does not meet them at all is refused (22023, so 422 in the API), when the campaign
--   is written and again at its launch (the settings may have changed since; a campaign already
--   running then spreads over the hours alone). Hours that are not one stretch of a day (quiet
--   hours inside a day, held open with equal ends) do not bound it; the gate still defers within
--   them.
-- * private.spread_send_time(first send, n, rate, window, zone) places the n-th send: n / rate
--   hours of window time after the first, laid onto days. One SQL expression, inlined into the
--   launch's and the resume's queries (no search_path of its own: it looks nothing up by name).
-- * The launch lays its audience out with both (a recipient the gate then blocks keeps its slot,
--   left empty: moving the others up was a second write of every queued message, 10 s of a
--   100,000-recipient launch), and hands the gate typed requests rather than JSON. A resume of
--   a spread campaign lays the sends it still holds out again from the moment it resumes, in
--   their order, at the campaign's rate within the same window; an unspread campaign's keep their
--   times shifted by the pause, as before.
--
-- Restated: private.run_campaign_launch (20261130231005), private.resume_campaign
-- (20261130231003).

create function private.campaign_spread_window(purpose public.consent_purpose, own_start time,
                                               own_end time, strict boolean default true,
                                               out window_start time, out window_end time)
language plpgsql stable
set search_path = ''
as $$
declare
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  quiet jsonb := private.setting('QUIET_HOURS');
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  allowed jsonb := case purpose
                     -- TRAI's hours are IST: as clock times of the business's zone (today's).
                     when 'marketing'
                       then jsonb_build_object(
                              'start', to_char(((current_date + (promotional ->> 'start')::time)
                                                at time zone 'Asia/Kolkata') at time zone zone, 'HH24:MI'),
                              'end', to_char(((current_date + (promotional ->> 'end')::time)
                                              at time zone 'Asia/Kolkata') at time zone zone, 'HH24:MI'))
                     when 'service'
                       then jsonb_build_object('start', quiet ->> 'end', 'end', quiet ->> 'start')
                   end;
  allowed_start time := allowed ->> 'start';
  allowed_end time := allowed ->> 'end';
begin
  if allowed_start >= allowed_end then
    -- Not one stretch of a day: equal ends (always open), quiet hours inside a day, or
    -- promotional hours across midnight in the business's zone.
    allowed_start := null;
    allowed_end := null;
  end if;
  if own_start is null or allowed_start is null then
    window_start := coalesce(own_start, allowed_start);
    window_end := coalesce(own_end, allowed_end);
    return;
  end if;
  window_start := greatest(own_start, allowed_start);
  window_end := least(own_end, allowed_end);
  if window_start >= window_end and not strict then
    -- The hours were changed since the campaign was written and no longer meet its window: a
    -- campaign already running spreads over the hours alone.
    window_start := allowed_start;
    window_end := allowed_end;
  elsif window_start >= window_end then
    raise exception 'the spread window %-% lies outside the hours % messages may be sent (%-% %)',
      to_char(own_start, 'HH24:MI'), to_char(own_end, 'HH24:MI'), purpose,
      to_char(allowed_start, 'HH24:MI'), to_char(allowed_end, 'HH24:MI'), zone
      using errcode = '22023',
            hint = case purpose when 'marketing' then 'PROMOTIONAL_HOURS' else 'QUIET_HOURS' end
                   || ' decides them; give a window that meets them, or none.';
  end if;
end;
$$;
comment on function private.campaign_spread_window(public.consent_purpose, time, time, boolean) is
  'Where a spread campaign''s sends are laid each day (business time zone): its own window '
  '(own_start, own_end) clipped to the hours the gate allows the purpose (PROMOTIONAL_HOURS, IST, '
  'as the business zone''s clock for marketing; outside QUIET_HOURS for service), or those hours '
  'without one; nulls when neither bounds it. When the own window does not meet the allowed hours '
  'at all: 22023 if strict (a write, a launch), else the allowed hours alone (a running '
  'campaign''s resume and later steps).';
revoke execute on function private.campaign_spread_window(public.consent_purpose, time, time, boolean)
  from public, anon, authenticated, service_role;

create function private.spread_send_time(first_send timestamptz, n bigint, rate_per_hour integer,
                                         window_start time, window_end time, zone text)
returns timestamptz
language sql immutable
as $$
  select case
           when rate_per_hour is null then first_send
           when window_start is null
             then first_send + make_interval(secs => 3600.0 * n / rate_per_hour)
           else
             -- Hours of window time since the window opened on the first send's day, laid onto
             -- days of (window_end - window_start) hours each.
             (((first_send at time zone zone)::date + window_start) at time zone zone)
             + make_interval(
                 days => floor((extract(epoch from (first_send - (((first_send at time zone zone)::date
                                                                   + window_start) at time zone zone))) / 3600
                                + n::double precision / rate_per_hour)
                               / (extract(epoch from (window_end - window_start)) / 3600))::integer,
                 secs => 3600.0 * mod((extract(epoch from (first_send - (((first_send at time zone zone)::date
                                                                          + window_start) at time zone zone))) / 3600
                                       + n::double precision / rate_per_hour)::numeric,
                                      (extract(epoch from (window_end - window_start)) / 3600)::numeric))
         end
$$;
comment on function private.spread_send_time(timestamptz, bigint, integer, time, time, text) is
  'When the n-th (from 0) send of a campaign spread at rate_per_hour goes, the first at '
  'first_send: n / rate hours later, or with a daily window [window_start, window_end) in time '
  'zone `zone`, n / rate hours of window time later laid onto days (first_send must lie in the '
  'window). Inlined into the queries that use it (no search_path of its own).';
revoke execute on function private.spread_send_time(timestamptz, bigint, integer, time, time, text)
  from public, anon, authenticated, service_role;

create function private.tg_campaigns__check_spread_window() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.campaign_spread_window(new.purpose, new.spread_window_start, new.spread_window_end);
  return null;
end;
$$;
comment on function private.tg_campaigns__check_spread_window() is
  'After insert or update of a campaign''s spread window or purpose: 22023 when the window does '
  'not meet the hours its purpose may be sent (private.campaign_spread_window). Security definer: '
  'reads the settings whoever writes.';
revoke execute on function private.tg_campaigns__check_spread_window()
  from public, anon, authenticated, service_role;

-- After the row is written, so that row-level security refuses another subtree's manager first.
create trigger _220_check_spread_window
  after insert or update of spread_window_start, spread_window_end, purpose on public.campaigns
  for each row when (new.spread_window_start is not null)
  execute function private.tg_campaigns__check_spread_window();

create or replace function private.run_campaign_launch(c public.campaigns, as_of timestamptz)
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  result private.campaign_counts;
  first_wait interval;
  start timestamptz := greatest(as_of, coalesce(c.start_at, as_of));
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  window_start time;
  window_end time;
  first_send timestamptz := start;
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

  -- Spread sends are laid within the campaign's window clipped to the hours its purpose may be
  -- sent (22023 when they do not meet), from the window's first opening at or after the start.
  if c.spread_rate_per_hour is not null then
    select w.window_start, w.window_end into window_start, window_end
      from private.campaign_spread_window(c.purpose, c.spread_window_start, c.spread_window_end) w;
    if window_start is not null then
      first_send := private.next_allowed_time(start, window_start, window_end, zone);
    end if;
  end if;

  launch_rows := array(select row(x.*)::private.campaign_launch_row from (
  select a.customer_id, a.case_id, v.id, coalesce(v.template_code, c.template_code),
         format('campaign:%s:%s:1', c.id, a.customer_id),
         private.spread_send_time(first_send, row_number() over w - 1, c.spread_rate_per_hour,
                                  window_start, window_end, zone),
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

  -- The gate's answer kept in an array: the statements after it must see the rows it inserted
  -- (a CTE around the call would not). Its typed requests built here, not as JSON for
  -- private.enqueue_messages to read back (3.8 s and 0.9 s of a 100,000-recipient launch).
  answers := array(select row(g.*)::private.campaign_gate_answer
                      from private.enqueue_message_batch(array(
                        select row(r.n, r.customer_id, r.case_id, c.channel, c.purpose, r.template_code,
                                   null, r.variables, null, null, 9, r.key, r.not_before, c.created_by,
                                   null, c.id)::private.gate_request
                          from unnest(launch_rows) with ordinality
                               as r (customer_id, case_id, variant_id, template_code, key, not_before,
                                     variables, n)
                         order by r.n), as_of) g);

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
  'campaign:<id>:<customer>:1, priority 9, not_before spread by the off-peak rate within '
  'private.campaign_spread_window, variants by a deterministic hash split, the variables of '
  'private.campaign_variables from each recipient''s case: amount_due and the tracked '
  'payment_link only when the first step''s templates use them), one insert of recipients. 22023 '
  'when weights do not sum to 100, no template is given, a step''s template uses a variable no '
  'campaign message carries (private.campaign_template_gaps: every step is judged), or the '
  'spread window does not meet the hours its purpose may be sent. Security definer: the gate is '
  'the backend''s. Not executable by clients.';

create or replace function private.resume_campaign(campaign_id uuid, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
-- Every held message of the campaign with its recipient: a hash join of two whole sets.
set enable_nestloop = off
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  quiet jsonb := private.setting('QUIET_HOURS');
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  window_start time;
  window_end time;
  first_send timestamptz := as_of;
  resumed integer;
begin
  if c.status <> 'paused' then
    raise exception 'only a paused campaign resumes (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'running', paused_at = null where x.id = c.id;
  if c.spread_rate_per_hour is not null then
    select w.window_start, w.window_end into window_start, window_end
      from private.campaign_spread_window(c.purpose, c.spread_window_start, c.spread_window_end,
                                          strict => false) w;
    if window_start is not null then
      first_send := private.next_allowed_time(as_of, window_start, window_end, zone);
    end if;
  end if;
  with held as (
    -- Every message the campaign holds; a recipient's current one at its planned time shifted by
    -- the length of the pause (those due before the pause go now), any other (an SMS fallback, a
    -- retry) now. A spread campaign's first sends are spread again (below).
    select m.id, m.purpose, r.due_at,
           c.spread_rate_per_hour is not null and r.message_id is not null
             and m.idempotency_key = format('campaign:%s:%s:1', c.id, m.customer_id) as spread,
           greatest(as_of, coalesce(r.due_at + (as_of - coalesce(c.paused_at, as_of)), as_of)) as at
      from public.messages m
      left join public.campaign_recipients r on r.message_id = m.id and r.campaign_id = c.id
     where m.campaign_id = c.id and m.status = 'queued'
       and m.next_attempt_at = 'infinity' and m.deferred_reason = 'campaign_paused'
  ),
  laid as (
    -- A spread campaign's first sends laid out again from the resume, in their planned order, at
    -- its rate within its window (shifted by a pause of hours, they would fall past the window's
    -- end and gather at the next opening).
    select h.id, h.purpose,
           case when h.spread
                then private.spread_send_time(first_send,
                                              row_number() over (partition by h.spread order by h.due_at, h.id) - 1,
                                              c.spread_rate_per_hour, window_start, window_end, zone)
                else h.at end as at
      from held h
  ),
  timed as (
    -- The gate's send windows: promotional hours for marketing, past quiet hours for service.
    select h.id, h.at,
           case
             when h.purpose = 'marketing'
               then private.next_allowed_time(h.at, (promotional ->> 'start')::time,
                                              (promotional ->> 'end')::time, 'Asia/Kolkata')
             when h.purpose = 'service' and quiet ->> 'start' is not null
               then private.next_allowed_time(h.at, (quiet ->> 'end')::time,
                                              (quiet ->> 'start')::time, zone)
             else h.at
           end as due,
           h.purpose
      from laid h
  ),
  back as (
    update public.messages m
       set next_attempt_at = t.due,
           deferred_reason = case
                               when t.due > t.at and t.purpose = 'marketing' then 'promotional_hours'
                               when t.due > t.at then 'quiet_hours'
                               when t.at > as_of then 'scheduled'
                             end
      from timed t
     where m.id = t.id
    returning 1)
  select count(*)::integer into resumed from back;
  return resumed;
end;
$$;
comment on function private.resume_campaign(uuid, timestamptz) is
  'Resumes a paused campaign: every message it holds goes back, the same rows, so nothing is '
  'sent twice. A spread campaign''s first sends laid out again from as_of at its rate within '
  'private.campaign_spread_window (in their planned order); a recipient''s other current message '
  'at its planned time shifted by the pause, any other (an SMS fallback, a retry) at once; each '
  'then placed in the gate''s send windows (promotional hours for marketing, past quiet hours for '
  'service). Returns how many. 55000 unless paused; 42501 / P0002 as launch.';
