-- The right to erasure (issue 13: DPDP Act 2023 s. 12(3), GDPR art. 17), while what insurance
-- law requires stays: policies, premiums, payments and their allocations are untouched, with the
-- customer as a pseudonym.
--
-- Pseudonymisation, not crypto-shredding. Crypto-shredding (every personal value encrypted under
-- a per-customer key, the key destroyed on erasure) would need a decrypt in every hot path that
-- reads personal columns in clear today: the compliance gate (recipient, suppressions, DND), the
-- desk's search by name and phone in any form, the inbound webhooks that find a customer by the
-- sender's phone or email, the Telegram linking, the analytics views; and the copies outside the
-- customers row (vendor webhook payloads, Razorpay requests, rendered message bodies, AI prompts,
-- S3 objects and their keys) would each need per-customer envelope keys. One forgotten copy in
-- clear defeats it silently. Pseudonymisation overwrites every copy in place, in one transaction,
-- with a registry of every text column reachable from a customer (private.personal_data_columns,
-- checked against the catalog by pgTAP 102) so that a new table cannot be forgotten either.
--
-- * customers.erased_at: when the customer was erased. Once set, a trigger refuses ever setting
--   the personal columns again (full_name other than the pseudonym, phone, email, city) or
--   clearing erased_at: an erasure cannot be undone, by any role.
-- * private.erase_customer(customer, reason): the erasure, one transaction (see its comment for
--   what is erased and what is kept), refused (55000) while a payment is in flight or a message
--   is being handed to a vendor, and when the customer was already erased.
-- * private.customer_payment_in_flight(customer, as_of): what blocks an erasure, in words.
-- * private.strip_personal_keys(doc): a JSON document without the keys that carry personal data
--   in vendor payloads (email, contact, name, notes, vpa, card, ...), at any depth.
-- * private.personal_data_columns: every text/JSON column of every table reachable from
--   customers, with what the erasure does to it (erased, deleted with its row, kept) and why.

alter table public.customers add column erased_at timestamptz;

comment on column public.customers.erased_at is
  'When the customer was erased (private.erase_customer, at their request): name replaced by a '
  'pseudonym, phone, email and city removed, and with them every copy in messages, payloads, AI '
  'calls and documents. Null for a customer never erased. Cannot be undone.';

create function private.tg_customers__keep_erased() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.erased_at is distinct from old.erased_at
     or new.full_name is distinct from old.full_name
     or new.phone is not null or new.email is not null or new.city is not null then
    raise exception 'customer % was erased: their personal data cannot be set again', old.id
      using errcode = '55000',
            hint = 'An erasure cannot be undone; record a new customer if the person comes back.';
  end if;
  return new;
end;
$$;

comment on function private.tg_customers__keep_erased() is
  'Trigger (_050_keep_erased, on customers erased already): refuses (55000) setting full_name, '
  'phone, email or city again, or changing erased_at, for every role, the owner included. Other '
  'columns (book keys, timestamps, language) still change.';

revoke execute on function private.tg_customers__keep_erased() from public;

create trigger _050_keep_erased before update on public.customers
  for each row when (old.erased_at is not null)
  execute function private.tg_customers__keep_erased();

-- Vendor payloads: the keys that carry a person's data, dropped at any depth.
create function private.strip_personal_keys(doc jsonb) returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  personal constant text[] := array[
    'email', 'contact', 'phone', 'name', 'notes', 'customer', 'customer_details', 'customer_id',
    'customer_name', 'customer_email', 'customer_contact', 'vpa', 'upi', 'card', 'bank_account',
    'description', 'address', 'billing_address', 'shipping_address', 'from', 'to', 'profile',
    'contacts', 'first_name', 'last_name', 'username', 'user_agent', 'body', 'text', 'subject'];
begin
  if jsonb_typeof(doc) = 'object' then
    return coalesce((select jsonb_object_agg(e.key, private.strip_personal_keys(e.value))
                       from jsonb_each(doc) e
                      where lower(e.key) <> all (personal)), '{}'::jsonb);
  elsif jsonb_typeof(doc) = 'array' then
    return coalesce((select jsonb_agg(private.strip_personal_keys(a.value) order by a.ordinality)
                       from jsonb_array_elements(doc) with ordinality a), '[]'::jsonb);
  end if;
  return doc;
end;
$$;

