-- The desk sends no transactional message, by template or free text (found by a review).
-- private.send_desk_message refused free text calling itself transactional, but not a
-- transactional template (payment_receipt, case_renewed, autopay_pre_debit_notice, the
-- payment_refund_due_* notices, opt_out_confirmation), whose variables are all the caller's free
-- text. The gate exempts transactional messages from the frequency cap, quiet and promotional
-- hours, DND, marketing consent and the ENABLE_<CHANNEL>_CAMPAIGNS switches, so an agent could
-- send fake receipts (a phishing document_link), renewal confirmations for lost cases or pre-debit
-- notices, as often as they liked at any hour: five receipts to one customer in a row all went,
-- against a service cap of 3 a day. Transactional messages are the system's: the payment, autopay
-- and case jobs queue them through private.enqueue_messages directly.
-- * private.send_desk_message(request, as_of): the body of 20261202055907 with one more refusal,
--   22023 (422, as the free-text one) for a template_code whose active template on that channel
--   is transactional, whatever purpose the request names. The one-argument form calls it, so it
--   is unchanged; privileges and the comment's audience are as before.

create or replace function private.send_desk_message(request jsonb, as_of timestamptz)
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
  if exists (select 1 from public.templates t
              where t.code = request ->> 'template_code'
                and t.channel::text = request ->> 'channel'
                and t.active and t.purpose = 'transactional') then
    raise exception 'template % is transactional: receipts, renewal confirmations, pre-debit '
                    'notices and refunds are the system''s to send, not the desk''s',
                    request ->> 'template_code' using errcode = '22023';
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
  'Service or marketing only: transactional messages (receipts, renewal confirmations, pre-debit '
  'notices, refunds) are the system''s, so free text claiming transactional and a transactional '
  'template are refused (22023). Raises 42501 for a caller who is not on the desk, P0002 when '
  'the customer (or the case, which must be theirs) is not the caller''s to see, 22023 for a '
  'malformed request; otherwise the gate decides (priority 3: ahead of reminders, behind '
  'receipts). Keys are scoped to the caller. The owner''s only (tests moving the clock): the '
  'desk calls private.send_desk_message(jsonb), on the real clock. Security definer: the desk '
  'may not write messages itself.';
