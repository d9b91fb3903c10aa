-- Autopay (Razorpay Subscriptions) for installment policies: the plans we created at Razorpay
-- (one per period, interval and amount, reused by every mandate of that shape), the mandates
-- (one Razorpay subscription per case), and the log of pre-debit notices (no debit without one).
-- Like orders and links, a plan and a subscription are stored (status `creating`) and their call
-- journalled (private.razorpay_calls), committed, before Razorpay is called: Razorpay has no
-- idempotency key for them. The desk reads mandates and notices with their case; nobody writes
-- them but the definer functions of the autopay flow. Payments an autopay debit brings carry
-- the mandate (payments.autopay_mandate_id).

create table public.autopay_plans (
  id uuid primary key default gen_random_uuid(),
  razorpay_plan_id text unique check (razorpay_plan_id ~ '^plan_[A-Za-z0-9_]+$'),
  period text not null check (period in ('daily', 'weekly', 'monthly', 'yearly')),
  "interval" integer not null check ("interval" between 1 and 12),
  amount bigint not null check (amount >= 100),
  currency text not null default 'INR' check (currency = 'INR'),
  status text not null default 'creating' check (status in ('creating', 'created')),
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (period, "interval", amount, currency),
  check ((status = 'created') = (razorpay_plan_id is not null))
);

comment on table public.autopay_plans is
  'Razorpay plans we created for autopay, one per billing shape (period, interval, amount): a '
  'mandate of the same shape reuses it. Stored before Razorpay is called (status creating). '
  'Readable by the desk (plans hold no customer data); written only by the autopay functions.';
comment on column public.autopay_plans.razorpay_plan_id is
  'Razorpay''s plan id (plan_...), unique; null until Razorpay answered a create call.';
comment on column public.autopay_plans.period is
  'Razorpay''s billing period of the plan: monthly for every installment policy (quarterly is '
  'monthly with interval 3, half-yearly monthly with interval 6).';
comment on column public.autopay_plans.interval is
  'How many periods between two debits: 1 monthly, 3 quarterly, 6 half-yearly.';
comment on column public.autopay_plans.amount is
  'What each debit takes, in paise (₹1 = 100 paise): the installment amount.';
comment on column public.autopay_plans.currency is 'ISO 4217 currency code: INR only; amount is in paise.';
comment on column public.autopay_plans.status is
  'creating: stored, Razorpay has not answered a create call yet; created: Razorpay has it.';
comment on column public.autopay_plans.last_error is 'Razorpay''s words for the last failed create call; null otherwise.';

create trigger _100_timestamps before update on public.autopay_plans
  for each row execute function private.tg__set_updated_at();

create table public.autopay_mandates (
  id uuid primary key default gen_random_uuid(),
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  autopay_plan_id uuid not null references public.autopay_plans (id) on delete restrict,
  razorpay_plan_id text check (razorpay_plan_id ~ '^plan_[A-Za-z0-9_]+$'),
  razorpay_subscription_id text unique check (razorpay_subscription_id ~ '^sub_[A-Za-z0-9_]+$'),
  short_url text,
  status text not null default 'creating'
    check (status in ('creating', 'created', 'authenticated', 'active', 'pending', 'halted',
                      'paused', 'cancelled', 'completed', 'expired', 'failed')),
  installment_amount bigint not null check (installment_amount >= 100),
  period text not null check (period in ('daily', 'weekly', 'monthly', 'yearly')),
  "interval" integer not null check ("interval" between 1 and 12),
  total_count integer not null check (total_count between 1 and 120),
  paid_count integer not null default 0 check (paid_count >= 0),
  start_at timestamptz not null,
  expire_by timestamptz not null,
  charge_at timestamptz,
  max_amount bigint not null check (max_amount >= installment_amount),
  pause_reason text
    check (pause_reason in ('notice_missing', 'notice_not_sent', 'notice_undelivered')),
  pause_requested_at timestamptz,
  pause_installment_id uuid references public.outstanding_amounts (id) on delete restrict,
  fallback_installment_id uuid references public.outstanding_amounts (id) on delete restrict,
  fallback_requested_at timestamptz,
  fallback_link_id uuid references public.payment_links (id) on delete restrict,
  fallback_reminded_at timestamptz,
  status_changed_at timestamptz,
  created_by uuid references auth.users (id) on delete set null,
  last_error text,
  reconcile_after timestamptz,
  polled_at timestamptz,
  action_after timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (status in ('creating', 'failed') or razorpay_subscription_id is not null),
  check ((pause_reason is null) = (pause_requested_at is null)),
  check ((fallback_installment_id is null) = (fallback_requested_at is null))
);

