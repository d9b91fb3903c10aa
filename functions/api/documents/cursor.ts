// The keyset cursor of GET /documents: the (created_at, id) of a page's last row in the list's
// order (created_at desc, id), created_at as Postgres keeps it, to the microsecond (a JavaScript
// Date would round it to the millisecond and skip rows).
import { z } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor } from "../../_shared/cursor.ts";

/** The decoded cursor: created_at as UTC text to the microsecond, and the document id. */
export type DocumentCursor = [createdAt: string, id: string];

const Cursor = z.tuple([
  z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
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
