// The race that breaks real integrations (issue 8, "Must show"): for the same payment, Checkout's
// verification (POST .../payments/verify), Razorpay's payment.captured and order.paid webhooks
// (redelivered) and the reconciliation poll, all at once, 1,000 calls in all: exactly one credit
// and one renewal per payment, every queued reminder of the case cancelled within 5 s of it. And
// `renewed` refused while anything is outstanding, for every role and every path.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { reconcilePayments } from "../../functions/_shared/payments/reconcile.ts";
import { razorpay } from "../../functions/_shared/payments/razorpay_calls.ts";
import {
  adminSql,
  api,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";
import { actAs } from "./_concurrency.ts";
import {
  admin,
  agent,
  caseOwing,
  caseState,
  control,
  madeEvents,
  openOrder,
  paymentMessages,
  pool,
  postWebhook,
  queueReminders,
  reminderState,
  stageChanges,
  startPayments,
} from "./_payments.ts";

const harness = await startPayments();
const { sandbox, webhookUrl } = harness;
const secret = sandbox.credentials.razorpayWebhookSecret;

interface Paid {
  payment: { id: string; amount: number };
  checkout: { razorpay_payment_id: string; razorpay_order_id: string; razorpay_signature: string };
}

/** Payments raced at once, and calls of each of the four kinds per payment: 50 × 4 × 5 = 1,000. */
const payments = 50;
const callsPerKind = 5;
const kinds = ["verify", "payment.captured", "order.paid", "reconcile"] as const;
type Kind = typeof kinds[number];

/** One raced payment: its case, reminders, the Checkout answer and the signed events' bytes. */
interface Round {
  caseId: string;
  reminders: string[];
  paid: Paid;
  events: Record<"payment.captured" | "order.paid", { id: string; body: string }>;
}

async function prepare(): Promise<Round> {
  const fixture = await caseOwing([1500000]);
  const reminders = await queueReminders(fixture, 2);
  const order = await openOrder(fixture.caseId);
  const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
  const made = await madeEvents(sandbox, paid.payment.id);
  const find = (event: string) => {
    const found = made.find((e) => e.event === event);
    assert.ok(found, `the sandbox made ${event}`);
    return { id: found.id, body: found.body };
  };
  return {
    caseId: fixture.caseId,
    reminders,
    paid,
    events: { "payment.captured": find("payment.captured"), "order.paid": find("order.paid") },
  };
}

/** A seeded shuffle, so a failing order can be replayed from the seed in the output. */
function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

dbTest(
  "payment race: verify, payment.captured, order.paid and the poll for the same payment, 1,000 calls at once: one credit, one renewal, reminders cancelled",
  async () => {
    const token = await tokenFor(agent);
    // Razorpay's own deliveries are held back: the test delivers the same bytes in the race.
    await control(sandbox, "razorpay/webhooks", { drop: true });
    let rounds: Round[];
    try {
      rounds = await pool(8, payments, () => prepare());
    } finally {
      await control(sandbox, "razorpay/webhooks", { drop: false });
    }
    for (const round of rounds) {
      assert.deepEqual(await reminderState(round.reminders), {
        queued: 2,
        cancelled: 0,
        last_cancelled_at: null,
      });
    }
    const client = razorpay();
    // Past every order's reconcile_after: the polls find them all due.
    const asOf = new Date(Date.now() + 24 * 3600 * 1000);
    const seed = Math.floor(Math.random() * 2 ** 31);
    const calls = shuffle(
      rounds.flatMap((round) =>
        kinds.flatMap((kind) => Array.from({ length: callsPerKind }, () => ({ round, kind })))
      ),
      seed,
    );
    assert.equal(calls.length, 1000);
    const started = performance.now();
    const answers = await pool(64, calls.length, async (i) => {
      const { round, kind } = calls[i];
      return { round, kind, ...(await fire(round, kind, client, asOf, token)) };
    });
    const ms = Math.round(performance.now() - started);

    // Every call answered as it should.
    for (const answer of answers) {
      assert.equal(answer.ok, true, `${answer.kind} (seed ${seed}): ${answer.detail}`);
    }
    const won: Record<string, number> = {};
    for (const round of rounds) {
      const payId = round.paid.payment.id;
      const [payment] = await adminSql()`
        select p.credited_at, p.credited_via, p.status, p.review_reason,
               (select count(*)::int from public.payment_allocations a where a.payment_id = p.id)
                 as allocations,
               (select count(*)::int from public.payments q where q.case_id = p.case_id)
                 as payments,
               (select count(*)::int from public.payment_events e
                 where e.payload #>> '{payload,payment,entity,id}' = ${payId}
                   and e.note = 'credited') as webhook_credits
          from public.payments p where p.razorpay_payment_id = ${payId}`;
      const where = `case ${round.caseId} (seed ${seed})`;
      assert.ok(payment, `${where}: the payment is recorded`);
      assert.equal(payment.status, "captured", where);
      assert.equal(payment.review_reason, null, where);
      assert.equal(payment.payments, 1, `${where}: one payment row`);
      assert.equal(payment.allocations, 1, `${where}: one allocation`);
      // Exactly one path says it credited, and it is the one the row names.
      const verifyCredits = answers.filter((a) =>
        a.round === round && a.kind === "verify" && a.detail === "credited"
      ).length;
      const credits = verifyCredits + payment.webhook_credits +
        (payment.credited_via === "reconcile" ? 1 : 0);
      assert.equal(credits, 1, `${where}: credited once (${payment.credited_via})`);
      won[payment.credited_via] = (won[payment.credited_via] ?? 0) + 1;
      assert.deepEqual(await caseState(round.caseId), {
        stage: "renewed",
        outstanding: 0,
        credited: 1,
        allocations: 1,
      });
      assert.deepEqual(await stageChanges(round.caseId), ["renewed"], `${where}: one renewal`);
      assert.equal(await paymentMessages(`receipt:${payId}`), 1, `${where}: one receipt`);
      const [receipt] = await adminSql()`
        select status, purpose from public.messages where idempotency_key = ${`receipt:${payId}`}`;
      assert.equal(receipt.purpose, "transactional", where);
      assert.notEqual(receipt.status, "cancelled", `${where}: the receipt is not cancelled`);
      const reminders = await reminderState(round.reminders);
      assert.equal(reminders.queued, 0, `${where}: no reminder left queued`);
      assert.equal(reminders.cancelled, 2, `${where}: both reminders cancelled`);
      const creditedAt = (payment.credited_at as Date).getTime();
      const lag = reminders.last_cancelled_at!.getTime() - creditedAt;
      assert.ok(lag >= 0 && lag <= 5000, `${where}: cancelled ${lag} ms after the credit`);
    }
    console.log(
      `${calls.length} calls over ${payments} payments in ${ms} ms (seed ${seed}); credited by ${
        JSON.stringify(won)
      }`,
    );
  },
);

/** One call of the race; ok when it answered as that path should, detail what it said. */
async function fire(
  round: Round,
  kind: Kind,
  client: ReturnType<typeof razorpay>,
  asOf: Date,
  token: string,
): Promise<{ ok: boolean; detail: string }> {
  if (kind === "verify") {
    const response = await api(`/cases/${round.caseId}/payments/verify`, {
      token,
      method: "POST",
      body: round.paid.checkout,
    });
    const body = await response.json();
    const ok = response.status === 200 &&
      ["credited", "already_credited"].includes(body.outcome) && body.outstanding === 0 &&
      body.status === "captured";
    return { ok, detail: ok ? body.outcome : `${response.status} ${JSON.stringify(body)}` };
  }
  if (kind === "reconcile") {
    const stats = await reconcilePayments(client, { maxItems: 1, asOf });
    return { ok: stats.claimed <= 1, detail: JSON.stringify(stats) };
  }
  const event = round.events[kind];
  const response = await postWebhook(webhookUrl, event.body, { eventId: event.id, secret });
  const body = await response.json();
  const ok = response.status === 200 && ["applied", "duplicate"].includes(body.outcome);
  return { ok, detail: `${response.status} ${JSON.stringify(body)}` };
}

const personas = [
  { role: "agent", email: agent },
  { role: "manager", email: "cp.manager@py360.test" },
  { role: "admin", email: admin },
];

/** Tries `renewed` on the case every way a role can, and asserts each refused and nothing moved. */
async function renewedRefusedEverywhere(caseId: string, outstanding: number) {
  const before = await snapshot("renewal_cases", caseId);
  assert.notEqual(before.stage, "renewed");
  for (const { role, email } of personas) {
    const refused = await expectProblem(
      await api(`/cases/${caseId}`, {
        token: await tokenFor(email),
        method: "PATCH",
        body: { stage: "renewed" },
      }),
      409,
    );
    assert.equal(refused.code, "PY005", `${role} through the API`);
    const [{ id: userId }] =
      await adminSql()`select id from public.profiles where email = ${email}`;
    const code = await sqlError((tx) => actAs(tx, userId));
    assert.equal(code, "PY005", `${role} through SQL as authenticated`);
  }
  const service = await sqlError((tx) => tx`set local role service_role`);
  assert.equal(service, "PY005", "service_role through SQL");
  const owner = await sqlError(async () => {});
  assert.equal(owner, "PY005", "the superuser through SQL");
  assert.deepEqual(await snapshot("renewal_cases", caseId), before);
  assert.equal((await caseState(caseId)).outstanding, outstanding);

  async function sqlError(as: (tx: postgres.TransactionSql) => Promise<unknown>) {
    try {
      await adminSql().begin(async (tx) => {
        await as(tx);
        const rows = await tx`
          update public.renewal_cases set stage = 'renewed' where id = ${caseId} returning id`;
        throw new Error(`renewed was written (${rows.length} row)`);
      });
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
    return "committed";
  }
}

dbTest(
  "payment race: renewed is refused while anything is outstanding, for every role, after a partial credit by verify and by a webhook",
  async () => {
    // Nothing paid yet.
    const fresh = await caseOwing([1000000, 500000]);
    await renewedRefusedEverywhere(fresh.caseId, 1500000);

    // Verify of a payment for the first installment only (the webhooks held back: verify credits).
    const [first] = await adminSql()`
      select id from public.outstanding_amounts where case_id = ${fresh.caseId}
       order by installment_number limit 1`;
    const order = await openOrder(fresh.caseId, { installment_ids: [first.id] });
    assert.equal(order.amount, 1000000);
    await control(sandbox, "razorpay/webhooks", { drop: true });
    try {
      const paid = await control<Paid>(sandbox, "razorpay/pay", { orderId: order.order_id });
      const verified = await expectJson(
        await api(`/cases/${fresh.caseId}/payments/verify`, {
          token: await tokenFor(agent),
          method: "POST",
          body: paid.checkout,
        }),
        200,
      );
      assert.equal(verified.outcome, "credited");
      assert.equal(verified.outstanding, 500000);
    } finally {
      await control(sandbox, "razorpay/webhooks", { drop: false });
    }
    assert.deepEqual(await caseState(fresh.caseId), {
      stage: "new",
      outstanding: 500000,
      credited: 1,
      allocations: 1,
    });
    await renewedRefusedEverywhere(fresh.caseId, 500000);

    // A webhook for part of one installment (a life policy's payment link paid in part).
    const life = await caseOwing([1000000]);
    await adminSql()`update public.policies set product_line = 'life' where id = ${life.policyId}`;
    const link = await expectJson(
      await api(`/cases/${life.caseId}/payment-links`, {
        token: await tokenFor(agent),
        method: "POST",
        body: { accept_partial: true, first_min_partial_amount: 300000 },
      }),
      201,
    );
    const part = await control<{ events: { event: string }[] }>(sandbox, "razorpay/pay", {
      paymentLinkId: link.payment_link_id,
      amount: 300000,
    });
    assert.ok(part.events.some((e) => e.event === "payment_link.partially_paid"));
    await sandbox.callbacksSettled();
    assert.deepEqual(await caseState(life.caseId), {
      stage: "new",
      outstanding: 700000,
      credited: 1,
      allocations: 1,
    });
    const [installment] = await adminSql()`
      select status, amount_paid::int from public.outstanding_amounts where case_id = ${life.caseId}`;
    assert.deepEqual({ ...installment }, { status: "pending", amount_paid: 300000 });
    await renewedRefusedEverywhere(life.caseId, 700000);
    assert.deepEqual(await stageChanges(life.caseId), []);
    assert.deepEqual(await stageChanges(fresh.caseId), []);
  },
);

dbTest("payment race: close the harness", async () => {
  await harness.close();
});
