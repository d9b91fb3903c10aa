import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import { problem } from "../../_shared/schemas.ts";

/** One messaging provider's health: private.vendor_health's `providers` entry, plus `configured`. */
export const ProviderHealthSchema = z.object({
  provider: z.string().openapi({ example: "twilio" }),
  enabled: z.boolean().openapi({
    description: "An enabled channel uses it (as its provider or its fallback)",
  }),
  configured: z.boolean().openapi({
    description: "This host has the provider's credentials (or the vendor sandbox)",
  }),
  breaker: z.enum(["closed", "open", "half_open"]),
  breaker_since: DateTime,
  error_rate_percent: orNull(z.number()).openapi({
    description: "Failures for a provider cause (and retries after a transient failure) per " +
      "attempt over the window, in percent; null without attempts",
  }),
  attempts: z.number().int(),
  errors: z.number().int(),
  p95_send_ms: orNull(z.number()).openapi({
    description: "95th percentile of claim to the vendor's acceptance over the window, ms",
  }),
  daily_quota: orNull(z.number().int()).openapi({
    description: "Messages a day (the channel's daily_quota); null: no limit",
  }),
  used_today: z.number().int().openapi({ description: "Handed to it this IST day" }),
  quota_used_percent: orNull(z.number()),
  spend_month_paise: z.string().openapi({
    description: "Cost of its sent messages this IST month, paise, an exact decimal string " +
      "(from the analytics facts: as of spend_as_of)",
    example: "1234.5600",
  }),
  budget_paise: orNull(z.number().int()).openapi({
    description: "Its monthly budget (VENDOR_MONTHLY_BUDGET_PAISE); null: none",
  }),
  budget_used_percent: orNull(z.number()),
  queued: z.number().int().openapi({ description: "Its queued messages, due or deferred" }),
  due: z.number().int().openapi({ description: "Queued messages that may be claimed now" }),
  oldest_due_age_seconds: orNull(z.number().int()).openapi({
    description: "How long the oldest due message has waited past its time; null: none due",
  }),
  last_callback_at: orNull(DateTime).openapi({ description: "The last vendor callback received" }),
}).openapi("ProviderHealth");

/** The vendor section of the health answer (private.vendor_health). */
export const MessagingHealthSchema = z.object({
  as_of: DateTime,
  window_minutes: z.number().int().openapi({ example: 15 }),
  spend_as_of: orNull(DateTime).openapi({
    description: "When the analytics facts the spend comes from were refreshed; null: never",
  }),
  providers: z.array(ProviderHealthSchema),
  queue: z.object({
    queued: z.number().int(),
    due: z.number().int(),
    sending: z.number().int(),
    oldest_due_age_seconds: orNull(z.number().int()),
  }).openapi({ description: "The whole outbox" }),
}).openapi("MessagingHealth");

/** The answer of GET /api/health: `{status: "ok"}`, plus the detail for admins and service_role. */
export const HealthSchema = z.object({
  status: z.literal("ok"),
  database: z.object({
    reachable: z.literal(true),
    latency_ms: z.number(),
    server_version: z.string().openapi({ example: "15.18" }),
  }).optional(),
  versions: z.object({ api: z.string(), deno: z.string() }).optional(),
  vendors: z.record(z.string(), z.string()).optional().openapi({
    description: "Each vendor: `enabled`, or why it is disabled",
    example: { twilio: "enabled", openai: "disabled: set OPENAI_API_KEY" },
  }),
  messaging: MessagingHealthSchema.optional(),
}).openapi("Health", {
  description: "`status` for everyone; `database`, `versions`, `vendors` and `messaging` only " +
    "for an admin's access token or the service_role key",
});

/** GET /api/health: open to anyone (`security` lists the anonymous `{}`), detail behind a token. */
export const getHealth = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["Operations"],
  summary: "Is the API up and its database reachable?",
  description: "Open to anyone, and then says only `ok` (or 503). With an admin's access token " +
    "or the service_role key it adds the database's latency and version, the API's versions, " +
    "which vendors are switched on, and `messaging`: per messaging provider its breaker, error " +
    "rate and p95 send latency over the last 15 minutes, the day's quota used, this month's " +
    "spend against its budget, its queue, and the outbox's depth and oldest due message.",
  // Anonymous, or a bearer token for the detail: `{}` is the anonymous alternative.
  security: [{}, { bearerAuth: [] }],
  responses: {
    200: { description: "Up", content: { "application/json": { schema: HealthSchema } } },
    401: problem("A token was sent and it is invalid or expired"),
    503: problem("The database is not available"),
  },
});
