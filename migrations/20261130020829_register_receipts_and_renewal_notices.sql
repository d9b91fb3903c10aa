-- Receipts and renewal notices become documents (issue 12), and the receipt message carries its own.
-- * A payment credited (payments.credited_at set, however: the payment functions, a correction)
--   registers its pending receipt document, once per payment (documents.payment_id is unique).
-- * A case reaching quoted registers a pending renewal notice, one per case a business day.
--   The renderer (functions/_shared/documents) produces the PDF before the message carrying it
--   is sent, and marks it stored.
-- * messages.document_id: the document a message carries (the WhatsApp template's document
--   header; email and SMS carry its <LINK_BASE_URL>/d/<token> link in their text).
-- * private.queue_payment_message, as in 20261129153834_word_refund_notices_by_reason.sql, plus:
--   the preferred channel only where the gate would let the receipt through (else email, as before);
--   the payment_receipt message gets the receipt's document_id and the variable document_link
--   (a fresh token, once: a replay finds the message queued and changes nothing).
-- * templates.whatsapp_header_format: the approved WhatsApp template's header (text, image, video,
--   document), linted like the other WhatsApp fields. payment_receipt gets its link in the email
--   (en, hi; rows nobody edited), and WhatsApp (utility, approved, document header, en and hi) and
--   SMS (DLT) versions.
-- * document_link may be up to 80 characters (LINK_BASE_URL + /d/ + 22 characters).

-- Messages carry documents.
alter table public.messages
  add column document_id uuid references public.documents (id) on delete set null;

comment on column public.messages.document_id is
  'The document the message carries (documents.id), if any: a receipt or a renewal notice, sent '
  'as the WhatsApp template''s document header, linked from email and SMS text.';

create index messages_document_idx on public.messages (document_id) where document_id is not null;

-- Generated documents registered by the events that call for them.
create function private.tg_payments__register_receipts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    perform private.ensure_generated_document('receipt', n.case_id, n.id)
       from new_rows n
      where n.credited_at is not null;
  else
    perform private.ensure_generated_document('receipt', n.case_id, n.id)
       from new_rows n
       join old_rows o on o.id = n.id
      where n.credited_at is not null and o.credited_at is null;
  end if;
  return null;
end;
$$;

comment on function private.tg_payments__register_receipts() is
  'Statement triggers after insert or update on payments: each payment just credited '
  '(credited_at set) gets its pending receipt document (private.ensure_generated_document, once '
  'per payment). Security definer: whoever credits, the receipt is registered.';

revoke execute on function private.tg_payments__register_receipts() from public;

create trigger _700_register_receipts_insert after insert on public.payments
  referencing new table as new_rows
  for each statement execute function private.tg_payments__register_receipts();
create trigger _700_register_receipts_update after update on public.payments
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_payments__register_receipts();

create function private.tg_renewal_cases__register_notices() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.ensure_generated_document('renewal_notice', n.id)
     from new_rows n
     join old_rows o on o.id = n.id
    where n.stage = 'quoted' and o.stage is distinct from 'quoted';
  return null;
end;
$$;

comment on function private.tg_renewal_cases__register_notices() is
  'Statement trigger after update on renewal_cases: each case that just became quoted gets a '
  'pending renewal notice document (one per case a business day: private.ensure_generated_document). '
  'Security definer: whoever quotes, the notice is registered.';

revoke execute on function private.tg_renewal_cases__register_notices() from public;

create trigger _870_register_notices after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__register_notices();

-- Receipts already credited before this migration get theirs too (pending: rendered on demand).
select private.ensure_generated_document('receipt', p.case_id, p.id)
  from public.payments p
 where p.credited_at is not null;


-- The WhatsApp template's header, as approved.
alter table public.templates
  add column whatsapp_header_format text
    check (whatsapp_header_format in ('text', 'image', 'video', 'document'));

comment on column public.templates.whatsapp_header_format is
  'The header of the approved WhatsApp template, if it has one taking a parameter: text, image, '
  'video or document (a document header is filled with the message''s document: '
  'messages.document_id). WhatsApp only.';

grant insert (whatsapp_header_format), update (whatsapp_header_format) on public.templates to authenticated;

-- The lint, as in 20261129012600_lint_template_fields.sql, plus the header: WhatsApp only,
-- and no media header on an authentication template.
create or replace function private.lint_template(t public.templates) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  errors text[] := '{}';
  warnings text[] := '{}';
  used text[];
  unknown text[];
  longest text;
  encoding text;
  segments integer;
  rates jsonb := coalesce(private.setting('MESSAGE_RATES_PAISE'), '{}');
  cost numeric;
