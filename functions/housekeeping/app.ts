// The `housekeeping` edge function: POST /housekeeping/run builds the pending data exports
// (POST /api/customers/{id}/export), hands exports past their download end to the object-deletion
// queue, and deletes the queued objects from the object store (erasures, retention, expired
// exports). pg_cron + pg_net call it every minute on Supabase (migration
// *_schedule_housekeeping); locally the worker's housekeeper runs the same code. Overlapping
// calls are safe (leases, skip-locked claims). Only the service_role key may call it; the answer
// is what the run did.
import { z } from "@hono/zod-openapi";
import { createApp } from "../_shared/app.ts";
import { requireServiceRole } from "../_shared/auth.ts";
import { readJobBody } from "../_shared/job_body.ts";
import { runHousekeeping } from "../_shared/privacy/housekeeping.ts";

const HousekeepingRequest = z.object({
  max_exports: z.number().int().min(1).max(50).default(5),
  deletion_batch: z.number().int().min(1).max(1000).default(100),
}).strict();

const app = createApp("housekeeping");

app.post("/run", requireServiceRole("run housekeeping"), async (c) => {
  const parsed = await readJobBody(c, HousekeepingRequest);
  if (!parsed.ok) return parsed.response;
  const stats = await runHousekeeping({
    maxExports: parsed.data.max_exports,
    deletionBatch: parsed.data.deletion_batch,
  });
  return c.json(stats, 200);
});

export default app;
