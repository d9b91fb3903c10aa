-- The case chat's answers point at their AI request (issue 10): ai_chat_messages.ai_request_id
-- becomes a foreign key to public.ai_requests, which its own migration created just after the chat
-- table's. Rules answers keep the request they replaced when there was one (over budget, the model
-- down, slow or refusing), so the analyst can go from an answer to its tokens, cost and outcome.
alter table public.ai_chat_messages
  add constraint ai_chat_messages_ai_request_id_fkey
  foreign key (ai_request_id) references public.ai_requests (id) on delete set null;

comment on column public.ai_chat_messages.ai_request_id is
  'The public.ai_requests row behind an answer: the model''s call, or the request a rules answer '
  'replaced (refused over budget, failed, timed out, refused by the model); null when no request '
  'was made (the assistant switched off or not configured) and on the agent''s messages.';