comment on function private.strip_personal_keys(jsonb) is
  'The JSON document without the keys that carry personal data in vendor payloads and requests '
  '(email, contact, phone, name, notes, customer, vpa, card, description, addresses, from/to, '
  'profile, message text, ...), at any depth, case-insensitively; ids, amounts, statuses and '
  'times stay. Used by the erasure on Razorpay payloads and requests.';

revoke execute on function private.strip_personal_keys(jsonb) from public;

-- What blocks an erasure: money moving for the customer's cases.
create function private.customer_payment_in_flight(customer uuid, as_of timestamptz default now())
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select format('payment %s is %s', p.razorpay_payment_id, p.status)
       from public.payments p join public.renewal_cases rc on rc.id = p.case_id
      where rc.customer_id = customer and p.status in ('created', 'authorized')
      limit 1),
    (select format('payment order %s is %s and open until %s', o.id, o.status, o.expires_at)
       from public.payment_orders o join public.renewal_cases rc on rc.id = o.case_id
      where rc.customer_id = customer
        and (o.status = 'creating'
             or o.status in ('created', 'attempted') and (o.expires_at is null or o.expires_at > as_of))
      limit 1),
    (select format('payment link %s is %s', l.id, l.status)
       from public.payment_links l join public.renewal_cases rc on rc.id = l.case_id
      where rc.customer_id = customer
        and (l.status in ('creating', 'partially_paid')
             or l.status = 'created' and (l.expire_by is null or l.expire_by > as_of))
      limit 1),
    (select format('autopay mandate %s is %s', m.id, m.status)
       from public.autopay_mandates m join public.renewal_cases rc on rc.id = m.case_id
      where rc.customer_id = customer
        and m.status in ('creating', 'created', 'authenticated', 'active', 'pending', 'paused')
      limit 1),
    (select format('refund %s is %s', r.id, r.status)
       from public.refunds r join public.renewal_cases rc on rc.id = r.case_id
      where rc.customer_id = customer and r.status in ('creating', 'pending')
      limit 1))
$$;

comment on function private.customer_payment_in_flight(uuid, timestamptz) is
  'Why the customer''s money is in flight as of as_of, in words, or null when nothing is: a '
  'payment created or authorized (not yet captured or failed); a payment order being created, or '
  'created/attempted and not expired; a payment link being created or partially paid, or created '
  'and not expired; an autopay mandate not final (creating, created, authenticated, active, '
  'pending, paused: it may still debit; halted, cancelled, completed, expired and failed do not); '
  'a refund being created or pending. An erasure is refused while any holds: cancel the link, '
  'mandate or order, or wait for it to settle or expire.';

revoke execute on function private.customer_payment_in_flight(uuid, timestamptz) from public;
grant execute on function private.customer_payment_in_flight(uuid, timestamptz) to service_role;

-- The registry: every text/JSON column reachable from a customer, and what the erasure does.
create table private.personal_data_columns (
  table_name text not null,
  column_name text not null,
  treatment text not null check (treatment in ('erased', 'deleted', 'kept')),
  why text not null check (length(btrim(why)) between 3 and 500),
  primary key (table_name, column_name)
);

comment on table private.personal_data_columns is
  'Every text, citext, varchar and JSON column of every table reachable from public.customers '
  '(by foreign keys, plus the payloads linked by vendor ids: payment_events, '
  'private.razorpay_calls, storage.objects, audit_log, and the analytics tables), with what '
  'private.erase_customer does to the customer''s rows: erased (cleared or pseudonymised in '
  'place), deleted (the rows go) or kept (why: no personal data, or the law requires it). pgTAP '
  '102 walks the catalog: a column missing here fails until it is classified.';

alter table private.personal_data_columns enable row level security;
revoke all on private.personal_data_columns from public, anon, authenticated, service_role;

