-- Setting values are checked when they are written (settings review).
--
-- public.app_settings took any JSON. CADENCE_RECENT_REPLY_HOURS = 1.5, CADENCE_LINK_OPENED_HOURS =
-- "24 hours", CALL_TASK_MIN_PREMIUM_PAISE = 5000000.0, NCB_RETENTION_DAYS = 2147483647,
-- CADENCE_BOUNCE_LOOKBACK_DAYS = 100000000, QUIET_HOURS {"end": "8"} or MESSAGE_FREQUENCY_CAPS
-- with 1.5 days each made the whole daily reminder run raise (22P02, date or timestamp out of
-- range), so nobody got a reminder; CAMPAIGN_CONVERSION_DAYS = "30 days" made the campaign stats
-- answer 400, blaming the client; NCB_RETENTION_DAYS = -30 was taken silently.
--
-- * private.setting_rules holds each key's rule: the one place that says what a setting's value
--   may be (its JSON shape and bounds). private.setting_value_problem reads a rule.
-- * A trigger checks every insert and update of public.app_settings against its key's rule,
--   whoever writes (an admin over REST, the backend, a job, a migration) and whatever
--   session_replication_role says (enabled always). A refused write raises 22023 naming the key
--   (and the field) and what it expects, and changes nothing; PostgREST answers 400 with it.
-- * A key without a rule is refused: a migration that adds a setting inserts its rule into
--   private.setting_rules first (a foreign key also keeps a rule from being deleted under its
--   setting), and a rule changed later must still pass the setting's current value.
-- * Every existing value is checked here: the migration fails naming each one that breaks its
--   rule (an admin's earlier mistake is fixed first, then the migration runs again).
--
-- The readers keep their fallbacks for a missing or unreadable value (defence in depth: only the
-- table's owner can still write past the check, by disabling the trigger).

create table private.setting_rules (
  key text primary key check (key ~ '^[A-Z][A-Z0-9_]*$'),
  rule jsonb not null check (
    jsonb_typeof(rule) = 'object'
    and rule ->> 'type' in ('boolean', 'integer', 'number', 'string', 'url', 'time_zone', 'time',
                            'interval', 'disk_size', 'object', 'map')
    and (rule ->> 'type' not in ('integer', 'number', 'interval', 'disk_size')
         or (rule ? 'min' and rule ? 'max'))
    and (rule ->> 'type' <> 'string' or rule ? 'pattern')
    and (rule ->> 'type' <> 'object' or jsonb_typeof(rule -> 'fields') = 'object')
    and (rule ->> 'type' <> 'map' or (rule ? 'keys' and rule ? 'values'))),
  note text check (length(note) between 10 and 500)
);

comment on table private.setting_rules is
  'What each app setting (public.app_settings) may hold: one rule per key, checked on every '
  'write of the setting. A migration that adds a setting adds its rule here first.';
comment on column private.setting_rules.key is 'The setting''s key in public.app_settings.';
comment on column private.setting_rules.rule is
  'The value''s JSON shape, read by private.setting_value_problem: {"type": ...} with boolean; '
  'integer or number (min, max, unit); string (pattern, says); url (http(s)://host[:port][/path]); '
  'time_zone (an IANA name Postgres knows, or UTC); time ("HH:MM"); interval (min, max, example); '
  'disk_size (min, max; or "-1"); object (fields: name -> rule, each required unless "optional", '
  'no other field); map (keys: a pattern, keys_say: one key in words, values: a rule). Any rule '
  'may be "nullable"; a field may be "at_least" a sibling number or "needed_with" a sibling that '
  'is set; "says" replaces the generated description.';
comment on column private.setting_rules.note is 'Why the bounds are what they are, when not obvious.';

alter table private.setting_rules enable row level security;
revoke all on private.setting_rules from public, anon, authenticated, service_role;

-- What a rule asks for, in words: the end of "<KEY> must be ...".
create function private.setting_rule_says(rule jsonb) returns text
language plpgsql immutable
set search_path = ''
as $$
begin
  return coalesce(
           rule ->> 'says',
           case rule ->> 'type'
             when 'boolean' then 'true or false'
             when 'integer' then format('a whole number%s from %s to %s',
                                        ' of ' || (rule ->> 'unit'), rule ->> 'min', rule ->> 'max')
             when 'number' then format('a number%s from %s to %s',
                                       ' of ' || (rule ->> 'unit'), rule ->> 'min', rule ->> 'max')
             when 'url' then 'an http(s) URL: http(s)://host[:port][/path], no spaces, query or fragment'
             when 'time_zone' then 'a time zone name Postgres knows, such as "Asia/Kolkata" or "UTC"'
             when 'time' then 'a time of day "HH:MM" (00:00 to 23:59)'
             when 'interval' then format('an interval such as "%s", from %s to %s',
                                         rule ->> 'example', rule ->> 'min', rule ->> 'max')
             when 'disk_size' then format('a size such as "1GB" (a whole number of kB, MB, GB or TB) '
                                          'from %s to %s, or "-1" for no limit',
                                          rule ->> 'min', rule ->> 'max')
             when 'object' then format('an object {%s}',
                                       (select string_agg(f, ', ' order by f)
                                          from jsonb_object_keys(rule -> 'fields') f))
             when 'map' then format('an object whose keys are each %s and whose values are each %s',
                                    rule ->> 'keys_say', private.setting_rule_says(rule -> 'values'))
           end)
         || case when coalesce((rule ->> 'nullable')::boolean, false) then ' or null' else '' end;
end;
$$;

comment on function private.setting_rule_says(jsonb) is
  'A setting rule (private.setting_rules.rule) in words, e.g. "a whole number of hours from 1 to '
  '720": what a refused value is told it must be.';

-- Why `value` breaks `rule` (null: it does not), as the message of the refusal. `path` names the
-- value: the key, then .field for the fields of an object.
create function private.setting_value_problem(path text, rule jsonb, value jsonb) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  kind text := rule ->> 'type';
  given text := value #>> '{}';
  parsed interval;
  field record;
  sibling jsonb;
  problem text;
begin
  if value is null or jsonb_typeof(value) = 'null' then
    if coalesce((rule ->> 'nullable')::boolean, false) then
      return null;
    end if;
    return format('%s must be %s', path, private.setting_rule_says(rule));
  end if;

  case kind
    when 'boolean' then
      if jsonb_typeof(value) = 'boolean' then
        return null;
      end if;
    when 'integer' then
      -- jsonb keeps a number as written: 5000000.0 is not the whole number 5000000 to a reader
      -- casting its text to integer.
      if jsonb_typeof(value) = 'number' and given ~ '^-?[0-9]+$' then
        if given::numeric between (rule ->> 'min')::numeric and (rule ->> 'max')::numeric then
          return null;
        end if;
      end if;
    when 'number' then
      if jsonb_typeof(value) = 'number' then
        if given::numeric between (rule ->> 'min')::numeric and (rule ->> 'max')::numeric then
          return null;
        end if;
      end if;
    when 'string' then
      if jsonb_typeof(value) = 'string' and given ~ (rule ->> 'pattern') then
        return null;
      end if;
    when 'url' then
      -- A base URL the readers append /<code> to: a host, an optional port and path.
      if jsonb_typeof(value) = 'string' and length(given) <= 2048
         and given ~* '^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._~%!$&''()*+,;=:@/-]*)?$' then
        return null;
      end if;
    when 'time_zone' then
      -- An IANA zone (Area/Location) or UTC; not an abbreviation such as IST, whose meaning
      -- depends on the session's timezone_abbreviations, nor the posix/ and right/ variants.
      if jsonb_typeof(value) = 'string'
         and exists (select 1 from pg_catalog.pg_timezone_names z
                      where z.name = given and (z.name ~ '/' or z.name = 'UTC')
                        and z.name !~ '^(posix|right)/') then
        return null;
      end if;
    when 'time' then
      if jsonb_typeof(value) = 'string' and given ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' then
        return null;
      end if;
    when 'interval' then
      if jsonb_typeof(value) = 'string' then
        begin
          parsed := given::interval;
        exception when others then
          -- Whatever the interval type refuses (not an interval, out of its range) is no interval.
          parsed := null;
        end;
        if parsed between (rule ->> 'min')::interval and (rule ->> 'max')::interval then
          return null;
        end if;
      end if;
    when 'disk_size' then
      if jsonb_typeof(value) = 'string' then
        if given = '-1' then
          return null;
        end if;
        if given ~ '^[1-9][0-9]{0,5}(kB|MB|GB|TB)$' then
          if pg_catalog.pg_size_bytes(given) between pg_catalog.pg_size_bytes(rule ->> 'min')
                                                 and pg_catalog.pg_size_bytes(rule ->> 'max') then
            return null;
          end if;
        end if;
      end if;
    when 'object' then
      if jsonb_typeof(value) = 'object' then
        select k into problem
          from jsonb_object_keys(value) k
         where not (rule -> 'fields') ? k
         order by k
         limit 1;
        if problem is not null then
          return format('%s has no field "%s" (its fields: %s)', path, left(problem, 60),
                        (select string_agg(f, ', ' order by f) from jsonb_object_keys(rule -> 'fields') f));
        end if;
        for field in select f.key as name, f.value as rule from jsonb_each(rule -> 'fields') f order by f.key
        loop
          if not value ? field.name then
            if not coalesce((field.rule ->> 'optional')::boolean, false) then
              return format('%s.%s is missing; it must be %s', path, field.name,
                            private.setting_rule_says(field.rule));
            end if;
          else
            problem := private.setting_value_problem(path || '.' || field.name, field.rule,
                                                     value -> field.name);
            if problem is not null then
              return problem;
            end if;
          end if;
          -- Between fields: a number at least a sibling's, a value needed once a sibling is set.
          sibling := value -> (field.rule ->> 'at_least');
          if field.rule ? 'at_least' and jsonb_typeof(value -> field.name) = 'number'
             and jsonb_typeof(sibling) = 'number'
             and (value ->> field.name)::numeric < (sibling #>> '{}')::numeric then
            return format('%s.%s must be at least %s (%s)', path, field.name,
                          field.rule ->> 'at_least', sibling #>> '{}');
          end if;
          sibling := value -> (field.rule ->> 'needed_with');
          if field.rule ? 'needed_with' and coalesce(jsonb_typeof(value -> field.name), 'null') = 'null'
             and coalesce(jsonb_typeof(sibling), 'null') <> 'null' then
            return format('%s.%s must be %s when %s is set', path, field.name,
                          private.setting_rule_says(field.rule - 'nullable'),
                          field.rule ->> 'needed_with');
          end if;
        end loop;
        return null;
      end if;
    when 'map' then
      if jsonb_typeof(value) = 'object' then
        for field in select f.key as name, f.value from jsonb_each(value) f order by f.key
        loop
          if field.name !~ (rule ->> 'keys') then
            return format('%s has a key "%s" that is not %s', path, left(field.name, 60),
                          rule ->> 'keys_say');
          end if;
          problem := private.setting_value_problem(path || '.' || field.name, rule -> 'values',
                                                   field.value);
          if problem is not null then
            return problem;
          end if;
        end loop;
        return null;
      end if;
    else
      raise exception 'setting rule of %: unknown type %', path, kind using errcode = '22023';
  end case;
  return format('%s must be %s', path, private.setting_rule_says(rule));
end;
$$;

comment on function private.setting_value_problem(text, jsonb, jsonb) is
  'Why a setting value breaks its rule (private.setting_rules.rule), e.g. '
  '"CADENCE_RECENT_REPLY_HOURS must be a whole number of hours from 1 to 720"; null when it '
  'does not. `path` is the key the message names. Called by the check of public.app_settings.';

-- The rules. Days, hours and paise are whole numbers wherever a reader casts them to integer or
-- bigint; a range a reader already enforces (falling back outside it) is the rule's range.
insert into private.setting_rules (key, rule, note) values
  -- Switches.
  ('ENABLE_WHATSAPP_CAMPAIGNS', '{"type": "boolean"}', null),
  ('ENABLE_SMS_CAMPAIGNS', '{"type": "boolean"}', null),
  ('ENABLE_EMAIL_CAMPAIGNS', '{"type": "boolean"}', null),
  ('ENABLE_AI_ASSISTANT', '{"type": "boolean"}', null),
  ('ENABLE_PAYMENT_LINKS', '{"type": "boolean"}', null),
  ('ENABLE_SOCIAL_INTEGRATIONS', '{"type": "boolean"}', null),
  -- The business calendar.
  ('BUSINESS_TIME_ZONE', '{"type": "time_zone"}',
   'An abbreviation (IST) is refused: Postgres reads it per session (timezone_abbreviations).'),
  ('RENEWAL_LEAD_DAYS',
   '{"type": "object", "fields": {
      "motor": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "health": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "life": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "home": {"type": "integer", "min": 0, "max": 365, "unit": "days"}}}',
   'Every product line: a line left out opened its cases on the expiry day (lead 0), silently.'),
  ('GRACE_DAYS',
   '{"type": "object", "fields": {
      "motor": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "health": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "life": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "life_monthly": {"type": "integer", "min": 0, "max": 365, "unit": "days"},
      "home": {"type": "integer", "min": 0, "max": 365, "unit": "days"}}}',
   'Every product line and life_monthly: one left out had no grace (0), not the line''s.'),
  ('HIGH_PRIORITY_PREMIUM_PAISE',
   '{"type": "integer", "min": 0, "max": 100000000000, "unit": "paise"}',
   'Paise amounts of settings stop at 100000000000 (Rs 100 crore).'),
  ('NCB_RETENTION_DAYS', '{"type": "integer", "min": 0, "max": 365, "unit": "days"}',
   'The no-claim bonus is kept 90 days after expiry (IRDAI); a year is the most that makes sense.'),
  -- The reminder cadence.
  ('CADENCE_BOUNCE_LOOKBACK_DAYS', '{"type": "integer", "min": 0, "max": 365, "unit": "days"}', null),
  ('CADENCE_LINK_OPENED_HOURS', '{"type": "integer", "min": 1, "max": 720, "unit": "hours"}',
   'Cadence windows are 1 hour to 30 days: a longer one is not recent activity.'),
  ('CADENCE_PAYMENT_IN_PROGRESS_HOURS', '{"type": "integer", "min": 1, "max": 720, "unit": "hours"}', null),
  ('CADENCE_RECENT_REPLY_HOURS', '{"type": "integer", "min": 1, "max": 720, "unit": "hours"}', null),
  ('CALL_TASK_MIN_PREMIUM_PAISE',
   '{"type": "integer", "min": 0, "max": 100000000000, "unit": "paise"}', null),
  ('LINK_BASE_URL', '{"type": "url"}',
   'A trailing slash is allowed: the readers drop it.'),
  -- Messages: the gate and the dispatcher.
  ('MESSAGE_RATES_PAISE',
   '{"type": "object", "fields": {
      "sms_segment": {"type": "number", "min": 0, "max": 100000, "unit": "paise"},
      "email": {"type": "number", "min": 0, "max": 100000, "unit": "paise"},
      "whatsapp_utility": {"type": "number", "min": 0, "max": 100000, "unit": "paise"},
      "whatsapp_marketing": {"type": "number", "min": 0, "max": 100000, "unit": "paise"},
      "whatsapp_authentication": {"type": "number", "min": 0, "max": 100000, "unit": "paise"},
      "whatsapp_service": {"type": "number", "min": 0, "max": 100000, "unit": "paise"}}}',
   'Fractions of a paisa are real rates; every rate the gate prices by is needed (a missing one '
   'left the estimate empty). At most Rs 1,000 a message.'),
  ('PROMOTIONAL_HOURS',
   '{"type": "object", "fields": {"start": {"type": "time"}, "end": {"type": "time"}}}',
   'Equal start and end: always open.'),
  ('QUIET_HOURS',
   '{"type": "object", "says": "an object {\"start\": \"HH:MM\" or null (no quiet hours), \"end\": \"HH:MM\"}",
     "fields": {"start": {"type": "time", "nullable": true},
                "end": {"type": "time", "nullable": true, "optional": true, "needed_with": "start"}}}',
   'Equal start and end: no quiet hours, as a null start.'),
  ('MESSAGE_FREQUENCY_CAPS',
   '{"type": "object",
     "says": "an object {\"marketing\": {\"max\": N, \"days\": N}, \"service\": {...}}, either left out for no cap",
     "fields": {
       "marketing": {"type": "object", "optional": true, "fields": {
         "max": {"type": "integer", "min": 1, "max": 1000, "unit": "messages"},
         "days": {"type": "integer", "min": 1, "max": 365, "unit": "days"}}},
       "service": {"type": "object", "optional": true, "fields": {
         "max": {"type": "integer", "min": 1, "max": 1000, "unit": "messages"},
         "days": {"type": "integer", "min": 1, "max": 365, "unit": "days"}}}}}',
   'Transactional messages are never capped, so that purpose is no field.'),
  ('MESSAGE_RETRY',
   '{"type": "object", "fields": {
      "max_attempts": {"type": "integer", "min": 1, "max": 100, "unit": "attempts"},
      "base_seconds": {"type": "number", "min": 0.01, "max": 86400, "unit": "seconds"},
      "max_seconds": {"type": "number", "min": 0.01, "max": 86400, "unit": "seconds",
                      "at_least": "base_seconds"}}}',
   'Seconds may be fractions (the backoff is computed in numeric; tests retry in 50 ms).'),
  ('MESSAGE_LEASE_SECONDS', '{"type": "integer", "min": 5, "max": 86400, "unit": "seconds"}',
   'Under 5 seconds a send in flight would be claimed again.'),
  ('MESSAGE_STALL_LIMIT', '{"type": "integer", "min": 1, "max": 100, "unit": "leases"}', null),
  ('MESSAGE_UNCONFIRMED_HOURS', '{"type": "integer", "min": 1, "max": 720, "unit": "hours"}', null),
  ('PROVIDER_BREAKER',
   '{"type": "object", "fields": {
      "failures": {"type": "integer", "min": 1, "max": 1000, "unit": "failures"},
      "open_seconds": {"type": "integer", "min": 1, "max": 3600, "unit": "seconds"}}}',
   'The runbook''s longest pause is 300 seconds; an hour is the most.'),
  ('VENDOR_MONTHLY_BUDGET_PAISE',
   '{"type": "map", "keys": "^[a-z][a-z0-9_]{1,40}$", "keys_say": "a vendor code (lower case, e.g. twilio)",
     "values": {"type": "integer", "min": 1, "max": 100000000000, "unit": "paise"}}',
   'A vendor left out has no budget.'),
  ('CAMPAIGN_CONVERSION_DAYS', '{"type": "integer", "min": 1, "max": 365, "unit": "days"}', null),
  -- Payments.
  ('RAZORPAY_ORDER_TTL',
   '{"type": "interval", "min": "1 second", "max": "1 day", "example": "30 minutes"}',
   'Seconds are allowed: the tests let an order expire in one, as they shorten MESSAGE_RETRY.'),
  ('RAZORPAY_RECONCILE_AFTER',
   '{"type": "interval", "min": "1 minute", "max": "1 day", "example": "10 minutes"}', null),
  ('PAYMENT_LINK_TTL',
   '{"type": "interval", "min": "1 hour", "max": "180 days", "example": "15 days"}',
   'Razorpay keeps a link payable for at most 6 months.'),
  ('RAZORPAY_WEBHOOK_REPLAY_WINDOW',
   '{"type": "interval", "min": "1 hour", "max": "90 days", "example": "7 days"}', null),
  ('PARTIAL_PAYMENTS',
   '{"type": "object",
     "says": "an object of product lines to null (no parts) or {\"min_first_percent\": N}",
     "fields": {
       "motor": {"type": "object", "optional": true, "nullable": true, "fields": {
         "min_first_percent": {"type": "integer", "min": 1, "max": 100, "says": "a whole percentage from 1 to 100"}}},
       "health": {"type": "object", "optional": true, "nullable": true, "fields": {
         "min_first_percent": {"type": "integer", "min": 1, "max": 100, "says": "a whole percentage from 1 to 100"}}},
       "life": {"type": "object", "optional": true, "nullable": true, "fields": {
         "min_first_percent": {"type": "integer", "min": 1, "max": 100, "says": "a whole percentage from 1 to 100"}}},
       "home": {"type": "object", "optional": true, "nullable": true, "fields": {
         "min_first_percent": {"type": "integer", "min": 1, "max": 100, "says": "a whole percentage from 1 to 100"}}}}}',
   'A line left out takes no partial payments, as null.'),
  ('AUTOPAY_MANDATE_LIMIT_PAISE',
   '{"type": "integer", "min": 0, "max": 100000000000, "unit": "paise"}', null),
  ('AUTOPAY_MIN_LEAD',
   '{"type": "interval", "min": "37 hours", "max": "90 days", "example": "48 hours"}',
   'Under 37 hours was silently read as 37 (the mandate is authorised up to 36 hours before).'),
  ('INSTALLMENT_LOADING_PCT',
   '{"type": "object", "fields": {
      "half_yearly": {"type": "number", "min": 0, "max": 99, "optional": true, "says": "a percentage from 0 to 99"},
      "quarterly": {"type": "number", "min": 0, "max": 99, "optional": true, "says": "a percentage from 0 to 99"},
      "monthly": {"type": "number", "min": 0, "max": 99, "optional": true, "says": "a percentage from 0 to 99"}}}',
   'A frequency left out (or 0) quotes no saving.'),
  -- The AI assistant (private.ai_settings' ranges).
  ('AI_MODEL',
   '{"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$",
     "says": "a model name such as \"gpt-4o-mini\" (letters, digits, . _ : / -; at most 100 characters)"}',
   null),
  ('AI_RATE_LIMIT_PER_MINUTE', '{"type": "integer", "min": 0, "max": 100000, "unit": "requests"}',
   '0 refuses every request.'),
  ('AI_USER_DAILY_BUDGET_PAISE',
   '{"type": "integer", "min": 0, "max": 100000000000, "unit": "paise"}', null),
  ('AI_MONTHLY_BUDGET_PAISE',
   '{"type": "integer", "min": 0, "max": 100000000000, "unit": "paise"}', null),
  ('AI_PRICE_PAISE_PER_1K_TOKENS',
   '{"type": "object", "fields": {
      "input": {"type": "number", "min": 0, "max": 1000000, "unit": "paise"},
      "output": {"type": "number", "min": 0, "max": 1000000, "unit": "paise"}}}', null),
  ('AI_MAX_OUTPUT_TOKENS', '{"type": "integer", "min": 1, "max": 100000, "unit": "tokens"}', null),
  ('AI_CACHE_SECONDS', '{"type": "integer", "min": 0, "max": 315360000, "unit": "seconds"}', null),
  ('AI_RETENTION_DAYS', '{"type": "integer", "min": 1, "max": 36500, "unit": "days"}',
   'The purge counted 0 as 1: 0 is refused instead.'),
  -- Analysts.
  ('ANALYST_STATEMENT_LIMIT_SECONDS', '{"type": "integer", "min": 10, "max": 3600, "unit": "seconds"}', null),
  ('ANALYST_IDLE_IN_TRANSACTION_LIMIT_SECONDS',
   '{"type": "integer", "min": 30, "max": 86400, "unit": "seconds"}', null),
  ('ANALYST_TEMP_FILE_LIMIT', '{"type": "disk_size", "min": "1MB", "max": "1TB"}',
   'temp_file_limit''s own syntax; Postgres takes at most 2TB less 1kB.'),
  -- Consent, documents, retention.
  ('CONSENT_LINK_DAYS', '{"type": "integer", "min": 1, "max": 3650, "unit": "days"}', null),
  ('CONSENT_NOTICE_VERSION',
   '{"type": "string", "pattern": "^[!-~]([ -~]{0,98}[!-~])?$",
     "says": "a notice version such as \"2026-11\" (printable ASCII, 1 to 100 characters, no space at either end)"}',
   'The consent ledger takes a version of 1 to 100 characters.'),
  ('CONSENT_PAGE_BASE_URL', '{"type": "url"}', null),
  ('DOCUMENT_LINK_DAYS', '{"type": "integer", "min": 1, "max": 3650, "unit": "days"}', null),
  ('DOCUMENT_RETENTION_YEARS',
   '{"type": "object", "fields": {
      "policy_copy": {"type": "integer", "min": 0, "max": 100, "unit": "years"},
      "renewal_notice": {"type": "integer", "min": 0, "max": 100, "unit": "years"},
      "receipt": {"type": "integer", "min": 0, "max": 100, "unit": "years"},
      "kyc": {"type": "integer", "min": 0, "max": 100, "unit": "years"},
      "endorsement": {"type": "integer", "min": 0, "max": 100, "unit": "years"},
      "other": {"type": "integer", "min": 0, "max": 100, "unit": "years"}}}',
   'Every document kind: one left out took its default without a word.'),
  ('EXPORT_DOWNLOAD_DAYS', '{"type": "integer", "min": 1, "max": 90, "unit": "days"}', null),
  ('LINK_CLICK_RETENTION_DAYS', '{"type": "integer", "min": 1, "max": 36500, "unit": "days"}', null),
  ('MESSAGE_BODY_RETENTION_DAYS', '{"type": "integer", "min": 1, "max": 36500, "unit": "days"}', null),
  ('WEBHOOK_PAYLOAD_RETENTION_DAYS', '{"type": "integer", "min": 1, "max": 36500, "unit": "days"}', null),
  ('RETENTION_BATCH_SIZE', '{"type": "integer", "min": 10, "max": 100000, "unit": "rows"}', null),
  ('RETENTION_MAX_ROWS_PER_RUN', '{"type": "integer", "min": 1000, "max": 100000000, "unit": "rows"}', null);

