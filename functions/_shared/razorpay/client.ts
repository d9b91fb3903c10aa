// A small fetch client for the Razorpay REST calls we make (VENDORS.md §4, §10; plans and
// subscriptions from Razorpay's API reference, subscriptions/*): the `razorpay`
// npm SDK hard-codes its host (so it cannot reach the sandbox), rides on axios (which broke
// under Supabase's edge runtime) and needs Node crypto. HTTP Basic `key_id:key_secret`, JSON
// bodies, a deadline per call, answers checked with the schemas of types.ts, and every failure
// turned into a RazorpayError that says whether to retry. It retries nothing itself: the caller
// journals each call first (Razorpay has no idempotency key for orders and links), so a retry
// is the caller's decision. Money in paise, times in unix seconds.
import { z } from "zod";
import {
  type PlanPeriod,
  RazorpayErrorEnvelopeSchema,
  type RazorpayInvoice,
  RazorpayInvoiceSchema,
  type RazorpayOrder,
  RazorpayOrderSchema,
  type RazorpayPayment,
  type RazorpayPaymentLink,
  RazorpayPaymentLinkSchema,
  RazorpayPaymentSchema,
  type RazorpayPlan,
  RazorpayPlanSchema,
  type RazorpayRefund,
  RazorpayRefundSchema,
  type RazorpaySubscription,
  RazorpaySubscriptionSchema,
} from "./types.ts";

/** How long a call may take unless told otherwise, in milliseconds. */
export const defaultRazorpayTimeoutMs = 10_000;

/** Options of createRazorpayClient. */
export interface RazorpayClientOptions {
  /** `https://api.razorpay.com` (RAZORPAY_BASE_URL) or the sandbox's `${url}/razorpay`; no /v1. */
  baseUrl: string;
  /** `rzp_test_…` / `rzp_live_…`. */
  keyId: string;
  keySecret: string;
  /** For tests; the global fetch by default. */
  fetch?: typeof fetch;
  /** Deadline per call, in milliseconds (default 10 s). */
  timeoutMs?: number;
}

/** What Razorpay said about a failed call (its error envelope), or what went wrong before it. */
export interface RazorpayErrorDetails {
  /** The HTTP status; 0 when there was no answer (timeout, network, cancelled). */
  status: number;
  /**
   * Razorpay's `error.code` (`BAD_REQUEST_ERROR`, `GATEWAY_ERROR`, `SERVER_ERROR`,
   * `SERVICE_UNAVAILABLE`), or ours: `TIMEOUT`, `NETWORK_ERROR`, `ABORTED`, `BAD_RESPONSE`.
   */
  code: string;
  description: string;
  /** The request field at fault (`amount`…), when Razorpay names one. */
  field?: string | null;
  /** `business`, `customer`, `bank`…; "NA" for auth and URL errors. */
  source?: string | null;
  step?: string | null;
  reason?: string | null;
  metadata?: unknown;
}

/**
 * A Razorpay call that failed. `retryable` is true for 429 (Razorpay's rate limiter: back off
 * exponentially with jitter; it sends no Retry-After), 5xx, 409 (a refund with the same
 * X-Refund-Idempotency still in flight) and status 0 (no answer: the call may or may not have
 * taken effect, so reconcile before repeating a create). 4xx validation and auth errors are
 * final. A 2xx whose body is not the expected entity is `BAD_RESPONSE`, retryable (reconcile).
 */
export class RazorpayError extends Error implements RazorpayErrorDetails {
  status: number;
  code: string;
  description: string;
  field?: string | null;
  source?: string | null;
  step?: string | null;
  reason?: string | null;
  metadata?: unknown;
  retryable: boolean;

  constructor(details: RazorpayErrorDetails, options?: { cause?: unknown }) {
    super(`Razorpay ${details.status || "no answer"} ${details.code}: ${details.description}`, {
      cause: options?.cause,
    });
    this.name = "RazorpayError";
    this.status = details.status;
    this.code = details.code;
    this.description = details.description;
    this.field = details.field;
    this.source = details.source;
    this.step = details.step;
    this.reason = details.reason;
    this.metadata = details.metadata;
    this.retryable = details.status === 0 || details.status === 409 || details.status === 429 ||
      details.status >= 500 || details.code === "BAD_RESPONSE";
  }
}

