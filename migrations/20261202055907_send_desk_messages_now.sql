-- The desk's door runs on the real clock (found by a review). private.send_desk_message(request,
-- as_of default now()) was executable by `authenticated` and handed as_of to the gate, so a
-- signed-in agent calling it through SQL (not our API, which passes no clock) could queue
-- messages dated 2020: the per-customer frequency cap counts what was queued within the last
-- days before as_of, so backdated messages escaped it, as much as the quiet and promotional hours
-- computed from that clock.
-- * private.send_desk_message(request jsonb): the desk's door (POST /api/messages calls it with
--   one argument, unchanged), always at now(). Executable by authenticated.
-- * private.send_desk_message(request jsonb, as_of timestamptz): the same body as in
--   20261129012500, without a default (so that a one-argument call is not ambiguous), for the
--   owner only: pgTAP tests moving the clock with a desk member's claims, and the one-argument
--   form. Revoked from authenticated; not granted to service_role either, which has no desk
--   member to act for (is_desk_member() is false without a user's claims).
-- Dropped and created again: a default cannot be removed in place.

drop function private.send_desk_message(jsonb, timestamptz);

create function private.send_desk_message(request jsonb, as_of timestamptz)
returns table (
  message_id uuid,
  status public.message_status,
  blocked_reason text,
  deferred_reason text,
  next_attempt_at timestamptz,
  created boolean
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  customer uuid;
  renewal uuid;
begin
  if not private.is_desk_member() then
    raise exception 'only the desk sends messages' using errcode = '42501';
  end if;
  if request is null or jsonb_typeof(request) <> 'object'
     or request ->> 'idempotency_key' is null then
    raise exception 'a message needs an idempotency_key' using errcode = '22023';
  end if;
  if request ->> 'template_code' is null and request ->> 'purpose' = 'transactional' then
    raise exception 'the desk''s own text is service or marketing; transactional messages come '
                    'from templates' using errcode = '22023';
  end if;
  customer := (request ->> 'customer_id')::uuid;
  renewal := (request ->> 'case_id')::uuid;
  if not exists (select 1 from public.customers cu
                  where cu.id = customer and cu.book_keys && private.visible_book_keys()) then
    raise exception 'no such customer, or not yours to see' using errcode = 'P0002';
  end if;
  if renewal is not null and not exists (
       select 1 from public.renewal_cases c
        where c.id = renewal and c.customer_id = customer
          and c.assignee_id = any (private.visible_agent_ids())) then
    raise exception 'no such case for this customer, or not yours to see' using errcode = 'P0002';
  end if;
  return query
  select e.message_id, e.status, e.blocked_reason, e.deferred_reason, e.next_attempt_at, e.created
    from private.enqueue_messages(
           jsonb_build_object(
             'customer_id', customer, 'case_id', renewal,
             'channel', request -> 'channel', 'purpose', request -> 'purpose',
             'template_code', request -> 'template_code', 'variables', request -> 'variables',
             'body', request -> 'body', 'subject', request -> 'subject',
             'language', request -> 'language',
             'priority', 3,
             -- Scoped to the caller; a long key is hashed to fit the outbox's 200 characters.
             'idempotency_key', format('desk:%s:%s', caller,
               case when length(request ->> 'idempotency_key') <= 150
                    then request ->> 'idempotency_key'
                    else 'sha256:' || encode(sha256(convert_to(request ->> 'idempotency_key', 'UTF8')), 'hex')
               end),
             'created_by', caller),
           as_of) as e;
end;
$$;

comment on function private.send_desk_message(jsonb, timestamptz) is
  'An agent''s or manager''s one-off message at the instant as_of: {customer_id, channel, '
  'idempotency_key, template_code + variables or body + purpose, [case_id, subject, language]}. '
  'Raises 42501 for a caller who is not on the desk, P0002 when the customer (or the case, which '
  'must be theirs) is not the caller''s to see, 22023 for a malformed request; otherwise the gate '
  'decides (priority 3: ahead of reminders, behind receipts). Keys are scoped to the caller. The '
  'owner''s only (tests moving the clock): the desk calls private.send_desk_message(jsonb), on '
  'the real clock. Security definer: the desk may not write messages itself.';

revoke execute on function private.send_desk_message(jsonb, timestamptz) from public;

create function private.send_desk_message(request jsonb)
returns table (
  message_id uuid,
  status public.message_status,
  blocked_reason text,
  deferred_reason text,
  next_attempt_at timestamptz,
  created boolean
)
language sql
security definer
set search_path = ''
as $$
  select d.message_id, d.status, d.blocked_reason, d.deferred_reason, d.next_attempt_at, d.created
    from private.send_desk_message(request, now()) d
$$;

comment on function private.send_desk_message(jsonb) is
  'The desk''s one-off message (POST /api/messages): private.send_desk_message(request, now()), '
  'so a caller cannot move the clock the gate''s frequency cap and send hours are judged by. '
  'Same request, answers and errors. Security definer: calls the owner''s form with the clock.';

revoke execute on function private.send_desk_message(jsonb) from public;
grant execute on function private.send_desk_message(jsonb) to authenticated;
