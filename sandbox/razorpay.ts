// Razorpay's REST API as the sandbox plays it (VENDORS.md §4), under /razorpay/v1: orders
// (create with Razorpay's validation errors, fetch, list by receipt, an order's payments),
// payments (fetch, capture of exactly the authorised amount), payment links (create with a
// reference_id unique in the account, fetch, list by reference_id, cancel), plans,
// subscriptions and their invoices (razorpay_subscriptions_api.ts), refunds
// (`POST /v1/payments/{id}/refund` with X-Refund-Idempotency: the same body answers the same
// refund, another body is refused, a retry while the first is in flight is 409; fetch). HTTP
// Basic `key_id:key_secret`, the `{error:{code, description, field, source, step, reason,
// metadata}}` envelope ("NA" for auth and URL errors), and the control API's faults: outage
// (503), latency, rate limit (429), errorRate (500) and failNext (a status, `"timeout"`: no
// answer and no effect, or `"lost_answer"`: done, then no answer), optionally only for paths
// under `failNext.path`. Calls that change the account are listed by the inspection API
// (`GET /_inspect/razorpay/requests[?ourId=receipt|reference_id|idempotency key]`).
// Descriptions marked (v) are the sandbox's wording, not Razorpay's.
import { basicAuth, json, sameSecret } from "./http.ts";
import {
  amountError,
  currencyError,
  extraFieldsError,
  notesError,
  notFound,
  page,
  razorpayError,
  urlNotFound,
  validationError,
} from "./razorpay_http.ts";
import {
  type Entity,
  type Order,
  type PaymentLink,
  razorpayId,
  RazorpayStore,
  type Refund,
  snapshot,
  unixNow,
} from "./razorpay_store.ts";
import { SubscriptionBook } from "./razorpay_subscriptions.ts";
import { invoicesRoute, plansRoute, subscriptionsRoute } from "./razorpay_subscriptions_api.ts";
import { RazorpayWebhooks } from "./razorpay_webhooks.ts";
import { sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

/** A payment link may live at most 6 months (Razorpay's default and maximum), in seconds. */
const maxLinkLifeSeconds = 180 * 24 * 60 * 60;
/** …and must live at least 15 minutes (v), in seconds. */
const minLinkLifeSeconds = 15 * 60;
/** How long a `"timeout"` fault holds the request before answering 504, in ms. */
const holdMs = 120_000;
const idempotencyKeyShape = /^[A-Za-z0-9_-]{10,}$/;
/** Razorpay's description of a server error. */
const serverTrouble =
  "We are facing some trouble completing your request at the moment. Please try again shortly.";

/** Razorpay's error codes and the HTTP status each goes with by default. */
const statusOfCode: Record<string, number> = {
  BAD_REQUEST_ERROR: 400,
  GATEWAY_ERROR: 502,
  SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
};

/** A refund idempotency key's record: the request it was first used with, and its refund. */
interface RefundKey {
  /** Payment id and the canonical body of the first request. */
  fingerprint: string;
  refundId?: string;
}

/** How refunds settle (`POST /_control/razorpay/refunds`). */
export interface RefundSettings {
  /** `processed` or `failed` at once after creation, or `pending` until settled by control. */
  settle: "processed" | "failed" | "pending";
  /** How long creating a refund takes (a retry meanwhile is 409), in ms. */
  processingMs: number;
}

/** The Razorpay vendor: the REST API over the account's store, and its webhooks. */
export class RazorpayVendor {
  store = new RazorpayStore();
  /** Plans and subscriptions (razorpay_subscriptions.ts). */
  subscriptions = new SubscriptionBook(this.store);
  webhooks: RazorpayWebhooks;
  refundSettings: RefundSettings = { settle: "processed", processingMs: 0 };
  private refundKeys = new Map<string, RefundKey>();
  private inFlight = new Set<string>();
  /** Ends requests held by a `"timeout"` fault when the sandbox resets or closes. */
  private holds = new AbortController();

  constructor(private ctx: SandboxContext, private state: VendorState) {
    this.webhooks = new RazorpayWebhooks(ctx, state);
  }

  /** Forgets the account's entities, events and settings (control reset). */
  reset(): void {
    this.cancel();
    this.store.reset();
    this.subscriptions.reset();
    this.webhooks.reset();
    this.refundSettings = { settle: "processed", processingMs: 0 };
    this.refundKeys.clear();
    this.inFlight.clear();
  }

  /** Stops pending webhooks and ends held requests (reset, close). */
  cancel(): void {
    this.webhooks.cancel();
    this.holds.abort();
    this.holds = new AbortController();
  }

  /** Handles a request under /razorpay; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const faults = this.state.faults;
    if (faults.outage) {
      return razorpayError(503, "The service is temporarily unavailable (v)");
    }
    await sleep(faults.latencyMs);
    const auth = basicAuth(request.headers.get("authorization"));
    if (!auth) {
      return razorpayError(401, "Please provide your api key for authentication purposes.");
    }
    const { razorpayKeyId, razorpayKeySecret } = this.ctx.credentials;
    if (auth.user !== razorpayKeyId || !sameSecret(auth.password, razorpayKeySecret)) {
      return razorpayError(401, "The api key provided is invalid");
    }
    if (this.state.checkRate().limited) return razorpayError(429, "Too many requests");
    const fail = faults.failNext;
    if (fail && (!fail.path || path === fail.path || path.startsWith(`${fail.path}/`))) {
      this.state.takeFailNext();
      if (fail.code === "timeout" || fail.code === "lost_answer") {
        if (fail.code === "lost_answer") await this.route(request, path);
        // Until the client gives up (or the sandbox stops): the answer never comes.
        await sleep(holdMs, AbortSignal.any([request.signal, this.holds.signal]));
        return razorpayError(504, "Gateway timeout (v)");
      }
      const status = fail.status ?? statusOfCode[String(fail.code)] ?? Number(fail.code);
      const httpStatus = Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
      return razorpayError(
        httpStatus,
        httpStatus === 429 ? "Too many requests" : serverTrouble,
        typeof fail.code === "string" && fail.code in statusOfCode ? fail.code : undefined,
      );
    }
    if (this.state.randomFailure()) return razorpayError(500, serverTrouble);
    return this.route(request, path);
  }

  private async route(request: Request, path: string): Promise<Response> {
    const url = new URL(request.url);
    let parts: string[];
    try {
      parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      return urlNotFound();
    }
    const [version, resource, id, action] = parts;
    const method = request.method;
    if (version !== "v1" || parts.length > 4) return urlNotFound();
    let body: Record<string, unknown> = {};
    if (method === "POST") {
      const text = await request.text();
      if (text.trim() !== "") {
        try {
          const parsed = JSON.parse(text);
          if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
            throw new Error();
          }
          body = parsed;
        } catch {
          return razorpayError(400, "The request body is not valid JSON (v)");
        }
      }
    }
    if (resource === "orders") {
      if (method === "POST" && !id) return this.createOrder(body);
      if (method === "GET" && !id) return this.listOrders(url);
      const order = id ? this.store.orders.get(id) : undefined;
      if (method === "GET" && id && !action) return order ? json(snapshot(order)) : notFound();
      if (method === "GET" && action === "payments") {
        if (!order) return notFound();
        const items = [...this.store.payments.values()].filter((p) => p.order_id === id)
          .reverse();
        return json({ entity: "collection", count: items.length, items });
      }
    }
    if (resource === "payments" && id) {
      const payment = this.store.payments.get(id);
      if (method === "GET" && !action) return payment ? json(payment) : notFound();
      if (!payment) return notFound();
      if (method === "POST" && action === "capture") return this.capture(payment.id, body);
      if (method === "POST" && action === "refund") {
        return await this.refund(payment.id, body, request.headers.get("x-refund-idempotency"));
      }
      if (method === "GET" && action === "refunds") {
        const items = [...this.store.refunds.values()].filter((r) => r.payment_id === id)
          .reverse();
        return json({ entity: "collection", count: items.length, items });
      }
    }
    if (resource === "refunds" && id && !action && method === "GET") {
      const refund = this.store.refunds.get(id);
      return refund ? json(refund) : notFound();
    }
    if (resource === "plans") return plansRoute(this, { method, url, id, action, body });
    if (resource === "subscriptions") {
      return subscriptionsRoute(this, { method, url, id, action, body });
    }
    if (resource === "invoices") return invoicesRoute(this, { method, url, id, action });
    if (resource === "payment_links") {
      if (method === "POST" && !id) return this.createLink(body);
      if (method === "GET" && !id) return this.listLinks(url);
      const link = id ? this.store.links.get(id) : undefined;
      if (!link) return notFound();
      this.webhooks.emit(this.store.expireIfDue(link));
      if (method === "GET" && !action) return json(link);
      if (method === "POST" && action === "cancel") return this.cancelLink(link);
    }
    return urlNotFound();
  }

  /**
   * Lists a call that changed the account for `GET /_inspect/razorpay/requests`: `id` the
   * entity's, `subject` the operation (`order.create`, `payment.capture`, `refund.create`,
   * `payment_link.create`, `payment_link.cancel`, `plan.create`, `subscription.create`,
   * `subscription.cancel` / `pause` / `resume`), `ourId` our key (receipt, reference_id,
   * X-Refund-Idempotency or a subscription's notes.autopay_id), `to` the link's customer
   * contact.
   */
  accepted(
    operation: string,
    id: string,
    params: Record<string, unknown>,
    ourId?: string,
    to?: unknown,
  ): void {
    this.state.requests.push({
      id,
      receivedAt: new Date().toISOString(),
      to: typeof to === "string" ? to : "",
      subject: operation,
      params,
      ourId,
    });
  }

  private createOrder(body: Record<string, unknown>): Response {
    const error = extraFieldsError(body, [
      "amount",
      "currency",
      "receipt",
      "notes",
      "partial_payment",
      "first_payment_min_amount",
      "payment_capture",
      "method",
      "offer_id",
      "customer_id",
    ]) ?? amountError(body.amount) ?? currencyError(body.currency, true) ??
      notesError(body.notes);
    if (error) return error;
    if (body.receipt !== undefined && body.receipt !== null) {
      if (typeof body.receipt !== "string") {
        return validationError("receipt", "The receipt must be a string.");
      }
      if (body.receipt.length > 40) {
        return validationError("receipt", "The receipt may not be greater than 40 characters.");
      }
    }
    const amount = body.amount as number;
    if (body.partial_payment !== undefined && typeof body.partial_payment !== "boolean") {
      return validationError("partial_payment", "The partial payment field must be true or false.");
    }
    const partial = body.partial_payment === true;
    let firstMin: number | null = null;
    if (body.first_payment_min_amount !== undefined && body.first_payment_min_amount !== null) {
      if (!partial) {
        return validationError(
          "first_payment_min_amount",
          "first_payment_min_amount is/are not required and should not be sent",
        );
      }
      const minError = amountError(body.first_payment_min_amount, "first_payment_min_amount");
      if (minError) return minError;
      firstMin = body.first_payment_min_amount as number;
      if (firstMin > amount) {
        return validationError(
          "first_payment_min_amount",
          "The first_payment_min_amount must be less than or equal to the amount. (v)",
        );
      }
    }
    const order: Order = {
      id: razorpayId("order"),
      entity: "order",
      amount,
      amount_paid: 0,
      amount_due: amount,
      currency: "INR",
      receipt: (body.receipt as string | undefined) ?? null,
      offer_id: null,
      status: "created",
      attempts: 0,
      notes: (body.notes as Record<string, string> | undefined) ?? [],
      created_at: unixNow(),
      partial_payment: partial,
      first_payment_min_amount: firstMin,
    };
    this.store.orders.set(order.id, order);
    this.accepted("order.create", order.id, body, order.receipt ?? undefined);
    return json(snapshot(order));
  }

  private listOrders(url: URL): Response {
    const receipt = url.searchParams.get("receipt");
    const all = [...this.store.orders.values()].filter((o) =>
      receipt === null || o.receipt === receipt
    );
    const items = page(all, url).map(snapshot);
    return json({ entity: "collection", count: items.length, items });
  }

  private capture(paymentId: string, body: Record<string, unknown>): Response {
    const payment = this.store.payments.get(paymentId)!;
    const error = amountError(body.amount) ?? currencyError(body.currency, false);
    if (error) return error;
    if (payment.status === "captured" || payment.status === "refunded") {
      return razorpayError(400, "This payment has already been captured");
    }
    if (payment.status !== "authorized") {
      return razorpayError(
        400,
        "Only payments which have been authorized and not yet captured can be captured",
      );
    }
    if (body.amount !== payment.amount) {
      return validationError("amount", "Capture amount must be equal to the amount authorized");
    }
    this.webhooks.emit(this.store.capture(payment));
    this.accepted("payment.capture", payment.id, body);
    return json(payment);
  }

  private async refund(
    paymentId: string,
    body: Record<string, unknown>,
    idempotencyKey: string | null,
  ): Promise<Response> {
    let key: string | null = null;
    if (idempotencyKey !== null) {
      if (!idempotencyKeyShape.test(idempotencyKey)) {
        return validationError(
          "X-Refund-Idempotency",
          "The idempotency key must be at least 10 characters of letters, digits, _ or - (v)",
        );
      }
      key = idempotencyKey;
      const fingerprint = `${paymentId} ${canonicalJson(body)}`;
      const seen = this.refundKeys.get(key);
      if (seen && seen.fingerprint !== fingerprint) {
        return razorpayError(
          400,
          "Different request with the same idempotency key has already been processed.",
        );
      }
      if (this.inFlight.has(key)) {
        return razorpayError(409, "Request with the same idempotency key is being processed (v)");
      }
      if (seen?.refundId) return json(this.store.refunds.get(seen.refundId));
      this.refundKeys.set(key, { fingerprint });
      this.inFlight.add(key);
    }
    try {
      const answer = this.checkRefund(paymentId, body);
      if (answer instanceof Response) {
        if (key) this.refundKeys.delete(key);
        return answer;
      }
      await sleep(this.refundSettings.processingMs);
      const refund: Refund = {
        id: razorpayId("rfnd"),
        entity: "refund",
        amount: answer,
        currency: "INR",
        payment_id: paymentId,
        notes: (body.notes as Record<string, string> | undefined) ?? [],
        receipt: (body.receipt as string | undefined) ?? null,
        acquirer_data: { arn: null },
        created_at: unixNow(),
        batch_id: null,
        status: "pending",
        speed_processed: "normal",
        speed_requested: (body.speed as string | undefined) ?? "normal",
      };
      this.store.refunds.set(refund.id, refund);
      this.accepted("refund.create", refund.id, body, key ?? undefined);
      if (key) this.refundKeys.get(key)!.refundId = refund.id;
      const created = snapshot(refund);
      const settle = this.refundSettings.settle;
      if (settle !== "pending") this.webhooks.emit(this.store.settleRefund(refund, settle));
      return json(created);
    } finally {
      if (key) this.inFlight.delete(key);
    }
  }

  /** The refund's amount in paise, or Razorpay's refusal. */
  private checkRefund(paymentId: string, body: Record<string, unknown>): number | Response {
    const error = extraFieldsError(body, ["amount", "speed", "notes", "receipt"]) ??
      (body.amount === undefined ? null : amountError(body.amount)) ??
      notesError(body.notes);
    if (error) return error;
    if (body.speed !== undefined && body.speed !== "normal" && body.speed !== "optimum") {
      return validationError("speed", "The selected speed is invalid.");
    }
    const payment = this.store.payments.get(paymentId)!;
    if (payment.status !== "captured" && payment.status !== "refunded") {
      return razorpayError(400, "The payment has not been captured, so it cannot be refunded (v)");
    }
    const refundable = this.store.refundable(payment);
    if (refundable <= 0) return razorpayError(400, "The payment has been fully refunded already");
    const amount = (body.amount as number | undefined) ?? refundable;
    if (amount > refundable) {
      return validationError(
        "amount",
        "The refund amount provided is greater than amount captured (v)",
      );
    }
    return amount;
  }

  private createLink(body: Record<string, unknown>): Response {
    const error = extraFieldsError(body, [
      "amount",
      "currency",
      "accept_partial",
      "first_min_partial_amount",
      "description",
      "customer",
      "notify",
      "reminder_enable",
      "notes",
      "callback_url",
      "callback_method",
      "expire_by",
      "reference_id",
      "upi_link",
      "options",
    ]) ?? amountError(body.amount) ?? currencyError(body.currency, false) ??
      notesError(body.notes);
    if (error) return error;
    const amount = body.amount as number;
    for (const flag of ["accept_partial", "reminder_enable", "upi_link"]) {
      if (body[flag] !== undefined && typeof body[flag] !== "boolean") {
        return validationError(flag, `The ${flag} field must be true or false.`);
      }
    }
    const partial = body.accept_partial === true;
    let firstMin = 0;
    if (body.first_min_partial_amount !== undefined && body.first_min_partial_amount !== null) {
      if (!partial) {
        return validationError(
          "first_min_partial_amount",
          "first_min_partial_amount is/are not required and should not be sent",
        );
      }
      const minError = amountError(body.first_min_partial_amount, "first_min_partial_amount");
      if (minError) return minError;
      firstMin = body.first_min_partial_amount as number;
      if (firstMin > amount) {
        return validationError(
          "first_min_partial_amount",
          "first_min_partial_amount should be less than or equal to the amount (v)",
        );
      }
    }
    const now = unixNow();
    let expireBy = now + maxLinkLifeSeconds;
    if (body.expire_by !== undefined && body.expire_by !== null) {
      const value = body.expire_by;
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return validationError("expire_by", "The expire by must be an integer.");
      }
      if (value < now + minLinkLifeSeconds) {
        return validationError(
          "expire_by",
          "expire_by should be at least 15 minutes after current time (v)",
        );
      }
      if (value > now + maxLinkLifeSeconds) {
        return validationError(
          "expire_by",
          "expire_by cannot be more than 6 months from current time (v)",
        );
      }
      expireBy = value;
    }
    let reference = "";
    if (body.reference_id !== undefined && body.reference_id !== null) {
      if (typeof body.reference_id !== "string") {
        return validationError("reference_id", "The reference id must be a string.");
      }
      if (body.reference_id.length > 40) {
        return validationError(
          "reference_id",
          "The reference id may not be greater than 40 characters.",
        );
      }
      reference = body.reference_id;
      if ([...this.store.links.values()].some((l) => l.reference_id === reference)) {
        return validationError(
          "reference_id",
          `Payment Link with reference id ${reference} already exists (v)`,
        );
      }
    }
    if (body.callback_url !== undefined && typeof body.callback_url !== "string") {
      return validationError("callback_url", "The callback url format is invalid.");
    }
    if (typeof body.callback_url === "string" && !URL.canParse(body.callback_url)) {
      return validationError("callback_url", "The callback url format is invalid.");
    }
    if (body.callback_method !== undefined && body.callback_method !== "get") {
      return validationError("callback_method", "The selected callback method is invalid.");
    }
    const customer = (typeof body.customer === "object" && body.customer) || {};
    const notify = (typeof body.notify === "object" && body.notify) || {};
    const link: PaymentLink = {
      id: razorpayId("plink"),
      accept_partial: partial,
      amount,
      amount_paid: 0,
      callback_method: (body.callback_method as string | undefined) ?? "",
      callback_url: (body.callback_url as string | undefined) ?? "",
      cancelled_at: 0,
      created_at: now,
      currency: "INR",
      customer: { name: "", email: "", contact: "", ...customer as Entity },
      description: (body.description as string | undefined) ?? "",
      expire_by: expireBy,
      expired_at: 0,
      first_min_partial_amount: firstMin,
      notes: (body.notes as Record<string, string> | undefined) ?? null,
      notify: { sms: false, email: false, ...notify as Entity },
      order_id: "",
      payments: null,
      reference_id: reference,
      reminder_enable: body.reminder_enable === true,
      reminders: [],
      short_url: `https://rzp.io/i/${razorpayId("x").slice(2, 12)}`,
      status: "created",
      updated_at: now,
      upi_link: body.upi_link === true,
      user_id: "",
    };
    this.store.links.set(link.id, link);
    const contact = (customer as Entity).contact;
    this.accepted("payment_link.create", link.id, body, reference || undefined, contact);
    return json(link);
  }

  private listLinks(url: URL): Response {
    const reference = url.searchParams.get("reference_id");
    const matching = [...this.store.links.values()].filter((l) =>
      reference === null || l.reference_id === reference
    );
    for (const link of matching) this.webhooks.emit(this.store.expireIfDue(link));
    // This list is `{payment_links: [...]}`, not a collection.
    return json({ payment_links: page(matching, url) });
  }

  private cancelLink(link: PaymentLink): Response {
    if (link.status !== "created" && link.status !== "partially_paid") {
      return razorpayError(400, `Payment Link cannot be cancelled in ${link.status} status (v)`);
    }
    this.accepted("payment_link.cancel", link.id, {}, link.reference_id || undefined);
    link.status = "cancelled";
    link.cancelled_at = unixNow();
    link.updated_at = link.cancelled_at;
    return json(link);
  }
}

/** JSON with object keys sorted: the same request spelt in another key order is the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
