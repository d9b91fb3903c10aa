// Razorpay Subscriptions in the sandbox (sandbox/razorpay_subscriptions*.ts) driven through our
// fetch client (functions/_shared/razorpay/client.ts): plans and subscriptions created, fetched
// and refused like Razorpay (Basic auth, the validation envelope, "The id provided does not
// exist"); the customer authorising the mandate (the reversed Checkout signature); the schedule
// charging cycles (subscription.charged carrying the subscription and the captured payment with
// its order and invoice, amounts in paise), failing (pending, halted after N in a row), paused
// (nothing charged, nothing sent), resumed, cancelled now or at the cycle's end, completed. Each
// webhook is checked against our verifier and the webhook schema. Every cycle billed is an
// invoice, listed by subscription with the payment and order that paid it.
import assert from "node:assert/strict";
import {
  createRazorpayClient,
  type RazorpayClient,
  RazorpayError,
} from "../../functions/_shared/razorpay/client.ts";
import {
  type RazorpayInvoice,
  type RazorpayWebhook,
  RazorpayWebhookSchema,
} from "../../functions/_shared/razorpay/types.ts";
import {
  verifySubscriptionSignature,
  verifyWebhookSignature,
} from "../../functions/_shared/signatures/razorpay.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type Receiver, startReceiver } from "../../sandbox/receiver.ts";

interface World {
  sandbox: Sandbox;
  receiver: Receiver;
  rzp: RazorpayClient;
}

async function withSandbox(fn: (world: World) => Promise<void>) {
  const receiver = await startReceiver();
  const sandbox = await startSandbox({ webhooks: { razorpay: `${receiver.url}/razorpay` } });
  const rzp = createRazorpayClient({
    baseUrl: `${sandbox.url}/razorpay`,
    keyId: sandbox.credentials.razorpayKeyId,
    keySecret: sandbox.credentials.razorpayKeySecret,
    timeoutMs: 2000,
  });
  try {
    await fn({ sandbox, receiver, rzp });
  } finally {
    await sandbox.close();
    await receiver.close();
  }
}

async function control(sandbox: Sandbox, path: string, body: unknown, status = 200) {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, status, text);
  return JSON.parse(text);
}

async function failure(promise: Promise<unknown>): Promise<RazorpayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RazorpayError, String(error));
    return error;
  }
  assert.fail("the call succeeded");
}

type Made = Array<{ id: string; event: string }>;

/**
 * Waits for the events `made` (as a control call answered them) to arrive, checks each one's
 * signature with our verifier and its body with the webhook schema, and answers them parsed, in
 * the order they were made.
 */
async function delivered(world: World, made: Made): Promise<RazorpayWebhook[]> {
  const idOf = (r: { headers: Headers }) => r.headers.get("x-razorpay-event-id");
  await world.receiver.waitFor((received) =>
    made.every((m) => received.some((r) => idOf(r) === m.id))
  );
  const secret = world.sandbox.credentials.razorpayWebhookSecret;
  const bodies: RazorpayWebhook[] = [];
  for (const m of made) {
    const request = world.receiver.received.find((r) => idOf(r) === m.id)!;
    const signature = request.headers.get("x-razorpay-signature");
    assert.equal(
      await verifyWebhookSignature(request.body, signature, { current: secret }),
      "current",
    );
    const body = RazorpayWebhookSchema.parse(JSON.parse(request.body));
    assert.equal(body.event, m.event);
    bodies.push(body);
  }
  return bodies;
}

const names = (made: Made) => made.map((m) => m.event);
const ids = {
  plan: /^plan_[A-Za-z0-9]{14}$/,
  item: /^item_[A-Za-z0-9]{14}$/,
  sub: /^sub_[A-Za-z0-9]{14}$/,
  pay: /^pay_[A-Za-z0-9]{14}$/,
  order: /^order_[A-Za-z0-9]{14}$/,
  inv: /^inv_[A-Za-z0-9]{14}$/,
  cust: /^cust_[A-Za-z0-9]{14}$/,
};
const now = () => Math.floor(Date.now() / 1000);

/** `at` (unix seconds) plus `months` calendar months, the day clamped to the month's last. */
function addMonths(at: number, months: number): number {
  const date = new Date(at * 1000);
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + months);
  const last = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, last));
  return date.getTime() / 1000;
}

/** A monthly plan of ₹1,234.56 and a subscription on it (not authorised). */
async function monthly(rzp: RazorpayClient, totalCount = 6, startAt?: number) {
  const plan = await rzp.createPlan({
    period: "monthly",
    interval: 1,
    item: { name: "Health premium, monthly", amount: 123456 },
  });
  const subscription = await rzp.createSubscription({
    plan_id: plan.id,
    total_count: totalCount,
    customer_notify: 0,
    ...(startAt === undefined ? {} : { start_at: startAt }),
    notes: { case_id: "c-1", autopay_id: "ap-1" },
  });
  return { plan, subscription };
}

