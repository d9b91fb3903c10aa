// /api/reminder-rules: the cadence's ladder per product line (days from expiry, channels in order
// of preference, the template, or a call task). The desk reads it; admins change a step (RLS and
// column grants refuse everyone else; the table's checks keep each step consistent).
import { createRoute, z } from "@hono/zod-openapi";
import {
  ConsentPurpose,
  MessageChannel,
  orNull,
  Paise,
  ProductLine,
} from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** One step of a ladder. */
export const ReminderRuleSchema = z.object({
  id: z.guid(),
  product_line: ProductLine,
  offset_days: z.number().int().openapi({
    description: "Days from the policy's expiry: negative before it, positive after it",
  }),
  kind: z.enum(["message", "task"]),
  channels: z.array(MessageChannel).openapi({ description: "In order of preference (messages)" }),
  template_code: orNull(z.string()),
  purpose: ConsentPurpose,
  applies_until: orNull(z.enum(["grace_end", "ncb_deadline"])),
  min_premium: orNull(Paise).openapi({
    description: "Tasks: only policies at least this, in paise",
  }),
  task_kind: orNull(z.string()),
  sla_hours: orNull(z.number().int()),
  active: z.boolean(),
}).openapi("ReminderRule");

/** GET /reminder-rules. */
export const listReminderRules = createRoute({
  operationId: "listReminderRules",
  method: "get",
  path: "/reminder-rules",
  tags: ["Reminders"],
  summary: "The reminder ladder of every product line, in order",
  ...signedIn,
  request: { query: z.object({ product_line: ProductLine.optional() }) },
  responses: {
    200: json("Steps", z.object({ data: z.array(ReminderRuleSchema) })),
    ...commonProblems,
  },
});

/** What an admin may change in a step. */
export const ReminderRuleUpdateSchema = z.object({
  offset_days: z.number().int().min(-365).max(365).optional(),
  channels: z.array(MessageChannel).min(1).max(3).refine(
    (channels) => new Set(channels).size === channels.length,
    "each channel once",
  ).optional(),
  template_code: z.string().regex(/^[a-z][a-z0-9_]{1,60}$/).optional(),
  min_premium: Paise.min(1).nullable().optional(),
  sla_hours: z.number().int().min(1).max(720).optional(),
  active: z.boolean().optional(),
}).refine((body) => Object.keys(body).length > 0, "name at least one field to change")
  .openapi("ReminderRuleUpdate");

/** PATCH /reminder-rules/{id}. */
export const updateReminderRule = createRoute({
  operationId: "updateReminderRule",
  method: "patch",
  path: "/reminder-rules/{id}",
  tags: ["Reminders"],
  summary: "Change a step of a ladder (admins)",
  ...signedIn,
  request: {
    params: z.object({ id: uuidParam("id", "Step id") }),
    body: jsonBody(ReminderRuleUpdateSchema),
  },
  responses: {
    200: json("The step", ReminderRuleSchema),
    ...commonProblems,
    404: problem("No such step, or you may not change it (admins only)"),
    409: problem("Another step of the line has that day and kind"),
    422: problem("The request did not match the schema, or the step would not be consistent"),
  },
});
