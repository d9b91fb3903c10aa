-- Vendors we send through and the channels built on them, with cost, quota and fallback.

create table public.vendors (
  id uuid primary key default gen_random_uuid(),
  code text not null unique check (code ~ '^[a-z][a-z0-9_]{1,40}$'),
  name text not null,
  kind text not null check (kind in ('sms', 'email', 'whatsapp', 'payments', 'ai', 'storage', 'social')),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.vendors is 'Third-party services; credentials live in the environment, never here.';
comment on column public.vendors.code is 'Stable code the functions use: twilio, aws_ses, whatsapp_cloud, ...';

create trigger _100_timestamps before update on public.vendors
  for each row execute function private.tg__set_updated_at();

insert into public.vendors (code, name, kind) values
  ('twilio', 'Twilio Programmable Messaging', 'sms'),
  ('aws_sns', 'AWS SNS', 'sms'),
  ('aws_ses', 'AWS SES', 'email'),
  ('sendgrid', 'SendGrid', 'email'),
  ('whatsapp_cloud', 'WhatsApp Cloud API', 'whatsapp'),
  ('telegram', 'Telegram Bot API', 'social'),
  ('razorpay', 'Razorpay', 'payments'),
  ('openai', 'OpenAI', 'ai'),
  ('supabase_storage', 'Supabase Storage', 'storage');

create table public.channels (
  id uuid primary key default gen_random_uuid(),
  type public.channel_type not null,
  name text not null unique check (length(btrim(name)) between 1 and 100),
  provider text not null references public.vendors (code) on update cascade on delete restrict,
  fallback_provider text references public.vendors (code) on update cascade on delete restrict,
  cost_per_message numeric(12, 4) not null default 0 check (cost_per_message >= 0),
  daily_quota integer check (daily_quota > 0),
  enabled boolean not null default true,
  settings jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (fallback_provider is distinct from provider)
);

comment on table public.channels is 'Ways to reach customers, each through a provider with an optional fallback.';
comment on column public.channels.cost_per_message is
  'Indicative cost of one message in paise (exact decimal: SMS cost fractions of a paisa).';
comment on column public.channels.daily_quota is 'Most messages a day; null for no limit.';
comment on column public.channels.settings is
  'Non-secret settings: sender id, DLT entity id, WhatsApp template namespace, ...';

create index channels_provider_idx on public.channels (provider);
create index channels_fallback_provider_idx on public.channels (fallback_provider);

create trigger _100_timestamps before update on public.channels
  for each row execute function private.tg__set_updated_at();

insert into public.channels (type, name, provider, fallback_provider, cost_per_message, daily_quota)
values
  ('whatsapp', 'WhatsApp reminders', 'whatsapp_cloud', null, 13, 100000),
  ('sms', 'SMS reminders', 'twilio', 'aws_sns', 62.5, 50000),
  ('email', 'Email reminders', 'aws_ses', 'sendgrid', 0.85, null);
