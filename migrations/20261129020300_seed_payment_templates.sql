-- The messages the payment flow sends itself: the receipt of a credited payment, and the notice
-- that a payment we could not credit (its case closed or settled, its order expired) will be
-- refunded. Email in English and Hindi, transactional (about what the customer just did, so not
-- held by quiet hours nor cancelled with a case's reminders). WhatsApp and SMS versions need the
-- business's approved template names and DLT ids and come from the demo seed.
-- Templates gain two variables for them: amount_paid and payment_reference.

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
    ('document_link', 60, 'https://example.test/d/abc'),
    ('message', 1000, 'Your agent''s words'),
    ('amount_paid', 17, '₹28,138.50'),
    ('payment_reference', 30, 'pay_29QQoUBi66xm2f')
$$;

-- Paise as Indians write rupees: ₹1,20,000 (lakh grouping), paise only when there are any.
create function private.format_inr(paise bigint) returns text
language sql immutable
set search_path = ''
as $$
  select case when paise < 0 then '-' else '' end || '₹'
         || to_char(abs(paise) / 100, 'FM99,99,99,99,99,99,999')
         || case when abs(paise) % 100 <> 0 then '.' || lpad((abs(paise) % 100)::text, 2, '0') else '' end
$$;

comment on function private.format_inr(bigint) is
  'Formats paise as rupees the Indian way for messages: 12000000 -> ₹1,20,000; 2813850 -> '
  '₹28,138.50.';

insert into public.templates (code, channel, language, purpose, subject, body) values
  ('payment_receipt', 'email', 'en', 'transactional',
   'Payment received for {{policy_number}}',
   'Dear {{customer_name}}, we have received {{amount_paid}} for the renewal of policy '
   '{{policy_number}} (case {{case_number}}). Payment reference: {{payment_reference}}. Thank you.'),
  ('payment_receipt', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए भुगतान प्राप्त हुआ',
   'प्रिय {{customer_name}}, पॉलिसी {{policy_number}} (केस {{case_number}}) के नवीनीकरण के लिए हमें '
   '{{amount_paid}} प्राप्त हुए हैं। भुगतान संदर्भ: {{payment_reference}}। धन्यवाद।'),
  ('payment_refund_due', 'email', 'en', 'transactional',
   'Your payment for {{policy_number}} will be refunded',
   'Dear {{customer_name}}, we received {{amount_paid}} (reference {{payment_reference}}) for '
   'policy {{policy_number}}, but nothing was due on case {{case_number}} when it arrived. We will '
   'refund it to the account it came from; you need do nothing.'),
  ('payment_refund_due', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए आपका भुगतान लौटाया जाएगा',
   'प्रिय {{customer_name}}, हमें पॉलिसी {{policy_number}} के लिए {{amount_paid}} (संदर्भ '
   '{{payment_reference}}) प्राप्त हुए, पर उस समय केस {{case_number}} पर कुछ बकाया नहीं था। यह राशि '
   'उसी खाते में लौटा दी जाएगी जिससे आई थी; आपको कुछ नहीं करना है।');