Deno.test("sandbox razorpay subscriptions: plans created with Razorpay's entity, fetched, refused like Razorpay", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const plan = await rzp.createPlan({
      period: "monthly",
      interval: 3,
      item: { name: "Motor premium, quarterly", amount: 250000, description: "Q" },
      notes: { product: "motor" },
    });
    assert.match(plan.id, ids.plan);
    assert.match(plan.item.id, ids.item);
    assert.deepEqual([plan.entity, plan.period, plan.interval], ["plan", "monthly", 3]);
    assert.deepEqual([plan.item.amount, plan.item.unit_amount, plan.item.currency], [
      250000,
      250000,
      "INR",
    ]);
    assert.equal(plan.item.description, "Q");
    assert.deepEqual(plan.notes, { product: "motor" });
    assert.deepEqual(await rzp.fetchPlan(plan.id), plan);

    const cases: Array<[Record<string, unknown>, string]> = [
      [{ interval: 1, item: { name: "x", amount: 10000 } }, "period"],
      [{ period: "hourly", interval: 1, item: { name: "x", amount: 10000 } }, "period"],
      [{ period: "monthly", interval: 0, item: { name: "x", amount: 10000 } }, "interval"],
      [{ period: "monthly", interval: 1.5, item: { name: "x", amount: 10000 } }, "interval"],
      // Razorpay docs create-plan: daily plans need an interval of at least 7.
      [{ period: "daily", interval: 3, item: { name: "x", amount: 10000 } }, "interval"],
      [{ period: "monthly", interval: 1, item: { name: "x", amount: 99 } }, "amount"],
      [{ period: "monthly", interval: 1, item: { name: "", amount: 10000 } }, "name"],
      [{
        period: "monthly",
        interval: 1,
        item: { name: "x", amount: 10000, currency: "USD" },
      }, "currency"],
      [{ period: "monthly", interval: 1, item: { name: "x", amount: 10000 }, tax: 1 }, "tax"],
    ];
    for (const [input, field] of cases) {
      const error = await failure(rzp.createPlan(input as never));
      assert.deepEqual(
        [error.status, error.code, error.field, error.retryable],
        [400, "BAD_REQUEST_ERROR", field, false],
        JSON.stringify(input),
      );
      assert.equal(error.reason, "input_validation_failed");
    }
    // Without an item at all (the client always sends one, so the raw call).
    const bare = await fetch(`${sandbox.url}/razorpay/v1/plans`, {
      method: "POST",
      headers: {
        authorization: "Basic " +
          btoa(`${sandbox.credentials.razorpayKeyId}:${sandbox.credentials.razorpayKeySecret}`),
        "content-type": "application/json",
      },
      body: JSON.stringify({ period: "monthly", interval: 1 }),
    });
    assert.equal(bare.status, 400);
    assert.deepEqual((await bare.json()).error.field, "item");
    const small = await failure(
      rzp.createPlan({ period: "weekly", interval: 1, item: { name: "x", amount: 99 } }),
    );
    assert.equal(small.description, "The amount must be at least INR 1.00");
    const unknown = await failure(rzp.fetchPlan("plan_00000000000000"));
    assert.deepEqual([unknown.status, unknown.code, unknown.description], [
      400,
      "BAD_REQUEST_ERROR",
      "The id provided does not exist",
    ]);
    // Only the one plan exists: every refusal created nothing.
    const listed = await (await fetch(`${sandbox.url}/_inspect/razorpay/requests`)).json();
    assert.deepEqual(listed.map((r: { subject: string }) => r.subject), ["plan.create"]);
  });
});

Deno.test("sandbox razorpay subscriptions: Basic auth on plans and subscriptions (401, the NA envelope)", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const { plan, subscription } = await monthly(rzp);
    const wrong = createRazorpayClient({
      baseUrl: `${sandbox.url}/razorpay`,
      keyId: sandbox.credentials.razorpayKeyId,
      keySecret: "not-the-secret",
    });
    for (
      const call of [
        wrong.createPlan({ period: "monthly", interval: 1, item: { name: "x", amount: 10000 } }),
        wrong.fetchPlan(plan.id),
        wrong.createSubscription({ plan_id: plan.id, total_count: 2 }),
        wrong.fetchSubscription(subscription.id),
        wrong.pauseSubscription(subscription.id),
        wrong.cancelSubscription(subscription.id, { cancel_at_cycle_end: 0 }),
      ]
    ) {
      const error = await failure(call);
      assert.deepEqual([error.status, error.description, error.source, error.retryable], [
        401,
        "The api key provided is invalid",
        "NA",
        false,
      ]);
    }
    assert.equal((await rzp.fetchSubscription(subscription.id)).status, "created");
  });
});

