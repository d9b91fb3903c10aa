-- The AI assistant's ledger and guard rails (issue 10, "Guard rails"): every request to the model
-- that got past the feature flag is one row of public.ai_requests, with its purpose, caller, model,
-- tokens, exact cost in paise, latency, outcome and the redacted prompt and answer; the rate limit
-- and the budgets are checked here, in the database, before the call, so parallel requests
-- overshoot by at most one.
--
-- private.ai_cached  a recent `ok` answer to the same prompt (hash), served again (row `cached`);
-- private.ai_admit   under advisory locks (the caller's, then one global): `rate_limited` when the
--                    caller already has AI_RATE_LIMIT_PER_MINUTE requests in the last minute,
--                    `over_budget` when the caller's IST-day spend or everyone's IST-month spend
--                    (settled costs + the estimates of rows still pending) is at or above its
--                    budget; each refusal is a row too (cost 0, not counted by the rate limit);
--                    else a `pending` row whose id the caller settles;
-- private.ai_settle  the outcome, tokens, latency and answer of a pending row; the cost computed
--                    here from AI_PRICE_PAISE_PER_1K_TOKENS;
-- private.expire_ai_requests  daily (pg_cron 00:55 UTC): prompts and answers older than
--                    AI_RETENTION_DAYS are nulled (the figures stay), rows left pending by a
--                    crashed process for over an hour are closed as `error` at their estimate.
--
-- The app setting ENABLE_AI_ASSISTANT (an admin's switch, beside the functions' env flag of the
-- same name) is honoured here too: when false, ai_cached finds nothing and ai_admit refuses with
-- `disabled` and writes no row.

insert into public.app_settings (key, value, description) values
  ('AI_MODEL', '"gpt-4o-mini"', 'The OpenAI chat model the assistant asks.'),
  ('AI_RATE_LIMIT_PER_MINUTE', '10',
   'AI requests one user may make in any minute (every purpose together; cached answers count, '
   'refused requests do not).'),
  ('AI_USER_DAILY_BUDGET_PAISE', '5000',
   'What one user''s AI requests may cost per IST day, in paise (5000 = Rs 50).'),
  ('AI_MONTHLY_BUDGET_PAISE', '500000',
   'What everyone''s AI requests together may cost per IST calendar month, in paise '
   '(500000 = Rs 5,000).'),
  ('AI_PRICE_PAISE_PER_1K_TOKENS', '{"input": 1.32, "output": 5.28}',
   'Price of the AI_MODEL in paise per 1,000 tokens, input (prompt) and output (completion): '
   'gpt-4o-mini at $0.15 / $0.60 per million tokens and Rs 88 to the dollar.'),
  ('AI_MAX_OUTPUT_TOKENS', '800', 'The most tokens one AI answer may have (max_completion_tokens).'),
  ('AI_CACHE_SECONDS', '600',
   'How long an AI answer is served again for an identical request (same purpose and prompt), in '
   'seconds.'),
  ('AI_RETENTION_DAYS', '30',
   'Days the redacted prompts and answers of AI requests are kept; the figures stay.');

create type public.ai_purpose as enum (
  'risk_assessment', 'policy_recommendations', 'profile_summary', 'draft', 'chat'
);

comment on type public.ai_purpose is
  'What an AI request was for. risk_assessment: the explanation and next best action of a lapse-'
  'risk score; policy_recommendations: ranked renewal options; profile_summary: the customer '
  'profile''s summary; draft: a message draft for a case; chat: an agent''s conversation about a '
  'case.';

create type public.ai_outcome as enum (
  'pending', 'ok', 'cached', 'invalid', 'refused', 'truncated', 'timeout', 'error', 'rate_limited',
  'over_budget'
);

comment on type public.ai_outcome is
  'How an AI request ended. pending: admitted, the model not answered yet; ok: a valid answer; '
  'cached: an earlier ok answer to the same prompt served again, no call; invalid: the answer '
  'failed its schema or checks twice; refused: the model refused; truncated: the answer hit the '
  'token limit; timeout: the model did not answer in time; error: the model failed (429, 5xx, '
  'connection); rate_limited: refused before the call, the user''s per-minute limit; over_budget: '
  'refused before the call, the user''s daily or the monthly budget was spent. Every outcome but '
  'ok and cached means the desk got the rule-based answer.';

create table public.ai_requests (
  id uuid primary key default gen_random_uuid(),
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  purpose public.ai_purpose not null,
  caller uuid references auth.users (id) on delete set null,
  case_id uuid references public.renewal_cases (id) on delete set null,
  customer_id uuid references public.customers (id) on delete set null,
  model text not null check (length(model) between 1 and 100),
  prompt_hash text not null check (prompt_hash ~ '^[0-9a-f]{64}$'),
  prompt jsonb,
  response jsonb,
  tokens_in integer not null default 0 check (tokens_in >= 0),
  tokens_out integer not null default 0 check (tokens_out >= 0),
  estimated_cost_paise numeric check (estimated_cost_paise >= 0),
  cost_paise numeric check (cost_paise >= 0),
  latency_ms integer check (latency_ms >= 0),
  attempts smallint not null default 0 check (attempts between 0 and 10),
  outcome public.ai_outcome not null default 'pending',
  source text check (source in ('model', 'cache', 'rules')),
  cached_from uuid references public.ai_requests (id) on delete set null,
  constraint ai_requests_finished_when_settled
    check ((outcome = 'pending') = (finished_at is null)),
  constraint ai_requests_source_when_settled check ((outcome = 'pending') = (source is null)),
  constraint ai_requests_cost_when_settled check (outcome = 'pending' or cost_paise is not null),
  constraint ai_requests_cached_from_a_hit check ((outcome = 'cached') = (cached_from is not null))
);

comment on table public.ai_requests is
  'One row per AI assistant request that got past the feature flag: the model calls, the answers '
  'served from the cache, and the requests refused by the rate limit or the budgets. Prompts and '
  'answers are stored redacted (no phone, email, name, PAN or Aadhaar: tokens like <customer>) and '
  'nulled after AI_RETENTION_DAYS; the figures stay. A user reads their own rows, admins all; '
  'written only by private.ai_admit / ai_cached / ai_settle.';
comment on column public.ai_requests.finished_at is
  'When the request was settled (answered, failed, refused or served from the cache); null while '
  'pending.';
comment on column public.ai_requests.purpose is 'What the request was for (ai_purpose).';
comment on column public.ai_requests.caller is 'The user whose request it was (auth.users.id).';
comment on column public.ai_requests.case_id is 'The renewal case the request was about, if one.';
comment on column public.ai_requests.customer_id is 'The customer the request was about, if one.';
comment on column public.ai_requests.model is 'The OpenAI model asked (the AI_MODEL setting then).';
comment on column public.ai_requests.prompt_hash is
  'sha256 (hex) of the model, the answer schema''s name and the redacted messages: identical '
  'requests share it, which is how the cache finds them.';
comment on column public.ai_requests.prompt is
  'The redacted messages as sent ([{role, content}]); null after AI_RETENTION_DAYS and on cached '
  'rows (see cached_from).';
comment on column public.ai_requests.response is
  'The answer as received (the parsed JSON when ok; content, refusal and finish reason when not; '
  'the error when the call failed); null after AI_RETENTION_DAYS and on cached rows.';
comment on column public.ai_requests.tokens_in is 'Prompt tokens billed, over every attempt (the API''s usage).';
comment on column public.ai_requests.tokens_out is 'Completion tokens billed, over every attempt.';
comment on column public.ai_requests.estimated_cost_paise is
  'What the request was expected to cost at admission, in paise (the prompt''s tokens and the '
  'most output tokens allowed): counted against the budgets while the row is pending.';
comment on column public.ai_requests.cost_paise is
  'What the request cost, in paise, exact (fractions of a paisa kept): tokens times '
  'AI_PRICE_PAISE_PER_1K_TOKENS at settlement; 0 for cached and refused rows; null while pending.';
comment on column public.ai_requests.latency_ms is 'Milliseconds from the first call to the last answer (all attempts).';
comment on column public.ai_requests.attempts is 'Calls made to the model: 0 (cached, refused), 1, or 2 when the first answer was retried.';
comment on column public.ai_requests.outcome is 'How the request ended (ai_outcome); pending until settled.';
comment on column public.ai_requests.source is
  'Where the answer the desk got came from: model (the model''s answer), cache (an earlier one) '
  'or rules (the rule-based fallback); null while pending.';
comment on column public.ai_requests.cached_from is
  'On a cached row: the ok request whose answer was served again.';

create index ai_requests_caller_created_at_idx on public.ai_requests (caller, created_at);
create index ai_requests_created_at_idx on public.ai_requests (created_at);
create index ai_requests_cache_idx on public.ai_requests (prompt_hash, purpose, created_at desc)
  where outcome = 'ok';
create index ai_requests_case_id_idx on public.ai_requests (case_id) where case_id is not null;
create index ai_requests_customer_id_idx on public.ai_requests (customer_id)
  where customer_id is not null;
create index ai_requests_cached_from_idx on public.ai_requests (cached_from)
  where cached_from is not null;
create index ai_requests_pending_idx on public.ai_requests (created_at) where outcome = 'pending';

alter table public.ai_requests enable row level security;
revoke all on public.ai_requests from public, anon, authenticated, service_role;
grant select on public.ai_requests to authenticated, service_role;

create policy ai_requests_select_caller on public.ai_requests
  for select to authenticated
  using (caller = (select auth.uid()));

create policy ai_requests_select_admin on public.ai_requests
  for select to authenticated
  using ((select private.is_admin()));

-- Whether the admins' switch lets the assistant run (missing: yes; the env flag decides first).
create function private.ai_enabled() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce((private.setting('ENABLE_AI_ASSISTANT') #>> '{}')::boolean, true)
$$;

comment on function private.ai_enabled() is
  'Whether the app setting ENABLE_AI_ASSISTANT lets the assistant call the model (true when '
  'unset). Used by ai_cached and ai_admit only.';

revoke execute on function private.ai_enabled() from public;

-- How many of the caller's requests are in the rate-limit window ending at as_of, and the moment
-- the one that frees a place leaves it.
create function private.ai_rate_window(caller uuid, as_of timestamptz)
returns table (recent integer, frees_at timestamptz)
language sql stable
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
    select greatest(coalesce((private.setting('AI_RATE_LIMIT_PER_MINUTE') #>> '{}')::integer, 10),
                    0) as per_minute
  )
  select (select count(*)::integer from window_rows),
         (select w.created_at + interval '1 minute'
            from window_rows w
           order by w.created_at
          offset greatest((select count(*) from window_rows) - (select per_minute from limits), 0)
           limit 1)
$$;

comment on function private.ai_rate_window(uuid, timestamptz) is
  'The caller''s AI requests counted by the rate limit in the minute before as_of (every outcome '
  'but rate_limited and over_budget, later rows included) and when the one whose leaving frees a '
  'place leaves the window. Used by ai_cached and ai_admit only.';

revoke execute on function private.ai_rate_window(uuid, timestamptz) from public;

create function private.ai_cached(
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
  per_minute integer := coalesce((private.setting('AI_RATE_LIMIT_PER_MINUTE') #>> '{}')::integer, 10);
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
  if not private.ai_enabled() or ai_cached.max_age_seconds = 0 then
    return;
  end if;
  -- A hit counts toward the rate limit like a call: at the limit, no hit (ai_admit then refuses).
  perform pg_advisory_xact_lock(hashtextextended('py360.ai_requests.caller:' || ai_cached.caller, 0));
  select w.recent into recent from private.ai_rate_window(ai_cached.caller, ai_cached.as_of) w;
  if recent >= per_minute then
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

comment on function private.ai_cached(public.ai_purpose, uuid, uuid, uuid, text, text, integer, timestamptz) is
  'The AI cache: the answer of the newest ok request with this purpose and prompt_hash made in the '
  'last max_age_seconds (null: any age; 0: none), recorded as a row of the caller with outcome '
  'cached, cost 0 and cached_from; returns (request_id, response), or no row when there is no hit, '
  'the caller is at the rate limit (ai_admit then refuses) or ENABLE_AI_ASSISTANT is false. Bad '
  'arguments: 22023. Security definer: writes ai_requests, which nobody may write directly; '
  'service_role only (the functions, after their own checks of the caller).';

revoke execute on function private.ai_cached(public.ai_purpose, uuid, uuid, uuid, text, text, integer, timestamptz)
  from public;
grant execute on function private.ai_cached(public.ai_purpose, uuid, uuid, uuid, text, text, integer, timestamptz)
  to service_role;

create function private.ai_admit(
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
  per_minute integer := coalesce((private.setting('AI_RATE_LIMIT_PER_MINUTE') #>> '{}')::integer, 10);
  day_budget numeric := coalesce((private.setting('AI_USER_DAILY_BUDGET_PAISE') #>> '{}')::numeric, 5000);
  month_budget numeric := coalesce((private.setting('AI_MONTHLY_BUDGET_PAISE') #>> '{}')::numeric, 500000);
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
  if not private.ai_enabled() then
    return query select null::uuid, 'disabled'::text, null::integer;
    return;
  end if;
  -- The caller's lock, then the global one (always in this order): the counts below see every
  -- request admitted before, committed or ours.
  perform pg_advisory_xact_lock(hashtextextended('py360.ai_requests.caller:' || ai_admit.caller, 0));
  perform pg_advisory_xact_lock(hashtextextended('py360.ai_requests', 0));

  select w.recent, w.frees_at into recent, frees_at
    from private.ai_rate_window(ai_admit.caller, ai_admit.as_of) w;
  if recent >= per_minute then
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
    if day_spend >= day_budget or month_spend >= month_budget then
      refused := 'over_budget';
      wait_seconds := ceil(extract(epoch from
        greatest(case when month_spend >= month_budget then next_month end,
                 case when day_spend >= day_budget then next_day end) - ai_admit.as_of))::integer;
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

comment on function private.ai_admit(public.ai_purpose, uuid, uuid, uuid, text, text, jsonb, numeric, timestamptz) is
  'Admits one AI request before the model is called: under advisory locks (the caller''s, then a '
  'global one) refuses rate_limited when the caller has AI_RATE_LIMIT_PER_MINUTE counted requests '
  'in the last minute (retry_after_seconds: until the one that frees a place leaves the window), '
  'else over_budget when the caller''s spend this IST day or everyone''s this IST month (settled '
  'cost plus the estimate of pending rows, in paise) is at or above AI_USER_DAILY_BUDGET_PAISE / '
  'AI_MONTHLY_BUDGET_PAISE (retry_after_seconds: until the next IST midnight or month); a refusal '
  'is recorded as a row (cost 0). Otherwise inserts a pending row. Returns (request_id, refusal, '
  'retry_after_seconds); refusal null when admitted, disabled (and no row) when the app setting '
  'ENABLE_AI_ASSISTANT is false. Bad arguments: 22023. Security definer: writes ai_requests, '
  'which nobody may write directly; service_role only.';

revoke execute on function private.ai_admit(public.ai_purpose, uuid, uuid, uuid, text, text, jsonb, numeric, timestamptz)
  from public;
grant execute on function private.ai_admit(public.ai_purpose, uuid, uuid, uuid, text, text, jsonb, numeric, timestamptz)
  to service_role;

create function private.ai_settle(
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
  price jsonb := private.setting('AI_PRICE_PAISE_PER_1K_TOKENS');
  price_in numeric := coalesce((price ->> 'input')::numeric, 0);
  price_out numeric := coalesce((price ->> 'output')::numeric, 0);
begin
  if ai_settle.request_id is null
     or ai_settle.outcome is null
     or ai_settle.outcome not in ('ok', 'invalid', 'refused', 'truncated', 'timeout', 'error')
     or coalesce(ai_settle.tokens_in, 0) < 0 or coalesce(ai_settle.tokens_out, 0) < 0
     or ai_settle.latency_ms < 0 or coalesce(ai_settle.attempts, 0) not between 0 and 10 then
    raise exception 'ai_settle needs a request_id, an outcome among ok, invalid, refused, truncated, timeout, error, and no negative figures'
      using errcode = '22023';
  end if;
  update public.ai_requests r
     set outcome = ai_settle.outcome,
         finished_at = now(),
         tokens_in = coalesce(ai_settle.tokens_in, 0),
         tokens_out = coalesce(ai_settle.tokens_out, 0),
         cost_paise = (coalesce(ai_settle.tokens_in, 0) * price_in
                       + coalesce(ai_settle.tokens_out, 0) * price_out) / 1000,
         latency_ms = ai_settle.latency_ms,
         attempts = coalesce(ai_settle.attempts, 0),
         response = ai_settle.response,
         source = case when ai_settle.outcome = 'ok' then 'model' else 'rules' end
   where r.id = ai_settle.request_id
     and r.outcome = 'pending';
  return found;
end;
$$;

comment on function private.ai_settle(uuid, public.ai_outcome, integer, integer, integer, integer, jsonb) is
  'Settles a pending AI request: its outcome (ok, invalid, refused, truncated, timeout or error), '
  'tokens over every attempt, latency, attempts and the answer as received; cost_paise = '
  '(tokens_in x input + tokens_out x output) / 1000 with AI_PRICE_PAISE_PER_1K_TOKENS, exact; '
  'source model when ok, else rules. Only a pending row moves: returns false (and changes '
  'nothing) for a row already settled or unknown. Bad arguments: 22023. Security definer: writes '
  'ai_requests; service_role only.';

revoke execute on function private.ai_settle(uuid, public.ai_outcome, integer, integer, integer, integer, jsonb)
  from public;
grant execute on function private.ai_settle(uuid, public.ai_outcome, integer, integer, integer, integer, jsonb)
  to service_role;

create function private.expire_ai_requests(as_of timestamptz default now())
returns table (outcome text, requests bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  retention_days integer := coalesce((private.setting('AI_RETENTION_DAYS') #>> '{}')::integer, 30);
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

comment on function private.expire_ai_requests(timestamptz) is
  'The daily upkeep of ai_requests (pg_cron; as_of moves the clock in tests): nulls the prompt and '
  'response of rows created more than AI_RETENTION_DAYS before as_of (the figures stay), and '
  'closes rows still pending an hour after they were admitted as error at their estimated cost. '
  'Returns rows expired and abandoned. Security definer: writes ai_requests; service_role and '
  'pg_cron only.';

revoke execute on function private.expire_ai_requests(timestamptz) from public;
grant execute on function private.expire_ai_requests(timestamptz) to service_role;

-- 00:55 UTC (06:25 IST), after the morning's scoring; nothing else depends on it.
select cron.schedule('expire-ai-requests', '55 0 * * *',
                     'select count(*) from private.expire_ai_requests()');
