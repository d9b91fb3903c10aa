// Delivers the sandbox's callbacks (status callbacks, event webhooks, inbound messages) the way
// the vendors do: after the send has been answered, one after another, retried on failure where
// the vendor retries, and shaped by the callback mode set through the control API (duplicated,
// out of order, late, or none).

import { type CallbackMode, sleep, type VendorState } from "./state.ts";

/** A request the sandbox will POST to a receiver. Built once: duplicates and retries resend it. */
export interface Delivery {
  /** What it reports (`delivered`, `Bounce`, `inbound`...), for the inspection API. */
  event: string;
  url: string;
  providerMessageId?: string;
  /** The headers and raw body, signed; called once, just before the first attempt. */
  build(): Promise<{ headers: Record<string, string>; body: string }>;
}

/** How a vendor retries a callback its receiver refused (non-2xx or no connection). */
export interface RetryPolicy {
  /** Further attempts after the first. Twilio: 0 (it does not retry status callbacks). */
  retries: number;
  /** Wait before the first retry, doubled for each next one, in milliseconds. */
  backoffMs: number;
}

/** Delay before the first callback of a send when the control API set none, in milliseconds. */
const defaultDelayMs: Record<CallbackMode, number> = {
  normal: 20,
  none: 0,
  duplicate: 20,
  out_of_order: 20,
  late: 2000,
  read_without_delivered: 20,
};

/** Runs callback chains in the background and lets tests and `close()` wait for or stop them. */
export class CallbackEngine {
  private controller = new AbortController();
  private running = 0;
  private waiters: Array<() => void> = [];

  /**
   * Delivers the callbacks of one send. `sequence(mode)` gives the vendor's events for that mode
   * in their natural order (the vendor drops `delivered` for `read_without_delivered`); this
   * applies the rest of the mode: none, each twice, reversed, or after a long delay.
   */
  schedule(
    state: VendorState,
    sequence: (mode: CallbackMode) => Delivery[],
    policy: RetryPolicy,
  ): void {
    const { mode, delayMs } = state.faults.callbacks;
    if (mode === "none") return;
    let items = sequence(mode);
    if (mode === "out_of_order") items = [...items].reverse();
    if (mode === "duplicate") items = items.flatMap((item) => [item, item]);
    if (items.length === 0) return;
    this.run(state, items, policy, delayMs ?? defaultDelayMs[mode]);
  }

  /** Delivers one callback now (an inbound message, a subscription confirmation), no mode. */
  deliverNow(state: VendorState, delivery: Delivery, policy: RetryPolicy): Promise<number> {
    const signal = this.controller.signal;
    this.running++;
    const built = new Map<Delivery, Promise<{ headers: Record<string, string>; body: string }>>();
    return this.post(state, delivery, policy, signal, built).finally(() => this.done());
  }

  /** Resolves once no callback is waiting or in flight. */
  settled(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops every pending callback (reset, close); later sends schedule as usual. */
  cancelAll(): void {
    this.controller.abort();
    this.controller = new AbortController();
  }

  private run(state: VendorState, items: Delivery[], policy: RetryPolicy, delayMs: number) {
    const signal = this.controller.signal;
    this.running++;
    const built = new Map<Delivery, Promise<{ headers: Record<string, string>; body: string }>>();
    (async () => {
      await sleep(delayMs, signal);
      for (const item of items) {
        if (signal.aborted) return;
        await this.post(state, item, policy, signal, built);
      }
    })().catch(() => {}).finally(() => this.done());
  }

  private async post(
    state: VendorState,
    item: Delivery,
    policy: RetryPolicy,
    signal: AbortSignal,
    built: Map<Delivery, Promise<{ headers: Record<string, string>; body: string }>>,
  ): Promise<number> {
    if (!built.has(item)) built.set(item, item.build());
    const { headers, body } = await built.get(item)!;
    let status = 0;
    for (let attempt = 1; attempt <= policy.retries + 1; attempt++) {
      if (signal.aborted) return status;
      if (attempt > 1) await sleep(policy.backoffMs * 2 ** (attempt - 2), signal);
      if (signal.aborted) return status;
      const sentAt = new Date().toISOString();
      try {
        const response = await fetch(item.url, { method: "POST", headers, body, signal });
        await response.body?.cancel();
        status = response.status;
      } catch {
        if (signal.aborted) return status;
        status = 0;
      }
      state.callbacks.push({
        url: item.url,
        status,
        event: item.event,
        sentAt,
        providerMessageId: item.providerMessageId,
        attempt,
      });
      if (status >= 200 && status < 300) return status;
    }
    return status;
  }

  private done() {
    this.running--;
    if (this.running === 0) {
      for (const resolve of this.waiters.splice(0)) resolve();
    }
  }
}
