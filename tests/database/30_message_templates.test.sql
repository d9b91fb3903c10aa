-- Message templates (migration 20261129010000_create_message_templates): the SMS alphabet and
-- segment arithmetic, the lint that refuses what vendors and DLT would refuse later, and who
-- may read and write templates.
begin;
select plan(29);
select tests.create_test_book();

-- GSM-7 or UCS-2 (3GPP TS 23.038), and segments (TS 23.040).
select is(private.sms_encoding('Renewal due on 15 Jan. Pay: https://rzp.io/i/x'), 'GSM-7', 'plain English is GSM-7');
select is(private.sms_encoding('Price € [incl. GST] {x} ~ ^ | \'), 'GSM-7', 'the extension table is GSM-7 too');
select is(private.sms_encoding('नमस्ते Meera'), 'UCS-2', 'Devanagari is UCS-2');
select is(private.sms_encoding('Paid ✓'), 'UCS-2', 'so is a check mark');
select is(private.sms_segments(repeat('a', 160)), 1, '160 GSM-7 characters are one segment');
select is(private.sms_segments(repeat('a', 161)), 2, '161 are two');
select is(private.sms_segments(repeat('a', 306)), 2, '306 are two (153 a part)');
select is(private.sms_segments(repeat('a', 307)), 3, '307 are three');
select is(private.sms_segments(repeat('a', 159) || '€'), 2, 'an extension character counts two');
select is(private.sms_segments(repeat('न', 70)), 1, '70 UCS-2 characters are one segment');
select is(private.sms_segments(repeat('न', 71)), 2, '71 are two');
select is(private.sms_segments(repeat('😀', 36)), 2, 'characters beyond the BMP take two UTF-16 units (72)');

-- A valid template of each channel, saved by an admin, keeps its lint.
select tests.authenticate_as('admin');
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text)
values ('renewal_due', 'sms', 'en', 'service',
        'Dear {{customer_name}}, your policy {{policy_number}} expires on {{expiry_date}}. Renew: {{payment_link}} -PYRNWL',
        '1101234567890123456', 'PYRNWL', '1107123456789012345',
        'Dear {#var#}, your policy {#var#} expires on {#var#}. Renew: {#var#} -PYRNWL');
select is(
  (select lint - 'estimated_cost_paise' from public.templates where code = 'renewal_due' and channel = 'sms'),
  jsonb_build_object('errors', '[]'::jsonb, 'warnings', '[]'::jsonb,
    'variables', '["customer_name", "expiry_date", "payment_link", "policy_number"]'::jsonb,
    'encoding', 'GSM-7', 'segments', 2,
    -- the fixed text, and the four variables at their longest (40 + 30 + 11 + 40)
    'characters', length('Dear , your policy  expires on . Renew:  -PYRNWL') + 121),
  'an SMS template passes with its variables, encoding and segments at their longest');
select is((select (lint ->> 'estimated_cost_paise')::numeric from public.templates
            where code = 'renewal_due' and channel = 'sms'),
  2 * (private.setting('MESSAGE_RATES_PAISE') ->> 'sms_segment')::numeric,
  'and its cost is its segments at the SMS rate');
insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count)
values ('renewal_due', 'whatsapp', 'hi', 'service',
        'नमस्ते {{customer_name}}, आपकी पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो रही है।',
        'renewal_due_hi', 'utility', 'approved', 3);
select is((select lint -> 'errors' from public.templates where whatsapp_name = 'renewal_due_hi'),
  '[]'::jsonb, 'a WhatsApp template whose body fills the approved parameter count passes');

-- What the lint refuses, with the reason in the error's detail.
select throws_like(
  $$insert into public.templates (code, channel, purpose, body, dlt_entity_id, dlt_header,
                                  dlt_template_id, dlt_text)
    values ('bad_dlt', 'sms', 'service', 'Dear {{customer_name}}, renew now! {{payment_link}}',
            '1101234567890123456', 'PYRNWL', '1107123456789012345', 'Dear {#var#}, renew now {#var#}')$$,
  '%does not pass its lint%', 'an SMS whose fixed text differs from its DLT template is refused');