comment on table public.autopay_mandates is
  'Autopay of a renewal case''s installments: one Razorpay subscription (an e-mandate or UPI '
  'AutoPay the customer authorises at short_url) that debits each installment on its due date. '
  'Stored before Razorpay is called (status creating). Every debit needs a pre-debit notice '
  'logged in autopay_debit_notices at least 24 hours before; without one the mandate is paused '
  'and the installment falls back to a payment link. Visible with its case; written only by the '
  'autopay functions.';
comment on column public.autopay_mandates.case_id is 'The renewal case whose installments it pays (renewal_cases.id).';
comment on column public.autopay_mandates.autopay_plan_id is 'The plan it subscribes to (autopay_plans.id).';
comment on column public.autopay_mandates.razorpay_plan_id is
  'Razorpay''s plan id (plan_...) the subscription uses; null until the plan exists at Razorpay.';
comment on column public.autopay_mandates.razorpay_subscription_id is
  'Razorpay''s subscription id (sub_...), unique; null until Razorpay answered the create call.';
comment on column public.autopay_mandates.short_url is
  'Where the customer authorises the mandate (https://rzp.io/...); null until created.';
comment on column public.autopay_mandates.status is
  'Razorpay''s state of the subscription, plus ours. creating: stored, Razorpay not yet answered; '
  'created: waiting for the customer to authorise; authenticated: authorised, no debit yet; '
  'active: debiting; pending: a debit failed, Razorpay retries; halted: retries exhausted, no '
  'more debits; paused: paused (by us when a pre-debit notice was missing); cancelled: cancelled; '
  'completed: every debit done; expired: never authorised in time; failed: Razorpay refused the '
  'create call for good. cancelled, completed, expired and failed are final.';
comment on column public.autopay_mandates.installment_amount is
  'Paise (₹1 = 100 paise) each debit takes: the amount every open installment owed when it was opened.';
comment on column public.autopay_mandates.period is 'Razorpay''s billing period of its plan (monthly).';
comment on column public.autopay_mandates.interval is 'Periods between debits: 1 monthly, 3 quarterly, 6 half-yearly.';
comment on column public.autopay_mandates.total_count is 'How many debits Razorpay makes: the installments open when it was opened.';
comment on column public.autopay_mandates.paid_count is 'How many debits Razorpay reports made (its paid_count).';
comment on column public.autopay_mandates.start_at is
  'The first debit: the next open installment''s due date at 10:00 IST.';
comment on column public.autopay_mandates.expire_by is
  'Until when the customer may authorise it (36 hours before start_at, so the first pre-debit '
  'notice can go 24 hours ahead); Razorpay expires it after.';
comment on column public.autopay_mandates.charge_at is
  'The next debit as Razorpay last said (its charge_at); null until known.';
comment on column public.autopay_mandates.max_amount is
  'The mandate limit in paise when it was opened (setting AUTOPAY_MANDATE_LIMIT_PAISE, RBI''s '
  'e-mandate limit for insurance premiums without an additional factor of authentication).';
comment on column public.autopay_mandates.pause_reason is
  'Why we asked for a pause, null otherwise: notice_missing (no pre-debit notice logged for a '
  'debit within 24 hours), notice_not_sent (logged but not sent 24 hours ahead), '
  'notice_undelivered (blocked, failed, undeliverable, cancelled or dead).';
comment on column public.autopay_mandates.pause_requested_at is 'When the notice job asked for the pause; null otherwise.';
comment on column public.autopay_mandates.pause_installment_id is
  'The installment whose debit had no proper notice (outstanding_amounts.id); null otherwise.';
comment on column public.autopay_mandates.fallback_installment_id is
  'The installment to collect by payment link instead (a failed debit, a halt or a pause); null '
  'when none.';
comment on column public.autopay_mandates.fallback_requested_at is 'When the fallback was asked for; null when none.';
comment on column public.autopay_mandates.fallback_link_id is 'The payment link opened for the fallback (payment_links.id).';
comment on column public.autopay_mandates.fallback_reminded_at is
  'When the payment_link_reminder carrying that link was queued; null while not yet.';
comment on column public.autopay_mandates.status_changed_at is
  'When Razorpay created the event (or answer) that set the status: an older event never '
  'overrides a newer one.';
comment on column public.autopay_mandates.created_by is
  'The desk user who opened it (profiles.id), from their session; null for the backend.';
comment on column public.autopay_mandates.last_error is 'Razorpay''s words for the last failed call; null otherwise.';
comment on column public.autopay_mandates.reconcile_after is
  'When the reconciliation next looks the subscription up at Razorpay (a lost answer or '
  'webhook); null once final. Also the lease of the runner that claimed a lookup.';
comment on column public.autopay_mandates.polled_at is
  'When the reconciliation last claimed a lookup of a creating mandate; null when never.';
comment on column public.autopay_mandates.action_after is
  'Lease of the runner that claimed an action on it (pause, cancel, link fallback): not claimed '
  'again before; null when never claimed.';

