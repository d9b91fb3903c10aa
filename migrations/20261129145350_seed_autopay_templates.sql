-- The messages autopay sends itself: the pre-debit notice (RBI's e-mandate rule: the customer is
-- told at least 24 hours before every debit; transactional, so neither quiet hours nor a closing
-- case hold it back) and the payment-link reminder a failed, halted or paused autopay falls back
-- to (service: a renewal reminder, cancelled with the case's other reminders when it closes).
-- Email in English and Hindi; WhatsApp and SMS versions need the business's approved template
-- names and DLT ids and come from the demo seed, as for the payment templates.
-- Templates gain two variables: debit_date (when the debit happens) and mandate_reference (the
-- Razorpay subscription the customer authorised). {{payment_link}} already exists.

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
    ('payment_reference', 30, 'pay_29QQoUBi66xm2f'),
    ('debit_date', 11, '15 Jan 2027'),
    ('mandate_reference', 30, 'sub_00A1B2C3D4E5F6')
$$;

insert into public.templates (code, channel, language, purpose, subject, body) values
  ('autopay_pre_debit_notice', 'email', 'en', 'transactional',
   'Autopay debit of {{amount_due}} on {{debit_date}} for {{policy_number}}',
   'Dear {{customer_name}}, {{amount_due}} will be debited on {{debit_date}} through the autopay '
   'mandate {{mandate_reference}} you authorised, for the installment of policy {{policy_number}} '
   '(case {{case_number}}). Keep the amount in your account. To stop this debit, contact your '
   'agent before then.'),
  ('autopay_pre_debit_notice', 'email', 'hi', 'transactional',
   '{{policy_number}} के लिए {{debit_date}} को {{amount_due}} का ऑटोपे डेबिट',
   'प्रिय {{customer_name}}, पॉलिसी {{policy_number}} (केस {{case_number}}) की किस्त के लिए आपके '
   'अधिकृत ऑटोपे मैंडेट {{mandate_reference}} से {{debit_date}} को {{amount_due}} डेबिट किए जाएंगे। '
   'कृपया खाते में राशि रखें। यह डेबिट रोकने के लिए उससे पहले अपने एजेंट से संपर्क करें।'),
  ('payment_link_reminder', 'email', 'en', 'service',
   'Pay {{amount_due}} for {{policy_number}}',
   'Dear {{customer_name}}, the installment of {{amount_due}} for policy {{policy_number}} (case '
   '{{case_number}}, due {{due_date}}) could not be collected by autopay. Please pay it here: '
   '{{payment_link}}'),
  ('payment_link_reminder', 'email', 'hi', 'service',
   '{{policy_number}} के लिए {{amount_due}} का भुगतान करें',
   'प्रिय {{customer_name}}, पॉलिसी {{policy_number}} (केस {{case_number}}, देय {{due_date}}) की '
   '{{amount_due}} की किस्त ऑटोपे से नहीं ली जा सकी। कृपया यहाँ भुगतान करें: {{payment_link}}');
