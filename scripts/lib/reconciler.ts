// Payment reconciliation on a timer, for the local stack and self-hosted operators without
// pg_net (on Supabase pg_cron calls the `reconcile` function instead): every `everyMs` the due
// orders, links, refunds and authorised payments are asked of Razorpay (see
// functions/_shared/payments/reconcile.ts). Nothing runs while Razorpay is not configured.
import { config } from "../../functions/_shared/config.ts";
import { log } from "../../functions/_shared/log.ts";
import { razorpay } from "../../functions/_shared/payments/razorpay_calls.ts";
import { reconcilePayments } from "../../functions/_shared/payments/reconcile.ts";

/** A running reconciler. */
export interface Reconciler {
  /** Lets the run in hand finish, then stops. */
  stop(): Promise<void>;
}

/** Starts reconciling every `everyMs` milliseconds (default 60 s), one run at a time. */
export function startReconciler({ everyMs = 60_000 } = {}): Reconciler {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running || !config().vendors.razorpay.enabled) return;
    running = reconcilePayments(razorpay())
      .then((stats) => {
        if (stats.claimed > 0) log("info", "payments reconciled", { ...stats });
      })
      .catch((error) => log("warn", "payment reconciliation failed; next tick", { error }))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, everyMs);
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
