-- The lint refuses a WhatsApp template with the marketing purpose outside the marketing category
-- (migration lint_marketing_purpose_against_whatsapp_category): every message from it would be
-- blocked (template_not_marketing) and Meta bills marketing content as marketing.
begin;
select plan(3);
select tests.create_test_book();

create function pg_temp.save(category text, purpose text) returns text
language plpgsql as $$
declare
  detail text;
begin
  insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                                whatsapp_category, whatsapp_status, whatsapp_parameter_count)
  values ('t162_' || category || '_' || purpose, 'whatsapp', 'en', purpose::public.consent_purpose,
          'Renew now for 10% off: {{withdrawal_link}}', 't162', category::public.whatsapp_template_category,
          'approved', 1);
  return 'saved';
exception when sqlstate 'PY009' then
  get stacked diagnostics detail = pg_exception_detail;
  return detail;
end;
$$;

select matches(pg_temp.save('utility', 'marketing'),
  'a marketing message goes through a marketing WhatsApp template',
  'an offer in the utility category is refused, with the reason');
select is(pg_temp.save('marketing', 'marketing'), 'saved', 'in the marketing category it is saved');
select is((private.lint_template((select t from public.templates t where t.code = 't162_marketing_marketing'))
             ->> 'estimated_cost_paise')::numeric,
          (select (value ->> 'whatsapp_marketing')::numeric from public.app_settings
            where key = 'MESSAGE_RATES_PAISE'),
  'and priced at the marketing rate');

select * from finish();
rollback;
