import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { findCase, listCasePage } from "./queries.ts";
import type { getCase, listCases, patchCase, stages } from "./routes.ts";

const Cursor = z.tuple([z.iso.date(), z.uuid()]);

function encodeCursor(dueDate: string, id: string): string {
  return btoa(JSON.stringify([dueDate, id])).replace(/=+$/, "");
}

function decodeCursor(cursor: string): [string, string] {
  try {
    return Cursor.parse(JSON.parse(atob(cursor)));
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

export const list: RouteHandler<typeof listCases, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const claims = c.get("claims");
  const rows = await asCaller(claims, (tx) =>
    listCasePage(tx, {
      stages: query.stage?.split(",") as (typeof stages)[number][] | undefined,
      assigneeId: query.assignee === "me" ? claims.sub : query.assignee,
      nodeId: query.node,
      dueFrom: query.due_from,
      dueTo: query.due_to,
      productLine: query.product_line,
      priority: query.priority,
      search: query.q,
      after: query.cursor ? decodeCursor(query.cursor) : undefined,
      limit: query.limit + 1,
    }));
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > query.limit && last
    ? encodeCursor(last.due_date, last.id)
    : null;
  return c.json({ data: page, next_cursor: nextCursor }, 200);
};

export const get: RouteHandler<typeof getCase, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = await asCaller(c.get("claims"), (tx) => findCase(tx, id));
  if (!row) throw notFound("case");
  return c.json(row, 200);
};

export const patch: RouteHandler<typeof patchCase, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const change = c.req.valid("json");
  const row = await asCaller(c.get("claims"), async (tx) => {
    const [updated] = await tx`
      update public.renewal_cases
         set stage = coalesce(${change.stage ?? null}::public.case_stage, stage),
             assignee_id = coalesce(${change.assignee_id ?? null}::uuid, assignee_id),
             priority = coalesce(${change.priority ?? null}::public.case_priority, priority),
             lost_reason = coalesce(${change.lost_reason ?? null}, lost_reason)
       where id = ${id}
      returning id`;
    return updated && await findCase(tx, id);
  });
  if (!row) throw notFound("case");
  return c.json(row, 200);
};
