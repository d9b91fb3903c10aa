// The opaque keyset cursor of the API's lists: the key of a page's last row as a JSON array,
// base64url without padding. Each list says what its key is with a zod schema.
import type { z } from "@hono/zod-openapi";
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
