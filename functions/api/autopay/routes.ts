// /api/cases/{caseId}/autopay: automatic debits of an installment policy's premiums through a
// Razorpay subscription (an e-mandate the customer authorises on Razorpay's page). Every debit is
// announced by a pre-debit notice at least 24 hours before; without one the debit is paused and
// the installment is collected by a payment link instead (migrations *_schedule_autopay_notices).
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull, Paise } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn, uuidParam } from "../../_shared/schemas.ts";

const CaseParams = z.object({ caseId: uuidParam("caseId", "Case id") });

const razorpayProblems = {
  502: problem("Razorpay refused the request; its description is in the detail"),
  503: problem(
    "Razorpay is not configured, or did not answer: nothing is lost, the request is " +
      "reconciled; try again shortly",
  ),
};

/** A case's autopay mandate: the subscription, its schedule and the notices sent. */
export const MandateSchema = z.object({
  id: z.guid(),
  subscription_id: orNull(z.string()).openapi({ example: "sub_00000000000001" }),
  short_url: orNull(z.string()).openapi({
    description: "Razorpay's page where the customer authorises the mandate; send it to them",
  }),
  status: z.string().openapi({
    example: "active",
    description: "creating, created (waiting for the customer), authenticated, active, " +
      "pending (a debit failed; Razorpay retries), halted, paused, cancelled, completed, " +
      "expired, failed",
  }),
  installment_amount: Paise,
  max_amount: Paise.openapi({
    description: "The mandate's limit per debit, in paise (AUTOPAY_MANDATE_LIMIT_PAISE)",
  }),
  period: z.string(),
  interval: z.number().int(),
  total_count: z.number().int(),
  paid_count: z.number().int(),
  start_at: DateTime,
  charge_at: orNull(DateTime),
  pause_reason: orNull(z.string()).openapi({
    description: "Why a debit was paused: notice_missing, notice_not_sent, notice_undelivered",
  }),
  notices: z.array(z.object({
    installment_id: z.guid(),
    amount: Paise,
    charge_at: DateTime,
    message_id: orNull(z.guid()),
    created_at: DateTime,
  })),
  reused: z.boolean().optional(),
}).openapi("AutopayMandate");

/** POST /cases/{caseId}/autopay. */
export const openAutopay = createRoute({
  operationId: "openAutopay",
  method: "post",
  path: "/cases/{caseId}/autopay",
  tags: ["Payments"],
  summary: "Set up autopay for an installment policy (a Razorpay subscription)",
  description: "For monthly, quarterly and half-yearly policies whose open installments owe one " +
    "amount, at most the mandate limit. Answers Razorpay's authorisation page (short_url) for " +
    "the customer; the case's live mandate is answered again rather than a second one made.",
  ...signedIn,
  request: { params: CaseParams },
  responses: {
    201: json("A new mandate, waiting for the customer", MandateSchema),
    200: json("The case's live mandate", MandateSchema),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
    409: problem(
      "Nothing is due (PY010), the case is closed (PY006), or its customer was erased (55000)",
    ),
    422: problem(
      "Not an installment policy, installments of different amounts, above the mandate limit, " +
        "or the first debit too soon",
    ),
    ...razorpayProblems,
  },
});

/** GET /cases/{caseId}/autopay. */
export const getAutopay = createRoute({
  operationId: "getAutopay",
  method: "get",
  path: "/cases/{caseId}/autopay",
  tags: ["Payments"],
  summary: "The case's latest autopay mandate and its pre-debit notices",
  ...signedIn,
  request: { params: CaseParams },
  responses: {
    200: json("The mandate", MandateSchema),
    ...commonProblems,
    404: problem("No such case or no mandate, or not yours to see"),
  },
});

/** DELETE /cases/{caseId}/autopay. */
export const cancelAutopay = createRoute({
  operationId: "cancelAutopay",
  method: "delete",
  path: "/cases/{caseId}/autopay",
  tags: ["Payments"],
  summary: "Cancel the case's live autopay mandate at Razorpay, at once",
  ...signedIn,
  request: { params: CaseParams },
  responses: {
    200: json(
      "The mandate, cancelled; or expired or completed when Razorpay refused the cancel " +
        "because the subscription had already ended",
      MandateSchema,
    ),
    ...commonProblems,
    404: problem("No such case or no live mandate, or not yours to see"),
    ...razorpayProblems,
  },
});
