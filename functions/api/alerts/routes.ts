// /api/alerts: the monitoring's alerts (private.evaluate_alerts raises and resolves them every
// minute). Admins and managers read them (a vendor outage or a late queue holds up every
// subtree's messages; no alert carries personal data); agents and analysts get 403. Admins also
// see what became of each alert's emails.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn } from "../../_shared/schemas.ts";

/** Counts of an alert's emails by status (queued, sent, delivered, failed, blocked, ...). */
const EmailCounts = z.record(z.string(), z.number().int()).openapi({
  example: { queued: 0, sent: 1, delivered: 1 },
});

/** One alert, as public.alerts holds it. */
export const AlertSchema = z.object({
  id: z.guid(),
  rule: z.string().openapi({
    description: "provider_error_rate, provider_breaker_open, provider_quota, provider_spend, " +
      "queue_delay, webhooks_silent or lost_payments",
    example: "provider_breaker_open",
  }),
  subject: z.string().openapi({
    description: "A provider code, `outbox` (the queue) or `razorpay`",
    example: "twilio",
  }),
  status: z.enum(["open", "resolved"]),
  raised_at: DateTime,
  last_seen_at: DateTime.openapi({ description: "The last evaluation that found the condition" }),
  resolved_at: orNull(DateTime),
  resolution: orNull(z.enum(["cleared", "rule_disabled"])),
  value: orNull(z.number()).openapi({
    description: "The measure at the last evaluation: percent (error rate, quota, spend), " +
      "seconds (breaker), minutes (queue delay, webhooks silent) or payments (lost payments)",
  }),
  summary: z.string(),
  details: z.record(z.string(), z.unknown()).openapi({
    description: "The figures behind it (counts, thresholds, times); money in paise",
  }),
  reopened: z.number().int().openapi({
    description: "Times it came back within the rule's cooldown after resolving (no new email)",
  }),
  notified: z.number().int().openapi({ description: "Admin emails queued when it was raised" }),
  emails: orNull(z.object({ raised: EmailCounts, resolved: EmailCounts })).openapi({
    description: "Admins only (null for managers): its emails by status, as the dispatcher " +
      "and the vendors' callbacks moved them. Telegram is not sent yet.",
  }),
}).openapi("Alert");

/** The query of GET /alerts. */
export const AlertQuery = z.object({
  status: z.enum(["open", "resolved"]).optional().openapi({
    description: "Only open or only resolved alerts; both when absent",
  }),
  days: z.coerce.number().int().min(1).max(90).default(7).openapi({
    description: "Resolved alerts of the last `days` days (open ones whatever their age)",
  }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** GET /alerts. */
export const listAlerts = createRoute({
  operationId: "listAlerts",
  method: "get",
  path: "/alerts",
  tags: ["Operations"],
  summary: "Open alerts, then recently resolved ones",
  description: "Open alerts first, then those resolved in the last `days` days, newest raised " +
    "first. Admins and managers; agents and analysts get 403.",
  ...signedIn,
  request: { query: AlertQuery },
  responses: {
    200: json(
      "Alerts",
      z.object({
        data: z.array(AlertSchema),
        open: z.number().int().openapi({ description: "How many alerts are open now" }),
      }),
    ),
    ...commonProblems,
    403: problem("Agents and analysts do not read alerts"),
  },
});
