// Handler of POST /api/customers/{id}/erasure, run as the caller in one transaction: the
// database decides everything (private.erase_customer: visibility 404, admins only 403, payment
// in flight or already erased 409, then the erasure itself); the API validates the body first,
// so a bad one changes nothing.
import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import type { eraseCustomer } from "./routes.ts";

/**
 * The erasure searches the webhook payload tables (message_events, payment_events) for the
 * person's addresses and Razorpay ids, work that grows with the book: the role's own statement
 * timeout (8 s for authenticated on Supabase) would cut it on a large one.
 */
const wholeBook = { statementTimeout: "120s" };

interface ErasureResult {
  data_request_id: string;
  counts: Record<string, number>;
}

/** POST /customers/{id}/erasure: 200 with the data request and the counts per kind. */
export const erase: RouteHandler<typeof eraseCustomer, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { reason } = c.req.valid("json");
  const { result, erasedAt } = await asCaller(c.get("claims"), async (tx) => {
    const [{ result }] = await tx<{ result: ErasureResult }[]>`
      select private.erase_customer(${id}::uuid, ${reason}) as result`;
    // Read after the erasure, by its own statement (a statement sees the data as it began).
    const [{ erased_at }] = await tx<{ erased_at: Date }[]>`
      select cu.erased_at from public.customers cu where cu.id = ${id}::uuid`;
    return { result, erasedAt: erased_at };
  }, wholeBook);
  return c.json({
    data_request_id: result.data_request_id,
    customer_id: id,
    erased_at: erasedAt.toISOString(),
    counts: result.counts,
  }, 200);
};