Deno.test("sandbox razorpay subscriptions: a subscription is created with its short_url, status created; bad input and unknown ids refused", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const startAt = now() + 86400;
    const { plan, subscription } = await monthly(rzp, 6, startAt);
    assert.match(subscription.id, ids.sub);
    assert.equal(subscription.status, "created");
    assert.equal(subscription.plan_id, plan.id);
    assert.match(subscription.short_url ?? "", /^https:\/\/rzp\.io\/i\/[A-Za-z0-9]+$/);
    assert.deepEqual(
      [subscription.total_count, subscription.paid_count, subscription.remaining_count],
      [6, 0, 6],
    );
    assert.deepEqual([subscription.start_at, subscription.charge_at], [startAt, startAt]);
    assert.deepEqual([subscription.current_start, subscription.current_end], [null, null]);
    assert.equal(subscription.customer_notify, false);
    assert.equal(subscription.quantity, 1);
    assert.equal(subscription.customer_id, null);
    assert.deepEqual(subscription.notes, { case_id: "c-1", autopay_id: "ap-1" });
    assert.deepEqual(await rzp.fetchSubscription(subscription.id), subscription);
    const listed = await (await fetch(`${sandbox.url}/_inspect/razorpay/requests?ourId=ap-1`))
      .json();
    assert.deepEqual(listed.map((r: { id: string; subject: string }) => [r.id, r.subject]), [
      [subscription.id, "subscription.create"],
    ]);

    const cases: Array<[Record<string, unknown>, string, string?]> = [
      [
        { plan_id: "plan_00000000000000", total_count: 2 },
        "plan_id",
        "The id provided does not exist",
      ],
      [{ total_count: 2 }, "plan_id"],
      [{ plan_id: plan.id }, "total_count"],
      [{ plan_id: plan.id, total_count: 0 }, "total_count"],
      // Razorpay supports subscriptions of at most 100 years.
      [{ plan_id: plan.id, total_count: 1201 }, "total_count"],
      [{ plan_id: plan.id, total_count: 2, quantity: 0 }, "quantity"],
      [{ plan_id: plan.id, total_count: 2, start_at: now() - 60 }, "start_at"],
      [{ plan_id: plan.id, total_count: 2, expire_by: now() - 60 }, "expire_by"],
      [{ plan_id: plan.id, total_count: 2, customer_notify: 2 }, "customer_notify"],
      [{ plan_id: plan.id, total_count: 2, addons: [] }, "addons"],
    ];
    for (const [input, field, description] of cases) {
      const error = await failure(rzp.createSubscription(input as never));
      assert.deepEqual([error.status, error.code, error.field], [400, "BAD_REQUEST_ERROR", field]);
      if (description) assert.equal(error.description, description);
    }
    const unknown = await failure(rzp.fetchSubscription("sub_00000000000000"));
    assert.deepEqual([unknown.status, unknown.code, unknown.description], [
      400,
      "BAD_REQUEST_ERROR",
      "The id provided does not exist",
    ]);
    for (
      const call of [
        rzp.pauseSubscription("sub_00000000000000"),
        rzp.resumeSubscription("sub_00000000000000"),
        rzp.cancelSubscription("sub_00000000000000", { cancel_at_cycle_end: 0 }),
      ]
    ) {
      assert.equal((await failure(call)).description, "The id provided does not exist");
    }
    // 100 years of monthly cycles is 1,200: accepted.
    const longest = await rzp.createSubscription({ plan_id: plan.id, total_count: 1200 });
    assert.equal(longest.status, "created");
  });
});

Deno.test("sandbox razorpay subscriptions: authorised with start_at ahead, then the schedule charges the first cycle (payload: subscription + payment, paise)", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp } = world;
    const startAt = now() + 3600;
    const { plan, subscription } = await monthly(rzp, 6, startAt);
    const authorized = await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: subscription.id,
      method: "emandate",
    });
    assert.deepEqual(names(authorized.events), ["subscription.authenticated"]);
    const { razorpay_payment_id, razorpay_subscription_id, razorpay_signature } =
      authorized.checkout;
    assert.equal(razorpay_subscription_id, subscription.id);
    const keySecret = sandbox.credentials.razorpayKeySecret;
    assert.equal(
      await verifySubscriptionSignature(
        keySecret,
        razorpay_payment_id,
        subscription.id,
        razorpay_signature,
      ),
      true,
    );
    // The order matters: payment_id|subscription_id, the reverse of orders.
    assert.equal(
      await verifySubscriptionSignature(
        keySecret,
        subscription.id,
        razorpay_payment_id,
        razorpay_signature,
      ),
      false,
    );
    const [authenticated] = await delivered(world, authorized.events);
    assert.deepEqual(authenticated.contains, ["subscription", "payment"]);
    assert.equal(authenticated.payload.subscription?.entity.status, "authenticated");
    // The mandate's authorisation payment is not a premium: no order, no invoice, refunded.
    const authPayment = authenticated.payload.payment?.entity;
    assert.equal(authPayment?.id, razorpay_payment_id);
    assert.deepEqual([authPayment?.order_id, authPayment?.invoice_id, authPayment?.status], [
      null,
      null,
      "refunded",
    ]);
    const waiting = await rzp.fetchSubscription(subscription.id);
    assert.equal(waiting.status, "authenticated");
    assert.equal(waiting.payment_method, "emandate");
    assert.match(waiting.customer_id ?? "", ids.cust);
    assert.equal(waiting.charge_at, startAt);

    const charged = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    });
    assert.equal(charged.outcome, "charged");
    assert.deepEqual(names(charged.events), [
      "subscription.activated",
      "payment.authorized",
      "payment.captured",
      "order.paid",
      "subscription.charged",
    ]);
    const bodies = await delivered(world, charged.events);
    const chargedEvent = bodies[4];
    assert.deepEqual(chargedEvent.contains, ["subscription", "payment"]);
    const sub = chargedEvent.payload.subscription!.entity;
    const payment = chargedEvent.payload.payment!.entity;
    assert.equal(sub.id, subscription.id);
    assert.deepEqual([sub.status, sub.paid_count, sub.remaining_count], ["active", 1, 5]);
    assert.equal(sub.current_start, startAt);
    assert.equal(sub.current_end, addMonths(startAt, 1));
    assert.equal(sub.charge_at, sub.current_end);
    assert.match(payment.id, ids.pay);
    assert.deepEqual([payment.amount, payment.currency, payment.status, payment.captured], [
      plan.item.amount,
      "INR",
      "captured",
      true,
    ]);
    assert.equal(payment.amount, 123456);
    assert.match(payment.invoice_id ?? "", ids.inv);
    assert.match(payment.order_id ?? "", ids.order);
    assert.equal(payment.order_id, charged.order.id);
    assert.equal(payment.invoice_id, charged.invoiceId);
    assert.equal(payment.method, "emandate");
    assert.equal(payment.customer_id, waiting.customer_id);
    assert.deepEqual(payment.notes, { case_id: "c-1", autopay_id: "ap-1" });
    // payment.captured and order.paid name the same payment and order.
    assert.equal(bodies[2].payload.payment?.entity.id, payment.id);
    assert.equal(bodies[3].payload.order?.entity.status, "paid");
    assert.equal(bodies[3].payload.order?.entity.amount_paid, 123456);
    assert.equal(bodies[0].payload.subscription?.entity.status, "active");
    const fetched = await rzp.fetchPayment(payment.id);
    assert.deepEqual([fetched.status, fetched.invoice_id], ["captured", payment.invoice_id]);
    assert.equal((await rzp.fetchOrder(payment.order_id!)).status, "paid");
  });
});

