-- Two findings of a review of issue 7's API.
-- * POST /api/messages answered "Queued to go now." for a desk message about a closed case
--   (renewed, lost, not taken), which the claim then cancelled (case_closed) with no reason the
--   desk could see; and queued a WhatsApp template whose approved header is a document, which
--   the desk has no way to attach, so the dispatcher failed it (document_missing) before WhatsApp
--   saw it. private.send_desk_message now refuses both (22023 -> 422, with the reason), except
--   for a key that names a message already queued (the gate's repeat rule).
-- * private.failure_cause put document_missing and document_unavailable (our own codes, before
--   any vendor) down to the provider: the vendor reports counted them as WhatsApp's failures and
--   the provider_error_rate alert fired for them. They are ours ('us'). The facts are rebuilt.

create or replace function private.failure_cause(
  status public.message_status,
  last_error_code text,
  blocked_reason text,
  dead_reason text
)
returns text
language sql
immutable
parallel safe
security invoker
as $$
  select case
    when status is null or status not in ('failed', 'undeliverable', 'dead', 'blocked', 'cancelled')
      then null
    -- The gate refused it (messages.blocked_reason).
    when status = 'blocked' then
      case
        -- The customer: no address, no or withdrawn consent, a suppressed (bounced, complained,
        -- STOP) address, not opted in to WhatsApp.
        when blocked_reason in ('no_address', 'no_consent', 'consent_withdrawn', 'suppressed',
                                'whatsapp_not_opted_in') then 'customer'
        -- Regulation: TRAI's DND registry, WhatsApp's 24-hour window, quiet and promotional hours.
        when blocked_reason in ('dnd', 'whatsapp_window_closed', 'quiet_hours',
                                'promotional_hours') then 'regulation'
        -- Us: a disabled channel, an SMS without its DLT template, a template not approved or
        -- missing variables, our own frequency caps; and any reason this list does not know.
        else 'us'
      end
    -- No longer needed: the customer paid, the case closed or they opted out (a cancelled
    -- campaign's messages cannot be told apart here and count the same).
    when status = 'cancelled' then 'customer'
    -- A dispatcher lost the message more than MESSAGE_STALL_LIMIT times: ours.
    when status = 'dead' and dead_reason = 'stalled' and last_error_code is null then 'us'
    -- The customer's number, mailbox or choice (VENDORS.md; functions/_shared/providers/).
    when last_error_code in (
      -- Twilio: invalid To, STOP, not a mobile, unreachable / unknown handset, landline, blocked
      -- by the recipient.
      '21211', '21610', '21614', '30003', '30004', '30005', '30006',
      -- WhatsApp Cloud: the number is not on WhatsApp or cannot receive the message.
      '131026',
      -- SES: bounces (hard, soft, suppressed) and complaints.
      'Bounce.Permanent', 'Bounce.Transient', 'Bounce.Undetermined', 'Bounce.Suppressed',
      'Bounce.OnAccountSuppressionList', 'Complaint',
      -- SNS: the number opted out, or the endpoint is disabled.
      'OptedOut', 'EndpointDisabled', 'EndpointDisabledException',
      -- SendGrid: bounced, blocked by the receiving server, dropped (suppressed address).
      'event.bounce', 'event.bounce.blocked', 'event.dropped'
    ) then 'customer'
    -- SES bounce codes with their subtype (Bounce.Permanent.General, ...) and the SMTP status a
    -- SendGrid bounce carries (5.1.1, 4.2.2): the recipient's mailbox.
    when last_error_code like 'Bounce.%' or last_error_code ~ '^[45]\.[0-9]{1,3}\.[0-9]{1,3}$'
      then 'customer'
    -- Regulation and the platforms' rules: carrier filtering (DLT scrubbing in India), WhatsApp's
    -- 24-hour window, its per-user marketing cap, spam limit and policy blocks.
    when last_error_code in ('30007', '131047', '131049', '131048', '368') then 'regulation'
    -- The provider: outages, 5xx, timeouts, throttling, an open breaker.
    when last_error_code in (
      -- Twilio: REST concurrency 429, internal errors, unknown delivery error, not reachable by
      -- SMS from the account.
      '20429', '20500', '20503', '30008', '21612',
      -- WhatsApp Cloud: throughput, pair and application rate limits, temporary and unknown
      -- errors.
      '130429', '131056', '4', '80007', '2', '131000',
      -- SES / SNS: throttling and limits, internal failures, unavailable.
      'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'LimitExceededException',
      'Throttled', 'ThrottledException', 'KMSThrottling', 'KMSThrottlingException',
      'ServiceUnavailable', 'InternalFailure', 'InternalError', 'InternalErrorException',
      -- SendGrid: too many requests.
      '429',
      -- Ours, about the vendor: a timeout, the network, an aborted call, an unreadable success,
      -- the circuit breaker open.
      'timeout', 'network', 'aborted', 'invalid_response', 'breaker_open'
    ) then 'provider'
    when last_error_code ~ '^http_(429|5[0-9][0-9])$' then 'provider'
    -- Us: our request, account or configuration. Twilio: authentication, account and API
    -- path (20003, 20404), sender and account setup (21212, 21603, 21606, 21608, 21408, 21609),
    -- body and To missing or too long (21602, 21604, 21617). WhatsApp Cloud: token and
    -- permissions (190, 10, 200), parameters (100, 131009), template parameter count (132000),
    -- template missing, not approved, paused or disabled (132001, 132015, 132016), media (131052,
    -- 131053), billing (131042). SES / SNS: rejected or unrenderable content, bad parameters
    -- (SNS's InvalidParameter is also its invalid phone number: the code alone cannot tell),
    -- unverified or suspended sending, credentials and signatures. SendGrid: 400, 401, 403,
    -- 413. Ours: provider not configured, no sender, a message the provider cannot take, a
    -- provider that threw, a missing or unreadable document, any other HTTP 4xx.
    when last_error_code in (
      '20003', '20404', '21212', '21603', '21606', '21608', '21408', '21609', '21602', '21604',
      '21617',
      '190', '10', '200', '100', '131009', '132000', '132001', '132015', '132016', '131052',
      '131053', '131042',
      'MessageRejected', 'Reject', 'Rendering Failure', 'BadRequestException',
      'InvalidParameterValue', 'InvalidParameter', 'InvalidParameterException',
      'ParameterValueInvalid', 'InvalidParameterValueException', 'ValidationException',
      'MissingParameter', 'MailFromDomainNotVerifiedException', 'AccountSuspendedException',
      'SendingPausedException', 'AccountSendingPausedException',
      'ConfigurationSetSendingPausedException', 'ConfigurationSetDoesNotExistException',
      'ConfigurationSetDoesNotExist', 'NotFoundException', 'NotFound', 'InvalidClientTokenId',
      'SignatureDoesNotMatch', 'IncompleteSignature', 'MissingAuthenticationToken',
      'InvalidAction', 'AccessDenied', 'AccessDeniedException', 'AuthorizationError',
      'AuthorizationErrorException', 'InvalidSecurity', 'InvalidSecurityException',
      '400', '401', '403', '413',
      'not_configured', 'no_sender', 'invalid_message', 'provider_error',
      -- Ours, before any vendor: a WhatsApp template with a document header and no document, a
      -- document Storage could not give.
      'document_missing', 'document_unavailable'
    ) then 'us'
    when last_error_code ~ '^http_4[0-9][0-9]$' then 'us'
    -- A code no list knows, or none: on an undeliverable message the vendor could not reach
    -- the address (the customer's); on a failed or dead one (retries exhausted) the vendor's
    -- trouble, as the dispatcher treats unknown codes as transient.
    when status = 'undeliverable' then 'customer'
    else 'provider'
  end
$$;

comment on function private.failure_cause(public.message_status, text, text, text) is
  'Whose doing a message''s failure was: customer, provider, us or regulation; null unless the '
  'status is failed, undeliverable, dead, blocked or cancelled. Blocked messages by the gate''s '
  'reason, cancelled ones are the customer''s (paid, closed, opted out), a stalled dead letter '
  'is ours, others by the vendor''s last error code (the groups are listed in the function''s '
  'body, from VENDORS.md); a code no list knows is the customer''s on an undeliverable message '
  'and the provider''s otherwise; our own document_missing and document_unavailable are '
  'ours.';

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
  closed_stage text;
  key text;
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
  -- Scoped to the caller; a long key is hashed to fit the outbox's 200 characters.
  key := format('desk:%s:%s', caller,
           case when length(request ->> 'idempotency_key') <= 150
                then request ->> 'idempotency_key'
                else 'sha256:' || encode(sha256(convert_to(request ->> 'idempotency_key', 'UTF8')), 'hex')
           end);
  -- What would be queued only to be dropped is refused, unless the key names a message already
  -- queued (the gate returns it, as for any repeat).
  if not exists (select 1 from public.messages m where m.idempotency_key = key) then
    -- A closed case's reminders are cancelled when claimed (case_closed): the desk's message
    -- about it would never go.
    select c.stage::text into closed_stage from public.renewal_cases c
     where c.id = renewal and c.stage in ('renewed', 'lost', 'not_taken');
    if closed_stage is not null then
      raise exception 'case % is closed (%): a message about it would not be sent; send it '
                      'without the case', renewal, closed_stage using errcode = '22023';
    end if;
    -- A template whose approved header is a document needs one, which the desk cannot attach:
    -- the dispatcher would fail it (document_missing) before WhatsApp saw it.
    if exists (select 1 from public.templates t
                where t.code = request ->> 'template_code'
                  and t.channel::text = request ->> 'channel'
                  and t.active and t.whatsapp_header_format = 'document') then
      raise exception 'template % has a document header, which the desk cannot attach',
                      request ->> 'template_code' using errcode = '22023';
    end if;
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
             'idempotency_key', key,
             'created_by', caller),
           as_of) as e;
end;
$$;
comment on function private.send_desk_message(jsonb, timestamptz) is
  'An agent''s or manager''s one-off message at the instant as_of: {customer_id, channel, '
  'idempotency_key, template_code + variables or body + purpose, [case_id, subject, language]}. '
  'Service or marketing only: transactional messages (receipts, renewal confirmations, pre-debit '
  'notices, refunds) are the system''s, so free text claiming transactional and a transactional '
  'template are refused (22023), as are a message about a closed case (renewed, lost, not '
  'taken: it would be cancelled unsent) and a template with a document header (the desk cannot '
  'attach one), unless the key names a message already queued. Raises 42501 for a caller who is not on the desk, P0002 when '
  'the customer (or the case, which must be theirs) is not the caller''s to see, 22023 for a '
  'malformed request; otherwise the gate decides (priority 3: ahead of reminders, behind '
  'receipts). Keys are scoped to the caller. The owner''s only (tests moving the clock): the '
  'desk calls private.send_desk_message(jsonb), on the real clock. Security definer: the desk '
  'may not write messages itself.';

update private.analytics_state s set built_at = null where s.id;
