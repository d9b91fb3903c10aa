// The keyset cursor of GET /documents: the (created_at, id) of a page's last row in the list's
// order (created_at desc, id), created_at as Postgres keeps it, to the microsecond (a JavaScript
// Date would round it to the millisecond and skip rows).
import { z } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor } from "../../_shared/cursor.ts";

/** The decoded cursor: created_at as UTC text to the microsecond, and the document id. */
export type DocumentCursor = [createdAt: string, id: string];

/** Whether `text` (YYYY-MM-DDTHH:MI:SS.ffffffZ) names a real instant Postgres takes: year 1 to
 * 9999, a month's real day, 00:00:00 to 23:59:59 (an impossible one reached Postgres as 22008). */
export function isRealCursorTime(text: string): boolean {
  const [year, month, day, hour, minute, second] = [0, 5, 8, 11, 14, 17]
    .map((at, i) => Number(text.slice(at, at + (i === 0 ? 4 : 2))));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return year >= 1 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day && hour <= 23 && minute <= 59 && second <= 59;
}

const Cursor = z.tuple([
  z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/).refine(isRealCursorTime),
  z.guid(),
]);

/** The opaque cursor after the document with this key. */
export function encodeDocumentCursor(createdAt: string, id: string): string {
  return encodeCursor([createdAt, id]);
}

/** The key inside a cursor this API issued; a 422 problem naming `cursor` for anything else. */
export function decodeDocumentCursor(cursor: string): DocumentCursor {
  return decodeCursor(cursor, Cursor) as DocumentCursor;
}
