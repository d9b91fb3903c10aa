// Per-vendor state of the sandbox: the faults set through the control API, what the vendor
// accepted (the inspection API's `requests`) and what it called back (`callbacks`).

/** Provider codes, as in table public.vendors. */
export const vendorCodes = [
  "twilio",
  "aws_sns",
  "aws_ses",
  "sendgrid",
  "whatsapp_cloud",
  "razorpay",
  "openai",
  "telegram",
] as const;

/** One of the provider codes. */
export type VendorCode = typeof vendorCodes[number];

/** True when `code` is a provider code the sandbox plays. */
export function isVendorCode(code: string): code is VendorCode {
  return (vendorCodes as readonly string[]).includes(code);
}

/** How callbacks of sends accepted from now on are delivered. */
export type CallbackMode =
  | "normal"
  | "none"
  | "duplicate"
  | "out_of_order"
  | "late"
  | "read_without_delivered";

/** The callback modes, for validating the control API. */
export const callbackModes: readonly CallbackMode[] = [
  "normal",
  "none",
  "duplicate",
  "out_of_order",
  "late",
  "read_without_delivered",
];

/**
 * A specific error for the next `count` accepted-shaped requests. `code` is the vendor's own
 * (21211, "MessageRejected", 131047, "bounce"...); `status` overrides its usual HTTP status;
 * `via: "callback"` accepts the send and reports the failure in the callbacks instead (the
 * default for codes that only exist there: Twilio 30xxx, SES Bounce/Complaint, SendGrid events).
 */
export interface FailNext {
  code: string | number;
  count: number;
  status?: number;
  via?: "response" | "callback";
  /** Razorpay only: the failure hits only requests under this path (e.g. `/v1/orders`). */
  path?: string;
}

/** Faults and behaviour set per vendor by `POST /_control/{code}`. */
export interface VendorFaults {
  /** Added to every request before it is answered, in milliseconds. */
  latencyMs: number;
  /** 0..1: the share of requests answered with the vendor's transient (5xx) error. */
  errorRate: number;
  failNext: FailNext | null;
  /** Every request answered 503 in the vendor's envelope. */
  outage: boolean;
  /** Requests per wall-clock second beyond which the vendor's own 429/throttle reply comes. */
  rateLimitPerSecond: number | null;
  callbacks: { mode: CallbackMode; delayMs?: number };
}

/** The faults a vendor starts with and returns to on reset: none. */
export function defaultFaults(): VendorFaults {
  return {
    latencyMs: 0,
    errorRate: 0,
    failNext: null,
    outage: false,
    rateLimitPerSecond: null,
    callbacks: { mode: "normal" },
  };
}

/** One accepted send, as the inspection API lists it. */
export interface InspectedRequest {
  /** The provider message id the vendor answered with. */
  id: string;
  /** ISO-8601. */
  receivedAt: string;
  to: string;
  body?: string;
  subject?: string;
  /** WhatsApp template name or SendGrid template_id. */
  template?: string;
  /** What the vendor received, parsed (form fields, query fields or the JSON body). */
  params: unknown;
  /** Our message id when the request carried one. */
  ourId?: string;
}

/** One callback attempt, as the inspection API lists it. */
export interface CallbackRecord {
  url: string;
  /** The receiver's HTTP status, or 0 when the connection failed. */
  status: number;
  /** The status or event type it reported (`delivered`, `Bounce`, `inbound`...). */
  event: string;
  /** ISO-8601. */
  sentAt: string;
  /** The provider message id it is about, when there is one. */
  providerMessageId?: string;
  /** 1 for the first delivery, 2+ for the vendor's retries. */
  attempt: number;
}

/** A wall-clock second's request count, for `rateLimitPerSecond`. */
export interface RateWindow {
  /** Unix seconds of the window. */
  second: number;
  count: number;
}

/** The answer of a rate-limit check: whether the request is over, and the window's figures. */
export interface RateCheck {
  limited: boolean;
  limit: number | null;
  remaining: number | null;
  /** Unix seconds when the window resets. */
  reset: number;
}

/** Mutable state of one vendor. */
export class VendorState {
  faults: VendorFaults = defaultFaults();
  requests: InspectedRequest[] = [];
  callbacks: CallbackRecord[] = [];
  private window: RateWindow = { second: 0, count: 0 };

  /** Back to no faults and empty logs. */
  reset(): void {
    this.faults = defaultFaults();
    this.requests = [];
    this.callbacks = [];
    this.window = { second: 0, count: 0 };
  }

  /** Counts a request in the current second and says whether it is over the limit. */
  checkRate(now = Date.now()): RateCheck {
    const second = Math.floor(now / 1000);
    if (this.window.second !== second) this.window = { second, count: 0 };
    this.window.count++;
    const limit = this.faults.rateLimitPerSecond;
    if (limit === null) return { limited: false, limit: null, remaining: null, reset: second + 1 };
    return {
      limited: this.window.count > limit,
      limit,
      remaining: Math.max(0, limit - this.window.count),
      reset: second + 1,
    };
  }

  /** Takes one use of `failNext`, or null when none is set. */
  takeFailNext(): FailNext | null {
    const fail = this.faults.failNext;
    if (!fail) return null;
    fail.count--;
    if (fail.count <= 0) this.faults.failNext = null;
    return fail;
  }

  /** True for a request that `errorRate` picks for the transient error. */
  randomFailure(): boolean {
    return this.faults.errorRate > 0 && Math.random() < this.faults.errorRate;
  }
}

/** Waits `ms` milliseconds (no-op for 0), ending early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
