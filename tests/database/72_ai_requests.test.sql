-- The AI assistant's ledger and guard rails (issue 10): private.ai_admit refuses the N+1th request
-- of a minute and requests over the user's IST-day or everyone's IST-month budget (settled costs
-- plus pending estimates), records each refusal without counting it, and says when to retry;
-- private.ai_cached serves a recent ok answer to the same prompt, once per request; ai_settle
-- computes the exact cost and moves only pending rows; the expiry job nulls old prompts and closes
-- abandoned rows; the admins' switch stops everything; agents read their own rows only, admins
-- all, and nobody writes directly; only service_role calls the functions.
begin;
select plan(63);
select tests.create_test_book();

-- Small limits so the edges are reached in a few rows (the shipped values are checked first).
select results_eq(
  $$select key, value from public.app_settings where key like 'AI\_%' order by key$$,
  $$values ('AI_CACHE_SECONDS', '600'::jsonb), ('AI_MAX_OUTPUT_TOKENS', '800'),
           ('AI_MODEL', '"gpt-4o-mini"'), ('AI_MONTHLY_BUDGET_PAISE', '500000'),
           ('AI_PRICE_PAISE_PER_1K_TOKENS', '{"input": 1.32, "output": 5.28}'),
           ('AI_RATE_LIMIT_PER_MINUTE', '10'), ('AI_RETENTION_DAYS', '30'),
           ('AI_USER_DAILY_BUDGET_PAISE', '5000')$$,
  'the AI settings ship with the design''s values (gpt-4o-mini at Rs 88 to the dollar)'
);
update public.app_settings set value = '3' where key = 'AI_RATE_LIMIT_PER_MINUTE';
update public.app_settings set value = '100' where key = 'AI_USER_DAILY_BUDGET_PAISE';

-- One admission as service_role, the way the functions call it: "refusal/retry_after" or
-- "admitted"; the row's id kept by label.
create temporary table admitted (label text primary key, id uuid) on commit drop;
grant all on admitted to service_role, authenticated;
create function pg_temp.admit(label text, who text, at timestamptz, estimate numeric default 1,
                              hash text default repeat('a', 64),
                              purpose public.ai_purpose default 'risk_assessment')
returns text
language plpgsql
as $$
declare
  answer record;
begin
  perform tests.authenticate_as_service_role();
  select * into answer
    from private.ai_admit(purpose, tests.get_user_id(who), tests.fixture('case_a'),
                          tests.fixture('customer_a'), 'gpt-4o-mini', hash,
                          '[{"role": "user", "content": "facts"}]', estimate, at);
  reset role;
  if answer.request_id is not null then
    insert into admitted values (label, answer.request_id);
  end if;
  return coalesce(answer.refusal || '/' || coalesce(answer.retry_after_seconds::text, ''), 'admitted');
end;
$$;

create function pg_temp.settle(label text, outcome public.ai_outcome, tokens_in integer,
                               tokens_out integer, response jsonb default '{"answer": "ok"}')
returns boolean
language plpgsql
as $$
declare
  moved boolean;
begin
  perform tests.authenticate_as_service_role();
  moved := private.ai_settle((select id from admitted a where a.label = settle.label), outcome,
                             tokens_in, tokens_out, 120, 1, response);
  reset role;
  return moved;
end;
$$;

-- 1. Admission: a pending row with what was asked.
select is(pg_temp.admit('a1', 'agent_a', '2026-11-20 04:30:00+00', 2.5), 'admitted',
          'a request under every limit is admitted');
select is(
  (select (r.outcome, r.source, r.finished_at, r.caller = tests.get_user_id('agent_a'),
           r.case_id = tests.fixture('case_a'), r.customer_id = tests.fixture('customer_a'),
           r.model, r.estimated_cost_paise, r.cost_paise, r.created_at)::text
     from public.ai_requests r where r.id = (select id from admitted where label = 'a1')),
  (select ('pending', null, null, true, true, true, 'gpt-4o-mini', 2.5, null,
           '2026-11-20 04:30:00+00'::timestamptz))::text,
  'it is a pending row of the caller, case and customer, with its estimate and as_of'
);

