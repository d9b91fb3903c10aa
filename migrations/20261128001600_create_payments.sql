-- Payments through Razorpay, and the raw webhooks that report them. Only the shape for now: the
-- Razorpay flow (orders, checkout verification, webhooks) fills them in its own change. No card
-- data is ever stored: Razorpay Checkout keeps it on their side.

create table public.payments (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  outstanding_amount_id uuid references public.outstanding_amounts (id) on delete set null,
  razorpay_order_id text unique,
  razorpay_payment_id text unique,
  amount bigint not null check (amount > 0),
  currency text not null default 'INR' check (currency ~ '^[A-Z]{3}$'),
  method text,
  status public.payment_status not null default 'created',
  failure_reason text,
  captured_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.payments is
  'Premium payments for a renewal case, as Razorpay reports them. Written by the backend only.';
comment on column public.payments.amount is 'Amount in paise.';
comment on column public.payments.method is 'upi, card, netbanking, wallet, ... as Razorpay names it.';

create index payments_case_id_idx on public.payments (case_id);
create index payments_outstanding_amount_id_idx on public.payments (outstanding_amount_id);

create trigger _100_timestamps before update on public.payments
  for each row execute function private.tg__set_updated_at();

create table public.payment_events (
  id uuid primary key default gen_random_uuid(),
  event_id text not null unique,
  event_type text not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz
);

comment on table public.payment_events is
  'Razorpay webhooks as received, deduplicated by X-Razorpay-Event-Id. Internal: no user reads it.';
comment on column public.payment_events.event_id is 'X-Razorpay-Event-Id: the same event twice is stored once.';
