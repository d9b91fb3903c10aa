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

/** A rule whose last evaluation failed: its alerts are left as they were until it runs again. */
export const FailingRuleSchema = z.object({
  rule: z.string().openapi({ example: "queue_delay" }),
  last_error: z.string().openapi({
    description: "Why its last evaluation failed (e.g. a threshold saved before it was checked)",
    example: "threshold.minutes must be a whole number from 1 to 1440",
  }),
  last_evaluated_at: orNull(DateTime).openapi({ description: "When it was last tried" }),
}).openapi("FailingAlertRule");

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
    "first, and for admins the rules that failed to evaluate. Admins and managers; agents and " +
    "analysts get 403.",
  ...signedIn,
  request: { query: AlertQuery },
  responses: {
    200: json(
      "Alerts",
      z.object({
        data: z.array(AlertSchema),
        open: z.number().int().openapi({ description: "How many alerts are open now" }),
        failing_rules: orNull(z.array(FailingRuleSchema)).openapi({
          description: "Admins only (null for managers): the enabled rules whose last " +
            "evaluation failed, with why (public.alert_rules.last_error); their open alerts " +
            "neither resolve nor get raised until they run again. Empty when every rule ran.",
        }),
      }),
    ),
    ...commonProblems,
    403: problem("Agents and analysts do not read alerts"),
  },
});
