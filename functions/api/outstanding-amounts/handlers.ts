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
  tx`id, installment_number, due_date::text as due_date, amount::float8 as amount, currency,
     status, paid_at, reason`;

export const list: RouteHandler<typeof listOutstandingAmounts, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const result = await asCaller(c.get("claims"), async (tx) => {
    const [visible] = await tx`select 1 from public.renewal_cases where id = ${caseId}`;
    if (!visible) return undefined;
    return await tx<Installment[]>`
      select ${installmentColumns(tx)} from public.outstanding_amounts
       where case_id = ${caseId} order by installment_number`;
  });
  if (!result) throw notFound("case");
  const outstanding = result
    .filter((row) => row.status === "pending" || row.status === "overdue")
    .reduce((sum, row) => sum + row.amount, 0);
  return c.json({ data: result, outstanding }, 200);
};

export const settle: RouteHandler<typeof settleOutstandingAmount, AppEnv> = async (c) => {
  const { caseId, id } = c.req.valid("param");
  const { status, reason, paid_at } = c.req.valid("json");
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<Installment[]>`
      update public.outstanding_amounts
         set status = ${status},
             reason = ${reason},
             paid_at = case when ${status} = 'paid' then coalesce(${
      paid_at ?? null
    }::timestamptz, now()) end
       where id = ${id} and case_id = ${caseId}
      returning ${installmentColumns(tx)}`);
  if (!row) throw notFound("installment");
  return c.json(row, 200);
};
