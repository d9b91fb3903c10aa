-- PROMOTIONAL_HOURS keeps marketing within TRAI's hours (a known limit from the second review).
--
-- TRAI's TCCCPR 2018 lets promotional messages go out only from 10:00 to 21:00 IST, and the spec
-- holds those hours as fixed law (quiet hours, for service messages, are the operator's to set).
-- The setting was checked for its shape only (20261130230500): {"start": "09:00", "end": "23:59"}
-- was taken, and so were equal ends, which every reader (the gate, the claim's re-check, a
-- campaign's launch) takes for "always open", and a window across midnight. Now the value must lie
-- within the law: start and end each from 10:00 to 21:00, and end later than start; anything else
-- is refused with 22023 naming the field and what it expects.
--
-- * Rules of type "time" take optional "min" and "max" ("HH:MM", inclusive), and a field of an
--   object may be "after" a sibling: a time strictly later than the sibling's.
-- * private.setting_rule_says and private.setting_value_problem are restated with both; every
--   other rule reads as before, word for word.
-- * A stored PROMOTIONAL_HOURS that breaks the new rule is not a reason to stop the migration (it
--   runs on databases in use): it is reset to TRAI's own 10:00-21:00, with a notice naming the old
--   value, before the rule changes (a rule must pass its setting's current value).
--
-- The readers keep their fallbacks for equal ends (always open): only the table's owner can still
-- write such a value, past the check (the end-to-end journeys and the simulated desk hold the hours
-- open that way, to run at any hour of the real clock).

-- What a rule asks for, in words: the end of "<KEY> must be ...".
create or replace function private.setting_rule_says(rule jsonb) returns text
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
             when 'time' then
               case when rule ? 'min' or rule ? 'max'
                    then format('a time of day "HH:MM" from %s to %s',
                                coalesce(rule ->> 'min', '00:00'),
                                coalesce(rule ->> 'max', '23:59'))
                    else 'a time of day "HH:MM" (00:00 to 23:59)' end
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
create or replace function private.setting_value_problem(path text, rule jsonb, value jsonb) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  kind text := rule ->> 'type';
  hh_mm constant text := '^([01][0-9]|2[0-3]):[0-5][0-9]$';
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
      if jsonb_typeof(value) = 'string' and given ~ hh_mm then
        if given::time between coalesce(rule ->> 'min', '00:00')::time
                           and coalesce(rule ->> 'max', '23:59')::time then
          return null;
        end if;
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
          -- Between fields: a number at least a sibling's, a time later than a sibling's, a value
          -- needed once a sibling is set.
          sibling := value -> (field.rule ->> 'at_least');
          if field.rule ? 'at_least' and jsonb_typeof(value -> field.name) = 'number'
             and jsonb_typeof(sibling) = 'number'
             and (value ->> field.name)::numeric < (sibling #>> '{}')::numeric then
            return format('%s.%s must be at least %s (%s)', path, field.name,
                          field.rule ->> 'at_least', sibling #>> '{}');
          end if;
          sibling := value -> (field.rule ->> 'after');
          if field.rule ? 'after' and (value ->> field.name) ~ hh_mm
             and (sibling #>> '{}') ~ hh_mm then
            -- A sibling that breaks its own rule is named for that, though its turn comes later:
            -- "later than 22:00" would send the writer past the bounds.
            problem := private.setting_value_problem(path || '.' || (field.rule ->> 'after'),
                                                     rule -> 'fields' -> (field.rule ->> 'after'),
                                                     sibling);
            if problem is not null then
              return problem;
            end if;
            if (value ->> field.name)::time <= (sibling #>> '{}')::time then
              return format('%s.%s must be later than %s (%s)', path, field.name,
                            field.rule ->> 'after', sibling #>> '{}');
            end if;
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

comment on column private.setting_rules.rule is
  'The value''s JSON shape, read by private.setting_value_problem: {"type": ...} with boolean; '
  'integer or number (min, max, unit); string (pattern, says); url (http(s)://host[:port][/path]); '
  'time_zone (an IANA name Postgres knows, or UTC); time ("HH:MM"; min, max, inclusive); interval '
  '(min, max, example); disk_size (min, max; or "-1"); object (fields: name -> rule, each required '
  'unless "optional", no other field); map (keys: a pattern, keys_say: one key in words, values: a '
  'rule). Any rule may be "nullable"; a field may be "at_least" a sibling number, "after" a sibling '
  'time (strictly later) or "needed_with" a sibling that is set; "says" replaces the generated '
  'description.';

-- The stored value first (a rule must pass its setting's current value), then the rule.
do $$
declare
  trai_hours constant jsonb := '{"type": "object", "fields": {
    "start": {"type": "time", "min": "10:00", "max": "21:00"},
    "end": {"type": "time", "min": "10:00", "max": "21:00", "after": "start"}}}';
  stored jsonb;
  problem text;
begin
  select s.value, private.setting_value_problem(s.key, trai_hours, s.value) into stored, problem
    from public.app_settings s
   where s.key = 'PROMOTIONAL_HOURS';
  if problem is not null then
    raise notice 'PROMOTIONAL_HOURS was %, outside TRAI''s hours (%): reset to 10:00-21:00',
      stored, problem;
    update public.app_settings set value = '{"start": "10:00", "end": "21:00"}'
     where key = 'PROMOTIONAL_HOURS';
  end if;
  update private.setting_rules
     set rule = trai_hours,
         note = 'TRAI''s TCCCPR 2018: promotional messages only from 10:00 to 21:00 IST (business '
                'time), fixed by law. A window inside those hours, start before end; equal ends '
                '(always open) and windows across midnight are refused.'
   where key = 'PROMOTIONAL_HOURS';
end;
$$;
