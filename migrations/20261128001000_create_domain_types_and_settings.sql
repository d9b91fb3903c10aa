-- The vocabulary of the renewal domain, and the business settings the daily jobs read.
-- Values that differ by insurer or need a second source (DOMAIN.md's "(v)") are settings, not
-- constants: admins change them in app_settings without a migration.

create type public.product_line as enum ('motor', 'health', 'life', 'home');
create type public.payment_frequency as enum ('annual', 'half_yearly', 'quarterly', 'monthly');
create type public.policy_status as enum ('active', 'renewed', 'lapsed', 'cancelled');
create type public.case_stage as enum (
  'new', 'contacted', 'quoted', 'payment_pending', 'renewed',
  'pending_lapse', 'lapsed', 'lost', 'not_taken'
);
create type public.case_priority as enum ('low', 'normal', 'high', 'urgent');
create type public.installment_status as enum ('pending', 'paid', 'overdue', 'waived');
create type public.channel_type as enum ('sms', 'email', 'whatsapp', 'telegram', 'voice');
create type public.consent_purpose as enum ('transactional', 'service', 'marketing');
create type public.consent_status as enum ('granted', 'withdrawn');
create type public.payment_status as enum ('created', 'authorized', 'captured', 'failed', 'refunded');

comment on type public.case_stage is
  'Renewal pipeline: new > contacted > quoted > payment_pending > renewed; after expiry '
  'pending_lapse > lapsed; or lost / not_taken with a reason. renewed, lapsed, lost and '
  'not_taken are final.';
comment on type public.payment_frequency is
  'How often the premium is paid; the premium on a policy is the yearly total.';

insert into public.app_settings (key, value, description) values
  ('RENEWAL_LEAD_DAYS', '{"motor": 60, "health": 60, "life": 90, "home": 60}',
   'Days before expiry a renewal case opens, per product line.'),
  ('GRACE_DAYS', '{"motor": 0, "health": 30, "life": 30, "life_monthly": 15, "home": 0}',
   'Grace after expiry before a case lapses, per product line; life_monthly for monthly life premiums.'),
  ('HIGH_PRIORITY_PREMIUM_PAISE', '5000000',
   'Cases of policies with a yearly premium at or above this (paise) open with high priority.');

-- Reads a setting. Jobs and triggers call it; the desk reads app_settings under its own RLS.
create function private.setting(setting_key text) returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select s.value from public.app_settings s where s.key = setting_key
$$;

comment on function private.setting(text) is
  'The value of an app setting. Security definer: jobs and triggers need settings whoever runs them.';

-- The calendar day in the business time zone: "today" for every daily job.
create function private.business_date(as_of timestamptz) returns date
language sql stable
set search_path = ''
as $$
  select (as_of at time zone coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata'))::date
$$;

comment on function private.business_date(timestamptz) is
  'The date of `as_of` in BUSINESS_TIME_ZONE (Asia/Kolkata by default).';

grant execute on function private.setting(text), private.business_date(timestamptz)
  to authenticated, service_role;
