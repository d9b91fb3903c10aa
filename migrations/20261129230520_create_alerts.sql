-- Monitoring and alerts (issue 11): what the health check shows of each messaging provider, and
-- alert rules evaluated by pg_cron every minute.
--
-- * private.provider_health(as_of, window_minutes): per messaging provider, the figures of the
--   health check and of the rules, computed once: enabled, breaker, error rate and p95 send
--   latency over the window, the day's quota and use (private.provider_quota), this month's
--   spend (analytics.message_facts, daily rows of the IST month) against its budget
--   (VENDOR_MONTHLY_BUDGET_PAISE), the queue, the last vendor callback.
-- * private.vendor_health(as_of): that, as JSON, for admins and service_role (GET /api/health).
-- * public.alert_rules: one row per rule (seeded here), thresholds in `threshold` (checked on
--   every write), a cooldown; admins read them and change enabled, threshold and cooldown.
-- * public.alerts: one row per raised alert; admins and managers read them (a manager's campaigns
--   and agents' messages wait on the same vendors and queue; no alert carries personal data or a
--   case); nobody writes them but the evaluator.
-- * private.evaluate_alerts(as_of): raises an alert once per (rule, subject) while its condition
--   holds and emails the admins (private.notify_admins); resolves it when the condition clears
--   and tells them briefly; a condition back within the rule's cooldown of the resolution reopens
--   the same alert quietly (no second email). Telegram is not sent: issue 12 connects it.
--
-- Indexes for the rules' windows: messages by their last claim (sending_at), vendor callbacks by
-- provider and arrival, payments the reconciliation credited.

create index messages_sending_at_idx on public.messages (sending_at) where sending_at is not null;
create index message_events_provider_received_idx on public.message_events (provider, received_at desc);
create index payments_reconciled_idx on public.payments (credited_at) where credited_via = 'reconcile';

insert into public.app_settings (key, value, description) values
  ('VENDOR_MONTHLY_BUDGET_PAISE', '{}',
   'Each messaging provider''s monthly budget in paise, e.g. {"twilio": 2000000, "aws_ses": '
   '50000}: the health check shows this IST month''s spend against it and the provider_spend alert '
   'fires at its threshold percent. A provider left out (or given anything but a positive number) '
   'has no budget.')
on conflict (key) do nothing;

-- Figures per provider -------------------------------------------------------------------------