create unique index autopay_mandates_live_case_key on public.autopay_mandates (case_id)
  where status not in ('cancelled', 'completed', 'expired', 'failed');
create index autopay_mandates_case_idx on public.autopay_mandates (case_id, created_at desc);
create index autopay_mandates_plan_idx on public.autopay_mandates (autopay_plan_id);
create index autopay_mandates_created_by_idx on public.autopay_mandates (created_by);
create index autopay_mandates_pause_installment_idx on public.autopay_mandates (pause_installment_id);
create index autopay_mandates_fallback_installment_idx on public.autopay_mandates (fallback_installment_id);
create index autopay_mandates_fallback_link_idx on public.autopay_mandates (fallback_link_id);
create index autopay_mandates_reconcile_idx on public.autopay_mandates (reconcile_after)
  where status not in ('cancelled', 'completed', 'expired', 'failed');

create trigger _100_timestamps before update on public.autopay_mandates
  for each row execute function private.tg__set_updated_at();

create table public.autopay_debit_notices (
  id uuid primary key default gen_random_uuid(),
  autopay_mandate_id uuid not null references public.autopay_mandates (id) on delete restrict,
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  outstanding_amount_id uuid not null references public.outstanding_amounts (id) on delete restrict,
  amount bigint not null check (amount >= 100),
  charge_at timestamptz not null,
  message_id uuid references public.messages (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (autopay_mandate_id, outstanding_amount_id)
);

comment on table public.autopay_debit_notices is
  'The pre-debit notice of each autopay debit (one per mandate and installment), queued through '
  'the outbox at least 24 hours before the debit (RBI''s e-mandate rule: no debit without a '
  'notice). Visible with its case; written only by the notice job.';
comment on column public.autopay_debit_notices.autopay_mandate_id is 'The mandate that will debit (autopay_mandates.id).';
comment on column public.autopay_debit_notices.case_id is 'The renewal case of that mandate (renewal_cases.id).';
comment on column public.autopay_debit_notices.outstanding_amount_id is 'The installment the debit pays (outstanding_amounts.id).';
comment on column public.autopay_debit_notices.amount is 'Paise (₹1 = 100 paise) the notice says will be debited.';
comment on column public.autopay_debit_notices.charge_at is 'When the notice says the debit happens.';
comment on column public.autopay_debit_notices.message_id is
  'The autopay_pre_debit_notice message (messages.id): its status says whether the customer was '
  'told; null when no message could be queued (no active template).';

create index autopay_debit_notices_case_idx on public.autopay_debit_notices (case_id);
create index autopay_debit_notices_installment_idx on public.autopay_debit_notices (outstanding_amount_id);
create index autopay_debit_notices_message_idx on public.autopay_debit_notices (message_id);

alter table public.payments
  add column autopay_mandate_id uuid references public.autopay_mandates (id) on delete restrict;
create index payments_autopay_mandate_idx on public.payments (autopay_mandate_id);
comment on column public.payments.autopay_mandate_id is
  'The autopay mandate whose debit it is (autopay_mandates.id); null for Checkout and links.';

insert into public.app_settings (key, value, description) values
  ('AUTOPAY_MANDATE_LIMIT_PAISE', '10000000',
   'Largest installment autopay may debit, in paise (10000000 = ₹1,00,000). RBI''s e-mandate '
   'framework lets recurring debits up to ₹15,000 run without an additional factor of '
   'authentication, raised to ₹1,00,000 for insurance premiums, mutual fund subscriptions and '
   'credit card bills (RBI circular RBI/2023-24/94, 12 Dec 2023, "Processing of e-mandates for '
   'recurring transactions"). A larger installment is paid by link.'),
  ('AUTOPAY_MIN_LEAD', '"48 hours"',
   'How far ahead the first autopay debit must be when a mandate is opened (an interval): time '
   'for the customer to authorise it and for the 24-hour pre-debit notice.');

-- Row-level security: the desk reads mandates and notices of the cases it sees, and the plans;
-- nobody writes them through the API roles (the autopay functions are security definer).
alter table public.autopay_plans enable row level security;
alter table public.autopay_mandates enable row level security;
alter table public.autopay_debit_notices enable row level security;
revoke all on public.autopay_plans, public.autopay_mandates, public.autopay_debit_notices
  from anon, authenticated, service_role;
grant select on public.autopay_plans, public.autopay_mandates, public.autopay_debit_notices
  to authenticated, service_role;

create policy autopay_plans_select_member on public.autopay_plans
  for select to authenticated
  using ((select private.is_desk_member()));

create policy autopay_mandates_select_member on public.autopay_mandates
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = autopay_mandates.case_id));

create policy autopay_debit_notices_select_member on public.autopay_debit_notices
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = autopay_debit_notices.case_id));
