-- Feature flags and business settings, read by the app, the SQL jobs and the edge functions.
-- Keys are upper case like the environment variables of the specification.

create table public.app_settings (
  key text primary key check (key ~ '^[A-Z][A-Z0-9_]*$'),
  value jsonb not null,
  description text not null,
  updated_at timestamptz not null default now(),
  updated_by uuid references auth.users (id) on delete set null default auth.uid()
);

comment on table public.app_settings is
  'Feature flags (ENABLE_*) and business settings. Admins change values; migrations add keys.';
comment on column public.app_settings.value is 'JSON value: true/false for flags, else as described.';
comment on column public.app_settings.updated_by is 'The admin who last changed the value.';

create index app_settings_updated_by_idx on public.app_settings (updated_by);

create trigger _100_timestamps before update on public.app_settings
  for each row execute function private.tg__set_updated_at();

alter table public.app_settings enable row level security;
revoke all on public.app_settings from anon;

-- The desk (admins, managers, agents) reads the flags; analysts work in `analytics` only.
create policy app_settings_select_member on public.app_settings
  for select to authenticated
  using ((select private.current_app_role()) in ('admin', 'manager', 'agent'));

create policy app_settings_update_admin on public.app_settings
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

insert into public.app_settings (key, value, description) values
  ('ENABLE_WHATSAPP_CAMPAIGNS', 'true', 'Send WhatsApp reminders and campaigns.'),
  ('ENABLE_SMS_CAMPAIGNS', 'true', 'Send SMS reminders and campaigns.'),
  ('ENABLE_EMAIL_CAMPAIGNS', 'true', 'Send email reminders and campaigns.'),
  ('ENABLE_AI_ASSISTANT', 'true', 'Offer AI recommendations and lapse-risk scores to agents.'),
  ('ENABLE_PAYMENT_LINKS', 'true', 'Create Razorpay orders and payment links for installments.'),
  ('ENABLE_SOCIAL_INTEGRATIONS', 'false', 'Let admins connect social channels (Telegram, ...).'),
  ('BUSINESS_TIME_ZONE', '"Asia/Kolkata"', 'Time zone of cadence, quiet hours and daily jobs.');

create function private.tg_app_settings__set_updated_by() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_by := (select auth.uid());
  return new;
end;
$$;

comment on function private.tg_app_settings__set_updated_by() is
  'Trigger: records who changed a setting (null for migrations and jobs).';

create trigger _200_set_updated_by before update on public.app_settings
  for each row execute function private.tg_app_settings__set_updated_by();
