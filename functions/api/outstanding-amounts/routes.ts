// /api/cases/{caseId}/outstanding-amounts: a case's installments, settled offline one by one.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, InstallmentStatus, IsoDate, Paise } from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** One installment of a renewal premium: amount in paise, due on an IST business day. */
export const InstallmentSchema = z.object({
  id: z.guid(),
  installment_number: z.number().int(),
  due_date: IsoDate,
  amount: Paise,
  amount_paid: Paise.openapi({
    description: "Paid online so far, in paise (partial payments); the rest is still owed",
  }),
  currency: z.string().openapi({ example: "INR" }),
  status: InstallmentStatus,
  paid_at: DateTime.nullable(),
  reason: z.string().nullable(),
}).openapi("Installment");

const CaseParams = z.object({ caseId: uuidParam("caseId", "Case id") });
const InstallmentParams = CaseParams.extend({ id: uuidParam("id", "Installment id") });

/** GET /cases/{caseId}/outstanding-amounts. */
export const listOutstandingAmounts = createRoute({
  operationId: "listOutstandingAmounts",
  method: "get",
  path: "/cases/{caseId}/outstanding-amounts",
  tags: ["Payments"],
  summary: "A case's installments and what is still owed",
  ...signedIn,
  request: { params: CaseParams },
  responses: {
    200: json(
      "Installments in order",
      z.object({
        data: z.array(InstallmentSchema),
        outstanding: Paise.openapi({
          description: "Pending and overdue, in paise (public.case_outstanding)",
        }),
      }),
    ),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
  },
});

/** An offline settlement: paid (with when) or waived, always with a reason for the audit log. */
export const SettlementSchema = z.object({
  status: InstallmentStatus.extract(["paid", "waived"]).openapi({
    description: "paid: received offline (cheque, cash, bank transfer); waived: written off",
  }),
  reason: z.string().trim().min(3).max(500).openapi({ example: "Cheque 004512, HDFC Bank" }),
  paid_at: z.iso.datetime({ offset: true }).optional().openapi({
    description: "When it was paid, not in the future; now by default. Only with status paid.",
  }),
}).refine((body) => body.status === "paid" || body.paid_at === undefined, {
  message: "paid_at goes only with status paid",
  path: ["paid_at"],
}).openapi("Settlement");

/** PUT /cases/{caseId}/outstanding-amounts/{id}. */
export const settleOutstandingAmount = createRoute({
  operationId: "settleOutstandingAmount",
  method: "put",
  path: "/cases/{caseId}/outstanding-amounts/{id}",
  tags: ["Payments"],
  summary: "Mark an installment paid offline, or waive it, with a reason (audited)",
  description: "Agents, managers and admins record offline payments; only managers and admins " +
    "waive. A case that is closed (renewed, lapsed, lost, not taken) takes no settlement.",
  ...signedIn,
  request: { params: InstallmentParams, body: jsonBody(SettlementSchema) },
  responses: {
    200: json("The settled installment", InstallmentSchema),
    ...commonProblems,
    422: problem("The request did not match the schema, or paid_at is in the future (PY008)"),
    403: problem("Only managers and admins waive an installment (PY003)"),
    404: problem("No such installment on this case, or not yours to see"),
    409: problem(
      "The installment is already paid or waived (PY004), or the case is closed (PY006)",
    ),
  },
});
