// Handlers of /api/cases. Every query runs as the caller (asCaller): RLS decides which cases
// exist, the column grants and the stage machine in the database decide what may change.
import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import type { caseStages } from "../../_shared/domain.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { type CaseSortKey, caseSortKey, findCase, listCasePage } from "./queries.ts";
import type { CaseSort, getCase, listCases, patchCase } from "./routes.ts";

const Cursor = z.union([
  z.tuple([z.iso.date(), z.guid()]),
  z.tuple([z.number().int().min(0).max(101), z.iso.date(), z.guid()]),
]);

function encodeCursor(key: CaseSortKey): string {
  return btoa(JSON.stringify(key)).replace(/=+$/, "");
}

/** The keyset of a cursor this API issued for the same `sort`; 422 otherwise. */
function decodeCursor(cursor: string, sort: CaseSort): CaseSortKey {
  try {
    const key = Cursor.parse(JSON.parse(atob(cursor)));
    if ((key.length === 3) === (sort === "risk")) return key;
  } catch {
    // answered below
  }
  throw new ProblemError(422, "Unprocessable Content", "The cursor is not one this API issued.", {
    errors: [{
      path: "cursor",
      code: "invalid_cursor",
      message: "not a cursor from next_cursor of a list in the same sort",
    }],
  });
}

/** GET /cases: a page of the caller's cases and the cursor of the next page, if any. */
export const list: RouteHandler<typeof listCases, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const claims = c.get("claims");
  const rows = await asCaller(claims, (tx) =>
    listCasePage(tx, {
      stages: query.stage?.split(",") as (typeof caseStages)[number][] | undefined,
      assigneeId: query.assignee === "me" ? claims.sub : query.assignee,
      nodeId: query.node,
      dueFrom: query.due_from,
      dueTo: query.due_to,
      productLine: query.product_line,
      priority: query.priority,
      search: query.q,
      sort: query.sort,
      after: query.cursor ? decodeCursor(query.cursor, query.sort) : undefined,
      limit: query.limit + 1,
    }));
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > query.limit && last
    ? encodeCursor(caseSortKey(query.sort, last))
    : null;
  return c.json({ data: page, next_cursor: nextCursor }, 200);
};

/** GET /cases/{id}: the case, or 404 when it does not exist or is not the caller's to see. */
export const get: RouteHandler<typeof getCase, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = await asCaller(c.get("claims"), (tx) => findCase(tx, id));
  if (!row) throw notFound("case");
  return c.json(row, 200);
};

/**
 * PATCH /cases/{id}: sets only the fields named (stage, assignee_id, priority, lost_reason, the
 * columns granted to the desk). 404 for a case the caller cannot see; the database's refusals
 * come back as 403 (assignee outside the caller's book), 409 (PY002, PY005, PY006, PY007).
 */
export const patch: RouteHandler<typeof patchCase, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const change = c.req.valid("json");
  const columns = Object.keys(change) as (keyof typeof change)[];
  const row = await asCaller(c.get("claims"), async (tx) => {
    const [updated] = await tx`
      update public.renewal_cases set ${tx(change, columns)}
       where id = ${id}
      returning id`;
    return updated && await findCase(tx, id);
  });
  if (!row) throw notFound("case");
  return c.json(row, 200);
};
