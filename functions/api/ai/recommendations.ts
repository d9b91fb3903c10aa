// POST /ai/policy-recommendations: reads the subject as the caller (RLS: a case or customer they
// may not see is a 404), lists the renewal options the rules allow, then lets the assistant rank
// and word them: it may only choose among those options and cite their facts. Whatever the
// assistant does, the answer is valid: the model's (or its cached) answer, or the rules' with
// the reason; only the per-user rate limit is an error (429 with Retry-After).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { askStructured } from "../../_shared/ai/assistant.ts";
import { personalise } from "../../_shared/ai/redact.ts";
import { type Provenance, provenanceOf, refuseWhenRateLimited, rulesProvenance } from "./answer.ts";
import { loadSubjectFacts, type SubjectFacts } from "./case_facts.ts";
import { type Candidate, factSheet, ruleCandidates, ruleSummary } from "./recommendation_rules.ts";
import {
  deskKey,
  recommendationInstructions,
  recommendationsPrompt,
  recommendationsSchemaName,
} from "./recommendation_model.ts";
import type { RecommendationSchema, recommendPolicies } from "./recommendation_routes.ts";

type Recommendation = z.infer<typeof RecommendationSchema>;

/** A candidate as the desk reads it, with `reason` (the rules' or the model's) and its cites. */
function recommendation(
  facts: SubjectFacts,
  candidate: Candidate,
  reason: string,
  cites: string[],
): Recommendation {
  const c = facts.cases.find((one) => one.case_id === candidate.case_id)!;
  const sheet = factSheet(c, facts);
  return {
    case_id: candidate.case_id,
    case_number: c.case_number,
    option: candidate.option,
    title: candidate.title,
    reason,
    cites: cites.map((fact) => ({ fact, value: sheet[fact] as string | number | boolean })),
    saving_paise: candidate.saving_paise,
    proposed_sum_insured: candidate.proposed_sum_insured,
  };
}

/**
 * POST /ai/policy-recommendations: 404 for a case or customer the caller may not see; 429
 * (Retry-After) over the per-user AI rate limit; otherwise 200 with the options ranked and
 * worded by the model (or the cache), or the rules' options. The model is asked only when the
 * rules have at least one option with a fact to cite; an option it names twice is kept once,
 * where it first came.
 */
export const recommend: RouteHandler<typeof recommendPolicies, AppEnv> = async (c) => {
  const subject = c.req.valid("json");
  const claims = c.get("claims");
  // The options do not depend on how the customer is reached: the gate is not asked.
  const facts = await asCaller(claims, (tx) => loadSubjectFacts(tx, subject, { reach: false }));
  const known = { customer: facts.customer.full_name };
  const name = (text: string) => personalise(text, known);
  const candidates = ruleCandidates(facts);

  let summary = ruleSummary(facts, candidates);
  let recommendations = candidates.map((candidate) =>
    recommendation(facts, candidate, candidate.reason, candidate.facts)
  );
  let provenance: Provenance = rulesProvenance();
  const prompt = recommendationsPrompt(facts, candidates);
  if (prompt !== null) {
    const answer = await askStructured({
      purpose: "policy_recommendations",
      claims,
      caseId: subject.case_id ?? null,
      customerId: facts.customer.id,
      schema: prompt.schema,
      schemaName: recommendationsSchemaName,
      instructions: recommendationInstructions,
      facts: prompt.facts,
      known,
      validate: prompt.validate,
    });
    refuseWhenRateLimited(answer);
    provenance = provenanceOf(answer);
    if (answer.source !== "rules") {
      const byId = new Map(prompt.candidates.map((p) => [p.id, p.candidate]));
      const seen = new Set<string>();
      summary = answer.value.summary;
      recommendations = answer.value.recommendations.flatMap((chosen) => {
        if (seen.has(chosen.candidate_id)) return [];
        seen.add(chosen.candidate_id);
        const candidate = byId.get(chosen.candidate_id)!;
        const cites = [...new Set(chosen.cites.map(deskKey))];
        return [recommendation(facts, candidate, chosen.reason, cites)];
      });
    }
  }

  return c.json({
    customer_id: facts.customer.id,
    summary: name(summary),
    recommendations: recommendations.map((one) => ({ ...one, reason: name(one.reason) })),
    ...provenance,
  }, 200);
};
