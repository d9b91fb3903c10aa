// Razorpay's webhooks as the sandbox sends them (VENDORS.md §4): a POST of
// `{entity:"event", account_id, event, contains, payload, created_at}` to webhooks.razorpay, the
// body serialised like Razorpay's PHP (`/` as `\/`, non-ASCII as \uXXXX), X-Razorpay-Signature =
// hex HMAC-SHA256(webhook secret, raw body) and X-Razorpay-Event-Id, both fixed when the event
// is made: retries resend the same bytes, id and signature, so after a rotation the retries of
// older events still carry the old secret's signature, while a dashboard replay is signed again
// with the current one. Any non-2xx (or no answer in 5 s) is retried with exponential backoff,
// compressed for tests (50 ms, 100 ms, … instead of Razorpay's 24 hours). On demand each event
// is duplicated N times (one after another or all at once), batches are reordered (later events
// first), delayed, or dropped. The signer is node:crypto, independent of the verifier under test.
import { createHmac } from "node:crypto";
import { alphanumeric, type PendingEvent, razorpayId, unixNow } from "./razorpay_store.ts";
import { type CallbackMode, sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

/** The sandbox's Razorpay account (`acc_` + 14), as webhooks name it. */
export const razorpayAccountId = "acc_BFQ7uQEaa7j2z7";

/** hex HMAC-SHA256(secret, body): X-Razorpay-Signature. */
export function razorpayHmac(secret: string, data: string): string {
  return createHmac("sha256", secret).update(data).digest("hex");
}

/** JSON as Razorpay's PHP json_encode writes it: `/` escaped, non-ASCII as lowercase \uXXXX. */
export function razorpayJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll("/", "\\/")
    .replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** How webhooks are delivered (`POST /_control/razorpay/webhooks`). */
export interface WebhookSettings {
  /** Further attempts after a non-2xx answer (default 5). */
  retries: number;
  /** Wait before the first retry, doubled for each next, in ms (default 50). */
  backoffMs: number;
  /** Extra deliveries of each event, same id, bytes and signature (default 0). */
  duplicates: number;
  /** Duplicates sent all at once instead of one after another (default false). */
  concurrent: boolean;
  /** A batch's events (e.g. payment.authorized, payment.captured, order.paid) later first. */
  reorder: boolean;
  /** Events are made (and listed) but never delivered. */
  drop: boolean;
  /** Wait before a batch's first delivery, in ms (default: the vendor's callbacks delay, 20). */
  delayMs?: number;
  /** How long a receiver may take to answer before the attempt counts as failed, in ms. */
  timeoutMs: number;
}

/** The settings the sandbox starts with and returns to on reset. */
export function defaultWebhookSettings(): WebhookSettings {
  return {
    retries: 5,
    backoffMs: 50,
    duplicates: 0,
    concurrent: false,
    reorder: false,
    drop: false,
    timeoutMs: 5000,
  };
}

/** A made event: its bytes and signature are fixed for every retry and duplicate. */
export interface MadeEvent {
  /** X-Razorpay-Event-Id (`evt_` + 14 alphanumerics in the sandbox). */
  id: string;
  event: string;
  body: string;
  signature: string;
  /** Which webhook secret signed it: 1 for the first, +1 per rotation. */
  secretVersion: number;
  /** Unix seconds (the body's `created_at`). */
  createdAt: number;
}

/** One delivery attempt, as `GET /_inspect/razorpay/deliveries` lists it. */
export interface WebhookDelivery {
  eventId: string;
  event: string;
  url: string;
  /** 1 for the first attempt of this delivery, 2+ for retries. */
  attempt: number;
  /** The receiver's HTTP status; 0 when it did not answer. */
  status: number;
  secretVersion: number;
  /** True for a dashboard replay. */
  replay: boolean;
  /** ISO-8601. */
  sentAt: string;
}

/** Makes, signs and delivers the account's webhook events. */
export class RazorpayWebhooks {
  settings: WebhookSettings = defaultWebhookSettings();
  /** The current webhook secret's version: 1, then +1 per rotation. */
  secretVersion = 1;
  events = new Map<string, MadeEvent>();
  deliveries: WebhookDelivery[] = [];
  private controller = new AbortController();
  private running = 0;
  private waiters: Array<() => void> = [];

  constructor(private ctx: SandboxContext, private state: VendorState) {}

  /** Forgets events and deliveries, stops pending ones, default settings; keeps the secret. */
  reset(): void {
    this.cancel();
    this.settings = defaultWebhookSettings();
    this.events.clear();
    this.deliveries = [];
  }

  /** Stops every pending delivery. */
  cancel(): void {
    this.controller.abort();
    this.controller = new AbortController();
  }

  /** Resolves once no delivery is waiting or in flight. */
  settled(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Rotates the webhook secret (as in the Dashboard): `secret` or a new random one becomes
   * current; events already made keep their old signature for every retry.
   */
  rotateSecret(secret?: string): { secret: string; secretVersion: number } {
    this.ctx.credentials.razorpayWebhookSecret = secret ?? `whsec_${alphanumeric(24)}`;
    this.secretVersion++;
    return {
      secret: this.ctx.credentials.razorpayWebhookSecret,
      secretVersion: this.secretVersion,
    };
  }

  /**
   * Makes the events of one change (signed now with the current secret) and schedules their
   * delivery as one batch. Returns their ids and types, in the order they happened.
   */
  emit(pending: PendingEvent[]): Array<{ id: string; event: string }> {
    const made = pending.map((p) => this.make(p));
    if (made.length > 0) this.deliver(made, false);
    return made.map(({ id, event }) => ({ id, event }));
  }

  /**
   * A dashboard replay of an event: same id and body, signed again with the **current** secret
   * (Razorpay docs webhooks/replay-events). False when the event is unknown.
   */
  replay(eventId: string): boolean {
    const original = this.events.get(eventId);
    if (!original) return false;
    const secret = this.ctx.credentials.razorpayWebhookSecret;
    this.deliver([{
      ...original,
      signature: razorpayHmac(secret, original.body),
      secretVersion: this.secretVersion,
    }], true);
    return true;
  }

  private make(pending: PendingEvent): MadeEvent {
    const createdAt = unixNow();
    const payload = Object.fromEntries(
      Object.entries(pending.payload).map(([name, entity]) => [name, { entity }]),
    );
    const body = razorpayJson({
      entity: "event",
      account_id: razorpayAccountId,
      event: pending.event,
      contains: Object.keys(pending.payload),
      payload,
      created_at: createdAt,
    });
    const made: MadeEvent = {
      id: razorpayId("evt"),
      event: pending.event,
      body,
      signature: razorpayHmac(this.ctx.credentials.razorpayWebhookSecret, body),
      secretVersion: this.secretVersion,
      createdAt,
    };
    this.events.set(made.id, made);
    return made;
  }

  /** Delivers a batch in the background, shaped by the settings and the callbacks mode. */
  private deliver(batch: MadeEvent[], replay: boolean): void {
    const url = this.ctx.webhooks.razorpay;
    const mode: CallbackMode = this.state.faults.callbacks.mode;
    if (!url || this.settings.drop || mode === "none") return;
    const settings = { ...this.settings };
    const ordered = settings.reorder || mode === "out_of_order" ? [...batch].reverse() : batch;
    const copies = 1 + Math.max(settings.duplicates, mode === "duplicate" ? 1 : 0);
    const delayMs = settings.delayMs ?? this.state.faults.callbacks.delayMs ??
      (mode === "late" ? 2000 : 20);
    const signal = this.controller.signal;
    this.running++;
    (async () => {
      await sleep(delayMs, signal);
      for (const made of ordered) {
        if (signal.aborted) return;
        if (settings.concurrent) {
          await Promise.all(
            Array.from({ length: copies }, () => this.post(url, made, settings, signal, replay)),
          );
        } else {
          for (let i = 0; i < copies; i++) await this.post(url, made, settings, signal, replay);
        }
      }
    })().catch(() => {}).finally(() => {
      this.running--;
      if (this.running === 0) { for (const resolve of this.waiters.splice(0)) resolve(); }
    });
  }

  /** One delivery with its retries; the last status. */
  private async post(
    url: string,
    made: MadeEvent,
    settings: WebhookSettings,
    signal: AbortSignal,
    replay: boolean,
  ): Promise<number> {
    let status = 0;
    for (let attempt = 1; attempt <= settings.retries + 1; attempt++) {
      if (attempt > 1) await sleep(settings.backoffMs * 2 ** (attempt - 2), signal);
      if (signal.aborted) return status;
      const sentAt = new Date().toISOString();
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "Razorpay-Webhook/v1",
            "x-razorpay-event-id": made.id,
            "x-razorpay-signature": made.signature,
          },
          body: made.body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(settings.timeoutMs)]),
        });
        await response.body?.cancel();
        status = response.status;
      } catch {
        if (signal.aborted) return status;
        status = 0;
      }
      this.deliveries.push({
        eventId: made.id,
        event: made.event,
        url,
        attempt,
        status,
        secretVersion: made.secretVersion,
        replay,
        sentAt,
      });
      this.state.callbacks.push({ url, status, event: made.event, sentAt, attempt });
      if (status >= 200 && status < 300) return status;
    }
    return status;
  }
}
