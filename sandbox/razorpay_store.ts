// The sandbox Razorpay account's entities (orders, payments, payment links, refunds) and the
// state changes money makes to them: a capture (order and link amounts, statuses), a refund
// settling, a link expiring. Each change answers the webhook events Razorpay would send for it;
// razorpay_webhooks.ts delivers them. Shapes from VENDORS.md §4 and Razorpay's API reference
// (orders, payments, payment links, refunds). Amounts in paise, times in unix seconds.

/** Razorpay's id alphabet: ids are a prefix and 14 of these (`order_IluGWxBm9U8zJ8`). */
const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `count` random alphanumerics (Razorpay's id body). */
export function alphanumeric(count: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  let text = "";
  // 62 symbols: the modulo bias (256 % 62) does not matter for test ids.
  for (const byte of bytes) text += alphanumerics[byte % alphanumerics.length];
  return text;
}

/** A Razorpay id: `prefix_` + 14 alphanumerics (`pay_`, `order_`, `plink_`, `rfnd_`, `evt_`…). */
export function razorpayId(prefix: string): string {
  return `${prefix}_${alphanumeric(14)}`;
}

/** Now in unix seconds. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** An entity as the API answers it (plain JSON). */
export type Entity = Record<string, unknown>;

/** An order, as `GET /v1/orders/{id}` answers it. */
export interface Order extends Entity {
  id: string;
  entity: "order";
  amount: number;
  amount_paid: number;
  amount_due: number;
  currency: string;
  receipt: string | null;
  offer_id: null;
  status: "created" | "attempted" | "paid";
  attempts: number;
  notes: Record<string, string> | [];
  created_at: number;
  /** Not in Razorpay's answer of a plain order; kept for the rules of partial payments. */
  partial_payment: boolean;
  first_payment_min_amount?: number | null;
}

/** A payment, as `GET /v1/payments/{id}` answers it. */
export interface Payment extends Entity {
  id: string;
  entity: "payment";
  amount: number;
  currency: string;
  status: "created" | "authorized" | "captured" | "refunded" | "failed";
  order_id: string | null;
  method: string;
  amount_refunded: number;
  refund_status: null | "partial" | "full";
  captured: boolean;
  fee: number | null;
  tax: number | null;
  error_code: string | null;
  error_description: string | null;
  error_source: string | null;
  error_step: string | null;
  error_reason: string | null;
  created_at: number;
}

/** A payment link, as `GET /v1/payment_links/{id}` answers it. */
export interface PaymentLink extends Entity {
  id: string;
  amount: number;
  amount_paid: number;
  currency: string;
  accept_partial: boolean;
  first_min_partial_amount: number;
  reference_id: string;
  short_url: string;
  status: "created" | "partially_paid" | "paid" | "expired" | "cancelled";
  expire_by: number;
  expired_at: number;
  cancelled_at: number;
  order_id: string;
  payments: Array<Record<string, unknown>> | null;
  created_at: number;
  updated_at: number;
}

/** A refund, as `GET /v1/refunds/{id}` answers it. */
export interface Refund extends Entity {
  id: string;
  entity: "refund";
  amount: number;
  currency: string;
  payment_id: string;
  status: "pending" | "processed" | "failed";
  created_at: number;
}

/** A webhook event to send: its type, which entities it carries, their snapshots. */
export interface PendingEvent {
  event: string;
  /** Entity names in the payload, in Razorpay's order. */
  payload: Record<string, Entity>;
}

/** A deep copy: webhooks carry the entity as it was when the event happened. */
export function snapshot<T>(entity: T): T {
  const copy = structuredClone(entity) as Record<string, unknown>;
  // Internal fields that Razorpay does not answer.
  delete copy.partial_payment;
  delete copy.first_payment_min_amount;
  return copy as T;
}

/** Razorpay's fee for a captured payment: 2% with GST (18%) inside it, in paise. */
function fees(amount: number): { fee: number; tax: number } {
  const fee = Math.round(amount * 0.02);
  return { fee, tax: Math.round((fee * 18) / 118) };
}

/** The account's entities and the changes payments, captures and refunds make to them. */
export class RazorpayStore {
  orders = new Map<string, Order>();
  payments = new Map<string, Payment>();
  links = new Map<string, PaymentLink>();
  refunds = new Map<string, Refund>();

  /** Forgets everything (control reset). */
  reset(): void {
    this.orders.clear();
    this.payments.clear();
    this.links.clear();
    this.refunds.clear();
  }

  /** The order paid through a link, made at its first payment (as Razorpay does). */
  linkOrder(link: PaymentLink): Order {
    const existing = link.order_id ? this.orders.get(link.order_id) : undefined;
    if (existing) return existing;
    const order: Order = {
      id: razorpayId("order"),
      entity: "order",
      amount: link.amount,
      amount_paid: 0,
      amount_due: link.amount,
      currency: link.currency,
      receipt: null,
      offer_id: null,
      status: "created",
      attempts: 0,
      notes: [],
      created_at: unixNow(),
      partial_payment: link.accept_partial,
      first_payment_min_amount: link.first_min_partial_amount || null,
    };
    this.orders.set(order.id, order);
    link.order_id = order.id;
    return order;
  }

  /** The link a payment of `orderId` pays, if the order was made for one. */
  linkOfOrder(orderId: string | null): PaymentLink | undefined {
    if (!orderId) return undefined;
    for (const link of this.links.values()) if (link.order_id === orderId) return link;
    return undefined;
  }

  /**
   * Expires a link past its `expire_by` (Razorpay does it on its own clock); answers the
   * payment_link.expired event when it changed now.
   */
  expireIfDue(link: PaymentLink, force = false): PendingEvent[] {
    const open = link.status === "created" || link.status === "partially_paid";
    if (!open) return [];
    if (!force && !(link.expire_by > 0 && unixNow() >= link.expire_by)) return [];
    link.status = "expired";
    link.expired_at = unixNow();
    link.updated_at = link.expired_at;
    return [{ event: "payment_link.expired", payload: { payment_link: snapshot(link) } }];
  }

  /**
   * A payment attempt on `order` (`attempts` + 1, `attempted`): created `authorized` or
   * `failed`; the link's list of payments gains it.
   */
  attempt(
    order: Order,
    amount: number,
    method: string,
    failure: FailureDetails | null,
    customer: { email?: string; contact?: string },
  ): Payment {
    order.attempts++;
    if (order.status === "created") order.status = "attempted";
    const payment: Payment = {
      id: razorpayId("pay"),
      entity: "payment",
      amount,
      currency: order.currency,
      status: failure ? "failed" : "authorized",
      order_id: order.id,
      invoice_id: null,
      international: false,
      method,
      amount_refunded: 0,
      refund_status: null,
      captured: false,
      description: null,
      card_id: method === "card" ? razorpayId("card") : null,
      bank: method === "netbanking" ? "HDFC" : null,
      wallet: method === "wallet" ? "paytm" : null,
      vpa: method === "upi" ? "customer@okhdfcbank" : null,
      email: customer.email ?? "customer@example.com",
      contact: customer.contact ?? "+919810150461",
      notes: [],
      fee: null,
      tax: null,
      error_code: failure?.code ?? null,
      error_description: failure?.description ?? null,
      error_source: failure?.source ?? null,
      error_step: failure?.step ?? null,
      error_reason: failure?.reason ?? null,
      acquirer_data: method === "upi" ? { rrn: String(100000000000 + this.payments.size) } : {},
      created_at: unixNow(),
    };
    this.payments.set(payment.id, payment);
    const link = this.linkOfOrder(order.id);
    if (link) {
      link.payments = [...(link.payments ?? []), {
        amount,
        created_at: payment.created_at,
        method,
        payment_id: payment.id,
        plink_id: link.id,
        status: payment.status,
        updated_at: payment.created_at,
      }];
      link.updated_at = payment.created_at;
    }
    return payment;
  }

  /**
   * Captures an authorised payment: the payment becomes `captured` with its fee; its order's
   * amount_paid grows (`paid` when nothing is due); a link's amount_paid and status follow.
   * Answers payment.captured, then order.paid (order and payment) when the order is paid, then
   * payment_link.paid or payment_link.partially_paid (link, order, payment) for a link.
   */
  capture(payment: Payment): PendingEvent[] {
    payment.status = "captured";
    payment.captured = true;
    Object.assign(payment, fees(payment.amount));
    const events: PendingEvent[] = [{
      event: "payment.captured",
      payload: { payment: snapshot(payment) },
    }];
    const order = payment.order_id ? this.orders.get(payment.order_id) : undefined;
    if (!order) return events;
    order.amount_paid += payment.amount;
    order.amount_due = Math.max(0, order.amount - order.amount_paid);
    if (order.amount_due === 0) order.status = "paid";
    const link = this.linkOfOrder(order.id);
    if (link) {
      link.amount_paid += payment.amount;
      link.status = link.amount_paid >= link.amount ? "paid" : "partially_paid";
      link.updated_at = unixNow();
      for (const entry of link.payments ?? []) {
        if (entry.payment_id === payment.id) entry.status = "captured";
      }
    }
    if (order.status === "paid") {
      events.push({
        event: "order.paid",
        payload: { payment: snapshot(payment), order: snapshot(order) },
      });
    }
    if (link) {
      events.push({
        event: link.status === "paid" ? "payment_link.paid" : "payment_link.partially_paid",
        payload: {
          payment_link: snapshot(link),
          order: snapshot(order),
          payment: snapshot(payment),
        },
      });
    }
    return events;
  }

  /** Paise of `payment` still refundable: captured, less refunds that did not fail. */
  refundable(payment: Payment): number {
    let reserved = 0;
    for (const refund of this.refunds.values()) {
      if (refund.payment_id === payment.id && refund.status !== "failed") reserved += refund.amount;
    }
    return payment.status === "captured" || payment.status === "refunded"
      ? payment.amount - reserved
      : 0;
  }

  /**
   * Settles a pending refund: `processed` adds it to the payment's amount_refunded (the payment
   * becomes `refunded` when wholly refunded); `failed` releases it. Answers refund.processed or
   * refund.failed (refund and payment), or nothing when it was not pending.
   */
  settleRefund(refund: Refund, outcome: "processed" | "failed"): PendingEvent[] {
    if (refund.status !== "pending") return [];
    const payment = this.payments.get(refund.payment_id)!;
    refund.status = outcome;
    if (outcome === "processed") {
      payment.amount_refunded += refund.amount;
      payment.refund_status = payment.amount_refunded >= payment.amount ? "full" : "partial";
      if (payment.refund_status === "full") payment.status = "refunded";
    }
    return [{
      event: `refund.${outcome}`,
      payload: { refund: snapshot(refund), payment: snapshot(payment) },
    }];
  }
}

/** The error fields of a failed payment. */
export interface FailureDetails {
  code: string;
  description: string;
  source: string;
  step: string;
  reason: string;
}

/** Failures a customer's payment can meet (Razorpay's payment error fields; descriptions (v)). */
export const paymentFailures: Record<string, FailureDetails> = {
  bank_declined: {
    code: "BAD_REQUEST_ERROR",
    description: "Your payment has been declined by your bank. Please try another method.",
    source: "bank",
    step: "payment_authorization",
    reason: "payment_declined",
  },
  insufficient_funds: {
    code: "BAD_REQUEST_ERROR",
    description: "Payment failed because of insufficient balance in your account.",
    source: "customer",
    step: "payment_authorization",
    reason: "insufficient_funds",
  },
  cancelled: {
    code: "BAD_REQUEST_ERROR",
    description: "Payment processing cancelled by user",
    source: "customer",
    step: "payment_authentication",
    reason: "payment_cancelled",
  },
  timed_out: {
    code: "BAD_REQUEST_ERROR",
    description: "Payment was unsuccessful as you could not complete it in time.",
    source: "customer",
    step: "payment_authentication",
    reason: "payment_timed_out",
  },
  gateway_error: {
    code: "GATEWAY_ERROR",
    description: "Payment processing failed due to error at bank or wallet gateway",
    source: "gateway",
    step: "payment_authorization",
    reason: "payment_failed",
  },
};
