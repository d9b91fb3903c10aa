// What the assistant is asked for policy recommendations: the facts of each open case under short
// keys (`case_1.premium_paise`, `customer.tenure_years`; no personal data), the rule-based
// candidate options, and an answer schema that lets the model only pick among those candidates,
// by id, each citing facts of its own candidate; validate() checks the same again, as the model
// may not have been strict.
import { z } from "zod";
import type { SubjectFacts } from "./case_facts.ts";
import { type Candidate, factSheet, type FactValue } from "./recommendation_rules.ts";
import { isOpen } from "./risk_rules.ts";

/** The name of the answer's schema as the model sees it. */
export const recommendationsSchemaName = "policy_recommendations";

/** The instructions (system message) of policy recommendations. */
export const recommendationInstructions = [
  "You help an insurance renewal agent in India choose what to offer a customer at renewal.",
  "The user message is JSON: `facts` about the customer's open renewal cases under keys such as",
  "`case_1.premium_paise` (money in paise: 100 paise = 1 rupee; write rupees, ₹), and",
  "`candidates`: the renewal options the rules allow, each with an `id`, a rule-based reason and",
  "the fact keys it rests on. Choose the options worth offering, best first, only among the",
  "candidates and by their `id`; for each write `reason`: one or two plain sentences for the",
  "agent tied to this customer's own facts, and list in `cites` the fact keys it relies on.",
  "Then write `summary`: one sentence. Invent no figure that is not in the facts. Refer to the",
  "customer only as <customer>; never write a name, number or address.",
].join(" ");

/** One option the model chose. */
export interface ModelRecommendation {
  candidate_id: string;
  reason: string;
  cites: string[];
}

/** The model's answer, as the schema describes it. */
export interface RecommendationsModelAnswer {
  summary: string;
  recommendations: ModelRecommendation[];
}

/** A candidate with its id and the fact keys it may cite, as the prompt names them. */
export interface PromptCandidate {
  id: string;
  candidate: Candidate;
  /** Its facts' keys in the prompt: `case_1.premium_paise`, `customer.tenure_years`. */
  factKeys: string[];
}

/** The prompt, schema and check of one request, and how to read the answer back. */
export interface RecommendationsPrompt {
  facts: Record<string, unknown>;
  candidates: PromptCandidate[];
  schema: z.ZodType<RecommendationsModelAnswer>;
  validate: (answer: RecommendationsModelAnswer) => string | null;
  /** The facts by prompt key, to show the desk what a recommendation cites. */
  factValues: Map<string, FactValue>;
}

/** A customer's fact keep its key; a case's is prefixed with the case's ref. */
const promptKey = (ref: string, key: string) => key.startsWith("customer.") ? key : `${ref}.${key}`;

/** The fact's key as the desk reads it: without the case's ref. */
export const deskKey = (key: string) =>
  key.startsWith("customer.") ? key : key.replace(/^[^.]+\./, "");

/**
 * The recommendations prompt for a subject and its rule-based candidates; null when there is
 * nothing to ask (no candidate of an open case that cites a fact: a branch of the schema needs a
 * fact to cite, as strict structured outputs refuse an empty enum). Cases are `case_1`,
 * `case_2`… in the order of the subject; the facts are the cases' fact sheets.
 */
export function recommendationsPrompt(
  facts: SubjectFacts,
  candidates: Candidate[],
): RecommendationsPrompt | null {
  const open = facts.cases.filter(isOpen);
  const refOf = new Map(open.map((c, i) => [c.case_id, `case_${i + 1}`]));
  const factValues = new Map<string, FactValue>();
  for (const c of open) {
    for (const [key, value] of Object.entries(factSheet(c, facts))) {
      factValues.set(promptKey(refOf.get(c.case_id)!, key), value);
    }
  }
  const prompted: PromptCandidate[] = candidates.flatMap((candidate) => {
    const ref = refOf.get(candidate.case_id);
    if (ref === undefined) return []; // not an open case of the subject
    const factKeys = [
      ...new Set(
        candidate.facts.map((key) => promptKey(ref, key)).filter((key) => factValues.has(key)),
      ),
    ];
    return factKeys.length === 0 ? [] : [{ id: `${ref}.${candidate.option}`, candidate, factKeys }];
  });
  if (prompted.length === 0) return null;
  const byId = new Map(prompted.map((p) => [p.id, p]));

  const promptFacts = {
    customer: "<customer>",
    cases: open.map((c) => ({ ref: refOf.get(c.case_id), product_line: c.product_line })),
    facts: Object.fromEntries(factValues),
    candidates: prompted.map((p) => ({
      id: p.id,
      title: p.candidate.title,
      rule_reason: p.candidate.reason,
      facts: p.factKeys,
    })),
  };

  const branch = (p: PromptCandidate) =>
    z.strictObject({
      candidate_id: z.literal(p.id),
      reason: z.string().min(1).max(600),
      cites: z.array(z.enum(p.factKeys as [string, ...string[]])).min(1).max(p.factKeys.length),
    });
  const [first, ...rest] = prompted.map(branch);
  const schema = z.strictObject({
    summary: z.string().min(1).max(600),
    recommendations: z.array(rest.length === 0 ? first : z.union([first, ...rest])).min(1)
      .max(prompted.length),
  }) as unknown as z.ZodType<RecommendationsModelAnswer>;

  const validate = (answer: RecommendationsModelAnswer): string | null => {
    if (answer.recommendations.length === 0) return "no recommendation";
    for (const [i, chosen] of answer.recommendations.entries()) {
      const candidate = byId.get(chosen.candidate_id);
      if (!candidate) return `recommendations[${i}]: ${chosen.candidate_id} is not a candidate`;
      if (chosen.cites.length === 0) return `recommendations[${i}] cites no fact`;
      const foreign = chosen.cites.find((key) => !candidate.factKeys.includes(key));
      if (foreign) return `recommendations[${i}] cites ${foreign}, not a fact of its candidate`;
      if (chosen.reason.trim() === "") return `recommendations[${i}] has no reason`;
    }
    if (answer.summary.trim() === "") return "no summary";
    return null;
  };

  return { facts: promptFacts, candidates: prompted, schema, validate, factValues };
}
