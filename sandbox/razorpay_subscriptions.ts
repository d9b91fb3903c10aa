// Razorpay Subscriptions as the sandbox plays them: plans, subscriptions and their life cycle,
// with the webhook events each change makes (razorpay_webhooks.ts delivers them). The sandbox
// has no clock of its own for charges: a control call "runs the schedule" (charges the next
// cycle now) or plays the customer authorising the mandate (razorpay_control.ts).
//
// Facts and their sources (Razorpay docs):
// - entities: api/payments/subscriptions/create-plan, entity, pause-subscription,
//   resume-subscription, cancel-subscription (their sample answers); `item_`, `plan_`, `sub_`,
//   `inv_`, `cust_`, `token_` + 14 alphanumerics like every Razorpay id.
// - states (payments/subscriptions/states): created → authenticated (mandate authorised, start_at
//   ahead) → active (the cycle started; charged at once) → completed; a failed charge → pending,
//   retried "on the following day" (payments/subscriptions/payment-retries), halted "post 3
//   retry attempts" (subscriptions/notifications); a halted subscription whose customer
//   authorises again becomes active and its unpaid invoice is left for the merchant to collect.
// - pause: only `active` pauses; pausing an `authenticated` one cancels it
//   (pause-subscription "Watch Out"). Resume: `paused` → `active`. Cancel: now or at the end of
//   the cycle; refused once cancelled, completed or expired with "Subscription is not
//   cancellable in {status} status." (cancel-subscription).
// - webhooks (webhooks/subscriptions): every event carries the subscription entity, and a
//   payment entity when a payment was tried before it; `subscription.activated` is sent when the
//   subscription becomes active from authenticated, pending or halted; `subscription.completed`
//   when the last invoice is made. A charge's payment carries `order_id` and `invoice_id`, and the
//   subscription's notes (a captured payment.captured of a subscription charge, quoted publicly).
// - invoices (api/payments/subscriptions/fetch-invoices, its sample answer): every cycle billed
//   is an invoice (`inv_`) with the cycle's `order_id` and `subscription_id`, `status` `issued`
//   until paid, then `paid` with `payment_id` and `paid_at`; amounts in paise; listed by
//   `GET /v1/invoices?subscription_id=…` (razorpay_subscriptions_api.ts).
// Sandbox choices, marked (v): the mandate's authorisation payment is ₹1 and refunded at once;
// a subscription without start_at starts its first cycle when authorised and that cycle is
// charged by the next run of the schedule (Razorpay charges it with the authorisation);
// cancel_at_cycle_end takes effect at the next run of the schedule; a cycle cannot fall due
// while paused (there is no clock), so resuming charges the cycle that was next; a cycle's
// invoice is made by its first charge attempt (paid or failed), and a failed one keeps
// `payment_id` null; an invoice given up when a halted subscription came back stays `issued`.
import {
  type Entity,
  type FailureDetails,
  type Order,
  type Payment,
  type PendingEvent,
  razorpayId,
  type RazorpayStore,
  snapshot,
  unixNow,
} from "./razorpay_store.ts";

/** A plan's period (Razorpay docs create-plan). */
export type PlanPeriod = "daily" | "weekly" | "monthly" | "yearly";
/** The periods, for validation. */
export const planPeriods: readonly PlanPeriod[] = ["daily", "weekly", "monthly", "yearly"];

/** A plan, as `GET /v1/plans/{id}` answers it. */
export interface Plan extends Entity {
  id: string;
  entity: "plan";
  interval: number;
  period: PlanPeriod;
  item: {
    id: string;
    active: boolean;
    name: string;
    description: string | null;
    /** Paise per cycle. */
    amount: number;
    unit_amount: number;
    currency: string;
    type: "plan";
    unit: null;
    tax_inclusive: false;
    hsn_code: null;
    sac_code: null;
    tax_rate: null;
    tax_id: null;
    tax_group_id: null;
    created_at: number;
    updated_at: number;
  };
  notes: Record<string, string> | [];
  created_at: number;
}

