// Razorpay's webhooks end to end (issue 8, "Must show"): the sandbox's events, or the same bytes
// signed and posted by the test, through the functions gateway into /webhooks/razorpay and the
// real database. A secret rotation (the previous secret still accepted), forged / missing / stale
// signatures refused with nothing written, one event delivered 1,000 times at once applied once,
// an event older than the replay window kept for review, and payments that must not be credited
// (after their order expired, or for a case already settled) flagged for a refund with a message.
import assert from "node:assert/strict";
import { razorpayHmac } from "../../sandbox/razorpay_webhooks.ts";
import {
  adminSql,
  api,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";
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
  pool,
  postWebhook,
  stageChanges,
  startPayments,
} from "./_payments.ts";

const harness = await startPayments();
const { sandbox, webhookUrl } = harness;
// A rotation in progress: the functions hold a new current secret and the sandbox's first one as
// the previous; the sandbox still signs with its first one until the rotation test rotates it.
// Set before the first request, when the functions read their configuration.
const previousSecret = sandbox.credentials.razorpayWebhookSecret;
const currentSecret = "py360-test-rotated-razorpay-webhook-secret";
Deno.env.set("RAZORPAY_WEBHOOK_SECRET", currentSecret);
Deno.env.set("RAZORPAY_WEBHOOK_SECRET_PREVIOUS", previousSecret);

interface Paid {
  payment: { id: string; amount: number; order_id: string };
  checkout: { razorpay_payment_id: string; razorpay_order_id: string; razorpay_signature: string };
}

/** A case owing `amount`, its order, and a captured payment whose webhooks were not delivered. */
async function paidQuietly(amount = 1500000) {
  const fixture = await caseOwing([amount]);
  const order = await openOrder(fixture.caseId);
  await control(sandbox, "razorpay/webhooks", { drop: true });
  let paid: Paid;
  try {
    paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
  } finally {
    await control(sandbox, "razorpay/webhooks", { drop: false });
  }
  const events = await madeEvents(sandbox, paid.payment.id);
  const captured = events.find((e) => e.event === "payment.captured");
  assert.ok(captured, "the sandbox made payment.captured");
  return { ...fixture, order, paid, events, captured };
}

/** What a refused delivery must leave untouched: the events, the payment, the case. */
async function written(eventId: string, paymentId: string, caseId: string) {
  const [row] = await adminSql()`
    select (select count(*)::int from public.payment_events where event_id = ${eventId}) as events,
           (select count(*)::int from public.payments where razorpay_payment_id = ${paymentId})
             as payments`;
  return {
    events: row.events as number,
    payments: row.payments as number,
    state: await caseState(caseId),
    case: await snapshot("renewal_cases", caseId),
  };
}

dbTest(
  "razorpay webhooks: during a rotation an event signed with the previous secret is applied, a new one with the current",
  async () => {
    // Made (and signed) before the rotation, delivered after it, as Razorpay's retries are.
    const before = await caseOwing([1500000]);
    const beforeOrder = await openOrder(before.caseId);
    await control(sandbox, "razorpay/webhooks", { delayMs: 300 });
    let paidBefore: Paid;
    try {
      paidBefore = await control<Paid>(sandbox, "razorpay/pay", { orderId: beforeOrder.order_id });
      const rotated = await control<{ secret: string; secretVersion: number }>(
        sandbox,
        "razorpay/webhook-secret",
        { secret: currentSecret },
      );
      assert.equal(rotated.secretVersion, 2);
    } finally {
      await control(sandbox, "razorpay/webhooks", { delayMs: null });
    }
    await sandbox.callbacksSettled();
    const oldEvents = await madeEvents(sandbox, paidBefore.payment.id);
    assert.ok(oldEvents.length >= 2, "authorized, captured and order.paid were made");
    assert.ok(oldEvents.every((e) => e.secretVersion === 1), "all signed with the old secret");
    const deliveries = await inspect<{ eventId: string; status: number }[]>(
      sandbox,
      `razorpay/deliveries?eventId=${oldEvents[0].id}`,
    );
    assert.deepEqual(deliveries.map((d) => d.status), [200], "accepted at the first attempt");
    const signed = await adminSql()`
      select distinct signed_with from public.payment_events
       where event_id = any(${oldEvents.map((e) => e.id)}::text[])`;
    assert.deepEqual(signed.map((r) => r.signed_with), ["previous"]);
    assert.deepEqual(await caseState(before.caseId), {
      stage: "renewed",
      outstanding: 0,
      credited: 1,
      allocations: 1,
    });

    // After the rotation the sandbox signs with the new secret: the current one.
    const after = await caseOwing([1500000]);
    const afterOrder = await openOrder(after.caseId);
    const paidAfter = await control<Paid>(sandbox, "razorpay/pay", {
      orderId: afterOrder.order_id,
    });
    await sandbox.callbacksSettled();
    const newEvents = await madeEvents(sandbox, paidAfter.payment.id);
    assert.ok(newEvents.every((e) => e.secretVersion === 2));
    const current = await adminSql()`
      select distinct signed_with from public.payment_events
       where event_id = any(${newEvents.map((e) => e.id)}::text[])`;
    assert.deepEqual(current.map((r) => r.signed_with), ["current"]);
    assert.equal((await caseState(after.caseId)).stage, "renewed");
  },
);

