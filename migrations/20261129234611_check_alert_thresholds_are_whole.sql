-- Alert thresholds that the evaluator reads as whole numbers must be whole when saved (review of
-- issue 11, defect 6). private.alert_condition casts window_minutes, minutes, grace_minutes and
-- window_hours to integer: `{"minutes": 2.5}` passed the check (a number in range) and then
-- failed its rule every minute ("invalid input syntax for type integer"), its open alerts never
-- resolving. Now every key but the percentages must be a whole number in its range (counts of
-- messages and payments, seconds, minutes, hours); the percentages stay decimals. The trigger
-- (private.tg_alert_rules__check) refuses the rest with 22023 naming the key, as before.
-- A row saved earlier with a fraction fails its evaluation with that message in last_error,
-- which GET /api/alerts now shows admins.

create or replace function private.alert_threshold_problem(code text, threshold jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  -- key: [least, most, whole] (whole: the evaluator reads it as an integer, or it counts).
  wanted jsonb := case code
    when 'provider_error_rate' then '{"window_minutes": [1, 1440, true], "min_attempts": [1, 1000000, true], "error_rate_percent": [0.1, 100, false]}'
    when 'provider_breaker_open' then '{"min_open_seconds": [0, 86400, true]}'
    when 'provider_quota' then '{"percent": [1, 100, false]}'
    when 'provider_spend' then '{"percent": [1, 1000, false]}'
    when 'queue_delay' then '{"minutes": [1, 1440, true]}'
    when 'webhooks_silent' then '{"minutes": [1, 1440, true], "min_sent": [1, 1000000, true], "grace_minutes": [0, 1440, true]}'
    when 'lost_payments' then '{"window_hours": [1, 720, true], "min_payments": [1, 1000000, true]}'
  end::jsonb;
  name text;
  bounds jsonb;
  value numeric;
begin
  if wanted is null then
    return format('no rule %s', code);
  end if;
  if threshold is null or jsonb_typeof(threshold) <> 'object' then
    return 'threshold must be a JSON object';
  end if;
  for name, bounds in select * from jsonb_each(wanted) loop
    value := case when jsonb_typeof(threshold -> name) = 'number' then (threshold ->> name)::numeric end;
    if value is null or value < (bounds ->> 0)::numeric or value > (bounds ->> 1)::numeric then
      return format('threshold.%s must be a number from %s to %s', name, bounds ->> 0, bounds ->> 1);
    end if;
    -- A whole one as the evaluator casts its text (15.0 is a number, but '15.0'::integer fails).
    if (bounds ->> 2)::boolean and (threshold ->> name) !~ '^[0-9]+$' then
      return format('threshold.%s must be a whole number from %s to %s', name, bounds ->> 0, bounds ->> 1);
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
  'Why a threshold does not suit its rule (a missing, non-numeric or out-of-range key, a fraction '
  'where the rule takes a whole number, a key the rule does not take), null when it does. Each '
  'rule''s keys, ranges and whether they are whole numbers are written here once: every key but '
  'the percentages (error_rate_percent, percent) is whole.';

-- Checked when its text changes: jsonb holds 15 and 15.0 equal, so `{"minutes": 15.0}` written
-- over `{"minutes": 15}` looked unchanged and went in unchecked (its text then fails the cast).
create or replace function private.tg_alert_rules__check() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
begin
  -- Checked when written (the evaluator's bookkeeping leaves it as it is).
  if tg_op = 'INSERT' or new.threshold::text is distinct from old.threshold::text then
    problem := private.alert_threshold_problem(new.code, new.threshold);
    if problem is not null then
      raise exception '%', problem using errcode = '22023';
    end if;
  end if;
  if tg_op = 'UPDATE' then
    -- The evaluator's bookkeeping is not an admin's change.
    if (new.enabled, new.threshold::text, new.cooldown, new.description)
       is distinct from (old.enabled, old.threshold::text, old.cooldown, old.description) then
      new.updated_at := now();
      new.updated_by := (select auth.uid());
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_alert_rules__check() is
  'Refuses a threshold that does not suit its rule (22023, naming the key) whenever its text '
  'changes, and stamps who changed a rule''s settings and when.';