begin
  -- Placeholders: every {{ must open a well-formed {{name}}.
  used := array(select m[1] from regexp_matches(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as m);
  if (length(t.body) - length(replace(t.body, '{{', ''))) / 2 <> cardinality(used) then
    errors := array_append(errors,
      'a placeholder is malformed: write {{variable_name}} in lowercase');
  end if;
  if t.subject is not null then
    used := used || array(select m[1] from regexp_matches(t.subject, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', 'g') as m);
  end if;
  unknown := array(select distinct u from unnest(used) u
                    where u not in (select v.name from private.template_variables() v) order by u);
  if cardinality(unknown) > 0 then
    errors := array_append(errors,
      format('unknown variables: %s', array_to_string(unknown, ', ')));
  end if;
  -- The text at its longest: every variable at its longest expected value.
  longest := regexp_replace(t.body, '\{\{\s*[a-z][a-z0-9_]*\s*\}\}', '', 'g')
             || repeat('x', coalesce((select sum(v.max_length) from unnest(used) u
                                      join private.template_variables() v on v.name = u), 0)::integer);

  -- Another channel's fields on a template (left behind by a change of channel) mislead.
  if t.channel <> 'whatsapp' and (t.whatsapp_name is not null or t.whatsapp_category is not null
       or t.whatsapp_status is not null or t.whatsapp_parameter_count is not null
       or t.whatsapp_header_format is not null) then
    errors := array_append(errors, 'only a WhatsApp template has WhatsApp fields');
  end if;
  if t.channel <> 'sms' and (t.dlt_entity_id is not null or t.dlt_header is not null
       or t.dlt_template_id is not null or t.dlt_text is not null) then
    errors := array_append(errors, 'only an SMS template has DLT fields');
  end if;
  if t.channel = 'email' then
    if t.subject is null then
      errors := array_append(errors, 'an email template needs a subject');
    end if;
    cost := (rates ->> 'email')::numeric;
  elsif t.channel = 'whatsapp' then
    if t.whatsapp_name is null or t.whatsapp_category is null
       or t.whatsapp_parameter_count is null then
      errors := array_append(errors,
        'a WhatsApp template needs its approved name, category and body parameter count');
    elsif cardinality(used) <> t.whatsapp_parameter_count then
      errors := array_append(errors, format(
        'the approved template takes %s body parameters and this body fills %s '
        '(WhatsApp would refuse it with error 132000)', t.whatsapp_parameter_count, cardinality(used)));
    end if;
    if t.whatsapp_status is distinct from 'approved' then
      warnings := array_append(warnings,
        'not approved by Meta: messages from it are blocked until it is (Meta refuses it, 132001)');
    end if;
    if t.whatsapp_header_format in ('document', 'image', 'video') and t.whatsapp_category = 'authentication' then
      errors := array_append(errors, 'an authentication WhatsApp template has no media header');
    end if;
    if t.whatsapp_category = 'marketing' and t.purpose <> 'marketing' then
      errors := array_append(errors,
        'a marketing WhatsApp template can only carry the marketing purpose');
    end if;
    if t.subject is not null then
      errors := array_append(errors, 'only email has a subject');
    end if;
    cost := (rates ->> ('whatsapp_' || coalesce(t.whatsapp_category::text, 'utility')))::numeric;
  else
    encoding := private.sms_encoding(longest);
    segments := private.sms_segments(longest);
    if t.dlt_entity_id is null or t.dlt_header is null or t.dlt_template_id is null
       or t.dlt_text is null then
      errors := array_append(errors,
        'an SMS template needs its DLT entity id, header, content template id and registered text');
    elsif regexp_replace(t.body, '\{\{\s*[a-z][a-z0-9_]*\s*\}\}', '{#var#}', 'g') <> t.dlt_text then
      errors := array_append(errors, 'the text does not match its DLT template: outside the {#var#} slots every character '
        'must be the registered one, and each variable must sit in a slot (DLT scrubbing drops '
        'anything else)');
    end if;
    if t.subject is not null then
      errors := array_append(errors, 'only email has a subject');
    end if;
    if segments > 6 then
      warnings := array_append(warnings, format('%s segments at the longest: each is billed', segments));
    end if;
    if encoding = 'UCS-2' and t.language = 'en' then
      warnings := array_append(warnings, 'characters outside GSM-7 make it UCS-2: 70 characters a segment instead of 160');
    end if;
    cost := segments * (rates ->> 'sms_segment')::numeric;
  end if;

  return jsonb_build_object(
    'errors', to_jsonb(errors),
    'warnings', to_jsonb(warnings),
    'variables', to_jsonb(array(select distinct u from unnest(used) u order by u)),
    'encoding', encoding,
    'characters', length(longest),
    'segments', segments,
    'estimated_cost_paise', cost);
end;
$$;

-- A link to a document is longer than the 60 characters first assumed.
create or replace function private.template_variables()
returns table (name text, max_length integer, example text)
language sql immutable
set search_path = ''
as $$
  values
    ('customer_name', 40, 'Meera Sharma'),
    ('policy_number', 30, 'MOT/2025/000123'),
    ('case_number', 16, 'RC-2026-000123'),
    ('product_line', 10, 'motor'),
    ('insurer', 40, 'Test General Insurance'),
    ('premium', 14, '₹28,138'),
    ('amount_due', 14, '₹28,138'),
    ('expiry_date', 11, '15 Jan 2027'),
    ('due_date', 11, '15 Jan 2027'),
    ('grace_end', 11, '14 Feb 2027'),
    ('ncb_percent', 3, '35'),
    ('ncb_deadline', 11, '15 Apr 2027'),
    ('agent_name', 40, 'Farah Khan'),
    ('agent_phone', 16, '+919812345678'),
    ('payment_link', 40, 'https://rzp.io/i/ExjpAUN3gVHrPJ'),
    ('document_link', 80, 'https://go.example.test/d/8ZkqV2mT4xYpL0aBcDeFgH'),
    ('message', 1000, 'Your agent''s words'),
    ('amount_paid', 17, '₹28,138.50'),
    ('payment_reference', 30, 'pay_29QQoUBi66xm2f'),
    ('debit_date', 11, '15 Jan 2027'),
    ('mandate_reference', 30, 'sub_00A1B2C3D4E5F6'),
    ('refund_amount', 17, '₹4,000')
$$;

-- The receipt with its document, in every channel.
update public.templates t
   set body = 'Dear {{customer_name}}, we have received {{amount_paid}} for the renewal of policy '
              '{{policy_number}} (case {{case_number}}). Payment reference: {{payment_reference}}. '
              'Your receipt: {{document_link}} Thank you.'
 where t.code = 'payment_receipt' and t.channel = 'email' and t.language = 'en'
   and t.body = 'Dear {{customer_name}}, we have received {{amount_paid}} for the renewal of policy '
                '{{policy_number}} (case {{case_number}}). Payment reference: {{payment_reference}}. Thank you.';
update public.templates t
   set body = 'प्रिय {{customer_name}}, पॉलिसी {{policy_number}} (केस {{case_number}}) के नवीनीकरण के लिए हमें '
              '{{amount_paid}} प्राप्त हुए हैं। भुगतान संदर्भ: {{payment_reference}}। आपकी रसीद: '
              '{{document_link}} धन्यवाद।'
 where t.code = 'payment_receipt' and t.channel = 'email' and t.language = 'hi'
   and t.body = 'प्रिय {{customer_name}}, पॉलिसी {{policy_number}} (केस {{case_number}}) के नवीनीकरण के लिए हमें '
                '{{amount_paid}} प्राप्त हुए हैं। भुगतान संदर्भ: {{payment_reference}}। धन्यवाद।';

insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                              whatsapp_header_format) values
  ('payment_receipt', 'whatsapp', 'en', 'transactional',
   'Dear {{customer_name}}, we have received {{amount_paid}} for your policy renewal. Your receipt '
   'is attached. Thank you.',
   'payment_receipt', 'utility', 'approved', 2, 'document'),
  ('payment_receipt', 'whatsapp', 'hi', 'transactional',
   'प्रिय {{customer_name}}, आपकी पॉलिसी के नवीनीकरण के लिए हमें {{amount_paid}} प्राप्त हुए हैं। आपकी '
   'रसीद संलग्न है। धन्यवाद।',
   'payment_receipt', 'utility', 'approved', 2, 'document')
on conflict (code, channel, language) do nothing;

-- The DLT ids are the sender's registered ones; these are placeholders until the entity's
-- registration gives them (an admin edits them in the templates screen).
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text) values
  ('payment_receipt', 'sms', 'en', 'transactional',
   'Received {{amount_paid}} for policy {{policy_number}}. Receipt: {{document_link}} - Py360',
   '1101000000000000001', 'PYRNWL', '1107000000000000101',
   'Received {#var#} for policy {#var#}. Receipt: {#var#} - Py360')
on conflict (code, channel, language) do nothing;

create or replace function private.queue_payment_message(payment public.payments, template_code text, idempotency_key text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  customer public.customers;
  renewal public.renewal_cases;
  policy_number text;
  channel public.channel_type;
  chosen_code text := template_code;
  reason text;
  owed bigint;
  unapplied bigint;
  variables jsonb;
  receipt_id uuid;
  receipt_token text;
  base text := rtrim(coalesce(private.setting('LINK_BASE_URL') #>> '{}',
                              'http://127.0.0.1:54321/functions/v1/go'), '/');
begin
  select c.* into renewal from public.renewal_cases c where c.id = payment.case_id;
  select cu.* into customer from public.customers cu where cu.id = renewal.customer_id;
  select p.policy_number into policy_number from public.policies p where p.id = renewal.policy_id;
  variables := jsonb_build_object(
    'customer_name', customer.full_name, 'policy_number', policy_number,
    'case_number', renewal.case_number,
    'amount_paid', private.format_money(payment.amount, payment.currency),
    'payment_reference', payment.razorpay_payment_id);

  -- A refund-due message in the words of its reason, with what is refunded and what is still due.
  if template_code = 'payment_refund_due' then
    owed := public.case_outstanding(renewal.id);
    unapplied := payment.amount - coalesce((select sum(a.amount) from public.payment_allocations a
                                             where a.payment_id = payment.id), 0);
    reason := case when payment.review_reason in ('order_expired', 'currency_mismatch') and owed = 0
                   then 'nothing_due' else payment.review_reason end;
    if exists (select 1 from public.templates t
                where t.code = 'payment_refund_due_' || reason and t.active
                  and (t.channel = customer.preferred_channel or t.channel = 'email')) then
      chosen_code := 'payment_refund_due_' || reason;
    end if;
    variables := variables || jsonb_build_object(
      'amount_due', private.format_inr(owed),
      'refund_amount', private.format_money(unapplied, payment.currency));
  end if;

  -- A receipt carries its document: registered (once per payment; the credit's trigger usually
  -- did already) and linked with a fresh token, unless its message exists already (a replay:
  -- the message keeps the link it was queued with).
  if template_code = 'payment_receipt'
     and not exists (select 1 from public.messages m
                      where m.idempotency_key = queue_payment_message.idempotency_key) then
    select g.id, g.link_token into receipt_id, receipt_token
      from private.register_generated_document('receipt', payment.case_id, payment.id) g;
    variables := variables || jsonb_build_object('document_link', base || '/d/' || receipt_token);
  end if;

  -- The customer's preferred channel when the gate lets the message through there, else email
  -- (a customer preferring WhatsApp but not opted in still gets the receipt by email); blocked
  -- on both: the preferred channel all the same, so the gate records why.
  select c.channel into channel
    from (select distinct on (t.channel) t.channel, t.id, t.purpose
            from public.templates t
           where t.code = chosen_code and t.active
             and (t.channel = customer.preferred_channel or t.channel = 'email')
           order by t.channel, t.language = coalesce(customer.language, 'en') desc,
                    t.language = 'en' desc, t.language) c
   order by private.message_block_reason(
              customer.id, c.channel, c.purpose,
              case c.channel when 'email' then lower(customer.email) else customer.phone end,
              c.id, now()) is null desc,
            c.channel = customer.preferred_channel desc
   limit 1;
  if channel is null then
    raise warning 'no active % template: payment % gets no message', chosen_code, payment.razorpay_payment_id;
    return;
  end if;
  perform private.enqueue_messages(jsonb_build_object(
    'customer_id', customer.id, 'case_id', renewal.id, 'channel', channel,
    'template_code', chosen_code, 'priority', 0, 'idempotency_key', idempotency_key,
    'variables', variables));
  if receipt_id is not null then
    update public.messages m
       set document_id = receipt_id
     where m.idempotency_key = queue_payment_message.idempotency_key and m.document_id is null;
  end if;
exception when others then
  raise warning 'the % message of payment % was not queued: % (%)',
    template_code, payment.razorpay_payment_id, sqlerrm, sqlstate;
end;
$$;

comment on function private.queue_payment_message(public.payments, text, text) is
  'Queues payment_receipt or a refund-due message for a payment through the gate '
  '(enqueue_messages), once per idempotency key, priority 0, in the customer''s preferred channel '
  'when it has an active template there and the gate would let it through, else email (the gate '
  'picks the customer''s language). payment_receipt carries the payment''s receipt document (messages.document_id, registered '
  'once per payment) and {{document_link}} = <LINK_BASE_URL>/d/<token>, a fresh token drawn only '
  'when the message does not exist yet. '
  'template_code payment_refund_due means the template of the payment''s review_reason, '
  'payment_refund_due_<reason> (order_expired or currency_mismatch on a case owing nothing: '
  'nothing_due), or payment_refund_due itself when that one is missing; it adds {{amount_due}} '
  '(what the case still owes) and {{refund_amount}} (what was not applied: the surplus of an '
  'overpayment, else the whole payment). A failure to queue is a warning, never an error: a '
  'message must not undo a payment. Security definer: called inside the payment functions.';