-- 2. The rate limit (3 a minute here): the 4th in a minute is refused and recorded; refusals do
-- not count; the wait is until the oldest counted request leaves the window.
select is(array[pg_temp.admit('a2', 'agent_a', '2026-11-20 04:30:10+00'),
                pg_temp.admit('a3', 'agent_a', '2026-11-20 04:30:20+00'),
                pg_temp.admit('a4', 'agent_a', '2026-11-20 04:30:30+00')],
          array['admitted', 'admitted', 'rate_limited/30'],
          'the N+1th request within a minute is rate_limited, retry after 30 s (when a1 leaves)');
select is(
  (select (r.outcome, r.source, r.cost_paise, r.attempts, r.finished_at = r.created_at,
           r.prompt is not null)::text
     from public.ai_requests r where r.id = (select id from admitted where label = 'a4')),
  '(rate_limited,rules,0,0,t,t)',
  'the refusal is a settled row of its own: cost 0, no attempt, the prompt kept for the analyst'
);
select is(pg_temp.admit('b1', 'agent_b', '2026-11-20 04:30:30+00'), 'admitted',
          'another user''s requests are not limited by agent_a''s');
select is(array[pg_temp.admit('a5', 'agent_a', '2026-11-20 04:30:59.999+00'),
                pg_temp.admit('a6', 'agent_a', '2026-11-20 04:31:00.001+00'),
                pg_temp.admit('a7', 'agent_a', '2026-11-20 04:31:02+00')],
          array['rate_limited/1', 'admitted', 'rate_limited/8'],
          'a1 leaves the window after a minute; the refused a4 never counted; then a2 frees the next place');

-- 3. Settlement: the exact cost, only from pending.
select ok(pg_temp.settle('a1', 'ok', 1234, 567), 'a pending row settles');
select is(
  (select (r.outcome, r.source, r.tokens_in, r.tokens_out, r.cost_paise::text, r.latency_ms,
           r.attempts, r.response, r.finished_at is not null)::text
     from public.ai_requests r where r.id = (select id from admitted where label = 'a1')),
  '(ok,model,1234,567,4.62264,120,1,"{""answer"": ""ok""}",t)',
  'its cost is exact: (1234 x 1.32 + 567 x 5.28) / 1000 = 4.62264 paise, source model'
);
select is(pg_temp.settle('a1', 'error', 1, 1), false, 'a settled row does not move again');
select is((select (outcome, tokens_in, cost_paise::text)::text from public.ai_requests
            where id = (select id from admitted where label = 'a1')),
          '(ok,1234,4.62264)', 'and keeps its outcome, tokens and cost');
select is(pg_temp.settle('a4', 'ok', 1, 1), false, 'a refusal row does not move either');
select ok(pg_temp.settle('a2', 'timeout', 0, 0, '{"error": "timeout"}'),
          'a timeout settles');
select is((select (outcome, source, cost_paise::text)::text from public.ai_requests
            where id = (select id from admitted where label = 'a2')),
          '(timeout,rules,0)', 'a failure is source rules, and costs what its tokens cost (0)');
select throws_ok(
  $$select pg_temp.settle('a3', 'cached', 1, 1)$$, '22023', null,
  'cached, pending and the refusals are not outcomes a call settles with');
select throws_ok(
  $$select pg_temp.settle('a3', 'ok', -1, 1)$$, '22023', null,
  'negative tokens are refused');
select is((select outcome::text from public.ai_requests
            where id = (select id from admitted where label = 'a3')),
          'pending', 'and the row stays as it was');
select is(
  (select private.ai_settle(gen_random_uuid(), 'ok', 1, 1, 1, 1, null)), false,
  'an unknown request settles nothing');