-- Every value set so far must pass its rule, or the migration stops here naming each one.
do $$
declare
  broken text;
begin
  select string_agg(coalesce(private.setting_value_problem(s.key, r.rule, s.value),
                             format('%s has no rule', s.key)), E'\n' order by s.key)
    into broken
    from public.app_settings s
    left join private.setting_rules r on r.key = s.key
   where r.key is null or private.setting_value_problem(s.key, r.rule, s.value) is not null;
  if broken is not null then
    raise exception E'settings that break their rules (fix the values, then migrate again):\n%', broken
      using errcode = '22023';
  end if;
end;
$$;

alter table public.app_settings
  add constraint app_settings_key_has_rule foreign key (key) references private.setting_rules (key);

create function private.tg_app_settings__check_value() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  key_rule jsonb;
  problem text;
begin
  select r.rule into key_rule from private.setting_rules r where r.key = new.key;
  if key_rule is null then
    raise exception 'the setting % has no rule: a migration that adds a setting adds its rule to private.setting_rules first',
      new.key using errcode = '22023';
  end if;
  problem := private.setting_value_problem(new.key, key_rule, new.value);
  if problem is not null then
    raise exception '%', problem using errcode = '22023',
      detail = format('Refused value: %s', left(new.value::text, 200));
  end if;
  return new;
