// Handlers of /api/cases/{caseId}/outstanding-amounts, run as the caller. What a case still owes
// is public.case_outstanding(), the database's one answer; settlement rules are the database's.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type {
  InstallmentSchema,
  listOutstandingAmounts,
  settleOutstandingAmount,
} from "./routes.ts";

type Installment = z.infer<typeof InstallmentSchema>;

const installmentColumns = (tx: Tx) =>
  tx`id, installment_number, due_date::text as due_date, amount, amount_paid, currency, status,
     paid_at, reason`;

/** GET /cases/{caseId}/outstanding-amounts: 404 for a case the caller cannot see. */
export const list: RouteHandler<typeof listOutstandingAmounts, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const result = await asCaller(c.get("claims"), async (tx) => {
    const [visible] = await tx<{ outstanding: number }[]>`
      select public.case_outstanding(id) as outstanding
        from public.renewal_cases where id = ${caseId}`;
    if (!visible) return undefined;
    const data = await tx<Installment[]>`
      select ${installmentColumns(tx)} from public.outstanding_amounts
       where case_id = ${caseId} order by installment_number`;
    return { data, outstanding: visible.outstanding };
  });
  if (!result) throw notFound("case");
  return c.json(result, 200);
};

/**
 * PUT /cases/{caseId}/outstanding-amounts/{id}: 404 for an installment not on this case or not
 * the caller's; the database refuses waivers by agents (403), settled installments and closed
 * cases (409) and payments dated in the future (422).
 */
export const settle: RouteHandler<typeof settleOutstandingAmount, AppEnv> = async (c) => {
  const { caseId, id } = c.req.valid("param");
  const { status, reason, paid_at } = c.req.valid("json");
  const row = await asCaller(c.get("claims"), async (tx) => {
    // The case first, then the installment: the order every payment path locks in (the
    // installment's own trigger locks the case after the row, which could deadlock with them).
    const [visible] = await tx`select 1 from public.renewal_cases where id = ${caseId}`;
    if (!visible) return undefined;
    await tx`select private.lock_case(${caseId})`;
    const [settled] = await tx<Installment[]>`
      update public.outstanding_amounts
         set status = ${status},
             reason = ${reason},
             paid_at = case when ${status} = 'paid' then coalesce(${
      paid_at ?? null
    }::timestamptz, now()) end
       where id = ${id} and case_id = ${caseId}
      returning ${installmentColumns(tx)}`;
    return settled;
  });
  if (!row) throw notFound("installment");
  return c.json(row, 200);
};