/** Subscription statuses. */
export type SubscriptionStatus =
  | "created"
  | "authenticated"
  | "active"
  | "pending"
  | "halted"
  | "cancelled"
  | "completed"
  | "expired"
  | "paused";

/** A subscription, as `GET /v1/subscriptions/{id}` answers it. */
export interface Subscription extends Entity {
  id: string;
  entity: "subscription";
  plan_id: string;
  customer_id: string | null;
  status: SubscriptionStatus;
  /** The cycle last charged (null before the first charge). */
  current_start: number | null;
  current_end: number | null;
  ended_at: number | null;
  quantity: number;
  notes: Record<string, string> | [];
  /** When the next charge falls due (null when none will). */
  charge_at: number | null;
  start_at: number | null;
  end_at: number | null;
  auth_attempts: number;
  total_count: number;
  paid_count: number;
  customer_notify: boolean;
  created_at: number;
  expire_by: number | null;
  short_url: string;
  has_scheduled_changes: boolean;
  change_scheduled_at: number | null;
  source: "api";
  payment_method: string | null;
  offer_id: null;
  paused_at: number | null;
  pause_initiated_by: string | null;
  remaining_count: number;
}

/** Invoice statuses (Razorpay docs fetch-invoices). The sandbox makes `issued` and `paid`. */
export type InvoiceStatus =
  | "draft"
  | "issued"
  | "partially_paid"
  | "paid"
  | "expired"
  | "cancelled"
  | "deleted";

/**
 * A subscription's invoice (one per cycle billed), as `GET /v1/invoices?subscription_id=…`
 * lists it (Razorpay docs subscriptions/fetch-invoices, its sample answer; the fields after
 * `view_less` as razorpay-ruby's invoice fixture names them). Amounts in paise, times in unix
 * seconds.
 */
export interface Invoice extends Entity {
  id: string;
  entity: "invoice";
  receipt: null;
  invoice_number: null;
  customer_id: string | null;
  customer_details: {
    id: string | null;
    name: null;
    email: string | null;
    contact: string | null;
    gstin: null;
    billing_address: null;
    shipping_address: null;
    customer_name: null;
    customer_email: string | null;
    customer_contact: string | null;
  };
  /** The cycle's order: every attempt to charge it is a payment on this order. */
  order_id: string;
  subscription_id: string;
  line_items: Array<{
    id: string;
    item_id: null;
    ref_id: null;
    ref_type: null;
    name: string;
    description: string | null;
    amount: number;
    unit_amount: number;
    gross_amount: number;
    tax_amount: number;
    taxable_amount: number;
    net_amount: number;
    currency: string;
    type: "plan";
    tax_inclusive: false;
    hsn_code: null;
    sac_code: null;
    tax_rate: null;
    unit: null;
    quantity: number;
    taxes: [];
  }>;
  /** The payment that paid it; null while unpaid. */
  payment_id: string | null;
  status: InvoiceStatus;
  expire_by: null;
  issued_at: number;
  paid_at: number | null;
  cancelled_at: null;
  expired_at: null;
  sms_status: null;
  email_status: null;
  date: number;
  terms: null;
  partial_payment: false;
  gross_amount: number;
  tax_amount: number;
  taxable_amount: number;
  /** Paise billed. */
  amount: number;
  amount_paid: number;
  amount_due: number;
  currency: string;
  currency_symbol: string;
  description: null;
  notes: [];
  comment: null;
  short_url: string;
  view_less: true;
  /** The cycle billed (unix seconds). */
  billing_start: number | null;
  billing_end: number | null;
  type: "invoice";
  created_at: number;
}

/** What the sandbox keeps about a subscription besides its entity. */
export interface SubscriptionRecord {
  entity: Subscription;
  plan: Plan;
  /** Unix seconds the cycles count from: start_at, or the authorisation when absent. */
  anchor: number | null;
  /** Charges failed in a row (a success resets it). */
  failuresInARow: number;
  /** The invoice of a failed cycle, retried by the next run of the schedule while pending. */
  openInvoice: { invoiceId: string; orderId: string; cycle: number } | null;
  /** Cycles billed: paid, or given up when a halted subscription came back. */
  cycles: number;
  /** cancel_at_cycle_end = 1 was asked: the next run of the schedule cancels instead. */
  cancelAtCycleEnd: boolean;
}

