// The SQL behind GET /cases/{caseId}/payment-history, run in the caller's transaction: RLS shows
// the orders, payments, links and refunds of cases the caller can see, and nothing else.
import type { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import type { PaymentHistorySchema } from "./routes.ts";

type History = z.infer<typeof PaymentHistorySchema>;

/** One case's payment history, newest first in each list; undefined when the case is not seen. */
export async function paymentHistory(tx: Tx, caseId: string): Promise<History | undefined> {
  const [visible] = await tx<{ outstanding: number }[]>`
    select public.case_outstanding(id) as outstanding
      from public.renewal_cases where id = ${caseId}`;
  if (!visible) return undefined;
  const [orders, payments, payment_links, refunds] = await Promise.all([
    tx<
      History["orders"]
    >`select id, razorpay_order_id as order_id, amount, status, created_at, expires_at
         from public.payment_orders where case_id = ${caseId}
        order by created_at desc, id`,
    tx<
      History["payments"]
    >`select p.id, p.razorpay_payment_id as payment_id, o.razorpay_order_id as order_id,
              l.razorpay_payment_link_id as payment_link_id, p.amount, p.amount_refunded,
              p.status, p.method, p.error_code, p.failure_reason, p.review_reason,
              p.captured_at, p.credited_at, p.created_at
         from public.payments p
         left join public.payment_orders o on o.id = p.payment_order_id
         left join public.payment_links l on l.id = p.payment_link_id
        where p.case_id = ${caseId}
        order by p.created_at desc, p.id`,
    tx<
      History["payment_links"]
    >`select id, razorpay_payment_link_id as payment_link_id, short_url, amount, amount_paid,
              status, expire_by, created_at
         from public.payment_links where case_id = ${caseId}
        order by created_at desc, id`,
    tx<
      History["refunds"]
    >`select r.id, r.payment_id, r.razorpay_refund_id as refund_id, r.amount, r.reason, r.status,
              r.failure_reason, r.created_at, r.processed_at
         from public.refunds r join public.payments p on p.id = r.payment_id
        where p.case_id = ${caseId}
        order by r.created_at desc, r.id`,
  ]);
  return { outstanding: visible.outstanding, orders, payments, payment_links, refunds };
}
