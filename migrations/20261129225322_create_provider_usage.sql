-- Daily quotas per provider (issue 11, "Quota exceeded" runbook of the specification): what each
-- provider has been handed on each business day, so the dispatcher can throttle a provider to
-- what its channel's daily_quota leaves and the monitoring can alert at 80 %. A provider's quota
-- is the daily_quota of the channel whose primary provider it is (the smallest, should several
-- channels name it; null = no limit); a provider that is only a fallback has none of its own.

create table private.provider_usage (
  provider text not null references public.vendors (code) on update cascade on delete cascade,
  day date not null,
  sent integer not null default 0 check (sent >= 0),
  primary key (provider, day)
);

comment on table private.provider_usage is
  'Messages handed to each provider per business day (IST, private.business_date): one per claim '
  'that gives a provider a message to send, so a retry counts again (it is another send). Written '
  'by private.claim_messages; read by private.provider_quota and the quota alert.';
comment on column private.provider_usage.provider is 'The provider (vendors.code).';
comment on column private.provider_usage.day is 'The business day (BUSINESS_TIME_ZONE, Asia/Kolkata).';
comment on column private.provider_usage.sent is 'Messages handed to the provider that day.';

alter table private.provider_usage enable row level security;

create function private.provider_quota(as_of timestamptz default now())
returns table (provider text, day date, daily_quota integer, used integer)
language sql
stable
security definer
set search_path = ''
as $$
  with today as (select private.business_date(as_of) as day),
  providers as (
    select ch.provider as code from public.channels ch
    union
    select ch.fallback_provider from public.channels ch where ch.fallback_provider is not null
    union
    select u.provider from private.provider_usage u, today where u.day = today.day
  )
  select p.code, today.day,
         (select min(ch.daily_quota) from public.channels ch where ch.provider = p.code),
         coalesce((select u.sent from private.provider_usage u
                    where u.provider = p.code and u.day = today.day), 0)
    from providers p, today
   order by p.code
$$;

comment on function private.provider_quota(timestamptz) is
  'Per provider that a channel names (as provider or fallback) or that was used that day: the '
  'business day of as_of, its daily quota (the smallest daily_quota of the channels whose primary '
  'provider it is; null = no limit) and the messages handed to it that day so far. Security '
  'definer: reads private.provider_usage for the health check and the alerts (service_role).';

revoke execute on function private.provider_quota(timestamptz) from public;
grant execute on function private.provider_quota(timestamptz) to service_role;
