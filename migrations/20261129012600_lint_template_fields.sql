-- The template lint, corrected: an unapproved WhatsApp template's warning said it could go inside
-- the 24-hour window, but Meta refuses an unapproved template anywhere (132001) and the gate now
-- blocks it; and a template whose channel changed kept the other channel's fields (WhatsApp name,
-- DLT ids), which the lint now refuses.

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
       or t.whatsapp_status is not null or t.whatsapp_parameter_count is not null) then
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

