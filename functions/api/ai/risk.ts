// POST /ai/risk-assessment: reads the subject as the caller (RLS: a case or customer they may not
// see is a 404), words the stored reasons and picks a next best action by rules, then asks the
// assistant for its explanation and next best action from the same facts, with no personal data.
// Whatever the assistant does, the answer is valid: the model's (or its cached) answer, or the
// rules' with the reason; only the per-user rate limit is an error (429 with Retry-After).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { askStructured } from "../../_shared/ai/assistant.ts";
import { personalise } from "../../_shared/ai/redact.ts";
import { type Provenance, provenanceOf, refuseWhenRateLimited, rulesProvenance } from "./answer.ts";
import { type CaseFacts, loadSubjectFacts } from "./case_facts.ts";
import { riskInstructions, riskPrompt, riskSchemaName } from "./risk_model.ts";
import type { assessRisk, CaseRiskAssessmentSchema } from "./risk_routes.ts";
import { isOpen, reasonText, ruleExplanation, ruleNextAction } from "./risk_rules.ts";

type CaseRiskAssessment = z.infer<typeof CaseRiskAssessmentSchema>;

/** A case as the assessment shows it: its stored score with each reason worded. */
function caseAssessment(c: CaseFacts, name: (text: string) => string): CaseRiskAssessment {
  return {
    case_id: c.case_id,
    case_number: c.case_number,
    stage: c.stage,
    product_line: c.product_line,
    due_date: c.due_date,
    days_to_expiry: c.days_to_expiry,
    // A closed case keeps its last score until the next daily run: it is no risk any more.
    risk: c.risk && isOpen(c)
      ? {
        ...c.risk,
        reasons: c.risk.reasons.map((reason) => ({ ...reason, text: name(reasonText(reason, c)) })),
      }
      : null,
  };
}

/**
 * POST /ai/risk-assessment: 404 for a case or customer the caller may not see; 429 (Retry-After)
 * over the per-user AI rate limit; otherwise 200 with the model's, the cache's or the rules'
 * explanation and next best action. The model is asked only when there is something to choose:
 * an open case (and always at least one action with its channel).
 */
export const assess: RouteHandler<typeof assessRisk, AppEnv> = async (c) => {
  const subject = c.req.valid("json");
  const claims = c.get("claims");
  const facts = await asCaller(claims, (tx) => loadSubjectFacts(tx, subject));
  const known = { customer: facts.customer.full_name };
  const name = (text: string) => personalise(text, known);

  let explanation = ruleExplanation(facts);
  let nextAction = ruleNextAction(facts);
  let provenance: Provenance = rulesProvenance();
  const prompt = riskPrompt(facts, nextAction);
  if (prompt !== null) {
    const answer = await askStructured({
      purpose: "risk_assessment",
      claims,
      caseId: subject.case_id ?? null,
      customerId: facts.customer.id,
      schema: prompt.schema,
      schemaName: riskSchemaName,
      instructions: riskInstructions,
      facts: prompt.facts,
      known,
      validate: prompt.validate,
    });
    refuseWhenRateLimited(answer);
    provenance = provenanceOf(answer);
    if (answer.source !== "rules") {
      explanation = answer.value.explanation;
      nextAction = prompt.nextAction(answer.value);
    }
  }

  return c.json({
    customer_id: facts.customer.id,
    cases: facts.cases.map((one) => caseAssessment(one, name)),
    explanation: name(explanation),
    next_best_action: { ...nextAction, text: name(nextAction.text) },
    ...provenance,
  }, 200);
};
