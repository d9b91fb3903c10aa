// Handlers of the payment routes. What is due, who may pay or refund what, and how money is
// credited are the database's (private.open_payment_order, private.apply_razorpay_payment, ...);
// these handlers run those as the caller, call Razorpay with a journal row written first, and
// record Razorpay's answer as service_role.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { config } from "../../_shared/config.ts";
import { asCaller, asService } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { log } from "../../_shared/log.ts";
import { createLinkAtRazorpay, type OpenedLink } from "../../_shared/payments/links.ts";
import { ask, callJournaled, razorpay } from "../../_shared/payments/razorpay_calls.ts";
import { verifyCheckoutSignature } from "../../_shared/signatures/razorpay.ts";
import type {
  CheckoutOrderSchema,
  createPaymentLink,
  createPaymentOrder,
  getPaymentHistory,
  PaymentLinkSchema,
  refundPayment,
  RefundSchema,
  VerificationSchema,
  verifyPayment,
} from "./routes.ts";
import { paymentHistory } from "./history.ts";

type CheckoutOrder = z.infer<typeof CheckoutOrderSchema>;

/** The answer while another request's order or link for the same installments is being made. */
const stillCreating = (what: string) =>
  new ProblemError(
    503,
    "Service Unavailable",
    `A ${what} for these installments is being created; try again in a few seconds.`,
    {},
    { "retry-after": "5" },
  );

/** A row of private.open_payment_order(). */
interface OrderRow {
  payment_order_id: string;
  receipt: string;
  amount: number;
  currency: string;
  razorpay_order_id: string | null;
  status: string;
  expires_at: Date;
  reused: boolean;
  customer_name: string;
  customer_email: string | null;
  customer_phone: string | null;
  case_number: string;
  /** The journal row of the create call, written with the order; null for a reused order. */
  call_id: string | null;
}

function checkout(row: OrderRow, orderId: string): CheckoutOrder {
  return {
    payment_order_id: row.payment_order_id,
    order_id: orderId,
    key_id: config().RAZORPAY_KEY_ID!,
    amount: row.amount,
    currency: row.currency,
    receipt: row.receipt,
    expires_at: row.expires_at.toISOString(),
    reused: row.reused,
    prefill: { name: row.customer_name, email: row.customer_email, contact: row.customer_phone },
    notes: { case_number: row.case_number },
  };
}

/**
 * POST /cases/{caseId}/payments: the database opens the order as the caller, with the amount it
 * computes, and journals the create call in the same transaction (or offers the case's open order
 * for the same installments again); then Razorpay creates it and the answer is recorded. A crash
 * in between leaves the order `creating`, which reconciliation finds by its receipt.
 */
export const createOrder: RouteHandler<typeof createPaymentOrder, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const { installment_ids, amount } = c.req.valid("json");
  const client = razorpay();
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<OrderRow[]>`
      select * from private.open_payment_order(
        ${caseId}, ${installment_ids ?? null}::uuid[], ${amount ?? null}::bigint)`);
  if (row.reused) {
    // An order still being created by another request is not made twice: ask again shortly.
    if (!row.razorpay_order_id) throw stillCreating("order");
    return c.json(checkout(row, row.razorpay_order_id), 200);
  }
  // The body the journal row holds (private.open_payment_order writes it).
  const request = {
    amount: row.amount,
    currency: row.currency,
    receipt: row.receipt,
    notes: { payment_order_id: row.payment_order_id, case_id: caseId },
  };
  const order = await callJournaled(
    row.call_id!,
    "create_order",
    () => client.createOrder(request),
  );
  await asService((tx) =>
    tx`select private.record_order_created(${row.payment_order_id}, ${row.call_id}, ${
      tx.json(order as never)
    }::jsonb)`
  );
  return c.json(checkout(row, order.id), 201);
};

/**
 * POST /cases/{caseId}/payments/verify: Checkout's signature over the order id stored for this
 * case (constant time); the verification is recorded, then Razorpay is asked for the payment
 * and private.apply_razorpay_payment credits it if captured (once, whoever gets there first).
 */
export const verify: RouteHandler<typeof verifyPayment, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const body = c.req.valid("json");
  const client = razorpay();
  const claims = c.get("claims");
  const [order] = await asCaller(claims, (tx) =>
    tx<{ razorpay_order_id: string }[]>`
      select razorpay_order_id from public.payment_orders
       where case_id = ${caseId} and razorpay_order_id = ${body.razorpay_order_id}`);
  if (!order) throw notFound("order of this case");
  const valid = await verifyCheckoutSignature(
    config().RAZORPAY_KEY_SECRET!,
    order.razorpay_order_id,
    body.razorpay_payment_id,
    body.razorpay_signature,
  );
  if (!valid) {
    log("warn", "checkout signature refused", { case_id: caseId });
    throw new ProblemError(
      400,
      "Bad Request",
      "The checkout signature does not match this order and payment.",
    );
  }
  // Razorpay first: a payment it does not know, or of another order, records nothing.
  const payment = await ask(() => client.fetchPayment(body.razorpay_payment_id));
  if (payment.order_id !== order.razorpay_order_id) {
    throw new ProblemError(400, "Bad Request", "The payment belongs to another order.");
  }
  await asCaller(claims, (tx) =>
    tx`select private.record_checkout_verification(
         ${caseId}, ${order.razorpay_order_id}, ${body.razorpay_payment_id})`);
  // Two statements: the second sees what the first credited (a stable function in the same
  // statement would read the case as it was before).
  const applied = await asService(async (tx) => {
    const [row] = await tx<{ payment_id: string; outcome: string; case_id: string }[]>`
      select payment_id, outcome, case_id
        from private.apply_razorpay_payment(${tx.json(payment as never)}::jsonb, 'verify')`;
    const [now] = await tx<{ status: string; outstanding: number }[]>`
      select p.status, public.case_outstanding(p.case_id) as outstanding
        from public.payments p where p.id = ${row.payment_id}`;
    return { ...row, ...now };
  });
  const result: z.infer<typeof VerificationSchema> = {
    verified: true,
    payment_id: applied.payment_id,
    status: applied.status as z.infer<typeof VerificationSchema>["status"],
    outcome: applied.outcome as z.infer<typeof VerificationSchema>["outcome"],
    outstanding: applied.outstanding,
  };
  return c.json(result, 200);
};

