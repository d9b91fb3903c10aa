// /api/retention/runs: the runs of the daily retention purge (private.purge_expired_data, pg_cron
// 03:15 IST): what each purged, of which kind, under which retention periods. Admins read them
// (evidence that personal data is not kept beyond its retention); everyone else gets 403.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn } from "../../_shared/schemas.ts";

/** Items purged by one run, per kind. */
const RetentionCounts = z.object({
  message_bodies: z.number().int().openapi({
    description: "Messages in a final status whose content (subject, body, HTML, variables, " +
      "template parameters) was emptied after MESSAGE_BODY_RETENTION_DAYS",
  }),
  message_event_payloads: z.number().int().openapi({
    description: "Vendor callbacks and inbound messages whose payload was emptied after " +
      "WEBHOOK_PAYLOAD_RETENTION_DAYS",
  }),
  payment_event_payloads: z.number().int().openapi({
    description: "Processed Razorpay webhooks whose payload was emptied after " +
      "WEBHOOK_PAYLOAD_RETENTION_DAYS",
  }),
  razorpay_call_requests: z.number().int().openapi({
    description: "Finished calls to Razorpay whose body was emptied after " +
      "WEBHOOK_PAYLOAD_RETENTION_DAYS",
  }),
  ai_request_prompts: z.number().int().openapi({
    description: "AI requests whose prompt and answer were nulled after AI_RETENTION_DAYS",
  }),
  ai_chat_messages: z.number().int().openapi({
    description: "Case chat messages deleted after AI_RETENTION_DAYS",
  }),
  link_click_user_agents: z.number().int().openapi({
    description: "Tracked-link clicks whose browser was nulled after LINK_CLICK_RETENTION_DAYS",
  }),
  documents: z.number().int().openapi({
    description: "Documents past retain_until and not on legal hold, deleted (objects queued " +
      "for deletion)",
  }),
  expired_exports: z.number().int().openapi({
    description: "Exports past their download's end whose objects were queued for deletion",
  }),
}).openapi("RetentionCounts");

/** The retention periods (days) and limits a run applied. */
const RetentionSettings = z.object({
  message_body_days: z.number().int(),
  webhook_payload_days: z.number().int(),
  ai_prompt_days: z.number().int(),
  link_click_days: z.number().int(),
  batch_size: z.number().int().openapi({ description: "Rows changed per statement" }),
  max_rows_per_run: z.number().int().openapi({
    description: "Rows of a kind one run purges at most",
  }),
}).openapi("RetentionSettings");

/** One run of the retention purge, as public.retention_runs holds it. */
export const RetentionRunSchema = z.object({
  id: z.guid(),
  as_of: DateTime.openapi({ description: "The instant the periods were counted back from" }),
  started_at: DateTime,
  finished_at: DateTime,
  counts: RetentionCounts,
  settings: RetentionSettings,
  complete: z.boolean().openapi({
    description: "False when a kind reached its per-run cap: the next run goes on",
  }),
}).openapi("RetentionRun");

/** The keyset page of GET /retention/runs. */
export const RetentionRunQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(30),
  cursor: z.string().max(200).optional().openapi({
    description: "`next_cursor` of the previous page",
  }),
});

/** GET /retention/runs. */
export const listRetentionRuns = createRoute({
  operationId: "listRetentionRuns",
  method: "get",
  path: "/retention/runs",
  tags: ["Compliance"],
  summary: "Runs of the retention purge, newest first",
  description: "What each run of the daily retention purge (03:15 IST) purged, per kind, and " +
    "under which retention periods, newest first, page by page. Admins only; others get 403.",
  ...signedIn,
  request: { query: RetentionRunQuery },
  responses: {
    200: json(
      "A page of runs",
      z.object({ data: z.array(RetentionRunSchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
    403: problem("Only admins read the retention runs"),
  },
});
