// The `reconcile` edge function: only the service_role key may run it, a bad body is refused
// before anything is claimed, and a run reports what it did (here with Razorpay not configured:
// a 503 that names the missing variables, and nothing claimed).
import assert from "node:assert/strict";
import app from "../../functions/reconcile/app.ts";
import { adminSql, createCase, dbTest, expectProblem, localApiKeys, tokenFor } from "./_helpers.ts";

const post = (token: string | undefined, body?: string) =>
  app.request("/reconcile", {
    method: "POST",
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      "content-type": "application/json",
    },
    body,
  });

dbTest("reconcile function: the service_role key only", async () => {
  const keys = await localApiKeys();
  await expectProblem(await post(undefined), 401);
  await expectProblem(await post("not-a-jwt"), 401);
  await expectProblem(await post(keys.anon), 403);
  await expectProblem(await post(await tokenFor("admin@py360.test")), 403);
});

dbTest(
  "reconcile function: a bad body or no Razorpay is refused, and nothing is claimed",
  async () => {
    const { serviceRole } = await localApiKeys();
    // An order due for reconciliation: a run that claimed it would push its reconcile_after.
    const { caseId, installmentId } = await createCase("farah.agent@py360.test");
    const [due] = await adminSql()`
    insert into public.payment_orders (case_id, amount, installment_ids, expires_at,
                                       reconcile_after)
    values (${caseId}, 1500000, array[${installmentId}::uuid], now() + interval '30 minutes',
            now() - interval '1 minute')
    returning id, reconcile_after`;
    const leaseOf = async () =>
      (await adminSql()`select reconcile_after from public.payment_orders where id = ${due.id}`)[0]
        .reconcile_after;
    await expectProblem(await post(serviceRole, "{"), 400);
    await expectProblem(await post(serviceRole, '{"max_items": 0}'), 422);
    await expectProblem(await post(serviceRole, '{"max_items": 5, "extra": 1}'), 422);
    const unconfigured = await expectProblem(await post(serviceRole, "{}"), 503);
    assert.match(String(unconfigured.detail), /RAZORPAY_KEY_ID/);
    assert.deepEqual(await leaseOf(), due.reconcile_after, "the due order was not claimed");
  },
);
