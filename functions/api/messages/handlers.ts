// Handlers of /api/messages, each run as the caller: the desk's door to the gate
// (private.send_desk_message) checks who may message whom, RLS decides which messages a list
// shows, and private.redrive_dead_messages refuses everyone but admins.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { decodeMessageCursor, pageOf } from "./cursor.ts";
import { listMessagePage } from "./queries.ts";
import type { listMessages, redriveMessages, sendMessage, SendResultSchema } from "./routes.ts";

type SendResult = z.infer<typeof SendResultSchema>;

/** A row of private.send_desk_message(). */
interface GateRow {
  message_id: string;
  status: SendResult["status"];
  blocked_reason: string | null;
  deferred_reason: string | null;
  next_attempt_at: Date;
  created: boolean;
}

/** The gate's decision in words: queued, deferred until when, blocked and why, or where it is. */
export function describeOutcome(row: Omit<GateRow, "created" | "message_id">): string {
  if (row.status === "blocked") return `Blocked: ${row.blocked_reason}.`;
  if (row.status === "queued" && row.deferred_reason) {
    return `Deferred until ${row.next_attempt_at.toISOString()} (${row.deferred_reason}).`;
  }
  if (row.status === "queued") return "Queued to go now.";
  return `Already ${row.status}.`;
}

/**
 * POST /messages: the request goes to private.send_desk_message() as the caller, under the
 * caller's Idempotency-Key. 201 with the gate's decision for a new message, 200 with the first
 * message's state for a key seen before; 403 for callers off the desk (42501), 404 for a
 * customer or case that is not theirs (P0002), 422 for what the gate finds malformed (22023).
 */
export const send: RouteHandler<typeof sendMessage, AppEnv> = async (c) => {
  const message = c.req.valid("json");
  const { "idempotency-key": key } = c.req.valid("header");
  const request = { ...message, idempotency_key: key };
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<GateRow[]>`
      select d.message_id, d.status, d.blocked_reason, d.deferred_reason, d.next_attempt_at,
             d.created
        from private.send_desk_message(${tx.json(request)}::jsonb) d`);
  const body: SendResult = {
    message_id: row.message_id,
    status: row.status,
    blocked_reason: row.blocked_reason,
    deferred_reason: row.deferred_reason,
    next_attempt_at: row.next_attempt_at.toISOString(),
    summary: describeOutcome(row),
  };
  return row.created ? c.json(body, 201) : c.json(body, 200);
};

/** GET /messages: a page of the case's or customer's messages and the next page's cursor. */
export const list: RouteHandler<typeof listMessages, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const after = query.cursor ? decodeMessageCursor(query.cursor) : undefined;
  const rows = await asCaller(c.get("claims"), (tx) =>
    listMessagePage(tx, {
      customerId: query.customer_id,
      caseId: query.case_id,
      after,
      limit: query.limit + 1,
    }));
  return c.json(pageOf(rows, query.limit), 200);
};

/** POST /messages/redrive (admins): how many dead letters went back to the queue. */
export const redrive: RouteHandler<typeof redriveMessages, AppEnv> = async (c) => {
  const { dead_reason, provider, template_code } = c.req.valid("json");
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<{ redriven: number }[]>`
      select private.redrive_dead_messages(${dead_reason ?? null}::text, ${provider ?? null}::text,
                                           ${template_code ?? null}::text) as redriven`);
  return c.json({ redriven: row.redriven }, 200);
};
