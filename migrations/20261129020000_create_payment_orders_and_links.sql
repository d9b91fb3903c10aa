-- Razorpay orders and payment links, and the journal of every call we make to Razorpay.
-- Razorpay has no idempotency key for orders or links, so each is stored (status `creating`) and
-- its call journalled, committed, before the call is made: a crash between Razorpay's answer and
-- our commit leaves a row the reconciliation looks up (by receipt / reference_id) instead of a
-- second order. The desk reads orders and links with their case; nobody writes them but the
-- definer functions of the payment flow (migrations 2026112902xxxx).

create table public.payment_orders (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  -- Razorpay's receipt (at most 40 characters), derived from our id: a retried create that
  -- reached Razorpay is found again by it.
  receipt text not null generated always as ('py_' || replace(id::text, '-', '')) stored,
  razorpay_order_id text unique check (razorpay_order_id ~ '^order_[A-Za-z0-9_]+$'),
  amount bigint not null check (amount >= 100),
  currency text not null default 'INR' check (currency = 'INR'),
  installment_ids uuid[] not null check (cardinality(installment_ids) between 1 and 12),
  status text not null default 'creating'
    check (status in ('creating', 'created', 'attempted', 'paid', 'failed', 'expired')),
  expires_at timestamptz not null,
  created_by uuid references auth.users (id) on delete set null,
  last_error text,
  reconcile_after timestamptz,
  polled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (receipt),
  check ((status = 'creating' or status = 'failed') or razorpay_order_id is not null)
);

comment on table public.payment_orders is
  'One Razorpay order per row: what the customer is asked to pay through Razorpay Checkout for '
  'one or more installments of a renewal case. Stored before Razorpay is called (status '
  'creating), so a lost answer is reconciled by receipt, never created twice. Visible with its '
  'case; written only by the payment functions.';
comment on column public.payment_orders.case_id is 'The renewal case paid for (renewal_cases.id).';
comment on column public.payment_orders.receipt is
  'Razorpay''s receipt for the order, py_ + our id without dashes (35 characters; Razorpay allows '
  '40): how the reconciliation finds an order whose creation answer was lost.';
comment on column public.payment_orders.razorpay_order_id is
  'Razorpay''s order id (order_...), unique; null until Razorpay answered the create call.';
comment on column public.payment_orders.amount is
  'Amount of the order in paise (₹1 = 100 paise): what the chosen installments still owed when '
  'it was opened, computed by the database, never taken from the client.';
comment on column public.payment_orders.currency is 'ISO 4217 currency code: INR only; amount is in paise.';
comment on column public.payment_orders.installment_ids is
  'The installments (outstanding_amounts.id) the order pays, credited first, oldest due first.';
comment on column public.payment_orders.status is
  'creating: stored, Razorpay not yet answered; created: Razorpay has it; attempted: the customer '
  'tried to pay; paid: payments credited cover it; failed: Razorpay refused the create call for '
  'good; expired: RAZORPAY_ORDER_TTL passed without payment (a later payment is flagged for '
  'refund, not credited).';
comment on column public.payment_orders.expires_at is
  'When the order stops being offered (RAZORPAY_ORDER_TTL after it was opened); a payment '
  'authorised after it is flagged order_expired.';
comment on column public.payment_orders.created_by is
  'The desk user who opened it (profiles.id), from their session; null for the backend.';
comment on column public.payment_orders.last_error is 'Razorpay''s words for the last failed call; null otherwise.';
comment on column public.payment_orders.reconcile_after is
  'When the reconciliation next looks the order up at Razorpay (a lost webhook or answer); null '
  'once nothing is left to learn. Also the lease of the runner that claimed it.';
comment on column public.payment_orders.polled_at is
  'When the reconciliation last recorded the order as Razorpay has it; null when never.';

create index payment_orders_case_idx on public.payment_orders (case_id, created_at desc);
create index payment_orders_created_by_idx on public.payment_orders (created_by);
create index payment_orders_reconcile_idx on public.payment_orders (reconcile_after)
  where status in ('creating', 'created', 'attempted');

create trigger _100_timestamps before update on public.payment_orders
  for each row execute function private.tg__set_updated_at();

create table public.payment_links (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  outstanding_amount_id uuid references public.outstanding_amounts (id) on delete restrict,
  reference_id text not null generated always as ('py_' || replace(id::text, '-', '')) stored,
  razorpay_payment_link_id text unique check (razorpay_payment_link_id ~ '^plink_[A-Za-z0-9_]+$'),
  razorpay_order_id text,
  short_url text,
  amount bigint not null check (amount >= 100),
  currency text not null default 'INR' check (currency = 'INR'),
  accept_partial boolean not null default false,
  first_min_partial_amount bigint,
  amount_paid bigint not null default 0 check (amount_paid >= 0),
  status text not null default 'creating'
    check (status in ('creating', 'created', 'partially_paid', 'paid', 'expired', 'cancelled', 'failed')),
  expire_by timestamptz not null,
  created_by uuid references auth.users (id) on delete set null,
  last_error text,
  reconcile_after timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (reference_id),
  check (first_min_partial_amount is null
         or (accept_partial and first_min_partial_amount between 100 and amount)),
  check (status in ('creating', 'failed') or razorpay_payment_link_id is not null)
);

