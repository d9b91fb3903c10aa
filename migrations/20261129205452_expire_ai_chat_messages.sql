-- The case chat's messages are kept no longer than the AI requests' prompts (issue 10, a review's
-- finding): public.ai_chat_messages holds what the agent typed, which can carry an Aadhaar or PAN
-- number or a phone number, and it was kept for ever while the redacted prompts of
-- public.ai_requests are nulled after AI_RETENTION_DAYS. A daily job of its own (pg_cron 00:55 UTC,
-- beside expire-ai-requests) deletes every chat message older than AI_RETENTION_DAYS: the agent's
-- text, the answer and its redacted forms. The ai_requests rows behind the answers keep their
-- figures (tokens, cost, outcome), as their own expiry does.

create index ai_chat_messages_created_at_idx on public.ai_chat_messages (created_at);

create function private.expire_ai_chat_messages(as_of timestamptz default now())
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  retention_days integer := coalesce((private.setting('AI_RETENTION_DAYS') #>> '{}')::integer, 30);
  n_deleted bigint;
begin
  if expire_ai_chat_messages.as_of is null or not isfinite(expire_ai_chat_messages.as_of) then
    raise exception 'expire_ai_chat_messages needs a finite as_of' using errcode = '22023';
  end if;
  delete from public.ai_chat_messages m
   where m.created_at < expire_ai_chat_messages.as_of - make_interval(days => retention_days);
  get diagnostics n_deleted = row_count;
  return n_deleted;
end;
$$;

comment on function private.expire_ai_chat_messages(timestamptz) is
  'The daily upkeep of the case chat (pg_cron; as_of moves the clock in tests): deletes every '
  'ai_chat_messages row created more than AI_RETENTION_DAYS before as_of (questions as typed, '
  'answers, their redacted texts), as expire_ai_requests nulls the prompts of ai_requests. '
  'Returns how many rows went. Security definer: the table grants no deletes to any API role; '
  'service_role and pg_cron only.';

revoke execute on function private.expire_ai_chat_messages(timestamptz) from public;
grant execute on function private.expire_ai_chat_messages(timestamptz) to service_role;

update public.app_settings
   set description = 'Days the redacted prompts and answers of AI requests are kept (the figures '
                     'stay), and the case chat''s messages (deleted, agent''s text included).'
 where key = 'AI_RETENTION_DAYS';

-- 00:55 UTC (06:25 IST), with the AI requests' expiry.
select cron.schedule('expire-ai-chat-messages', '55 0 * * *',
                     'select private.expire_ai_chat_messages()');
