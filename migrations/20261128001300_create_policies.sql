-- Insurance policies, one row per term. A renewal produces a new row pointing at the old one.

create table public.policies (
  id uuid primary key default gen_random_uuid(),
  policy_number text not null unique check (length(btrim(policy_number)) between 3 and 50),
  product_line public.product_line not null,
  insurer text not null,
  customer_id uuid not null references public.customers (id) on delete restrict,
  agent_id uuid not null references public.profiles (id) on delete restrict,
  premium bigint not null check (premium > 0),
  sum_insured bigint not null check (sum_insured > 0),
  currency text not null default 'INR' check (currency ~ '^[A-Z]{3}$'),
  start_date date not null,
  end_date date not null,
  payment_frequency public.payment_frequency not null default 'annual',
  ncb_percent smallint not null default 0 check (ncb_percent between 0 and 100),
  status public.policy_status not null default 'active',
  renewed_from_policy_id uuid references public.policies (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (end_date > start_date)
);

comment on table public.policies is 'Policy terms. Visible to the agent who holds them and their managers.';
comment on column public.policies.premium is 'Yearly premium in paise (₹1 = 100 paise).';
comment on column public.policies.sum_insured is 'Sum insured (IDV for motor) in paise.';
comment on column public.policies.end_date is 'Last day of cover; the renewal is due then.';
comment on column public.policies.ncb_percent is
  'No-claim bonus: motor 20/25/35/45/50 % after 1-5 claim-free years; kept only on timely renewal.';
comment on column public.policies.agent_id is 'The agent who services the policy.';
comment on column public.policies.renewed_from_policy_id is 'The previous term, when this one renews it.';

create index policies_agent_id_idx on public.policies (agent_id);
create index policies_customer_id_idx on public.policies (customer_id);
create index policies_renewed_from_policy_id_idx on public.policies (renewed_from_policy_id);
-- The daily case-opening job looks for active policies by end date.
create index policies_active_end_date_idx on public.policies (end_date) where status = 'active';

create trigger _100_timestamps before update on public.policies
  for each row execute function private.tg__set_updated_at();