create function private.provider_health(as_of timestamptz, window_minutes integer default 15)
returns table (
  provider text,
  enabled boolean,
  breaker text,
  breaker_since timestamptz,
  opened_at timestamptz,
  attempts integer,
  errors integer,
  error_rate_percent numeric,
  p95_send_ms numeric,
  daily_quota integer,
  used_today integer,
  spend_month_paise numeric,
  budget_paise bigint,
  queued integer,
  due integer,
  oldest_due_at timestamptz,
  last_callback_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
  with clock as (
    select as_of - make_interval(mins => window_minutes) as since,
           private.business_date(as_of) as today,
           date_trunc('month', private.business_date(as_of))::date as month_start,
           coalesce(private.setting('VENDOR_MONTHLY_BUDGET_PAISE'), '{}'::jsonb) as budgets
  ),
  recent as materialized (
    -- What each provider did in the window: its messages claimed in it (a send is recorded within
    -- its lease), or in the hour before (a failure the vendor reported by callback).
    select m.provider,
           (m.status in ('failed', 'undeliverable', 'dead')
             and coalesce(m.failed_at, m.dead_at) > c.since and coalesce(m.failed_at, m.dead_at) <= as_of
             and private.failure_cause(m.status, m.last_error_code, m.blocked_reason, m.dead_reason) = 'provider')
           or (m.status = 'queued' and m.deferred_reason = 'retry' and m.sending_at > c.since) as error,
           m.sent_at > c.since and m.sent_at <= as_of as sent,
           extract(epoch from m.sent_at - m.sending_at) * 1000 as send_ms
      from public.messages m, clock c
     where m.sending_at > c.since - interval '1 hour' and m.sending_at <= as_of
       and m.provider is not null
  ),
  outcomes as (
    select r.provider,
           count(*) filter (where r.error or r.sent)::integer as attempts,
           count(*) filter (where r.error)::integer as errors,
           percentile_cont(0.95) within group (order by r.send_ms) filter (where r.sent and not r.error)
             as p95_send_ms
      from recent r
     group by r.provider
  ),
  spend as (
    select f.provider, sum(f.cost_paise) as paise
      from analytics.message_facts f, clock c
     where f.grain = 'day' and f.day between c.month_start and c.today and f.provider is not null
     group by f.provider
  ),
  queue as (
    select m.provider,
           count(*)::integer as queued,
           count(*) filter (where m.next_attempt_at <= as_of)::integer as due,
           min(m.next_attempt_at) filter (where m.next_attempt_at <= as_of) as oldest_due_at
      from public.messages m
     where m.status = 'queued'
     group by m.provider
  )
  select ps.provider,
         exists (select 1 from public.channels ch
                  where ch.enabled and ps.provider in (ch.provider, ch.fallback_provider)),
         ps.breaker,
         ps.breaker_since,
         case when ps.breaker <> 'closed' then coalesce((
           -- When it left closed: the first change after the last close.
           select min(e.at) from public.provider_breaker_events e
            where e.provider = ps.provider and e.breaker <> 'closed'
              and e.at > coalesce((select max(x.at) from public.provider_breaker_events x
                                    where x.provider = ps.provider and x.breaker = 'closed'
                                      and x.at <= as_of), '-infinity')), ps.breaker_since) end,
         coalesce(o.attempts, 0),
         coalesce(o.errors, 0),
         case when coalesce(o.attempts, 0) > 0 then round(100.0 * o.errors / o.attempts, 1) end,
         round(o.p95_send_ms::numeric, 0),
         q.daily_quota,
         coalesce(q.used, 0),
         coalesce(s.paise, 0),
         case when jsonb_typeof(c.budgets -> ps.provider) = 'number'
                   and (c.budgets ->> ps.provider)::numeric between 1 and 9e15
              then floor((c.budgets ->> ps.provider)::numeric)::bigint end,
         coalesce(qu.queued, 0),
         coalesce(qu.due, 0),
         qu.oldest_due_at,
         (select max(e.received_at) from public.message_events e where e.provider = ps.provider)
    from public.provider_state ps
   cross join clock c
    left join outcomes o on o.provider = ps.provider
    left join private.provider_quota(as_of) q on q.provider = ps.provider
    left join spend s on s.provider = ps.provider
    left join queue qu on qu.provider = ps.provider
   order by ps.provider
$$;

comment on function private.provider_health(timestamptz, integer) is
  'Per messaging provider (public.provider_state) at as_of: enabled (an enabled channel names it, '
  'as provider or fallback); breaker, since when, and opened_at (when it last left closed); over '
  'the last window_minutes: attempts (messages it accepted, plus those that failed on it for a '
  'provider cause, private.failure_cause, or wait to retry after a transient failure), errors '
  '(those failures), error_rate_percent, p95_send_ms (claim to the vendor''s acceptance, ms); '
  'daily_quota and used_today (private.provider_quota: IST day); spend_month_paise (sent '
  'messages'' cost in this IST month so far, from analytics.message_facts, so as fresh as its '
  'last refresh) and budget_paise (VENDOR_MONTHLY_BUDGET_PAISE; null: none); queued, due (may be '
  'claimed now) and oldest_due_at of its queued messages; last_callback_at (the last vendor '
  'callback received). Messages switched to a fallback count for the fallback: their failures '
  'on the first provider show in its breaker, not its error rate. Security definer: reads every '
  'message for the health check and the alerts, which check their caller.';

create function private.vendor_health(as_of timestamptz default now())
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  window_minutes constant integer := 15;
  providers jsonb;
  queue jsonb;
begin
  -- The caller's role as set for the request (a definer function's current_user is its owner).
  if current_setting('role') not in ('none', 'postgres', 'service_role') and not private.is_admin() then
    raise exception 'only admins read the vendors'' health' using errcode = '42501';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  select jsonb_agg(jsonb_build_object(
           'provider', h.provider,
           'enabled', h.enabled,
           'breaker', h.breaker,
           'breaker_since', h.breaker_since,
           'error_rate_percent', h.error_rate_percent,
           'attempts', h.attempts,
           'errors', h.errors,
           'p95_send_ms', h.p95_send_ms,
           'daily_quota', h.daily_quota,
           'used_today', h.used_today,
           'quota_used_percent', case when h.daily_quota > 0
                                      then round(100.0 * h.used_today / h.daily_quota, 1) end,
           'spend_month_paise', h.spend_month_paise::text,
           'budget_paise', h.budget_paise,
           'budget_used_percent', case when h.budget_paise > 0
                                       then round(100.0 * h.spend_month_paise / h.budget_paise, 1) end,
           'queued', h.queued,
           'due', h.due,
           'oldest_due_age_seconds',
             floor(extract(epoch from as_of - h.oldest_due_at))::bigint,
           'last_callback_at', h.last_callback_at
         ) order by h.provider)
    into providers
    from private.provider_health(as_of, window_minutes) h;

  select jsonb_build_object(
           'queued', count(*) filter (where m.status = 'queued'),
           'due', count(*) filter (where m.status = 'queued' and m.next_attempt_at <= as_of),
           'sending', count(*) filter (where m.status = 'sending'),
           'oldest_due_age_seconds', floor(extract(epoch from as_of - min(m.next_attempt_at)
                                       filter (where m.status = 'queued' and m.next_attempt_at <= as_of)))::bigint)
    into queue
    from public.messages m
   where m.status in ('queued', 'sending');

  return jsonb_build_object(
    'as_of', as_of,
    'window_minutes', window_minutes,
    'spend_as_of', (select s.refreshed_at from private.analytics_state s),
    'providers', coalesce(providers, '[]'::jsonb),
    'queue', queue);
