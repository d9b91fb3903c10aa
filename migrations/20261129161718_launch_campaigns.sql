-- Campaign functions (issue 9, slice 2): the audience (a whitelisted filter, always inside the
-- scope node's subtree), preview and launch (one recipients insert, one gate call; preview runs
-- the very launch in a subtransaction and rolls it back, so its numbers are the launch's by
-- construction), pause / resume / cancel, stats with A/B z-tests, and the flow job.

-- Values of a filter key as text: a string or an array of strings; anything else is refused.
create function private.campaign_filter_values(filter jsonb, key text) returns text[]
language plpgsql immutable
set search_path = ''
as $$
begin
  if not filter ? key then
    return null;
  elsif jsonb_typeof(filter -> key) = 'string' then
    return array[filter ->> key];
  elsif jsonb_typeof(filter -> key) = 'array'
        and not exists (select 1 from jsonb_array_elements(filter -> key) v where jsonb_typeof(v) <> 'string') then
    return array(select jsonb_array_elements_text(filter -> key));
  end if;
  raise exception 'audience filter %: a string or an array of strings', key using errcode = '22023';
end;
$$;
comment on function private.campaign_filter_values(jsonb, text) is
  'The values of one audience-filter key as text[] (null when absent); 22023 unless a string or '
  'an array of strings.';

create function private.campaign_audience(campaign_id uuid)
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
     -- Always inside the scope node's book: the case's assignee or the policy's agent sits in
     -- the subtree. No filter key can widen this.
     and (rc.assignee_id in (select pr.id from public.profiles pr
                               join public.hierarchy_nodes n on n.id = pr.node_id
                              where n.path operator(extensions.<@) scope)
          or p.agent_id in (select pr.id from public.profiles pr
                              join public.hierarchy_nodes n on n.id = pr.node_id
                             where n.path operator(extensions.<@) scope))
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
  'assignee or policy agent is in the scope node''s subtree, narrowed by the whitelisted filter '
  '(values compared as values, never spliced into SQL). 22023 for an unknown key or a malformed '
  'value, P0002 for no such campaign. Security definer: reads the whole book; callers check the '
  'campaign is the caller''s first. Not executable by clients.';

-- Who may run a campaign: admins any, managers those of their subtree, the backend any.
create function private.lock_runnable_campaign(campaign_id uuid) returns public.campaigns
language plpgsql
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
  select * into c from public.campaigns x where x.id = lock_runnable_campaign.campaign_id for update;
  if not found or (not backend and c.scope_node_id not in (select private.managed_node_ids())) then
    raise exception 'no such campaign' using errcode = 'P0002';
  end if;
  return c;
end;
$$;
comment on function private.lock_runnable_campaign(uuid) is
  'Locks and returns the campaign when the caller may run it: 42501 for agents, analysts and '
  'users without a profile, P0002 when the campaign is not in a manager''s subtree (or does not '
  'exist). Security definer: called from the campaign functions only.';

create type private.campaign_counts as (
  audience integer,
  queued integer,
  deferred integer,
  blocked integer,
  blocked_reasons jsonb,
  estimated_cost_paise numeric,
  created integer
);
comment on type private.campaign_counts is
  'What a launch (or its preview) gives: audience size, messages queued (deferred included), '
  'queued but not before a later time (spreading, promotional or quiet hours, start_at), blocked '
  'by the gate with counts per reason, the estimated cost of the queued ones in paise, and how '
  'many messages this call created (0 on a repeated launch).';

-- The launch itself: one gate call, one recipients insert.
create function private.run_campaign_launch(c public.campaigns, as_of timestamptz)
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
as $$
declare
  requests jsonb;
  result private.campaign_counts;
  first_wait interval;
  start timestamptz := greatest(as_of, coalesce(c.start_at, as_of));
  window_hours double precision := extract(epoch from (c.spread_window_end - c.spread_window_start)) / 3600;
