// The `reconcile` edge function: POST /reconcile asks Razorpay about what a lost webhook or a
// crash left open (orders, payment links, refunds, authorised payments) and puts it right through
// the same database functions the webhook uses. pg_cron + pg_net invoke it every five minutes on
// Supabase (migration 20261129030000_schedule_payment_reconciliation); locally the worker of
// `npm start` runs the same reconciliation. Overlapping calls share the work: each item is
// leased when claimed. Only the service_role key may call it; the answer is what the run did.
import { z } from "@hono/zod-openapi";
import { createApp } from "../_shared/app.ts";
import { requireServiceRole } from "../_shared/auth.ts";
import { readJobBody } from "../_shared/job_body.ts";
import { razorpay } from "../_shared/payments/razorpay_calls.ts";
import { reconcilePayments } from "../_shared/payments/reconcile.ts";

const ReconcileRequest = z.object({
  max_items: z.number().int().min(1).max(1000).default(50),
}).strict();

const app = createApp("reconcile");

app.post("/", requireServiceRole("reconcile payments"), async (c) => {
  const parsed = await readJobBody(c, ReconcileRequest);
  if (!parsed.ok) return parsed.response;
  const stats = await reconcilePayments(razorpay(), { maxItems: parsed.data.max_items });
  return c.json(stats, 200);
});

export default app;