Deno.test("sandbox razorpay subscriptions: without start_at the authorisation starts it at once; quantity multiplies the charge", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp } = world;
    const plan = await rzp.createPlan({
      period: "yearly",
      interval: 1,
      item: { name: "Life premium, yearly", amount: 50000 },
    });
    const subscription = await rzp.createSubscription({
      plan_id: plan.id,
      total_count: 3,
      quantity: 2,
    });
    assert.deepEqual([subscription.start_at, subscription.charge_at], [null, null]);
    const before = now();
    const authorized = await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: subscription.id,
    });
    assert.deepEqual(names(authorized.events), [
      "subscription.authenticated",
      "subscription.activated",
    ]);
    const active = await rzp.fetchSubscription(subscription.id);
    assert.equal(active.status, "active");
    assert.ok(active.start_at! >= before && active.start_at! <= now());
    assert.equal(active.charge_at, active.start_at);
    const charged = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    });
    assert.equal(charged.payment.amount, 100000);
    const bodies = await delivered(world, charged.events);
    assert.equal(bodies.at(-1)!.payload.payment?.entity.amount, 100000);
    // The authorisation again is refused: it is already authorised.
    await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: subscription.id,
    }, 409);
  });
});

Deno.test("sandbox razorpay subscriptions: on Razorpay's clock, a start_at that comes makes it active (subscription.activated) and an expire_by that passes unauthorised expires it", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp, receiver } = world;
    const startAt = now() + 2; // 2: a second may tick before the create arrives
    const { plan, subscription } = await monthly(rzp, 2, startAt);
    const unauthorised = await rzp.createSubscription({
      plan_id: plan.id,
      total_count: 2,
      expire_by: startAt,
    });
    const authorized = await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: subscription.id,
    });
    assert.deepEqual(names(authorized.events), ["subscription.authenticated"]);
    while (now() <= startAt) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await rzp.fetchSubscription(subscription.id)).status, "active");
    // Not authorised by expire_by: expired, and the customer can no longer authorise it.
    const expired = await rzp.fetchSubscription(unauthorised.id);
    assert.deepEqual([expired.status, expired.charge_at], ["expired", null]);
    await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: unauthorised.id,
    }, 409);
    await receiver.waitFor((r) =>
      r.some((x) => JSON.parse(x.body).event === "subscription.activated")
    );
    await sandbox.callbacksSettled();
    const activated = receiver.received.filter((x) =>
      JSON.parse(x.body).event === "subscription.activated"
    );
    assert.equal(activated.length, 1);
    assert.equal(JSON.parse(activated[0].body).payload.subscription.entity.status, "active");
  });
});