begin
  if exists (select 1 from public.campaign_variants v where v.campaign_id = c.id) then
    if (select sum(v.weight) from public.campaign_variants v where v.campaign_id = c.id) <> 100 then
      raise exception 'variant weights must sum to 100' using errcode = '22023';
    end if;
  elsif c.template_code is null then
    raise exception 'a campaign needs a template_code or variants' using errcode = '22023';
  end if;
  select s.wait into first_wait from public.campaign_steps s where s.campaign_id = c.id and s.position = 2;

  if to_regclass('pg_temp.campaign_launch_rows') is null then
  create temporary table campaign_launch_rows (
    customer_id uuid, case_id uuid, variant_id uuid, template_code text, key text,
    not_before timestamptz, variables jsonb) on commit drop;
  end if;
  truncate pg_temp.campaign_launch_rows;

  insert into pg_temp.campaign_launch_rows
  select a.customer_id, a.case_id, v.id, coalesce(v.template_code, c.template_code),
         format('campaign:%s:%s:1', c.id, a.customer_id),
         case
           when c.spread_rate_per_hour is null then start
           when c.spread_window_start is null
             then start + make_interval(secs => 3600.0 * (row_number() over w - 1) / c.spread_rate_per_hour)
           else
             -- Hours of window time from the first window at or after start, laid onto days.
             private.next_allowed_time(start, c.spread_window_start, c.spread_window_end)
             + make_interval(
                 days => floor(((row_number() over w - 1)::double precision / c.spread_rate_per_hour) / window_hours)::integer,
                 secs => 3600.0 * mod(((row_number() over w - 1)::double precision / c.spread_rate_per_hour)::numeric,
                                      window_hours::numeric))
         end,
         jsonb_build_object(
           'customer_name', cu.full_name, 'policy_number', p.policy_number,
           'expiry_date', to_char(rc.due_date, 'DD Mon YYYY'),
           'premium', to_char(p.premium / 100.0, 'FM99,99,99,999.00'),
           'product_line', p.product_line, 'ncb_percent', p.ncb_percent)
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
  window w as (order by a.customer_id);

  requests := coalesce((select jsonb_agg(jsonb_build_object(
                  'customer_id', r.customer_id, 'case_id', r.case_id, 'channel', c.channel,
                  'purpose', c.purpose, 'template_code', r.template_code, 'variables', r.variables,
                  'priority', 9, 'idempotency_key', r.key, 'not_before', r.not_before,
                  'created_by', c.created_by))
                  from pg_temp.campaign_launch_rows r), '[]');

  -- The gate's answer kept in a table of its own: the statements after it must see the rows it
  -- inserted (a CTE around the call would not).
  if to_regclass('pg_temp.campaign_launch_gated') is null then
  create temporary table campaign_launch_gated (
    message_id uuid, idempotency_key text, status public.message_status, blocked_reason text,
    deferred_reason text, next_attempt_at timestamptz, created boolean) on commit drop;
  end if;
  truncate pg_temp.campaign_launch_gated;
  insert into pg_temp.campaign_launch_gated select * from private.enqueue_messages(requests, as_of);

  update public.messages m set campaign_id = c.id
    from pg_temp.campaign_launch_gated g where m.id = g.message_id and g.created;

  insert into public.campaign_recipients (campaign_id, customer_id, case_id, variant_id, message_id,
                                          due_at, state, next_at)
  select c.id, r.customer_id, r.case_id, r.variant_id, g.message_id, g.next_attempt_at,
         case when first_wait is null then 'done' else 'active' end,
         g.next_attempt_at + first_wait
    from pg_temp.campaign_launch_rows r join pg_temp.campaign_launch_gated g on g.idempotency_key = r.key
  on conflict on constraint campaign_recipients_campaign_id_customer_id_key do nothing;

  select (select count(*) from pg_temp.campaign_launch_rows),
         count(*) filter (where g.status = 'queued'),
         count(*) filter (where g.status = 'queued' and g.next_attempt_at > as_of),
         count(*) filter (where g.status = 'blocked'),
         coalesce((select jsonb_object_agg(b.blocked_reason, b.n)
                     from (select g2.blocked_reason, count(*) as n from pg_temp.campaign_launch_gated g2
                            where g2.status = 'blocked' group by 1) b), '{}'),
         coalesce((select sum(m.estimated_cost_paise) from public.messages m
                    join pg_temp.campaign_launch_gated g3 on g3.message_id = m.id
                   where g3.status = 'queued'), 0),
         count(*) filter (where g.created)
    into result
    from pg_temp.campaign_launch_gated g;
  return result;
end;
$$;
comment on function private.run_campaign_launch(public.campaigns, timestamptz) is
  'The launch of a checked campaign: its audience through one call of the gate (keys '
  'campaign:<id>:<customer>:1, priority 9, not_before spread by the off-peak rate and window, '
  'variants by a deterministic hash split), one insert of recipients (a repeated launch adds '
  'nothing). 22023 when weights do not sum to 100 or no template is given. Security definer: '
  'the gate is the backend''s. Not executable by clients.';

create function private.preview_campaign(campaign_id uuid, as_of timestamptz default now())
returns private.campaign_counts
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  result private.campaign_counts;
begin
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
  'What launching now (as_of) would do, without doing it: audience, queued, deferred, blocked '
  '(and per reason), estimated cost in paise. It runs the launch in a subtransaction and rolls '
  'it back, so the numbers are the launch''s. 42501 for non-managers, P0002 for a campaign '
  'outside the caller''s subtree, 22023 for a bad filter or variants. Security definer: reads the '
  'book and the gate''s rules.';

create function private.launch_campaign(campaign_id uuid, as_of timestamptz default now())
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
  'Launches a campaign: see run_campaign_launch. Idempotent (a second launch creates nothing). '
  'Returns the counts. 42501 for non-managers, P0002 outside the caller''s subtree, 55000 for a '
  'cancelled or completed campaign, 22023 for a bad filter or variants. Security definer: '
  'writes messages through the gate.';

