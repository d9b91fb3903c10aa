import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import type { CaseSchema, CaseSummarySchema, getCase, listCases, patchCase } from "./routes.ts";

type CaseSummary = z.infer<typeof CaseSummarySchema>;
type Case = z.infer<typeof CaseSchema>;

/** The columns of a case as the list shows it. */
const summaryColumns = (tx: Tx) =>
  tx`
  c.id, c.case_number, c.stage, c.priority, c.due_date::text as due_date,
  c.grace_end::text as grace_end, c.lost_reason, c.stage_changed_at, c.created_at,
  json_build_object('id', a.id, 'full_name', a.full_name) as assignee,
  json_build_object('id', p.id, 'policy_number', p.policy_number, 'product_line', p.product_line,
                    'insurer', p.insurer, 'premium', p.premium) as policy,
  json_build_object('id', cu.id, 'full_name', cu.full_name) as customer`;

const caseJoins = (tx: Tx) =>
  tx`
  from public.renewal_cases c
  join public.policies p on p.id = c.policy_id
  join public.customers cu on cu.id = c.customer_id
  left join public.profiles a on a.id = c.assignee_id`;

/** One case in full, or undefined when it does not exist or the caller may not see it. */
export async function findCase(tx: Tx, id: string): Promise<Case | undefined> {
  const [row] = await tx<Case[]>`
    select ${summaryColumns(tx)}, c.closed_at, c.updated_at,
           json_build_object(
             'id', p.id, 'policy_number', p.policy_number, 'product_line', p.product_line,
             'insurer', p.insurer, 'premium', p.premium, 'sum_insured', p.sum_insured,
             'start_date', p.start_date, 'end_date', p.end_date,
             'payment_frequency', p.payment_frequency, 'ncb_percent', p.ncb_percent,
             'status', p.status) as policy,
           json_build_object(
             'id', cu.id, 'full_name', cu.full_name, 'phone', cu.phone, 'email', cu.email,
             'language', cu.language, 'preferred_channel', cu.preferred_channel,
             'dnd', cu.dnd) as customer,
           coalesce((select sum(o.amount) from public.outstanding_amounts o
                      where o.case_id = c.id and o.status in ('pending', 'overdue')), 0)::float8
             as outstanding
    ${caseJoins(tx)}
    where c.id = ${id}`;
  return row;
}

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

/** `%` and `_` are literal in a search, not wildcards. */
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

export const list: RouteHandler<typeof listCases, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const claims = c.get("claims");
  const after = query.cursor ? decodeCursor(query.cursor) : undefined;
  const assignee = query.assignee === "me" ? claims.sub : query.assignee;
  const search = query.q;

  const rows = await asCaller(claims, (tx) =>
    tx<CaseSummary[]>`
    select ${summaryColumns(tx)}
    ${caseJoins(tx)}
    where true
      ${query.stage ? tx`and c.stage = any(${query.stage.split(",")}::public.case_stage[])` : tx``}
      ${assignee ? tx`and c.assignee_id = ${assignee}` : tx``}
      ${
      query.node
        ? tx`and c.assignee_id in (
               select pr.id from public.profiles pr
                 join public.hierarchy_nodes n on n.id = pr.node_id
                where n.path operator(extensions.<@)
                      (select top.path from public.hierarchy_nodes top where top.id = ${query.node}))`
        : tx``
    }
      ${query.due_from ? tx`and c.due_date >= ${query.due_from}` : tx``}
      ${query.due_to ? tx`and c.due_date <= ${query.due_to}` : tx``}
      ${query.product_line ? tx`and p.product_line = ${query.product_line}` : tx``}
      ${query.priority ? tx`and c.priority = ${query.priority}` : tx``}
      ${
      search
        ? tx`and (c.case_number = upper(${search})
                  or p.policy_number ilike ${likeEscape(search) + "%"}
                  or cu.full_name ilike ${"%" + likeEscape(search) + "%"}
                  or cu.phone = ${search})`
        : tx``
    }
      ${after ? tx`and (c.due_date, c.id) > (${after[0]}::date, ${after[1]}::uuid)` : tx``}
    order by c.due_date, c.id
    limit ${query.limit + 1}`);

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
