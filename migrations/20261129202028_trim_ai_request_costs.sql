-- ai_requests.cost_paise without trailing zeros: private.ai_settle (20261129201002) divided by
-- 1000 in numeric, which keeps a scale of 20 digits, so a call that cost nothing read
-- 0.00000000000000000000 and every cost ended in a row of zeros. The same exact value, trimmed
-- (trim_scale), so an analyst reads 4.62264 paise and 0. Costs settled before are trimmed too.

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
         cost_paise = trim_scale((coalesce(ai_settle.tokens_in, 0) * price_in
                                  + coalesce(ai_settle.tokens_out, 0) * price_out) / 1000),
         latency_ms = ai_settle.latency_ms,
         attempts = coalesce(ai_settle.attempts, 0),
         response = ai_settle.response,
         source = case when ai_settle.outcome = 'ok' then 'model' else 'rules' end
   where r.id = ai_settle.request_id
     and r.outcome = 'pending';
  return found;
end;
$$;

update public.ai_requests set cost_paise = trim_scale(cost_paise)
 where cost_paise is distinct from trim_scale(cost_paise);