create function private.hold_campaign_messages(campaign_id uuid) returns integer
language sql
security definer
set search_path = ''
as $$
  with held as (
    update public.messages m
       set next_attempt_at = 'infinity', deferred_reason = 'campaign_paused'
     where m.campaign_id = hold_campaign_messages.campaign_id and m.status = 'queued'
       and m.next_attempt_at <> 'infinity'
    returning 1)
  select count(*)::integer from held;
$$;
comment on function private.hold_campaign_messages(uuid) is
  'Holds the campaign''s queued messages (next_attempt_at infinity, deferred_reason '
  'campaign_paused): claims never take them. Returns how many. Security definer: the outbox is the '
  'backend''s. Not executable by clients.';

create function private.pause_campaign(campaign_id uuid, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
begin
  if c.status <> 'running' then
    raise exception 'only a running campaign pauses (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'paused', paused_at = as_of where x.id = c.id;
  return private.hold_campaign_messages(c.id);
end;
$$;
comment on function private.pause_campaign(uuid, timestamptz) is
  'Pauses a running campaign: its queued messages are held (never claimed) and its flow does not '
  'advance. Returns how many messages were held. 55000 unless running; 42501 / P0002 as launch.';

create function private.resume_campaign(campaign_id uuid, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  promotional jsonb := coalesce(private.setting('PROMOTIONAL_HOURS'), '{"start": "10:00", "end": "21:00"}');
  resumed integer;
begin
  if c.status <> 'paused' then
    raise exception 'only a paused campaign resumes (this one is %)', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'running', paused_at = null where x.id = c.id;
  -- Back in spread order: each message at its planned time shifted by the length of the pause
  -- (spacing kept; those due before the pause go now), promotional hours kept for marketing.
  with back as (
    update public.messages m
       set next_attempt_at = case when m.purpose = 'marketing'
                                  then private.next_allowed_time(x.at, (promotional ->> 'start')::time,
                                                                 (promotional ->> 'end')::time)
                                  else x.at end,
           deferred_reason = case when x.at > as_of then 'scheduled' end
      from public.campaign_recipients r
     cross join lateral (select greatest(as_of, coalesce(r.due_at, as_of) + (as_of - coalesce(c.paused_at, as_of))) as at) x
     where r.campaign_id = c.id and m.id = r.message_id
       and m.campaign_id = c.id and m.status = 'queued' and m.next_attempt_at = 'infinity'
    returning 1)
  select count(*)::integer into resumed from back;
  return resumed;
end;
$$;
comment on function private.resume_campaign(uuid, timestamptz) is
  'Resumes a paused campaign: its held messages go back to their planned times shifted by the '
  'pause (spread order and spacing kept; promotional hours for marketing), the same rows, so '
  'nothing is sent twice. Returns how many. 55000 unless paused; 42501 / P0002 as launch.';

create function private.cancel_campaign(campaign_id uuid, as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
  cancelled integer;
begin
  if c.status in ('cancelled', 'completed') then
    raise exception 'campaign is already %', c.status using errcode = '55000';
  end if;
  update public.campaigns x set status = 'cancelled', cancelled_at = as_of where x.id = c.id;
  update public.campaign_recipients r set state = 'cancelled', next_at = null
   where r.campaign_id = c.id and r.state = 'active';
  with gone as (
    update public.messages m set status = 'cancelled', cancelled_at = as_of
     where m.campaign_id = c.id and m.status = 'queued'
    returning 1)
  select count(*)::integer into cancelled from gone;
  return cancelled;
end;
$$;
comment on function private.cancel_campaign(uuid, timestamptz) is
  'Cancels a campaign: what is still queued is cancelled, the flow stops. Returns how many '
  'messages were cancelled. 55000 when already cancelled or completed; 42501 / P0002 as launch.';

revoke execute on function private.campaign_filter_values(jsonb, text), private.campaign_audience(uuid),
  private.lock_runnable_campaign(uuid), private.run_campaign_launch(public.campaigns, timestamptz),
  private.hold_campaign_messages(uuid), private.preview_campaign(uuid, timestamptz),
  private.launch_campaign(uuid, timestamptz), private.pause_campaign(uuid, timestamptz),
  private.resume_campaign(uuid, timestamptz), private.cancel_campaign(uuid, timestamptz),
  private.tg_campaigns__stamp_created_by()
  from public, anon, authenticated;
grant execute on function private.preview_campaign(uuid, timestamptz),
  private.launch_campaign(uuid, timestamptz), private.pause_campaign(uuid, timestamptz),
  private.resume_campaign(uuid, timestamptz), private.cancel_campaign(uuid, timestamptz)
  to authenticated, service_role;