/** A change the subscription's status does not allow: the status to answer and why. */
export class SubscriptionRefused extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

/** What a run of the schedule did. */
export interface ChargeResult {
  outcome: "charged" | "failed" | "cancelled";
  subscription: Subscription;
  /** The charge's payment (null when the run cancelled at the cycle's end). */
  payment: Payment | null;
  order: Order | null;
  invoiceId: string | null;
  pending: PendingEvent[];
}

/** What the customer's authorisation did. */
export interface AuthorizeResult {
  subscription: Subscription;
  /** The mandate's authorisation payment (₹1, refunded (v)). */
  payment: Payment;
  pending: PendingEvent[];
}

const secondsPerDay = 86_400;
/** Razorpay supports subscriptions of at most 100 years (docs fetch-subscription-id). */
const maxLifeSeconds = 100 * 365.25 * secondsPerDay;
/** The retry after a failed charge: "the following day" (docs payment-retries). */
const retryAfterSeconds = secondsPerDay;

/** `at` (unix seconds) moved on by `count` cycles of the plan; month ends are clamped. */
export function addCycles(at: number, plan: Pick<Plan, "period" | "interval">, count: number) {
  const steps = count * plan.interval;
  if (plan.period === "daily") return at + steps * secondsPerDay;
  if (plan.period === "weekly") return at + steps * 7 * secondsPerDay;
  const date = new Date(at * 1000);
  const day = date.getUTCDate();
  const months = plan.period === "monthly" ? steps : steps * 12;
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0))
    .getUTCDate();
  date.setUTCDate(Math.min(day, lastDay));
  return Math.floor(date.getTime() / 1000);
}

/** True when `totalCount` cycles of `plan` from now last at most 100 years. */
export function withinMaxLife(plan: Pick<Plan, "period" | "interval">, totalCount: number) {
  const now = unixNow();
  return addCycles(now, plan, totalCount) - now <= maxLifeSeconds;
}

/** The account's plans and subscriptions, and the changes the schedule and customers make. */
export class SubscriptionBook {
  plans = new Map<string, Plan>();
  subscriptions = new Map<string, SubscriptionRecord>();
  /** Every subscription's invoices, by id, in the order they were made. */
  invoices = new Map<string, Invoice>();
  /** Failed charges in a row that halt a subscription (default 3, Razorpay's retries). */
  haltAfterFailures = 3;

  constructor(private store: RazorpayStore) {}

  /** Forgets everything (control reset). */
  reset(): void {
    this.plans.clear();
    this.subscriptions.clear();
    this.invoices.clear();
    this.haltAfterFailures = 3;
  }

  /** Makes a plan from checked input. */
  addPlan(input: {
    period: PlanPeriod;
    interval: number;
    name: string;
    amount: number;
    description: string | null;
    notes: Record<string, string> | undefined;
  }): Plan {
    const now = unixNow();
    const plan: Plan = {
      id: razorpayId("plan"),
      entity: "plan",
      interval: input.interval,
      period: input.period,
      item: {
        id: razorpayId("item"),
        active: true,
        name: input.name,
        description: input.description,
        amount: input.amount,
        unit_amount: input.amount,
        currency: "INR",
        type: "plan",
        unit: null,
        tax_inclusive: false,
        hsn_code: null,
        sac_code: null,
        tax_rate: null,
        tax_id: null,
        tax_group_id: null,
        created_at: now,
        updated_at: now,
      },
      notes: input.notes ?? [],
      created_at: now,
    };
    this.plans.set(plan.id, plan);
    return plan;
  }

