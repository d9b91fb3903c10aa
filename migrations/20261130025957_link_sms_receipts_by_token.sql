-- SMS receipts link their document by its token alone (issue 12, follow-up).
-- TRAI's DLT takes at most 30 characters in a {#var#} slot, and the gate blocks an SMS whose
-- variable is longer (dlt_variable_too_long): {{document_link}} (<LINK_BASE_URL>/d/<token>, ~70
-- characters) blocked every SMS receipt. DLT templates are registered with the link's fixed part
-- as literal text and only the changing part as a variable, so:
-- * private.template_variables() (as in 20261130020829_register_receipts_and_renewal_notices.sql)
--   gains document_token: the 22-character token of the document's /d/ link;
-- * private.queue_payment_message (as in 20261130020829_register_receipts_and_renewal_notices.sql)
--   gives payment_receipt document_token beside document_link (same token, drawn once);
-- * the payment_receipt SMS (where nobody edited it) links
--   http://127.0.0.1:54321/functions/v1/go/d/{{document_token}}, its DLT text .../d/{#var#}.
--   That host is LINK_BASE_URL's default, the local stack's: an operator registers their own
--   LINK_BASE_URL host in the DLT template and edits this template's body and dlt_text to match
--   (and its DLT template id: a text registered anew gets a new id; the one here is a placeholder).

-- The link's token, for texts whose link's fixed part is written out (SMS: DLT).
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
    ('document_token', 22, '8ZkqV2mT4xYpL0aBcDeFgH'),
    ('message', 1000, 'Your agent''s words'),
    ('amount_paid', 17, '₹28,138.50'),
    ('payment_reference', 30, 'pay_29QQoUBi66xm2f'),
    ('debit_date', 11, '15 Jan 2027'),
    ('mandate_reference', 30, 'sub_00A1B2C3D4E5F6'),
    ('refund_amount', 17, '₹4,000')
$$;


-- The SMS receipt: the link's fixed part is registered text, the token its one variable.
update public.templates t
   set body = 'Received {{amount_paid}} for policy {{policy_number}}. Receipt: '
              'http://127.0.0.1:54321/functions/v1/go/d/{{document_token}} - Py360',
       dlt_text = 'Received {#var#} for policy {#var#}. Receipt: '
                  'http://127.0.0.1:54321/functions/v1/go/d/{#var#} - Py360',
       dlt_template_id = '1107000000000000102'
 where t.code = 'payment_receipt' and t.channel = 'sms' and t.language = 'en'
   and t.body = 'Received {{amount_paid}} for policy {{policy_number}}. Receipt: {{document_link}} - Py360'
   and t.dlt_text = 'Received {#var#} for policy {#var#}. Receipt: {#var#} - Py360';

-- The receipt's message: document_token beside document_link.
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
    variables := variables || jsonb_build_object('document_link', base || '/d/' || receipt_token,
                                                 'document_token', receipt_token);
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
  'once per payment), {{document_link}} = <LINK_BASE_URL>/d/<token> and {{document_token}} = <token> '
  '(the 22 characters alone, for SMS: DLT takes 30 a variable, so its registered text holds the '
  'link''s fixed part), a fresh token drawn only when the message does not exist yet. '
  'template_code payment_refund_due means the template of the payment''s review_reason, '
  'payment_refund_due_<reason> (order_expired or currency_mismatch on a case owing nothing: '
  'nothing_due), or payment_refund_due itself when that one is missing; it adds {{amount_due}} '
  '(what the case still owes) and {{refund_amount}} (what was not applied: the surplus of an '
  'overpayment, else the whole payment). A failure to queue is a warning, never an error: a '
  'message must not undo a payment. Security definer: called inside the payment functions.';
