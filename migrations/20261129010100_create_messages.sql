-- The outbound pipeline's tables: messages (the outbox and the communication log in one row per
-- message), message_events (every vendor callback and inbound message as received),
-- suppressions (addresses we must not use), the WhatsApp customer-service window per customer,
-- and per-provider state shared by every dispatcher (circuit breaker and rate limit).
--
-- Nothing here is written by the desk directly: messages enter only through the gate
-- (private.enqueue_messages, next migration), which decides each row's fate; the dispatcher and
-- the webhooks move them on. The desk reads what RLS lets it see.

create type public.message_status as enum (
  'queued', 'sending', 'sent', 'delivered', 'read',
  'failed', 'undeliverable', 'cancelled', 'blocked', 'dead'
);

comment on type public.message_status is
  'Where a message is. queued: waiting to be claimed (possibly deferred: see next_attempt_at). '
  'sending: leased by a dispatcher. sent: the vendor accepted it. delivered: it reached the '
  'handset or mailbox. read: the customer opened it (WhatsApp). failed: a permanent error, or '
  'the fallback refused too. undeliverable: the vendor could not deliver it. cancelled: no '
  'longer needed (paid, withdrawn). blocked: the gate refused it (blocked_reason says why). '
  'dead: a dead letter, stalled or out of retries, which an admin may redrive.';

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references public.customers (id) on delete cascade,
  case_id uuid references public.renewal_cases (id) on delete set null,
  channel public.channel_type not null check (channel in ('sms', 'email', 'whatsapp')),
  purpose public.consent_purpose not null,
  template_id uuid references public.templates (id) on delete restrict,
  variables jsonb not null default '{}' check (jsonb_typeof(variables) = 'object'),
  subject text,
  body text not null,
  recipient text,
  priority smallint not null default 5 check (priority between 0 and 9),
  status public.message_status not null default 'queued',
  blocked_reason text,
  deferred_reason text,
  idempotency_key text not null unique check (length(idempotency_key) between 1 and 200),
  attempts smallint not null default 0,
  stalls smallint not null default 0,
  next_attempt_at timestamptz not null default now(),
  locked_until timestamptz,
  locked_by text,
  provider text references public.vendors (code) on update cascade on delete restrict,
  provider_message_id text,
  estimated_cost_paise numeric(12, 4),
  cost_paise numeric(12, 4),
  last_error_code text,
  last_error text,
  dead_reason text,
  unconfirmed_at timestamptz,
  created_by uuid references auth.users (id) on delete set null,
  queued_at timestamptz not null default now(),
  sending_at timestamptz,
  sent_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  failed_at timestamptz,
  cancelled_at timestamptz,
  blocked_at timestamptz,
  dead_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'blocked') = (blocked_reason is not null)),
  check (status <> 'dead' or dead_reason is not null)
);

comment on table public.messages is
  'One row per outbound message: the outbox the dispatchers drain and the communication log the '
  'desk and analysts read. Rows enter only through the gate (private.enqueue_messages).';
comment on column public.messages.purpose is
  'The consent it needs: transactional (receipts), service (renewal reminders), marketing.';
comment on column public.messages.variables is 'The template variables it was queued with.';
comment on column public.messages.body is 'The text as rendered when queued (the template filled in).';
comment on column public.messages.recipient is
  'The address as it was when queued: E.164 phone for SMS and WhatsApp, email address for email. '
  'Null only when the customer had none (then blocked: no_address).';
comment on column public.messages.priority is
  '0 (first: receipts, one-time codes) to 9 (last: campaigns); claims take lower first, then the '
  'earliest next_attempt_at.';
comment on column public.messages.blocked_reason is
  'Why the gate refused it: channel_disabled, no_address, sms_needs_dlt_template, '
  'consent_withdrawn, no_consent, '
  'whatsapp_not_opted_in, dnd, suppressed, whatsapp_window_closed, template_not_approved, '
  'missing_variables or frequency_cap (see private.enqueue_messages).';
comment on column public.messages.deferred_reason is
  'Why it waits beyond its queue time: promotional_hours (TRAI: marketing 10:00-21:00 IST), '
  'quiet_hours, scheduled, retry.';
comment on column public.messages.idempotency_key is
  'One message per key: a second enqueue with the same key returns the first message. '
  'Producers use case+rule, campaign+recipient, or the API caller''s Idempotency-Key.';