type PaymentLink = z.infer<typeof PaymentLinkSchema>;

function linkOf(row: OpenedLink, link: { id: string; short_url: string; status: string }) {
  const body: PaymentLink = {
    id: row.payment_link_id,
    payment_link_id: link.id,
    short_url: link.short_url,
    reference_id: row.reference_id,
    amount: row.amount,
    accept_partial: row.accepts_partial,
    first_min_partial_amount: row.min_partial_amount,
    status: link.status,
    expire_by: row.expire_by.toISOString(),
    reused: row.reused,
  };
  return body;
}

/**
 * POST /cases/{caseId}/payment-links: opened (or offered again) by the database as the caller,
 * with the create call journaled; created at Razorpay with its notifications off (we send the
 * link through the outbox) and recorded as service_role.
 */
export const createLink: RouteHandler<typeof createPaymentLink, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const body = c.req.valid("json");
  const client = razorpay();
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<OpenedLink[]>`
      select * from private.open_payment_link(
        ${caseId}, ${body.outstanding_amount_id ?? null}::uuid, ${body.accept_partial},
        ${body.first_min_partial_amount ?? null}::bigint)`);
  if (row.reused) {
    if (!row.razorpay_payment_link_id || !row.short_url) throw stillCreating("payment link");
    const link = { id: row.razorpay_payment_link_id, short_url: row.short_url, status: row.status };
    return c.json(linkOf(row, link), 200);
  }
  const link = await createLinkAtRazorpay(client, { ...row, call_id: row.call_id! }, caseId);
  return c.json(linkOf(row, link), 201);
};

/** GET /cases/{caseId}/payment-history: everything under RLS; 404 for a case not the caller's. */
export const history: RouteHandler<typeof getPaymentHistory, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const result = await asCaller(c.get("claims"), (tx) => paymentHistory(tx, caseId));
  if (!result) throw notFound("case");
  return c.json(result, 200);
};

/** A row of private.request_refund(payment, amount, reason, request_key), with its reason. */
interface RefundRow {
  refund_id: string;
  razorpay_payment_id: string;
  refund_amount: number;
  refund_status: string;
  idempotency_key: string;
  /** The journal row of the create call; null when the key asked before. */
  call_id: string | null;
  repeated: boolean;
  reason: string;
}

type Refund = z.infer<typeof RefundSchema>;

/**
 * POST /payments/{id}/refund: the database reserves the amount (admins only, within what is
 * refundable) under the admin's Idempotency-Key and journals the call; Razorpay refunds it under
 * our X-Refund-Idempotency key, so neither a retried request nor a retried call refunds twice;
 * private.apply_razorpay_refund records its state (the refund webhooks go through it too). A key
 * asked before answers its refund (200), created again at Razorpay if it never got there.
 */
export const refund: RouteHandler<typeof refundPayment, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { amount, reason } = c.req.valid("json");
  const { "idempotency-key": key } = c.req.valid("header");
  const client = razorpay();
  const row = await asCaller(c.get("claims"), async (tx) => {
    const [made] = await tx<Omit<RefundRow, "reason">[]>`
      select * from private.request_refund(${id}, ${amount ?? null}::bigint, ${reason}, ${key})`;
    // A second statement: one statement would not see the row the first just wrote.
    const [{ reason: stored }] = await tx<{ reason: string }[]>`
      select reason from public.refunds where id = ${made.refund_id}`;
    return { ...made, reason: stored };
  });
  if (row.repeated && row.refund_status !== "creating") {
    return c.json(await refundOf(row.refund_id), 200);
  }
  // The body the journal row holds (private.request_refund writes it), the same on a repeat:
  // Razorpay refuses another body under the same X-Refund-Idempotency key.
  const request = {
    amount: row.refund_amount,
    notes: { refund_id: row.refund_id, reason: row.reason.slice(0, 250) },
  };
  const create = () => client.createRefund(row.razorpay_payment_id, request, row.idempotency_key);
  const entity = row.call_id
    ? await callJournaled(row.call_id, "create_refund", create)
    : await ask(create);
  await asService((tx) =>
    tx`select * from private.apply_razorpay_refund(${tx.json(entity as never)}::jsonb)`
  );
  return c.json(await refundOf(row.refund_id), row.repeated ? 200 : 201);
};

/** A refund as the API shows it (read after private.apply_razorpay_refund committed). */
async function refundOf(refundId: string): Promise<Refund> {
  const [row] = await asService((tx) =>
    tx<Refund[]>`
      select r.id, r.payment_id, r.razorpay_refund_id as refund_id, r.amount, r.reason, r.status,
             r.failure_reason, r.created_at, r.processed_at
        from public.refunds r where r.id = ${refundId}`
  );
  return row;
}