insert into private.personal_data_columns (table_name, column_name, treatment, why) values
  ('public.customers', 'full_name', 'erased', 'Replaced by the pseudonym "Erased customer <8 random hex>", not derived from the person.'),
  ('public.customers', 'phone', 'erased', 'Set to null.'),
  ('public.customers', 'email', 'erased', 'Set to null.'),
  ('public.customers', 'city', 'erased', 'Set to null.'),
  ('public.customers', 'language', 'kept', 'A language code (en, hi): says nothing that identifies the person.'),
  ('public.messages', 'recipient', 'erased', 'Set to null on every message of the customer.'),
  ('public.messages', 'subject', 'erased', 'Set to null (emails).'),
  ('public.messages', 'body', 'erased', 'Replaced by [erased].'),
  ('public.messages', 'body_html', 'erased', 'Set to null.'),
  ('public.messages', 'variables', 'erased', 'Replaced by {}: the template variables held names, amounts and links.'),
  ('public.messages', 'template_snapshot', 'erased', 'whatsapp_parameters (the filled variables) removed; template names and DLT ids stay.'),
  ('public.messages', 'last_error', 'erased', 'Set to null: vendors quote the recipient in their error text (Twilio 21211 names the number); last_error_code stays.'),
  ('public.messages', 'blocked_reason', 'kept', 'A reason code from the gate (consent_withdrawn, no_address, ...).'),
  ('public.messages', 'deferred_reason', 'kept', 'A reason code (quiet_hours, retry, ...).'),
  ('public.messages', 'dead_reason', 'kept', 'A reason code (stalled, retries_exhausted).'),
  ('public.messages', 'choice_reason', 'kept', 'Channel names and gate reason codes.'),
  ('public.messages', 'idempotency_key', 'kept', 'Made of ids (case and rule, campaign and recipient row, the caller''s key), never an address.'),
  ('public.messages', 'locked_by', 'kept', 'The dispatcher''s name.'),
  ('public.messages', 'provider', 'kept', 'A vendor code.'),
  ('public.messages', 'provider_message_id', 'kept', 'The vendor''s random message id: the link to their delivery records, no personal data in itself.'),
  ('public.messages', 'last_error_code', 'kept', 'A vendor error code.'),
  ('public.message_events', 'payload', 'erased', 'Replaced by {"erased": true} for the events of the customer''s messages and the inbound events from their phone, email or Telegram chat.'),
  ('public.message_events', 'provider', 'kept', 'A vendor code.'),
  ('public.message_events', 'event_key', 'kept', 'The vendor''s event id (message id and status): no personal data.'),
  ('public.message_events', 'provider_message_id', 'kept', 'The vendor''s random message id.'),
  ('public.message_events', 'kind', 'kept', 'status, inbound or subscription.'),
  ('public.message_events', 'status', 'kept', 'The vendor''s status word.'),
  ('public.message_events', 'error_code', 'kept', 'A vendor error code.'),
  ('public.consents', 'evidence', 'erased', 'Every consent becomes withdrawn (source erasure) with evidence {"erased": true}.'),
  ('public.consents', 'source', 'kept', 'Where the consent came from, a code (erasure after it).'),
  ('public.consent_ledger', 'evidence', 'erased', 'Replaced by {"erased": true} (the only change the ledger allows, under py360.erasing_customer); the rows stay: the fact of each withdrawal is kept.'),
  ('public.consent_ledger', 'source', 'kept', 'A code (web_form, sms_stop, erasure, ...).'),
  ('public.consent_ledger', 'notice_version', 'kept', 'The privacy notice''s version.'),
  ('public.ai_requests', 'prompt', 'erased', 'Set to null.'),
  ('public.ai_requests', 'response', 'erased', 'Set to null.'),
  ('public.ai_requests', 'model', 'kept', 'The model''s name.'),
  ('public.ai_requests', 'prompt_hash', 'kept', 'sha256 of the redacted prompt: cannot be turned back into text; costs and the cache need it.'),
  ('public.ai_requests', 'source', 'kept', 'model, cache or rules.'),
  ('public.ai_chat_messages', 'content', 'erased', 'Replaced by [erased].'),
  ('public.ai_chat_messages', 'redacted_content', 'erased', 'Replaced by [erased].'),
  ('public.ai_chat_messages', 'role', 'kept', 'agent or assistant.'),
  ('public.ai_chat_messages', 'source', 'kept', 'model or rules.'),
  ('public.ai_chat_messages', 'fallback_reason', 'kept', 'A reason code.'),
  ('public.customer_social_accounts', 'platform', 'deleted', 'The customer''s linked social accounts are deleted.'),
  ('public.customer_social_accounts', 'external_id', 'deleted', 'The customer''s linked social accounts are deleted (chat id, user id).'),
  ('public.customer_social_accounts', 'handle', 'deleted', 'The customer''s linked social accounts are deleted (username).'),
  ('public.customer_social_accounts', 'source', 'deleted', 'The customer''s linked social accounts are deleted.'),
  ('private.telegram_link_tokens', 'token_hash', 'deleted', 'The customer''s Telegram link tokens are deleted.'),
  ('private.telegram_link_tokens', 'used_by_chat', 'deleted', 'The customer''s Telegram link tokens are deleted (chat id).'),
  ('public.suppressions', 'address', 'deleted', 'Suppressions of the customer''s phone, email and Telegram chat are deleted: the address itself is personal data, and nothing is sent to an erased customer.'),
  ('public.suppressions', 'reason', 'deleted', 'Deleted with the row.'),
  ('public.suppressions', 'source', 'deleted', 'Deleted with the row.'),
  ('public.link_clicks', 'user_agent', 'erased', 'Set to null on the clicks of the customer''s links.'),
  ('public.tracked_links', 'code', 'kept', 'Random base62: says nothing about the person.'),
  ('public.tracked_links', 'purpose', 'kept', 'A code (payment_link).'),
  ('public.tracked_links', 'target_url', 'kept', 'A Razorpay short link (random): the payment record''s link, no personal data in the text.'),
  ('public.documents', 'file_name', 'erased', 'Documents no law requires (no retain_until in force, no legal hold) are deleted; the kept ones (receipts, KYC within retention) get a generic name: <kind>-<first 8 of id>.<extension>.'),
  ('public.documents', 'object_key', 'kept', 'Deleted with the documents that go (their objects queued in private.object_deletions); a kept document keeps its key, under which its bytes live (an upload''s key ends in the uploaded file name: renaming needs a copy in the object store, not done here).'),
  ('public.documents', 'bucket', 'kept', 'The bucket''s name.'),
  ('public.documents', 'content_type', 'kept', 'A media type.'),
  ('public.documents', 'checksum_sha256', 'kept', 'A hash of the bytes.'),
  ('public.documents', 'status', 'kept', 'pending or stored.'),
  ('public.documents', 'link_token_hash', 'kept', 'A hash of a random token.'),
  ('storage.objects', 'name', 'deleted', 'The rows of the deleted documents'' objects are deleted; a kept document''s row stays (see documents.object_key).'),
  ('storage.objects', 'path_tokens', 'deleted', 'Generated from name; goes with it.'),
  ('storage.objects', 'bucket_id', 'kept', 'The bucket''s name.'),
  ('storage.objects', 'owner_id', 'kept', 'The uploading user''s id (staff).'),
  ('storage.objects', 'metadata', 'kept', 'Size, media type and ETag as Storage records them.'),
  ('storage.objects', 'user_metadata', 'kept', 'The upload''s kind, as the desk sent it.'),
  ('storage.objects', 'version', 'kept', 'Storage''s version id.'),
  ('public.payment_events', 'payload', 'erased', 'Personal keys removed at any depth (private.strip_personal_keys: email, contact, notes, vpa, card, ...) on the events of the customer''s payments, orders, links, mandates and refunds and on any event naming their phone or email; a payload still naming them after that becomes {"erased": true}. Ids, amounts and statuses stay: the payment record.'),
  ('public.payment_events', 'event_id', 'kept', 'Razorpay''s event id.'),
  ('public.payment_events', 'event_type', 'kept', 'Razorpay''s event name.'),
  ('public.payment_events', 'status', 'kept', 'A code (applied, ignored, ...).'),
  ('public.payment_events', 'signed_with', 'kept', 'current or previous.'),
  ('public.payment_events', 'note', 'kept', 'What became of the event, in our words (credited, unmatched, ...).'),
  ('private.razorpay_calls', 'request', 'erased', 'Personal keys removed at any depth (customer, notes, description, ...), as payment_events.payload.'),
  ('private.razorpay_calls', 'operation', 'kept', 'The call''s name.'),
  ('private.razorpay_calls', 'state', 'kept', 'A code.'),
  ('private.razorpay_calls', 'error_code', 'kept', 'Razorpay''s error code.'),
  ('public.payments', 'razorpay_order_id', 'kept', 'The payment record (insurance law): Razorpay''s id.'),
  ('public.payments', 'razorpay_payment_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.payments', 'currency', 'kept', 'The payment record.'),
  ('public.payments', 'method', 'kept', 'The payment record: upi, card, ... (no account details).'),
  ('public.payments', 'failure_reason', 'kept', 'The payment record: Razorpay''s words about a failure.'),
  ('public.payments', 'credited_via', 'kept', 'A code.'),
  ('public.payments', 'review_reason', 'kept', 'A code.'),
  ('public.payments', 'error_code', 'kept', 'Razorpay''s error code.'),
  ('public.payment_orders', 'receipt', 'kept', 'py_ + our id.'),
  ('public.payment_orders', 'razorpay_order_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.payment_orders', 'currency', 'kept', 'The payment record.'),
  ('public.payment_orders', 'status', 'kept', 'A code.'),
  ('public.payment_orders', 'last_error', 'kept', 'Razorpay''s words for a failed call (field errors, not values).'),
  ('public.payment_links', 'reference_id', 'kept', 'py_ + our id.'),
  ('public.payment_links', 'razorpay_payment_link_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.payment_links', 'razorpay_order_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.payment_links', 'short_url', 'kept', 'A random Razorpay URL: no personal data in the text.'),
  ('public.payment_links', 'currency', 'kept', 'The payment record.'),
  ('public.payment_links', 'status', 'kept', 'A code.'),
  ('public.payment_links', 'last_error', 'kept', 'Razorpay''s words for a failed call.'),
  ('public.autopay_mandates', 'razorpay_plan_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.autopay_mandates', 'razorpay_subscription_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.autopay_mandates', 'short_url', 'kept', 'A random Razorpay URL.'),
  ('public.autopay_mandates', 'status', 'kept', 'A code.'),
  ('public.autopay_mandates', 'period', 'kept', 'A code (monthly).'),
  ('public.autopay_mandates', 'pause_reason', 'kept', 'A code.'),
  ('public.autopay_mandates', 'last_error', 'kept', 'Razorpay''s words for a failed call.'),
  ('public.refunds', 'razorpay_refund_id', 'kept', 'The payment record: Razorpay''s id.'),
  ('public.refunds', 'reason', 'kept', 'The payment record: why the admin refunded.'),
  ('public.refunds', 'status', 'kept', 'A code.'),
  ('public.refunds', 'idempotency_key', 'kept', 'Our key for Razorpay.'),
  ('public.refunds', 'failure_reason', 'kept', 'Razorpay''s words.'),
  ('public.refunds', 'request_key', 'kept', 'The caller''s Idempotency-Key.'),
  ('public.outstanding_amounts', 'currency', 'kept', 'The premium record.'),
  ('public.outstanding_amounts', 'reason', 'kept', 'The premium record: why an installment was waived or how it was paid (cheque, transfer reference).'),
  ('public.policies', 'policy_number', 'kept', 'The insurance record the law requires (the insurer''s number).'),
  ('public.policies', 'insurer', 'kept', 'The insurance record.'),
  ('public.policies', 'currency', 'kept', 'The insurance record.'),
  ('public.renewal_cases', 'case_number', 'kept', 'Our reference RC-YYYY-NNNNNN.'),
  ('public.renewal_cases', 'lost_reason', 'kept', 'Why the renewal was lost, in the agent''s words: part of the renewal record; a closed case is frozen.'),
  ('public.tasks', 'kind', 'kept', 'A code (call).'),
  ('public.tasks', 'status', 'kept', 'A code.'),
  ('public.tasks', 'outcome', 'kept', 'The agent''s note of a call: the desk''s record of its work, frozen once done (the audit log holds it too); agents note outcomes, not contact details.'),
  ('public.campaign_recipients', 'state', 'kept', 'A code.'),
  ('public.data_requests', 'kind', 'kept', 'export or erasure.'),
  ('public.data_requests', 'reason', 'kept', 'Why the request was made, as the admin wrote it: the evidence that the person''s request was answered (write a ticket reference, not the name).'),
  ('public.data_requests', 'status', 'kept', 'A code.'),
  ('public.data_requests', 'object_key', 'kept', 'exports/{id}.json: an id; the export object itself is queued for deletion.'),
  ('public.data_requests', 'error', 'kept', 'A failure in words, without personal data.'),
  ('public.audit_log', 'table_name', 'kept', 'A table''s name.'),
  ('public.audit_log', 'action', 'kept', 'insert, update or delete.'),
  ('public.audit_log', 'actor_role', 'kept', 'A role''s name.'),
  ('public.audit_log', 'old_row', 'kept', 'Immutable for every role; the audit trigger keeps no personal data in it (consents'' evidence and documents'' file names dropped; customers are not audited).'),
  ('public.audit_log', 'new_row', 'kept', 'As old_row.'),
  ('analytics.message_facts', 'grain', 'kept', 'Aggregates per day and vendor: no person in them.'),
  ('analytics.message_facts', 'provider', 'kept', 'Aggregates: a vendor code.'),
  ('analytics.message_facts', 'failure_cause', 'kept', 'Aggregates: a code.'),
  ('analytics.message_facts', 'error_code', 'kept', 'Aggregates: a vendor code.'),
  ('analytics.message_facts', 'audience', 'kept', 'Aggregates: customers or staff.'),
  ('analytics.latency_facts', 'grain', 'kept', 'Aggregates per day and vendor: no person in them.'),
  ('analytics.latency_facts', 'provider', 'kept', 'Aggregates: a vendor code.'),
  ('analytics.latency_facts', 'stage', 'kept', 'Aggregates: a code.'),
  ('analytics.latency_facts', 'audience', 'kept', 'Aggregates: customers or staff.');

