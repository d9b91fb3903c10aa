// Handlers of /api/communications, run as the caller: RLS decides which messages exist for
// them, so a message they may not see is absent from a page and `unknown` by id.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import type { MessageStatus } from "../../_shared/domain.ts";
import {
  afterCursor,
  cursorTime,
  decodeMessageCursor,
  listOrder,
  pageOf,
} from "../messages/cursor.ts";
import { inPeriod, resolvePeriod } from "./period.ts";
import type { DeliveryStatusSchema, getBulkStatus, getDeliveryStatus } from "./routes.ts";

type DeliveryStatus = z.infer<typeof DeliveryStatusSchema>;
type Status = z.infer<typeof MessageStatus>;

/** GET /communications/delivery-status: a page of statuses and the next page's cursor. */
export const deliveryStatus: RouteHandler<typeof getDeliveryStatus, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const after = query.cursor ? decodeMessageCursor(query.cursor) : undefined;
  const statuses = query.status?.split(",");
  const rows = await asCaller(c.get("claims"), async (tx) => {
    const period = await resolvePeriod(tx, query);
    return tx<(DeliveryStatus & { cursor_key: string })[]>`
      select m.id, m.customer_id, m.case_id, m.channel, m.status, m.provider,
             m.provider_message_id, m.attempts, m.blocked_reason, m.deferred_reason,
             m.dead_reason, m.last_error_code, m.last_error, m.next_attempt_at, m.queued_at,
             m.sending_at, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.cancelled_at,
             m.blocked_at, m.dead_at, m.unconfirmed_at, m.created_at,
             ${cursorTime(tx, "m")} as cursor_key
        from public.messages m
       where true
         ${query.customer_id ? tx`and m.customer_id = ${query.customer_id}` : tx``}
         ${query.case_id ? tx`and m.case_id = ${query.case_id}` : tx``}
         ${query.channel ? tx`and m.channel = ${query.channel}` : tx``}
         ${statuses ? tx`and m.status = any(${statuses}::public.message_status[])` : tx``}
         ${inPeriod(tx, "m", "created_at", period)}
         ${afterCursor(tx, "m", after)}
       ${listOrder(tx, "m")}
       limit ${query.limit + 1}`;
  });
  return c.json(pageOf(rows, query.limit), 200);
};

/**
 * POST /communications/bulk-status: one indexed read of the ids under RLS; every id asked for
 * is answered, those not found as `unknown` (whether hidden or absent: the caller cannot tell).
 */
export const bulkStatus: RouteHandler<typeof getBulkStatus, AppEnv> = async (c) => {
  const { ids } = c.req.valid("json");
  const rows = await asCaller(c.get("claims"), (tx) =>
    tx<{ id: string; status: Status }[]>`
      select m.id, m.status from public.messages m where m.id = any(${ids}::uuid[])`);
  const found = new Map(rows.map((row) => [row.id, row.status]));
  const statuses: Record<string, Status | "unknown"> = {};
  for (const id of ids) statuses[id] = found.get(id.toLowerCase()) ?? "unknown";
  return c.json({ statuses }, 200);
};