comment on column public.messages.attempts is 'Sends tried so far, across providers.';
comment on column public.messages.stalls is
  'Times a dispatcher''s lease expired with the message in hand (crash, timeout); at the '
  'MESSAGE_STALL_LIMIT setting it goes dead.';
comment on column public.messages.next_attempt_at is
  'When it may be claimed: now for new messages, later when deferred or backing off; while '
  'sending, when the lease ends.';
comment on column public.messages.locked_until is 'End of the current dispatcher''s lease.';
comment on column public.messages.locked_by is 'The dispatcher holding the lease.';
comment on column public.messages.provider is 'The provider of the last attempt (vendors.code).';
comment on column public.messages.provider_message_id is
  'The vendor''s id: Twilio SM..., SES MessageId, SendGrid X-Message-Id, WhatsApp wamid....';
comment on column public.messages.estimated_cost_paise is
  'Cost estimated when queued, in paise (MESSAGE_RATES_PAISE): SMS segments x rate, WhatsApp by '
  'template category, email per message.';
comment on column public.messages.cost_paise is
  'Cost the vendor reported, in paise (WhatsApp pricing, Twilio price); null until known.';
comment on column public.messages.last_error_code is 'The vendor''s code of the last failure (21211, 131047, Throttling, ...).';
comment on column public.messages.dead_reason is 'Why it became a dead letter: stalled, retries_exhausted.';
comment on column public.messages.unconfirmed_at is
  'Set when the vendor accepted it but neither delivery nor failure came within '
  'MESSAGE_UNCONFIRMED_HOURS (as with WhatsApp numbers without a payment method).';
comment on column public.messages.created_by is 'The agent who sent a one-off message; null for jobs.';

comment on column public.messages.customer_id is 'Who it is for.';
comment on column public.messages.case_id is 'The renewal case it is about, if any.';
comment on column public.messages.channel is 'sms, email or whatsapp.';
comment on column public.messages.template_id is 'The template it was rendered from; null for a free-text message.';
comment on column public.messages.subject is 'Email subject as rendered; null for SMS and WhatsApp.';
comment on column public.messages.status is 'Where it is now (see the message_status type).';
comment on column public.messages.last_error is 'The vendor''s words for the last failure.';
comment on column public.messages.queued_at is 'When the gate took it.';
comment on column public.messages.sending_at is 'When a dispatcher last claimed it.';
comment on column public.messages.sent_at is 'When the vendor accepted it.';
comment on column public.messages.delivered_at is 'When the vendor reported it delivered.';
comment on column public.messages.read_at is 'When the vendor reported it read (WhatsApp).';
comment on column public.messages.failed_at is 'When it failed or was reported undeliverable.';
comment on column public.messages.cancelled_at is 'When it was cancelled.';
comment on column public.messages.blocked_at is 'When the gate blocked it.';
comment on column public.messages.dead_at is 'When it became a dead letter.';

create index messages_customer_idx on public.messages (customer_id, created_at desc, id);
create index messages_case_idx on public.messages (case_id, created_at desc, id) where case_id is not null;
create index messages_template_idx on public.messages (template_id);
create index messages_provider_idx on public.messages (provider, provider_message_id);
create index messages_created_by_idx on public.messages (created_by);
-- The claim's index: only claimable rows, in claim order. With a plain (status, id) index the
-- planner walks past every sent row and the claim slows as the table drains (DESIGN.md).
create index messages_claimable_idx on public.messages (priority, next_attempt_at)
  where status in ('queued', 'sending');
-- Sent but never confirmed: the unconfirmed sweep's index.
create index messages_awaiting_confirmation_idx on public.messages (sent_at)
  where status = 'sent' and unconfirmed_at is null;

create trigger _100_timestamps before update on public.messages
  for each row execute function private.tg__set_updated_at();

create table public.message_events (
  id uuid primary key default gen_random_uuid(),
  provider text not null references public.vendors (code) on update cascade on delete restrict,
  event_key text not null check (length(event_key) between 1 and 300),
  message_id uuid references public.messages (id) on delete set null,
  provider_message_id text,
  kind text not null check (kind in ('status', 'inbound', 'subscription')),
  status text,
  error_code text,
  occurred_at timestamptz,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  unique (provider, event_key)
);