/** `POST /v1/orders`. Razorpay docs orders/create. */
export interface CreateOrderInput {
  /** Paise, an integer ≥ 100 (₹1.00). */
  amount: number;
  /** Default `INR`. */
  currency?: string;
  /** Our reference, ≤ 40 characters; how a lost create is found again (findOrdersByReceipt). */
  receipt: string;
  /** ≤ 15 keys × 256 characters. */
  notes?: Record<string, string>;
  partial_payment?: boolean;
  /** Paise, with partial_payment. */
  first_payment_min_amount?: number;
}

/** `POST /v1/payment_links`. Razorpay docs payment-links/create-standard. */
export interface CreatePaymentLinkInput {
  /** Paise, ≥ 100. */
  amount: number;
  /** Default `INR`. */
  currency?: string;
  accept_partial?: boolean;
  /** Paise; the smallest first payment when accept_partial. */
  first_min_partial_amount?: number;
  description?: string;
  customer?: { name?: string; email?: string; contact?: string };
  /** We send the link ourselves: pass `{sms: false, email: false}`. */
  notify?: { sms?: boolean; email?: boolean };
  reminder_enable?: boolean;
  notes?: Record<string, string>;
  callback_url?: string;
  callback_method?: "get";
  /** Unix seconds; at most 6 months ahead (Razorpay's default and maximum). */
  expire_by?: number;
  /** Our unique reference (≤ 40 characters); how a lost create is found again. */
  reference_id?: string;
}

/** `POST /v1/payments/{id}/refund`. Razorpay docs refunds/create-normal. */
export interface CreateRefundInput {
  /** Paise; absent = the whole refundable amount. */
  amount?: number;
  notes?: Record<string, string>;
  /** Default `normal`. */
  speed?: "normal" | "optimum";
  receipt?: string;
}

/**
 * `POST /v1/plans`. Razorpay docs subscriptions/create-plan. A plan cannot be edited or deleted:
 * reuse one per (period, interval, amount).
 */
export interface CreatePlanInput {
  /** With interval, the cycle: a quarter is `monthly` × 3. */
  period: PlanPeriod;
  /** Periods per cycle, ≥ 1 (≥ 7 for `daily`). */
  interval: number;
  item: {
    name: string;
    /** Paise per cycle, ≥ 100. */
    amount: number;
    /** Default `INR`. */
    currency?: string;
    description?: string;
  };
  /** ≤ 15 keys × 256 characters. */
  notes?: Record<string, string>;
}

/**
 * `POST /v1/subscriptions`. Razorpay docs subscriptions/create-subscription. Not idempotent:
 * journal the call first.
 */
export interface CreateSubscriptionInput {
  /** `plan_…`. */
  plan_id: string;
  /** Cycles to charge (our installments still open). */
  total_count: number;
  /** Units of the plan per charge (default 1). */
  quantity?: number;
  /**
   * Unix seconds of the first charge; absent = at once after the customer authorises (the
   * authorisation then starts the first cycle).
   */
  start_at?: number;
  /** Unix seconds: the last moment the customer may authorise; the subscription expires after. */
  expire_by?: number;
  /** 1 = Razorpay tells the customer itself (SMS/email); we send 0 and notify ourselves. */
  customer_notify?: 0 | 1;
  /** ≤ 15 keys × 256 characters, e.g. `{case_id, autopay_id}`. */
  notes?: Record<string, string>;
}

/** `POST /v1/subscriptions/{id}/cancel`. Razorpay docs subscriptions/cancel-subscription. */
export interface CancelSubscriptionInput {
  /** 0 = now (status `cancelled`); 1 = at the end of the current cycle (no further charge). */
  cancel_at_cycle_end: 0 | 1;
}

