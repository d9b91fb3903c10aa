// /api/communications: where messages are, for the desk — the delivery status of the messages
// the caller may see, filtered and paged, and the statuses of many messages by id at once.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, MessageStatus, messageStatuses, OutboxChannel } from "../../_shared/domain.ts";
import { commonProblems, json, jsonBody, signedIn } from "../../_shared/schemas.ts";
import { CursorParam } from "../messages/cursor.ts";
import { periodFields } from "./period.ts";

/** A message's delivery state: its status, each status's time, and its last error. */
export const DeliveryStatusSchema = z.object({
  id: z.guid(),
  customer_id: z.guid(),
  case_id: z.guid().nullable(),
  channel: OutboxChannel,
  status: MessageStatus,
  provider: z.string().nullable().openapi({ description: "Vendor of the last attempt" }),
  provider_message_id: z.string().nullable(),
  attempts: z.number().int(),
  blocked_reason: z.string().nullable(),
  deferred_reason: z.string().nullable(),
  dead_reason: z.string().nullable(),
  last_error_code: z.string().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: DateTime,
  queued_at: DateTime,
  sending_at: DateTime.nullable(),
  sent_at: DateTime.nullable(),
  delivered_at: DateTime.nullable(),
  read_at: DateTime.nullable(),
  failed_at: DateTime.nullable(),
  cancelled_at: DateTime.nullable(),
  blocked_at: DateTime.nullable(),
  dead_at: DateTime.nullable(),
  unconfirmed_at: DateTime.nullable().openapi({
    description: "When it was flagged: accepted, then neither delivered nor failed in time",
  }),
  created_at: DateTime,
}).openapi("DeliveryStatus");

const statusList = new RegExp(
  `^(${messageStatuses.join("|")})(,(${messageStatuses.join("|")}))*$`,
);

/**
 * The filters and keyset cursor of GET /communications/delivery-status. Strict: a parameter it
 * does not know (a mistyped filter) is a 422 naming it, not a filter silently left out.
 */
export const DeliveryStatusQuery = z.strictObject({
  case_id: z.guid().optional(),
  customer_id: z.guid().optional(),
  channel: OutboxChannel.optional(),
  status: z.string().regex(statusList, "a comma-separated list of message statuses").optional()
    .openapi({ example: "failed,undeliverable", description: "Only these statuses" }),
  ...periodFields,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: CursorParam,
});

/** GET /communications/delivery-status. */
export const getDeliveryStatus = createRoute({
  operationId: "getDeliveryStatus",
  method: "get",
  path: "/communications/delivery-status",
  tags: ["Communications"],
  summary: "Delivery status of the messages the caller may see, newest first, a page at a time",
  description: "Each message's status with the time it reached each one, and its last error. " +
    "Filters narrow by case, customer, channel, statuses and the period it was queued in; " +
    "row-level security decides which messages exist (a customer's messages are seen by " +
    "whoever sees the customer).",
  ...signedIn,
  request: { query: DeliveryStatusQuery },
  responses: {
    200: json(
      "A page of delivery statuses",
      z.object({ data: z.array(DeliveryStatusSchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
  },
});

/** The ids of POST /communications/bulk-status. */
export const BulkStatusSchema = z.object({
  ids: z.array(z.guid()).min(1).max(1000).openapi({ description: "Message ids, up to 1,000" }),
}).strict().openapi("BulkStatusRequest");

/** Each id asked for, with its status or `unknown`. */
export const BulkStatusResultSchema = z.object({
  statuses: z.record(z.string(), z.union([MessageStatus, z.literal("unknown")])).openapi({
    example: { "5b0e4a52-3f0a-4c8e-9d54-2f1f2b8f6c11": "delivered" },
    description: "Message id → status; `unknown` for a message that does not exist or that " +
      "the caller may not see (the two look alike)",
  }),
}).openapi("BulkStatus");

/** POST /communications/bulk-status. */
export const getBulkStatus = createRoute({
  operationId: "getBulkStatus",
  method: "post",
  path: "/communications/bulk-status",
  tags: ["Communications"],
  summary: "The statuses of up to 1,000 messages by id",
  description: "A POST so that 1,000 ids fit; it changes nothing. Ids the caller may not see " +
    "answer `unknown`, exactly as ids that do not exist.",
  ...signedIn,
  request: { body: jsonBody(BulkStatusSchema) },
  responses: {
    200: json("Each id's status", BulkStatusResultSchema),
    ...commonProblems,
  },
});
