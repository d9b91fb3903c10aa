-- Message templates, per channel and language, with a lint that runs whenever a template is
-- saved: a template whose variables do not fit its channel is refused (PY009, 422 at the API)
-- with the reasons. What the lint checks is what the vendors and the regulator refuse later,
-- when it is too late: a WhatsApp body whose parameter count differs from the approved
-- template's (Meta error 132000), an SMS whose fixed text differs from its registered DLT
-- template (dropped silently by DLT scrubbing, TRAI TCCCPR 2018), a variable nobody can fill.

create type public.whatsapp_template_category as enum ('utility', 'marketing', 'authentication');

comment on type public.whatsapp_template_category is
  'Meta''s template categories, which set the price of a WhatsApp message (priced per message '
  'since 1 July 2025). utility: about an existing policy (renewal reminders, receipts). '
  'marketing: offers and campaigns. authentication: one-time codes.';

-- The variables a template may use, with the longest value each is expected to take (the
-- segment and cost estimate assume it) and an example for previews.
create function private.template_variables()
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
    ('message', 1000, 'Your agent''s words')
$$;

comment on function private.template_variables() is
  'The variables templates may use ({{name}}), each with the longest value expected (the lint''s '
  'segment and cost estimate assume it) and an example. A new variable needs a migration, as '
  'the code that fills it must know it.';

create table public.templates (
  id uuid primary key default gen_random_uuid(),
  code text not null check (code ~ '^[a-z][a-z0-9_]{1,60}$'),
  channel public.channel_type not null check (channel in ('sms', 'email', 'whatsapp')),
  language text not null default 'en' check (language ~ '^[a-z]{2}(_[A-Z]{2})?$'),
  purpose public.consent_purpose not null,
  subject text check (length(subject) between 1 and 200),
  body text not null check (length(body) between 1 and 4096),
  whatsapp_name text check (whatsapp_name ~ '^[a-z0-9_]+$' and length(whatsapp_name) <= 512),
  whatsapp_category public.whatsapp_template_category,
  whatsapp_status text check (whatsapp_status in ('pending', 'approved', 'rejected', 'paused')),
  whatsapp_parameter_count smallint check (whatsapp_parameter_count between 0 and 100),
  dlt_entity_id text check (dlt_entity_id ~ '^[0-9]{1,50}$'),
  dlt_header text check (dlt_header ~ '^[A-Za-z0-9]{3,11}$'),
  dlt_template_id text check (dlt_template_id ~ '^[0-9]{1,50}$'),
  dlt_text text check (length(dlt_text) between 1 and 2000),
  active boolean not null default true,
  lint jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (code, channel, language)
);

comment on table public.templates is
  'What a message says, per channel and language. The body names its variables as {{name}} '
  '(see the lint for the list). Checked by private.lint_template() on every save.';
comment on column public.templates.code is
  'Stable name producers use, shared by the channel and language variants: renewal_due_60, ...';
comment on column public.templates.language is 'ISO 639-1 (en, hi, ...), optionally _REGION as WhatsApp spells it.';
comment on column public.templates.purpose is
  'Which consent a message from this template needs: transactional, service or marketing.';
comment on column public.templates.subject is 'Email subject; may use variables. Email only.';
comment on column public.templates.body is
  'The text with {{variable}} placeholders. For WhatsApp, the approved template''s body with our '
  'variable names where Meta has {{1}}, {{2}}, ... in the same order; for SMS, the registered DLT '
  'text with our variable names where DLT has {#var#}.';
comment on column public.templates.channel is 'sms, email or whatsapp.';
comment on column public.templates.active is 'Whether producers may use it; an inactive template is kept for history.';
comment on column public.templates.whatsapp_name is 'The template''s name as approved in WhatsApp Manager.';
comment on column public.templates.whatsapp_category is 'Meta category: utility, marketing or authentication.';
comment on column public.templates.whatsapp_status is
  'Meta review state. Only approved templates are sent outside the 24-hour customer-service window.';
comment on column public.templates.whatsapp_parameter_count is
  'How many body parameters the approved template takes; the body must fill exactly that many '
  '(Meta error 132000 otherwise).';
comment on column public.templates.dlt_entity_id is 'India DLT principal entity id (PE ID) of the sender.';
comment on column public.templates.dlt_header is 'India DLT header (sender id), e.g. PYRNWL.';
comment on column public.templates.dlt_template_id is 'India DLT content template id.';
comment on column public.templates.dlt_text is
  'The registered DLT template text, with {#var#} for each variable slot.';
comment on column public.templates.lint is
  'The last lint: {errors: [], warnings: [], encoding, characters, segments, '
  'estimated_cost_paise}. Written on save.';