  /** Makes a subscription (`created`) from checked input. */
  addSubscription(plan: Plan, input: {
    totalCount: number;
    quantity: number;
    startAt: number | null;
    expireBy: number | null;
    customerNotify: boolean;
    notes: Record<string, string> | undefined;
  }): Subscription {
    const subscription: Subscription = {
      id: razorpayId("sub"),
      entity: "subscription",
      plan_id: plan.id,
      customer_id: null,
      status: "created",
      current_start: null,
      current_end: null,
      ended_at: null,
      quantity: input.quantity,
      notes: input.notes ?? [],
      charge_at: input.startAt,
      start_at: input.startAt,
      end_at: input.startAt === null ? null : addCycles(input.startAt, plan, input.totalCount),
      auth_attempts: 0,
      total_count: input.totalCount,
      paid_count: 0,
      customer_notify: input.customerNotify,
      created_at: unixNow(),
      expire_by: input.expireBy,
      short_url: `https://rzp.io/i/${razorpayId("x").slice(2, 12)}`,
      has_scheduled_changes: false,
      change_scheduled_at: null,
      source: "api",
      payment_method: null,
      offer_id: null,
      paused_at: null,
      pause_initiated_by: null,
      remaining_count: input.totalCount,
    };
    this.subscriptions.set(subscription.id, {
      entity: subscription,
      plan,
      anchor: input.startAt,
      failuresInARow: 0,
      openInvoice: null,
      cycles: 0,
      cancelAtCycleEnd: false,
    });
    return subscription;
  }

  /**
   * What Razorpay's own clock would have done by now: a `created` subscription past expire_by
   * expires (no webhook exists for it); an `authenticated` one whose start_at has come becomes
   * active (subscription.activated). Answers the events.
   */
  refresh(record: SubscriptionRecord): PendingEvent[] {
    const sub = record.entity;
    const now = unixNow();
    if (sub.status === "created" && sub.expire_by !== null && now >= sub.expire_by) {
      sub.status = "expired";
      sub.charge_at = null;
      sub.ended_at = now;
      return [];
    }
    if (sub.status === "authenticated" && sub.start_at !== null && now >= sub.start_at) {
      return this.activate(record);
    }
    return [];
  }

  /**
   * Razorpay's clock reaching a `created` subscription's expire_by now (the sandbox has no clock
   * of its own): it expires, and no webhook tells anyone (Razorpay has no event for it).
   * Refused (409) unless `created`.
   */
  expireNow(record: SubscriptionRecord): void {
    const sub = record.entity;
    if (sub.status !== "created") {
      throw new SubscriptionRefused(409, `the subscription is ${sub.status}`);
    }
    sub.expire_by = unixNow();
    this.refresh(record);
  }

  /**
   * The customer authorises the mandate at short_url: a ₹1 authorisation payment, refunded
   * (v); `authenticated` (subscription.authenticated with subscription and payment), then
   * `active` at once (subscription.activated) when start_at is absent or has come. A halted
   * subscription authorised again (a new card or mandate) becomes active: its unpaid invoice is
   * given up and the next cycle is the one charged (docs payment-retries).
   */
  authorize(
    record: SubscriptionRecord,
    method: string,
    customer: { email?: string; contact?: string },
  ): AuthorizeResult {
    const sub = record.entity;
    const pending: PendingEvent[] = [...this.refresh(record)];
    if (sub.status !== "created" && sub.status !== "halted") {
      throw new SubscriptionRefused(409, `the subscription is ${sub.status}`);
    }
    const payment = this.authorisationPayment(record, method, customer);
    sub.payment_method = method;
    sub.customer_id ??= razorpayId("cust");
    payment.customer_id = sub.customer_id;
    if (sub.status === "halted") {
      if (record.openInvoice) record.cycles = record.openInvoice.cycle + 1;
      record.openInvoice = null;
      record.failuresInARow = 0;
      sub.status = "active";
      this.scheduleNext(record);
      pending.push(this.event("subscription.activated", record, payment));
      if (record.cycles >= sub.total_count) {
        this.end(record, "completed");
        pending.push(this.event("subscription.completed", record));
      }
      return { subscription: sub, payment, pending };
    }
    const now = unixNow();
    if (sub.start_at === null) {
      sub.start_at = now;
      sub.charge_at = now;
      sub.end_at = addCycles(now, record.plan, sub.total_count);
      record.anchor = now;
    }
    sub.status = "authenticated";
    pending.push(this.event("subscription.authenticated", record, payment));
    pending.push(...this.refresh(record));
    return { subscription: sub, payment, pending };
  }

