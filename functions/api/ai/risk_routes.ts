// POST /ai/risk-assessment: the stored lapse-risk score(s) of a case or of a customer's open
// cases with their reasons in words, an explanation and a next best action, from the assistant
// when it is on and answers well, else from the rules (the answer says which, and why).
import { createRoute, z } from "@hono/zod-openapi";
import { CaseStage, DateTime, IsoDate, orNull, ProductLine } from "../../_shared/domain.ts";
import { commonProblems, json, jsonBody, problem, signedIn } from "../../_shared/schemas.ts";
import { RiskReasonSchema } from "../cases/routes.ts";
import { provenanceFields, rateLimitedProblem } from "./answer.ts";
import { actionChannels, nextActions } from "./risk_rules.ts";
import { AiSubjectSchema } from "./subject.ts";

/** A stored reason with its sentence. */
export const WordedRiskReasonSchema = RiskReasonSchema.extend({
  text: z.string().openapi({
    example: "The policy expired 5 days ago; 25 days of grace left (+22 points)",
  }),
}).openapi("WordedRiskReason");

/** One case's stored score, its reasons worded by rules. */
export const CaseRiskAssessmentSchema = z.object({
  case_id: z.guid(),
  case_number: z.string().openapi({ example: "RC-2026-000123" }),
  stage: CaseStage,
  product_line: ProductLine,
  due_date: IsoDate,
  days_to_expiry: z.number().int().openapi({
    description: "Days from today (IST) to the due date; negative once the policy has expired",
  }),
  risk: orNull(z.object({
    score: z.number().int().min(0).max(100),
    band: z.enum(["low", "medium", "high"]),
    model_version: z.string().openapi({ example: "rules-2026-11" }),
    scored_at: DateTime,
    reasons: z.array(WordedRiskReasonSchema).openapi({
      description: "The features that weighed most, largest first, each with its sentence",
    }),
  })).openapi({ description: "The stored score (daily); null until scored, or once closed" }),
}).openapi("CaseRiskAssessment");

/** What the agent should do next, about which case, by which means. */
export const NextBestActionSchema = z.object({
  case_id: z.guid().nullable().openapi({ description: "null when there is no case to act on" }),
  action: z.enum(nextActions),
  channel: z.enum(actionChannels).nullable(),
  text: z.string().openapi({
    example: "1 payment attempt failed: call Asha and send a fresh payment link for ₹15,000.",
  }),
}).openapi("NextBestAction");

/** The answer of POST /ai/risk-assessment. */
export const RiskAssessmentSchema = z.object({
  customer_id: z.guid(),
  cases: z.array(CaseRiskAssessmentSchema).openapi({
    description: "The case asked about, or the customer's open cases, highest risk first",
  }),
  explanation: z.string().openapi({
    description: "Why the risk is what it is, in plain words (the assistant's, or the reasons' " +
      "sentences when source is rules)",
  }),
  next_best_action: NextBestActionSchema,
  ...provenanceFields,
}).openapi("RiskAssessment");

/** POST /ai/risk-assessment. */
export const assessRisk = createRoute({
  operationId: "assessRisk",
  method: "post",
  path: "/ai/risk-assessment",
  tags: ["AI"],
  summary: "Explain a case's or a customer's lapse risk and suggest the next best action",
  description: "The stored lapse-risk scores (recomputed daily) with their reasons in words. " +
    "With the assistant on, the model writes the explanation and picks the next best action " +
    "from the same facts (no personal data is sent); when it is off, fails, is slow, answers " +
    "badly twice or the budget is spent, the rule-based answer comes back with " +
    "`source: rules` and `fallback_reason`. Identical requests within AI_CACHE_SECONDS are " +
    "answered from the cache (`source: cache`).",
  ...signedIn,
  request: { body: jsonBody(AiSubjectSchema) },
  responses: {
    200: json("The assessment", RiskAssessmentSchema),
    ...commonProblems,
    404: problem("No such case or customer, or not the caller's to see"),
    ...rateLimitedProblem,
  },
});
