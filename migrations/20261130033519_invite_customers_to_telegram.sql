-- The customer, not the agent, receives the Telegram deep link (issue 12 review): the issue says a
-- customer links themselves "through a signed deep link (/start <token>) from a message". When
-- POST /api/integrations/social-media/verify finds a customer not linked (or stopped), it queues
-- a telegram_invite message to the customer through the outbound pipeline carrying the link, and
-- the agent's answer says that it did (message id, channel), never the link itself.
-- * private.template_variables() (as in 20261130025957_link_sms_receipts_by_token.sql) gains
--   telegram_link: https://t.me/<bot username>?start=<22-character token> (at most 74), and its
--   parts telegram_bot (the bot's username) and telegram_token (the 22-character token);
-- * templates telegram_invite, purpose service: email en and hi with {{telegram_link}}, and SMS
--   en whose DLT text writes the link's fixed part out, https://t.me/{#var#}?start={#var#}, so
--   each variable fits DLT's 30 characters (a bot username over 30 is blocked by the gate,
--   dlt_variable_too_long, and verify says so). The DLT entity and header are those of the
--   seeded SMS templates; the template id is a placeholder an operator replaces with the one
--   their registration gets.

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
    ('refund_amount', 17, '₹4,000'),
    ('telegram_link', 80, 'https://t.me/py360_renewals_bot?start=8ZkqV2mT4xYpL0aBcDeFgH'),
    ('telegram_bot', 32, 'py360_renewals_bot'),
    ('telegram_token', 22, '8ZkqV2mT4xYpL0aBcDeFgH')
$$;

insert into public.templates (code, channel, language, purpose, subject, body) values
  ('telegram_invite', 'email', 'en', 'service',
   'Get your policy updates on Telegram',
   'Dear {{customer_name}}, you can now get your renewal reminders and receipts on Telegram. Open '
   'this link and press Start: {{telegram_link}} . The link is yours alone, works once and '
   'expires in 7 days. If you did not ask for this, ignore this message.'),
  ('telegram_invite', 'email', 'hi', 'service',
   'अपनी पॉलिसी की जानकारी Telegram पर पाएं',
   'प्रिय {{customer_name}}, अब आप अपने नवीनीकरण के रिमाइंडर और रसीदें Telegram पर पा सकते हैं। यह लिंक '
   'खोलें और Start दबाएं: {{telegram_link}} । यह लिंक केवल आपके लिए है, एक बार काम करता है और 7 दिन '
   'में समाप्त हो जाता है। अगर आपने यह नहीं मांगा था, तो इस संदेश को अनदेखा करें।');

insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text) values
  ('telegram_invite', 'sms', 'en', 'service',
   'Get policy updates on Telegram: https://t.me/{{telegram_bot}}?start={{telegram_token}} '
   '(your own link, single use, 7 days) - Py360',
   '1101000000000000001', 'PYRNWL', '1107000000000000103',
   'Get policy updates on Telegram: https://t.me/{#var#}?start={#var#} '
   '(your own link, single use, 7 days) - Py360');
