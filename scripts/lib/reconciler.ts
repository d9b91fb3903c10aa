// Payment reconciliation on a timer, for the local stack and self-hosted operators without
// pg_net (on Supabase pg_cron calls the `reconcile` function instead): every `everyMs` the due
// orders, links, refunds and authorised payments are asked of Razorpay (see
// functions/_shared/payments/reconcile.ts). Nothing runs while Razorpay is not configured.
import { config } from "../../functions/_shared/config.ts";
import { log } from "../../functions/_shared/log.ts";
import { razorpay } from "../../functions/_shared/payments/razorpay_calls.ts";
import { reconcilePayments } from "../../functions/_shared/payments/reconcile.ts";
import { type PeriodicJob, startPeriodic } from "./periodic.ts";

/** Starts reconciling every `everyMs` milliseconds (default 60 s), one run at a time. */
export function startReconciler({ everyMs = 60_000 } = {}): PeriodicJob {
  return startPeriodic({
    everyMs,
    enabled: () => config().vendors.razorpay.enabled,
    run: async () => {
      const stats = await reconcilePayments(razorpay());
      if (stats.claimed > 0) log("info", "payments reconciled", { ...stats });
    },
    failure: "payment reconciliation failed; next tick",
  });
}