-- The erasure.
create function private.erase_customer(customer uuid, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller_role text := coalesce((select auth.role()), 'system');
  person public.customers;
  blocking text;
  request_id uuid;
  counts jsonb := '{}'::jsonb;
  n integer;
  ids text[];
  contacts text[];
  digits text;
  chats text[];
  addresses text[];
  vendor_ids text[];
  document_ids uuid[];
  message_ids uuid[];
  case_ids uuid[];
  subject_ids uuid[];
begin
  if reason is null or length(btrim(reason)) not between 10 and 500 then
    raise exception 'a reason of 10 to 500 characters is required' using errcode = '22023';
  end if;

  -- Under an application role, the caller must see the customer (404 otherwise) and be an admin.
  select c.* into person from public.customers c where c.id = customer for update;
  if not found
     or caller_role = 'authenticated'
        and not (person.book_keys && private.visible_book_keys()) then
    raise exception 'customer % not found', customer using errcode = 'P0002';
  end if;
  if caller_role not in ('service_role', 'system') and not coalesce(private.is_admin(), false) then
    raise exception 'only admins erase customers' using errcode = '42501';
  end if;
  if person.erased_at is not null then
    raise exception 'customer % was already erased on %', customer, person.erased_at
      using errcode = '55000';
  end if;
  blocking := private.customer_payment_in_flight(customer, now());
  if blocking is not null then
    raise exception 'a payment is in flight for customer %: %', customer, blocking
      using errcode = '55000',
            hint = 'Wait for it to settle or expire, or cancel it, then erase.';
  end if;
  if exists (select 1 from public.messages m where m.customer_id = customer and m.status = 'sending') then
    raise exception 'a message to customer % is being handed to a vendor', customer
      using errcode = '55000', hint = 'Try again in a minute.';
  end if;

  -- The person's identifiers, lower case: phone (E.164, digits, national number), email,
  -- Telegram chats (contacts), and with the name (ids).
  digits := regexp_replace(coalesce(person.phone, ''), '\D', '', 'g');
  select coalesce(array_agg(distinct a.external_id), '{}') into chats
    from public.customer_social_accounts a where a.customer_id = customer;
  addresses := array_remove(array[person.phone, lower(person.email::text)], null) || chats;
  contacts := array_remove(array[
    lower(nullif(person.phone, '')),
    case when length(digits) >= 6 then digits end,
    case when digits ~ '^91[6-9][0-9]{9}$' then right(digits, 10) end,
    lower(nullif(person.email::text, ''))
  ], null) || array(select lower(x) from unnest(chats) x where length(x) >= 5);
  ids := contacts
         || array_remove(array[case when length(btrim(person.full_name)) >= 3
                                    then lower(btrim(person.full_name)) end], null);
  select coalesce(array_agg(rc.id), '{}') into case_ids
    from public.renewal_cases rc where rc.customer_id = customer;
  select coalesce(array_agg(m.id), '{}') into message_ids
    from public.messages m where m.customer_id = customer;

  perform set_config('py360.erasing_customer', customer::text, true);

  -- Consents: withdrawn on every channel and purpose (ledger rows, source erasure; the ledger
  -- upserts consents), then every ledger row's evidence replaced (the rows stay).
  insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                     recorded_by)
  select customer, ch, pu, 'withdrawn', 'erasure', '{"erased": true}'::jsonb, (select auth.uid())
    from unnest(enum_range(null::public.channel_type)) ch,
         unnest(enum_range(null::public.consent_purpose)) pu;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('consents_withdrawn', n);
  update public.consent_ledger l set evidence = '{"erased": true}'::jsonb
   where l.customer_id = customer and l.evidence <> '{"erased": true}'::jsonb;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('consent_evidence_erased', n);
  update public.consents c set evidence = '{"erased": true}'::jsonb
   where c.customer_id = customer and c.evidence <> '{"erased": true}'::jsonb;

  -- Messages: queued (and deferred) ones cancelled; every one's personal parts cleared.
  update public.messages m set status = 'cancelled', cancelled_at = now(), deferred_reason = null
   where m.customer_id = customer and m.status = 'queued';
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('messages_cancelled', n);
  update public.messages m
     set recipient = null, subject = null, body = '[erased]', body_html = null,
         variables = '{}'::jsonb, last_error = null,
         template_snapshot = case when m.template_snapshot is null then null
                                  else m.template_snapshot - 'whatsapp_parameters' end
   where m.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('messages', n);

  -- Delivery events of those messages, and inbound events naming the person's addresses.
  update public.message_events e set payload = '{"erased": true}'::jsonb
   where e.payload <> '{"erased": true}'::jsonb
     and (e.message_id = any (message_ids)
          or exists (select 1 from unnest(contacts) i
                      where strpos(lower(e.payload::text), i) > 0));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('message_events', n);

  -- Razorpay: webhook payloads and our requests about the person's money (found by Razorpay's
  -- ids, or naming their phone or email) lose their personal keys; one still naming the person
  -- after that is replaced whole.
  select coalesce(array_agg(lower(x)), '{}') into vendor_ids from (
    select p.razorpay_payment_id from public.payments p where p.case_id = any (case_ids)
    union select p.razorpay_order_id from public.payments p where p.case_id = any (case_ids)
    union select o.razorpay_order_id from public.payment_orders o where o.case_id = any (case_ids)
    union select l.razorpay_payment_link_id from public.payment_links l
           where l.case_id = any (case_ids)
    union select m.razorpay_subscription_id from public.autopay_mandates m
           where m.case_id = any (case_ids)
    union select r.razorpay_refund_id from public.refunds r where r.case_id = any (case_ids)) v(x)
   where x is not null;
  with found as (
    select e.id, private.strip_personal_keys(e.payload) as stripped
      from public.payment_events e
     where exists (select 1 from unnest(vendor_ids || contacts) i
                    where strpos(lower(e.payload::text), i) > 0))
  update public.payment_events e
     set payload = case
           when exists (select 1 from unnest(ids) i where strpos(lower(f.stripped::text), i) > 0)
           then jsonb_build_object('erased', true, 'event', e.event_type)
           else f.stripped end
    from found f
   where f.id = e.id and e.payload is distinct from f.stripped;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('payment_events', n);

  select coalesce(array_agg(x), '{}') into subject_ids from (
    select o.id from public.payment_orders o where o.case_id = any (case_ids)
    union select l.id from public.payment_links l where l.case_id = any (case_ids)
    union select m.id from public.autopay_mandates m where m.case_id = any (case_ids)
    union select r.id from public.refunds r where r.case_id = any (case_ids)
    union select p.id from public.payments p where p.case_id = any (case_ids)) v(x);
  with found as (
    select c.id, private.strip_personal_keys(c.request) as stripped
      from private.razorpay_calls c
     where c.subject_id = any (subject_ids)
        or exists (select 1 from unnest(contacts) i where strpos(lower(c.request::text), i) > 0))
  update private.razorpay_calls c
     set request = case
           when exists (select 1 from unnest(ids) i where strpos(lower(f.stripped::text), i) > 0)
           then '{"erased": true}'::jsonb
           else f.stripped end
    from found f
   where f.id = c.id and c.request is distinct from f.stripped;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('razorpay_calls', n);

  -- AI: prompts, answers and the desk's chat about the person's cases.
  update public.ai_requests a set prompt = null, response = null
   where (a.customer_id = customer or a.case_id = any (case_ids))
     and (a.prompt is not null or a.response is not null);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ai_requests', n);
  update public.ai_chat_messages a set content = '[erased]', redacted_content = '[erased]'
   where a.case_id = any (case_ids);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ai_chat_messages', n);

  -- Linked accounts, link tokens, suppressions of the person's addresses, click user agents.
  delete from public.customer_social_accounts a where a.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('customer_social_accounts', n);
  delete from private.telegram_link_tokens t where t.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('telegram_link_tokens', n);
  delete from public.suppressions s
   where s.address = any (addresses) or lower(s.address) = any (addresses);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('suppressions', n);
  update public.link_clicks k set user_agent = null
   where k.user_agent is not null
     and (k.case_id = any (case_ids)
          or k.tracked_link_id in (select t.id from public.tracked_links t where t.customer_id = customer));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('link_clicks', n);

  -- Documents: those no law requires go (objects queued for deletion, Storage rows removed);
  -- the kept ones get a generic file name.
  select coalesce(array_agg(d.id), '{}') into document_ids
    from public.documents d
   where d.customer_id = customer and not d.legal_hold
     and (d.retain_until is null or private.business_date(now()) >= d.retain_until);
  insert into private.object_deletions (bucket, object_key, reason)
  select d.bucket, d.object_key, 'erasure' from public.documents d where d.id = any (document_ids)
  on conflict (bucket, object_key) where done_at is null do nothing;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('objects_queued', n);
  delete from storage.objects o using public.documents d
   where d.id = any (document_ids) and o.bucket_id = d.bucket and o.name = d.object_key;
  delete from public.documents d where d.id = any (document_ids);
  counts := counts || jsonb_build_object('documents_deleted', cardinality(document_ids));
  update public.documents d
     set file_name = d.kind::text || '-' || left(d.id::text, 8)
                     || coalesce('.' || substring(d.file_name from '\.([A-Za-z0-9]{1,8})$'), '')
   where d.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('documents_renamed', n);

  -- The customer: a pseudonym, nothing else that identifies them.
  update public.customers c
     set full_name = 'Erased customer ' || left(replace(gen_random_uuid()::text, '-', ''), 8),
         phone = null, email = null, city = null, erased_at = now()
   where c.id = customer;
  counts := jsonb_build_object('customers', 1) || counts;

  insert into public.data_requests (kind, customer_id, reason, requested_by, status, completed_at)
  values ('erasure', customer, btrim(reason), (select auth.uid()), 'done', now())
  returning id into request_id;

  insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, new_row)
  values ('customers', customer, 'update', (select auth.uid()), caller_role,
          jsonb_build_object('erased', true, 'data_request_id', request_id, 'counts', counts));

  perform set_config('py360.erasing_customer', '', true);
  return jsonb_build_object('data_request_id', request_id, 'counts', counts);