comment on table public.payment_links is
  'One Razorpay payment link per row, for a whole case or one installment, which we send the '
  'customer ourselves (Razorpay''s own notifications are off). Stored before Razorpay is called '
  '(status creating), found again by reference_id. Visible with its case; written only by the '
  'payment functions.';
comment on column public.payment_links.case_id is 'The renewal case paid for (renewal_cases.id).';
comment on column public.payment_links.outstanding_amount_id is
  'The installment the link pays (outstanding_amounts.id); null: whatever the case owes.';
comment on column public.payment_links.reference_id is
  'Razorpay''s reference_id for the link, py_ + our id without dashes (unique at Razorpay too): '
  'how the reconciliation finds a link whose creation answer was lost.';
comment on column public.payment_links.razorpay_payment_link_id is
  'Razorpay''s payment link id (plink_...), unique; null until Razorpay answered.';
comment on column public.payment_links.razorpay_order_id is
  'The order Razorpay made for the link (order_...), learned from its payments; null until then.';
comment on column public.payment_links.short_url is 'The link the customer opens (https://rzp.io/...); null until created.';
comment on column public.payment_links.amount is 'Amount asked in paise (₹1 = 100 paise), computed by the database.';
comment on column public.payment_links.currency is 'ISO 4217 currency code: INR only; amounts are in paise.';
comment on column public.payment_links.accept_partial is
  'Whether the customer may pay in parts (only for product lines PARTIAL_PAYMENTS allows).';
comment on column public.payment_links.first_min_partial_amount is
  'Smallest first part in paise when partial payments are accepted; null otherwise.';
comment on column public.payment_links.amount_paid is
  'Paise paid through the link so far: the sum of its captured payments.';
comment on column public.payment_links.status is
  'creating: stored, Razorpay not yet answered; created: sent to Razorpay, unpaid; '
  'partially_paid: part paid; paid: fully paid; expired: expire_by passed; cancelled: cancelled; '
  'failed: Razorpay refused the create call for good.';
comment on column public.payment_links.expire_by is 'When Razorpay stops accepting payments on it (PAYMENT_LINK_TTL after creation).';
comment on column public.payment_links.created_by is
  'The desk user who made it (profiles.id), from their session; null for the backend.';
comment on column public.payment_links.last_error is 'Razorpay''s words for the last failed call; null otherwise.';
comment on column public.payment_links.reconcile_after is
  'When the reconciliation next looks the link up at Razorpay; null once it is settled. Also '
  'the lease of the runner that claimed it.';

create index payment_links_case_idx on public.payment_links (case_id, created_at desc);
create index payment_links_outstanding_amount_idx on public.payment_links (outstanding_amount_id);
create index payment_links_created_by_idx on public.payment_links (created_by);
create index payment_links_order_idx on public.payment_links (razorpay_order_id);
create index payment_links_reconcile_idx on public.payment_links (reconcile_after)
  where status in ('creating', 'created', 'partially_paid');

create trigger _100_timestamps before update on public.payment_links
  for each row execute function private.tg__set_updated_at();

-- The journal: one row per call to Razorpay, committed before the call.
create table private.razorpay_calls (
  id uuid primary key default gen_random_uuid(),
  operation text not null
    check (operation in ('create_order', 'create_payment_link', 'create_refund', 'capture_payment',
                         'cancel_payment_link')),
  subject_id uuid not null,
  request jsonb not null default '{}',
  state text not null default 'pending' check (state in ('pending', 'succeeded', 'failed')),
  http_status integer,
  error_code text,
  duration_ms integer,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  check ((state = 'pending') = (finished_at is null))
);

comment on table private.razorpay_calls is
  'Every call to Razorpay that creates or changes something, written and committed before the '
  'call (Razorpay has no idempotency key for orders and links), finished with its outcome. The '
  'request is the body sent, never a secret. Backend only.';

create index razorpay_calls_subject_idx on private.razorpay_calls (subject_id, created_at);

alter table private.razorpay_calls enable row level security;
revoke all on private.razorpay_calls from public, anon, authenticated, service_role;

insert into public.app_settings (key, value, description) values
  ('RAZORPAY_ORDER_TTL', '"30 minutes"',
   'How long a Razorpay order is offered (an interval, e.g. "30 minutes"). A payment authorised '
   'after it is flagged for refund, not credited.'),
  ('RAZORPAY_RECONCILE_AFTER', '"10 minutes"',
   'How long an order, link, refund or authorised payment may wait for its webhook before the '
   'reconciliation asks Razorpay (an interval); also the lease of a reconciliation runner.'),
  ('PAYMENT_LINK_TTL', '"15 days"',
   'How long a payment link stays payable (an interval; Razorpay allows at most 6 months).'),
  ('PARTIAL_PAYMENTS', '{"motor": null, "health": null, "life": {"min_first_percent": 25}}',
   'Per product line, whether a payment link may be paid in parts: null = not allowed, or '
   '{"min_first_percent": N}, the smallest first part as a percentage of the amount.');

-- Row-level security: the desk reads the orders and links of the cases it sees; nobody writes
-- them through the API roles (the payment functions are security definer).
alter table public.payment_orders enable row level security;
alter table public.payment_links enable row level security;
revoke all on public.payment_orders, public.payment_links from anon, authenticated, service_role;
grant select on public.payment_orders, public.payment_links to authenticated, service_role;

create policy payment_orders_select_member on public.payment_orders
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = payment_orders.case_id));

create policy payment_links_select_member on public.payment_links
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = payment_links.case_id));
