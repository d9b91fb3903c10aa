// Money that arrives the hard way (issue 8, "Must show"), end to end against the sandbox, the
// gateway and the real database: a lost webhook caught by the reconciliation poll (a later
// redelivery changes nothing), a payment link paid in parts (installments and stage right at each
// step, reminders cancelled only at the end), and refunds by an admin on an open case (partial,
// failed, full; installments reopen; the refund webhooks settle them; a retried call and the
// poll's retry of a lost answer never refund twice).
import assert from "node:assert/strict";
import { reconcilePayments } from "../../functions/_shared/payments/reconcile.ts";
import { razorpay } from "../../functions/_shared/payments/razorpay_calls.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import {
  admin,
  agent,
  caseOwing,
  caseState,
  control,
  inspect,
  madeEvents,
  openOrder,
  paymentMessages,
  queueReminders,
  reminderState,
  stageChanges,
  startPayments,
} from "./_payments.ts";

const harness = await startPayments();
const { sandbox } = harness;
// A refund call whose answer is lost gives up after this (the default is 10 s).
Deno.env.set("PROVIDER_TIMEOUT_MS", "1500");

interface Paid {
  payment: { id: string; amount: number };
  checkout: { razorpay_payment_id: string; razorpay_order_id: string; razorpay_signature: string };
  events: { id: string; event: string }[];
}

/** Everything the poll can find due, now: past every reconcile_after, all items at once. */
const poll = () =>
  reconcilePayments(razorpay(), { maxItems: 1000, asOf: new Date(Date.now() + 3600_000) });

/** The payment as credited: how, and how many allocation rows and payment events it has. */
async function credit(payId: string) {
  const [row] = await adminSql()`
    select p.credited_via, p.status,
           (select count(*)::int from public.payment_allocations a where a.payment_id = p.id)
             as allocations,
           (select count(*)::int from public.payment_events e
             where e.payload #>> '{payload,payment,entity,id}' = ${payId}) as events
      from public.payments p where p.razorpay_payment_id = ${payId}`;
  return row ? { ...row } : null;
}

/** Pays with Razorpay's webhooks lost (made, never delivered). */
async function payLost(body: Record<string, unknown>): Promise<Paid> {
  await control(sandbox, "razorpay/webhooks", { drop: true });
  try {
    return await control<Paid>(sandbox, "razorpay/pay", body);
  } finally {
    await control(sandbox, "razorpay/webhooks", { drop: false });
  }
}

