// /api/policies/{id}/timeline: everything that happened about a policy's renewal, in time order,
// with who and why, as JSON or as a CSV download (evidence for a grievance). Desk members who see
// the policy (its agent, the managers above, admins); a policy they do not see is a 404 like one
// that does not exist.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import { commonProblems, problem, signedIn, uuidParam } from "../../_shared/schemas.ts";

/** At most this many entries in one timeline; a longer history answers the first ones, in time
 * order, with `truncated: true`. */
export const timelineMaxEntries = 10_000;

/** Who did what an entry records. */
export const TimelineActorSchema = z.object({
  type: z.enum(["user", "system", "customer", "vendor"]).openapi({
    description: "user: someone of the desk (id, name, role); system: our jobs and automation; " +
      "customer: the policy's customer (id, name); vendor: a provider reporting (name: its code, " +
      "e.g. twilio, razorpay)",
  }),
  id: orNull(z.guid()).openapi({ description: "The user's or customer's id" }),
  name: orNull(z.string()),
  role: orNull(z.string()).openapi({ description: "A user's role: admin, manager or agent" }),
}).openapi("TimelineActor");

/** One entry of a policy's timeline. */
export const TimelineEntrySchema = z.object({
  at: DateTime.openapi({ description: "When it happened (ISO 8601, UTC)" }),
  kind: z.string().openapi({
    description: "case.opened; message.queued, message.blocked, message.sent, message.failed, " +
      "message.dead, message.cancelled, message.event (a delivery report), message.reply; " +
      "payment, refund, payment.webhook; ai.call; document.added; task.opened, task.escalated, " +
      "task.done; link.clicked; consent.granted, consent.withdrawn (the customer's consent " +
      "ledger); customer.erased; case.changed, installment.changed, payment.changed, " +
      "document.changed, document.deleted (from the audit log)",
    example: "message.blocked",
  }),
  actor: TimelineActorSchema,
  summary: z.string().openapi({ example: "Renewal case: stage new → contacted" }),
  why: orNull(z.string()).openapi({
    description: "Why, when known: a message's block, deferral or channel choice reason, a " +
      "failure, a lost case's reason, an installment's settlement reference, a task's outcome",
  }),
  refs: z.record(z.string(), z.unknown()).openapi({
    description: "The ids of the rows behind the entry (case_id, message_id, payment_id, " +
      "razorpay ids, audit_id with the request_id of the API call that made a change, ...)",
  }),
}).openapi("TimelineEntry");

/** GET /policies/{id}/timeline as JSON. */
export const PolicyTimelineSchema = z.object({
  policy: z.object({ id: z.guid(), policy_number: z.string() }),
  entries: z.array(TimelineEntrySchema),
  truncated: z.boolean().openapi({
    description: `True when the history holds more than ${timelineMaxEntries} entries: the ` +
      "first ones are answered",
  }),
}).openapi("PolicyTimeline");

const timelineQuery = z.object({
  format: z.enum(["json", "csv"]).optional().openapi({
    description: "csv: the CSV download (also chosen by `Accept: text/csv`); default json",
  }),
});

/** GET /policies/{id}/timeline. */
export const getPolicyTimeline = createRoute({
  operationId: "getPolicyTimeline",
  method: "get",
  path: "/policies/{id}/timeline",
  tags: ["Policies"],
  summary: "Everything about a policy's renewal, in time order, with who and why",
  description: "Every message (queued, or blocked with why; sent, failed) with its delivery " +
    "reports and replies, payment, refund and Razorpay webhook, AI call, document, task, link " +
    "click, the customer's consents given and withdrawn and their erasure, and every change " +
    "the desk or a job made to the policy's cases, installments, " +
    "payments and documents (the audit log, with the request id of the API call), for each " +
    "renewal case of the policy and for the policy's customer where a row has no case; oldest " +
    `first, at most ${timelineMaxEntries} entries (\`truncated\` says when there were more). ` +
    "`?format=csv` or `Accept: text/csv`: the same entries as an RFC 4180 CSV attachment " +
    "(`policy-<number>-timeline.csv`; header row at, kind, actor_type, actor_id, actor_name, " +
    "actor_role, summary, why, refs (JSON); CRLF line ends; a cell a spreadsheet would run as a " +
    "formula, starting with =, +, -, @, a tab or a carriage return, is prefixed with an " +
    "apostrophe; the header X-Timeline-Truncated says whether entries were left out). Desk " +
    "members who see the policy; anyone else gets 404, as for a policy that does not exist.",
  ...signedIn,
  request: {
    params: z.object({ id: uuidParam("id", "Policy id") }),
    query: timelineQuery,
  },
  responses: {
    200: {
      description: "The timeline",
      content: {
        "application/json": { schema: PolicyTimelineSchema },
        "text/csv": { schema: z.string() },
      },
    },
    ...commonProblems,
    404: problem("No such policy, or you may not see it"),
  },
});

/** The JSON answer of GET /policies/{id}/timeline. */
export type PolicyTimeline = z.infer<typeof PolicyTimelineSchema>;