end;
$$;

comment on function private.vendor_health(timestamptz) is
  'The vendor section of GET /api/health as JSON: as_of, window_minutes (15), spend_as_of (when '
  'the analytics facts the spend comes from were refreshed; null: never), providers (per '
  'provider, from private.provider_health: enabled, breaker, breaker_since, error_rate_percent, '
  'attempts, errors, p95_send_ms, daily_quota, used_today, quota_used_percent, '
  'spend_month_paise as an exact decimal string, budget_paise, budget_used_percent, queued, due, '
  'oldest_due_age_seconds, last_callback_at) and queue (the whole outbox: queued, due, sending, '
  'oldest_due_age_seconds). Admins and service_role only (42501 for anyone else). Security '
  'definer: reads every message and private.provider_usage.';

-- Rules and alerts -----------------------------------------------------------------------------

create table public.alert_rules (
  code text primary key check (code ~ '^[a-z][a-z0-9_]{1,39}$'),
  description text not null,
  enabled boolean not null default true,
  threshold jsonb not null check (jsonb_typeof(threshold) = 'object'),
  cooldown interval not null default interval '1 hour'
    check (cooldown >= interval '0' and cooldown <= interval '7 days'),
  last_evaluated_at timestamptz,
  last_error text,
  updated_at timestamptz not null default now(),
  updated_by uuid references auth.users (id) on delete set null
);

comment on table public.alert_rules is
  'The monitoring''s rules, evaluated every minute by private.evaluate_alerts: one row per rule, '
  'its thresholds and its cooldown. Admins read them and change enabled, threshold and cooldown; '
  'the rules themselves are code.';
comment on column public.alert_rules.code is
  'provider_error_rate, provider_breaker_open, provider_quota, provider_spend, queue_delay, '
  'webhooks_silent or lost_payments.';
comment on column public.alert_rules.description is 'What the rule watches, and its threshold''s keys.';
comment on column public.alert_rules.enabled is 'Off: not evaluated, and its open alerts are resolved quietly.';
comment on column public.alert_rules.threshold is
  'The rule''s settings as a JSON object; the keys each rule takes are in its description, and a '
  'write with a missing or out-of-range key is refused (22023).';
comment on column public.alert_rules.cooldown is
  'After an alert resolves, the same condition within this interval reopens it without a new '
  'email; after it, a new alert is raised and emailed (0 to 7 days).';
comment on column public.alert_rules.last_evaluated_at is 'The as_of of the rule''s last evaluation.';
comment on column public.alert_rules.last_error is
  'Why the last evaluation of this rule failed (its alerts are then left as they were); null when it ran.';
comment on column public.alert_rules.updated_at is 'When the row last changed.';
comment on column public.alert_rules.updated_by is 'The admin who last changed it (stamped from the session).';

create table public.alerts (
  id uuid primary key default gen_random_uuid(),
  rule text not null references public.alert_rules (code) on update cascade on delete cascade,
  subject text not null check (length(subject) between 1 and 100),
  status text not null default 'open' check (status in ('open', 'resolved')),
  raised_at timestamptz not null,
  last_seen_at timestamptz not null,
  resolved_at timestamptz,
  resolution text check (resolution in ('cleared', 'rule_disabled')),
  value numeric,
  summary text not null,
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
  reopened integer not null default 0 check (reopened >= 0),
  notified integer not null default 0 check (notified >= 0),
  check ((status = 'resolved') = (resolved_at is not null)),
  check ((status = 'resolved') = (resolution is not null))
);

