// GET /api/hierarchy/{nodeId}/performance: how a node of the organisation did over business
// days, beside each of its child nodes, read from the analytics facts. Managers and admins.
import { createRoute, z } from "@hono/zod-openapi";
import { CaseStage, DateTime, Paise, PaiseDecimal } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn, uuidParam } from "../../_shared/schemas.ts";
import { DayPeriodQuery, DayPeriodSchema } from "../communications/period.ts";
import { NodeSchema } from "./routes.ts";

/** A rate between 0 and 1 to 4 decimals, null when there is nothing to divide by. */
const Rate = z.number().min(0).max(1).nullable();

/** The measures of one node's subtree over the period. */
export const NodeFiguresSchema = z.object({
  node: NodeSchema,
  cases: z.object({
    due: z.number().int().openapi({ description: "Cases due in the period (the cohort)" }),
    renewed: z.number().int().openapi({ description: "Of them, renewed now" }),
    closed: z.number().int().openapi({
      description: "Of them, decided now: renewed, lapsed, lost or not taken",
    }),
    open: z.number().int().openapi({ description: "Of them, still open" }),
  }).openapi({
    description: "The cases of the agents at or under the node whose policy term fell due in " +
      "the period, by their stage now",
  }),
  renewal_rate: Rate.openapi({ description: "renewed / due" }),
  renewal_rate_of_closed: Rate.openapi({ description: "renewed / closed" }),
  by_stage: z.array(z.object({
    stage: CaseStage,
    cases: z.number().int(),
    premium_paise: Paise.openapi({ description: "Yearly premium of those cases' policies" }),
  })).openapi({ description: "The cohort by stage, every stage in pipeline order" }),
  average_days_to_renew: z.number().nullable().openapi({
    description: "Mean days from a renewed case's opening to its renewal (2 decimals); null " +
      "when none renewed",
  }),
  premium: z.object({
    due_paise: Paise.openapi({
      description: "Installments falling due on the period's days (waived ones excepted)",
    }),
    collected_paise: Paise.openapi({ description: "Payments captured on the period's days" }),
    installments_paid_paise: Paise.openapi({
      description: "Installments settled as paid on the period's days, online or at the desk",
    }),
    installments_due: z.number().int(),
    payments_captured: z.number().int(),
    cohort_paise: Paise.openapi({ description: "Yearly premium of the cases due (the cohort)" }),
    cohort_renewed_paise: Paise.openapi({ description: "Of it, the renewed cases'" }),
  }),
  sla: z.object({
    tasks_due: z.number().int().openapi({ description: "Call tasks whose SLA fell in the period" }),
    breaches: z.number().int().openapi({ description: "Of them, not done by their deadline" }),
  }),
  messages: z.object({
    sent: z.number().int().openapi({ description: "Messages of the cases sent in the period" }),
    cost_paise: PaiseDecimal.openapi({ description: "What they cost (vendor price or estimate)" }),
    cost_per_renewal_paise: PaiseDecimal.nullable().openapi({
      description: "cost_paise / cases of the cohort renewed (4 decimals); null when none renewed",
    }),
  }),
}).openapi("NodeFigures");

/** A node's performance: its own figures, the period, and each child's figures. */
export const NodePerformanceSchema = NodeFiguresSchema.extend({
  period: DayPeriodSchema,
  facts_as_of: DateTime.nullable().openapi({
    description: "The moment the analytics facts describe (refreshed every 5 minutes); null " +
      "before their first refresh",
  }),
  children: z.array(NodeFiguresSchema).openapi({
    description: "Each child node (active or not) with the same figures, by code",
  }),
}).openapi("NodePerformance");

const NodeIdParams = z.object({ nodeId: uuidParam("nodeId", "Hierarchy node id") });

/** GET /hierarchy/{nodeId}/performance. */
export const getNodePerformance = createRoute({
  operationId: "getHierarchyNodePerformance",
  method: "get",
  path: "/hierarchy/{nodeId}/performance",
  tags: ["Hierarchy"],
  summary: "A node's renewals, premium, SLA and message cost for a period, beside its children",
  description: "For the agents at or under the node: the cohort of cases due in the period " +
    "(renewal rate as renewed / due and renewed / closed, cases and premium by stage, average " +
    "days to renew), premium due vs collected on the period's days, call-task SLA breaches, " +
    "messages sent, their cost and cost per renewal; and the same for each child node side " +
    "by side. Read from the analytics facts (refreshed every 5 minutes: facts_as_of). " +
    "Admins read any node, managers theirs and those under it.",
  ...signedIn,
  request: { params: NodeIdParams, query: DayPeriodQuery },
  responses: {
    200: json("The node's figures and its children's", NodePerformanceSchema),
    ...commonProblems,
    403: problem("Only managers and admins read performance figures"),
    404: problem("No such node, or not yours to see"),
  },
});
