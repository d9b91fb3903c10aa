// The opaque keyset cursor of the API's lists: the key of a page's last row as a JSON array,
// base64url without padding. Each list says what its key is with a zod schema.
import { z } from "@hono/zod-openapi";
import { ProblemError } from "./errors.ts";

/** The cursor (base64url of the JSON array) after the row with this key. */
export function encodeCursor(key: readonly unknown[]): string {
  return btoa(JSON.stringify(key)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The key inside a cursor this API issued, parsed by `schema`; a 422 problem naming `cursor`
 * (code `invalid_cursor`) for anything else.
 */
export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    return schema.parse(JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))));
  } catch {
    throw new ProblemError(422, "Unprocessable Content", "The cursor is not one this API issued.", {
      errors: [{
        path: "cursor",
        code: "invalid_cursor",
        message: "not a cursor from next_cursor",
      }],
    });
  }
}

/**
 * The key of the lists in (created_at desc, id) order (messages, deliveries, documents): the last
 * row's created_at as Postgres keeps it, UTC text to the microsecond (YYYY-MM-DDTHH:MI:SS.ffffffZ;
 * a JavaScript Date would round it to the millisecond and skip rows), and its id.
 */
export type CreatedAtKey = [createdAt: string, id: string];

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

const CreatedAtKeySchema = z.tuple([
  z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/).refine(isRealCursorTime),
  z.guid(),
]);

/** The (created_at, id) key inside a cursor this API issued; the 422 invalid_cursor otherwise. */
export function decodeCreatedAtCursor(cursor: string): CreatedAtKey {
  return decodeCursor(cursor, CreatedAtKeySchema) as CreatedAtKey;
}