dbTest(
  "razorpay webhooks: forged, missing, stale or altered signatures are refused with 401 and nothing written",
  async () => {
    const { caseId, paid, captured } = await paidQuietly();
    const before = await written(captured.id, paid.payment.id, caseId);
    assert.equal(before.events, 0);
    assert.equal(before.payments, 0);
    const stale = "py360-test-a-secret-retired-long-ago";
    const altered = captured.body.replace(
      `"amount":${paid.payment.amount}`,
      `"amount":${paid.payment.amount + 100}`,
    );
    assert.notEqual(altered, captured.body, "the test altered the amount");
    const attempts: Array<[string, Response]> = [
      [
        "missing",
        await postWebhook(webhookUrl, captured.body, { eventId: captured.id, signature: null }),
      ],
      [
        "empty",
        await postWebhook(webhookUrl, captured.body, { eventId: captured.id, signature: "" }),
      ],
      [
        "forged",
        await postWebhook(webhookUrl, captured.body, {
          eventId: captured.id,
          signature: "0f".repeat(32),
        }),
      ],
      [
        "stale",
        await postWebhook(webhookUrl, captured.body, { eventId: captured.id, secret: stale }),
      ],
      [
        "key secret instead of webhook secret",
        await postWebhook(webhookUrl, captured.body, {
          eventId: captured.id,
          secret: sandbox.credentials.razorpayKeySecret,
        }),
      ],
      [
        "altered body, original signature",
        await postWebhook(webhookUrl, altered, {
          eventId: captured.id,
          signature: razorpayHmac(currentSecret, captured.body),
        }),
      ],
      [
        "truncated",
        await postWebhook(webhookUrl, captured.body, {
          eventId: captured.id,
          signature: razorpayHmac(currentSecret, captured.body).slice(0, 63),
        }),
      ],
    ];
    for (const [what, response] of attempts) {
      const problem = await expectProblem(response, 401).catch((error) => {
        throw new Error(`${what}: ${error.message}`);
      });
      assert.equal(problem.status, 401, what);
    }
    assert.deepEqual(await written(captured.id, paid.payment.id, caseId), before);

    // The same bytes correctly signed are applied: the refusals were about the signature alone.
    const accepted = await expectJson(
      await postWebhook(webhookUrl, captured.body, { eventId: captured.id, secret: currentSecret }),
      200,
    );
    assert.equal(accepted.outcome, "applied");
    assert.equal((await caseState(caseId)).credited, 1);
  },
);

dbTest(
  "razorpay webhooks: one signed payment.captured delivered 1,000 times at once is applied once",
  async () => {
    const { caseId, paid, captured } = await paidQuietly();
    const payId = paid.payment.id;
    const started = performance.now();
    const answers = await pool(64, 1000, async () => {
      const response = await postWebhook(webhookUrl, captured.body, {
        eventId: captured.id,
        secret: currentSecret,
      });
      const body = await response.json();
      return { status: response.status, outcome: body.outcome as string };
    });
    const ms = Math.round(performance.now() - started);
    console.log(`1,000 deliveries of one event in ${ms} ms`);
    assert.equal(answers.length, 1000);
    const statuses = new Set(answers.map((a) => a.status));
    assert.deepEqual([...statuses], [200], "every delivery answered 200");
    const outcomes: Record<string, number> = {};
    for (const { outcome } of answers) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    assert.deepEqual(outcomes, { applied: 1, duplicate: 999 });

    const [row] = await adminSql()`
      select (select count(*)::int from public.payments where razorpay_payment_id = ${payId})
               as payments,
             (select count(*)::int from public.payment_allocations a
                join public.payments p on p.id = a.payment_id
               where p.razorpay_payment_id = ${payId}) as allocations,
             (select count(*)::int from public.payment_events where event_id = ${captured.id})
               as events,
             (select sum(amount_paid)::int from public.outstanding_amounts where case_id = ${caseId})
               as paid`;
    assert.deepEqual({ ...row }, { payments: 1, allocations: 1, events: 1, paid: 1500000 });
    assert.equal(await paymentMessages(`receipt:${payId}`), 1, "one receipt");
    assert.deepEqual(await stageChanges(caseId), ["renewed"], "one stage change");
    assert.deepEqual(await caseState(caseId), {
      stage: "renewed",
      outstanding: 0,
      credited: 1,
      allocations: 1,
    });
  },
);

