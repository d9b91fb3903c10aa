import { createRoute, z } from "@hono/zod-openapi";
import { problem } from "../../_shared/schemas.ts";

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
}).openapi("Health", {
  description: "`status` for everyone; `database`, `versions` and `vendors` only for an " +
    "admin's access token or the service_role key",
});

/** GET /api/health: open to anyone (`security` lists the anonymous `{}`), detail behind a token. */
export const getHealth = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["Operations"],
  summary: "Is the API up and its database reachable?",
  description: "Open to anyone, and then says only `ok` (or 503). With an admin's access token " +
    "or the service_role key it adds the database's latency and version, the API's versions and " +
    "which vendors are switched on.",
  // Anonymous, or a bearer token for the detail: `{}` is the anonymous alternative.
  security: [{}, { bearerAuth: [] }],
  responses: {
    200: { description: "Up", content: { "application/json": { schema: HealthSchema } } },
    401: problem("A token was sent and it is invalid or expired"),
    503: problem("The database is not available"),
  },
});