create trigger _100_timestamps before update on public.templates
  for each row execute function private.tg__set_updated_at();

-- The SMS alphabet: GSM 03.38's basic set, and its extension table, whose characters take two.
create function private.sms_encoding(message text) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when message ~ E'^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&''()*+,./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\\\\\[~\\]|€\f-]*$'
      then 'GSM-7'
    else 'UCS-2'
  end
$$;

comment on function private.sms_encoding(text) is
  'GSM-7 when every character is in the GSM 03.38 basic or extension table, else UCS-2 '
  '(3GPP TS 23.038).';

-- Segments of an SMS: GSM-7 160 characters alone or 153 per part (extension characters count
-- two); UCS-2 70 alone or 67 per part, counted in UTF-16 units (3GPP TS 23.040).
create function private.sms_segments(message text) returns integer
language sql immutable
set search_path = ''
as $$
  with measured as (
    select case private.sms_encoding(message)
             when 'GSM-7'
               then length(message) + length(regexp_replace(message, E'[^\\^{}\\\\\\[~\\]|€\f]', '', 'g'))
             else length(message) + length(regexp_replace(message, E'[\\u0001-\\uFFFF]', '', 'g'))
           end as units,
           case private.sms_encoding(message) when 'GSM-7' then 160 else 70 end as single,
           case private.sms_encoding(message) when 'GSM-7' then 153 else 67 end as part
  )
  select case when units <= single then 1 else ceil(units::numeric / part)::integer end
    from measured
$$;

comment on function private.sms_segments(text) is
  'How many SMS segments the text takes: GSM-7 160 alone / 153 per part (extension characters '
  'count two), UCS-2 70 / 67 in UTF-16 units (3GPP TS 23.040). An empty text is one segment.';

-- The lint. Errors refuse the save; warnings are reported only.
create function private.lint_template(t public.templates) returns jsonb
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
        'not approved by Meta yet: it can be sent only inside the 24-hour customer-service window');
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

comment on function private.lint_template(public.templates) is
  'Checks a template (saved or not) and returns {errors[], warnings[], variables[], encoding, '
  'characters, segments, estimated_cost_paise}: unknown or malformed variables; email subject; '
  'WhatsApp name, category and body parameter count (error 132000); SMS DLT ids and text '
  'matching the registered template outside its {#var#} slots (TRAI DLT scrubbing). Encoding, '
  'characters and segments (SMS) assume every variable at its longest; cost from the '
  'MESSAGE_RATES_PAISE setting.';

create function private.tg_templates__lint() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.lint := private.lint_template(new);
  if jsonb_array_length(new.lint -> 'errors') > 0 then
    raise exception 'the template does not pass its lint'
      using errcode = 'PY009',
            detail = (new.lint -> 'errors')::text;
  end if;
  return new;
end;
$$;

comment on function private.tg_templates__lint() is
  'Before insert or update: stores the lint and refuses a template with errors (PY009), listing '
  'them as a JSON array in the error''s detail.';

create trigger _200_lint before insert or update on public.templates
  for each row execute function private.tg_templates__lint();

insert into public.app_settings (key, value, description) values
  ('MESSAGE_RATES_PAISE',
   '{"sms_segment": 25, "email": 0.85, "whatsapp_utility": 11.5, "whatsapp_marketing": 86.31, '
   '"whatsapp_authentication": 11.5, "whatsapp_service": 0}',
   'Estimated cost of a message in paise: per SMS segment, per email, per WhatsApp message by '
   'template category (India rates from 1 Jan 2026; service = free-form replies inside the '
   'window, free up to about 1,000 a month). The vendor''s reported price replaces it when known.');

alter table public.templates enable row level security;
revoke all on public.templates from anon;
grant select on public.templates to authenticated;
grant insert (code, channel, language, purpose, subject, body, whatsapp_name, whatsapp_category,
              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
              dlt_template_id, dlt_text, active),
      update (code, channel, language, purpose, subject, body, whatsapp_name, whatsapp_category,
              whatsapp_status, whatsapp_parameter_count, dlt_entity_id, dlt_header,
              dlt_template_id, dlt_text, active),
      delete
  on public.templates to authenticated;

-- The lint runs as whoever saves a template (its trigger), and the API offers it unsaved.
grant execute on function private.template_variables(), private.sms_encoding(text),
  private.sms_segments(text), private.lint_template(public.templates) to authenticated, service_role;

create policy templates_select_member on public.templates
  for select to authenticated
  using ((select private.is_desk_member()));

create policy templates_insert_admin on public.templates
  for insert to authenticated
  with check ((select private.is_admin()));

create policy templates_update_admin on public.templates
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy templates_delete_admin on public.templates
  for delete to authenticated
  using ((select private.is_admin()));
