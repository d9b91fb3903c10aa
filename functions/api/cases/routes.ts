// /api/cases: the renewal cases the caller may see, read and worked one at a time.
import { createRoute, z } from "@hono/zod-openapi";
import {
  CasePriority,
  CaseStage,
  caseStages,
  CustomerSchema,
  DateTime,
  IsoDate,
  orNull,
  Paise,
  PersonRef,
  PolicySchema,
  ProductLine,
} from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** One reason of a lapse-risk score: a feature, its value, and the points it added (or took). */
export const RiskReasonSchema = z.object({
  feature: z.string().openapi({ example: "days_into_grace" }),
  value: z.unknown().openapi({ description: "The feature's value for this case" }),
  weight: z.number().openapi({
    description: "Points this feature added to the score (negative: took)",
  }),
  direction: z.string().openapi({ example: "raises" }),
}).openapi("RiskReason");

/** The case's latest lapse-risk score (private.score_lapse_risk, daily), or null when none yet. */
export const CaseRiskSchema = z.object({
  score: z.number().int().min(0).max(100),
  band: z.enum(["low", "medium", "high"]),
  model_version: z.string().openapi({ example: "rules-2026-11" }),
  scored_at: DateTime,
  reasons: z.array(RiskReasonSchema).openapi({
    description: "The two or three features that weighed most",
  }),
}).openapi("CaseRisk");

/** A case as the list shows it: due dates are IST business days, the premium in paise. */
export const CaseSummarySchema = z.object({
  id: z.guid(),
  case_number: z.string().openapi({ example: "RC-2026-000123" }),
  stage: CaseStage,
  priority: CasePriority,
  due_date: IsoDate,
  grace_end: IsoDate,
  lost_reason: z.string().nullable(),
  assignee: PersonRef,
  policy: PolicySchema.pick({
    id: true,
    policy_number: true,
    product_line: true,
    insurer: true,
    premium: true,
  }),
  customer: CustomerSchema.pick({ id: true, full_name: true }),
  stage_changed_at: DateTime,
  created_at: DateTime,
  risk: orNull(CaseRiskSchema).openapi({
    description: "The latest lapse-risk score, recomputed daily; null until the case is scored",
  }),
}).openapi("CaseSummary");

/** One case in full, with its policy, its customer's contact details and what is still owed. */
export const CaseSchema = CaseSummarySchema.extend({
  closed_at: DateTime.nullable(),
  updated_at: DateTime,
  policy: PolicySchema,
  customer: CustomerSchema,
  outstanding: Paise.openapi({
    description: "Pending and overdue installments, in paise (public.case_outstanding)",
  }),
}).openapi("Case");

/** The orders of the case list. */
export const caseSorts = ["due_date", "risk"] as const;
/** One of caseSorts. */
export type CaseSort = typeof caseSorts[number];

const stageList = new RegExp(`^(${caseStages.join("|")})(,(${caseStages.join("|")}))*$`);

/** The filters, search and keyset cursor of GET /cases. */
export const CaseListQuery = z.object({
  stage: z.string().regex(stageList, "a comma-separated list of stages").optional().openapi({
    example: "new,contacted",
    description: "Only these stages (comma-separated)",
  }),
  assignee: z.union([z.literal("me"), z.guid()]).optional().openapi({
    description: "A profile id, or `me`",
  }),
  node: z.guid().optional().openapi({
    description: "Only cases whose assignee sits in this node's subtree",
  }),
  due_from: IsoDate.optional(),
  due_to: IsoDate.optional(),
  product_line: ProductLine.optional(),
  priority: CasePriority.optional(),
  q: z.string().trim().min(2).max(100).optional().openapi({
    description: "Case number, policy number prefix, part of the customer's name, or their " +
      "phone number as people write it (98123 45678, 098123-45678, +91 98123 45678, ...)",
  }),
  sort: z.enum(caseSorts).default("due_date").openapi({
    description: "`due_date`: soonest due first. `risk`: the highest lapse-risk score first " +
      "(cases not scored yet last), then soonest due",
  }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional().openapi({
    description: "`next_cursor` of the previous page (of a list in the same sort)",
  }),
});

/** The path of one case. */
export const CaseIdParams = z.object({ id: uuidParam("id", "Case id") });

/** GET /cases. */
export const listCases = createRoute({
  operationId: "listCases",
  method: "get",
  path: "/cases",
  tags: ["Cases"],
  summary: "Renewal cases the caller may see, by due date or lapse risk, a page at a time",
  ...signedIn,
  request: { query: CaseListQuery },
  responses: {
    200: json(
      "A page of cases",
      z.object({ data: z.array(CaseSummarySchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
  },
});

/** GET /cases/{id}. */
export const getCase = createRoute({
  operationId: "getCase",
  method: "get",
  path: "/cases/{id}",
  tags: ["Cases"],
  summary: "One case with its policy, customer and outstanding total",
  ...signedIn,
  request: { params: CaseIdParams },
  responses: {
    200: json("The case", CaseSchema),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
  },
});

/** What the desk may change on a case: the columns granted to `authenticated`, no more. */
export const CasePatchSchema = z.object({
  stage: CaseStage.optional(),
  assignee_id: z.guid().optional(),
  priority: CasePriority.optional(),
  lost_reason: z.string().trim().min(3).max(500).optional().openapi({
    description: "Required when moving to lost or not_taken",
  }),
}).refine((patch) => Object.keys(patch).length > 0, "name at least one field to change")
  .openapi("CasePatch");

/** PATCH /cases/{id}. */
export const patchCase = createRoute({
  operationId: "patchCase",
  method: "patch",
  path: "/cases/{id}",
  tags: ["Cases"],
  summary: "Move a case along its stages, reassign it, or change its priority",
  ...signedIn,
  request: { params: CaseIdParams, body: jsonBody(CasePatchSchema) },
  responses: {
    200: json("The updated case", CaseSchema),
    ...commonProblems,
    403: problem("The new assignee is outside the caller's book"),
    404: problem("No such case, or not yours to see"),
    409: problem(
      "The stage machine or a renewal rule refuses it (PY002, PY005), the case is closed " +
        "(PY006), or the new assignee is not an active agent (PY007)",
    ),
  },
});
