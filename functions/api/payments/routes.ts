// /api/cases/{caseId}/payments, .../payments/verify, .../payment-links, .../payment-history and
// /api/payments/{id}/refund: collecting a renewal premium through Razorpay. Amounts are always
// the database's (integer paise); the browser pays on Razorpay Checkout or a payment link, so no
// card data reaches us. Money is credited only by a signed webhook or a fetch from Razorpay.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull, Paise, PaymentStatus } from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

const CaseParams = z.object({ caseId: uuidParam("caseId", "Case id") });
const PaymentParams = z.object({ id: uuidParam("id", "Payment id (payments.id)") });

const razorpayProblems = {
  502: problem("Razorpay refused the request; its description is in the detail"),
  503: problem(
    "Razorpay is not configured, or did not answer: nothing is lost, the request is " +
      "reconciled; try again shortly",
  ),
};

/** Which installments to pay, and the amount the client believes is due (checked, never used). */
export const NewOrderSchema = z.object({
  installment_ids: z.array(z.guid()).min(1).max(12).refine(
    (ids) => new Set(ids).size === ids.length,
    "installments are listed once",
  ).optional().openapi({ description: "Default: every pending and overdue installment" }),
  amount: Paise.optional().openapi({
    description: "What the client shows the customer, in paise; refused (PY011) unless it is " +
      "exactly what the database says is due",
  }),
}).openapi("NewPaymentOrder");

/** What Razorpay Checkout needs to open (key id, order id, amount) and how to prefill it. */
export const CheckoutOrderSchema = z.object({
  payment_order_id: z.guid(),
  order_id: z.string().openapi({ example: "order_IluGWxBm9U8zJ8", description: "Razorpay's" }),
  key_id: z.string().openapi({ example: "rzp_test_1DP5mmOlF5G5ag" }),
  amount: Paise,
  currency: z.string().openapi({ example: "INR" }),
  receipt: z.string(),
  expires_at: DateTime.openapi({
    description: "After this a payment on the order is flagged for refund, not credited",
  }),
  reused: z.boolean().openapi({
    description: "An open order for the same installments was answered, not a new one",
  }),
  prefill: z.object({
    name: z.string(),
    email: orNull(z.string()),
    contact: orNull(z.string()),
  }),
  notes: z.object({ case_number: z.string() }),
}).openapi("CheckoutOrder");

/** POST /cases/{caseId}/payments. */
export const createPaymentOrder = createRoute({
  operationId: "createPaymentOrder",
  method: "post",
  path: "/cases/{caseId}/payments",
  tags: ["Payments"],
  summary: "A Razorpay order for a case's due installments, for Razorpay Checkout",
  description: "The amount is what the database says is due for the chosen installments (all " +
    "open ones by default). An open order for the same installments is answered again rather " +
    "than a second one created. The order is recorded before Razorpay is called, so a crash " +
    "in between is reconciled, never duplicated.",
  ...signedIn,
  request: { params: CaseParams, body: jsonBody(NewOrderSchema) },
  responses: {
    201: json("A new order", CheckoutOrderSchema),
    200: json("The case's open order for the same installments", CheckoutOrderSchema),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
    409: problem(
      "Nothing is due on the case (PY010), the case is closed (PY006), or its customer was " +
        "erased (55000)",
    ),
    422: problem(
      "The request did not match the schema, an installment is not open on this case, or the " +
        "amount disagrees with what is due (PY011)",
    ),
    ...razorpayProblems,
  },
});

/** What Razorpay Checkout hands the browser after a payment (its handler's response). */
export const CheckoutResultSchema = z.object({
  razorpay_order_id: z.string().regex(/^order_[A-Za-z0-9]{1,40}$/),
  razorpay_payment_id: z.string().regex(/^pay_[A-Za-z0-9]{1,40}$/),
  razorpay_signature: z.string().regex(/^[0-9a-f]{64}$/).openapi({
    description: "Hex HMAC-SHA256 of order_id|payment_id with the key secret",
  }),
}).openapi("CheckoutResult");

