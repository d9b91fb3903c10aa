import { createRoute, z } from "@hono/zod-openapi";
import {
  commonProblems,
  IsoDate,
  json,
  jsonBody,
  Paise,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

export const stages = [
  "new",
  "contacted",
  "quoted",
  "payment_pending",
  "renewed",
  "pending_lapse",
  "lapsed",
  "lost",
  "not_taken",
] as const;
export const priorities = ["low", "normal", "high", "urgent"] as const;
export const productLines = ["motor", "health", "life", "home"] as const;

export const PaymentFrequency = z.enum(["annual", "half_yearly", "quarterly", "monthly"])
  .openapi("PaymentFrequency");
export const PolicyStatus = z.enum(["active", "renewed", "lapsed", "cancelled"])
  .openapi("PolicyStatus");
export const Stage = z.enum(stages).openapi("CaseStage");
export const Priority = z.enum(priorities).openapi("CasePriority");
export const ProductLine = z.enum(productLines).openapi("ProductLine");

export const CaseSummarySchema = z.object({
  id: z.uuid(),
  case_number: z.string().openapi({ example: "RC-2026-000123" }),
  stage: Stage,
  priority: Priority,
  due_date: IsoDate,
  grace_end: IsoDate,
  lost_reason: z.string().nullable(),
  assignee: z.object({ id: z.uuid(), full_name: z.string() }),
  policy: z.object({
    id: z.uuid(),
    policy_number: z.string(),
    product_line: ProductLine,
    insurer: z.string(),
    premium: Paise,
  }),
  customer: z.object({ id: z.uuid(), full_name: z.string() }),
  stage_changed_at: z.string().openapi({ format: "date-time" }),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("CaseSummary");

export const CaseSchema = CaseSummarySchema.extend({
  closed_at: z.string().nullable().openapi({ format: "date-time" }),
  updated_at: z.string().openapi({ format: "date-time" }),
  policy: CaseSummarySchema.shape.policy.extend({
    sum_insured: Paise,
    start_date: IsoDate,
    end_date: IsoDate,
    payment_frequency: PaymentFrequency,
    ncb_percent: z.number().int(),
    status: PolicyStatus,
  }),
  customer: CaseSummarySchema.shape.customer.extend({
    phone: z.string().nullable(),
    email: z.string().nullable(),
    language: z.string(),
    preferred_channel: z.string().nullable(),
    dnd: z.boolean(),
  }),
  outstanding: Paise.openapi({ description: "Pending and overdue installments, in paise" }),
}).openapi("Case");

const stageList = new RegExp(`^(${stages.join("|")})(,(${stages.join("|")}))*$`);

export const CaseListQuery = z.object({
  stage: z.string().regex(stageList, "a comma-separated list of stages").optional().openapi({
    example: "new,contacted",
    description: "Only these stages (comma-separated)",
  }),
  assignee: z.union([z.literal("me"), z.uuid()]).optional().openapi({
    description: "A profile id, or `me`",
  }),
  node: z.uuid().optional().openapi({
    description: "Only cases whose assignee sits in this node's subtree",
  }),
  due_from: IsoDate.optional(),
  due_to: IsoDate.optional(),
  product_line: ProductLine.optional(),
  priority: Priority.optional(),
  q: z.string().trim().min(2).max(100).optional().openapi({
    description: "Case number, policy number prefix, customer name or phone",
  }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional().openapi({
    description: "`next_cursor` of the previous page",
  }),
});

export const CaseIdParams = z.object({ id: uuidParam("id", "Case id") });

export const listCases = createRoute({
  method: "get",
  path: "/cases",
  tags: ["Cases"],
  summary: "Renewal cases the caller may see, in due-date order, a page at a time",
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

export const getCase = createRoute({
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

export const CasePatchSchema = z.object({
  stage: Stage.optional(),
  assignee_id: z.uuid().optional(),
  priority: Priority.optional(),
  lost_reason: z.string().trim().min(3).max(500).optional().openapi({
    description: "Required when moving to lost or not_taken",
  }),
}).refine((patch) => Object.keys(patch).length > 0, "name at least one field to change")
  .openapi("CasePatch");

export const patchCase = createRoute({
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
    409: problem("The stage machine does not allow this transition"),
  },
});