comment on table public.alerts is
  'Alerts raised by private.evaluate_alerts: one per rule and subject while its condition holds '
  '(reopened, not raised again, when it comes back within the rule''s cooldown). Admins and '
  'managers read them; nobody writes them but the evaluator. No personal data.';
comment on column public.alerts.rule is 'The rule that raised it (alert_rules.code).';
comment on column public.alerts.subject is
  'What it is about: a provider code (twilio, aws_ses, ...), outbox (the queue) or razorpay.';
comment on column public.alerts.status is 'open while the condition holds; resolved once it cleared.';
comment on column public.alerts.raised_at is 'When it was raised (the evaluation''s as_of).';
comment on column public.alerts.last_seen_at is 'The last evaluation that found the condition.';
comment on column public.alerts.resolved_at is 'When it resolved; null while open.';
comment on column public.alerts.resolution is
  'cleared: the condition no longer held; rule_disabled: an admin switched the rule off.';
comment on column public.alerts.value is
  'The measure at the last evaluation that found it, in the rule''s unit: percent (error rate, '
  'quota, spend), seconds (breaker open), minutes (queue delay, webhooks silent), payments (lost '
  'payments).';
comment on column public.alerts.summary is 'One line for people, as at the last evaluation that found it.';
comment on column public.alerts.details is 'The figures behind it (counts, thresholds, times): no personal data.';
comment on column public.alerts.reopened is 'Times it came back within the cooldown after resolving.';
comment on column public.alerts.notified is 'Admin emails queued when it was raised (private.notify_admins).';

create unique index alerts_open_key on public.alerts (rule, subject) where status = 'open';
create index alerts_rule_subject_idx on public.alerts (rule, subject, raised_at desc);
create index alerts_raised_idx on public.alerts (raised_at desc, id);

alter table public.alert_rules enable row level security;
alter table public.alerts enable row level security;
revoke all on public.alert_rules, public.alerts from anon, authenticated, service_role;
grant select on public.alert_rules, public.alerts to authenticated, service_role;
grant update (enabled, threshold, cooldown) on public.alert_rules to authenticated;

create policy alert_rules_select_admin on public.alert_rules
  for select to authenticated
  using ((select private.is_admin()));

create policy alert_rules_update_admin on public.alert_rules
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy alerts_select_admin on public.alerts
  for select to authenticated
  using ((select private.is_admin()));

create policy alerts_select_manager on public.alerts
  for select to authenticated
  using ((select private.current_app_role()) = 'manager');

