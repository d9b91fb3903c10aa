-- The payment ledger: where each rupee of a Razorpay payment went.
--   payments              one row per Razorpay payment (pay_...), now unique and required; an
--                         order has many attempts, so the order id is no longer unique. Which
--                         installment a payment paid moves to payment_allocations (a payment can
--                         pay several, and several payments one), and the column goes.
--   payment_allocations   paise of a payment credited to an installment; a refund's reversal is a
--                         negative row naming the refund. Insert-only.
--   outstanding_amounts   gain amount_paid: what allocations brought so far, so a partial payment
--                         leaves its installment pending with the rest still owed.
--   refunds               refunds asked by admins, reserved from the payment until Razorpay
--                         processes or fails them.
-- public.case_outstanding() now counts what is left of each open installment.
-- Rows written before this change were the shape only (no flow filled them): payments without a
-- Razorpay payment id were orders nobody paid and are removed; captured payments count as
-- already credited so that no webhook credits them again.

delete from public.payments where razorpay_payment_id is null and status = 'created';

alter table public.payments
  drop constraint payments_razorpay_order_id_key,
  alter column razorpay_payment_id set not null,
  add constraint payments_razorpay_payment_id_format
    check (razorpay_payment_id ~ '^pay_[A-Za-z0-9_]+$') not valid,
  add column payment_order_id uuid references public.payment_orders (id) on delete restrict,
  add column payment_link_id uuid references public.payment_links (id) on delete restrict,
  add column amount_refunded bigint not null default 0,
  add column credited_at timestamptz,
  add column credited_via text check (credited_via in ('webhook', 'verify', 'reconcile')),
  add column checkout_verified_at timestamptz,
  add column attempted_at timestamptz,
  add column review_reason text
    check (review_reason in ('order_expired', 'case_closed', 'nothing_due', 'overpaid',
                             'currency_mismatch', 'refunded_after_close')),
  add column error_code text,
  add column reconcile_after timestamptz,
  add constraint payments_amount_refunded_range check (amount_refunded between 0 and amount);

update public.payments set credited_at = coalesce(captured_at, updated_at)
 where status in ('captured', 'refunded') and credited_at is null;

drop index public.payments_outstanding_amount_id_idx;
alter table public.payments drop column outstanding_amount_id;

create index payments_order_idx on public.payments (razorpay_order_id);
create index payments_payment_order_idx on public.payments (payment_order_id);
create index payments_payment_link_idx on public.payments (payment_link_id);
create index payments_reconcile_idx on public.payments (reconcile_after) where status = 'authorized';
create index payments_review_idx on public.payments (review_reason) where review_reason is not null;

comment on table public.payments is
  'Premium payments for a renewal case, one row per Razorpay payment (pay_...), as Razorpay '
  'reports them: by webhook, checkout verification or reconciliation, whichever comes first. '
  'Credited once (credited_at) to installments through payment_allocations. No card data: '
  'Razorpay Checkout keeps it. Visible with its case; written only by the payment functions.';
comment on column public.payments.razorpay_order_id is
  'Razorpay''s order id (order_...) the payment was made against; an order may have several '
  'attempts, hence several payments.';
comment on column public.payments.razorpay_payment_id is 'Razorpay''s payment id (pay_...), unique.';
comment on column public.payments.payment_order_id is 'Our order it paid (payment_orders.id); null for a payment link.';
comment on column public.payments.payment_link_id is 'Our payment link it paid (payment_links.id); null for an order.';
comment on column public.payments.amount_refunded is
  'Paise (₹1 = 100 paise) refunded to the customer so far (refunds processed by Razorpay).';
comment on column public.payments.credited_at is
  'When the payment was credited to installments (once, whatever path saw it first); null while '
  'not captured, or when flagged for refund instead (review_reason).';
comment on column public.payments.credited_via is
  'The path that credited it: webhook, verify (checkout verification, after a fetch from '
  'Razorpay) or reconcile (the reconciliation poll).';
comment on column public.payments.checkout_verified_at is
  'When the browser''s Checkout signature was verified; recorded only, never trusted alone.';
comment on column public.payments.attempted_at is 'When the customer made the payment, as Razorpay says (its created_at).';
comment on column public.payments.review_reason is
  'Why the payment needs an admin, null when clean. order_expired: authorised after its order '
  'expired; case_closed: its case was closed; nothing_due: nothing was owed (not credited, a '
  'refund-due message went to the customer); overpaid: more than owed, the surplus is kept '
  'unallocated for a refund; currency_mismatch: not in INR; refunded_after_close: a refund '
  'reached money of a closed case.';
comment on column public.payments.error_code is 'Razorpay''s error_code of a failed payment; null otherwise.';
comment on column public.payments.reconcile_after is
  'For an authorised payment: when the reconciliation asks Razorpay about it (and captures it); '
  'null otherwise. Also the lease of the runner that claimed it.';
comment on column public.payments.status is
  'Razorpay''s state of the payment (see type payment_status); it only moves forward: a late '
  'failure report never downgrades a captured payment.';

create table public.refunds (
  id uuid primary key default gen_random_uuid(),
  payment_id uuid not null references public.payments (id) on delete restrict,
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  razorpay_refund_id text unique check (razorpay_refund_id ~ '^rfnd_[A-Za-z0-9_]+$'),
  amount bigint not null check (amount > 0),
  reason text not null check (length(btrim(reason)) between 1 and 500),
  status text not null default 'creating' check (status in ('creating', 'pending', 'processed', 'failed')),
  idempotency_key text not null unique check (idempotency_key ~ '^[A-Za-z0-9_-]{10,64}$'),
  requested_by uuid references auth.users (id) on delete set null,
  failure_reason text,
  processed_at timestamptz,
  reconcile_after timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'processed') = (processed_at is not null))
);