comment on table public.message_events is
  'Every vendor callback and inbound message as received, once per vendor event identity. A '
  'callback for a message we do not know is kept (message_id null) for reconciliation.';
comment on column public.message_events.event_key is
  'The vendor''s event identity: Twilio MessageSid+status, SNS MessageId, SendGrid sg_event_id, '
  'WhatsApp wamid+status (or the inbound wamid).';
comment on column public.message_events.status is 'The status it reports, in the vendor''s words.';
comment on column public.message_events.occurred_at is 'When the vendor says it happened.';

comment on column public.message_events.provider is 'The vendor that called (vendors.code).';
comment on column public.message_events.message_id is 'Our message, when the vendor''s id matched one; null until reconciled.';
comment on column public.message_events.provider_message_id is 'The vendor''s message id the event names.';
comment on column public.message_events.kind is 'status (a delivery report), inbound (a customer wrote), subscription (an SNS handshake).';
comment on column public.message_events.error_code is 'The vendor''s error code, when the event reports a failure.';
comment on column public.message_events.payload is 'The event as received (parsed JSON or form fields).';
comment on column public.message_events.received_at is 'When our webhook received it.';

create index message_events_message_idx on public.message_events (message_id);
create index message_events_unmatched_idx on public.message_events (provider, provider_message_id)
  where message_id is null;