/** The payment after verification, as Razorpay reports it now. */
export const VerificationSchema = z.object({
  verified: z.literal(true),
  payment_id: z.guid(),
  status: PaymentStatus,
  outcome: z.enum(["credited", "already_credited", "recorded", "flagged"]).openapi({
    description: "credited: this call credited it; already_credited: a webhook or an earlier " +
      "call did; recorded: not captured yet (the webhook will credit it); flagged: kept for a " +
      "refund (the order had expired, or the case owed nothing)",
  }),
  outstanding: Paise,
}).openapi("CheckoutVerification");

/** POST /cases/{caseId}/payments/verify. */
export const verifyPayment = createRoute({
  operationId: "verifyPayment",
  method: "post",
  path: "/cases/{caseId}/payments/verify",
  tags: ["Payments"],
  summary: "Verify Razorpay Checkout's signature, then ask Razorpay for the payment",
  description: "The signature is checked over the order id we stored for this case, in " +
    "constant time. It is recorded, never trusted alone: the payment is fetched from Razorpay " +
    "and credited only when Razorpay says it is captured (the webhook does the same, once).",
  ...signedIn,
  request: { params: CaseParams, body: jsonBody(CheckoutResultSchema) },
  responses: {
    200: json("The verified payment", VerificationSchema),
    ...commonProblems,
    400: problem("The signature does not match this order and payment"),
    404: problem("No such case or order of the case, or not yours to see"),
    ...razorpayProblems,
  },
});

/** A payment link for a case or one installment. */
export const NewPaymentLinkSchema = z.object({
  outstanding_amount_id: z.guid().optional().openapi({
    description: "One installment; default: everything due on the case",
  }),
  accept_partial: z.boolean().default(false).openapi({
    description: "Whether the customer may pay in parts, where the product line allows it " +
      "(setting PARTIAL_PAYMENTS)",
  }),
  first_min_partial_amount: Paise.optional().openapi({
    description: "The least first part, in paise; default the product line's minimum",
  }),
}).openapi("NewPaymentLink");

/** A Razorpay payment link of ours. */
export const PaymentLinkSchema = z.object({
  id: z.guid(),
  payment_link_id: z.string().openapi({ example: "plink_ExjpAUN3gVHrPJ" }),
  short_url: z.string(),
  reference_id: z.string(),
  amount: Paise,
  accept_partial: z.boolean(),
  first_min_partial_amount: orNull(Paise),
  status: z.string().openapi({ example: "created" }),
  expire_by: DateTime,
  reused: z.boolean(),
}).openapi("PaymentLink");

/** POST /cases/{caseId}/payment-links. */
export const createPaymentLink = createRoute({
  operationId: "createPaymentLink",
  method: "post",
  path: "/cases/{caseId}/payment-links",
  tags: ["Payments"],
  summary: "A Razorpay payment link for a case or one of its installments",
  description: "Razorpay's own SMS and email are off: we send the link ourselves through the " +
    "outbox (a template's {{payment_link}}). The link expires after PAYMENT_LINK_TTL; an open " +
    "link for the same installment and terms is answered again.",
  ...signedIn,
  request: { params: CaseParams, body: jsonBody(NewPaymentLinkSchema) },
  responses: {
    201: json("A new link", PaymentLinkSchema),
    200: json("The open link for the same installment and terms", PaymentLinkSchema),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
    409: problem(
      "Nothing is due (PY010), the case is closed (PY006), or its customer was erased (55000)",
    ),
    422: problem(
      "The request did not match the schema, the installment is not open on this case, or " +
        "partial payment is not allowed for the product line",
    ),
    ...razorpayProblems,
  },
});