Deno.test("sandbox razorpay subscriptions: failed charges — pending (same invoice retried), a success resets, halted at the 3rd in a row, then nothing charged", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp, receiver } = world;
    const { subscription } = await monthly(rzp, 6);
    await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: subscription.id,
      method: "upi",
    });
    const charge = (outcome: string, status = 200) =>
      control(sandbox, "razorpay/subscriptions/charge", {
        subscriptionId: subscription.id,
        outcome,
      }, status);

    const first = await charge("failed");
    assert.equal(first.outcome, "failed");
    assert.deepEqual(names(first.events), ["payment.failed", "subscription.pending"]);
    const [failedEvent, pendingEvent] = await delivered(world, first.events);
    assert.equal(failedEvent.payload.payment?.entity.status, "failed");
    assert.equal(failedEvent.payload.payment?.entity.error_reason, "insufficient_funds");
    assert.deepEqual(pendingEvent.contains, ["subscription", "payment"]);
    assert.equal(pendingEvent.payload.subscription?.entity.status, "pending");
    assert.equal(pendingEvent.payload.payment?.entity.id, first.payment.id);
    const pending = await rzp.fetchSubscription(subscription.id);
    assert.deepEqual([pending.status, pending.paid_count], ["pending", 0]);
    // Razorpay retries "on the following day".
    assert.ok(pending.charge_at! >= now() + 86400 - 5);

    const second = await charge("failed");
    assert.deepEqual(names(second.events), ["payment.failed", "subscription.pending"]);
    assert.equal(second.invoiceId, first.invoiceId);
    assert.equal(second.order.id, first.order.id);
    assert.notEqual(second.payment.id, first.payment.id);

    // The retry succeeds: the same invoice is paid; back to active.
    const retried = await charge("charged");
    assert.deepEqual(names(retried.events), [
      "payment.authorized",
      "payment.captured",
      "order.paid",
      "subscription.activated",
      "subscription.charged",
    ]);
    assert.equal(retried.invoiceId, first.invoiceId);
    assert.equal(retried.order.attempts, 3);
    assert.deepEqual([retried.subscription.status, retried.subscription.paid_count], [
      "active",
      1,
    ]);

    // Three failures in a row on the next cycle: pending, pending, halted.
    const a = await charge("failed");
    const b = await charge("failed");
    const c = await charge("failed");
    assert.notEqual(a.invoiceId, first.invoiceId);
    assert.deepEqual([names(a.events), names(b.events), names(c.events)], [
      ["payment.failed", "subscription.pending"],
      ["payment.failed", "subscription.pending"],
      ["payment.failed", "subscription.halted"],
    ]);
    const [, halted] = await delivered(world, c.events);
    assert.deepEqual(halted.contains, ["subscription", "payment"]);
    assert.equal(halted.payload.subscription?.entity.status, "halted");
    const stopped = await rzp.fetchSubscription(subscription.id);
    assert.deepEqual([stopped.status, stopped.charge_at, stopped.paid_count], ["halted", null, 1]);

    // Halted: the schedule charges nothing and sends nothing.
    await sandbox.callbacksSettled();
    const count = receiver.received.length;
    await charge("charged", 409);
    await sandbox.callbacksSettled();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(receiver.received.length, count);

    // The customer authorises again: active, the unpaid invoice is left (we collect it by
    // link), and the next cycle is the one charged.
    const back = await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: subscription.id,
      method: "card",
    });
    assert.deepEqual(names(back.events), ["subscription.activated"]);
    const next = await charge("charged");
    assert.notEqual(next.invoiceId, a.invoiceId);
    assert.equal(next.payment.method, "card");
    assert.deepEqual([next.subscription.paid_count, next.subscription.remaining_count], [2, 4]);
    assert.equal(next.subscription.current_start, addMonths(next.subscription.start_at, 2));
  });
});

Deno.test("sandbox razorpay subscriptions: the failures that halt are configurable (haltAfterFailures)", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    assert.deepEqual(await control(sandbox, "razorpay/subscriptions", {}), {
      haltAfterFailures: 3,
    });
    await control(sandbox, "razorpay/subscriptions", { haltAfterFailures: 1 });
    const { subscription } = await monthly(rzp, 2);
    await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId: subscription.id });
    const failed = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
      outcome: "failed",
      failure: "bank_declined",
    });
    assert.deepEqual(names(failed.events), ["payment.failed", "subscription.halted"]);
    assert.equal(failed.payment.error_reason, "payment_declined");
    await control(sandbox, "reset", {});
    assert.deepEqual(await control(sandbox, "razorpay/subscriptions", {}), {
      haltAfterFailures: 3,
    });
  });
});

