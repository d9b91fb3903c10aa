// Razorpay's entities as its REST API and webhooks carry them (VENDORS.md §4; Razorpay API
// reference: orders, payments, payment links, refunds, webhooks payloads), as zod schemas that
// check the fields we rely on and keep every other field (Razorpay adds fields without notice).
// Money is integer paise (`amount: 50000` = ₹500.00); times are unix seconds.
import { z } from "zod";

/** Paise: a non-negative integer (Razorpay's amounts are in the currency's smallest unit). */
const paise = z.number().int().nonnegative();
/** Unix seconds. */
const unixSeconds = z.number().int();

/**
 * `notes`: up to 15 key-value pairs (≤256 characters each). Razorpay answers `[]` (an empty
 * PHP array) when there are none; that is read as `{}`.
 */
export const RazorpayNotesSchema = z.preprocess(
  (value) => (Array.isArray(value) && value.length === 0 ? {} : value),
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
);
/** Notes, as read. */
export type RazorpayNotes = z.infer<typeof RazorpayNotesSchema>;

/** Order statuses: `created` → `attempted` (a payment was tried) → `paid` (fully captured). */
export const OrderStatusSchema = z.enum(["created", "attempted", "paid"]);

/** An order (`order_` + 14 alphanumerics): what Checkout is opened on. Razorpay docs orders. */
export const RazorpayOrderSchema = z.looseObject({
  id: z.string().startsWith("order_"),
  entity: z.literal("order"),
  /** Paise. */
  amount: paise,
  /** Paise captured so far. */
  amount_paid: paise,
  /** Paise still due (amount − amount_paid). */
  amount_due: paise,
  currency: z.string(),
  /** Our reference (≤40 characters), null when none was given. */
  receipt: z.string().nullable(),
  status: OrderStatusSchema,
  /** Payment attempts made on the order. */
  attempts: z.number().int().nonnegative(),
  notes: RazorpayNotesSchema.optional(),
  created_at: unixSeconds,
});
/** An order. */
export type RazorpayOrder = z.infer<typeof RazorpayOrderSchema>;

/**
 * Payment statuses: `created` → `authorized` (money blocked) → `captured` (ours) → `refunded`
 * (wholly); or `failed`.
 */
export const PaymentStatusSchema = z.enum([
  "created",
  "authorized",
  "captured",
  "refunded",
  "failed",
]);

/** A payment (`pay_…`): one attempt by the customer. Razorpay docs payments/fetch-with-id. */
export const RazorpayPaymentSchema = z.looseObject({
  id: z.string().startsWith("pay_"),
  entity: z.literal("payment"),
  /** Paise. */
  amount: paise,
  currency: z.string(),
  status: PaymentStatusSchema,
  /** The order it pays (null for payments made without one). */
  order_id: z.string().nullable().optional(),
  /** The invoice it pays (`inv_…`): set on a subscription's charges, null otherwise. */
  invoice_id: z.string().nullable().optional(),
  /** `cust_…` for a subscription's charges. */
  customer_id: z.string().nullable().optional(),
  /** `card`, `upi`, `netbanking`, `wallet`, `emi`… */
  method: z.string().nullable().optional(),
  /** Paise refunded so far. */
  amount_refunded: paise.optional(),
  /** `null`, `partial` or `full`. */
  refund_status: z.string().nullable().optional(),
  captured: z.boolean().optional(),
  description: z.string().nullable().optional(),
  email: z.string().nullable().optional(),
  contact: z.string().nullable().optional(),
  notes: RazorpayNotesSchema.optional(),
  /** Razorpay's fee and its GST, in paise (null until captured). */
  fee: paise.nullable().optional(),
  tax: paise.nullable().optional(),
  /** For a failed payment, e.g. `BAD_REQUEST_ERROR`; null otherwise. */
  error_code: z.string().nullable().optional(),
  error_description: z.string().nullable().optional(),
  error_source: z.string().nullable().optional(),
  error_step: z.string().nullable().optional(),
  error_reason: z.string().nullable().optional(),
  created_at: unixSeconds,
});
/** A payment. */
export type RazorpayPayment = z.infer<typeof RazorpayPaymentSchema>;

