// Plays a customer paying a Razorpay order (Checkout) or a payment link, for the control API's
// `POST /_control/razorpay/pay`: the payment Razorpay would make, the changes to the order and
// the link, the webhooks it would send (payment.authorized, payment.captured, order.paid,
// payment_link.paid / partially_paid, payment.failed), and what the browser would get back:
// Checkout's `razorpay_signature` = hex HMAC-SHA256(key secret, `order_id|payment_id`), or the
// link redirect's = HMAC(key secret, `plink_id|reference_id|status|payment_id`) (VENDORS.md §4).
import type { RazorpayVendor } from "./razorpay.ts";
import {
  type Entity,
  type FailureDetails,
  type Order,
  paymentFailures,
  type PaymentLink,
  type PendingEvent,
  snapshot,
} from "./razorpay_store.ts";
import { razorpayHmac } from "./razorpay_webhooks.ts";
import type { SandboxContext } from "./types.ts";

/** What the customer does: pays and it is captured (default), only authorised, fails, leaves. */
export type PayOutcome = "captured" | "authorized" | "failed" | "abandoned";

/** The body of `POST /_control/razorpay/pay`, checked. */
export interface PayRequest {
  /** Exactly one of orderId and paymentLinkId. */
  orderId?: string;
  paymentLinkId?: string;
  outcome: PayOutcome;
  /** Paise; default what is due. Less only where partial payments are allowed. */
  amount?: number;
  /** `upi` (default), `card`, `netbanking`, `wallet`. */
  method: string;
  /** For `failed`: a key of paymentFailures (default `bank_declined`). */
  failure: string;
  email?: string;
  contact?: string;
}

/** A pay request the sandbox cannot play: the status to answer and why. */
export class PayRefused extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

/** What the browser gets and what happened. */
export interface PayResult {
  outcome: PayOutcome;
  /** The payment as Razorpay now holds it (null when abandoned). */
  payment: Entity | null;
  order: Entity | null;
  paymentLink?: Entity;
  /** Checkout's success handler fields (orders; null when failed or abandoned). */
  checkout:
    | { razorpay_payment_id: string; razorpay_order_id: string; razorpay_signature: string }
    | null;
  /** The link's callback redirect fields (links; null when failed or abandoned). */
  redirect?: {
    razorpay_payment_id: string;
    razorpay_payment_link_id: string;
    razorpay_payment_link_reference_id: string;
    razorpay_payment_link_status: string;
    razorpay_signature: string;
  } | null;
  /** Checkout's failure handler `error` (failed only). */
  error?: FailureDetails & { metadata: { payment_id: string; order_id: string } };
  /** The webhook events made, in the order they happened (delivery may differ). */
  events: Array<{ id: string; event: string }>;
}

/** Plays `input` on the vendor's account; throws PayRefused for what Razorpay would not take. */
export function playPayment(
  vendor: RazorpayVendor,
  ctx: SandboxContext,
  input: PayRequest,
): PayResult {
  const store = vendor.store;
  let order: Order;
  let link: PaymentLink | undefined;
  if (input.paymentLinkId !== undefined) {
    link = store.links.get(input.paymentLinkId);
    if (!link) throw new PayRefused(404, `no payment link ${input.paymentLinkId}`);
    vendor.webhooks.emit(store.expireIfDue(link));
    if (link.status !== "created" && link.status !== "partially_paid") {
      throw new PayRefused(409, `the payment link is ${link.status}`);
    }
    const due = link.amount - link.amount_paid;
    checkAmount(
      input.amount,
      due,
      link.accept_partial,
      link.amount_paid === 0 ? link.first_min_partial_amount : 0,
    );
    order = store.linkOrder(link);
  } else {
    const found = store.orders.get(input.orderId ?? "");
    if (!found) throw new PayRefused(404, `no order ${input.orderId}`);
    order = found;
    if (order.status === "paid") throw new PayRefused(409, "the order is already paid");
    checkAmount(
      input.amount,
      order.amount_due,
      order.partial_payment,
      order.amount_paid === 0 ? order.first_payment_min_amount ?? 0 : 0,
    );
  }
  const amount = input.amount ?? (link ? link.amount - link.amount_paid : order.amount_due);
  if (input.outcome === "abandoned") {
    return {
      outcome: "abandoned",
      payment: null,
      order: snapshot(order),
      ...(link ? { paymentLink: snapshot(link), redirect: null } : {}),
      checkout: null,
      events: [],
    };
  }
  const failure = input.outcome === "failed" ? paymentFailures[input.failure] : null;
  const payment = store.attempt(order, amount, input.method, failure, input);
  const pending: PendingEvent[] = failure
    ? [{ event: "payment.failed", payload: { payment: snapshot(payment) } }]
    : [{ event: "payment.authorized", payload: { payment: snapshot(payment) } }];
  if (input.outcome === "captured") pending.push(...store.capture(payment));
  const events = vendor.webhooks.emit(pending);
  const keySecret = ctx.credentials.razorpayKeySecret;
  const result: PayResult = {
    outcome: input.outcome,
    payment: snapshot(payment),
    order: snapshot(order),
    checkout: failure || link ? null : {
      razorpay_payment_id: payment.id,
      razorpay_order_id: order.id,
      razorpay_signature: razorpayHmac(keySecret, `${order.id}|${payment.id}`),
    },
    events,
  };
  if (link) {
    result.paymentLink = snapshot(link);
    result.redirect = failure ? null : {
      razorpay_payment_id: payment.id,
      razorpay_payment_link_id: link.id,
      razorpay_payment_link_reference_id: link.reference_id,
      razorpay_payment_link_status: link.status,
      razorpay_signature: razorpayHmac(
        keySecret,
        `${link.id}|${link.reference_id}|${link.status}|${payment.id}`,
      ),
    };
  }
  if (failure) {
    result.error = { ...failure, metadata: { payment_id: payment.id, order_id: order.id } };
  }
  return result;
}

/** Refuses an amount Checkout would not take: more than due, or partial where not allowed. */
function checkAmount(amount: number | undefined, due: number, partial: boolean, firstMin: number) {
  if (amount === undefined || amount === due) return;
  if (amount > due) throw new PayRefused(400, `amount ${amount} is more than the ${due} due`);
  if (!partial) throw new PayRefused(400, "partial payments are not allowed here");
  if (amount < 100) throw new PayRefused(400, "amount must be at least 100 paise");
  if (firstMin && amount < firstMin) {
    throw new PayRefused(400, `the first payment must be at least ${firstMin} paise`);
  }
}
