-- The reminder cadence's ladder (issue 9, "Cadence"): public.reminder_rules, one row per product
-- line and step, seeded with the default ladder of DOMAIN.md (-60 / -30 / -15 / -7 / -1 days
-- before expiry, then +1 / +7 / +15 / +30), a call task at -15 for high-value policies, and the
-- after-expiry wording per line: motor "NCB at risk" until the NCB deadline, health continuity
-- until grace ends, life the grace end date, home "expired, renew now" while the case is open.
-- Admins edit the ladder (RLS + column grants, as templates); the desk reads it. The email
-- templates the ladder names are seeded in English and Hindi (service; WhatsApp and SMS versions
-- need the business's approved names and DLT ids and come from the demo seed, as for payments).
-- Messages gain choice_reason: why the cadence picked that channel. New settings:
-- NCB_RETENTION_DAYS, CADENCE_PAYMENT_IN_PROGRESS_HOURS, CADENCE_RECENT_REPLY_HOURS,
-- CADENCE_BOUNCE_LOOKBACK_DAYS, CALL_TASK_MIN_PREMIUM_PAISE.

insert into public.app_settings (key, value, description) values
  ('NCB_RETENTION_DAYS', '90',
   'Days after expiry a motor policy keeps its no-claim bonus if renewed (DOMAIN.md, (v)); the '
   'cadence''s "NCB at risk" steps stop after it.'),
  ('CADENCE_PAYMENT_IN_PROGRESS_HOURS', '24',
   'The cadence sends no reminder (and opens no task) for a case with a payment order created or '
   'attempted, or a payment link partly paid, within this many hours.'),
  ('CADENCE_RECENT_REPLY_HOURS', '24',
   'The cadence sends no reminder (and opens no task) to a customer who wrote to us (WhatsApp) '
   'within this many hours.'),
  ('CADENCE_BOUNCE_LOOKBACK_DAYS', '30',
   'A channel on which a message to the customer was undeliverable within this many days is '
   'skipped by the cadence''s channel choice.'),
  ('CALL_TASK_MIN_PREMIUM_PAISE', '5000000',
   'Yearly premium (paise) from which a cadence task step (a call) applies, unless the step sets '
   'its own min_premium.');

create table public.reminder_rules (
  id uuid primary key default gen_random_uuid(),
  product_line public.product_line not null,
  offset_days integer not null check (offset_days between -365 and 365),
  kind text not null check (kind in ('message', 'task')),
  channels public.channel_type[] not null default '{}',
  template_code text check (template_code ~ '^[a-z][a-z0-9_]{1,60}$'),
  purpose public.consent_purpose not null default 'service' check (purpose <> 'transactional'),
  applies_until text check (applies_until in ('grace_end', 'ncb_deadline')),
  min_premium bigint check (min_premium > 0),
  task_kind text check (task_kind in ('call')),
  sla_hours integer check (sla_hours between 1 and 720),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (product_line, offset_days, kind),
  check (kind <> 'message' or (template_code is not null and cardinality(channels) between 1 and 3
                               and channels <@ array['whatsapp', 'sms', 'email']::public.channel_type[]
                               and task_kind is null and sla_hours is null and min_premium is null)),
  check (kind <> 'task' or (template_code is null and cardinality(channels) = 0
                            and task_kind is not null and sla_hours is not null)),
  check (applies_until is null or offset_days > 0)
);

comment on table public.reminder_rules is
  'The reminder ladder: per product line, the steps the daily cadence job '
  '(private.run_reminder_cadence) takes for every open renewal case, each on its day relative '
  'to expiry: a message through the gate or an agent task. Admins edit it; the desk reads it.';
comment on column public.reminder_rules.product_line is 'The product line whose cases take this step.';
comment on column public.reminder_rules.offset_days is
  'The step''s day: days from the case''s due date (expiry), on the IST business date; -60 is 60 '
  'days before expiry, +7 a week after. A day missed is caught up with the latest due step only.';
comment on column public.reminder_rules.kind is
  'message: a message through the gate (private.enqueue_messages); task: an agent task (public.tasks).';
comment on column public.reminder_rules.channels is
  'Messages: the channels in order of preference (e.g. {whatsapp,sms,email}); the cadence takes '
  'the customer''s preferred channel first when listed, then the first the customer can receive '
  'now. Empty for tasks.';
comment on column public.reminder_rules.template_code is
  'Messages: the template code (public.templates.code); its variant per channel and language is '
  'picked at send time (the customer''s language, else English). Null for tasks.';
comment on column public.reminder_rules.purpose is
  'The consent the message needs: service (renewal reminders about an existing policy) or '
  'marketing. Transactional is not a reminder.';
comment on column public.reminder_rules.applies_until is
  'After-expiry steps only: null while the case is open; grace_end until the case''s grace end '
  '(health, life); ncb_deadline until expiry + NCB_RETENTION_DAYS, and only for a policy with a '
  'no-claim bonus to lose (motor).';
comment on column public.reminder_rules.min_premium is
  'Tasks: the yearly premium (paise) from which the step applies (high-value policies); null '
  'takes the CALL_TASK_MIN_PREMIUM_PAISE setting.';
comment on column public.reminder_rules.task_kind is 'Tasks: what the agent does (call). Null for messages.';
comment on column public.reminder_rules.sla_hours is
  'Tasks: hours the agent has to do it; past it the task escalates up the hierarchy, and again '
  'after each further SLA. Null for messages.';
comment on column public.reminder_rules.active is 'Whether the cadence takes this step; an inactive step is kept for history.';

create index reminder_rules_line_idx on public.reminder_rules (product_line, kind, offset_days) where active;

create trigger _100_timestamps before update on public.reminder_rules
  for each row execute function private.tg__set_updated_at();
create trigger _900_audit_insert after insert on public.reminder_rules
  referencing new table as new_rows for each statement execute function private.tg__audit();
create trigger _900_audit_update after update on public.reminder_rules
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg__audit();
create trigger _900_audit_delete after delete on public.reminder_rules
  referencing old table as old_rows for each statement execute function private.tg__audit();

alter table public.reminder_rules enable row level security;
revoke all on public.reminder_rules from anon, authenticated;
grant select on public.reminder_rules to authenticated;
grant insert (product_line, offset_days, kind, channels, template_code, purpose, applies_until,
              min_premium, task_kind, sla_hours, active),
      update (product_line, offset_days, kind, channels, template_code, purpose, applies_until,
              min_premium, task_kind, sla_hours, active),
      delete
  on public.reminder_rules to authenticated;

create policy reminder_rules_select_member on public.reminder_rules
  for select to authenticated
  using ((select private.is_desk_member()));

create policy reminder_rules_insert_admin on public.reminder_rules
  for insert to authenticated
  with check ((select private.is_admin()));

create policy reminder_rules_update_admin on public.reminder_rules
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy reminder_rules_delete_admin on public.reminder_rules
  for delete to authenticated
  using ((select private.is_admin()));

-- The default ladder.
insert into public.reminder_rules (product_line, offset_days, kind, channels, template_code, applies_until)
select line, step, 'message', '{whatsapp,sms,email}',
       case when step < 0 then 'renewal_due'
            else case line when 'motor' then 'ncb_at_risk' when 'health' then 'health_continuity'
                           when 'life' then 'life_grace_end' else 'renewal_expired' end end,
       case when step < 0 then null
            else case line when 'motor' then 'ncb_deadline' when 'health' then 'grace_end'
                           when 'life' then 'grace_end' end end
  from unnest(enum_range(null::public.product_line)) line,
       unnest(array[-60, -30, -15, -7, -1, 1, 7, 15, 30]) step;

insert into public.reminder_rules (product_line, offset_days, kind, task_kind, sla_hours)
select line, -15, 'task', 'call', 48
  from unnest(enum_range(null::public.product_line)) line;

-- Why the cadence chose a message's channel.
alter table public.messages add column choice_reason text;

comment on column public.messages.choice_reason is
  'Why this channel (cadence messages): preferred_channel or first_choice when the first '
  'candidate could be used, first_allowed after the channels refused before it (e.g. "first_allowed '
  '(whatsapp: whatsapp_not_opted_in)"), none_allowed when every channel was refused (the gate '
  'then blocks the message). Null for messages the cadence did not send.';

-- The ladder's email templates (service), English and Hindi.
insert into public.templates (code, channel, language, purpose, subject, body) values
  ('renewal_due', 'email', 'en', 'service',
   'Your policy {{policy_number}} expires on {{expiry_date}}',
   'Dear {{customer_name}}, your {{product_line}} policy {{policy_number}} expires on '
   '{{expiry_date}}. The renewal premium is {{premium}}. Renew before it expires to stay covered; '
   'your agent can help (case {{case_number}}).'),
  ('renewal_due', 'email', 'hi', 'service',
   'आपकी पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो रही है',
   'प्रिय {{customer_name}}, आपकी {{product_line}} पॉलिसी {{policy_number}} {{expiry_date}} को '
   'समाप्त हो रही है। नवीनीकरण प्रीमियम {{premium}} है। सुरक्षा बनाए रखने के लिए समाप्ति से पहले '
   'नवीनीकरण करें; आपके एजेंट सहायता करेंगे (केस {{case_number}})।'),
  ('ncb_at_risk', 'email', 'en', 'service',
   'Renew {{policy_number}} by {{ncb_deadline}} to keep your {{ncb_percent}}% no-claim bonus',
   'Dear {{customer_name}}, your motor policy {{policy_number}} expired on {{expiry_date}} and you '
   'are not covered. Your {{ncb_percent}}% no-claim bonus is kept only if you renew by '
   '{{ncb_deadline}}. The renewal premium is {{premium}}; after a break the vehicle may need an '
   'inspection. Third-party cover is required by law.'),
  ('ncb_at_risk', 'email', 'hi', 'service',
   '{{ncb_percent}}% नो-क्लेम बोनस बचाने के लिए {{ncb_deadline}} तक {{policy_number}} का नवीनीकरण करें',
   'प्रिय {{customer_name}}, आपकी मोटर पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो गई है '
   'और अभी आपका बीमा नहीं है। आपका {{ncb_percent}}% नो-क्लेम बोनस तभी बचेगा जब आप {{ncb_deadline}} '
   'तक नवीनीकरण करें। नवीनीकरण प्रीमियम {{premium}} है; अंतराल के बाद वाहन का निरीक्षण आवश्यक हो '
   'सकता है। थर्ड-पार्टी बीमा कानूनन अनिवार्य है।'),
  ('health_continuity', 'email', 'en', 'service',
   'Renew {{policy_number}} by {{grace_end}} to keep your health cover''s benefits',
   'Dear {{customer_name}}, your health policy {{policy_number}} expired on {{expiry_date}}. Renew '
   'by {{grace_end}}, the end of its grace period, to keep your continuity benefits (waiting '
   'periods served, cumulative bonus). Claims during the grace period are usually not payable. '
   'The renewal premium is {{premium}}.'),
  ('health_continuity', 'email', 'hi', 'service',
   'स्वास्थ्य बीमा के लाभ बनाए रखने के लिए {{grace_end}} तक {{policy_number}} का नवीनीकरण करें',
   'प्रिय {{customer_name}}, आपकी स्वास्थ्य पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो '
   'गई है। निरंतरता लाभ (पूरी हो चुकी प्रतीक्षा अवधि, संचयी बोनस) बनाए रखने के लिए ग्रेस अवधि के अंत '
   '{{grace_end}} तक नवीनीकरण करें। ग्रेस अवधि में दावे आमतौर पर देय नहीं होते। नवीनीकरण प्रीमियम '
   '{{premium}} है।'),
  ('life_grace_end', 'email', 'en', 'service',
   'Your policy {{policy_number}} lapses after {{grace_end}}',
   'Dear {{customer_name}}, the premium of your life policy {{policy_number}} was due on '
   '{{expiry_date}}. Your cover continues in the grace period until {{grace_end}}; pay {{premium}} '
   'by then or the policy lapses.'),
  ('life_grace_end', 'email', 'hi', 'service',
   'आपकी पॉलिसी {{policy_number}} {{grace_end}} के बाद व्यपगत हो जाएगी',
   'प्रिय {{customer_name}}, आपकी जीवन बीमा पॉलिसी {{policy_number}} का प्रीमियम {{expiry_date}} '
   'को देय था। ग्रेस अवधि में आपका बीमा {{grace_end}} तक जारी है; तब तक {{premium}} का भुगतान करें, '
   'अन्यथा पॉलिसी व्यपगत हो जाएगी।'),
  ('renewal_expired', 'email', 'en', 'service',
   'Your policy {{policy_number}} expired on {{expiry_date}}',
   'Dear {{customer_name}}, your {{product_line}} policy {{policy_number}} expired on '
   '{{expiry_date}} and you are no longer covered. Renew now for {{premium}}; your agent can help '
   '(case {{case_number}}).'),
  ('renewal_expired', 'email', 'hi', 'service',
   'आपकी पॉलिसी {{policy_number}} {{expiry_date}} को समाप्त हो गई',
   'प्रिय {{customer_name}}, आपकी {{product_line}} पॉलिसी {{policy_number}} {{expiry_date}} को '
   'समाप्त हो गई है और अब आपका बीमा नहीं है। {{premium}} में अभी नवीनीकरण करें; आपके एजेंट सहायता '
   'करेंगे (केस {{case_number}})।');