const HistoryOrder = z.object({
  id: z.guid(),
  order_id: orNull(z.string()),
  amount: Paise,
  status: z.string(),
  created_at: DateTime,
  expires_at: orNull(DateTime),
});
const HistoryPayment = z.object({
  id: z.guid(),
  payment_id: z.string(),
  order_id: orNull(z.string()),
  payment_link_id: orNull(z.string()),
  amount: Paise,
  amount_refunded: Paise,
  status: PaymentStatus,
  method: orNull(z.string()),
  error_code: orNull(z.string()),
  failure_reason: orNull(z.string()),
  review_reason: orNull(z.string()).openapi({
    description: "Why it was kept for a refund rather than credited (order_expired, " +
      "case_closed, overpaid, ...)",
  }),
  captured_at: orNull(DateTime),
  credited_at: orNull(DateTime),
  created_at: DateTime,
});
const HistoryLink = z.object({
  id: z.guid(),
  payment_link_id: orNull(z.string()),
  short_url: orNull(z.string()),
  amount: Paise,
  amount_paid: Paise,
  status: z.string(),
  expire_by: orNull(DateTime),
  created_at: DateTime,
});
export const RefundSchema = z.object({
  id: z.guid(),
  payment_id: z.guid(),
  refund_id: orNull(z.string()).openapi({ example: "rfnd_FP8QHiV938haTz" }),
  amount: Paise,
  reason: z.string(),
  status: z.string().openapi({ example: "processed" }),
  failure_reason: orNull(z.string()),
  created_at: DateTime,
  processed_at: orNull(DateTime),
}).openapi("Refund");

/** A case's payment history: orders, payment attempts, links and refunds, newest first. */
export const PaymentHistorySchema = z.object({
  outstanding: Paise,
  orders: z.array(HistoryOrder),
  payments: z.array(HistoryPayment),
  payment_links: z.array(HistoryLink),
  refunds: z.array(RefundSchema),
}).openapi("PaymentHistory");

/** GET /cases/{caseId}/payment-history. */
export const getPaymentHistory = createRoute({
  operationId: "getPaymentHistory",
  method: "get",
  path: "/cases/{caseId}/payment-history",
  tags: ["Payments"],
  summary: "A case's orders, payment attempts, payment links and refunds, newest first",
  ...signedIn,
  request: { params: CaseParams },
  responses: {
    200: json("The case's payment history", PaymentHistorySchema),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
  },
});

/** An admin's refund: the amount (default: all that is refundable) and why. */
export const NewRefundSchema = z.object({
  amount: Paise.min(100).optional().openapi({
    description: "In paise; default everything not yet refunded",
  }),
  reason: z.string().trim().min(3).max(500).openapi({ example: "Duplicate payment" }),
}).openapi("NewRefund");

/** The Idempotency-Key header of POST /payments/{id}/refund. */
export const RefundHeaders = z.object({
  "idempotency-key": z.string().min(1).max(200).openapi({
    param: { name: "idempotency-key", in: "header" },
    example: "2c1f0a9e-refund-1",
    description: "Your key for this refund (1-200 characters): asking again with the same key " +
      "answers the first refund (200) instead of refunding twice; the same key with another " +
      "amount is refused.",
  }),
});

/** POST /payments/{id}/refund. */
export const refundPayment = createRoute({
  operationId: "refundPayment",
  method: "post",
  path: "/payments/{id}/refund",
  tags: ["Payments"],
  summary: "Refund a payment, fully or in part (admins), with a reason",
  description: "Money kept for a refund (an overpayment, a payment on a closed case or an " +
    "expired order) goes first; beyond it, the installments the payment settled reopen, which " +
    "a closed case refuses (PY006). Sent to Razorpay with an idempotency key, so a retry never " +
    "refunds twice.",
  ...signedIn,
  request: { params: PaymentParams, headers: RefundHeaders, body: jsonBody(NewRefundSchema) },
  responses: {
    201: json("The refund, as Razorpay took it", RefundSchema),
    200: json("The refund this Idempotency-Key asked for before", RefundSchema),
    ...commonProblems,
    403: problem("Only admins refund (PY003)"),
    422: problem(
      "The request did not match the schema (the Idempotency-Key header is required), or the " +
        "key already asked for another amount",
    ),
    404: problem("No such payment, or not yours to see"),
    409: problem(
      "More than the payment has left to refund (PY012), or it would reopen installments of a " +
        "closed case (PY006)",
    ),
    ...razorpayProblems,
  },
});
