// The payment routes end to end: the api app in-process, Razorpay played by the vendor sandbox,
// its signed webhooks through the gateway into /webhooks/razorpay, the real database.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";
import { checkoutSignature } from "../../functions/_shared/signatures/razorpay.ts";
import {
  admin,
  agent,
  caseOwing,
  caseState,
  control,
  eventually,
  inspect,
  openOrder,
  otherAgent,
  startPayments,
} from "./_payments.ts";

const harness = await startPayments();
const { sandbox } = harness;

interface Paid {
  payment: { id: string; amount: number };
  checkout: { razorpay_payment_id: string; razorpay_order_id: string; razorpay_signature: string };
}

const orderCount = async (caseId: string) =>
  Number(
    (await adminSql()`
    select count(*) from public.payment_orders where case_id = ${caseId}`)[0].count,
  );

dbTest("payments: an order for what is due, answered with what Checkout needs", async () => {
  const { caseId } = await caseOwing([1500000]);
  const order = await openOrder(caseId, { amount: 1500000 }) as Record<string, unknown>;
  assert.match(String(order.order_id), /^order_[A-Za-z0-9]{14}$/);
  assert.equal(order.amount, 1500000);
  assert.equal(order.currency, "INR");
  assert.equal(order.key_id, sandbox.credentials.razorpayKeyId);
  assert.equal(order.reused, false);
  assert.match(String((order.prefill as { name: string }).name), /^Test Customer /);
  // Razorpay holds it under our receipt, with our amount.
  const requests = await inspect<{ ourId: string }[]>(
    sandbox,
    `razorpay/requests?ourId=${order.receipt}`,
  );
  assert.equal(requests.length, 1);
  // The same installments again: the open order is offered, not a second one.
  const again = await expectJson(
    await api(`/cases/${caseId}/payments`, {
      token: await tokenFor(agent),
      method: "POST",
      body: {},
    }),
    200,
  );
  assert.equal(again.order_id, order.order_id);
  assert.equal(again.reused, true);
  assert.equal(await orderCount(caseId), 1);
});

dbTest(
  "payments: a tampered amount, another agent's case, nothing due: refused, nothing made",
  async () => {
    const { caseId, installmentId } = await caseOwing([1500000]);
    const token = await tokenFor(agent);
    const tampered = await expectProblem(
      await api(`/cases/${caseId}/payments`, { token, method: "POST", body: { amount: 100 } }),
      422,
    );
    assert.equal(tampered.code, "PY011");
    await expectProblem(
      await api(`/cases/${caseId}/payments`, {
        token: await tokenFor(otherAgent),
        method: "POST",
        body: {},
      }),
      404,
    );
    await expectProblem(
      await api(`/cases/${caseId}/payments`, {
        token,
        method: "POST",
        body: { installment_ids: [crypto.randomUUID()] },
      }),
      422,
    );
    assert.equal(await orderCount(caseId), 0, "no order for any refused request");
    await adminSql()`
    update public.outstanding_amounts set status = 'waived', reason = 'goodwill'
     where id = ${installmentId}`;
    const nothing = await expectProblem(
      await api(`/cases/${caseId}/payments`, { token, method: "POST", body: {} }),
      409,
    );
    assert.ok(["PY010", "PY006"].includes(String(nothing.code)), String(nothing.code));
    assert.equal(await orderCount(caseId), 0);
    const requests = await inspect<unknown[]>(sandbox, "razorpay/requests");
    assert.ok(Array.isArray(requests));
  },
);

dbTest("payments: paid through Checkout, verified, and the webhook credits it once", async () => {
  const { caseId } = await caseOwing([1500000]);
  const order = await openOrder(caseId);
  const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
  const token = await tokenFor(agent);
  const verified = await expectJson(
    await api(`/cases/${caseId}/payments/verify`, {
      token,
      method: "POST",
      body: paid.checkout,
    }),
    200,
  );
  assert.ok(
    ["credited", "already_credited"].includes(String(verified.outcome)),
    JSON.stringify(verified),
  );
  assert.equal(verified.outstanding, 0);
  await sandbox.callbacksSettled();
  const state = await caseState(caseId);
  assert.deepEqual(state, { stage: "renewed", outstanding: 0, credited: 1, allocations: 1 });
  const [receipts] = await adminSql()`
    select count(*)::int as n from public.messages
     where case_id = ${caseId} and idempotency_key like 'receipt:%'`;
  assert.ok(receipts.n >= 1, "a receipt is queued");
  const history = await expectJson(
    await api(`/cases/${caseId}/payment-history`, { token }),
    200,
  );
  assert.equal(history.payments.length, 1);
  assert.equal(history.payments[0].payment_id, paid.payment.id);
  assert.equal(history.payments[0].status, "captured");
  assert.equal(history.orders.length, 1);
  assert.equal(history.outstanding, 0);
});

dbTest("payments: a forged checkout signature is refused and records nothing", async () => {
  const { caseId } = await caseOwing([1500000]);
  const order = await openOrder(caseId);
  const paid = await control<Paid>(sandbox, "razorpay/pay", {
    orderId: order.order_id,
    outcome: "authorized",
  });
  await control(sandbox, "razorpay/webhooks", { drop: true });
  try {
    const forged = { ...paid.checkout, razorpay_signature: "0".repeat(64) };
    await expectProblem(
      await api(`/cases/${caseId}/payments/verify`, {
        token: await tokenFor(agent),
        method: "POST",
        body: forged,
      }),
      400,
    );
  } finally {
    await control(sandbox, "razorpay/webhooks", { drop: false });
  }
  const [row] = await adminSql()`
    select checkout_verified_at from public.payments
     where razorpay_payment_id = ${paid.checkout.razorpay_payment_id}`;
  assert.equal(row?.checkout_verified_at ?? null, null);
});

