-- The cadence visits only the cases that can have something to send (issue 9's goal: the daily
-- jobs and the cadence within 10 s together on the 1M-policy book). It visited every open case
-- each day (221,812 on that book: a join with the policies and the ladder, then a probe of the
-- messages per case, 4.3 s of its 12.6 s) to send the 18,693 messages of the few whose step had
-- come. Now each open case has its next visit day in private.cadence_next_visits:
-- - a new case is visited at once (an insert trigger);
-- - after a visit, the case comes back on the day of its ladder's next step, or the same day
--   again while its latest step is still owed (the customer was engaged, or no channel could take
--   it): exactly the cases on which the old full pass could act;
-- - what moves a step's day or decides whether it applies moves the case to the front again: its
--   due or grace date (renewal_cases), its policy's line, premium or NCB (policies);
-- - the ladder and the settings it reads (NCB_RETENTION_DAYS, CALL_TASK_MIN_PREMIUM_PAISE) are
--   fingerprinted in private.cadence_state: when they change, or when a run's day is earlier than
--   the last one (tests walking back in time), every open case is visited again, as before.
-- A missed day is caught up: a visit day that has passed is still due. Runs take a lock, one at a
-- time. What a visit decides is unchanged: the same steps, channels, reasons and outcomes.

create table private.cadence_next_visits (
  case_id uuid primary key references public.renewal_cases (id) on delete cascade,
  visit_on date not null
);
create index cadence_next_visits_visit_on_idx on private.cadence_next_visits (visit_on);

comment on table private.cadence_next_visits is
  'Per open renewal case, the business day (IST by default) on which private.run_reminder_cadence '
  'visits it next: -infinity for a new or changed case, the day of its next ladder step, the run''s '
  'own day while its latest step is still owed. A case with no step left has no row.';

create table private.cadence_state (
  id boolean primary key default true check (id),
  last_day date not null,
  fingerprint text not null
);

comment on table private.cadence_state is
  'One row: the business day of the last cadence run and the fingerprint (md5) of the ladder and '
  'settings it ran with; another fingerprint or an earlier day makes the next run visit every case.';

revoke all on private.cadence_next_visits, private.cadence_state from public, anon, authenticated, service_role;

-- New cases, and changed dates, lines, premiums or NCB, are visited at the next run.
create function private.tg__visit_cases_again() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_table_name = 'policies' then
    insert into private.cadence_next_visits (case_id, visit_on)
    select c.id, '-infinity' from public.renewal_cases c
     where c.policy_id = new.id and c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
    on conflict (case_id) do update set visit_on = excluded.visit_on;
  elsif tg_op = 'UPDATE' then
    insert into private.cadence_next_visits (case_id, visit_on)
    select new.id, '-infinity' where new.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
    on conflict (case_id) do update set visit_on = excluded.visit_on;
  else
    insert into private.cadence_next_visits (case_id, visit_on)
    select n.id, '-infinity' from new_cases n
     where n.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
    on conflict (case_id) do update set visit_on = excluded.visit_on;
  end if;
  return null;
end;
$$;

comment on function private.tg__visit_cases_again() is
  'Trigger: puts a new open case, or one whose due or grace date, policy line, premium or NCB '
  'changed, at the front of private.cadence_next_visits (visited at the next cadence run).';

revoke execute on function private.tg__visit_cases_again() from public, anon, authenticated, service_role;

create trigger _900_visit_new_cases after insert on public.renewal_cases
  referencing new table as new_cases
  for each statement execute function private.tg__visit_cases_again();
create trigger _900_visit_redated_cases after update of due_date, grace_end on public.renewal_cases
  for each row when ((old.due_date, old.grace_end) is distinct from (new.due_date, new.grace_end))
  execute function private.tg__visit_cases_again();
create trigger _900_visit_cases_of_changed_policies
  after update of product_line, premium, ncb_percent on public.policies
  for each row when ((old.product_line, old.premium, old.ncb_percent)
                     is distinct from (new.product_line, new.premium, new.ncb_percent))
  execute function private.tg__visit_cases_again();
