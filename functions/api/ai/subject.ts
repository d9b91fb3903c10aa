// The body of POST /ai/risk-assessment and /ai/policy-recommendations: what the answer is about,
// one renewal case or one customer (and then their open cases), never both, nothing else.
import { z } from "@hono/zod-openapi";

/** `{case_id}` or `{customer_id}`, exactly one, and no other member. */
export const AiSubjectSchema = z.strictObject({
  case_id: z.guid().optional().openapi({ description: "One renewal case" }),
  customer_id: z.guid().optional().openapi({
    description: "A customer: the answer covers their open renewal cases",
  }),
}).refine(
  (subject) => (subject.case_id === undefined) !== (subject.customer_id === undefined),
  "name exactly one of case_id or customer_id",
).openapi("AiSubject", {
  description: "What the answer is about: one case (`case_id`) or one customer's open cases " +
    "(`customer_id`), the caller's to see",
  example: { case_id: "3f1c2a9e-8d4b-4c1e-9a7f-2b6d5e8c0a11" },
});

/** A validated subject: exactly one of the two ids is set. */
export type AiSubject = z.infer<typeof AiSubjectSchema>;