  /**
   * Runs the schedule: the subscription's next charge happens now. An authenticated
   * subscription becomes active first (its start_at has come). A pending one retries its failed
   * invoice. `charged`: a captured payment on the invoice's order (payment.authorized,
   * payment.captured, order.paid, subscription.charged with subscription and payment; from
   * pending also subscription.activated; the last cycle then subscription.completed).
   * `failed`: payment.failed, then subscription.pending, or subscription.halted at the
   * haltAfterFailures-th failure in a row. cancel_at_cycle_end: cancels instead
   * (subscription.cancelled). Refused (409, nothing happens) when paused, not authorised, or
   * ended.
   */
  charge(
    record: SubscriptionRecord,
    failure: FailureDetails | null,
  ): ChargeResult {
    const sub = record.entity;
    const pending: PendingEvent[] = [...this.refresh(record)];
    if (sub.status === "authenticated") pending.push(...this.activate(record));
    if (sub.status !== "active" && sub.status !== "pending") {
      throw new SubscriptionRefused(
        409,
        sub.status === "created"
          ? "the subscription's mandate is not authorised yet"
          : `the subscription is ${sub.status}: nothing is charged`,
      );
    }
    if (record.cancelAtCycleEnd && !record.openInvoice) {
      this.end(record, "cancelled");
      pending.push(this.event("subscription.cancelled", record));
      return {
        outcome: "cancelled",
        subscription: sub,
        payment: null,
        order: null,
        invoiceId: null,
        pending,
      };
    }
    const amount = record.plan.item.amount * sub.quantity;
    const cycle = record.openInvoice?.cycle ?? record.cycles;
    let order = record.openInvoice ? this.store.orders.get(record.openInvoice.orderId) : undefined;
    const invoiceId = record.openInvoice?.invoiceId ?? razorpayId("inv");
    if (!order) {
      order = {
        id: razorpayId("order"),
        entity: "order",
        amount,
        amount_paid: 0,
        amount_due: amount,
        currency: "INR",
        receipt: null,
        offer_id: null,
        status: "created",
        attempts: 0,
        notes: structuredClone(sub.notes),
        created_at: unixNow(),
        partial_payment: false,
        first_payment_min_amount: null,
      };
      this.store.orders.set(order.id, order);
    }
    const payment = this.store.attempt(order, amount, sub.payment_method ?? "upi", failure, {});
    Object.assign(payment, {
      invoice_id: invoiceId,
      customer_id: sub.customer_id,
      token_id: razorpayId("token"),
      description: record.plan.item.name,
      notes: structuredClone(sub.notes),
    });
    const invoice = this.invoices.get(invoiceId) ??
      this.addInvoice(record, invoiceId, order.id, cycle, amount, payment);
    if (failure) {
      record.openInvoice = { invoiceId, orderId: order.id, cycle };
      record.failuresInARow++;
      pending.push({ event: "payment.failed", payload: { payment: snapshot(payment) } });
      if (record.failuresInARow >= this.haltAfterFailures) {
        sub.status = "halted";
        sub.charge_at = null;
        pending.push(this.event("subscription.halted", record, payment));
      } else {
        sub.status = "pending";
        sub.charge_at = unixNow() + retryAfterSeconds;
        pending.push(this.event("subscription.pending", record, payment));
      }
      return { outcome: "failed", subscription: sub, payment, order, invoiceId, pending };
    }
    pending.push({ event: "payment.authorized", payload: { payment: snapshot(payment) } });
    pending.push(...this.store.capture(payment));
    invoice.status = "paid";
    invoice.payment_id = payment.id;
    invoice.paid_at = unixNow();
    invoice.amount_paid = invoice.amount;
    invoice.amount_due = 0;
    const wasPending = sub.status === "pending";
    record.openInvoice = null;
    record.failuresInARow = 0;
    record.cycles = cycle + 1;
    sub.paid_count++;
    sub.remaining_count = sub.total_count - sub.paid_count;
    const anchor = record.anchor ?? unixNow();
    sub.current_start = addCycles(anchor, record.plan, cycle);
    sub.current_end = addCycles(anchor, record.plan, cycle + 1);
    sub.status = "active";
    this.scheduleNext(record);
    if (wasPending) pending.push(this.event("subscription.activated", record, payment));
    pending.push(this.event("subscription.charged", record, payment));
    if (sub.paid_count >= sub.total_count) {
      this.end(record, "completed");
      pending.push(this.event("subscription.completed", record, payment));
    }
    return { outcome: "charged", subscription: sub, payment, order, invoiceId, pending };
  }