-- What each rule's threshold must hold; the trigger and the evaluator both ask.
create function private.alert_threshold_problem(code text, threshold jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  wanted jsonb := case code
    when 'provider_error_rate' then '{"window_minutes": [1, 1440], "min_attempts": [1, 1000000], "error_rate_percent": [0.1, 100]}'
    when 'provider_breaker_open' then '{"min_open_seconds": [0, 86400]}'
    when 'provider_quota' then '{"percent": [1, 100]}'
    when 'provider_spend' then '{"percent": [1, 1000]}'
    when 'queue_delay' then '{"minutes": [1, 1440]}'
    when 'webhooks_silent' then '{"minutes": [1, 1440], "min_sent": [1, 1000000], "grace_minutes": [0, 1440]}'
    when 'lost_payments' then '{"window_hours": [1, 720], "min_payments": [1, 1000000]}'
  end::jsonb;
  name text;
  bounds jsonb;
begin
  if wanted is null then
    return format('no rule %s', code);
  end if;
  if threshold is null or jsonb_typeof(threshold) <> 'object' then
    return 'threshold must be a JSON object';
  end if;
  for name, bounds in select * from jsonb_each(wanted) loop
    if jsonb_typeof(threshold -> name) is distinct from 'number'
       or (threshold ->> name)::numeric < (bounds ->> 0)::numeric
       or (threshold ->> name)::numeric > (bounds ->> 1)::numeric then
      return format('threshold.%s must be a number from %s to %s', name, bounds ->> 0, bounds ->> 1);
    end if;
  end loop;
  for name in select k from jsonb_object_keys(threshold) k loop
    if not (wanted ? name) and not (code = 'webhooks_silent' and name = 'providers_without_callbacks') then
      return format('threshold.%s is not a setting of %s', name, code);
    end if;
  end loop;
  if code = 'webhooks_silent' then
    if (threshold ->> 'grace_minutes')::numeric >= (threshold ->> 'minutes')::numeric then
      return 'threshold.grace_minutes must be less than threshold.minutes';
    end if;
    if threshold ? 'providers_without_callbacks'
       and (jsonb_typeof(threshold -> 'providers_without_callbacks') <> 'array'
            or exists (select 1 from jsonb_array_elements(threshold -> 'providers_without_callbacks') e
                        where jsonb_typeof(e) <> 'string')) then
      return 'threshold.providers_without_callbacks must be an array of provider codes';
    end if;
  end if;
  return null;
end;
$$;

comment on function private.alert_threshold_problem(text, jsonb) is
  'Why a threshold does not suit its rule (a missing, non-numeric or out-of-range key, a key the '
  'rule does not take), null when it does. Each rule''s keys and ranges are written here once.';

create function private.tg_alert_rules__check() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
begin
  -- Checked when written (the evaluator's bookkeeping leaves it as it is).
  if tg_op = 'INSERT' or new.threshold is distinct from old.threshold then
    problem := private.alert_threshold_problem(new.code, new.threshold);
    if problem is not null then
      raise exception '%', problem using errcode = '22023';
    end if;
  end if;
  if tg_op = 'UPDATE' then
    -- The evaluator's bookkeeping is not an admin's change.
    if (new.enabled, new.threshold, new.cooldown, new.description)
       is distinct from (old.enabled, old.threshold, old.cooldown, old.description) then
      new.updated_at := now();
      new.updated_by := (select auth.uid());
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_alert_rules__check() is
  'Refuses a threshold that does not suit its rule (22023, naming the key) and stamps who changed '
  'a rule''s settings and when.';

create trigger _100_check before insert or update on public.alert_rules
  for each row execute function private.tg_alert_rules__check();

insert into public.alert_rules (code, description, threshold, cooldown) values
  ('provider_error_rate',
   'A provider''s error rate: of what it handled in the last window_minutes (messages it '
   'accepted, or that failed on it for a provider cause, or wait to retry after a transient '
   'failure), the errors reach error_rate_percent, once there were at least min_attempts. '
   'Subject: the provider.',
   '{"window_minutes": 15, "min_attempts": 20, "error_rate_percent": 20}', interval '1 hour'),
  ('provider_breaker_open',
   'A provider''s circuit breaker is open (or half open, probing) for at least min_open_seconds: '
   'its messages wait or go to the fallback. Subject: the provider.',
   '{"min_open_seconds": 0}', interval '30 minutes'),
  ('provider_quota',
   'A provider has been handed percent of its daily quota (the daily_quota of the channel it '
   'serves) this IST day; over quota the dispatcher throttles it and moves the rest to the '
   'fallback. Subject: the provider.',
   '{"percent": 80}', interval '6 hours'),
  ('provider_spend',
   'A provider''s spend this IST month reaches percent of its budget in the '
   'VENDOR_MONTHLY_BUDGET_PAISE setting (no budget, no alert). Spend comes from the analytics '
   'facts. Subject: the provider.',
   '{"percent": 80}', interval '24 hours'),
  ('queue_delay',
   'The oldest message that may be sent has waited more than minutes past its time (deferred '
   'messages, waiting for their hours or for tomorrow''s quota, are not late). Subject: outbox.',
   '{"minutes": 15}', interval '1 hour'),
  ('webhooks_silent',
   'No callback from a provider for minutes although we handed it at least min_sent messages in '
   'that time (the last grace_minutes not counted: their callbacks may still come). Providers '
   'listed in providers_without_callbacks (AWS SNS SMS has none) are not watched. Subject: the '
   'provider.',
   '{"minutes": 30, "min_sent": 5, "grace_minutes": 5, "providers_without_callbacks": ["aws_sns"]}',
   interval '1 hour'),
  ('lost_payments',
   'The payments reconciliation found payments whose webhook never came (credited by the poll '
   'of Razorpay, credited_via = reconcile): at least min_payments in the last window_hours. '
   'Subject: razorpay.',
   '{"window_hours": 24, "min_payments": 1}', interval '24 hours');

-- One rule's condition -------------------------------------------------------------------------

create function private.alert_condition(rule public.alert_rules, as_of timestamptz)
returns table (subject text, value numeric, summary text, details jsonb)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  t jsonb := rule.threshold;
  problem text := private.alert_threshold_problem(rule.code, rule.threshold);
begin
  if problem is not null then
    raise exception '%', problem using errcode = '22023';
  end if;

  if rule.code = 'provider_error_rate' then
    return query
    select h.provider, h.error_rate_percent,
           format('%s: %s %% of sends failed in the last %s minutes (%s of %s; threshold %s %%)',
                  h.provider, h.error_rate_percent, t ->> 'window_minutes', h.errors, h.attempts,
                  t ->> 'error_rate_percent'),
           jsonb_build_object('errors', h.errors, 'attempts', h.attempts,
                              'window_minutes', (t ->> 'window_minutes')::integer,
                              'error_rate_percent', h.error_rate_percent,
                              'threshold_percent', (t ->> 'error_rate_percent')::numeric)
      from private.provider_health(as_of, (t ->> 'window_minutes')::integer) h
     where h.attempts >= (t ->> 'min_attempts')::numeric
       and h.error_rate_percent >= (t ->> 'error_rate_percent')::numeric;

  elsif rule.code = 'provider_breaker_open' then
    return query
    select h.provider, floor(extract(epoch from as_of - h.opened_at))::numeric,
           format('%s: circuit breaker %s since %s IST', h.provider, h.breaker,
                  to_char(h.opened_at at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI:SS')),
           jsonb_build_object('breaker', h.breaker, 'opened_at', h.opened_at,
                              'breaker_since', h.breaker_since)
      from private.provider_health(as_of, 15) h
     where h.breaker <> 'closed'
       and as_of - h.opened_at >= make_interval(secs => (t ->> 'min_open_seconds')::numeric);

  elsif rule.code = 'provider_quota' then
    return query
    select q.provider, round(100.0 * q.used / q.daily_quota, 1),
           format('%s: %s of its daily quota of %s used today (%s %%; threshold %s %%)',
                  q.provider, q.used, q.daily_quota, round(100.0 * q.used / q.daily_quota, 1),
                  t ->> 'percent'),
           jsonb_build_object('day', q.day, 'used', q.used, 'daily_quota', q.daily_quota,
                              'threshold_percent', (t ->> 'percent')::numeric)
      from private.provider_quota(as_of) q
     where q.daily_quota > 0
       and q.used >= q.daily_quota * (t ->> 'percent')::numeric / 100;

  elsif rule.code = 'provider_spend' then
    return query
    select h.provider, round(100.0 * h.spend_month_paise / h.budget_paise, 1),
           format('%s: ₹%s spent this month, %s %% of its budget of ₹%s (threshold %s %%)',
                  h.provider, to_char(h.spend_month_paise / 100, 'FM999999999990.00'),
                  round(100.0 * h.spend_month_paise / h.budget_paise, 1),
                  to_char(h.budget_paise / 100.0, 'FM999999999990.00'), t ->> 'percent'),
           jsonb_build_object('spend_month_paise', h.spend_month_paise::text,
                              'budget_paise', h.budget_paise,
                              'threshold_percent', (t ->> 'percent')::numeric)
      from private.provider_health(as_of, 15) h
     where h.budget_paise > 0
       and h.spend_month_paise >= h.budget_paise * (t ->> 'percent')::numeric / 100;

  elsif rule.code = 'queue_delay' then
    return query
    select 'outbox', floor(extract(epoch from as_of - w.oldest) / 60)::numeric,
           format('The oldest message due has waited %s minutes (%s due; threshold %s minutes)',
                  floor(extract(epoch from as_of - w.oldest) / 60), w.due, t ->> 'minutes'),
           jsonb_build_object('oldest_due_at', w.oldest, 'due', w.due,
                              'threshold_minutes', (t ->> 'minutes')::numeric)
      from (select min(m.next_attempt_at) as oldest, count(*) as due
              from public.messages m
             where m.status = 'queued' and m.next_attempt_at <= as_of) w
     where w.oldest <= as_of - make_interval(mins => (t ->> 'minutes')::integer);

  elsif rule.code = 'webhooks_silent' then
    return query
    with sent as (
      select m.provider, count(*) as sent
        from public.messages m
       where m.sending_at > as_of - make_interval(mins => (t ->> 'minutes')::integer) - interval '1 hour'
         and m.sent_at > as_of - make_interval(mins => (t ->> 'minutes')::integer)
         and m.sent_at <= as_of - make_interval(mins => (t ->> 'grace_minutes')::integer)
         and m.provider is not null
       group by m.provider
    )
    select s.provider, (t ->> 'minutes')::numeric,
           format('%s: no callback for %s minutes although %s messages were sent to it',
                  s.provider, t ->> 'minutes', s.sent),
           jsonb_build_object('sent', s.sent, 'last_callback_at', l.at,
                              'threshold_minutes', (t ->> 'minutes')::numeric)
      from sent s
     cross join lateral (select max(e.received_at) as at from public.message_events e
                          where e.provider = s.provider and e.received_at <= as_of) l
     where s.sent >= (t ->> 'min_sent')::numeric
       and not coalesce(t -> 'providers_without_callbacks', '[]'::jsonb) ? s.provider
       and (l.at is null or l.at <= as_of - make_interval(mins => (t ->> 'minutes')::integer));

  elsif rule.code = 'lost_payments' then
    return query
    select 'razorpay', count(*)::numeric,
           format('The reconciliation found %s payment(s) of ₹%s in the last %s hours whose webhook never came',
                  count(*), to_char(sum(p.amount) / 100.0, 'FM999999999990.00'), t ->> 'window_hours'),
           jsonb_build_object('payments', count(*), 'amount_paise', sum(p.amount),
                              'window_hours', (t ->> 'window_hours')::numeric)
      from public.payments p
     where p.credited_via = 'reconcile'
       and p.credited_at > as_of - make_interval(hours => (t ->> 'window_hours')::integer)
       and p.credited_at <= as_of
    having count(*) >= (t ->> 'min_payments')::numeric;
  end if;
end;
$$;

comment on function private.alert_condition(public.alert_rules, timestamptz) is
  'Where the rule''s condition holds at as_of: one row per subject with its value (in the rule''s '
  'unit), a one-line summary and the figures (details). Raises 22023 when the rule''s threshold '
  'does not suit it. Security definer: reads every message, callback and payment for the evaluator.';

-- The evaluator --------------------------------------------------------------------------------

create function private.evaluate_alerts(as_of timestamptz default now())
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.alert_rules;
  a public.alerts;
  f record;
  evaluated text[] := '{}';
  failed jsonb := '{}';
  firing jsonb := '[]';
  n_raised integer := 0;
  n_reopened integer := 0;
  n_resolved integer := 0;
  n_quiet integer := 0;
  summary_line text;
  body_text text;
  body_html text;
begin
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  -- One evaluation at a time: a second waits for the first (and then sees its alerts).
  perform pg_advisory_xact_lock(hashtext('private.evaluate_alerts'));

  for r in select * from public.alert_rules ar where ar.enabled order by ar.code loop
    begin
      firing := firing || coalesce((
        select jsonb_agg(jsonb_build_object('rule', r.code, 'subject', c.subject, 'value', c.value,
                                            'summary', c.summary, 'details', c.details))
          from private.alert_condition(r, as_of) c), '[]');
      update public.alert_rules ar set last_evaluated_at = as_of, last_error = null where ar.code = r.code;
      evaluated := evaluated || r.code;
    exception when others then
      -- One rule that cannot be evaluated (a bad threshold, a missing table) leaves its alerts as
      -- they are and does not stop the others.
      update public.alert_rules ar set last_evaluated_at = as_of, last_error = left(sqlerrm, 500)
       where ar.code = r.code;
      failed := failed || jsonb_build_object(r.code, left(sqlerrm, 500));
    end;
  end loop;

  -- Still firing: seen again, figures updated, nobody told again.
  update public.alerts al
     set last_seen_at = as_of, value = fi.value, summary = fi.summary, details = fi.details
    from jsonb_to_recordset(firing) as fi (rule text, subject text, value numeric, summary text, details jsonb)
   where al.status = 'open' and al.rule = fi.rule and al.subject = fi.subject;

  -- Newly firing.
  for f in
    select fi.* from jsonb_to_recordset(firing)
                       as fi (rule text, subject text, value numeric, summary text, details jsonb)
     where not exists (select 1 from public.alerts al
                        where al.status = 'open' and al.rule = fi.rule and al.subject = fi.subject)
     order by fi.rule, fi.subject
  loop
    select al.* into a from public.alerts al
     where al.rule = f.rule and al.subject = f.subject
     order by al.raised_at desc limit 1;
    if found and a.resolution = 'cleared'
       and a.resolved_at > as_of - (select ar.cooldown from public.alert_rules ar where ar.code = f.rule) then
      -- Back within the cooldown: the same alert again, without a second email.
      update public.alerts al
         set status = 'open', resolved_at = null, resolution = null, last_seen_at = as_of,
             value = f.value, summary = f.summary, details = f.details, reopened = al.reopened + 1
       where al.id = a.id;
      n_reopened := n_reopened + 1;
    else
      insert into public.alerts (rule, subject, raised_at, last_seen_at, value, summary, details)
      values (f.rule, f.subject, as_of, as_of, f.value, f.summary, f.details)
      returning * into a;
      summary_line := f.summary;
      body_text := format(E'%s\n\nRule: %s (%s)\nRaised: %s IST\nFigures: %s\n\n'
                          'It resolves by itself when the condition clears; open alerts are listed '
                          'by GET /api/alerts.',
                          summary_line, f.rule,
                          (select ar.description from public.alert_rules ar where ar.code = f.rule),
                          to_char(as_of at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI'),
                          f.details::text);
      body_html := format('<p><strong>%s</strong></p><p>Rule: %s<br>Raised: %s IST</p>'
                          '<pre>%s</pre><p>It resolves by itself when the condition clears; open '
                          'alerts are listed by GET /api/alerts.</p>',
                          private.html_escape(summary_line), private.html_escape(f.rule),
                          to_char(as_of at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI'),
                          private.html_escape(jsonb_pretty(f.details)));
      update public.alerts al
         set notified = private.notify_admins('alert_raised', left('[Py360] Alert: ' || summary_line, 300),
                                              body_html, body_text,
                                              format('alert:%s:raised', a.id), as_of)
       where al.id = a.id;
      n_raised := n_raised + 1;
    end if;
  end loop;

  -- Cleared: resolved, and the admins told briefly (once per alert; a reopened one resolves
  -- quietly, as it was raised quietly).
  for a in
    select al.* from public.alerts al
     where al.status = 'open' and al.rule = any (evaluated)
       and not exists (select 1 from jsonb_to_recordset(firing) as fi (rule text, subject text)
                        where fi.rule = al.rule and fi.subject = al.subject)
     order by al.raised_at, al.id
  loop
    update public.alerts al set status = 'resolved', resolved_at = as_of, resolution = 'cleared'
     where al.id = a.id;
    if a.reopened = 0 then
      perform private.notify_admins('alert_resolved', left('[Py360] Resolved: ' || a.summary, 300),
        format('<p>Resolved at %s IST: %s</p>',
               to_char(as_of at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI'),
               private.html_escape(a.summary)),
        format('Resolved at %s IST: %s', to_char(as_of at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI'),
               a.summary),
        format('alert:%s:resolved', a.id), as_of);
    end if;
    n_resolved := n_resolved + 1;
  end loop;

  -- Rules switched off: their open alerts end, quietly.
  update public.alerts al set status = 'resolved', resolved_at = as_of, resolution = 'rule_disabled'
    from public.alert_rules ar
   where ar.code = al.rule and not ar.enabled and al.status = 'open';
  get diagnostics n_quiet = row_count;

  return jsonb_build_object(
    'evaluated', cardinality(evaluated),
    'raised', n_raised,
    'reopened', n_reopened,
    'resolved', n_resolved + n_quiet,
    'open', (select count(*) from public.alerts al where al.status = 'open'),
    'failed', failed);
end;
$$;

comment on function private.evaluate_alerts(timestamptz) is
  'Evaluates every enabled alert rule at as_of (pg_cron "evaluate-alerts", every minute): a '
  'condition newly found raises one alert per (rule, subject) and emails the admins '
  '(private.notify_admins, kind alert_raised); one still found updates last_seen_at and the '
  'figures; one no longer found resolves (and the admins get a short alert_resolved email); a '
  'condition back within the rule''s cooldown after its resolution reopens that alert without an '
  'email; a disabled rule''s open alerts resolve quietly. A rule that fails to evaluate records '
  'last_error and leaves its alerts as they were. Returns {evaluated, raised, reopened, resolved, '
  'open, failed}; an evaluation waits for one already running. Telegram is not sent yet '
  '(issue 12). Security definer: writes alerts and queues email, which no API role may.';

revoke execute on function private.provider_health(timestamptz, integer) from public;
revoke execute on function private.vendor_health(timestamptz) from public;
revoke execute on function private.alert_threshold_problem(text, jsonb) from public;
-- The rules' trigger asks it as the admin who writes.
grant execute on function private.alert_threshold_problem(text, jsonb) to authenticated, service_role;
revoke execute on function private.alert_condition(public.alert_rules, timestamptz) from public;
revoke execute on function private.evaluate_alerts(timestamptz) from public;
grant execute on function private.vendor_health(timestamptz) to authenticated, service_role;
grant execute on function private.evaluate_alerts(timestamptz) to service_role;

select cron.schedule('evaluate-alerts', '* * * * *', 'select private.evaluate_alerts(now())');
