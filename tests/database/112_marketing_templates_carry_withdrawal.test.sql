-- A marketing template on a channel whose text the vendor renders carries the withdrawal link
-- (issue 13, migration 20261130052542_lint_marketing_templates_for_withdrawal_links): the lint
-- refuses a marketing WhatsApp template without {{withdrawal_link}} and a marketing SMS template
-- without <CONSENT_PAGE_BASE_URL>/w/{{withdrawal_token_1}}{{withdrawal_token_2}}, with the
-- reason; other purposes, and channels where the gate appends the link, need none.
begin;
select plan(22);
select tests.create_test_book();

-- The refusal's reasons (PY009's detail), or 'saved'.
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
grant execute on function pg_temp.lint_detail(text) to authenticated;

-- An SMS template row of this purpose and body, its DLT text derived from the body.
create function pg_temp.sms(code text, purpose text, body text) returns text
language sql as $$
  select format($f$insert into public.templates (code, channel, language, purpose, body,
                   dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
                 values (%L, 'sms', 'en', %L, %L, '1101234567890123456', 'PYRNWL',
                         '1107123456789011200', %L)$f$,
                code, purpose, body,
                regexp_replace(body, '\{\{\s*[a-z][a-z0-9_]*\s*\}\}', '{#var#}', 'g'))
$$;
create function pg_temp.whatsapp(code text, purpose text, category text, body text) returns text
language sql as $$
  select format($f$insert into public.templates (code, channel, language, purpose, body,
                   whatsapp_name, whatsapp_category, whatsapp_status, whatsapp_parameter_count)
                 values (%L, 'whatsapp', 'en', %L, %L, %L, %L, 'approved', %s)$f$,
                code, purpose, body, code, category,
                (select count(*) from regexp_matches(body, '\{\{', 'g')))
$$;
grant execute on function pg_temp.sms(text, text, text), pg_temp.whatsapp(text, text, text, text)
  to authenticated;

select tests.authenticate_as('admin');

-- WhatsApp: Meta sends the approved text, so the link must be one of its parameters.
select is(pg_temp.lint_detail(pg_temp.whatsapp('t112_wa_bare', 'marketing', 'marketing',
            'An offer for {{customer_name}}')),
  '["a marketing WhatsApp template must hold {{withdrawal_link}} in its body: every marketing message carries its withdrawal link, and Meta sends only the approved text"]',
  'a marketing WhatsApp template without {{withdrawal_link}} is refused, saying why');
select matches(pg_temp.lint_detail(pg_temp.whatsapp('t112_wa_utility', 'marketing', 'utility',
            'An offer for {{customer_name}}')),
  'must hold \{\{withdrawal_link\}\}',
  'whatever its Meta category: the purpose decides (the utility category is refused too, pgTAP 162)');
select matches(pg_temp.lint_detail(pg_temp.whatsapp('t112_wa_token', 'marketing', 'marketing',
            'An offer. Stop: {{withdrawal_token_1}}{{withdrawal_token_2}}')),
  'must hold \{\{withdrawal_link\}\}', 'the token halves are no link on WhatsApp');
select is(pg_temp.lint_detail(pg_temp.whatsapp('t112_wa_linked', 'marketing', 'marketing',
            'An offer for {{customer_name}}. Stop offers: {{withdrawal_link}}')),
  'saved', 'a marketing WhatsApp template holding {{withdrawal_link}} is saved');
select is((select lint -> 'variables' from public.templates where code = 't112_wa_linked'),
  '["customer_name", "withdrawal_link"]'::jsonb, 'with the link among its parameters');
select is(pg_temp.lint_detail(pg_temp.whatsapp('t112_wa_spaced', 'marketing', 'marketing',
            'Offer. Stop offers: {{ withdrawal_link }}')),
  'saved', 'spaces inside the braces are the same placeholder');
select is(pg_temp.lint_detail(pg_temp.whatsapp('t112_wa_service', 'service', 'utility',
            'Renew {{policy_number}}')),
  'saved', 'a service WhatsApp template needs no withdrawal link');

-- SMS: DLT sends the registered text, so the link's fixed part is in it, the token in two slots.
select is(pg_temp.lint_detail(pg_temp.sms('t112_sms_bare', 'marketing',
            'Offer for {{customer_name}} -PYRNWL')),
  '["a marketing SMS template must hold its withdrawal link: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} (registered as http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#}): every marketing message carries it, and DLT sends only the registered text"]',
  'a marketing SMS template without the link is refused, naming the text to register');
select matches(pg_temp.lint_detail(pg_temp.sms('t112_sms_whole', 'marketing',
            'Offer. Stop: {{withdrawal_link}} -PYRNWL')),
  'must hold its withdrawal link',
  'nor does {{withdrawal_link}} do in SMS (longer than a DLT slot''s 30 characters)');
select matches(pg_temp.lint_detail(pg_temp.sms('t112_sms_no_base', 'marketing',
            'Offer. Stop: {{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL')),
  'must hold its withdrawal link', 'the token halves without the link''s fixed part are refused');
select matches(pg_temp.lint_detail(pg_temp.sms('t112_sms_elsewhere', 'marketing',
            'Offer. Stop: https://example.test/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL')),
  'must hold its withdrawal link', 'so is a fixed part pointing anywhere but our consent page');
select matches(pg_temp.lint_detail(pg_temp.sms('t112_sms_apart', 'marketing',
            'Offer. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}} {{withdrawal_token_2}} -PYRNWL')),
  'must hold its withdrawal link', 'and halves apart (the link would break)');
select matches(pg_temp.lint_detail(pg_temp.sms('t112_sms_swapped', 'marketing',
            'Offer. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_2}}{{withdrawal_token_1}} -PYRNWL')),
  'must hold its withdrawal link', 'or swapped');
select is(pg_temp.lint_detail(pg_temp.sms('t112_sms_linked', 'marketing',
            'Offer for {{customer_name}}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL')),
  'saved', 'a marketing SMS template with the fixed part and both halves is saved');
select is((select dlt_text from public.templates where code = 't112_sms_linked'),
  'Offer for {#var#}. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{#var#}{#var#} -PYRNWL',
  'its registered text holds the link in two slots');
select is(pg_temp.lint_detail(pg_temp.sms('t112_sms_service', 'service',
            'Renew {{policy_number}} -PYRNWL')),
  'saved', 'a service SMS template needs no withdrawal link');
select is(pg_temp.lint_detail(
  $$insert into public.templates (code, channel, language, purpose, subject, body)
    values ('t112_email', 'email', 'en', 'marketing', 'An offer', 'An offer for {{customer_name}}')$$),
  'saved', 'an email template needs none: the gate appends the link');

-- Edits are linted too: dropping the link, or making a template without it a marketing one.
select matches(pg_temp.lint_detail(
  $$update public.templates set body = 'An offer for {{customer_name}}. {{policy_number}}'
     where code = 't112_wa_linked'$$),
  'must hold \{\{withdrawal_link\}\}', 'an edit dropping the link is refused');
select matches(pg_temp.lint_detail(
  $$update public.templates set purpose = 'marketing' where code = 't112_sms_service'$$),
  'must hold its withdrawal link', 'so is turning a service SMS template without it to marketing');
select is((select count(*)::integer from public.templates
            where code in ('t112_wa_bare', 't112_wa_utility', 't112_wa_token', 't112_sms_bare',
                           't112_sms_whole', 't112_sms_no_base', 't112_sms_elsewhere',
                           't112_sms_apart', 't112_sms_swapped')
               or (code = 't112_sms_service' and purpose = 'marketing')
               or (code = 't112_wa_linked' and body not like '%withdrawal_link%')),
  0, 'and nothing refused was saved');

-- The fixed part is the deployed consent page's (CONSENT_PAGE_BASE_URL), as the gate writes it.
reset role;
update public.app_settings set value = '"https://abcdefghijklmnopqrst.supabase.co/functions/v1/consent/"'
 where key = 'CONSENT_PAGE_BASE_URL';
select tests.authenticate_as('admin');
select matches(pg_temp.lint_detail(pg_temp.sms('t112_sms_old_base', 'marketing',
            'Offer. Stop: http://127.0.0.1:54321/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL')),
  'https://abcdefghijklmnopqrst\.supabase\.co/functions/v1/consent/w/\{#var#\}\{#var#\}',
  'once the page moves, a template with the old address is refused, naming the new one');
select is(pg_temp.lint_detail(pg_temp.sms('t112_sms_new_base', 'marketing',
            'Offer. Stop: https://abcdefghijklmnopqrst.supabase.co/functions/v1/consent/w/{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL')),
  'saved', 'and one with the new address (the trailing slash of the setting dropped) is saved');

select * from finish();
rollback;