  /**
   * `POST /v1/subscriptions/{id}/pause`: active → paused (subscription.paused); authenticated →
   * cancelled (subscription.cancelled), as Razorpay warns; anything else refused (400).
   */
  pause(record: SubscriptionRecord): PendingEvent[] {
    const sub = record.entity;
    const pending = this.refresh(record);
    if (sub.status === "authenticated") {
      this.end(record, "cancelled");
      return [...pending, this.event("subscription.cancelled", record)];
    }
    if (sub.status !== "active") {
      throw new SubscriptionRefused(400, `Subscription is not pausable in ${sub.status} status.`);
    }
    sub.status = "paused";
    sub.paused_at = unixNow();
    sub.pause_initiated_by = "self";
    return [...pending, this.event("subscription.paused", record)];
  }

  /** `POST /v1/subscriptions/{id}/resume`: paused → active (subscription.resumed); else 400. */
  resume(record: SubscriptionRecord): PendingEvent[] {
    const sub = record.entity;
    if (sub.status !== "paused") {
      throw new SubscriptionRefused(400, `Subscription is not resumable in ${sub.status} status.`);
    }
    sub.status = "active";
    sub.pause_initiated_by = null;
    this.scheduleNext(record);
    return [this.event("subscription.resumed", record)];
  }

  /**
   * `POST /v1/subscriptions/{id}/cancel`: now (subscription.cancelled), or at the end of the
   * current cycle for an active subscription (has_scheduled_changes; the next run of the
   * schedule cancels instead of charging). Refused once cancelled, completed or expired.
   */
  cancel(record: SubscriptionRecord, atCycleEnd: boolean): PendingEvent[] {
    const sub = record.entity;
    const pending = this.refresh(record);
    if (sub.status === "cancelled" || sub.status === "completed" || sub.status === "expired") {
      throw new SubscriptionRefused(
        400,
        `Subscription is not cancellable in ${sub.status} status.`,
      );
    }
    if (atCycleEnd && sub.status === "active") {
      record.cancelAtCycleEnd = true;
      sub.has_scheduled_changes = true;
      sub.change_scheduled_at = sub.charge_at;
      return pending;
    }
    this.end(record, "cancelled");
    return [...pending, this.event("subscription.cancelled", record)];
  }

  /** The invoices of a subscription, oldest first. */
  invoicesOf(subscriptionId: string): Invoice[] {
    return [...this.invoices.values()].filter((i) => i.subscription_id === subscriptionId);
  }

