-- The template lint (issue 7, found by a review): a WhatsApp template with the marketing purpose
-- and the utility category was accepted and priced at the utility rate (11.5 paise where an offer
-- costs 86.31), though every message from it is blocked at the gate (template_not_marketing) and
-- Meta bills marketing content as marketing. The lint now refuses it, as it already refused the
-- opposite pairing (a marketing category with another purpose). Restated from 20261130052542.

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
  -- The withdrawal link's fixed part, as the gate writes it (private.enqueue_messages).
  link_base text := rtrim(coalesce(private.setting('CONSENT_PAGE_BASE_URL') #>> '{}',
                                   'http://127.0.0.1:54321/functions/v1/consent'), '/') || '/w/';
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
    if t.purpose = 'marketing' and t.whatsapp_category is distinct from 'marketing' then
      errors := array_append(errors,
        'a marketing message goes through a marketing WhatsApp template: Meta bills marketing '
        'content as marketing whatever the category, and the gate blocks an offer sent through '
        'another (template_not_marketing)');
    end if;
    if t.subject is not null then
      errors := array_append(errors, 'only email has a subject');
    end if;
    if t.purpose = 'marketing'
       and not exists (select 1 from regexp_matches(t.body, '\{\{\s*withdrawal_link\s*\}\}') as m) then
      errors := array_append(errors,
        'a marketing WhatsApp template must hold {{withdrawal_link}} in its body: every marketing '
        'message carries its withdrawal link, and Meta sends only the approved text');
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
    if t.purpose = 'marketing' and strpos(
         regexp_replace(t.body, '\{\{\s*([a-z][a-z0-9_]*)\s*\}\}', '{{\1}}', 'g'),
         link_base || '{{withdrawal_token_1}}{{withdrawal_token_2}}') = 0 then
      errors := array_append(errors, format(
        'a marketing SMS template must hold its withdrawal link: %s{{withdrawal_token_1}}{{withdrawal_token_2}} '
        '(registered as %s{#var#}{#var#}): every marketing message carries it, and DLT sends only '
        'the registered text', link_base, link_base));
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

comment on function private.lint_template(public.templates) is
  'Checks a template (saved or not) and returns {errors[], warnings[], variables[], encoding, '
  'characters, segments, estimated_cost_paise}: unknown or malformed variables; email subject; '
  'WhatsApp name, category, header and body parameter count (error 132000); SMS DLT ids and text '
  'matching the registered template outside its {#var#} slots (TRAI DLT scrubbing); a marketing '
  'WhatsApp template is in the marketing category and holds {{withdrawal_link}}, a marketing '
  'SMS template '
  '<CONSENT_PAGE_BASE_URL>/w/{{withdrawal_token_1}}{{withdrawal_token_2}} (issue 13: every '
  'marketing message carries its withdrawal link). Encoding, characters and segments (SMS) '
  'assume every variable at its longest; cost from the MESSAGE_RATES_PAISE setting.';