/** Payment-link statuses. */
export const PaymentLinkStatusSchema = z.enum([
  "created",
  "partially_paid",
  "paid",
  "expired",
  "cancelled",
]);

/** One payment of a link, as the link lists it. */
export const PaymentLinkPaymentSchema = z.looseObject({
  payment_id: z.string(),
  /** Paise. */
  amount: paise,
  status: z.string(),
  method: z.string().nullable().optional(),
  created_at: unixSeconds.optional(),
});

/** A payment link (`plink_…`). Razorpay docs payment-links/create-standard. */
export const RazorpayPaymentLinkSchema = z.looseObject({
  id: z.string().startsWith("plink_"),
  /** Paise. */
  amount: paise,
  /** Paise paid so far (several payments when partial payments are allowed). */
  amount_paid: paise,
  currency: z.string(),
  accept_partial: z.boolean(),
  /** Paise; the smallest first payment when accept_partial. */
  first_min_partial_amount: paise.nullable().optional(),
  description: z.string().nullable().optional(),
  /** Our unique reference (≤40 characters). */
  reference_id: z.string().nullable().optional(),
  short_url: z.string(),
  status: PaymentLinkStatusSchema,
  /** Unix seconds; 0 or null when it never expires. */
  expire_by: unixSeconds.nullable().optional(),
  expired_at: unixSeconds.nullable().optional(),
  cancelled_at: unixSeconds.nullable().optional(),
  /** The order Razorpay made for the link, once a payment was tried. */
  order_id: z.string().nullable().optional(),
  customer: z.looseObject({
    name: z.string().nullable().optional(),
    email: z.string().nullable().optional(),
    contact: z.string().nullable().optional(),
  }).optional(),
  notify: z.looseObject({ sms: z.boolean().optional(), email: z.boolean().optional() })
    .optional(),
  notes: RazorpayNotesSchema.nullable().optional(),
  payments: z.array(PaymentLinkPaymentSchema).nullable().optional(),
  created_at: unixSeconds,
  updated_at: unixSeconds.optional(),
});
/** A payment link. */
export type RazorpayPaymentLink = z.infer<typeof RazorpayPaymentLinkSchema>;

/** Refund statuses: `pending` until the bank settles it, then `processed` or `failed`. */
export const RefundStatusSchema = z.enum(["pending", "processed", "failed"]);

/** A refund (`rfnd_…`). Razorpay docs refunds. */
export const RazorpayRefundSchema = z.looseObject({
  id: z.string().startsWith("rfnd_"),
  entity: z.literal("refund"),
  /** Paise. */
  amount: paise,
  currency: z.string(),
  payment_id: z.string(),
  status: RefundStatusSchema,
  notes: RazorpayNotesSchema.optional(),
  receipt: z.string().nullable().optional(),
  /** `normal` or `optimum`. */
  speed_requested: z.string().optional(),
  speed_processed: z.string().optional(),
  created_at: unixSeconds,
});
/** A refund. */
export type RazorpayRefund = z.infer<typeof RazorpayRefundSchema>;

/**
 * A plan's billing period; with `interval` it makes the cycle (`monthly` × 3 = quarterly).
 * Razorpay docs subscriptions/create-plan: `daily`, `weekly`, `monthly`, `yearly` (the S2S guide
 * also names `quarterly`; we spell a quarter as monthly × 3). Daily plans need interval ≥ 7.
 */
export const PlanPeriodSchema = z.enum(["daily", "weekly", "monthly", "yearly"]);
/** A plan's billing period. */
export type PlanPeriod = z.infer<typeof PlanPeriodSchema>;

/**
 * A plan (`plan_` + 14): what a subscription charges and how often, reusable, never edited or
 * deleted once made. Razorpay docs subscriptions/create-plan (its sample answer).
 */
