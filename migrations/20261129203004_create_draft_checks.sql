-- The checks behind message drafts (issue 10, "POST /api/ai/drafts"): a draft is not sent, but it
-- must be sendable.
-- * private.draft_block_reasons(case, questions, as_of) asks the gate's own rules
--   (private.message_block_reasons) whether a message of a channel, purpose and template could go
--   to the case's customer now: consent, WhatsApp opt-in and window, DND, suppressions, DLT.
--   Security definer because suppressions are for admins' eyes only; it answers only reason names
--   (what the gate writes on a blocked message anyway), after checking the case is the caller's.
-- * private.lint_draft(...) lints the filled text as private.lint_template lints a template: the
--   template's own lint, no placeholder left unfilled, an SMS matching its registered DLT text
--   outside the {#var#} slots (TRAI's scrubbing drops anything else), free text refused on SMS,
--   and the encoding, segments and cost of the actual text.
-- * private.format_inr (pure formatting, no data) becomes callable by the desk, so a draft's
--   amounts are written exactly as the gate's producers write them.

create function private.draft_block_reasons(case_id uuid, questions jsonb, as_of timestamptz default now())
returns table (n bigint, channel public.channel_type, template_id uuid, reason text)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  customer uuid;
begin
  if questions is null or jsonb_typeof(questions) <> 'array' then
    raise exception 'questions must be a JSON array of {channel, purpose, template_id}'
      using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;
  select c.customer_id into customer
    from public.renewal_cases c
   where c.id = draft_block_reasons.case_id
     and c.assignee_id = any (private.visible_agent_ids());
  if customer is null then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  return query
  with q as (
    select x.n, x.channel, x.purpose, x.template_id
      from rows from (jsonb_to_recordset(questions)
             as (channel public.channel_type, purpose public.consent_purpose, template_id uuid))
           with ordinality as x (channel, purpose, template_id, n)
  ),
  asked as (
    select b.n, b.reason
      from private.message_block_reasons((
             select array_agg(row(customer, q.channel, q.purpose,
                                  case q.channel when 'email' then lower(cu.email::text) else cu.phone end,
                                  q.template_id)::private.send_question order by q.n)
               from q cross join public.customers cu
              where cu.id = customer), draft_block_reasons.as_of) b
  )
  select q.n, q.channel, q.template_id, a.reason
    from q left join asked a on a.n = q.n
   order by q.n;
end;
$$;

comment on function private.draft_block_reasons(uuid, jsonb, timestamptz) is
  'For a draft to the customer of a case the caller may see (else P0002): per question '
  '{channel, purpose, template_id (null: free text)} in the JSON array, why the gate would block '
  'such a message now (private.message_block_reasons: channel_disabled, no_address, '
  'sms_needs_dlt_template, consent_withdrawn, no_consent, whatsapp_not_opted_in, dnd, '
  'suppressed, whatsapp_window_closed, template_not_approved), null when it would let it go. The '
  'address is the customer''s phone, or their email for email. Security definer: the rules read '
  'suppressions, which only admins may; only the reason names leave.';

revoke execute on function private.draft_block_reasons(uuid, jsonb, timestamptz) from public;
grant execute on function private.draft_block_reasons(uuid, jsonb, timestamptz) to authenticated;

create function private.lint_draft(
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
  errors text[] := '{}';
  warnings text[] := '{}';
  variables text[] := '{}';
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
  'on WhatsApp (24-hour window), needing a subject on email; any {{placeholder}} left unfilled. '
  'Characters, encoding, segments and cost are those of the actual text (cost from '
  'MESSAGE_RATES_PAISE). The template is read as the caller (P0002 when they may not see it).';

grant execute on function private.lint_draft(public.channel_type, text, public.consent_purpose, uuid, text, text)
  to authenticated;

-- Pure formatting: the desk's drafts write amounts as the gate's producers do.
grant execute on function private.format_inr(bigint) to authenticated;