-- 4. The daily budget (100 paise here), IST day; pending rows count at their estimate.
select is(array[pg_temp.admit('d1', 'zone_manager', '2026-11-21 04:30:00+00', 60),
                pg_temp.admit('d2', 'zone_manager', '2026-11-21 04:40:00+00', 60),
                pg_temp.admit('d3', 'zone_manager', '2026-11-21 04:50:00+00', 60)],
          array['admitted', 'admitted', 'over_budget/49200'],
          'two pending estimates of 60 reach the day''s 100: the third is over_budget until IST midnight (13h40m)');
select is(
  (select (outcome, source, cost_paise, estimated_cost_paise)::text from public.ai_requests
    where id = (select id from admitted where label = 'd3')),
  '(over_budget,rules,0,60)', 'the refusal is recorded, at cost 0');
select ok(pg_temp.settle('d1', 'ok', 1000, 0), 'd1 settles at 1.32 paise');
select is(pg_temp.admit('d4', 'zone_manager', '2026-11-21 05:00:00+00', 60), 'admitted',
          'its real cost replaces its estimate: 1.32 + 60 is under 100');
select is(pg_temp.admit('d5', 'zone_manager', '2026-11-21 05:10:00+00', 60), 'over_budget/48000',
          'then 1.32 + 60 + 60 is over');
select is(pg_temp.admit('d6', 'zone_manager', '2026-11-21 18:29:59+00', 1), 'over_budget/1',
          'one second before IST midnight the day is still spent');
select is(pg_temp.admit('d7', 'zone_manager', '2026-11-21 18:30:00+00', 1), 'admitted',
          'at IST midnight (18:30 UTC) a new day begins');
select is(pg_temp.admit('e1', 'branch_b_manager', '2026-11-21 05:10:00+00', 60), 'admitted',
          'another user has a day budget of their own');

-- 5. The cache: the newest ok answer to the same purpose and prompt, within max_age.
create function pg_temp.cached(who text, hash text, max_age integer, at timestamptz,
                               purpose public.ai_purpose default 'risk_assessment')
returns jsonb
language plpgsql
as $$
declare
  hit record;
begin
  perform tests.authenticate_as_service_role();
  select * into hit
    from private.ai_cached(purpose, tests.get_user_id(who), tests.fixture('case_b'), null,
                           'gpt-4o-mini', hash, max_age, at);
  reset role;
  return case when hit.request_id is null then null
              else jsonb_build_object('id', hit.request_id, 'response', hit.response) end;
end;
$$;

select is(pg_temp.admit('c1', 'agent_b', '2026-11-22 04:00:00+00', 1, repeat('c', 64)), 'admitted',
          'an answer to prompt c is asked');
select ok(pg_temp.settle('c1', 'ok', 10, 10, '{"explanation": "cached"}'), 'and answered ok');
select is(pg_temp.cached('agent_b', repeat('c', 64), 600, '2026-11-22 04:05:00+00') -> 'response',
          '{"explanation": "cached"}'::jsonb, 'the same prompt 5 minutes later is a cache hit');
select is(
  (select (r.outcome, r.source, r.cost_paise, r.attempts, r.cached_from, r.case_id, r.prompt)::text
     from public.ai_requests r where r.outcome = 'cached'),
  (select ('cached', 'cache', 0, 0, a.id, tests.fixture('case_b'), null)::text
     from admitted a where a.label = 'c1'),
  'the hit is a row of its own: cost 0, no call, pointing at the answer it reused'
);
select is(pg_temp.cached('agent_a', repeat('c', 64), 600, '2026-11-22 04:06:00+00') -> 'response',
          '{"explanation": "cached"}'::jsonb, 'another user asking the same prompt gets it too');
select is(array[pg_temp.cached('agent_b', repeat('c', 64), 60, '2026-11-22 04:05:00+00'),
                pg_temp.cached('agent_b', repeat('c', 64), 0, '2026-11-22 04:05:00+00'),
                pg_temp.cached('agent_b', repeat('c', 64), 600, '2026-11-22 04:05:00+00', 'draft'),
                pg_temp.cached('agent_b', repeat('d', 64), 600, '2026-11-22 04:05:00+00')],
          array[null, null, null, null]::jsonb[],
          'no hit older than max_age, with max_age 0, for another purpose or another prompt');