end;
$$;

comment on function private.erase_customer(uuid, text) is
  'Erases a customer at their request, in one transaction, and answers {data_request_id, '
  'counts: {table: rows}}. Refused: reason not 10-500 characters (22023); customer unknown, or '
  'not visible to the calling user (P0002); caller an application user but not an admin (42501); '
  'already erased, a payment in flight (private.customer_payment_in_flight) or a message being '
  'handed to a vendor (55000). Erased: name -> "Erased customer <random>", phone, email, city; '
  'messages'' recipient, subject, bodies, variables, template parameters, vendor error text '
  '(queued ones cancelled); payloads of their message events and of inbound events from their '
  'addresses; personal keys of Razorpay webhook payloads and requests about their money; AI '
  'prompts, answers and chat; linked social accounts, Telegram tokens, suppressions of their '
  'addresses, click user agents; documents no law requires (objects queued in '
  'private.object_deletions, Storage rows removed), generic file names for the kept ones; '
  'consents withdrawn on every channel and purpose (ledger rows, source erasure) and every '
  'ledger row''s evidence replaced. Kept: policies, premiums, payments, allocations, refunds, '
  'cases and tasks (see private.personal_data_columns). Records a data_requests row (erasure, '
  'done) and one audit_log row. Security definer: it writes tables no API role may write; '
  'granted to authenticated (checked as admin inside) and service_role.';

revoke execute on function private.erase_customer(uuid, text) from public;
grant execute on function private.erase_customer(uuid, text) to authenticated, service_role;
