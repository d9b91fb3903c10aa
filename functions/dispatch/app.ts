// The `dispatch` edge function: POST /dispatch drains the outbox for up to `budget_ms`, the host
// pg_cron + pg_net invoke every minute on Supabase (migration
// 20261129010700_schedule_dispatch). Several invocations may overlap: claims skip each other's
// rows, and the rate limits and breakers live in the database. Only the service_role key may
// call it; the answer is what the drain did.
import { z } from "@hono/zod-openapi";
import { createApp } from "../_shared/app.ts";
import { requireServiceRole } from "../_shared/auth.ts";
import { config } from "../_shared/config.ts";
import { drain } from "../_shared/dispatch.ts";
import { readJobBody } from "../_shared/job_body.ts";
import { buildProviders } from "../_shared/providers/mod.ts";

const DrainRequest = z.object({
  budget_ms: z.number().int().min(100).max(50_000).default(20_000),
  batch_size: z.number().int().min(1).max(1000).default(100),
}).strict();

let providers: ReturnType<typeof buildProviders> | undefined;

const app = createApp("dispatch");

app.post("/", requireServiceRole("drain the outbox"), async (c) => {
  const parsed = await readJobBody(c, DrainRequest);
  if (!parsed.ok) return parsed.response;
  providers ??= buildProviders(config());
  const stats = await drain({
    worker: `dispatch-${c.get("requestId")}`,
    providers,
    budgetMs: parsed.data.budget_ms,
    batchSize: parsed.data.batch_size,
    sendTimeoutMs: config().PROVIDER_TIMEOUT_MS,
  });
  return c.json(stats, 200);
});

export default app;
