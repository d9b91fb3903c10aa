-- The renewal notice reaches the customer by default (issue 12: "renewal notices generated as PDF
-- when a quote is ready, stored, and sent: WhatsApp document message, email link, SMS link").
-- A quote registers its pending notice (20261130020829_register_receipts_and_renewal_notices.sql),
-- but the case_quoted message carries it only when its template asks for it
-- (20261130024238_attach_renewal_notices_where_asked.sql), and the seeded case_quoted emails do
-- not (the AI drafts fill that template with a case's values and cannot fill a one-message link).
-- So the notice gets its own message, as the receipt does (private.queue_payment_message):
-- * templates renewal_notice (service, like the quote): email en/hi ending with
--   {{document_link}}; WhatsApp en/hi (utility, approved, document header: the notice itself);
--   SMS en whose link's fixed part is written out and whose DLT variable is {{document_token}}
--   (as the SMS receipt, 20261130025957_link_sms_receipts_by_token.sql). case_quoted is unchanged.
-- * private.queue_renewal_notice(case_id, as_of): queues the case's notice of the business day
--   through the gate, once per document (key renewal_notice:<document id>), carrying it
--   (messages.document_id), in the customer's preferred channel when the gate lets it through
--   there, else email (blocked on both: the preferred one, so the gate records why). The link
--   reuses the token the quote's message was given (each private.register_generated_document call
--   draws a new token and the previous one stops working: a second draw would break the quote's
--   link); a token is drawn only when no message holds one. Nothing is queued when another
--   message already carries the notice on its way (a case_quoted template that asks for it).
-- * A statement trigger _950_queue_renewal_notices after update on renewal_cases (after the
--   event messages, _900) calls it for each case that just became quoted, in the transaction of
--   the stage change; a failure is a warning: the quote stands.

insert into public.templates (code, channel, language, purpose, subject, body) values
  ('renewal_notice', 'email', 'en', 'service',
   'Renewal notice for policy {{policy_number}}',
   'Dear {{customer_name}}, your renewal notice for policy {{policy_number}} with {{insurer}} '
   '(case {{case_number}}) is ready: the premium is {{premium}} and your cover ends on '
   '{{expiry_date}}. Your renewal notice: {{document_link}}'),
  ('renewal_notice', 'email', 'hi', 'service',
   'पॉलिसी {{policy_number}} का नवीनीकरण नोटिस',
   'प्रिय {{customer_name}}, {{insurer}} की पॉलिसी {{policy_number}} (केस {{case_number}}) का '
   'नवीनीकरण नोटिस तैयार है: प्रीमियम {{premium}} है और आपका कवर {{expiry_date}} को समाप्त होता है। '
   'आपका नवीनीकरण नोटिस: {{document_link}}')
on conflict (code, channel, language) do nothing;

insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                              whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                              whatsapp_header_format) values
  ('renewal_notice', 'whatsapp', 'en', 'service',
   'Dear {{customer_name}}, your renewal notice for policy {{policy_number}} is attached: the '
   'premium is {{premium}}.',
   'renewal_notice', 'utility', 'approved', 3, 'document'),
  ('renewal_notice', 'whatsapp', 'hi', 'service',
   'प्रिय {{customer_name}}, पॉलिसी {{policy_number}} का नवीनीकरण नोटिस संलग्न है: प्रीमियम '
   '{{premium}} है।',
   'renewal_notice', 'utility', 'approved', 3, 'document')
on conflict (code, channel, language) do nothing;

-- The DLT ids are placeholders until the entity's registration gives them; the host is
-- LINK_BASE_URL's default, which an operator replaces by their own registered one.
insert into public.templates (code, channel, language, purpose, body, dlt_entity_id, dlt_header,
                              dlt_template_id, dlt_text) values
  ('renewal_notice', 'sms', 'en', 'service',
   'Renewal notice for policy {{policy_number}}, premium {{premium}}: '
   'http://127.0.0.1:54321/functions/v1/go/d/{{document_token}} - Py360',
   '1101000000000000001', 'PYRNWL', '1107000000000000103',
   'Renewal notice for policy {#var#}, premium {#var#}: '
   'http://127.0.0.1:54321/functions/v1/go/d/{#var#} - Py360')
on conflict (code, channel, language) do nothing;

create function private.queue_renewal_notice(case_id uuid, as_of timestamptz default now())
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  renewal public.renewal_cases;
  customer public.customers;
  policy public.policies;
  notice_id uuid;
  key text;
  token text;
  channel public.channel_type;
  message_id uuid;
  base text := rtrim(coalesce(private.setting('LINK_BASE_URL') #>> '{}',
                              'http://127.0.0.1:54321/functions/v1/go'), '/');