  /** The invoice of `cycle` (0-based), made by its first charge attempt: `issued`, unpaid. */
  private addInvoice(
    record: SubscriptionRecord,
    invoiceId: string,
    orderId: string,
    cycle: number,
    amount: number,
    payment: Payment,
  ): Invoice {
    const sub = record.entity;
    const item = record.plan.item;
    const now = unixNow();
    const email = (payment.email as string | undefined) ?? null;
    const contact = (payment.contact as string | undefined) ?? null;
    const invoice: Invoice = {
      id: invoiceId,
      entity: "invoice",
      receipt: null,
      invoice_number: null,
      customer_id: sub.customer_id,
      customer_details: {
        id: sub.customer_id,
        name: null,
        email,
        contact,
        gstin: null,
        billing_address: null,
        shipping_address: null,
        customer_name: null,
        customer_email: email,
        customer_contact: contact,
      },
      order_id: orderId,
      subscription_id: sub.id,
      line_items: [{
        id: razorpayId("li"),
        item_id: null,
        ref_id: null,
        ref_type: null,
        name: item.name,
        description: item.description,
        amount: item.amount,
        unit_amount: item.amount,
        gross_amount: amount,
        tax_amount: 0,
        taxable_amount: amount,
        net_amount: amount,
        currency: item.currency,
        type: "plan",
        tax_inclusive: false,
        hsn_code: null,
        sac_code: null,
        tax_rate: null,
        unit: null,
        quantity: sub.quantity,
        taxes: [],
      }],
      payment_id: null,
      status: "issued",
      expire_by: null,
      issued_at: now,
      paid_at: null,
      cancelled_at: null,
      expired_at: null,
      sms_status: null,
      email_status: null,
      date: now,
      terms: null,
      partial_payment: false,
      gross_amount: amount,
      tax_amount: 0,
      taxable_amount: amount,
      amount,
      amount_paid: 0,
      amount_due: amount,
      currency: item.currency,
      currency_symbol: "₹",
      description: null,
      notes: [],
      comment: null,
      short_url: `https://rzp.io/i/${razorpayId("x").slice(2, 12)}`,
      view_less: true,
      billing_start: record.anchor === null ? null : addCycles(record.anchor, record.plan, cycle),
      billing_end: record.anchor === null ? null : addCycles(record.anchor, record.plan, cycle + 1),
      type: "invoice",
      created_at: now,
    };
    this.invoices.set(invoice.id, invoice);
    return invoice;
  }

  private activate(record: SubscriptionRecord): PendingEvent[] {
    record.entity.status = "active";
    this.scheduleNext(record);
    return [this.event("subscription.activated", record)];
  }

  /** charge_at: the next cycle's start, or null when every cycle is billed. */
  private scheduleNext(record: SubscriptionRecord): void {
    const sub = record.entity;
    sub.charge_at = record.cycles < sub.total_count && record.anchor !== null
      ? Math.max(addCycles(record.anchor, record.plan, record.cycles), sub.current_end ?? 0)
      : null;
  }

  private end(record: SubscriptionRecord, status: "cancelled" | "completed"): void {
    const sub = record.entity;
    sub.status = status;
    sub.ended_at = unixNow();
    sub.charge_at = null;
    sub.has_scheduled_changes = false;
    sub.change_scheduled_at = null;
    record.cancelAtCycleEnd = false;
  }

  /** A subscription event: the subscription's snapshot, and the payment's when one was tried. */
  private event(event: string, record: SubscriptionRecord, payment?: Payment): PendingEvent {
    const payload: Record<string, Entity> = { subscription: snapshot(record.entity) };
    if (payment) payload.payment = snapshot(payment);
    return { event, payload };
  }

  /** The mandate's authorisation payment: ₹1, captured and refunded at once (v); no order. */
  private authorisationPayment(
    record: SubscriptionRecord,
    method: string,
    customer: { email?: string; contact?: string },
  ): Payment {
    const now = unixNow();
    const payment: Payment = {
      id: razorpayId("pay"),
      entity: "payment",
      amount: 100,
      currency: "INR",
      status: "refunded",
      order_id: null,
      invoice_id: null,
      international: false,
      method,
      amount_refunded: 100,
      refund_status: "full",
      captured: true,
      description: `Mandate authorisation for ${record.entity.id} (v)`,
      card_id: method === "card" ? razorpayId("card") : null,
      bank: method === "emandate" ? "HDFC" : null,
      wallet: null,
      vpa: method === "upi" ? "customer@okhdfcbank" : null,
      email: customer.email ?? "customer@example.com",
      contact: customer.contact ?? "+919810150461",
      customer_id: null,
      token_id: razorpayId("token"),
      notes: [],
      fee: 0,
      tax: 0,
      error_code: null,
      error_description: null,
      error_source: null,
      error_step: null,
      error_reason: null,
      created_at: now,
    };
    this.store.payments.set(payment.id, payment);
    return payment;
  }
}