select throws_matching(
  $$insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                                  whatsapp_status, whatsapp_parameter_count)
    values ('bad_count', 'whatsapp', 'service', 'Hi {{customer_name}}, {{policy_number}} is due',
            'bad_count', 'utility', 'approved', 3)$$,
  'lint', 'a WhatsApp body filling 2 of 3 approved parameters is refused');
create function pg_temp.lint_detail(statement text) returns text
language plpgsql as $$
begin
  execute statement;
  return 'saved';
exception when sqlstate 'PY009' then
  declare detail text;
  begin
    get stacked diagnostics detail = pg_exception_detail;
    return detail;
  end;
end;
$$;
select matches(pg_temp.lint_detail(
  $$insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                                  whatsapp_status, whatsapp_parameter_count)
    values ('bad_count', 'whatsapp', 'service', 'Hi {{customer_name}}, {{policy_number}} is due',
            'bad_count', 'utility', 'approved', 3)$$),
  'takes 3 body parameters and this body fills 2 .*132000', 'and the detail says why, naming error 132000');
select matches(pg_temp.lint_detail(
  $$insert into public.templates (code, channel, purpose, subject, body)
    values ('bad_var', 'email', 'service', 'Renew {{policy_number}}', 'Hi {{first_name}} {{customer_name}}')$$),
  'unknown variables: first_name', 'an unknown variable is refused by name');
select matches(pg_temp.lint_detail(
  $$insert into public.templates (code, channel, purpose, subject, body)
    values ('bad_brace', 'email', 'service', 'Renew', 'Hi {{ Customer_Name }}')$$),
  'malformed', 'a malformed placeholder is refused');
select matches(pg_temp.lint_detail(
  $$insert into public.templates (code, channel, purpose, body)
    values ('no_subject', 'email', 'service', 'Hi {{customer_name}}')$$),
  'needs a subject', 'an email without a subject is refused');
select matches(pg_temp.lint_detail(
  $$insert into public.templates (code, channel, purpose, body, whatsapp_name, whatsapp_category,
                                  whatsapp_status, whatsapp_parameter_count)
    values ('promo', 'whatsapp', 'service', 'Offer for {{customer_name}}', 'promo', 'marketing', 'approved', 1)$$),
  'marketing WhatsApp template', 'a marketing WhatsApp template cannot carry a service purpose');
select matches(pg_temp.lint_detail(
  $$update public.templates set body = body || ' {{ncb_percent}}'
     where code = 'renewal_due' and channel = 'sms'$$),
  'does not match its DLT template', 'an edit that breaks the DLT match is refused too');
select matches(pg_temp.lint_detail(
  $$update public.templates set channel = 'email', subject = 'Renew'
     where whatsapp_name = 'renewal_due_hi'$$),
  'only a WhatsApp template has WhatsApp fields', 'a change of channel must drop the old channel''s fields');
select is((select count(*)::integer from public.templates where code like 'bad%' or code in ('no_subject', 'promo')),
  0, 'and none of the refused templates was saved');

-- Who may: the desk reads, admins write, analysts see nothing.
select tests.authenticate_as('agent_a');
select is((select count(*)::integer from public.templates
            where code not like 'payment\_%' and code not like 'autopay\_%'
              and code not like 'case\_%' and code <> 'opt_out_confirmation'
              and code <> 'renewal_notice' and code <> 'telegram_invite'
              and not (channel = 'email' and code in ('renewal_due', 'ncb_at_risk', 'health_continuity',
                                                      'life_grace_end', 'renewal_expired'))), 2,
  'an agent reads the templates (besides the payment, autopay, cadence, event, renewal notice and telegram invite templates migrations seed)');
select throws_ok(
  $$insert into public.templates (code, channel, purpose, subject, body)
    values ('agent_made', 'email', 'service', 'Hello', 'Hi {{customer_name}}')$$,
  '42501', null, 'but may not add one');
select is(tests.affected_rows($$update public.templates set active = false$$), '0',
  'nor switch one off');
select tests.authenticate_as('analyst');
select is((select count(*)::integer from public.templates), 0, 'an analyst sees none');

select * from finish();
rollback;