end;
$$;

comment on function private.tg_app_settings__check_value() is
  'Trigger: refuses a setting value that breaks its key''s rule (private.setting_rules), or a key '
  'without one, with 22023 and what the key expects. Security definer: the rules are private, '
  'and the admins who write settings cannot read them.';

create trigger _050_check_value before insert or update on public.app_settings
  for each row execute function private.tg_app_settings__check_value();
-- Whatever session_replication_role says: a bulk load writes checked values too.
alter table public.app_settings enable always trigger _050_check_value;

create function private.tg_setting_rules__check_current_value() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text;
begin
  select private.setting_value_problem(s.key, new.rule, s.value) into problem
    from public.app_settings s where s.key = new.key;
  if problem is not null then
    raise exception 'the rule of % refuses its current value: %', new.key, problem
      using errcode = '22023';
  end if;
  return null;
end;
$$;

comment on function private.tg_setting_rules__check_current_value() is
  'Trigger: a rule added or changed must pass its setting''s current value (a migration changes '
  'the value first).';

create trigger _100_check_current_value after insert or update on private.setting_rules
  for each row execute function private.tg_setting_rules__check_current_value();

revoke execute on function private.setting_rule_says(jsonb),
  private.setting_value_problem(text, jsonb, jsonb),
  private.tg_app_settings__check_value(),
  private.tg_setting_rules__check_current_value()
  from public, anon, authenticated, service_role;

comment on column public.app_settings.value is
  'JSON value: true/false for flags, else as described. Checked on every write against the '
  'key''s rule in private.setting_rules; a value that breaks it is refused (22023) with what the '
  'key expects.';