dbTest(
  "payments: orders asked for at once while Razorpay is slow: one order, the others told to wait",
  async () => {
    const { caseId } = await caseOwing([1500000]);
    const token = await tokenFor(agent);
    await control(sandbox, "razorpay", { latencyMs: 800 });
    let answers: number[];
    try {
      answers = await Promise.all(
        Array.from(
          { length: 5 },
          () =>
            api(`/cases/${caseId}/payments`, { token, method: "POST", body: {} })
              .then(async (response) => (await response.body?.cancel(), response.status)),
        ),
      );
    } finally {
      await control(sandbox, "razorpay", { latencyMs: 0 });
    }
    assert.deepEqual(answers.sort(), [201, 503, 503, 503, 503]);
    assert.equal(await orderCount(caseId), 1, "one order");
    // Once it exists, asking again answers it.
    const again = await expectJson(
      await api(`/cases/${caseId}/payments`, { token, method: "POST", body: {} }),
      200,
    );
    assert.equal(again.reused, true);
  },
);

dbTest(
  "payments: a signed verification of a payment Razorpay does not know records nothing",
  async () => {
    const { caseId } = await caseOwing([1500000]);
    const order = await openOrder(caseId);
    const paymentId = "pay_Unknown0000001";
    const signature = await checkoutSignature(
      sandbox.credentials.razorpayKeySecret,
      order.order_id,
      paymentId,
    );
    await expectProblem(
      await api(`/cases/${caseId}/payments/verify`, {
        token: await tokenFor(agent),
        method: "POST",
        body: {
          razorpay_order_id: order.order_id,
          razorpay_payment_id: paymentId,
          razorpay_signature: signature,
        },
      }),
      502,
    );
    const [row] = await adminSql()`
    select count(*)::int as n from public.payments where razorpay_payment_id = ${paymentId}`;
    assert.equal(row.n, 0, "no payment row for a payment Razorpay does not know");
  },
);

dbTest("payments: a payment link, paid in two parts where the product allows it", async () => {
  const { caseId, policyId } = await caseOwing([1000000]);
  await adminSql()`update public.policies set product_line = 'life' where id = ${policyId}`;
  const token = await tokenFor(agent);
  const link = await expectJson(
    await api(`/cases/${caseId}/payment-links`, {
      token,
      method: "POST",
      body: { accept_partial: true, first_min_partial_amount: 400000 },
    }),
    201,
  );
  assert.match(link.payment_link_id, /^plink_/);
  assert.equal(link.accept_partial, true);
  await control(sandbox, "razorpay/pay", { paymentLinkId: link.payment_link_id, amount: 400000 });
  await eventually("the part is credited", async () => (await caseState(caseId)).credited === 1);
  assert.deepEqual(await caseState(caseId), {
    stage: "new",
    outstanding: 600000,
    credited: 1,
    allocations: 1,
  });
  await control(sandbox, "razorpay/pay", { paymentLinkId: link.payment_link_id, amount: 600000 });
  await eventually("the rest is credited", async () => (await caseState(caseId)).credited === 2);
  const state = await caseState(caseId);
  assert.equal(state.stage, "renewed");
  assert.equal(state.outstanding, 0);
  // Motor takes no partial payment.
  const motor = await caseOwing([1000000]);
  const refused = await expectProblem(
    await api(`/cases/${motor.caseId}/payment-links`, {
      token,
      method: "POST",
      body: { accept_partial: true },
    }),
    422,
  );
  assert.equal(refused.status, 422);
});

dbTest("payments: refunds are admins' and reopen what they take back on an open case", async () => {
  const { caseId } = await caseOwing([1000000, 1000000]);
  const order = await openOrder(caseId, { amount: 2000000 });
  const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
  await eventually("credited", async () => (await caseState(caseId)).credited === 1);
  const [payment] = await adminSql()`
    select id from public.payments where razorpay_payment_id = ${paid.payment.id}`;
  // The case renewed (both installments paid): a refund reaching into them is refused.
  const before = await snapshot("payments", payment.id);
  await expectProblem(
    await api(`/payments/${payment.id}/refund`, {
      token: await tokenFor(agent),
      method: "POST",
      headers: { "idempotency-key": crypto.randomUUID() },
      body: { reason: "customer asked" },
    }),
    403,
  );
  const closed = await expectProblem(
    await api(`/payments/${payment.id}/refund`, {
      token: await tokenFor(admin),
      method: "POST",
      headers: { "idempotency-key": crypto.randomUUID() },
      body: { reason: "customer asked" },
    }),
    409,
  );
  assert.equal(closed.code, "PY006");
  assert.deepEqual(await snapshot("payments", payment.id), before);
});

dbTest(
  "payments: a signed webhook with a forged, missing or stale signature is refused",
  async () => {
    const body = JSON.stringify({
      entity: "event",
      account_id: "acc_Py360Sandbox01",
      event: "payment.captured",
      contains: ["payment"],
      payload: {},
      created_at: Math.floor(Date.now() / 1000),
    });
    const post = (headers: Record<string, string>) =>
      fetch(harness.webhookUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
    const id = { "x-razorpay-event-id": "evt_Forged00000001" };
    await expectProblem(await post(id), 401);
    await expectProblem(await post({ ...id, "x-razorpay-signature": "ab".repeat(32) }), 401);
    const [events] = await adminSql()`
    select count(*)::int as n from public.payment_events where event_id = 'evt_Forged00000001'`;
    assert.equal(events.n, 0);
  },
);

dbTest("payments: close the harness", async () => {
  await harness.close();
});