-- Bulk loads under session_replication_role = replica must not leave cases unvisited.
alter table public.renewal_cases enable always trigger _900_visit_new_cases;
alter table public.renewal_cases enable always trigger _900_visit_redated_cases;
alter table public.policies enable always trigger _900_visit_cases_of_changed_policies;

create or replace function private.run_reminder_cadence(as_of timestamptz default now())
returns table (outcome text, cases bigint)
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  today date;
  ncb_days integer := coalesce((private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer, 90);
  payment_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_PAYMENT_IN_PROGRESS_HOURS') #>> '{}')::integer, 24));
  reply_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_RECENT_REPLY_HOURS') #>> '{}')::integer, 24));
  link_window interval := make_interval(hours => coalesce(
    (private.setting('CADENCE_LINK_OPENED_HOURS') #>> '{}')::integer, 24));
  bounce_window interval := make_interval(days => coalesce(
    (private.setting('CADENCE_BOUNCE_LOOKBACK_DAYS') #>> '{}')::integer, 30));
  task_min bigint := coalesce((private.setting('CALL_TASK_MIN_PREMIUM_PAISE') #>> '{}')::bigint, 5000000);
  link_base text := private.setting('LINK_BASE_URL') #>> '{}';
  links_ok boolean;
  requests jsonb;
  results jsonb;
  engaged bigint;
  no_channel bigint;
  opened bigint;
  ladder_fingerprint text;
  last_run_day date;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'run_reminder_cadence needs a finite as_of' using errcode = '22023';
  end if;
  today := private.business_date(as_of);
  -- One run at a time: a second waits, then finds the first one's visits done.
  perform pg_advisory_xact_lock(hashtext('py360.run_reminder_cadence'));
  ladder_fingerprint := md5(concat_ws('|',
    (select string_agg(r::text, ';' order by r.id) from public.reminder_rules r),
    private.setting('NCB_RETENTION_DAYS')::text, private.setting('CALL_TASK_MIN_PREMIUM_PAISE')::text));
  select s.last_day into last_run_day
    from private.cadence_state s where s.fingerprint = ladder_fingerprint;
  if last_run_day is null or last_run_day > today then
    -- Another ladder or settings (or no run yet, or a day before the last): visit every open case.
    delete from private.cadence_next_visits;
    insert into private.cadence_next_visits (case_id, visit_on)
    select c.id, '-infinity' from public.renewal_cases c
     where c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken');
    analyze private.cadence_next_visits;
  end if;
  insert into private.cadence_state (last_day, fingerprint) values (today, ladder_fingerprint)
  on conflict (id) do update set last_day = excluded.last_day, fingerprint = excluded.fingerprint;
  -- A bad LINK_BASE_URL must not cost every customer their reminder: the links are left out
  -- (a template that needs one is blocked as missing_variables, visibly) and the log says why.
  links_ok := coalesce(link_base, 'http://') ~* '^https?://[!-~]+$';
  if not links_ok then
    raise warning 'LINK_BASE_URL is not an http(s) URL (%): reminders go without payment links',
      left(link_base, 80);
  end if;

  with visiting as materialized (
    -- The cases whose visit day has come, with the row version read (see moved, below).
    select v.case_id, v.xmin as version from private.cadence_next_visits v where v.visit_on <= today
  ),
  open_cases as materialized (
    select c.id as case_id, c.customer_id, c.assignee_id, c.case_number, c.due_date, c.grace_end,
           p.product_line, p.policy_number, p.premium, p.ncb_percent
      from visiting v
      join public.renewal_cases c on c.id = v.case_id
      join public.policies p on p.id = c.policy_id
     where c.stage not in ('renewed', 'lapsed', 'lost', 'not_taken')
  ),
  latest as (
    -- Per case and kind, the latest step whose day has come.
    select distinct on (o.case_id, r.kind)
           o.*, r.id as rule_id, r.kind, r.offset_days, r.channels, r.template_code, r.purpose,
           r.applies_until, r.min_premium, r.sla_hours
      from open_cases o
      join public.reminder_rules r
        on r.product_line = o.product_line and r.active and o.due_date + r.offset_days <= today
     order by o.case_id, r.kind, r.offset_days desc
  ),
  due as (
    select l.*,
           exists (select 1 from public.payment_orders po
                    where po.case_id = l.case_id and po.status in ('creating', 'created', 'attempted')
                      and po.created_at > as_of - payment_window and po.created_at <= as_of)
           or exists (select 1 from public.payment_links pl
                       where pl.case_id = l.case_id and pl.status = 'partially_paid'
                         and pl.updated_at > as_of - payment_window and pl.updated_at <= as_of)
           or exists (select 1 from public.whatsapp_windows ww
                       where ww.customer_id = l.customer_id
                         and ww.last_inbound_at > as_of - reply_window
                         and ww.last_inbound_at <= as_of)
           -- A tracked link of the case (the payment link of an earlier reminder) opened lately.
           or exists (select 1 from public.link_clicks lc
                       where lc.case_id = l.case_id
                         and lc.clicked_at > as_of - link_window and lc.clicked_at <= as_of) as engaged
      from latest l
     where (l.applies_until is null
            or (l.applies_until = 'grace_end' and today <= l.grace_end)
            or (l.applies_until = 'ncb_deadline' and today <= l.due_date + ncb_days
                and l.ncb_percent > 0))
       and case l.kind
             when 'message' then not exists (
               select 1 from public.messages m
                where m.idempotency_key = format('cadence:%s:%s', l.case_id, l.rule_id))
             else l.premium >= coalesce(l.min_premium, task_min)
                  and not exists (select 1 from public.tasks t
                                   where t.case_id = l.case_id and t.reminder_rule_id = l.rule_id)
           end
  ),
  new_tasks as (
    insert into public.tasks (case_id, reminder_rule_id, assignee_id, kind, due_at, sla_hours, sla_due_at)
    select d.case_id, d.rule_id, d.assignee_id, 'call', as_of, d.sla_hours,
           as_of + make_interval(hours => d.sla_hours)
      from due d
     where d.kind = 'task' and not d.engaged
    on conflict (case_id, reminder_rule_id) do nothing
    returning 1
  ),
  variants as materialized (
    -- The variant the gate will pick, once per template, channel and customer language (not
    -- per case): the customer's language, else English, else any.
    select distinct on (w.template_code, w.channel, w.language)
           w.template_code as code, w.channel, w.language, t.id, t.purpose
      from (select distinct d.template_code, ch.channel, cu.language
              from due d
              join public.customers cu on cu.id = d.customer_id
             cross join lateral unnest(d.channels) as ch (channel)
             where d.kind = 'message' and not d.engaged) w
      join public.templates t on t.code = w.template_code and t.channel = w.channel and t.active
     order by w.template_code, w.channel, w.language,
              t.language = w.language desc, t.language = 'en' desc, t.language
  ),
  offered as materialized (
    select d.case_id, d.rule_id, ch.channel, ch.ord,
           -- What the request needs, carried along so that nothing below joins two CTEs (the
           -- planner, estimating a handful of rows for each, nested-looped them: quadratic).
           d.customer_id, d.purpose, d.template_code, d.policy_number, d.case_number,
           d.product_line, d.due_date, d.premium, d.grace_end, d.ncb_percent,
           cu.full_name as customer_name,
           ch.channel = cu.preferred_channel as preferred,
           row_number() over (partition by d.case_id
                              order by ch.channel = cu.preferred_channel desc, ch.ord) as rank,
           row_number() over () as qn,
           v.id as template_id,
           v.purpose as template_purpose,
           case ch.channel when 'email' then lower(cu.email) else cu.phone end as recipient,
           case
             when v.id is null then 'no_template'
             when exists (select 1 from public.messages m
                           where m.customer_id = d.customer_id and m.channel = ch.channel
                             and m.status = 'undeliverable'
                             and coalesce(m.failed_at, m.updated_at) > as_of - bounce_window)
               then 'recent_undeliverable'
           end as prior_refusal
      from due d
      join public.customers cu on cu.id = d.customer_id
      cross join lateral unnest(d.channels) with ordinality as ch (channel, ord)
      left join variants v
        on v.code = d.template_code and v.channel = ch.channel
       and v.language is not distinct from cu.language
     where d.kind = 'message' and not d.engaged
  ),
  asked as materialized (
    -- The gate's rules for every channel still in the running, in one call.
    select b.n, b.reason
      from private.message_block_reasons((
             select array_agg(row(o.customer_id, o.channel, o.template_purpose, o.recipient,
                                  o.template_id)::private.send_question order by o.qn)
               from offered o where o.prior_refusal is null), as_of) b
  ),
  candidates as (
    select o.*, coalesce(o.prior_refusal, a.reason) as refusal
      from offered o
      left join (select row_number() over (order by x.qn) as n, x.qn
                   from offered x where x.prior_refusal is null) p on p.qn = o.qn
      left join asked a on a.n = p.n
  ),
  chosen as (
    select distinct on (c.case_id) c.*
      from candidates c
     where c.refusal is null or c.refusal not in ('no_template', 'recent_undeliverable')
     order by c.case_id, c.refusal is null desc, c.rank
  ),
  explained as (
    -- The channels refused before the chosen one (all of them when none was allowed): a join
    -- and a group, not a subquery per case over the materialised candidates.
    select ch.case_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
           ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
           ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name,
           string_agg(format('%s: %s', c.channel, c.refusal), ', ' order by c.rank)
             filter (where c.refusal is not null and (ch.refusal is not null or c.rank < ch.rank))
             as refused
      from chosen ch
      join candidates c on c.case_id = ch.case_id
     group by ch.case_id, ch.rule_id, ch.channel, ch.preferred, ch.refusal, ch.customer_id,
              ch.purpose, ch.template_code, ch.policy_number, ch.case_number, ch.product_line,
              ch.due_date, ch.premium, ch.grace_end, ch.ncb_percent, ch.customer_name
  ),
  wanted as (
    select jsonb_build_object(
             'customer_id', e.customer_id, 'case_id', e.case_id, 'channel', e.channel,
             'purpose', e.purpose, 'template_code', e.template_code, 'priority', 5,
             'idempotency_key', format('cadence:%s:%s', e.case_id, e.rule_id),
             'variables', jsonb_strip_nulls(jsonb_build_object(
               'customer_name', e.customer_name,
               'policy_number', e.policy_number,
               'case_number', e.case_number,
               'product_line', e.product_line,
               'expiry_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'due_date', to_char(e.due_date, 'FMDD Mon YYYY'),
               'premium', private.format_inr(e.premium),
               -- What is still owed on the case (what a grace reminder asks for).
               'amount_due', private.format_inr(public.case_outstanding(e.case_id)),
               'grace_end', to_char(e.grace_end, 'FMDD Mon YYYY'),
               'ncb_percent', e.ncb_percent::text,
               'ncb_deadline', to_char(e.due_date + ncb_days, 'FMDD Mon YYYY'),
               -- Our tracked redirect to it, so that opening it counts (one call per
               -- message that carries a link; the same URL for every message of the case).
               'payment_link', case when links_ok and pl.short_url ~* '^https?://[!-~]+$'
                                         and length(pl.short_url) <= 2048 then
                                 private.tracked_link(e.case_id, pl.short_url, 'payment_link',
                                                      pl.expire_by)
                               end)),
             -- Why this channel, written on the message by the gate.
             'choice_reason', case
                                when e.refusal is not null then format('none_allowed (%s)', e.refused)
                                when e.refused is null then
                                  case when e.preferred then 'preferred_channel' else 'first_choice' end
                                else format('first_allowed (%s)', e.refused)
                              end) as request
      from explained e
      -- The case's open payment link, if any: the newest still payable.
      left join lateral (
        select p.short_url, p.expire_by from public.payment_links p
         where p.case_id = e.case_id and p.short_url is not null
           and p.status in ('created', 'partially_paid') and p.expire_by > as_of
         order by p.created_at desc
         limit 1
      ) pl on true
  ),
  next_visits as (
    -- Per case visited: the same day again while a step is still owed (engaged, or no channel
    -- took it), else the day of its ladder's next step; none when no step is left.
    select x.case_id, min(x.visit_on) as visit_on
      from (select d.case_id, today as visit_on from due d where d.engaged
            union all
            select o.case_id, today
              from (select d.case_id from due d where d.kind = 'message' and not d.engaged
                    except
                    select ch.case_id from chosen ch) o
            union all
            select o.case_id, o.due_date + r.offset_days
              from open_cases o
              join public.reminder_rules r
                on r.product_line = o.product_line and r.active
               and o.due_date + r.offset_days > today) x
     group by x.case_id
  ),
  moved as (
    -- Only rows no other transaction changed since they were read: a case re-dated meanwhile
    -- keeps its -infinity (an update re-checks the newer row version, whose xmin differs).
    update private.cadence_next_visits v
       set visit_on = n.visit_on
      from visiting w
      join next_visits n on n.case_id = w.case_id
     where v.case_id = w.case_id and v.xmin = w.version
  ),
  dropped as (
    -- Closed cases, and open ones with no step left.
    delete from private.cadence_next_visits v
     using visiting w
     where v.case_id = w.case_id and v.xmin = w.version
       and w.case_id not in (select n.case_id from next_visits n)
  )
  select (select jsonb_agg(w.request) from wanted w),
         (select count(*) from due d where d.engaged),
         (select count(distinct c.case_id) from candidates c
           where not exists (select 1 from chosen ch where ch.case_id = c.case_id)),
         (select count(*) from new_tasks)
    into requests, engaged, no_channel, opened;

  -- One call of the gate for every message, the reasons with them.
  select coalesce(jsonb_agg(jsonb_build_object('status', e.status, 'created', e.created)), '[]')
    into results
    from private.enqueue_messages(coalesce(requests, '[]'::jsonb), as_of) e;

  return query
  with counted as (
    select case when not s.created then 'duplicate'
                when s.status = 'blocked' then 'blocked'
                else 'queued' end as outcome,
           count(*) as n
      from jsonb_to_recordset(results) as s (status text, created boolean)
     group by 1
  )
  select o.outcome,
         case o.outcome
           when 'skipped_engaged' then engaged
           when 'no_channel' then no_channel
           when 'tasks_opened' then opened
           else coalesce((select c.n from counted c where c.outcome = o.outcome), 0)
         end
    from unnest(array['queued', 'blocked', 'duplicate', 'skipped_engaged', 'no_channel',
                      'tasks_opened']) as o (outcome);
end;
$$;

comment on function private.run_reminder_cadence(timestamptz) is
  'The daily reminder cadence (pg_cron; as_of moves the clock in tests). For every open case whose '
  'visit day (private.cadence_next_visits) has come, the latest due step of its ladder '
  '(public.reminder_rules) per kind, once (message key cadence:<case>:<step>, task unique per case '
  'and step); after-expiry steps while their applies_until holds; engaged customers (payment in '
  'progress, a reply, a tracked link opened within CADENCE_LINK_OPENED_HOURS) left for another '
  'day; the channel chosen as the comment on messages.choice_reason says, all messages in one call '
  'of the gate; {{payment_link}} is the tracked redirect to the case''s open payment link '
  '(private.tracked_link); {{premium}} is the yearly premium, {{amount_due}} what the case still '
  'owes (public.case_outstanding). A visited case comes back on its next step''s day, or the same '
  'day while a step is still owed; every open case is visited when the ladder or its settings '
  'change (private.cadence_state). One run at a time (advisory lock). Returns a row per outcome: '
  'queued (accepted by the gate, maybe deferred), blocked (recorded blocked by the gate), duplicate '
  '(already queued, e.g. by the event triggers), skipped_engaged, no_channel (no channel with a '
  'template and no recent bounce), tasks_opened. Security definer: a job.';
