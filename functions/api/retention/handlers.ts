// Handlers of /api/retention, run as the caller: a 403 for anyone but admins, said before
// anything is read; RLS on public.retention_runs agrees (admins select, nobody writes).
import type { RouteHandler, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { decodeCreatedAtCursor, encodeCursor } from "../../_shared/cursor.ts";
import { asCaller } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import type { listRetentionRuns, RetentionRunSchema } from "./routes.ts";

type RetentionRun = z.infer<typeof RetentionRunSchema>;

interface RunRow extends Omit<RetentionRun, "as_of" | "started_at" | "finished_at"> {
  as_of: Date;
  started_at: Date;
  finished_at: Date;
  /** started_at as UTC text to the microsecond: the cursor's key (see cursor.ts). */
  cursor_key: string;
}

/**
 * GET /retention/runs: the purge's runs, newest started first (ties by id), `limit` a page;
 * `next_cursor` (started_at, id) for the next page, null on the last. 403 for non-admins; 422
 * invalid_cursor for a cursor this API did not issue.
 */
export const listRuns: RouteHandler<typeof listRetentionRuns, AppEnv> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  const after = cursor ? decodeCreatedAtCursor(cursor) : undefined;
  const rows = await asCaller(c.get("claims"), async (tx) => {
    const [caller] = await tx<{ admin: boolean }[]>`select private.is_admin() as admin`;
    if (!caller.admin) {
      throw new ProblemError(403, "Forbidden", "Only admins read the retention runs.");
    }
    return await tx<RunRow[]>`
      select r.id, r.as_of, r.started_at, r.finished_at, r.counts, r.settings, r.complete,
             to_char(r.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_key
        from public.retention_runs r
       where true
         ${
      after
        // As text first: a parameter postgres.js sees as timestamptz it sends as a JavaScript
        // Date would, to the millisecond.
        ? tx`and (r.started_at < ${after[0]}::text::timestamptz
                  or (r.started_at = ${after[0]}::text::timestamptz and r.id > ${after[1]}::uuid))`
        : tx``
    }
       order by r.started_at desc, r.id
       limit ${limit + 1}`;
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const data: RetentionRun[] = page.map(({ cursor_key: _, ...row }) => ({
    ...row,
    as_of: row.as_of.toISOString(),
    started_at: row.started_at.toISOString(),
    finished_at: row.finished_at.toISOString(),
  }));
  return c.json({
    data,
    next_cursor: rows.length > limit && last ? encodeCursor([last.cursor_key, last.id]) : null,
  }, 200);
};