dbTest(
  "razorpay webhooks: an event older than the replay window with an unseen id is kept for review, not applied",
  async () => {
    const { caseId, paid, captured } = await paidQuietly();
    const before = await snapshot("renewal_cases", caseId);
    // The payment.captured Razorpay would have sent eight days ago, under an id never seen.
    const old = Math.floor(Date.now() / 1000) - 8 * 24 * 3600;
    const body = captured.body.replace(/"created_at":\d+\}$/, `"created_at":${old}}`);
    assert.notEqual(body, captured.body, "the envelope's created_at was moved");
    const eventId = `evt_Old${crypto.randomUUID().replaceAll("-", "").slice(0, 11)}`;
    const answer = await expectJson(
      await postWebhook(webhookUrl, body, { eventId, secret: currentSecret }),
      200,
    );
    assert.equal(answer.outcome, "kept_for_review");
    const [event] = await adminSql()`
      select status, event_type, processed_at, payload -> 'payload' -> 'payment' -> 'entity' ->> 'id'
               as payment
        from public.payment_events where event_id = ${eventId}`;
    assert.deepEqual({ ...event }, {
      status: "kept_for_review",
      event_type: "payment.captured",
      processed_at: null,
      payment: paid.payment.id,
    });
    const [payments] = await adminSql()`
      select count(*)::int as n from public.payments where razorpay_payment_id = ${paid.payment.id}`;
    assert.equal(payments.n, 0, "the payment is not recorded, let alone credited");
    assert.deepEqual(await snapshot("renewal_cases", caseId), before);
    assert.equal((await caseState(caseId)).outstanding, 1500000);
  },
);

dbTest(
  "razorpay webhooks: a payment authorised after its order expired is flagged for a refund, not credited",
  async () => {
    const { caseId, installmentId } = await caseOwing([1500000]);
    const order = await openOrder(caseId);
    await adminSql()`
      update public.payment_orders set expires_at = now() - interval '1 minute'
       where id = ${order.payment_order_id}`;
    const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
    await sandbox.callbacksSettled();
    const verified = await expectJson(
      await api(`/cases/${caseId}/payments/verify`, {
        token: await tokenFor(agent),
        method: "POST",
        body: paid.checkout,
      }),
      200,
    );
    assert.equal(verified.outcome, "flagged");
    assert.equal(verified.outstanding, 1500000);
    const [payment] = await adminSql()`
      select status, review_reason, credited_at from public.payments
       where razorpay_payment_id = ${paid.payment.id}`;
    assert.deepEqual({ ...payment }, {
      status: "captured",
      review_reason: "order_expired",
      credited_at: null,
    });
    assert.equal(await paymentMessages(`refund_due:${paid.payment.id}`), 1, "refund-due message");
    assert.equal(await paymentMessages(`receipt:${paid.payment.id}`), 0, "no receipt");
    const [installment] = await adminSql()`
      select status, amount_paid::int from public.outstanding_amounts where id = ${installmentId}`;
    assert.deepEqual({ ...installment }, { status: "pending", amount_paid: 0 });
    assert.deepEqual(await caseState(caseId), {
      stage: "new",
      outstanding: 1500000,
      credited: 0,
      allocations: 0,
    });
    assert.deepEqual(await stageChanges(caseId), []);
  },
);

