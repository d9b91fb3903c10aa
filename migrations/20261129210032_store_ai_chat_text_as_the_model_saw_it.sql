-- The case chat keeps, beside what the agent typed and the answer they were shown, the text as the
-- model saw it (issue 10, a review's finding). Until now each turn's prompt redacted the stored
-- history again with the names known at that moment: after a customer's name was corrected
-- ("Parvathi Iyengar" to "Parvathy Raman"), the old name, typed by the agent in an earlier turn
-- and redacted to <customer> in that turn's prompt, reached the model verbatim in every later one
-- (and so did the old first name put back into earlier answers for the desk). Now each message's
-- redacted text is fixed when its turn is recorded, and later prompts are built from it alone.
--
-- Rows written before this migration have no redacted text (null) and are never sent to the model
-- again: whatever names they hold, they cannot leak. They stay in the agent's history (GET
-- /api/ai/chat/{caseId}) as they were. No backfill: redacting them now would use today's names,
-- which is the very fault being fixed. The check on the column is NOT VALID so that those rows are
-- left as they are while every new row must carry its redacted text.

alter table public.ai_chat_messages add column redacted_content text;

alter table public.ai_chat_messages
  add constraint ai_chat_messages_redacted_content_check
  check (redacted_content is not null and length(btrim(redacted_content)) between 1 and 16000)
  not valid;

comment on column public.ai_chat_messages.redacted_content is
  'The text as the model saw it (or would have: a rules answer), fixed when the turn was '
  'recorded: phone numbers, emails, PAN and Aadhaar numbers and the names known then replaced by '
  'tokens such as <customer>. Later turns send this, never content, so a name corrected since '
  'cannot reach the model. Null on rows recorded before the column was added (never sent to '
  'the model again); required on every newer row.';
comment on column public.ai_chat_messages.content is
  'The text as the desk sees it. An agent''s message is kept as typed, personal data included; '
  'an answer with the customer''s and agent''s first names put back. The model only ever saw '
  'redacted_content.';

-- The turn's door takes the redacted texts too: a new signature, so the old one goes (the API
-- that called it is replaced in the same release; a call without redacted text must fail).
drop function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, uuid, timestamptz);

create function private.record_ai_chat_turn(
  case_id uuid,
  author uuid,
  question text,
  question_redacted text,
  answer text,
  answer_redacted text,
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
  if record_ai_chat_turn.question_redacted is null then
    raise exception 'a question needs its redacted text' using errcode = '22023';
  end if;
  if (record_ai_chat_turn.answer is null) <> (record_ai_chat_turn.answer_redacted is null) then
    raise exception 'an answer and its redacted text go together' using errcode = '22023';
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

  insert into public.ai_chat_messages (case_id, author, role, content, redacted_content, created_at)
  values (record_ai_chat_turn.case_id, record_ai_chat_turn.author, 'agent',
          record_ai_chat_turn.question, record_ai_chat_turn.question_redacted,
          record_ai_chat_turn.asked_at)
  returning id into question_id;

  if record_ai_chat_turn.answer is not null then
    -- After the question, even when the clock reads the same microsecond.
    insert into public.ai_chat_messages (case_id, author, role, content, redacted_content, source,
                                         fallback_reason, ai_request_id, created_at)
    values (record_ai_chat_turn.case_id, record_ai_chat_turn.author, 'assistant',
            record_ai_chat_turn.answer, record_ai_chat_turn.answer_redacted,
            record_ai_chat_turn.source, record_ai_chat_turn.fallback_reason,
            record_ai_chat_turn.ai_request_id,
            greatest(clock_timestamp(), record_ai_chat_turn.asked_at + interval '1 microsecond'))
    returning id into answer_id;
  end if;
  return next;
end;
$$;

comment on function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, text, text, uuid, timestamptz) is
  'Records one turn of the case chat for `author`: their question as typed and as the model saw '
  'it (question_redacted; created_at = asked_at) and, unless the answer broke off (answer and '
  'answer_redacted null), the answer as shown and as redacted, with its source, fallback_reason '
  'and ai_request_id, just after it. Returns both ids. 22023 for an inactive author, a missing '
  'redacted text, a reason or request without an answer, or a bad asked_at; the table''s checks '
  'refuse empty or oversized text and a source / reason that disagree. It does not check that '
  'the author sees the case: the API asks that as the caller first. Security definer: the table '
  'grants no writes to any API role; this is its only door, for service_role.';

revoke execute on function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, text, text, uuid, timestamptz)
  from public;
grant execute on function private.record_ai_chat_turn(uuid, uuid, text, text, text, text, text, text, uuid, timestamptz)
  to service_role;