dbTest(
  "reconciliation: a link the case no longer needs is cancelled at Razorpay, and cannot be paid",
  async () => {
    const { caseId } = await caseOwing([900000]);
    const token = await tokenFor(agent);
    const link = await expectJson(
      await api(`/cases/${caseId}/payment-links`, { token, method: "POST", body: {} }),
      201,
    );
    const order = await openOrder(caseId);
    await control(sandbox, "razorpay/pay", { orderId: order.order_id });
    await sandbox.callbacksSettled();
    assert.equal((await caseState(caseId)).stage, "renewed");
    // Renewed by the order: the link is still payable until the poll cancels it.
    await poll();
    const atRazorpay = await razorpay().fetchPaymentLink(link.payment_link_id);
    assert.equal(atRazorpay.status, "cancelled");
    const [ours] = await adminSql()`
      select status from public.payment_links where razorpay_payment_link_id = ${link.payment_link_id}`;
    assert.equal(ours.status, "cancelled");
    const refused = await fetch(`${sandbox.url}/_control/razorpay/pay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ paymentLinkId: link.payment_link_id }),
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 409, "the customer can no longer pay it");
    assert.equal((await caseState(caseId)).credited, 1, "paid once");
  },
);

dbTest(
  "reconciliation: a lost webhook is caught by the poll, and its late redelivery changes nothing",
  async () => {
    // An order paid through Checkout, whose webhooks never come and whose browser never returns.
    const byOrder = await caseOwing([1500000]);
    const reminders = await queueReminders(byOrder, 2);
    const order = await openOrder(byOrder.caseId);
    const paid = await payLost({ orderId: order.order_id });
    // And a payment link paid in full, its webhooks lost as well.
    const byLink = await caseOwing([800000]);
    const link = await expectJson(
      await api(`/cases/${byLink.caseId}/payment-links`, {
        token: await tokenFor(agent),
        method: "POST",
        body: {},
      }),
      201,
    );
    const linkPaid = await payLost({ paymentLinkId: link.payment_link_id });
    await sandbox.callbacksSettled();
    assert.equal(await credit(paid.payment.id), null, "nothing known of the payment yet");
    assert.equal((await caseState(byOrder.caseId)).stage, "new");
    assert.equal((await reminderState(reminders)).queued, 2);

    const stats = await poll();
    assert.ok(stats.done >= 2, JSON.stringify(stats));
    for (const [fixture, payId] of [[byOrder, paid.payment.id], [byLink, linkPaid.payment.id]]) {
      const { caseId } = fixture as { caseId: string };
      assert.deepEqual(await caseState(caseId), {
        stage: "renewed",
        outstanding: 0,
        credited: 1,
        allocations: 1,
      });
      assert.deepEqual(await credit(payId as string), {
        credited_via: "reconcile",
        status: "captured",
        allocations: 1,
        events: 0,
      });
      assert.equal(await paymentMessages(`receipt:${payId}`), 1);
      assert.deepEqual(await stageChanges(caseId), ["renewed"]);
    }
    const cancelled = await reminderState(reminders);
    assert.equal(cancelled.cancelled, 2, "the case's queued reminders are cancelled");
    const [order_] = await adminSql()`
      select status, reconcile_after from public.payment_orders where id = ${order.payment_order_id}`;
    assert.deepEqual({ ...order_ }, { status: "paid", reconcile_after: null });
    const [link_] = await adminSql()`
      select status, amount_paid::int from public.payment_links
       where razorpay_payment_link_id = ${link.payment_link_id}`;
    assert.deepEqual({ ...link_ }, { status: "paid", amount_paid: 800000 });

    // Razorpay redelivers every lost event later (a dashboard replay): answered, changes nothing.
    const lost = [
      ...await madeEvents(sandbox, paid.payment.id),
      ...await madeEvents(sandbox, linkPaid.payment.id),
    ];
    assert.ok(lost.length >= 5, `authorized, captured and paid events of both (${lost.length})`);
    for (const event of lost) await control(sandbox, "razorpay/replay", { eventId: event.id });
    await sandbox.callbacksSettled();
    const deliveries = await inspect<{ eventId: string; status: number }[]>(
      sandbox,
      "razorpay/deliveries",
    );
    const redelivered = deliveries.filter((d) => lost.some((e) => e.id === d.eventId));
    assert.equal(redelivered.length, lost.length, "each lost event delivered once, now");
    assert.ok(redelivered.every((d) => d.status === 200), JSON.stringify(redelivered));
    const notes = await adminSql()`
      select distinct note from public.payment_events where event_id = any(${
      lost.map((e) => e.id)
    }::text[])`;
    assert.deepEqual(notes.map((n) => n.note).sort(), ["already_credited"]);
    for (const [fixture, payId] of [[byOrder, paid.payment.id], [byLink, linkPaid.payment.id]]) {
      const { caseId } = fixture as { caseId: string };
      assert.deepEqual(await caseState(caseId), {
        stage: "renewed",
        outstanding: 0,
        credited: 1,
        allocations: 1,
      });
      assert.equal((await credit(payId as string))!.allocations, 1);
      assert.equal(await paymentMessages(`receipt:${payId}`), 1);
      assert.deepEqual(await stageChanges(caseId), ["renewed"]);
    }
    // And a second poll finds nothing left of theirs to do.
    const [open] = await adminSql()`
      select count(*)::int as n from public.payment_orders
       where id = ${order.payment_order_id} and reconcile_after is not null`;
    assert.equal(open.n, 0);
  },
);

dbTest(
  "reconciliation: a payment only authorised, its webhooks lost, is found and captured by the polls, once",
  async () => {
    const fixture = await caseOwing([1200000]);
    const order = await openOrder(fixture.caseId);
    const paid = await payLost({ orderId: order.order_id, outcome: "authorized" });
    await sandbox.callbacksSettled();
    // Lost for good: the payment.captured the capture makes is lost as well.
    await control(sandbox, "razorpay/webhooks", { drop: true });
    try {
      await pollTwiceAndCheck(fixture.caseId, paid.payment.id);
    } finally {
      await control(sandbox, "razorpay/webhooks", { drop: false });
    }
  },
);

/** The authorised payment's two polls: recorded by the first, captured and credited by the next. */
async function pollTwiceAndCheck(caseId: string, payId: string) {
  // The first poll finds the payment on the order: authorised, recorded, not credited.
  await poll();
  assert.deepEqual(await credit(payId), {
    credited_via: null,
    status: "authorized",
    allocations: 0,
    events: 0,
  });
  assert.equal((await caseState(caseId)).credited, 0);
  // The next poll (past the payment's reconcile_after) captures it and credits it.
  await poll();
  assert.deepEqual(await credit(payId), {
    credited_via: "reconcile",
    status: "captured",
    allocations: 1,
    events: 0,
  });
  assert.deepEqual(await caseState(caseId), {
    stage: "renewed",
    outstanding: 0,
    credited: 1,
    allocations: 1,
  });
  // Polls after that capture nothing more: Razorpay was asked to capture it once.
  await poll();
  const captures = (await inspect<{ id: string; subject: string }[]>(sandbox, "razorpay/requests"))
    .filter((r) => r.subject === "payment.capture" && r.id === payId);
  assert.equal(captures.length, 1);
  const [journal] = await adminSql()`
      select count(*)::int as n from private.razorpay_calls
       where operation = 'capture_payment' and request ->> 'payment_id' = ${payId}`;
  assert.equal(journal.n, 1, "the capture was journaled once");
  assert.equal(await paymentMessages(`receipt:${payId}`), 1);
}

/** A case's installments: (number, status, amount_paid), in order. */
async function installments(caseId: string) {
  const rows = await adminSql()`
    select installment_number::int as n, status, amount_paid::int as paid
      from public.outstanding_amounts where case_id = ${caseId} order by installment_number`;
  return rows.map((r) => ({ ...r }));
}

dbTest(
  "reconciliation: a life policy's link paid in three parts: installments and stage right at each step, reminders cancelled only at the end",
  async () => {
    const fixture = await caseOwing([600000, 400000]);
    await adminSql()`update public.policies set product_line = 'life' where id = ${fixture.policyId}`;
    const reminders = await queueReminders(fixture, 2);
    const link = await expectJson(
      await api(`/cases/${fixture.caseId}/payment-links`, {
        token: await tokenFor(agent),
        method: "POST",
        body: { accept_partial: true, first_min_partial_amount: 250000 },
      }),
      201,
    );
    assert.equal(link.amount, 1000000);
    const steps = [
      {
        amount: 300000,
        installments: [
          { n: 1, status: "pending", paid: 300000 },
          { n: 2, status: "pending", paid: 0 },
        ],
        outstanding: 700000,
        link: "partially_paid",
      },
      {
        amount: 500000,
        installments: [
          { n: 1, status: "paid", paid: 600000 },
          { n: 2, status: "pending", paid: 200000 },
        ],
        outstanding: 200000,
        link: "partially_paid",
      },
      {
        amount: 200000,
        installments: [
          { n: 1, status: "paid", paid: 600000 },
          { n: 2, status: "paid", paid: 400000 },
        ],
        outstanding: 0,
        link: "paid",
      },
    ];
    for (const [i, step] of steps.entries()) {
      await control(sandbox, "razorpay/pay", {
        paymentLinkId: link.payment_link_id,
        amount: step.amount,
      });
      await sandbox.callbacksSettled();
      const last = i === steps.length - 1;
      const state = await caseState(fixture.caseId);
      assert.deepEqual(state, {
        stage: last ? "renewed" : "new",
        outstanding: step.outstanding,
        credited: i + 1,
        allocations: [1, 3, 4][i],
      }, `after part ${i + 1}`);
      assert.deepEqual(await installments(fixture.caseId), step.installments, `part ${i + 1}`);
      const [row] = await adminSql()`
        select status, amount_paid::int from public.payment_links
         where razorpay_payment_link_id = ${link.payment_link_id}`;
      assert.deepEqual({ ...row }, { status: step.link, amount_paid: 1000000 - step.outstanding });
      const queued = await reminderState(reminders);
      assert.equal(queued.queued, last ? 0 : 2, `reminders queued after part ${i + 1}`);
      assert.equal(queued.cancelled, last ? 2 : 0, `reminders cancelled after part ${i + 1}`);
    }
    assert.deepEqual(await stageChanges(fixture.caseId), ["renewed"]);
    const [receipts] = await adminSql()`
      select count(*)::int as n from public.messages
       where case_id = ${fixture.caseId} and idempotency_key like 'receipt:%'`;
    assert.equal(receipts.n, 3, "a receipt for each part");
  },
);

interface RefundAnswer {
  id: string;
  payment_id: string;
  refund_id: string | null;
  amount: number;
  status: string;
}

dbTest(
  "reconciliation: refunds on an open case reopen installments, settle by webhook (failed, processed), and a retry never refunds twice",
  async () => {
    const fixture = await caseOwing([1000000, 1000000]);
    const [first] = await adminSql()`
      select id from public.outstanding_amounts where case_id = ${fixture.caseId}
       order by installment_number limit 1`;
    const order = await openOrder(fixture.caseId, { installment_ids: [first.id] });
    const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
    await sandbox.callbacksSettled();
    assert.deepEqual(await installments(fixture.caseId), [
      { n: 1, status: "paid", paid: 1000000 },
      { n: 2, status: "pending", paid: 0 },
    ]);
    const [payment] = await adminSql()`
      select id from public.payments where razorpay_payment_id = ${paid.payment.id}`;
    const adminToken = await tokenFor(admin);
    const refund = (body: Record<string, unknown>, key: string = crypto.randomUUID()) =>
      api(`/payments/${payment.id}/refund`, {
        token: adminToken,
        method: "POST",
        headers: { "idempotency-key": key },
        body,
      });

    // 1. A partial refund that Razorpay later fails: nothing moves, the amount is free again.
    await control(sandbox, "razorpay/refunds", { settle: "pending" });
    let failed: RefundAnswer;
    try {
      failed = await expectJson(await refund({ amount: 300000, reason: "asked twice" }), 201);
    } finally {
      await control(sandbox, "razorpay/refunds", { settle: "processed" });
    }
    assert.equal(failed.status, "pending");
    assert.match(String(failed.refund_id), /^rfnd_/);
    await control(sandbox, "razorpay/refunds/settle", {
      refundId: failed.refund_id,
      status: "failed",
    });
    await sandbox.callbacksSettled();
    assert.deepEqual(await refundRow(failed.id), { status: "failed", amount: 300000 });
    assert.deepEqual(await installments(fixture.caseId), [
      { n: 1, status: "paid", paid: 1000000 },
      { n: 2, status: "pending", paid: 0 },
    ]);
    assert.equal(await refunded(payment.id), 0);

    // 2. A partial refund: the installment reopens when it is asked; refund.processed records it.
    await control(sandbox, "razorpay/refunds", { settle: "pending" });
    let part: RefundAnswer;
    try {
      part = await expectJson(await refund({ amount: 400000, reason: "partly refunded" }), 201);
    } finally {
      await control(sandbox, "razorpay/refunds", { settle: "processed" });
    }
    assert.equal(part.status, "pending");
    assert.deepEqual(await installments(fixture.caseId), [
      { n: 1, status: "pending", paid: 600000 },
      { n: 2, status: "pending", paid: 0 },
    ], "a pending refund is no longer money received: the installment reopens at once");
    await control(sandbox, "razorpay/refunds/settle", {
      refundId: part.refund_id,
      status: "processed",
    });
    await sandbox.callbacksSettled();
    assert.deepEqual(await refundRow(part.id), { status: "processed", amount: 400000 });
    assert.deepEqual(await installments(fixture.caseId), [
      { n: 1, status: "pending", paid: 600000 },
      { n: 2, status: "pending", paid: 0 },
    ]);
    assert.equal(await refunded(payment.id), 400000);
    assert.equal((await caseState(fixture.caseId)).outstanding, 1400000);

    // 3. The rest, fully, with Razorpay's answer and its webhook lost: the call gives up (503)
    // and the poll repeats the create under the same X-Refund-Idempotency key, which Razorpay
    // answers with the refund it made. The desk asking again with its Idempotency-Key gets that
    // refund (200); asking with a new key finds nothing left to refund.
    const rest = crypto.randomUUID();
    await control(sandbox, "razorpay", {
      failNext: { code: "lost_answer", path: `/v1/payments/${paid.payment.id}/refund` },
    });
    await control(sandbox, "razorpay/webhooks", { drop: true });
    try {
      await expectProblem(await refund({ reason: "the rest, please" }, rest), 503);
      const [creating] = await adminSql()`
        select status, razorpay_refund_id from public.refunds
         where payment_id = ${payment.id} order by created_at desc limit 1`;
      assert.deepEqual({ ...creating }, { status: "creating", razorpay_refund_id: null });
      const stats = await poll();
      assert.ok(stats.done >= 1, JSON.stringify(stats));
      const again = await expectJson(await refund({ reason: "the rest, please" }, rest), 200);
      assert.equal(again.amount, 600000);
      assert.equal(again.status, "processed");
      const other = await expectProblem(await refund({ reason: "the rest, please" }), 409);
      assert.equal(other.code, "PY012");
    } finally {
      await control(sandbox, "razorpay/webhooks", { drop: false });
    }
    const rows = await adminSql()`
      select id, status, amount::int, idempotency_key from public.refunds
       where payment_id = ${payment.id} order by created_at`;
    assert.deepEqual(rows.map((r) => [r.status, r.amount]), [
      ["failed", 300000],
      ["processed", 400000],
      ["processed", 600000],
    ]);
    const key = rows[2].idempotency_key as string;
    const made = await inspect<{ subject: string; ourId?: string }[]>(
      sandbox,
      `razorpay/requests?ourId=${key}`,
    );
    assert.equal(made.length, 1, "Razorpay made one refund for the lost answer's key");
    const atRazorpay = await razorpay().fetchPayment(paid.payment.id);
    assert.equal(atRazorpay.amount_refunded, 1000000, "Razorpay refunded exactly the payment");
    assert.equal(await refunded(payment.id), 1000000);
    assert.deepEqual(await installments(fixture.caseId), [
      { n: 1, status: "pending", paid: 0 },
      { n: 2, status: "pending", paid: 0 },
    ]);
    assert.deepEqual(await caseState(fixture.caseId), {
      stage: "new",
      outstanding: 2000000,
      credited: 1,
      // The credit, the failed refund's reversal and its give-back, the two refunds' reversals.
      allocations: 5,
    });

    // The history shows all of it.
    const history = await expectJson(
      await api(`/cases/${fixture.caseId}/payment-history`, { token: await tokenFor(agent) }),
      200,
    );
    assert.equal(history.outstanding, 2000000);
    assert.deepEqual(
      history.refunds.map((r: RefundAnswer) => [r.status, r.amount]).sort(),
      [["failed", 300000], ["processed", 400000], ["processed", 600000]],
    );
    assert.equal(history.payments[0].amount_refunded, 1000000);
  },
);

dbTest(
  "reconciliation: five refund calls at once for the whole payment: one refund, the others refused",
  async () => {
    const fixture = await caseOwing([700000, 700000]);
    const [first] = await adminSql()`
      select id from public.outstanding_amounts where case_id = ${fixture.caseId}
       order by installment_number limit 1`;
    const order = await openOrder(fixture.caseId, { installment_ids: [first.id] });
    const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
    await sandbox.callbacksSettled();
    const [payment] = await adminSql()`
      select id from public.payments where razorpay_payment_id = ${paid.payment.id}`;
    const adminToken = await tokenFor(admin);
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const response = await api(`/payments/${payment.id}/refund`, {
          token: adminToken,
          method: "POST",
          headers: { "idempotency-key": crypto.randomUUID() },
          body: { reason: "double click" },
        });
        return { status: response.status, body: await response.json() };
      }),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409], JSON.stringify(answers));
    assert.ok(answers.filter((a) => a.status === 409).every((a) => a.body.code === "PY012"));
    await sandbox.callbacksSettled();
    const atRazorpay = await razorpay().fetchPayment(paid.payment.id);
    assert.equal(atRazorpay.amount_refunded, 700000, "refunded once");
    const [rows] = await adminSql()`
      select count(*)::int as n, sum(amount)::int as total from public.refunds
       where payment_id = ${payment.id}`;
    assert.deepEqual({ ...rows }, { n: 1, total: 700000 });
    assert.deepEqual(await installments(fixture.caseId), [
      { n: 1, status: "pending", paid: 0 },
      { n: 2, status: "pending", paid: 0 },
    ]);
  },
);

/** A refund's status and amount. */
async function refundRow(id: string) {
  const [row] = await adminSql()`select status, amount::int from public.refunds where id = ${id}`;
  return { ...row };
}

/** What the payment has had refunded (processed), in paise. */
async function refunded(paymentId: string): Promise<number> {
  const [row] = await adminSql()`
    select amount_refunded::int as n from public.payments where id = ${paymentId}`;
  return row.n;
}

dbTest("reconciliation: close the harness", async () => {
  await harness.close();
  Deno.env.delete("PROVIDER_TIMEOUT_MS");
});
