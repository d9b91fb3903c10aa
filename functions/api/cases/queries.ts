// The SQL behind /api/cases, shared by the handlers and the benchmarks. Every query runs in the
// caller's transaction (asCaller), so row-level security decides which cases exist.
import type { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import type { casePriorities, caseStages, productLines } from "../../_shared/domain.ts";
import { phoneSearchForm } from "../../_shared/phone.ts";
import { customerJson, personJson, policyJson } from "../sql.ts";
import type { CaseSchema, CaseSort, CaseSummarySchema } from "./routes.ts";

/** A row of the case list (CaseSummarySchema): dates as IST `YYYY-MM-DD`, money in paise. */
export type CaseSummary = z.infer<typeof CaseSummarySchema>;
/** One case in full (CaseSchema). */
export type Case = z.infer<typeof CaseSchema>;

/** What GET /cases filters on; every field narrows, and RLS still decides what exists. */
export interface CaseFilter {
  stages?: (typeof caseStages)[number][];
  assigneeId?: string;
  nodeId?: string;
  /** Due dates from this IST day on (`YYYY-MM-DD`), inclusive. */
  dueFrom?: string;
  /** Due dates up to this IST day (`YYYY-MM-DD`), inclusive. */
  dueTo?: string;
  productLine?: (typeof productLines)[number];
  priority?: (typeof casePriorities)[number];
  /**
   * Case number, policy number prefix, part of the customer's name, or a phone number in any
   * common written form (compared in E.164).
   */
  search?: string;
  /** `due_date` (soonest first) or `risk` (highest lapse-risk score first, unscored last, then
   * soonest due). */
  sort?: CaseSort;
  /** Keyset: the sort key of the last row of the previous page (caseSortKey). */
  after?: CaseSortKey;
  limit: number;
}

/**
 * Where a row stands in its order: [due_date, id], or for `risk` [rank, due_date, id] where
 * rank = 100 − score (101 unscored), so every part ascends.
 */
export type CaseSortKey = [string, string] | [number, string, string];

/** The sort key of a listed case (CaseSummary) in `sort`'s order. */
export function caseSortKey(sort: CaseSort, row: CaseSummary): CaseSortKey {
  return sort === "risk"
    ? [riskRank(row.risk?.score), row.due_date, row.id]
    : [row.due_date, row.id];
}

/** 100 − score, 101 for a case not scored yet (the SQL's `rank` below). */
const riskRank = (score: number | undefined) => score === undefined ? 101 : 100 - score;

/** The columns every case answer has; `c`, `p`, `cu` and `a` are the case and its joins. */
const caseColumns = (tx: Tx) =>
  tx`
  c.id, c.case_number, c.stage, c.priority, c.due_date::text as due_date,
  c.grace_end::text as grace_end, c.lost_reason, c.stage_changed_at, c.created_at,
  ${personJson(tx, "a")} as assignee,
  (select json_build_object('score', r.score, 'band', r.band, 'model_version', r.model_version,
                            'scored_at', r.scored_at, 'reasons', r.reasons)
     from public.case_risk_scores r where r.case_id = c.id) as risk`;

/** The columns of a case as the list shows it. */
const summaryColumns = (tx: Tx) =>
  tx`
  ${caseColumns(tx)},
  json_build_object('id', p.id, 'policy_number', p.policy_number, 'product_line', p.product_line,
                    'insurer', p.insurer, 'premium', p.premium) as policy,
  json_build_object('id', cu.id, 'full_name', cu.full_name) as customer`;

const caseJoins = (tx: Tx) =>
  tx`
  from public.renewal_cases c
  join public.policies p on p.id = c.policy_id
  join public.customers cu on cu.id = c.customer_id
  left join public.profiles a on a.id = c.assignee_id`;

/** `%` and `_` are literal in a search, not wildcards. */
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

/**
 * Up to `limit` cases in (due_date, id) order after the keyset `after`. The page is chosen from
 * renewal_cases first and only its rows are joined to policies, customers and profiles, so the
 * row-level checks of those tables run for one page, not for every candidate case.
 */
export async function listCasePage(tx: Tx, filter: CaseFilter): Promise<CaseSummary[]> {
  const { search, after } = filter;
  const phone = search === undefined ? undefined : phoneSearchForm(search);
  // What RLS lets a caller see, said as a filter the planner can use: an agent's own cases, a
  // manager's subtree. RLS alone offers only `= any(<array known at run time>)`, and with that
  // the planner walks every case in due order (measured in bench/renewals.ts). RLS still guards.
  const [caller] = await tx<{ role: string | null; id: string | null; node_id: string | null }[]>`
    select private.current_app_role() as role, auth.uid() as id,
           private.current_node_id() as node_id`;
  const assigneeId = filter.assigneeId ??
    (caller.role === "agent" && caller.id ? caller.id : undefined);
  const nodeId = filter.nodeId ??
    (caller.role === "manager" && caller.node_id ? caller.node_id : undefined);
  const needsPolicy = filter.productLine !== undefined || search !== undefined;
  const byRisk = filter.sort === "risk";
  // The order's first part: the risk rank (CaseSortKey), or nothing for due-date order.
  const rank = byRisk ? tx`coalesce(100 - r.score, 101), ` : tx``;
  return tx<CaseSummary[]>`
    with page as (
      select c.*${byRisk ? tx`, coalesce(100 - r.score, 101) as rank` : tx``}
        from public.renewal_cases c
        ${byRisk ? tx`left join public.case_risk_scores r on r.case_id = c.id` : tx``}
        ${needsPolicy ? tx`join public.policies p on p.id = c.policy_id` : tx``}
        ${search ? tx`join public.customers cu on cu.id = c.customer_id` : tx``}
       where true
        ${filter.stages ? tx`and c.stage = any(${filter.stages}::public.case_stage[])` : tx``}
        ${assigneeId ? tx`and c.assignee_id = ${assigneeId}` : tx``}
        ${
    nodeId
      ? tx`and c.assignee_id in (
               select pr.id from public.profiles pr
                 join public.hierarchy_nodes n on n.id = pr.node_id
                where n.path operator(extensions.<@)
                      (select top.path from public.hierarchy_nodes top where top.id = ${nodeId}))`
      : tx``
  }
        ${filter.dueFrom ? tx`and c.due_date >= ${filter.dueFrom}` : tx``}
        ${filter.dueTo ? tx`and c.due_date <= ${filter.dueTo}` : tx``}
        ${filter.productLine ? tx`and p.product_line = ${filter.productLine}` : tx``}
        ${filter.priority ? tx`and c.priority = ${filter.priority}` : tx``}
        ${
    search
      ? tx`and (c.case_number = upper(${search})
                  or p.policy_number ilike ${likeEscape(search) + "%"}
                  or cu.full_name ilike ${"%" + likeEscape(search) + "%"}
                  ${phone ? tx`or cu.phone = ${phone}` : tx``})`
      : tx``
  }
        ${
    after?.length === 3
      ? tx`and (coalesce(100 - r.score, 101), c.due_date, c.id)
               > (${after[0]}::integer, ${after[1]}::date, ${after[2]}::uuid)`
      : after
      ? tx`and (c.due_date, c.id) > (${after[0]}::date, ${after[1]}::uuid)`
      : tx``
  }
       order by ${rank}c.due_date, c.id
       limit ${filter.limit}
    )
    select ${summaryColumns(tx)}
      from page c
      join public.policies p on p.id = c.policy_id
      join public.customers cu on cu.id = c.customer_id
      left join public.profiles a on a.id = c.assignee_id
     order by ${byRisk ? tx`c.rank, ` : tx``}c.due_date, c.id`;
}

/** One case in full, or undefined when it does not exist or the caller may not see it. */
export async function findCase(tx: Tx, id: string): Promise<Case | undefined> {
  const [row] = await tx<Case[]>`
    select ${caseColumns(tx)}, c.closed_at, c.updated_at,
           ${policyJson(tx, "p")} as policy,
           ${customerJson(tx, "cu")} as customer,
           public.case_outstanding(c.id) as outstanding
    ${caseJoins(tx)}
    where c.id = ${id}`;
  return row;
}
