-- private.lint_draft (20261129203004_create_draft_checks.sql) took the draft's purpose and did
-- not use it (plpgsql_check: unused parameter): now a free-text draft that claims to be
-- transactional is an error, as private.send_desk_message would refuse it, and a template's
-- purpose must be the draft's. Its arrays start typed. Nothing else changes.

create or replace function private.lint_draft(
  channel public.channel_type,
  language text,
  purpose public.consent_purpose,
  template_id uuid,
  subject text,
  body text
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  t public.templates;
  base jsonb;
  errors text[] := '{}'::text[];
  warnings text[] := '{}'::text[];
  variables text[] := '{}'::text[];
  unfilled text[];
  encoding text;
  segments integer;
  rates jsonb := coalesce(private.setting('MESSAGE_RATES_PAISE'), '{}');
  cost numeric;
  pattern text;
begin
  if body is null or length(body) = 0 then
    raise exception 'a draft needs a body' using errcode = '22023';
  end if;
  if template_id is not null then
    select * into t from public.templates x where x.id = lint_draft.template_id;
    if not found then
      raise exception 'no such template, or not yours to see' using errcode = 'P0002';
    end if;
    if t.channel <> lint_draft.channel then
      raise exception 'the template is for %, not %', t.channel, lint_draft.channel using errcode = '22023';
    end if;
    -- The template's own lint: what the regulator and the vendors check of its registration.
    base := private.lint_template(t);
    errors := array(select jsonb_array_elements_text(base -> 'errors'));
    warnings := array(select jsonb_array_elements_text(base -> 'warnings'));
    variables := array(select jsonb_array_elements_text(base -> 'variables'));
    if not t.active then
      errors := array_append(errors, 'the template is inactive');
    end if;
    if t.purpose <> lint_draft.purpose then
      errors := array_append(errors, format('the template is for %s messages, not %s', t.purpose,
                                            lint_draft.purpose));
    end if;
    if t.channel = 'sms' and t.dlt_text is not null then
      -- Outside its slots the text must be the registered one, character for character.
      pattern := '^' || array_to_string(array(
                   select regexp_replace(part, '([.^$*+?()\[\]{}|\\-])', '\\\1', 'g')
                     from unnest(string_to_array(t.dlt_text, '{#var#}')) with ordinality as s (part, i)
                    order by s.i), '(.*)') || '$';
      if body !~ pattern then
        errors := array_append(errors, 'the text does not match its DLT template: outside the '
          '{#var#} slots every character must be the registered one (DLT scrubbing drops anything else)');
      end if;
    end if;
  else
    if channel = 'sms' then
      errors := array_append(errors, 'an SMS in India goes only on a registered DLT template '
        '(TRAI TCCCPR 2018): free text is dropped by DLT scrubbing');
    elsif channel = 'whatsapp' then
      warnings := array_append(warnings, 'free text: WhatsApp takes it only inside the 24-hour '
        'customer-service window');
    elsif channel = 'email' and subject is null then
      errors := array_append(errors, 'an email needs a subject');
    end if;
    if channel not in ('sms', 'email', 'whatsapp') then
      errors := array_append(errors, format('no drafts on %s', channel));
    end if;
    if purpose = 'transactional' then
      errors := array_append(errors, 'free text is service or marketing; transactional messages '
        'come from templates (as private.send_desk_message refuses)');
    end if;
  end if;
  unfilled := array(
    select distinct btrim(m[1])
      from regexp_matches(body || ' ' || coalesce(subject, ''), '\{\{([^{}]*)\}\}', 'g') as m
     order by 1);
  if cardinality(unfilled) > 0 then
    errors := array_append(errors, format('variables left unfilled: %s', array_to_string(unfilled, ', ')));
  end if;
  if channel <> 'email' and subject is not null then
    errors := array_append(errors, 'only email has a subject');
  end if;

  if channel = 'sms' then
    encoding := private.sms_encoding(body);
    segments := private.sms_segments(body);
    if segments > 6 then
      warnings := array_append(warnings, format('%s segments: each is billed', segments));
    end if;
    if encoding = 'UCS-2' and language = 'en' then
      warnings := array_append(warnings, 'characters outside GSM-7 make it UCS-2: 70 characters a segment instead of 160');
    end if;
    cost := segments * (rates ->> 'sms_segment')::numeric;
  elsif channel = 'email' then
    cost := (rates ->> 'email')::numeric;
  elsif channel = 'whatsapp' then
    cost := case when t.id is null then (rates ->> 'whatsapp_service')::numeric
                 else (rates ->> ('whatsapp_' || coalesce(t.whatsapp_category::text, 'utility')))::numeric end;
  end if;

  return jsonb_build_object(
    'errors', to_jsonb(errors),
    'warnings', to_jsonb(warnings),
    'variables', to_jsonb(variables),
    'encoding', encoding,
    'characters', length(body),
    'segments', segments,
    'estimated_cost_paise', cost);
end;
$$;

comment on function private.lint_draft(public.channel_type, text, public.consent_purpose, uuid, text, text) is
  'The lint of a message draft, filled and ready to send, in private.lint_template''s shape '
  '{errors[], warnings[], variables[], encoding, characters, segments, estimated_cost_paise}: from '
  'a template (template_id), that template''s own lint, inactive, and for SMS the text matching its '
  'registered DLT text outside the {#var#} slots; free text (no template) refused on SMS, warned '
  'on WhatsApp (24-hour window), needing a subject on email, and never transactional (the '
  'gate takes transactional messages from templates only); a template''s purpose must be the '
  'draft''s; any {{placeholder}} left unfilled. '
  'Characters, encoding, segments and cost are those of the actual text (cost from '
  'MESSAGE_RATES_PAISE). The template is read as the caller (P0002 when they may not see it).';