Deno.test("sandbox razorpay subscriptions: paused — not charged (409) and nothing sent; resumed — charged again; pausing before start cancels", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp, receiver } = world;
    const { subscription } = await monthly(rzp, 6);
    await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId: subscription.id });
    await control(sandbox, "razorpay/subscriptions/charge", { subscriptionId: subscription.id });

    const paused = await rzp.pauseSubscription(subscription.id);
    assert.equal(paused.status, "paused");
    assert.ok(paused.paused_at! >= now() - 5);
    assert.equal(paused.pause_initiated_by, "self");
    await receiver.waitFor((r) =>
      r.some((x) => JSON.parse(x.body).event === "subscription.paused")
    );
    await sandbox.callbacksSettled();
    const count = receiver.received.length;
    const refused = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    }, 409);
    assert.match(refused.error, /paused/);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, count);
    assert.equal((await rzp.fetchSubscription(subscription.id)).paid_count, 1);
    // Paused again, or resumed while active: Razorpay's status error.
    const twice = await failure(rzp.pauseSubscription(subscription.id));
    assert.deepEqual([twice.status, twice.code, twice.field], [400, "BAD_REQUEST_ERROR", "status"]);

    const resumed = await rzp.resumeSubscription(subscription.id);
    assert.equal(resumed.status, "active");
    const charged = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    });
    assert.equal(charged.subscription.paid_count, 2);
    const resumeAgain = await failure(rzp.resumeSubscription(subscription.id));
    assert.deepEqual([resumeAgain.status, resumeAgain.field], [400, "status"]);
    await receiver.waitFor((r) =>
      r.some((x) => JSON.parse(x.body).event === "subscription.resumed")
    );
    await sandbox.callbacksSettled();
    const resumedEvent = receiver.received.map((x) => JSON.parse(x.body))
      .find((b) => b.event === "subscription.resumed");
    assert.deepEqual(resumedEvent.contains, ["subscription"]);
    assert.equal(resumedEvent.payload.subscription.entity.status, "active");

    // Razorpay docs pause-subscription: pausing an authenticated subscription cancels it.
    const later = await monthly(rzp, 6, now() + 86400);
    await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: later.subscription.id,
    });
    const cancelled = await rzp.pauseSubscription(later.subscription.id);
    assert.equal(cancelled.status, "cancelled");
    // A subscription not authorised cannot be paused at all.
    const fresh = await monthly(rzp, 6);
    const notActive = await failure(rzp.pauseSubscription(fresh.subscription.id));
    assert.equal(notActive.description, "Subscription is not pausable in created status.");
  });
});

Deno.test("sandbox razorpay subscriptions: cancelled now (subscription.cancelled, then refused) or at the cycle's end (the next run cancels instead of charging)", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp, receiver } = world;
    const { subscription } = await monthly(rzp, 6);
    await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId: subscription.id });
    const cancelled = await rzp.cancelSubscription(subscription.id, { cancel_at_cycle_end: 0 });
    assert.equal(cancelled.status, "cancelled");
    assert.ok(cancelled.ended_at! >= now() - 5);
    assert.equal(cancelled.charge_at, null);
    await receiver.waitFor((r) =>
      r.some((x) => JSON.parse(x.body).event === "subscription.cancelled")
    );
    // Razorpay docs cancel-subscription's error, exactly.
    const again = await failure(
      rzp.cancelSubscription(subscription.id, { cancel_at_cycle_end: 0 }),
    );
    assert.deepEqual([again.status, again.code, again.description, again.field], [
      400,
      "BAD_REQUEST_ERROR",
      "Subscription is not cancellable in cancelled status.",
      "status",
    ]);
    await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    }, 409);
    const resume = await failure(rzp.resumeSubscription(subscription.id));
    assert.equal(resume.field, "status");

    const second = await monthly(rzp, 6);
    await control(sandbox, "razorpay/subscriptions/authorize", {
      subscriptionId: second.subscription.id,
    });
    await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: second.subscription.id,
    });
    const scheduled = await rzp.cancelSubscription(second.subscription.id, {
      cancel_at_cycle_end: 1,
    });
    assert.equal(scheduled.status, "active");
    assert.equal(scheduled.has_scheduled_changes, true);
    assert.equal(scheduled.change_scheduled_at, scheduled.current_end);
    const run = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: second.subscription.id,
    });
    assert.equal(run.outcome, "cancelled");
    assert.equal(run.payment, null);
    assert.deepEqual(names(run.events), ["subscription.cancelled"]);
    const [event] = await delivered(world, run.events);
    assert.equal(event.payload.subscription?.entity.status, "cancelled");
    assert.equal(event.payload.subscription?.entity.paid_count, 1);
    assert.equal(event.payload.payment, undefined);
    const bad = await failure(
      rzp.cancelSubscription(second.subscription.id, { cancel_at_cycle_end: 3 as never }),
    );
    assert.equal(bad.status, 400);
  });
});

Deno.test("sandbox razorpay subscriptions: the last cycle completes it (subscription.charged, then subscription.completed)", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp } = world;
    const { subscription } = await monthly(rzp, 2);
    await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId: subscription.id });
    const first = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    });
    assert.equal(names(first.events).includes("subscription.completed"), false);
    const last = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    });
    assert.deepEqual(names(last.events).slice(-2), [
      "subscription.charged",
      "subscription.completed",
    ]);
    const bodies = await delivered(world, last.events);
    const charged = bodies.at(-2)!.payload.subscription!.entity;
    const completed = bodies.at(-1)!.payload.subscription!.entity;
    // Each event is a snapshot of its moment.
    assert.deepEqual([charged.status, charged.paid_count, charged.remaining_count], [
      "active",
      2,
      0,
    ]);
    assert.deepEqual([completed.status, completed.charge_at], ["completed", null]);
    assert.ok(completed.ended_at! >= now() - 5);
    await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    }, 409);
    const done = await rzp.fetchSubscription(subscription.id);
    assert.deepEqual([done.status, done.paid_count, done.remaining_count], ["completed", 2, 0]);
    const cancel = await failure(
      rzp.cancelSubscription(subscription.id, { cancel_at_cycle_end: 0 }),
    );
    assert.equal(cancel.description, "Subscription is not cancellable in completed status.");
  });
});