comment on table public.refunds is
  'Refunds of Razorpay payments, asked by admins (or found at Razorpay when made elsewhere). An '
  'unfailed refund reserves its amount from the payment; a processed one reverses the payment''s '
  'unallocated surplus first, then its allocations newest first. Visible with its case.';
comment on column public.refunds.payment_id is 'The payment refunded (payments.id).';
comment on column public.refunds.case_id is 'The renewal case of that payment (renewal_cases.id).';
comment on column public.refunds.razorpay_refund_id is 'Razorpay''s refund id (rfnd_...); null until Razorpay answered.';
comment on column public.refunds.amount is 'Amount refunded in paise (₹1 = 100 paise).';
comment on column public.refunds.reason is 'Why it was refunded, as the admin wrote it (required).';
comment on column public.refunds.status is
  'creating: stored, Razorpay not yet answered; pending: Razorpay accepted it; processed: the '
  'money went back (installments reflect it); failed: Razorpay refused or failed it (the '
  'reservation is released).';
comment on column public.refunds.idempotency_key is
  'Sent as X-Refund-Idempotency: a repeated create call returns the same refund at Razorpay.';
comment on column public.refunds.requested_by is 'The admin who asked for it (profiles.id); null when found at Razorpay.';
comment on column public.refunds.failure_reason is 'Why it failed, as Razorpay says; null otherwise.';
comment on column public.refunds.processed_at is 'When Razorpay reported it processed.';
comment on column public.refunds.reconcile_after is
  'When the reconciliation next asks Razorpay about it; null once processed or failed. Also the '
  'lease of the runner that claimed it.';

create index refunds_payment_idx on public.refunds (payment_id);
create index refunds_case_idx on public.refunds (case_id);
create index refunds_requested_by_idx on public.refunds (requested_by);
create index refunds_reconcile_idx on public.refunds (reconcile_after) where status in ('creating', 'pending');

create trigger _100_timestamps before update on public.refunds
  for each row execute function private.tg__set_updated_at();

create table public.payment_allocations (
  id uuid primary key default gen_random_uuid(),
  payment_id uuid not null references public.payments (id) on delete restrict,
  case_id uuid not null references public.renewal_cases (id) on delete restrict,
  outstanding_amount_id uuid not null references public.outstanding_amounts (id) on delete restrict,
  amount bigint not null check (amount <> 0),
  refund_id uuid references public.refunds (id) on delete restrict,
  created_at timestamptz not null default now(),
  check ((amount < 0) = (refund_id is not null))
);

comment on table public.payment_allocations is
  'Where a payment''s money went: paise credited to an installment (positive), or taken back from '
  'it by a refund (negative, naming the refund). Insert-only; the sum per installment is its '
  'amount_paid from online payments. Visible with its case.';
comment on column public.payment_allocations.payment_id is 'The payment (payments.id).';
comment on column public.payment_allocations.case_id is 'The renewal case of the installment (renewal_cases.id).';
comment on column public.payment_allocations.outstanding_amount_id is 'The installment credited or debited (outstanding_amounts.id).';
comment on column public.payment_allocations.amount is
  'Paise (₹1 = 100 paise) credited to the installment; negative when a refund took it back.';
comment on column public.payment_allocations.refund_id is 'The refund that reversed it (refunds.id); null for a credit.';

create index payment_allocations_payment_idx on public.payment_allocations (payment_id, created_at);
create index payment_allocations_case_idx on public.payment_allocations (case_id);
create index payment_allocations_installment_idx on public.payment_allocations (outstanding_amount_id);
create index payment_allocations_refund_idx on public.payment_allocations (refund_id);

alter table public.outstanding_amounts
  add column amount_paid bigint not null default 0,
  add constraint outstanding_amounts_amount_paid_range check (amount_paid between 0 and amount);

comment on column public.outstanding_amounts.amount_paid is
  'Paise (₹1 = 100 paise) of the installment paid online so far (the sum of its allocations); a '
  'partial payment leaves it pending with amount - amount_paid still owed. An installment settled '
  'on the desk keeps what was paid online before.';

create or replace function public.case_outstanding(case_id uuid) returns bigint
language sql stable
set search_path = ''
as $$
  select coalesce(sum(o.amount - o.amount_paid), 0)::bigint
    from public.outstanding_amounts o
   where o.case_id = case_outstanding.case_id
     and o.status in ('pending', 'overdue')
$$;

comment on function public.case_outstanding(uuid) is
  'Paise still owed on a renewal case: what is left of its pending and overdue installments '
  '(amount - amount_paid; 0 when settled). Security invoker: a caller who cannot see the case''s '
  'installments gets 0.';

-- Row-level security: read with the case; written by the payment functions only.
alter table public.refunds enable row level security;
alter table public.payment_allocations enable row level security;
revoke all on public.refunds, public.payment_allocations from anon, authenticated, service_role;
grant select on public.refunds, public.payment_allocations to authenticated, service_role;

create policy refunds_select_member on public.refunds
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = refunds.case_id));

create policy payment_allocations_select_member on public.payment_allocations
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = payment_allocations.case_id));