select is(pg_temp.admit('c2', 'agent_b', '2026-11-22 05:00:00+00', 1, repeat('f', 64)), 'admitted',
          'an answer to prompt f is asked');
select ok(pg_temp.settle('c2', 'invalid', 10, 10), 'and comes back invalid');
select is(pg_temp.cached('agent_b', repeat('f', 64), 600, '2026-11-22 05:01:00+00'), null,
          'an invalid answer is never served from the cache');
-- At the rate limit, no hit (ai_admit then refuses): three requests of agent_b in a minute.
select is(array[pg_temp.admit('r1', 'agent_b', '2026-11-22 06:00:00+00'),
                pg_temp.admit('r2', 'agent_b', '2026-11-22 06:00:01+00'),
                pg_temp.admit('r3', 'agent_b', '2026-11-22 06:00:02+00')],
          array['admitted', 'admitted', 'admitted'], 'agent_b makes three requests in a minute');
select is(pg_temp.cached('agent_b', repeat('c', 64), null, '2026-11-22 06:00:03+00'), null,
          'a cache hit counts toward the rate limit: at the limit there is none');
select is(array[pg_temp.cached('agent_b', repeat('c', 64), 600, '2026-11-22 06:05:00+00') is null,
                pg_temp.cached('agent_b', repeat('c', 64), null, '2026-11-22 06:05:00+00') is null],
          array[true, false],
          'two hours on, a 10-minute max_age finds nothing; max_age null finds the answer of any age');

-- 6. The admins' switch: no row, no hit.
update public.app_settings set value = 'false' where key = 'ENABLE_AI_ASSISTANT';
select is(array[pg_temp.admit('x1', 'analyst', '2026-11-23 04:00:00+00'),
                coalesce(pg_temp.cached('analyst', repeat('c', 64), null, '2026-11-23 04:00:00+00')::text, 'no hit')],
          array['disabled/', 'no hit'],
          'with ENABLE_AI_ASSISTANT false, ai_admit answers disabled and ai_cached nothing');
select is((select count(*)::int from public.ai_requests where caller = tests.get_user_id('analyst')),
          0, 'and neither writes a row');
update public.app_settings set value = 'true' where key = 'ENABLE_AI_ASSISTANT';
select throws_ok(
  $$select * from private.ai_admit('draft', null, null, null, 'gpt-4o-mini', repeat('a', 64),
                                   null, 1)$$,
  '22023', null, 'an admission without a caller is refused');

-- 7. Who reads and writes.
select is(
  array[(select count(*)::int from public.ai_requests
          where caller = tests.get_user_id('agent_a')),
        (select count(*)::int from public.ai_requests)],
  array[8, 24], 'the ledger so far: agent_a''s 8 rows among 24');
select tests.authenticate_as('agent_a');
select results_eq($$select count(*)::int, bool_and(caller = (select auth.uid())) from public.ai_requests$$,
                  $$values (8, true)$$, 'an agent reads their own rows, and only those');
select tests.authenticate_as('agent_b');
select is((select count(*)::int from public.ai_requests
            where caller = tests.get_user_id('agent_a')), 0, 'not another agent''s');
select tests.authenticate_as('zone_manager');
select is((select count(*)::int from public.ai_requests
            where caller <> (select auth.uid())), 0, 'not even a manager above them');