Deno.test("sandbox razorpay subscriptions: webhooks through the engine — duplicated with the same id and signature; faults per path; a lost create found by plan and notes", async () => {
  await withSandbox(async (world) => {
    const { sandbox, rzp, receiver } = world;
    const { subscription } = await monthly(rzp, 3);
    await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId: subscription.id });
    await sandbox.callbacksSettled();
    receiver.received.length = 0;
    await control(sandbox, "razorpay/webhooks", { duplicates: 2 });
    const charged = await control(sandbox, "razorpay/subscriptions/charge", {
      subscriptionId: subscription.id,
    });
    const chargedId = charged.events.find((e: { event: string }) =>
      e.event === "subscription.charged"
    ).id;
    await receiver.waitFor((r) =>
      r.filter((x) => x.headers.get("x-razorpay-event-id") === chargedId).length >= 3
    );
    await sandbox.callbacksSettled();
    const copies = receiver.received.filter((x) =>
      x.headers.get("x-razorpay-event-id") === chargedId
    );
    assert.equal(copies.length, 3);
    assert.equal(
      new Set(copies.map((c) => c.body + c.headers.get("x-razorpay-signature"))).size,
      1,
    );

    await control(sandbox, "razorpay", {
      failNext: { code: "SERVICE_UNAVAILABLE", path: "/v1/subscriptions" },
    });
    // Another path is untouched.
    assert.equal((await rzp.fetchPlan(subscription.plan_id)).id, subscription.plan_id);
    const unavailable = await failure(rzp.pauseSubscription(subscription.id));
    assert.deepEqual([unavailable.status, unavailable.retryable], [503, true]);
    assert.equal((await rzp.fetchSubscription(subscription.id)).status, "active");

    // A create whose answer is lost took effect: found again by its plan and notes.
    const quick = createRazorpayClient({
      baseUrl: `${sandbox.url}/razorpay`,
      keyId: sandbox.credentials.razorpayKeyId,
      keySecret: sandbox.credentials.razorpayKeySecret,
      timeoutMs: 150,
    });
    await control(sandbox, "razorpay", {
      failNext: { code: "lost_answer", path: "/v1/subscriptions" },
    });
    const lost = await failure(quick.createSubscription({
      plan_id: subscription.plan_id,
      total_count: 2,
      notes: { autopay_id: "ap-lost" },
    }));
    assert.deepEqual([lost.code, lost.retryable], ["TIMEOUT", true]);
    const onPlan = await rzp.findSubscriptionsByPlan(subscription.plan_id);
    assert.equal(onPlan.length, 2);
    const found = onPlan.filter((s) => s.notes?.autopay_id === "ap-lost");
    assert.equal(found.length, 1);
    assert.equal(found[0].status, "created");
    assert.deepEqual(await rzp.findSubscriptionsByPlan("plan_00000000000000"), []);
  });
});