/** The calls we make to Razorpay. Each rejects with RazorpayError only. */
export interface RazorpayClient {
  /** Creates an order (not idempotent: journal the call first, look up by receipt after). */
  createOrder(input: CreateOrderInput, signal?: AbortSignal): Promise<RazorpayOrder>;
  /** `GET /v1/orders/{id}`. */
  fetchOrder(orderId: string, signal?: AbortSignal): Promise<RazorpayOrder>;
  /** `GET /v1/orders?receipt=…`: the orders made with our receipt (normally 0 or 1). */
  findOrdersByReceipt(receipt: string, signal?: AbortSignal): Promise<RazorpayOrder[]>;
  /** `GET /v1/orders/{id}/payments`: every attempt on the order. */
  fetchOrderPayments(orderId: string, signal?: AbortSignal): Promise<RazorpayPayment[]>;
  /** `GET /v1/payments/{id}`. */
  fetchPayment(paymentId: string, signal?: AbortSignal): Promise<RazorpayPayment>;
  /** `POST /v1/payments/{id}/capture {amount, currency}`; amount (paise) = the authorised one. */
  capturePayment(
    paymentId: string,
    amount: number,
    currency?: string,
    signal?: AbortSignal,
  ): Promise<RazorpayPayment>;
  /** Creates a payment link (not idempotent: look up by reference_id after a lost answer). */
  createPaymentLink(
    input: CreatePaymentLinkInput,
    signal?: AbortSignal,
  ): Promise<RazorpayPaymentLink>;
  /** `GET /v1/payment_links/{id}`. */
  fetchPaymentLink(paymentLinkId: string, signal?: AbortSignal): Promise<RazorpayPaymentLink>;
  /** `GET /v1/payment_links?reference_id=…`: the links made with our reference (0 or 1). */
  findPaymentLinksByReferenceId(
    referenceId: string,
    signal?: AbortSignal,
  ): Promise<RazorpayPaymentLink[]>;
  /** `POST /v1/payment_links/{id}/cancel`. */
  cancelPaymentLink(paymentLinkId: string, signal?: AbortSignal): Promise<RazorpayPaymentLink>;
  /**
   * `POST /v1/payments/{id}/refund` with `X-Refund-Idempotency: idempotencyKey` (10+ of
   * `[A-Za-z0-9_-]`): repeating the same key with the same body answers the same refund; a
   * different body with it is a BAD_REQUEST_ERROR; while the first is in flight, 409 (retryable).
   */
  createRefund(
    paymentId: string,
    input: CreateRefundInput,
    idempotencyKey: string,
    signal?: AbortSignal,
  ): Promise<RazorpayRefund>;
  /** `GET /v1/refunds/{id}`. */
  fetchRefund(refundId: string, signal?: AbortSignal): Promise<RazorpayRefund>;
  /** Creates a plan (`POST /v1/plans`, item.currency INR by default). */
  createPlan(input: CreatePlanInput, signal?: AbortSignal): Promise<RazorpayPlan>;
  /** `GET /v1/plans/{id}`. */
  fetchPlan(planId: string, signal?: AbortSignal): Promise<RazorpayPlan>;
  /**
   * Creates a subscription (`POST /v1/subscriptions`): answered `status: "created"` with the
   * `short_url` where the customer authorises the mandate. Not idempotent.
   */
  createSubscription(
    input: CreateSubscriptionInput,
    signal?: AbortSignal,
  ): Promise<RazorpaySubscription>;
  /** `GET /v1/subscriptions/{id}`. */
  fetchSubscription(subscriptionId: string, signal?: AbortSignal): Promise<RazorpaySubscription>;
  /**
   * `GET /v1/subscriptions?plan_id=…&count=100&skip=…`: the plan's subscriptions, newest first
   * (Razorpay docs subscriptions/fetch-subscriptions). A create whose answer was lost is found
   * again here by the notes it carried (Razorpay has no idempotency key for subscriptions).
   */
  findSubscriptionsByPlan(
    planId: string,
    options?: { count?: number; skip?: number },
    signal?: AbortSignal,
  ): Promise<RazorpaySubscription[]>;
  /**
   * `GET /v1/invoices?subscription_id=…&count=100&skip=…`, every page: the subscription's
   * invoices, one per cycle billed, newest first (Razorpay docs subscriptions/fetch-invoices). A
   * `paid` one names the payment that paid it (`payment_id`): how a debit whose webhooks were all
   * lost is found (the subscription itself only counts them, `paid_count`).
   */
  fetchSubscriptionInvoices(
    subscriptionId: string,
    signal?: AbortSignal,
  ): Promise<RazorpayInvoice[]>;
  /**
   * `POST /v1/subscriptions/{id}/cancel {cancel_at_cycle_end}`; a cancelled subscription cannot
   * be reactivated. Refused (BAD_REQUEST_ERROR, field `status`) once cancelled, completed or
   * expired.
   */
  cancelSubscription(
    subscriptionId: string,
    input: CancelSubscriptionInput,
    signal?: AbortSignal,
  ): Promise<RazorpaySubscription>;
  /**
   * `POST /v1/subscriptions/{id}/pause {pause_at: "now"}`: no charge until resumed. ⚠ Only an
   * `active` subscription pauses; pausing an `authenticated` one (start_at still ahead)
   * **cancels** it (Razorpay docs subscriptions/pause-subscription, "Watch Out").
   */
  pauseSubscription(subscriptionId: string, signal?: AbortSignal): Promise<RazorpaySubscription>;
  /** `POST /v1/subscriptions/{id}/resume {resume_at: "now"}`: a paused subscription charges again. */
  resumeSubscription(subscriptionId: string, signal?: AbortSignal): Promise<RazorpaySubscription>;
}