select tests.authenticate_as('admin');
select is((select count(*)::int from public.ai_requests), 24, 'an admin reads every row');
reset role;
select is(
  array[tests.affected_rows_as('agent_a', $$insert into public.ai_requests (purpose, caller, model, prompt_hash)
                                            values ('chat', auth.uid(), 'gpt-4o-mini', repeat('a', 64))$$),
        tests.affected_rows_as('agent_a', $$update public.ai_requests set cost_paise = 0$$),
        tests.affected_rows_as('agent_a', $$delete from public.ai_requests$$),
        tests.affected_rows_as('admin', $$update public.ai_requests set outcome = 'ok'$$),
        tests.affected_rows_as('admin', $$delete from public.ai_requests$$),
        tests.affected_rows_as('anon', $$select * from public.ai_requests$$)],
  array['42501', '42501', '42501', '42501', '42501', '42501'],
  'nobody writes the ledger directly, admins neither; anon cannot even read it'
);
select is(
  array[tests.affected_rows_as('agent_a', $$select private.ai_admit('chat', auth.uid(), null, null,
                                               'gpt-4o-mini', repeat('a', 64), null, 0)$$),
        tests.affected_rows_as('admin', $$select private.ai_settle(gen_random_uuid(), 'ok', 0, 0, 0, 1, null)$$),
        tests.affected_rows_as('agent_a', $$select private.ai_cached('chat', auth.uid(), null, null,
                                               'gpt-4o-mini', repeat('a', 64), 60)$$),
        tests.affected_rows_as('admin', $$select private.expire_ai_requests()$$)],
  array['42501', '42501', '42501', '42501'],
  'a signed-in user (admins too) cannot admit, settle, serve from the cache or expire'
);
reset role;

-- 8. The expiry: prompts and answers older than AI_RETENTION_DAYS nulled, figures kept; a row
-- pending for over an hour closed as error at its estimate.
select is(
  (select array_agg(format('%s=%s', outcome, requests) order by outcome)
     from private.expire_ai_requests('2026-12-21 00:00:00+00')),
  array['abandoned=10', 'expired=8'],
  'on 21 December: the 8 rows of 20 November with a prompt expire; the 10 still pending are abandoned'
);
select is(
  (select (r.prompt, r.response, r.tokens_in, r.cost_paise::text, r.outcome)::text
     from public.ai_requests r where r.id = (select id from admitted where label = 'a1')),
  '(,,1234,4.62264,ok)', 'an expired row keeps its figures');
select is(
  (select (r.outcome, r.source, r.cost_paise, r.response, r.prompt is not null)::text
     from public.ai_requests r where r.id = (select id from admitted where label = 'd4')),
  '(error,rules,60,"{""error"": ""never settled""}",t)',
  'an abandoned row is closed as an error at its estimate; within retention it keeps its prompt');
select is((select count(*)::int from public.ai_requests where outcome = 'pending'), 0,
          'nothing stays pending');
select results_eq(
  $$select schedule, command, active from cron.job where jobname = 'expire-ai-requests'$$,
  $$values ('55 0 * * *'::text, 'select count(*) from private.expire_ai_requests()'::text, true)$$,
  'pg_cron runs the expiry daily at 00:55 UTC');

-- 9. The monthly budget (everyone together, IST month); last, as its rows are the newest.
update public.app_settings set value = '50' where key = 'AI_MONTHLY_BUDGET_PAISE';
select is(array[pg_temp.admit('m1', 'admin', '2027-03-15 04:30:00+00', 60),
                pg_temp.admit('m2', 'branch_b_manager', '2027-03-15 05:30:00+00', 1)],
          array['admitted', 'over_budget/1429200'],
          'one user''s 60 spends everyone''s month of 50: another user waits until 1 April, IST');
select is(array[pg_temp.admit('m3', 'branch_b_manager', '2027-03-31 18:29:59+00', 1),
                pg_temp.admit('m4', 'branch_b_manager', '2027-03-31 18:30:00+00', 1)],
          array['over_budget/1', 'admitted'],
          'the month turns at IST midnight of 1 April (18:30 UTC on 31 March)');