Deno.test("sandbox razorpay subscriptions: every cycle billed is an invoice (GET /v1/invoices?subscription_id) — issued while its charges fail, then paid with the payment and order that paid it; newest first, paged; Basic auth and the envelope", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const { subscription } = await monthly(rzp, 6);
    const other = (await monthly(rzp, 2)).subscription;
    assert.deepEqual(await rzp.fetchSubscriptionInvoices(subscription.id), []);
    for (const id of [subscription.id, other.id]) {
      await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId: id });
    }
    const charge = (subscriptionId: string, outcome: string) =>
      control(sandbox, "razorpay/subscriptions/charge", { subscriptionId, outcome });
    const first = await charge(subscription.id, "charged");
    const failed = await charge(subscription.id, "failed");
    await charge(other.id, "charged");

    const shape = (i: RazorpayInvoice) => [
      i.id,
      i.status,
      i.payment_id,
      i.order_id,
      i.subscription_id,
      i.amount,
      i.amount_paid,
      i.amount_due,
    ];
    let invoices = await rzp.fetchSubscriptionInvoices(subscription.id);
    assert.deepEqual(invoices.map(shape), [
      [failed.invoiceId, "issued", null, failed.order.id, subscription.id, 123456, 0, 123456],
      [
        first.invoiceId,
        "paid",
        first.payment.id,
        first.order.id,
        subscription.id,
        123456,
        123456,
        0,
      ],
    ]);
    assert.match(first.invoiceId, ids.inv);
    // The paid one names the captured charge of that invoice, and the cycle it billed.
    const paid = await rzp.fetchPayment(invoices[1].payment_id!);
    assert.deepEqual([paid.status, paid.invoice_id, paid.order_id, paid.amount], [
      "captured",
      first.invoiceId,
      first.order.id,
      123456,
    ]);
    assert.deepEqual([invoices[1].billing_start, invoices[1].billing_end], [
      first.subscription.current_start,
      first.subscription.current_end,
    ]);
    assert.ok(invoices[1].paid_at! >= invoices[1].issued_at!);

    // Razorpay's retry pays the same invoice, with the retry's payment.
    const retried = await charge(subscription.id, "charged");
    invoices = await rzp.fetchSubscriptionInvoices(subscription.id);
    assert.deepEqual(invoices.map((i) => [i.id, i.status, i.payment_id, i.amount_due]), [
      [failed.invoiceId, "paid", retried.payment.id, 0],
      [first.invoiceId, "paid", first.payment.id, 0],
    ]);
    assert.equal((await rzp.fetchSubscriptionInvoices(other.id)).length, 1);

    // The REST answers themselves: paging, one invoice, an unknown id, Basic auth.
    const { razorpayKeyId, razorpayKeySecret } = sandbox.credentials;
    const get = async (path: string, auth = true) => {
      const response = await fetch(`${sandbox.url}/razorpay/v1/${path}`, {
        headers: auth
          ? { authorization: "Basic " + btoa(`${razorpayKeyId}:${razorpayKeySecret}`) }
          : {},
      });
      return { status: response.status, body: await response.json() };
    };
    const second = await get(`invoices?subscription_id=${subscription.id}&count=1&skip=1`);
    assert.deepEqual([second.status, second.body.entity, second.body.count], [
      200,
      "collection",
      1,
    ]);
    assert.equal(second.body.items[0].id, first.invoiceId);
    const one = await get(`invoices/${first.invoiceId}`);
    assert.deepEqual([one.status, one.body.entity, one.body.payment_id], [
      200,
      "invoice",
      first.payment.id,
    ]);
    const unknown = await get("invoices/inv_00000000000000");
    assert.deepEqual([unknown.status, unknown.body.error.description], [
      400,
      "The id provided does not exist",
    ]);
    assert.deepEqual((await get("invoices?subscription_id=sub_00000000000000")).body.items, []);
    const anonymous = await get(`invoices?subscription_id=${subscription.id}`, false);
    assert.equal(anonymous.status, 401);
    assert.deepEqual(
      [anonymous.body.error.code, anonymous.body.error.source, anonymous.body.error.step],
      ["BAD_REQUEST_ERROR", "NA", "NA"],
    );
    const wrong = createRazorpayClient({
      baseUrl: `${sandbox.url}/razorpay`,
      keyId: razorpayKeyId,
      keySecret: "not-the-secret",
    });
    assert.equal((await failure(wrong.fetchSubscriptionInvoices(subscription.id))).status, 401);
  });
});

Deno.test("sandbox razorpay subscriptions: Razorpay's clock reaching expire_by (control subscriptions/expire) expires a created subscription, no webhook; cancelling it is then refused", async () => {
  await withSandbox(async ({ sandbox, rzp, receiver }) => {
    const { subscription } = await monthly(rzp, 2);
    const done = await control(sandbox, "razorpay/subscriptions/expire", {
      subscriptionId: subscription.id,
    });
    assert.equal(done.subscription.status, "expired");
    assert.equal((await rzp.fetchSubscription(subscription.id)).status, "expired");
    const refused = await failure(
      rzp.cancelSubscription(subscription.id, { cancel_at_cycle_end: 0 }),
    );
    assert.deepEqual([refused.status, refused.code, refused.field, refused.description], [
      400,
      "BAD_REQUEST_ERROR",
      "status",
      "Subscription is not cancellable in expired status.",
    ]);
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 0, "no webhook for an expiry");
    // Only a created one expires.
    await control(
      sandbox,
      "razorpay/subscriptions/expire",
      { subscriptionId: subscription.id },
      409,
    );
    await control(sandbox, "razorpay/subscriptions/expire", {
      subscriptionId: "sub_00000000000000",
    }, 404);
  });
});

Deno.test("sandbox razorpay subscriptions: control requests checked; reset forgets plans and subscriptions", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const { plan, subscription } = await monthly(rzp, 2);
    const bad: Array<[string, unknown, number]> = [
      ["razorpay/subscriptions/authorize", {}, 404],
      ["razorpay/subscriptions/authorize", { subscriptionId: "sub_00000000000000" }, 404],
      [
        "razorpay/subscriptions/authorize",
        { subscriptionId: subscription.id, method: "cash" },
        400,
      ],
      ["razorpay/subscriptions/charge", { subscriptionId: subscription.id }, 409],
      ["razorpay/subscriptions/charge", { subscriptionId: subscription.id, outcome: "maybe" }, 400],
      [
        "razorpay/subscriptions/charge",
        { subscriptionId: subscription.id, outcome: "failed", failure: "x" },
        400,
      ],
      ["razorpay/subscriptions", { haltAfterFailures: 0 }, 400],
    ];
    for (const [path, body, status] of bad) await control(sandbox, path, body, status);
    // The refusals changed nothing.
    assert.equal((await rzp.fetchSubscription(subscription.id)).status, "created");
    await control(sandbox, "reset", {});
    assert.equal(
      (await failure(rzp.fetchPlan(plan.id))).description,
      "The id provided does not exist",
    );
    assert.equal(
      (await failure(rzp.fetchSubscription(subscription.id))).description,
      "The id provided does not exist",
    );
  });
});