const idempotencyKeyShape = /^[A-Za-z0-9_-]{10,}$/;

/** A client for `options.baseUrl` with the key pair. See RazorpayClient. */
export function createRazorpayClient(options: RazorpayClientOptions): RazorpayClient {
  const base = options.baseUrl.replace(/\/+$/, "") + "/v1";
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? defaultRazorpayTimeoutMs;
  const authorization = "Basic " + btoa(`${options.keyId}:${options.keySecret}`);
  const id = encodeURIComponent;

  async function call<T extends z.ZodType>(
    method: "GET" | "POST",
    path: string,
    schema: T,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<z.infer<T>> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    let response: Response;
    let text: string;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers: {
          authorization,
          accept: "application/json",
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
          ...init.headers,
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (deadline.signal.aborted) {
        throw new RazorpayError({
          status: 0,
          code: "TIMEOUT",
          description: `no answer within ${timeoutMs} ms (the call may have taken effect)`,
        }, { cause: error });
      }
      if (init.signal?.aborted) {
        throw new RazorpayError(
          { status: 0, code: "ABORTED", description: "cancelled by the caller" },
          { cause: error },
        );
      }
      throw new RazorpayError({
        status: 0,
        code: "NETWORK_ERROR",
        description: `unreachable: ${error instanceof Error ? error.message : String(error)}`,
      }, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw errorFrom(response.status, parsed, text);
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new RazorpayError({
        status: response.status,
        code: "BAD_RESPONSE",
        description: `${method} ${path} answered an unexpected body: ${result.error.message}`
          .slice(0, 500),
      });
    }
    return result.data;
  }

  const list = <T extends z.ZodType>(schema: T, key: string) =>
    z.looseObject({ [key]: z.array(schema) });

  return {
    createOrder: (input, signal) =>
      call("POST", "/orders", RazorpayOrderSchema, {
        body: { currency: "INR", ...input },
        signal,
      }),
    fetchOrder: (orderId, signal) =>
      call("GET", `/orders/${id(orderId)}`, RazorpayOrderSchema, { signal }),
    findOrdersByReceipt: async (receipt, signal) =>
      (await call(
        "GET",
        `/orders?receipt=${id(receipt)}&count=100`,
        list(RazorpayOrderSchema, "items"),
        { signal },
      )).items as RazorpayOrder[],
    fetchOrderPayments: async (orderId, signal) =>
      (await call(
        "GET",
        `/orders/${id(orderId)}/payments`,
        list(RazorpayPaymentSchema, "items"),
        { signal },
      )).items as RazorpayPayment[],
    fetchPayment: (paymentId, signal) =>
      call("GET", `/payments/${id(paymentId)}`, RazorpayPaymentSchema, { signal }),
    capturePayment: (paymentId, amount, currency = "INR", signal) =>
      call("POST", `/payments/${id(paymentId)}/capture`, RazorpayPaymentSchema, {
        body: { amount, currency },
        signal,
      }),
    createPaymentLink: (input, signal) =>
      call("POST", "/payment_links", RazorpayPaymentLinkSchema, {
        body: { currency: "INR", ...input },
        signal,
      }),
    fetchPaymentLink: (paymentLinkId, signal) =>
      call("GET", `/payment_links/${id(paymentLinkId)}`, RazorpayPaymentLinkSchema, { signal }),
    findPaymentLinksByReferenceId: async (referenceId, signal) =>
      // This list is `{payment_links: [...]}`, not the usual `{items: [...]}`.
      (await call(
        "GET",
        `/payment_links?reference_id=${id(referenceId)}`,
        list(RazorpayPaymentLinkSchema, "payment_links"),
        { signal },
      )).payment_links as RazorpayPaymentLink[],
    cancelPaymentLink: (paymentLinkId, signal) =>
      call("POST", `/payment_links/${id(paymentLinkId)}/cancel`, RazorpayPaymentLinkSchema, {
        signal,
      }),
    createRefund: (paymentId, input, idempotencyKey, signal) => {
      if (!idempotencyKeyShape.test(idempotencyKey)) {
        // Refused before sending, as Razorpay would refuse it (final: a retry cannot help).
        return Promise.reject(
          new RazorpayError({
            status: 400,
            code: "BAD_REQUEST_ERROR",
            description: "X-Refund-Idempotency must be 10 or more of [A-Za-z0-9_-]",
            field: "X-Refund-Idempotency",
          }),
        );
      }
      return call("POST", `/payments/${id(paymentId)}/refund`, RazorpayRefundSchema, {
        body: input,
        headers: { "x-refund-idempotency": idempotencyKey },
        signal,
      });
    },
    fetchRefund: (refundId, signal) =>
      call("GET", `/refunds/${id(refundId)}`, RazorpayRefundSchema, { signal }),
    createPlan: (input, signal) =>
      call("POST", "/plans", RazorpayPlanSchema, {
        body: { ...input, item: { currency: "INR", ...input.item } },
        signal,
      }),
    fetchPlan: (planId, signal) =>
      call("GET", `/plans/${id(planId)}`, RazorpayPlanSchema, { signal }),
    createSubscription: (input, signal) =>
      call("POST", "/subscriptions", RazorpaySubscriptionSchema, { body: input, signal }),
    fetchSubscription: (subscriptionId, signal) =>
      call("GET", `/subscriptions/${id(subscriptionId)}`, RazorpaySubscriptionSchema, { signal }),
    findSubscriptionsByPlan: async (planId, options = {}, signal) =>
      (await call(
        "GET",
        `/subscriptions?plan_id=${id(planId)}&count=${options.count ?? 100}&skip=${
          options.skip ?? 0
        }`,
        list(RazorpaySubscriptionSchema, "items"),
        { signal },
      )).items as RazorpaySubscription[],
    fetchSubscriptionInvoices: async (subscriptionId, signal) => {
      const pageSize = 100;
      const invoices: RazorpayInvoice[] = [];
      for (let skip = 0;; skip += pageSize) {
        const { items } = await call(
          "GET",
          `/invoices?subscription_id=${id(subscriptionId)}&count=${pageSize}&skip=${skip}`,
          list(RazorpayInvoiceSchema, "items"),
          { signal },
        );
        invoices.push(...(items as RazorpayInvoice[]));
        if (items.length < pageSize) return invoices;
      }
    },
    cancelSubscription: (subscriptionId, input, signal) =>
      call("POST", `/subscriptions/${id(subscriptionId)}/cancel`, RazorpaySubscriptionSchema, {
        body: input,
        signal,
      }),
    pauseSubscription: (subscriptionId, signal) =>
      call("POST", `/subscriptions/${id(subscriptionId)}/pause`, RazorpaySubscriptionSchema, {
        body: { pause_at: "now" },
        signal,
      }),
    resumeSubscription: (subscriptionId, signal) =>
      call("POST", `/subscriptions/${id(subscriptionId)}/resume`, RazorpaySubscriptionSchema, {
        body: { resume_at: "now" },
        signal,
      }),
  };
}

/** The RazorpayError for a non-2xx answer: its envelope when there is one, else the status. */
function errorFrom(status: number, parsed: unknown, text: string): RazorpayError {
  const envelope = RazorpayErrorEnvelopeSchema.safeParse(parsed);
  if (envelope.success) {
    const e = envelope.data.error;
    return new RazorpayError({
      status,
      code: e.code,
      description: e.description ?? "",
      field: e.field,
      source: e.source,
      step: e.step,
      reason: e.reason,
      metadata: e.metadata,
    });
  }
  // A proxy's page, an empty 502…: Razorpay's nearest code, with the start of the body.
  return new RazorpayError({
    status,
    code: status === 429
      ? "BAD_REQUEST_ERROR"
      : status === 503
      ? "SERVICE_UNAVAILABLE"
      : status >= 500
      ? "SERVER_ERROR"
      : "BAD_REQUEST_ERROR",
    description: text.slice(0, 200) || `HTTP ${status}`,
  });
}