export const RazorpayPlanSchema = z.looseObject({
  id: z.string().startsWith("plan_"),
  entity: z.literal("plan"),
  /** Cycles of `period` per charge (2 + monthly = every two months). */
  interval: z.number().int().positive(),
  period: PlanPeriodSchema,
  item: z.looseObject({
    /** `item_` + 14. */
    id: z.string().startsWith("item_"),
    name: z.string(),
    description: z.string().nullable().optional(),
    /** Paise charged per cycle (per unit of the subscription's quantity). */
    amount: paise,
    unit_amount: paise.optional(),
    currency: z.string(),
    active: z.boolean().optional(),
  }),
  notes: RazorpayNotesSchema.optional(),
  created_at: unixSeconds,
});
/** A plan. */
export type RazorpayPlan = z.infer<typeof RazorpayPlanSchema>;

/**
 * Subscription statuses (Razorpay docs subscriptions/states, pause-subscription):
 * `created` → `authenticated` (the customer authorised the mandate; start_at in the future) →
 * `active` (cycles charging) → `completed` (every cycle charged). A failed charge → `pending`
 * (retried) → `halted` after the retries (3); `paused` / `active` by pause and resume; `cancelled`
 * (for good); `expired` (not authorised by expire_by).
 */
export const SubscriptionStatusSchema = z.enum([
  "created",
  "authenticated",
  "active",
  "pending",
  "halted",
  "cancelled",
  "completed",
  "expired",
  "paused",
]);
/** A subscription status. */
export type SubscriptionStatus = z.infer<typeof SubscriptionStatusSchema>;

/** A count Razorpay may send as a number or as digits (razorpay_dart types remaining_count String). */
const count = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+$/).transform(Number),
]);

/**
 * A subscription (`sub_` + 14): a plan charged `total_count` times on a mandate the customer
 * authorises at `short_url`. Razorpay docs subscriptions/entity, create-subscription,
 * pause-subscription, resume-subscription (their sample answers). Times unix seconds.
 */
export const RazorpaySubscriptionSchema = z.looseObject({
  id: z.string().startsWith("sub_"),
  entity: z.literal("subscription"),
  plan_id: z.string(),
  /** `cust_…`, set once the customer authorised the mandate. */
  customer_id: z.string().nullable().optional(),
  status: SubscriptionStatusSchema,
  /** The cycle last charged (null before the first charge). */
  current_start: unixSeconds.nullable(),
  current_end: unixSeconds.nullable(),
  /** When it was cancelled or completed. */
  ended_at: unixSeconds.nullable().optional(),
  /** Units of the plan per charge: a charge is item.amount × quantity paise. */
  quantity: z.number().int().positive(),
  notes: RazorpayNotesSchema.nullable().optional(),
  /** When the next charge is due (null when none is). */
  charge_at: unixSeconds.nullable(),
  start_at: unixSeconds.nullable(),
  end_at: unixSeconds.nullable().optional(),
  auth_attempts: z.number().int().nonnegative().optional(),
  total_count: count,
  paid_count: count,
  remaining_count: count.optional(),
  /** Razorpay answers a boolean for the `customer_notify: 0|1` it was created with. */
  customer_notify: z.union([z.boolean(), z.number()]).optional(),
  created_at: unixSeconds,
  /** The last moment the customer may authorise (null when none was set). */
  expire_by: unixSeconds.nullable().optional(),
  /** Where the customer authorises the mandate. */
  short_url: z.string().nullable().optional(),
  has_scheduled_changes: z.boolean().optional(),
  change_scheduled_at: unixSeconds.nullable().optional(),
  /** `upi`, `card`, `emandate`… once authorised. */
  payment_method: z.string().nullable().optional(),
  paused_at: unixSeconds.nullable().optional(),
  pause_initiated_by: z.string().nullable().optional(),
  source: z.string().optional(),
  offer_id: z.string().nullable().optional(),
});
/** A subscription. */
export type RazorpaySubscription = z.infer<typeof RazorpaySubscriptionSchema>;

/**
 * Invoice statuses (Razorpay docs subscriptions/fetch-invoices): a subscription's cycle is
 * `issued` until a charge pays it (`paid`); `draft`, `partially_paid`, `expired`, `cancelled`
 * and `deleted` belong to invoices made by hand.
 */