-- 10. Settings an admin got wrong are read as their defaults (private.ai_settings), named in
-- `defaulted`, and the functions keep working; a string holding a number is that number.
create function pg_temp.settings() returns text
language sql
as $$
  select (s.enabled, s.model, s.rate_limit_per_minute, s.user_daily_budget_paise,
          s.monthly_budget_paise, s.price_input_paise_per_1k, s.price_output_paise_per_1k,
          s.max_output_tokens, s.cache_seconds, s.retention_days, s.defaulted)::text
    from private.ai_settings() s
$$;
select is(pg_temp.settings(), '(t,gpt-4o-mini,3,100,50,1.32,5.28,800,600,30,{})',
          'the settings as set above, none defaulted');
-- (Such values are refused on write since 20261130230500: written past the rules here.)
select tests.write_settings_unchecked('{
  "ENABLE_AI_ASSISTANT": "maybe", "AI_MODEL": "", "AI_RATE_LIMIT_PER_MINUTE": "ten",
  "AI_USER_DAILY_BUDGET_PAISE": {"paise": 5000}, "AI_MONTHLY_BUDGET_PAISE": -1,
  "AI_PRICE_PAISE_PER_1K_TOKENS": {"input": "cheap", "output": 5.28}, "AI_MAX_OUTPUT_TOKENS": 0,
  "AI_CACHE_SECONDS": 1e300, "AI_RETENTION_DAYS": "30 days"}');
select is(pg_temp.settings(),
          '(t,gpt-4o-mini,10,5000,500000,1.32,5.28,800,600,30,"{ENABLE_AI_ASSISTANT,AI_MODEL,'
          'AI_RATE_LIMIT_PER_MINUTE,AI_USER_DAILY_BUDGET_PAISE,AI_MONTHLY_BUDGET_PAISE,'
          'AI_PRICE_PAISE_PER_1K_TOKENS,AI_MAX_OUTPUT_TOKENS,AI_CACHE_SECONDS,AI_RETENTION_DAYS}")',
          'unreadable, empty, negative, zero and huge values give the defaults, each key named');
select is(array[pg_temp.admit('s1', 'agent_b', '2027-05-03 04:30:00+00', 1, repeat('e', 64)),
                coalesce(pg_temp.cached('agent_b', repeat('e', 64), 600, '2027-05-03 04:30:01+00')::text,
                         'no hit')],
          array['admitted', 'no hit'],
          'ai_admit and ai_cached work on the defaults (a rate limit of "ten" was a 22P02 before)');
select ok(pg_temp.settle('s1', 'ok', 1000, 1000), 'ai_settle too, with a price of "cheap"');
select is((select cost_paise::text from public.ai_requests
            where id = (select id from admitted where label = 's1')),
          '6.6', 'at the default price: (1000 x 1.32 + 1000 x 5.28) / 1000');
select is(
  (select array_agg(format('%s=%s', outcome, requests) order by outcome)
     from private.expire_ai_requests('2027-05-03 05:00:00+00')),
  array['abandoned=2', 'expired=20'],
  'and the expiry, on the default 30 days: every older row with a prompt (20), m1 and m4 abandoned');
select tests.write_settings_unchecked('{
  "ENABLE_AI_ASSISTANT": " Off ", "AI_MODEL": " gpt-4.1-mini ", "AI_RATE_LIMIT_PER_MINUTE": " 12 ",
  "AI_MONTHLY_BUDGET_PAISE": "750000.50", "AI_PRICE_PAISE_PER_1K_TOKENS": {"input": "2", "output": 8}}');
select is(pg_temp.settings(),
          '(f,gpt-4.1-mini,12,5000,750000.50,2,8,800,600,30,"{AI_USER_DAILY_BUDGET_PAISE,'
          'AI_MAX_OUTPUT_TOKENS,AI_CACHE_SECONDS,AI_RETENTION_DAYS}")',
          'strings holding a number, a boolean word or a model name (spaces trimmed) are read');
select is(pg_temp.admit('s2', 'agent_b', '2027-05-03 04:31:00+00'), 'disabled/',
          'and the switch written " Off " turns the assistant off');

select * from finish();
rollback;
