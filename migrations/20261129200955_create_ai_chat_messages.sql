-- The case chat's history (issue 10, "POST /api/ai/chat"): an agent's conversation with the
-- assistant about one renewal case, one row per turn (what the agent typed, what the assistant
-- answered and where that answer came from). The author reads their own conversation about a case
-- they can still see, admins read every conversation; managers do not read their agents' chats.
-- Nobody writes directly, service_role included: a turn is recorded by
-- private.record_ai_chat_turn, which the API calls as service_role after it has checked, as the
-- caller, that the caller sees the case. The agent's text is stored as typed (the history is the
-- agent's own); what reached the model was redacted, and ai_requests keeps that version.

create table public.ai_chat_messages (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete cascade,
  author uuid not null references public.profiles (id) on delete cascade,
  role text not null check (role in ('agent', 'assistant')),
  content text not null check (length(btrim(content)) between 1 and 16000),
  source text check (source in ('model', 'rules')),
  fallback_reason text check (fallback_reason in ('disabled', 'not_configured', 'rate_limited',
                                                   'over_budget', 'unavailable', 'timeout',
                                                   'invalid')),
  ai_request_id uuid,
  created_at timestamptz not null default now(),
  constraint ai_chat_messages_source_of_answers check ((role = 'assistant') = (source is not null)),
  constraint ai_chat_messages_reason_of_rules check (
    coalesce(source = 'rules', false) = (fallback_reason is not null)
  ),
  constraint ai_chat_messages_request_of_answers check (role = 'assistant' or ai_request_id is null)
);

comment on table public.ai_chat_messages is
  'The case chat: each turn of an agent''s conversation with the AI assistant about one renewal '
  'case, the agent''s message and the assistant''s answer. Read by its author while they still '
  'see the case, and by admins; written only by private.record_ai_chat_turn.';
comment on column public.ai_chat_messages.case_id is 'The renewal case the conversation is about.';
comment on column public.ai_chat_messages.author is
  'The agent (user id) whose conversation this is, on both their own messages and the answers '
  'they got.';
comment on column public.ai_chat_messages.role is
  'agent: what the agent typed, stored as typed; assistant: the answer they got.';
comment on column public.ai_chat_messages.content is
  'The text. An agent''s message is kept as typed, personal data included; the model only ever '
  'saw it redacted (phone, email, PAN, Aadhaar, names as tokens).';
comment on column public.ai_chat_messages.source is
  'Where an answer came from: model (the AI assistant) or rules (a factual summary of the case '
  'built without the model); null on the agent''s messages.';
comment on column public.ai_chat_messages.fallback_reason is
  'Why a rules answer was given instead of the model''s: disabled (ENABLE_AI_ASSISTANT off), '
  'not_configured (no OpenAI key), rate_limited, over_budget, unavailable (the model failed), '
  'timeout, invalid. Null otherwise.';
comment on column public.ai_chat_messages.ai_request_id is
  'The public.ai_requests row of the model call behind an answer (tokens, cost, latency, the '
  'redacted prompt); null for rules answers that made no call and for the agent''s messages.';

-- "This agent's history of this case", newest first; and the author's rows for the policy.
create index ai_chat_messages_history_idx on public.ai_chat_messages (case_id, author, created_at, id);
create index ai_chat_messages_author_idx on public.ai_chat_messages (author);
create index ai_chat_messages_ai_request_id_idx on public.ai_chat_messages (ai_request_id)
  where ai_request_id is not null;

alter table public.ai_chat_messages enable row level security;
revoke all on public.ai_chat_messages from public, anon, authenticated, service_role;
grant select on public.ai_chat_messages to authenticated, service_role;

create policy ai_chat_messages_select_author on public.ai_chat_messages
  for select to authenticated
  using (author = (select auth.uid())
         and exists (select 1 from public.renewal_cases c where c.id = ai_chat_messages.case_id));

create policy ai_chat_messages_select_admin on public.ai_chat_messages
  for select to authenticated
  using ((select private.is_admin()));

-- One turn of the chat: the agent's message and, when the answer completed, the assistant's.
create function private.record_ai_chat_turn(
  case_id uuid,
  author uuid,
  question text,
  answer text,
  source text,
  fallback_reason text,
  ai_request_id uuid,
  asked_at timestamptz default now()
) returns table (question_id uuid, answer_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
begin
  if record_ai_chat_turn.asked_at is null or not isfinite(record_ai_chat_turn.asked_at) then
    raise exception 'record_ai_chat_turn needs a finite asked_at' using errcode = '22023';
  end if;
  if record_ai_chat_turn.answer is null
     and (record_ai_chat_turn.source is not null or record_ai_chat_turn.fallback_reason is not null
          or record_ai_chat_turn.ai_request_id is not null) then
    raise exception 'an unanswered turn has no source, reason or request' using errcode = '22023';
  end if;
  if not exists (select 1 from public.profiles p
                  where p.id = record_ai_chat_turn.author and p.active) then
    raise exception 'author % is not an active user', record_ai_chat_turn.author
      using errcode = '22023';
  end if;

  insert into public.ai_chat_messages (case_id, author, role, content, created_at)
  values (record_ai_chat_turn.case_id, record_ai_chat_turn.author, 'agent',
          record_ai_chat_turn.question, record_ai_chat_turn.asked_at)
  returning id into question_id;

  if record_ai_chat_turn.answer is not null then
    -- After the question, even when the clock reads the same microsecond.
    insert into public.ai_chat_messages (case_id, author, role, content, source, fallback_reason,
                                         ai_request_id, created_at)
    values (record_ai_chat_turn.case_id, record_ai_chat_turn.author, 'assistant',
            record_ai_chat_turn.answer, record_ai_chat_turn.source,
            record_ai_chat_turn.fallback_reason, record_ai_chat_turn.ai_request_id,
            greatest(clock_timestamp(), record_ai_chat_turn.asked_at + interval '1 microsecond'))
    returning id into answer_id;
  end if;
  return next;
end;
$$;

comment on function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, uuid, timestamptz) is
  'Records one turn of the case chat for `author`: their question (created_at = asked_at) and, '
  'unless the answer broke off (answer null), the assistant''s answer with its source, '
  'fallback_reason and ai_request_id, just after it. Returns both ids. 22023 for an inactive '
  'author, a reason or request without an answer, or a bad asked_at; the table''s checks refuse '
  'empty or oversized text and a source / reason that disagree. It does not check that the '
  'author sees the case: the API asks that as the caller first. Security definer: the table '
  'grants no writes to any API role; this is its only door, for service_role.';

revoke execute on function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, uuid, timestamptz) from public;
grant execute on function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, uuid, timestamptz) to service_role;
