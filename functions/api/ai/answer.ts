// What every answer of /api/ai says about where it came from: the model, the cache of an earlier
// model answer, or the rules (and then why), and the one error an AI endpoint answers with
// instead of the rules: the per-user rate limit (429 problem+json with Retry-After).
import { z } from "@hono/zod-openapi";
import { type AiAnswer, type FallbackReason, fallbackReasons } from "../../_shared/ai/assistant.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { problem } from "../../_shared/schemas.ts";

/** Where an AI answer came from. */
export const aiSources = ["model", "cache", "rules"] as const;

/** One of aiSources. */
export type AiSource = typeof aiSources[number];
/** Why an answer is the rule-based one (the assistant core's list, functions/_shared/ai). */
export type { FallbackReason };

/** `source` of every AI answer, as the OpenAPI document names it. */
export const AiSourceSchema = z.enum(aiSources).openapi("AiSource", {
  description: "model: the assistant's answer; cache: the same answer to an identical request " +
    "made within AI_CACHE_SECONDS; rules: the rule-based answer (fallback_reason says why)",
});

/** `fallback_reason` of a rule-based AI answer: the assistant core's reasons. */
export const FallbackReasonSchema = z.enum(fallbackReasons).openapi("AiFallbackReason", {
  description: "Why the rule-based answer was given: disabled (the assistant is switched off), " +
    "not_configured (no model credentials), rate_limited, over_budget (the caller's daily or " +
    "everyone's monthly AI budget is spent), unavailable (the model failed), timeout, invalid " +
    "(the model's answer failed its checks twice, or was refused or cut off)",
});

/** The provenance fields spread into every AI answer's schema. */
export const provenanceFields = {
  source: AiSourceSchema,
  fallback_reason: FallbackReasonSchema.optional().openapi({
    description: "Why the answer is the rules' when the assistant was to be asked (switched " +
      "off, not configured, over budget, failed, slow, invalid); absent when there was " +
      "nothing to ask it (no open case, no option)",
  }),
  ai_request_id: z.guid().nullable().openapi({
    description: "The public.ai_requests row of this answer: the model's or cache's, or the " +
      "failed or refused request's; null when no request was made (the assistant is off, not " +
      "configured, or had nothing to answer)",
  }),
};

/** The provenance of an answer, as its JSON carries it. */
export interface Provenance {
  source: AiSource;
  fallback_reason?: FallbackReason;
  ai_request_id: string | null;
}

/**
 * The provenance of an assistant's answer: the model's or the cache's with its request, or the
 * rules' with the reason and the request that failed or was refused (if one was written).
 */
export function provenanceOf(answer: AiAnswer<unknown>): Provenance {
  return answer.source === "rules"
    ? rulesProvenance(answer.reason, answer.requestId)
    : { source: answer.source, ai_request_id: answer.requestId };
}

/**
 * The provenance of a rule-based answer with `reason` as its fallback_reason; without one, an
 * answer for which the model was not asked (nothing to explain or rank).
 */
export function rulesProvenance(reason?: FallbackReason, requestId?: string): Provenance {
  return reason === undefined
    ? { source: "rules", ai_request_id: null }
    : { source: "rules", fallback_reason: reason, ai_request_id: requestId ?? null };
}

/** The 429 of an AI endpoint's route: the caller's AI requests per minute are used up. */
export const rateLimitedProblem = {
  429: {
    ...problem("Too many AI requests from this user in the last minute (AI_RATE_LIMIT_PER_MINUTE)"),
    headers: {
      "Retry-After": {
        description: "Seconds until a request is admitted again",
        schema: { type: "integer" as const, minimum: 1 },
      },
    },
  },
};

/**
 * Throws the 429 problem (Retry-After at least 1 s) when the assistant refused the caller for the
 * per-user AI rate limit: a rule-based answer would defeat the limit, so the AI endpoints refuse
 * instead. Any other answer or fallback passes.
 */
export function refuseWhenRateLimited(
  answer: { source: string; reason?: FallbackReason; retryAfterSeconds?: number },
): void {
  if (answer.source !== "rules" || answer.reason !== "rate_limited") return;
  const seconds = Math.max(1, Math.ceil(answer.retryAfterSeconds ?? 60));
  throw new ProblemError(
    429,
    "Too Many Requests",
    `Too many AI requests in the last minute; try again in ${seconds} s.`,
    {},
    { "retry-after": String(seconds) },
  );
}