export const InvoiceStatusSchema = z.enum([
  "draft",
  "issued",
  "partially_paid",
  "paid",
  "expired",
  "cancelled",
  "deleted",
]);
/** An invoice status. */
export type InvoiceStatus = z.infer<typeof InvoiceStatusSchema>;

/**
 * An invoice (`inv_` + 14). A subscription makes one per cycle billed, on an order of its own
 * (`order_id`), paid by the charge whose payment is `payment_id` (null while unpaid). Razorpay
 * docs subscriptions/fetch-invoices (its sample answer). Amounts in paise, times unix seconds.
 */
export const RazorpayInvoiceSchema = z.looseObject({
  id: z.string().startsWith("inv_"),
  entity: z.literal("invoice"),
  /** `cust_…`. */
  customer_id: z.string().nullable().optional(),
  /** The cycle's order; every attempt to charge it is a payment on it. */
  order_id: z.string().nullable().optional(),
  /** `sub_…` for a subscription's invoice, null for one made by hand. */
  subscription_id: z.string().nullable().optional(),
  /** The payment that paid it (`pay_…`), null while unpaid. */
  payment_id: z.string().nullable().optional(),
  status: InvoiceStatusSchema,
  /** Paise billed, paid and still due. */
  amount: paise,
  amount_paid: paise.optional(),
  amount_due: paise.optional(),
  currency: z.string(),
  issued_at: unixSeconds.nullable().optional(),
  paid_at: unixSeconds.nullable().optional(),
  /** The cycle billed. */
  billing_start: unixSeconds.nullable().optional(),
  billing_end: unixSeconds.nullable().optional(),
  short_url: z.string().nullable().optional(),
  created_at: unixSeconds,
});
/** An invoice. */
export type RazorpayInvoice = z.infer<typeof RazorpayInvoiceSchema>;

/** `{entity: …}` wrapper of each entity in a webhook's payload. */
function wrapped<T extends z.ZodType>(schema: T) {
  return z.looseObject({ entity: schema });
}

/**
 * A webhook body (VENDORS.md §4): `{entity:"event", account_id:"acc_…", event, contains,
 * payload, created_at}`. `payload` holds a snapshot of each entity named in `contains` at the
 * time of the event (`order.paid` carries order and payment). Every `subscription.*` event
 * carries the subscription, and the payment too when one was tried before it (Razorpay docs
 * webhooks/subscriptions): `subscription.charged` = subscription + the captured payment (its
 * `invoice_id` and `order_id` set), `subscription.pending` / `halted` = + the failed payment,
 * `subscription.authenticated` = + the mandate's authorisation payment (never premium money).
 */
export const RazorpayWebhookSchema = z.looseObject({
  entity: z.literal("event"),
  account_id: z.string(),
  /**
   * e.g. `payment.captured`, `order.paid`, `payment_link.partially_paid`, `refund.processed`,
   * `subscription.charged`.
   */
  event: z.string().min(1),
  contains: z.array(z.string()),
  payload: z.looseObject({
    payment: wrapped(RazorpayPaymentSchema).optional(),
    order: wrapped(RazorpayOrderSchema).optional(),
    payment_link: wrapped(RazorpayPaymentLinkSchema).optional(),
    refund: wrapped(RazorpayRefundSchema).optional(),
    subscription: wrapped(RazorpaySubscriptionSchema).optional(),
  }),
  /** Unix seconds when the event was made (retries keep it). */
  created_at: unixSeconds,
});
/** A webhook body. */
export type RazorpayWebhook = z.infer<typeof RazorpayWebhookSchema>;

/** The error envelope's inner object (VENDORS.md §4: "NA" in source/step/reason for auth). */
export const RazorpayErrorBodySchema = z.looseObject({
  code: z.string(),
  description: z.string().optional(),
  field: z.string().nullable().optional(),
  source: z.string().nullable().optional(),
  step: z.string().nullable().optional(),
  reason: z.string().nullable().optional(),
  metadata: z.unknown().optional(),
});

/** `{error: {...}}`, every non-2xx answer of the REST API. */
export const RazorpayErrorEnvelopeSchema = z.looseObject({ error: RazorpayErrorBodySchema });
