import { createRoute, z } from "@hono/zod-openapi";
import {
  commonProblems,
  IsoDate,
  json,
  jsonBody,
  Paise,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

export const InstallmentSchema = z.object({
  id: z.uuid(),
  installment_number: z.number().int(),
  due_date: IsoDate,
  amount: Paise,
  currency: z.string().openapi({ example: "INR" }),
  status: z.enum(["pending", "paid", "overdue", "waived"]),
  paid_at: z.string().nullable().openapi({ format: "date-time" }),
  reason: z.string().nullable(),
}).openapi("Installment");

const CaseParams = z.object({ caseId: uuidParam("caseId", "Case id") });
const InstallmentParams = CaseParams.extend({ id: uuidParam("id", "Installment id") });

export const listOutstandingAmounts = createRoute({
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
        outstanding: Paise.openapi({ description: "Pending and overdue, in paise" }),
      }),
    ),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
  },
});

export const SettlementSchema = z.object({
  status: z.enum(["paid", "waived"]).openapi({
    description: "paid: received offline (cheque, cash, bank transfer); waived: written off",
  }),
  reason: z.string().trim().min(3).max(500).openapi({ example: "Cheque 004512, HDFC Bank" }),
  paid_at: z.iso.datetime({ offset: true }).optional().openapi({
    description: "When it was paid; now by default. Only with status paid.",
  }),
}).refine((body) => body.status === "paid" || body.paid_at === undefined, {
  message: "paid_at goes only with status paid",
  path: ["paid_at"],
}).openapi("Settlement");

export const settleOutstandingAmount = createRoute({
  method: "put",
  path: "/cases/{caseId}/outstanding-amounts/{id}",
  tags: ["Payments"],
  summary: "Mark an installment paid offline, or waive it, with a reason (audited)",
  ...signedIn,
  request: { params: InstallmentParams, body: jsonBody(SettlementSchema) },
  responses: {
    200: json("The settled installment", InstallmentSchema),
    ...commonProblems,
    404: problem("No such installment on this case, or not yours to see"),
    409: problem("The installment is already paid or waived"),
  },
});
