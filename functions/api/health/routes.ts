import { createRoute, z } from "@hono/zod-openapi";
import { problem } from "../../_shared/schemas.ts";

export const HealthSchema = z.object({
  status: z.literal("ok"),
  database: z.object({
    reachable: z.literal(true),
    latency_ms: z.number(),
    server_version: z.string().openapi({ example: "15.18" }),
  }),
  versions: z.object({ api: z.string(), deno: z.string() }),
  vendors: z.record(z.string(), z.string()).openapi({
    description: "Each vendor: `enabled`, or why it is disabled",
    example: { twilio: "enabled", openai: "disabled: set OPENAI_API_KEY" },
  }),
}).openapi("Health");

export const getHealth = createRoute({
  method: "get",
  path: "/health",
  tags: ["Operations"],
  summary: "Is the API up and its database reachable?",
  responses: {
    200: { description: "Up", content: { "application/json": { schema: HealthSchema } } },
    503: problem("The database cannot be reached"),
  },
});
