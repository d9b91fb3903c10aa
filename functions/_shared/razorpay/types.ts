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

/** `{entity: …}` wrapper of each entity in a webhook's payload. */
function wrapped<T extends z.ZodType>(schema: T) {
  return z.looseObject({ entity: schema });
}

/**
 * A webhook body (VENDORS.md §4): `{entity:"event", account_id:"acc_…", event, contains,
 * payload, created_at}`. `payload` holds a snapshot of each entity named in `contains` at the
 * time of the event (`order.paid` carries order and payment). Subscriptions are kept loose until
 * the autopay slice reads them.
 */
export const RazorpayWebhookSchema = z.looseObject({
  entity: z.literal("event"),
  account_id: z.string(),
  /** e.g. `payment.captured`, `order.paid`, `payment_link.partially_paid`, `refund.processed`. */
  event: z.string().min(1),
  contains: z.array(z.string()),
  payload: z.looseObject({
    payment: wrapped(RazorpayPaymentSchema).optional(),
    order: wrapped(RazorpayOrderSchema).optional(),
    payment_link: wrapped(RazorpayPaymentLinkSchema).optional(),
    refund: wrapped(RazorpayRefundSchema).optional(),
    subscription: wrapped(z.looseObject({ id: z.string() })).optional(),
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