begin
  select c.* into renewal from public.renewal_cases c where c.id = queue_renewal_notice.case_id;
  if not found then
    return null;
  end if;
  -- The notice of the business day (registered by the quote's trigger; once a case a day).
  notice_id := private.ensure_generated_document('renewal_notice', renewal.id);
  key := 'renewal_notice:' || notice_id;
  select m.id into message_id from public.messages m where m.idempotency_key = key;
  if found then
    return message_id;
  end if;
  -- Already on its way in another message (a case_quoted template that asks for it): not twice.
  if exists (select 1 from public.messages m
              where m.document_id = notice_id
                and m.status not in ('blocked', 'cancelled', 'failed', 'undeliverable', 'dead')) then
    return null;
  end if;

  -- The token the quote's message holds for this notice, else a fresh one.
  select x.token into token
    from (select substring(m.variables ->> 'document_link' from '/d/([0-9A-Za-z]+)$') as token,
                 m.created_at
            from public.messages m
           where m.case_id = renewal.id and m.variables ? 'document_link') x
   where x.token is not null
     and exists (select 1 from private.document_for_link_token(x.token) l where l.id = notice_id)
   order by x.created_at desc
   limit 1;
  if token is null then
    select g.link_token into token
      from private.register_generated_document('renewal_notice', renewal.id) g;
  end if;

  select cu.* into customer from public.customers cu where cu.id = renewal.customer_id;
  select p.* into policy from public.policies p where p.id = renewal.policy_id;

  -- The customer's preferred channel when the gate lets the notice through there, else email;
  -- blocked on both: the preferred channel all the same, so the gate records why.
  select c.channel into channel
    from (select distinct on (t.channel) t.channel, t.id, t.purpose
            from public.templates t
           where t.code = 'renewal_notice' and t.active
             and (t.channel = customer.preferred_channel or t.channel = 'email')
           order by t.channel, t.language = coalesce(customer.language, 'en') desc,
                    t.language = 'en' desc, t.language) c
   order by private.message_block_reason(
              customer.id, c.channel, c.purpose,
              case c.channel when 'email' then lower(customer.email) else customer.phone end,
              c.id, queue_renewal_notice.as_of) is null desc,
            c.channel = customer.preferred_channel desc
   limit 1;
  if channel is null then
    raise warning 'no active renewal_notice template: case % gets no notice message', renewal.case_number;
    return null;
  end if;
  select e.message_id into message_id
    from private.enqueue_messages(jsonb_build_object(
           'customer_id', customer.id, 'case_id', renewal.id, 'channel', channel,
           'template_code', 'renewal_notice', 'priority', 1, 'idempotency_key', key,
           'variables', jsonb_build_object(
             'customer_name', customer.full_name, 'policy_number', policy.policy_number,
             'case_number', renewal.case_number, 'insurer', policy.insurer,
             'premium', private.format_money(policy.premium, policy.currency),
             'expiry_date', to_char(policy.end_date, 'DD Mon YYYY'),
             'document_link', base || '/d/' || token,
             'document_token', token)),
           queue_renewal_notice.as_of) e;
  update public.messages m
     set document_id = notice_id
   where m.idempotency_key = key and m.document_id is null;
  return message_id;
exception when others then
  raise warning 'the renewal notice of case % was not queued: % (%)',
    queue_renewal_notice.case_id, sqlerrm, sqlstate;
  return null;
end;
$$;

comment on function private.queue_renewal_notice(uuid, timestamptz) is
  'Queues the renewal_notice message of the case''s renewal notice of the business day (registered '
  'once a case a day: private.ensure_generated_document) through the gate (enqueue_messages), once '
  'per document (key renewal_notice:<document id>), priority 1, carrying the notice '
  '(messages.document_id: rendered by the dispatcher before sending, the WhatsApp template''s '
  'document header) and {{document_link}} = <LINK_BASE_URL>/d/<token>, {{document_token}} = the '
  'token alone (SMS: DLT). The token is the one the quote''s message holds for this notice, else '
  'freshly drawn (private.register_generated_document). Channel: the customer''s preferred one '
  'when it has an active template and the gate lets it through, else email. Nothing queued while '
  'another message carries the notice on its way. Returns the message id (an existing one on a '
  'replay; null when none). A failure is a warning, never an error: the quote must stand. '
  'Security definer: called by the quote''s trigger.';

revoke execute on function private.queue_renewal_notice(uuid, timestamptz) from public;

create function private.tg_renewal_cases__queue_renewal_notices() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  as_of timestamptz := private.job_clock();
begin
  perform private.queue_renewal_notice(n.id, as_of)
     from new_rows n
     join old_rows o on o.id = n.id
    where n.stage = 'quoted' and o.stage is distinct from 'quoted'
    order by n.id;
  return null;
exception when others then
  raise warning 'renewal notices of quoted cases were not queued: % (%)', sqlerrm, sqlstate;
  return null;
end;
$$;

comment on function private.tg_renewal_cases__queue_renewal_notices() is
  'Statement trigger (_950_queue_renewal_notices, after the event messages of _900): each case '
  'that just became quoted gets its renewal notice queued (private.queue_renewal_notice), at the '
  'jobs'' clock, in the transaction of the stage change. Security definer: whoever quotes, the '
  'customer gets the notice.';

revoke execute on function private.tg_renewal_cases__queue_renewal_notices() from public;

create trigger _950_queue_renewal_notices after update on public.renewal_cases
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_renewal_cases__queue_renewal_notices();
