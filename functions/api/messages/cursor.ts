// The keyset cursor of the message lists (GET /messages, GET /communications/delivery-status):
// the (created_at, id) of a page's last row, in (created_at desc, id) order, the order of the
// messages_customer_idx and messages_case_idx indexes. created_at travels as Postgres keeps it,
// to the microsecond (a JavaScript Date would round it to the millisecond and skip rows).
import { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import { type CreatedAtKey, decodeCreatedAtCursor, encodeCursor } from "../../_shared/cursor.ts";

/** The decoded cursor: created_at as UTC text to the microsecond, and the message id. */
export type MessageCursor = CreatedAtKey;

/** The `cursor` query parameter of the message lists. */
export const CursorParam = z.string().max(200).optional().openapi({
  description: "`next_cursor` of the previous page",
});

/** The opaque cursor after the row with this key. */
export function encodeMessageCursor(createdAt: string, id: string): string {
  return encodeCursor([createdAt, id]);
}

/** The key inside a cursor this API issued; a 422 problem for anything else. */
export function decodeMessageCursor(cursor: string): MessageCursor {
  return decodeCreatedAtCursor(cursor);
}

/** SQL: the created_at of the message aliased `alias` as a cursor's UTC text. */
export const cursorTime = (tx: Tx, alias: string) =>
  tx`to_char(${tx(alias)}.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** SQL: `and` the rows of `alias` that come after the cursor, or nothing for the first page. */
export const afterCursor = (tx: Tx, alias: string, after: MessageCursor | undefined) =>
  after
    // As text first: a parameter postgres.js sees as timestamptz it sends as a JavaScript Date
    // would, to the millisecond.
    ? tx`and (${tx(alias)}.created_at < ${after[0]}::text::timestamptz
              or (${tx(alias)}.created_at = ${after[0]}::text::timestamptz
                  and ${tx(alias)}.id > ${after[1]}::uuid))`
    : tx``;

/** SQL: the order of the message lists. */
export const listOrder = (tx: Tx, alias: string) =>
  tx`order by ${tx(alias)}.created_at desc, ${tx(alias)}.id`;

/**
 * One page of `limit` rows and the cursor after it, from the `limit + 1` rows a query fetched;
 * each row carries its cursor key in `cursor_key`, which the page drops.
 */
export function pageOf<T extends { id: string; cursor_key: string }>(rows: T[], limit: number) {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(({ cursor_key: _, ...row }) => row),
    next_cursor: rows.length > limit && last ? encodeMessageCursor(last.cursor_key, last.id) : null,
  };
}
