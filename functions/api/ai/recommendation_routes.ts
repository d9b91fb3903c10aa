// POST /ai/policy-recommendations: renewal options for a case or a customer's open cases (renew
// as it is, pay yearly, protect the NCB, a higher or lower sum insured, an add-on), each with a
// reason tied to the customer's own data and the facts it cites; ranked and worded by the
// assistant when it is on and answers well (only among the rules' options), else by the rules.
import { createRoute, z } from "@hono/zod-openapi";
import { Paise } from "../../_shared/domain.ts";
import { commonProblems, json, jsonBody, problem, signedIn } from "../../_shared/schemas.ts";
import { provenanceFields, rateLimitedProblem } from "./answer.ts";
import { recommendationOptions } from "./recommendation_rules.ts";
import { AiSubjectSchema } from "./subject.ts";

/** A fact a recommendation rests on, with its value. */
export const CitedFactSchema = z.object({
  fact: z.string().openapi({
    example: "premium_paise",
    description: "The fact's name: the case's (premium_paise, sum_insured_paise, " +
      "payment_frequency, ncb_percent, days_to_expiry, ...) or the customer's (customer.*)",
  }),
  value: z.union([z.string(), z.number(), z.boolean()]).openapi({
    description: "Its value: amounts in paise, days from today (IST), percentages",
  }),
}).openapi("CitedFact");

/** One renewal option for one case. */
export const RecommendationSchema = z.object({
  case_id: z.guid(),
  case_number: z.string().openapi({ example: "RC-2026-000123" }),
  option: z.enum(recommendationOptions).openapi({
    description: "keep: renew as it is; switch_to_annual: pay yearly instead of in " +
      "installments; protect_ncb: renew in time and add NCB protection (motor); " +
      "raise_sum_insured / lower_sum_insured (for motor the IDV); add_*: an add-on for the " +
      "product line",
  }),
  title: z.string().openapi({ example: "Pay yearly" }),
  reason: z.string().openapi({
    example: "Paying ₹14,563 once a year instead of 4 quarterly installments saves ₹437 a year.",
  }),
  cites: z.array(CitedFactSchema).min(1).openapi({ description: "The facts the reason rests on" }),
  saving_paise: Paise.nullable().openapi({
    description: "What paying yearly saves a year, in paise (switch_to_annual, when the " +
      "installment loading is known)",
  }),
  proposed_sum_insured: Paise.nullable().openapi({
    description: "The sum insured (IDV) proposed, in paise (raise_ / lower_sum_insured)",
  }),
}).openapi("Recommendation");

/** The answer of POST /ai/policy-recommendations. */
export const PolicyRecommendationsSchema = z.object({
  customer_id: z.guid(),
  summary: z.string(),
  recommendations: z.array(RecommendationSchema).openapi({
    description: "Best first; empty when there is no open case",
  }),
  ...provenanceFields,
}).openapi("PolicyRecommendations");

/** POST /ai/policy-recommendations. */
export const recommendPolicies = createRoute({
  operationId: "recommendPolicies",
  method: "post",
  path: "/ai/policy-recommendations",
  tags: ["AI"],
  summary: "Renewal options for a case or a customer, each with its reason and facts",
  description: "The rules list the options the data allows; with the assistant on, the model " +
    "ranks and words them, choosing only among those options and citing only their facts (no " +
    "personal data is sent). When the assistant is off, fails, is slow, answers badly twice or " +
    "the budget is spent, the rules' options come back with `source: rules` and " +
    "`fallback_reason`. Identical requests within AI_CACHE_SECONDS are answered from the cache.",
  ...signedIn,
  request: { body: jsonBody(AiSubjectSchema) },
  responses: {
    200: json("The options, best first", PolicyRecommendationsSchema),
    ...commonProblems,
    404: problem("No such case or customer, or not the caller's to see"),
    ...rateLimitedProblem,
  },
});