dbTest(
  "razorpay webhooks: with a short RAZORPAY_ORDER_TTL an order expires, a new one is opened, and a payment on the old one is flagged",
  async () => {
    const { caseId } = await caseOwing([900000]);
    const sql = adminSql();
    const [setting] = await sql`
      select value from public.app_settings where key = 'RAZORPAY_ORDER_TTL'`;
    let stale: { order_id: string; payment_order_id: string };
    try {
      await sql`update public.app_settings set value = '"1 second"'
                 where key = 'RAZORPAY_ORDER_TTL'`;
      stale = await openOrder(caseId);
    } finally {
      await sql`update public.app_settings set value = ${sql.json(setting.value)}
                 where key = 'RAZORPAY_ORDER_TTL'`;
    }
    // Razorpay dates a payment in whole seconds: a full second past the order's time and more.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    // Past its time the order is not offered again: a new one is opened.
    const fresh = await openOrder(caseId);
    assert.notEqual(fresh.order_id, stale.order_id);
    // The customer pays the old one anyway (a Checkout left open): flagged, not credited.
    const late = await control<Paid>(sandbox, "razorpay/pay", { orderId: stale.order_id });
    await sandbox.callbacksSettled();
    const [payment] = await adminSql()`
      select review_reason, credited_at from public.payments
       where razorpay_payment_id = ${late.payment.id}`;
    assert.deepEqual({ ...payment }, { review_reason: "order_expired", credited_at: null });
    assert.equal(await paymentMessages(`refund_due:${late.payment.id}`), 1);
    assert.equal((await caseState(caseId)).outstanding, 900000);
    // The new order still takes the premium, once.
    const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: fresh.order_id });
    await sandbox.callbacksSettled();
    assert.equal(await paymentMessages(`receipt:${paid.payment.id}`), 1);
    assert.deepEqual(await caseState(caseId), {
      stage: "renewed",
      outstanding: 0,
      credited: 1,
      allocations: 1,
    });
  },
);

dbTest(
  "razorpay webhooks: a second payment for a settled case is flagged for a refund, never credited twice",
  async () => {
    const { caseId } = await caseOwing([1000000]);
    const token = await tokenFor(agent);
    // A link sent earlier, and an order the customer pays first: the case renews.
    const link = await expectJson(
      await api(`/cases/${caseId}/payment-links`, { token, method: "POST", body: {} }),
      201,
    );
    const order = await openOrder(caseId);
    const first = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
    await sandbox.callbacksSettled();
    assert.equal((await caseState(caseId)).stage, "renewed");
    // Then pays the link too.
    const second = await control<{ payment: { id: string } }>(sandbox, "razorpay/pay", {
      paymentLinkId: link.payment_link_id,
    });
    await sandbox.callbacksSettled();
    const rows = await adminSql()`
      select razorpay_payment_id as id, status, review_reason, credited_at is not null as credited
        from public.payments where case_id = ${caseId} order by created_at`;
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: first.payment.id, status: "captured", review_reason: null, credited: true },
      { id: second.payment.id, status: "captured", review_reason: "case_closed", credited: false },
    ]);
    assert.equal(await paymentMessages(`refund_due:${second.payment.id}`), 1);
    assert.equal(await paymentMessages(`receipt:${second.payment.id}`), 0);
    assert.equal(await paymentMessages(`receipt:${first.payment.id}`), 1);
    assert.deepEqual(await caseState(caseId), {
      stage: "renewed",
      outstanding: 0,
      credited: 1,
      allocations: 1,
    });
    assert.deepEqual(await stageChanges(caseId), ["renewed"]);

    // Flagged for a refund, it can be refunded in full on the closed case (none of it was
    // credited to an installment); the credited payment cannot.
    const [flagged] = await adminSql()`
      select id from public.payments where razorpay_payment_id = ${second.payment.id}`;
    const [credited] = await adminSql()`
      select id from public.payments where razorpay_payment_id = ${first.payment.id}`;
    const adminToken = await tokenFor(admin);
    const refund = await expectJson(
      await api(`/payments/${flagged.id}/refund`, {
        token: adminToken,
        method: "POST",
        headers: { "idempotency-key": crypto.randomUUID() },
        body: { reason: "paid twice" },
      }),
      201,
    );
    assert.equal(refund.amount, 1000000);
    const closed = await expectProblem(
      await api(`/payments/${credited.id}/refund`, {
        token: adminToken,
        method: "POST",
        headers: { "idempotency-key": crypto.randomUUID() },
        body: { reason: "paid twice" },
      }),
      409,
    );
    assert.equal(closed.code, "PY006");
    await sandbox.callbacksSettled();
    const [after] = await adminSql()`
      select r.status, p.amount_refunded::int from public.refunds r
        join public.payments p on p.id = r.payment_id where r.id = ${refund.id}`;
    assert.deepEqual({ ...after }, { status: "processed", amount_refunded: 1000000 });
    assert.deepEqual(await caseState(caseId), {
      stage: "renewed",
      outstanding: 0,
      credited: 1,
      allocations: 1,
    });
  },
);

dbTest("razorpay webhooks: close the harness", async () => {
  await harness.close();
});
