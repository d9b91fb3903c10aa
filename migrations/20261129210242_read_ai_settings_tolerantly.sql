-- The AI settings read tolerantly: an admin's bad value falls back to the shipped default instead
-- of breaking every AI request. Before, private.ai_cached / ai_admit / ai_settle /
-- expire_ai_requests (20261129201002, 20261129202028) cast each setting as they read it, so
-- AI_RATE_LIMIT_PER_MINUTE = "ten" or a price of "cheap" raised 22P02 (a 400 from the API) and
-- AI_MODEL = "" broke the ledger's check constraint (a 422), on every AI endpoint.
--
-- private.ai_settings() reads them all once: numbers (JSON numbers, or strings holding one) within
-- their range, the model a plausible model name, the switch a boolean (or "true"/"false",
-- "on"/"off", "yes"/"no", "1"/"0"); anything else is the default, and the key is named in
-- `defaulted` so the functions can log it (private.ai_number parses one number). The four
-- functions are re-created to read it; what they do is unchanged.

create function private.ai_number(value jsonb, low numeric, high numeric) returns numeric
language sql
immutable
set search_path = ''
as $$
  select n
    from (select case
                   when jsonb_typeof(value) = 'number' then (value #>> '{}')::numeric
                   when jsonb_typeof(value) = 'string'
                        and btrim(value #>> '{}') ~ '^[+-]?([0-9]{1,15}(\.[0-9]{0,12})?|\.[0-9]{1,12})$'
                     then btrim(value #>> '{}')::numeric
                 end as n) parsed
   where n between low and high
$$;

comment on function private.ai_number(jsonb, numeric, numeric) is
  'A setting''s value as a number when it is one (a JSON number, or a string holding a plain '
  'decimal) between low and high; null otherwise. Used by private.ai_settings.';

revoke execute on function private.ai_number(jsonb, numeric, numeric) from public;
grant execute on function private.ai_number(jsonb, numeric, numeric) to service_role;

create function private.ai_settings()
returns table (
  enabled boolean,
  model text,
  rate_limit_per_minute integer,
  user_daily_budget_paise numeric,
  monthly_budget_paise numeric,
  price_input_paise_per_1k numeric,
  price_output_paise_per_1k numeric,
  max_output_tokens integer,
  cache_seconds integer,
  retention_days integer,
  defaulted text[]
)
language sql
stable
set search_path = ''
as $$
  with raw as (
    select private.setting('ENABLE_AI_ASSISTANT') as enabled,
           private.setting('AI_MODEL') as model,
           private.setting('AI_RATE_LIMIT_PER_MINUTE') as rate_limit,
           private.setting('AI_USER_DAILY_BUDGET_PAISE') as day_budget,
           private.setting('AI_MONTHLY_BUDGET_PAISE') as month_budget,
           private.setting('AI_PRICE_PAISE_PER_1K_TOKENS') as price,
           private.setting('AI_MAX_OUTPUT_TOKENS') as max_output,
           private.setting('AI_CACHE_SECONDS') as cache,
           private.setting('AI_RETENTION_DAYS') as retention
  ),
  parsed as (
    select r.*,
           case
             when jsonb_typeof(r.enabled) = 'boolean' then (r.enabled #>> '{}')::boolean
             when lower(btrim(r.enabled #>> '{}')) in ('true', 'on', 'yes', '1') then true
             when lower(btrim(r.enabled #>> '{}')) in ('false', 'off', 'no', '0') then false
           end as enabled_value,
           case
             when jsonb_typeof(r.model) = 'string'
                  and btrim(r.model #>> '{}') ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$'
               then btrim(r.model #>> '{}')
           end as model_value,
           trunc(private.ai_number(r.rate_limit, 0, 100000))::integer as rate_limit_value,
           private.ai_number(r.day_budget, 0, 1e12) as day_budget_value,
           private.ai_number(r.month_budget, 0, 1e14) as month_budget_value,
           private.ai_number(case when jsonb_typeof(r.price) = 'object' then r.price -> 'input' end,
                             0, 1e6) as price_in_value,
           private.ai_number(case when jsonb_typeof(r.price) = 'object' then r.price -> 'output' end,
                             0, 1e6) as price_out_value,
           trunc(private.ai_number(r.max_output, 1, 100000))::integer as max_output_value,
           trunc(private.ai_number(r.cache, 0, 315360000))::integer as cache_value,
           trunc(private.ai_number(r.retention, 0, 36500))::integer as retention_value
      from raw r
  )
  select coalesce(p.enabled_value, true),
         coalesce(p.model_value, 'gpt-4o-mini'),
         coalesce(p.rate_limit_value, 10),
         coalesce(p.day_budget_value, 5000),
         coalesce(p.month_budget_value, 500000),
         coalesce(p.price_in_value, 1.32),
         coalesce(p.price_out_value, 5.28),
         coalesce(p.max_output_value, 800),
         coalesce(p.cache_value, 600),
         coalesce(p.retention_value, 30),
         array_remove(array[
           case when p.enabled is not null and p.enabled_value is null
             then 'ENABLE_AI_ASSISTANT' end,
           case when p.model is not null and p.model_value is null then 'AI_MODEL' end,
           case when p.rate_limit is not null and p.rate_limit_value is null
             then 'AI_RATE_LIMIT_PER_MINUTE' end,
           case when p.day_budget is not null and p.day_budget_value is null
             then 'AI_USER_DAILY_BUDGET_PAISE' end,
           case when p.month_budget is not null and p.month_budget_value is null
             then 'AI_MONTHLY_BUDGET_PAISE' end,
           case when p.price is not null and (p.price_in_value is null or p.price_out_value is null)
             then 'AI_PRICE_PAISE_PER_1K_TOKENS' end,
           case when p.max_output is not null and p.max_output_value is null
             then 'AI_MAX_OUTPUT_TOKENS' end,
           case when p.cache is not null and p.cache_value is null then 'AI_CACHE_SECONDS' end,
           case when p.retention is not null and p.retention_value is null
             then 'AI_RETENTION_DAYS' end
         ], null)
    from parsed p
$$;

comment on function private.ai_settings() is
  'The AI assistant''s settings, each read tolerantly: ENABLE_AI_ASSISTANT (the admins'' switch; '
  'default true), AI_MODEL (a model name: letters, digits and . _ : / -; default gpt-4o-mini), '
  'AI_RATE_LIMIT_PER_MINUTE (0-100000; 10), AI_USER_DAILY_BUDGET_PAISE (5000), '
  'AI_MONTHLY_BUDGET_PAISE (500000), AI_PRICE_PAISE_PER_1K_TOKENS input and output (0-1e6; '
  '1.32 and 5.28), AI_MAX_OUTPUT_TOKENS (1-100000; 800), AI_CACHE_SECONDS (600), '
  'AI_RETENTION_DAYS (0-36500; 30). A number may be a JSON number or a string holding one; a '
  'value that is not readable or out of range gives the default, and its key is listed in '
  'defaulted (a missing key gives the default silently). Read by the AI functions and by the '
  'edge functions (service_role).';

revoke execute on function private.ai_settings() from public;
grant execute on function private.ai_settings() to service_role;

create or replace function private.ai_enabled() returns boolean
language sql
stable
set search_path = ''
as $$
  select s.enabled from private.ai_settings() s
$$;

comment on function private.ai_enabled() is
  'Whether the app setting ENABLE_AI_ASSISTANT lets the assistant call the model (true when '
  'unset or unreadable: the functions'' env flag decides first). Used by ai_cached and ai_admit '
  'only.';

create or replace function private.ai_rate_window(caller uuid, as_of timestamptz)
returns table (recent integer, frees_at timestamptz)
language sql
stable
set search_path = ''
as $$
  with window_rows as (
    select r.created_at
      from public.ai_requests r
     where r.caller = ai_rate_window.caller
       and r.created_at > ai_rate_window.as_of - interval '1 minute'
       and r.outcome not in ('rate_limited', 'over_budget')
  ),
  limits as (
    select s.rate_limit_per_minute as per_minute from private.ai_settings() s
  )
  select (select count(*)::integer from window_rows),
         (select w.created_at + interval '1 minute'
            from window_rows w
           order by w.created_at
          offset greatest((select count(*) from window_rows) - (select per_minute from limits), 0)
           limit 1)
$$;

create or replace function private.ai_cached(
  purpose public.ai_purpose,
  caller uuid,
  case_id uuid,
  customer_id uuid,
  model text,
  prompt_hash text,
  max_age_seconds integer,
  as_of timestamptz default now()
)
returns table (request_id uuid, response jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
  settings record;
  source_id uuid;
  source_response jsonb;
  recent integer;
  hit_id uuid;
begin
  if ai_cached.purpose is null or ai_cached.caller is null or ai_cached.prompt_hash is null
     or ai_cached.model is null or ai_cached.as_of is null or not isfinite(ai_cached.as_of)
     or ai_cached.max_age_seconds < 0 then
    raise exception 'ai_cached needs a purpose, caller, model, prompt_hash, a finite as_of and a max_age_seconds of 0 or more (null: no limit)'
      using errcode = '22023';
  end if;
  select * into settings from private.ai_settings();
  if not settings.enabled or ai_cached.max_age_seconds = 0 then
    return;
  end if;
  -- A hit counts toward the rate limit like a call: at the limit, no hit (ai_admit then refuses).
  perform pg_advisory_xact_lock(hashtextextended('py360.ai_requests.caller:' || ai_cached.caller, 0));
  select w.recent into recent from private.ai_rate_window(ai_cached.caller, ai_cached.as_of) w;
  if recent >= settings.rate_limit_per_minute then
    return;
  end if;
  select r.id, r.response into source_id, source_response
    from public.ai_requests r
   where r.prompt_hash = ai_cached.prompt_hash
     and r.purpose = ai_cached.purpose
     and r.outcome = 'ok'
     and r.response is not null
     and (ai_cached.max_age_seconds is null
          or r.created_at >= ai_cached.as_of - make_interval(secs => ai_cached.max_age_seconds))
   order by r.created_at desc
   limit 1;
  if source_id is null then
    return;
  end if;
  insert into public.ai_requests (created_at, finished_at, purpose, caller, case_id, customer_id,
                                  model, prompt_hash, tokens_in, tokens_out, cost_paise,
                                  latency_ms, attempts, outcome, source, cached_from)
  values (ai_cached.as_of, ai_cached.as_of, ai_cached.purpose, ai_cached.caller,
          ai_cached.case_id, ai_cached.customer_id, ai_cached.model, ai_cached.prompt_hash, 0, 0,
          0, 0, 0, 'cached', 'cache', source_id)
  returning id into hit_id;
  return query select hit_id, source_response;
end;
$$;

create or replace function private.ai_admit(
  purpose public.ai_purpose,
  caller uuid,
  case_id uuid,
  customer_id uuid,
  model text,
  prompt_hash text,
  prompt jsonb,
  estimated_cost_paise numeric,
  as_of timestamptz default now()
)
returns table (request_id uuid, refusal text, retry_after_seconds integer)
language plpgsql
security definer
set search_path = ''
as $$
declare
  settings record;
  zone text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  local_now timestamp := ai_admit.as_of at time zone zone;
  day_start timestamptz := date_trunc('day', local_now) at time zone zone;
  next_day timestamptz := (date_trunc('day', local_now) + interval '1 day') at time zone zone;
  month_start timestamptz := date_trunc('month', local_now) at time zone zone;
  next_month timestamptz := (date_trunc('month', local_now) + interval '1 month') at time zone zone;
  recent integer;
  frees_at timestamptz;
  day_spend numeric;
  month_spend numeric;
  refused public.ai_outcome;
  wait_seconds integer;
  new_id uuid;
begin
  if ai_admit.purpose is null or ai_admit.caller is null or ai_admit.model is null
     or ai_admit.prompt_hash is null or ai_admit.estimated_cost_paise is null
     or ai_admit.estimated_cost_paise < 0 or ai_admit.as_of is null
     or not isfinite(ai_admit.as_of) then
    raise exception 'ai_admit needs a purpose, caller, model, prompt_hash, an estimated_cost_paise of 0 or more and a finite as_of'
      using errcode = '22023';
  end if;
  select * into settings from private.ai_settings();
  if not settings.enabled then
    return query select null::uuid, 'disabled'::text, null::integer;
    return;
  end if;
  -- The caller's lock, then the global one (always in this order): the counts below see every
  -- request admitted before, committed or ours.
  perform pg_advisory_xact_lock(hashtextextended('py360.ai_requests.caller:' || ai_admit.caller, 0));
  perform pg_advisory_xact_lock(hashtextextended('py360.ai_requests', 0));

  select w.recent, w.frees_at into recent, frees_at
    from private.ai_rate_window(ai_admit.caller, ai_admit.as_of) w;
  if recent >= settings.rate_limit_per_minute then
    refused := 'rate_limited';
    wait_seconds := greatest(1, ceil(extract(epoch from frees_at - ai_admit.as_of))::integer);
  else
    -- Spend: what settled rows cost plus what pending ones are expected to. Rows dated after
    -- as_of count too (admitted by a transaction that started after ours).
    select coalesce(sum(coalesce(r.cost_paise, r.estimated_cost_paise)), 0) into day_spend
      from public.ai_requests r
     where r.caller = ai_admit.caller and r.created_at >= day_start;
    select coalesce(sum(coalesce(r.cost_paise, r.estimated_cost_paise)), 0) into month_spend
      from public.ai_requests r
     where r.created_at >= month_start;
    if day_spend >= settings.user_daily_budget_paise
       or month_spend >= settings.monthly_budget_paise then
      refused := 'over_budget';
      wait_seconds := ceil(extract(epoch from
        greatest(case when month_spend >= settings.monthly_budget_paise then next_month end,
                 case when day_spend >= settings.user_daily_budget_paise then next_day end)
        - ai_admit.as_of))::integer;
    end if;
  end if;

  if refused is not null then
    insert into public.ai_requests (created_at, finished_at, purpose, caller, case_id,
                                    customer_id, model, prompt_hash, prompt, estimated_cost_paise,
                                    cost_paise, attempts, outcome, source)
    values (ai_admit.as_of, ai_admit.as_of, ai_admit.purpose, ai_admit.caller, ai_admit.case_id,
            ai_admit.customer_id, ai_admit.model, ai_admit.prompt_hash, ai_admit.prompt,
            ai_admit.estimated_cost_paise, 0, 0, refused, 'rules')
    returning id into new_id;
    return query select new_id, refused::text, wait_seconds;
    return;
  end if;

  insert into public.ai_requests (created_at, purpose, caller, case_id, customer_id, model,
                                  prompt_hash, prompt, estimated_cost_paise, outcome)
  values (ai_admit.as_of, ai_admit.purpose, ai_admit.caller, ai_admit.case_id,
          ai_admit.customer_id, ai_admit.model, ai_admit.prompt_hash, ai_admit.prompt,
          ai_admit.estimated_cost_paise, 'pending')
  returning id into new_id;
  return query select new_id, null::text, null::integer;
end;
$$;

create or replace function private.ai_settle(
  request_id uuid,
  outcome public.ai_outcome,
  tokens_in integer,
  tokens_out integer,
  latency_ms integer,
  attempts integer,
  response jsonb
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  settings record;
begin
  if ai_settle.request_id is null
     or ai_settle.outcome is null
     or ai_settle.outcome not in ('ok', 'invalid', 'refused', 'truncated', 'timeout', 'error')
     or coalesce(ai_settle.tokens_in, 0) < 0 or coalesce(ai_settle.tokens_out, 0) < 0
     or ai_settle.latency_ms < 0 or coalesce(ai_settle.attempts, 0) not between 0 and 10 then
    raise exception 'ai_settle needs a request_id, an outcome among ok, invalid, refused, truncated, timeout, error, and no negative figures'
      using errcode = '22023';
  end if;
  select * into settings from private.ai_settings();
  update public.ai_requests r
     set outcome = ai_settle.outcome,
         finished_at = now(),
         tokens_in = coalesce(ai_settle.tokens_in, 0),
         tokens_out = coalesce(ai_settle.tokens_out, 0),
         cost_paise = trim_scale((coalesce(ai_settle.tokens_in, 0) * settings.price_input_paise_per_1k
                                  + coalesce(ai_settle.tokens_out, 0)
                                    * settings.price_output_paise_per_1k) / 1000),
         latency_ms = ai_settle.latency_ms,
         attempts = coalesce(ai_settle.attempts, 0),
         response = ai_settle.response,
         source = case when ai_settle.outcome = 'ok' then 'model' else 'rules' end
   where r.id = ai_settle.request_id
     and r.outcome = 'pending';
  return found;
end;
$$;

create or replace function private.expire_ai_requests(as_of timestamptz default now())
returns table (outcome text, requests bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  retention_days integer := (select s.retention_days from private.ai_settings() s);
  n_redacted bigint;
  n_abandoned bigint;
begin
  if expire_ai_requests.as_of is null or not isfinite(expire_ai_requests.as_of) then
    raise exception 'expire_ai_requests needs a finite as_of' using errcode = '22023';
  end if;
  update public.ai_requests r
     set prompt = null, response = null
   where r.created_at < expire_ai_requests.as_of - make_interval(days => retention_days)
     and (r.prompt is not null or r.response is not null);
  get diagnostics n_redacted = row_count;
  -- A process that died between admit and settle: closed as an error at its estimate, so the
  -- budgets stop counting it as in flight and the analyst sees what it may have cost.
  update public.ai_requests r
     set outcome = 'error',
         finished_at = expire_ai_requests.as_of,
         cost_paise = coalesce(r.estimated_cost_paise, 0),
         source = 'rules',
         response = coalesce(r.response, '{"error": "never settled"}'::jsonb)
   where r.outcome = 'pending'
     and r.created_at < expire_ai_requests.as_of - interval '1 hour';
  get diagnostics n_abandoned = row_count;
  return query values ('expired', n_redacted), ('abandoned', n_abandoned);
end;
$$;
