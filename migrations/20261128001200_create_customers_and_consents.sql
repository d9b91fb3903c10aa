-- Policyholders and their consent ledger. Contact data is personal data (DPDP Act 2023): it is
-- read only by the agents and managers who hold the customer's policies.

create extension if not exists pg_trgm with schema extensions;

create table public.customers (
  id uuid primary key default gen_random_uuid(),
  full_name text not null check (length(btrim(full_name)) between 1 and 200),
  phone text check (phone ~ '^\+[1-9][0-9]{7,14}$'),
  email extensions.citext check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  language text not null default 'en' check (language ~ '^[a-z]{2}(-[A-Z]{2})?$'),
  preferred_channel public.channel_type,
  dnd boolean not null default false,
  kyc_verified_on date,
  city text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.customers is
  'Policyholders. Personal data: visible to the people who hold one of their policies or cases.';
comment on column public.customers.phone is 'Mobile number in E.164, e.g. +919812345678.';
comment on column public.customers.language is 'Language for messages: ISO 639-1 (en, hi, ta, ...).';
comment on column public.customers.preferred_channel is 'The channel the customer asked us to use, if any.';
comment on column public.customers.dnd is
  'Registered on the NCPR (Do Not Disturb): no promotional SMS or calls, whatever the consents say.';
comment on column public.customers.kyc_verified_on is
  'When KYC documents were last verified; renewals check it is recent.';

create index customers_full_name_trgm_idx on public.customers
  using gin (full_name extensions.gin_trgm_ops);
create index customers_phone_idx on public.customers (phone);

create trigger _100_timestamps before update on public.customers
  for each row execute function private.tg__set_updated_at();

create table public.consents (
  id uuid primary key default gen_random_uuid(),
  customer_id uuid not null references public.customers (id) on delete cascade,
  channel public.channel_type not null,
  purpose public.consent_purpose not null,
  status public.consent_status not null,
  source text not null check (length(btrim(source)) between 1 and 100),
  recorded_at timestamptz not null default now(),
  evidence jsonb not null default '{}',
  recorded_by uuid references auth.users (id) on delete set null default auth.uid(),
  unique (customer_id, channel, purpose)
);

comment on table public.consents is
  'Current consent per customer, channel and purpose; every change is kept in audit_log.';
comment on column public.consents.purpose is
  'transactional (receipts), service (renewal reminders), marketing (offers). Separate consents.';
comment on column public.consents.source is
  'Where it was given or withdrawn: web_form, agent_call, whatsapp_reply, sms_stop, import, ...';
comment on column public.consents.evidence is
  'Proof for a regulator: form id, message id, call recording reference, IP address, ...';
comment on column public.consents.recorded_by is 'The user who recorded it; null for systems.';

create index consents_recorded_by_idx on public.consents (recorded_by);
