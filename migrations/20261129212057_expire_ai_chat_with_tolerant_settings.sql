-- The case chat's retention reads AI_RETENTION_DAYS through private.ai_settings() like the AI
-- requests' own expiry (20261129210242): a value that cannot be read gives the shipped default
-- instead of stopping the daily job.

create or replace function private.expire_ai_chat_messages(as_of timestamptz default now())
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  retention_days integer := (select s.retention_days from private.ai_settings() s);
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