create table public.suppressions (
  id uuid primary key default gen_random_uuid(),
  channel public.channel_type not null check (channel in ('sms', 'email', 'whatsapp')),
  address text not null check (length(address) between 3 and 320),
  reason text not null check (reason in ('hard_bounce', 'complaint', 'stop_reply', 'invalid_number', 'unsubscribed')),
  source text not null,
  message_id uuid references public.messages (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (channel, address)
);

comment on table public.suppressions is
  'Addresses the gate will not use on a channel: hard bounces, complaints, STOP replies, '
  'invalid numbers. Email addresses are stored lower-case, phones in E.164.';
comment on column public.suppressions.source is 'What told us: ses_bounce, twilio_21211, whatsapp_reply, ...';

comment on column public.suppressions.channel is 'The channel the address may not be used on.';
comment on column public.suppressions.address is 'E.164 phone or lower-case email address.';
comment on column public.suppressions.reason is 'hard_bounce, complaint, stop_reply, invalid_number or unsubscribed.';
comment on column public.suppressions.message_id is 'The message that revealed it, if any.';

create index suppressions_message_idx on public.suppressions (message_id);

create table public.whatsapp_windows (
  customer_id uuid primary key references public.customers (id) on delete cascade,
  last_inbound_at timestamptz not null
);

comment on table public.whatsapp_windows is
  'When each customer last wrote to us on WhatsApp: free-form messages may be sent until 24 '
  'hours after it (the customer-service window); outside it only approved templates.';
comment on column public.whatsapp_windows.last_inbound_at is 'When the customer''s last WhatsApp message reached us.';

create table public.provider_state (
  provider text primary key references public.vendors (code) on update cascade on delete cascade,
  breaker text not null default 'closed' check (breaker in ('closed', 'open', 'half_open')),
  breaker_since timestamptz not null default now(),
  consecutive_failures integer not null default 0,
  rate_per_second numeric(10, 2) not null default 50 check (rate_per_second > 0),
  tokens numeric(12, 4) not null default 50,
  tokens_at timestamptz not null default now()
);

comment on table public.provider_state is
  'What every dispatcher instance shares about a provider: its circuit breaker (closed, open '
  'since when, half_open while probing) and its rate limit as a token bucket (rate_per_second, '
  'tokens left at tokens_at).';

comment on column public.provider_state.breaker is 'closed (sending), open (skipped), half_open (one probe allowed).';
comment on column public.provider_state.breaker_since is 'When the breaker last changed state.';
comment on column public.provider_state.consecutive_failures is 'Transient failures since the last success.';
comment on column public.provider_state.rate_per_second is 'Sends a second all dispatchers together may make.';
comment on column public.provider_state.tokens is 'Sends banked in the bucket at tokens_at (at most one second''s worth).';
comment on column public.provider_state.tokens_at is 'When tokens was last computed.';

insert into public.provider_state (provider, rate_per_second, tokens)
select v.code, r.rate, r.rate
  from public.vendors v
  join (values ('twilio', 100), ('aws_sns', 20), ('aws_ses', 14), ('sendgrid', 100),
               ('whatsapp_cloud', 80)) as r (code, rate) on r.code = v.code;

create table public.provider_breaker_events (
  id bigint generated always as identity primary key,
  provider text not null references public.vendors (code) on update cascade on delete cascade,
  breaker text not null check (breaker in ('closed', 'open', 'half_open')),
  at timestamptz not null default now()
);

comment on table public.provider_breaker_events is 'Each change of a provider''s circuit breaker, for its history.';

comment on column public.provider_breaker_events.provider is 'The provider (vendors.code).';
comment on column public.provider_breaker_events.breaker is 'The state it changed to.';
comment on column public.provider_breaker_events.at is 'When it changed.';

create index provider_breaker_events_provider_idx on public.provider_breaker_events (provider, at);

insert into public.app_settings (key, value, description) values
  ('PROMOTIONAL_HOURS', '{"start": "10:00", "end": "21:00"}',
   'When marketing messages may go out, business time (TRAI TCCCPR: promotional 10:00-21:00). '
   'Outside it they wait for the next start.'),
  ('QUIET_HOURS', '{"start": "21:00", "end": "08:00"}',
   'When service messages wait, business time (null start for none). Transactional messages '
   '(receipts) are never held.'),
  ('MESSAGE_FREQUENCY_CAPS', '{"marketing": {"max": 2, "days": 7}, "service": {"max": 3, "days": 1}}',
   'Most messages per customer and purpose across WhatsApp, SMS and email in a rolling window of '
   'days; beyond it the gate blocks (frequency_cap). Transactional messages are not capped.'),
  ('MESSAGE_RETRY', '{"max_attempts": 5, "base_seconds": 30, "max_seconds": 3600}',
   'Retries of transient failures per provider: exponential backoff from base_seconds with full '
   'jitter, capped at max_seconds, max_attempts before the fallback provider.'),
  ('MESSAGE_LEASE_SECONDS', '60', 'How long a dispatcher holds claimed messages before they come back.'),
  ('MESSAGE_STALL_LIMIT', '3', 'Leases a message may outlive before it becomes a dead letter.'),
  ('MESSAGE_UNCONFIRMED_HOURS', '24',
   'Hours after a vendor accepted a message without a delivery or failure callback before it is '
   'flagged unconfirmed.'),
  ('PROVIDER_BREAKER', '{"failures": 5, "open_seconds": 30}',
   'Consecutive transient failures that open a provider''s circuit breaker, and how long it stays '
   'open before one probe may try it.');

-- Row-level security. The desk reads the messages and events of customers it sees; nobody
-- writes any of these tables through the API roles.
alter table public.messages enable row level security;
alter table public.message_events enable row level security;
alter table public.suppressions enable row level security;
alter table public.whatsapp_windows enable row level security;
alter table public.provider_state enable row level security;
alter table public.provider_breaker_events enable row level security;
revoke all on public.messages, public.message_events, public.suppressions,
  public.whatsapp_windows, public.provider_state, public.provider_breaker_events
  from anon, authenticated, service_role;
grant select on public.messages, public.message_events, public.suppressions,
  public.whatsapp_windows, public.provider_state, public.provider_breaker_events
  to authenticated;
grant select on public.messages, public.message_events, public.suppressions,
  public.whatsapp_windows, public.provider_state, public.provider_breaker_events
  to service_role;

create policy messages_select_member on public.messages
  for select to authenticated
  using (exists (select 1 from public.customers cu where cu.id = messages.customer_id));

create policy message_events_select_member on public.message_events
  for select to authenticated
  using (exists (select 1 from public.messages m where m.id = message_events.message_id));

-- An address is personal data: admins see the suppression list; the desk sees a customer's
-- through the API's profile.
create policy suppressions_select_admin on public.suppressions
  for select to authenticated
  using ((select private.is_admin()));

create policy whatsapp_windows_select_member on public.whatsapp_windows
  for select to authenticated
  using (exists (select 1 from public.customers cu where cu.id = whatsapp_windows.customer_id));

create policy provider_state_select_member on public.provider_state
  for select to authenticated
  using ((select private.is_desk_member()));

create policy provider_breaker_events_select_member on public.provider_breaker_events
  for select to authenticated
  using ((select private.is_desk_member()));
