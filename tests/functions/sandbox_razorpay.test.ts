// The sandbox's Razorpay (VENDORS.md §4) driven through our fetch client
// (functions/_shared/razorpay/client.ts): every client method, the error envelope, Basic auth,
// idempotent refunds, partial link payments, the customer player, and the webhooks — signed
// like Razorpay (checked with our verifier), retried on 500, duplicated, reordered, dropped, and
// across a secret rotation. The sandbox signs with node:crypto, the verifier uses WebCrypto.
import assert from "node:assert/strict";
import {
  createRazorpayClient,
  type RazorpayClient,
  RazorpayError,
} from "../../functions/_shared/razorpay/client.ts";
import { RazorpayWebhookSchema } from "../../functions/_shared/razorpay/types.ts";
import {
  verifyCheckoutSignature,
  verifyPaymentLinkSignature,
  verifyWebhookSignature,
} from "../../functions/_shared/signatures/razorpay.ts";
import { defaultSandboxCredentials, type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type ReceivedRequest, type Receiver, startReceiver } from "../../sandbox/receiver.ts";
import { sandboxEnv, sandboxWebhooks } from "../../scripts/lib/sandbox_env.ts";

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

async function inspect(sandbox: Sandbox, path: string) {
  return await (await fetch(`${sandbox.url}/_inspect/razorpay/${path}`)).json();
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

/** The webhook posts received, parsed, with their headers. */
function webhooks(receiver: Receiver) {
  return receiver.received.map((r) => ({
    id: r.headers.get("x-razorpay-event-id")!,
    signature: r.headers.get("x-razorpay-signature"),
    event: JSON.parse(r.body).event as string,
    raw: r.body,
  }));
}

const events = (received: ReceivedRequest[]) => received.map((r) => JSON.parse(r.body).event);

const ids = {
  order: /^order_[A-Za-z0-9]{14}$/,
  pay: /^pay_[A-Za-z0-9]{14}$/,
  plink: /^plink_[A-Za-z0-9]{14}$/,
  rfnd: /^rfnd_[A-Za-z0-9]{14}$/,
  evt: /^evt_[A-Za-z0-9]{14}$/,
};

Deno.test("sandbox razorpay: credentials shaped like Razorpay's, and the local stack's variables", async () => {
  assert.match(defaultSandboxCredentials.razorpayKeyId, /^rzp_test_[A-Za-z0-9]{14}$/);
  assert.ok(defaultSandboxCredentials.razorpayKeySecret.length >= 20);
  await withSandbox(({ sandbox }) => {
    const env = sandboxEnv(sandbox, "http://127.0.0.1:54321/functions/v1");
    assert.equal(env.RAZORPAY_BASE_URL, `${sandbox.url}/razorpay`);
    assert.equal(env.RAZORPAY_KEY_ID, sandbox.credentials.razorpayKeyId);
    assert.equal(env.RAZORPAY_KEY_SECRET, sandbox.credentials.razorpayKeySecret);
    assert.equal(env.RAZORPAY_WEBHOOK_SECRET, sandbox.credentials.razorpayWebhookSecret);
    assert.equal(
      sandboxWebhooks("http://x/functions/v1").razorpay,
      "http://x/functions/v1/webhooks/razorpay",
    );
    return Promise.resolve();
  });
});

Deno.test("sandbox razorpay: Basic auth checked; a wrong key gets the NA envelope, 401", async () => {
  await withSandbox(async ({ sandbox }) => {
    const bare = await fetch(`${sandbox.url}/razorpay/v1/orders/order_IluGWxBm9U8zJ8`);
    assert.equal(bare.status, 401);
    assert.deepEqual((await bare.json()).error, {
      code: "BAD_REQUEST_ERROR",
      description: "Please provide your api key for authentication purposes.",
      source: "NA",
      step: "NA",
      reason: "NA",
      metadata: {},
    });
    for (
      const [keyId, keySecret] of [
        ["rzp_test_0000000000000X", sandbox.credentials.razorpayKeySecret],
        [sandbox.credentials.razorpayKeyId, "wrong-secret"],
      ]
    ) {
      const wrong = createRazorpayClient({ baseUrl: `${sandbox.url}/razorpay`, keyId, keySecret });
      const error = await failure(wrong.createOrder({ amount: 50000, receipt: "r1" }));
      assert.equal(error.status, 401);
      assert.equal(error.code, "BAD_REQUEST_ERROR");
      assert.equal(error.description, "The api key provided is invalid");
      assert.deepEqual([error.source, error.step, error.reason], ["NA", "NA", "NA"]);
      assert.equal(error.retryable, false);
    }
    assert.equal(sandbox.credentials.razorpayKeyId.startsWith("rzp_test_"), true);
    assert.deepEqual(await inspect(sandbox, "events"), []);
  });
});

Deno.test("sandbox razorpay: orders — create, validation errors, fetch, list by receipt", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const order = await rzp.createOrder({
      amount: 1845000,
      receipt: "po_0001",
      notes: { case: "C-42", path: "a/b" },
    });
    assert.match(order.id, ids.order);
    assert.deepEqual(
      [order.amount, order.amount_paid, order.amount_due, order.status, order.attempts],
      [1845000, 0, 1845000, "created", 0],
    );
    assert.equal(order.currency, "INR");
    assert.equal(order.receipt, "po_0001");
    assert.equal("partial_payment" in order, false);
    const other = await rzp.createOrder({ amount: 10000, receipt: "po_0002" });
    assert.deepEqual((await rzp.findOrdersByReceipt("po_0001")).map((o) => o.id), [order.id]);
    assert.deepEqual((await rzp.findOrdersByReceipt("po_0002")).map((o) => o.id), [other.id]);
    assert.deepEqual(await rzp.findOrdersByReceipt("po_0003"), []);
    assert.equal((await rzp.fetchOrder(order.id)).amount, 1845000);
    assert.deepEqual(await rzp.fetchOrderPayments(order.id), []);

    // The amount error exactly as VENDORS.md (Razorpay docs orders/create) shows it.
    const small = await failure(rzp.createOrder({ amount: 99, receipt: "po_small" }));
    assert.equal(small.status, 400);
    assert.deepEqual(
      [small.code, small.description, small.field, small.source, small.step, small.reason],
      [
        "BAD_REQUEST_ERROR",
        "The amount must be at least INR 1.00",
        "amount",
        "business",
        "payment_initiation",
        "input_validation_failed",
      ],
    );
    assert.deepEqual(small.metadata, {});
    assert.equal(small.retryable, false);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ amount: 100.5, receipt: "r" }, "amount"],
      [{ amount: 10000, receipt: "r".repeat(41) }, "receipt"],
      [{ amount: 10000, receipt: "r", currency: "USD" }, "currency"],
      [{ amount: 10000, receipt: "r", customer_name: "x" }, "customer_name"],
      [{
        amount: 10000,
        receipt: "r",
        notes: Object.fromEntries(
          Array.from({ length: 16 }, (_, i) => [`k${i}`, "v"]),
        ),
      }, "notes"],
      [{ amount: 10000, receipt: "r", first_payment_min_amount: 5000 }, "first_payment_min_amount"],
    ];
    for (const [input, field] of cases) {
      const error = await failure(rzp.createOrder(input as never));
      assert.equal(error.status, 400, JSON.stringify(input));
      assert.equal(error.field, field, JSON.stringify(input));
    }
    // Nothing was created by the refused calls; the inspection API lists the two creates.
    assert.equal((await rzp.findOrdersByReceipt("r")).length, 0);
    const listed = await inspect(sandbox, "requests");
    assert.deepEqual(
      listed.map((r: { id: string; subject: string; ourId: string }) => [r.id, r.subject, r.ourId]),
      [[order.id, "order.create", "po_0001"], [other.id, "order.create", "po_0002"]],
    );
    assert.equal((await inspect(sandbox, "requests?ourId=po_0002")).length, 1);
    const unknown = await failure(rzp.fetchOrder("order_000000000000xx"));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.description, "The id provided does not exist");
  });
});

Deno.test("sandbox razorpay: a customer paying an order — Checkout signature, payment, order.paid webhook signed", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const order = await rzp.createOrder({ amount: 50000, receipt: "po_1", notes: { u: "a/b" } });
    const paid = await control(sandbox, "razorpay/pay", { orderId: order.id, method: "card" });
    assert.equal(paid.outcome, "captured");
    assert.match(paid.payment.id, ids.pay);
    const { razorpay_order_id, razorpay_payment_id, razorpay_signature } = paid.checkout;
    assert.equal(razorpay_order_id, order.id);
    assert.equal(razorpay_payment_id, paid.payment.id);
    const keySecret = sandbox.credentials.razorpayKeySecret;
    assert.equal(
      await verifyCheckoutSignature(keySecret, order.id, razorpay_payment_id, razorpay_signature),
      true,
    );
    assert.equal(
      await verifyCheckoutSignature(
        "not-the-key",
        order.id,
        razorpay_payment_id,
        razorpay_signature,
      ),
      false,
    );
    const payment = await rzp.fetchPayment(razorpay_payment_id);
    assert.deepEqual([payment.status, payment.captured, payment.amount], ["captured", true, 50000]);
    assert.equal(payment.order_id, order.id);
    assert.equal(payment.method, "card");
    assert.ok((payment.fee ?? 0) > 0);
    const after = await rzp.fetchOrder(order.id);
    assert.deepEqual([after.status, after.amount_paid, after.amount_due, after.attempts], [
      "paid",
      50000,
      0,
      1,
    ]);
    assert.deepEqual((await rzp.fetchOrderPayments(order.id)).map((p) => p.id), [payment.id]);

    await receiver.waitFor((r) => r.length >= 3);
    await sandbox.callbacksSettled();
    const got = webhooks(receiver);
    assert.deepEqual(got.map((w) => w.event), [
      "payment.authorized",
      "payment.captured",
      "order.paid",
    ]);
    assert.deepEqual(got.map((w) => w.id), paid.events.map((e: { id: string }) => e.id));
    assert.equal(new Set(got.map((w) => w.id)).size, 3);
    const secret = sandbox.credentials.razorpayWebhookSecret;
    for (const w of got) {
      assert.match(w.id, ids.evt);
      assert.equal(
        await verifyWebhookSignature(w.raw, w.signature, { current: secret }),
        "current",
      );
      assert.equal(
        await verifyWebhookSignature(w.raw + " ", w.signature, { current: secret }),
        null,
      );
    }
    const orderPaid = RazorpayWebhookSchema.parse(JSON.parse(got[2].raw));
    assert.deepEqual(orderPaid.contains, ["payment", "order"]);
    assert.equal(orderPaid.account_id.startsWith("acc_"), true);
    assert.equal(orderPaid.payload.order?.entity.status, "paid");
    assert.equal(orderPaid.payload.payment?.entity.id, payment.id);
    // Razorpay's PHP escapes "/" in the raw body: the signed bytes are not JSON.stringify's.
    assert.match(got[2].raw, /"u":"a\\\/b"/);
    // The authorized event is a snapshot of that moment.
    assert.equal(JSON.parse(got[0].raw).payload.payment.entity.status, "authorized");
    // A paid order cannot be paid again.
    await control(sandbox, "razorpay/pay", { orderId: order.id }, 409);
  });
});

Deno.test("sandbox razorpay: authorised only, then captured through the API for exactly its amount", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const order = await rzp.createOrder({ amount: 30000, receipt: "po_auth" });
    const paid = await control(sandbox, "razorpay/pay", {
      orderId: order.id,
      outcome: "authorized",
    });
    assert.equal(paid.payment.status, "authorized");
    assert.ok(paid.checkout.razorpay_signature);
    await receiver.waitFor((r) => r.length >= 1);
    assert.equal((await rzp.fetchOrder(order.id)).status, "attempted");
    const wrong = await failure(rzp.capturePayment(paid.payment.id, 29900));
    assert.equal(wrong.status, 400);
    assert.equal(wrong.field, "amount");
    const captured = await rzp.capturePayment(paid.payment.id, 30000);
    assert.equal(captured.status, "captured");
    const again = await failure(rzp.capturePayment(paid.payment.id, 30000));
    assert.equal(again.description, "This payment has already been captured");
    await receiver.waitFor((r) => r.length >= 3);
    await sandbox.callbacksSettled();
    assert.deepEqual(events(receiver.received), [
      "payment.authorized",
      "payment.captured",
      "order.paid",
    ]);
    assert.equal((await rzp.fetchOrder(order.id)).status, "paid");
  });
});

Deno.test("sandbox razorpay: a failed payment (error fields, payment.failed) and an abandoned one (nothing)", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const order = await rzp.createOrder({ amount: 30000, receipt: "po_fail" });
    const abandoned = await control(sandbox, "razorpay/pay", {
      orderId: order.id,
      outcome: "abandoned",
    });
    assert.equal(abandoned.payment, null);
    assert.equal(abandoned.checkout, null);
    const failed = await control(sandbox, "razorpay/pay", {
      orderId: order.id,
      outcome: "failed",
      failure: "insufficient_funds",
    });
    assert.equal(failed.checkout, null);
    assert.equal(failed.error.reason, "insufficient_funds");
    assert.equal(failed.error.metadata.payment_id, failed.payment.id);
    const payment = await rzp.fetchPayment(failed.payment.id);
    assert.equal(payment.status, "failed");
    assert.equal(payment.error_code, "BAD_REQUEST_ERROR");
    assert.equal(payment.error_reason, "insufficient_funds");
    assert.equal(payment.error_source, "customer");
    await receiver.waitFor((r) => r.length >= 1);
    await sandbox.callbacksSettled();
    assert.deepEqual(events(receiver.received), ["payment.failed"]);
    const after = await rzp.fetchOrder(order.id);
    assert.deepEqual([after.status, after.attempts, after.amount_paid], ["attempted", 1, 0]);
    // The order can still be paid after a failure.
    await control(sandbox, "razorpay/pay", { orderId: order.id });
    assert.equal((await rzp.fetchOrder(order.id)).status, "paid");
  });
});

Deno.test("sandbox razorpay: payment links — create, unique reference_id, find, partial payments, redirect signature", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const expireBy = Math.floor(Date.now() / 1000) + 7 * 86400;
    const link = await rzp.createPaymentLink({
      amount: 100000,
      accept_partial: true,
      first_min_partial_amount: 30000,
      description: "Premium, policy P-1",
      customer: { name: "Asha", contact: "+919810150461" },
      notify: { sms: false, email: false },
      reminder_enable: false,
      expire_by: expireBy,
      reference_id: "case-42",
    });
    assert.match(link.id, ids.plink);
    assert.match(link.short_url, /^https:\/\/rzp\.io\/i\/[A-Za-z0-9]+$/);
    assert.deepEqual([link.status, link.amount_paid, link.expire_by], ["created", 0, expireBy]);
    const duplicate = await failure(
      rzp.createPaymentLink({ amount: 5000, reference_id: "case-42" }),
    );
    assert.equal(duplicate.status, 400);
    assert.equal(duplicate.field, "reference_id");
    assert.deepEqual((await rzp.findPaymentLinksByReferenceId("case-42")).map((l) => l.id), [
      link.id,
    ]);
    assert.deepEqual(await rzp.findPaymentLinksByReferenceId("case-43"), []);
    const tooLate = await failure(
      rzp.createPaymentLink({ amount: 5000, expire_by: expireBy + 200 * 86400 }),
    );
    assert.equal(tooLate.field, "expire_by");
    const partialMin = await failure(
      rzp.createPaymentLink({ amount: 5000, first_min_partial_amount: 1000 }),
    );
    assert.equal(partialMin.field, "first_min_partial_amount");

    // Below the first minimum, more than due: refused by Checkout; nothing happens.
    await control(sandbox, "razorpay/pay", { paymentLinkId: link.id, amount: 20000 }, 400);
    await control(sandbox, "razorpay/pay", { paymentLinkId: link.id, amount: 100001 }, 400);
    const first = await control(sandbox, "razorpay/pay", {
      paymentLinkId: link.id,
      amount: 40000,
    });
    assert.equal(first.paymentLink.status, "partially_paid");
    assert.equal(first.paymentLink.amount_paid, 40000);
    const fields = {
      paymentLinkId: link.id,
      referenceId: "case-42",
      status: "partially_paid",
      paymentId: first.payment.id,
    };
    assert.equal(first.redirect.razorpay_payment_link_status, "partially_paid");
    assert.equal(
      await verifyPaymentLinkSignature(
        sandbox.credentials.razorpayKeySecret,
        fields,
        first.redirect.razorpay_signature,
      ),
      true,
    );
    // (Two payments' webhooks are not ordered between them, as with Razorpay: wait for the first.)
    await receiver.waitFor((r) => r.length >= 3);
    // After the first payment the minimum no longer applies; the rest is paid in one go.
    const rest = await control(sandbox, "razorpay/pay", { paymentLinkId: link.id });
    assert.equal(rest.payment.amount, 60000);
    const fetched = await rzp.fetchPaymentLink(link.id);
    assert.deepEqual([fetched.status, fetched.amount_paid], ["paid", 100000]);
    assert.deepEqual(fetched.payments?.map((p) => [p.payment_id, p.amount, p.status]), [
      [first.payment.id, 40000, "captured"],
      [rest.payment.id, 60000, "captured"],
    ]);
    assert.match(fetched.order_id ?? "", ids.order);
    assert.equal((await rzp.fetchPayment(rest.payment.id)).order_id, fetched.order_id);
    await control(sandbox, "razorpay/pay", { paymentLinkId: link.id }, 409);

    await receiver.waitFor((r) => r.length >= 7);
    await sandbox.callbacksSettled();
    assert.deepEqual(events(receiver.received), [
      "payment.authorized",
      "payment.captured",
      "payment_link.partially_paid",
      "payment.authorized",
      "payment.captured",
      "order.paid",
      "payment_link.paid",
    ]);
    const linkPaid = RazorpayWebhookSchema.parse(JSON.parse(receiver.received[6].body));
    assert.deepEqual(linkPaid.contains, ["payment_link", "order", "payment"]);
    assert.equal(linkPaid.payload.payment_link?.entity.status, "paid");

    // A link without partial payments takes only the whole amount.
    const whole = await rzp.createPaymentLink({ amount: 20000, reference_id: "case-44" });
    await control(sandbox, "razorpay/pay", { paymentLinkId: whole.id, amount: 10000 }, 400);
  });
});

Deno.test("sandbox razorpay: links cancelled and expired (payment_link.expired on demand)", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const a = await rzp.createPaymentLink({ amount: 20000, reference_id: "c-1" });
    const cancelled = await rzp.cancelPaymentLink(a.id);
    assert.equal(cancelled.status, "cancelled");
    assert.ok((cancelled.cancelled_at ?? 0) > 0);
    const again = await failure(rzp.cancelPaymentLink(a.id));
    assert.equal(again.status, 400);
    await control(sandbox, "razorpay/pay", { paymentLinkId: a.id }, 409);

    const b = await rzp.createPaymentLink({ amount: 20000, reference_id: "c-2" });
    const expired = await control(sandbox, "razorpay/expire", { paymentLinkId: b.id });
    assert.equal(expired.paymentLink.status, "expired");
    assert.equal((await rzp.fetchPaymentLink(b.id)).status, "expired");
    await control(sandbox, "razorpay/expire", { paymentLinkId: b.id }, 409);
    await receiver.waitFor((r) => r.length >= 1);
    await sandbox.callbacksSettled();
    assert.deepEqual(events(receiver.received), ["payment_link.expired"]);
    assert.equal(webhooks(receiver)[0].id, expired.events[0].id);
  });
});

Deno.test("sandbox razorpay: refunds — X-Refund-Idempotency, different body refused, 409 in flight, settle processed/failed", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const order = await rzp.createOrder({ amount: 100000, receipt: "po_refund" });
    const paid = await control(sandbox, "razorpay/pay", { orderId: order.id });
    const paymentId = paid.payment.id;
    await receiver.waitFor((r) => r.length >= 3);

    const refund = await rzp.createRefund(
      paymentId,
      { amount: 30000, notes: { reason: "duplicate" } },
      "refund-key-0001",
    );
    assert.match(refund.id, ids.rfnd);
    assert.equal(refund.status, "pending");
    const same = await rzp.createRefund(
      paymentId,
      { notes: { reason: "duplicate" }, amount: 30000 },
      "refund-key-0001",
    );
    assert.equal(same.id, refund.id);
    const different = await failure(
      rzp.createRefund(paymentId, { amount: 20000 }, "refund-key-0001"),
    );
    assert.equal(different.status, 400);
    assert.equal(
      different.description,
      "Different request with the same idempotency key has already been processed.",
    );
    assert.equal(different.retryable, false);
    const processed = await rzp.fetchRefund(refund.id);
    assert.equal(processed.status, "processed");
    const payment = await rzp.fetchPayment(paymentId);
    assert.deepEqual([payment.amount_refunded, payment.refund_status], [30000, "partial"]);
    await receiver.waitFor((r) => events(r).includes("refund.processed"));

    // Beyond what is refundable: refused, nothing reserved.
    const tooMuch = await failure(
      rzp.createRefund(paymentId, { amount: 70001 }, "refund-key-0002"),
    );
    assert.equal(tooMuch.status, 400);
    assert.equal(tooMuch.field, "amount");

    // In flight: the same key again before the first answered is 409 (retryable).
    await control(sandbox, "razorpay/refunds", { settle: "failed", processingMs: 300 });
    const [first, second] = await Promise.allSettled([
      rzp.createRefund(paymentId, { amount: 10000 }, "refund-key-0003"),
      new Promise((r) => setTimeout(r, 50)).then(() =>
        rzp.createRefund(paymentId, { amount: 10000 }, "refund-key-0003")
      ),
    ]);
    assert.equal(first.status, "fulfilled");
    assert.equal(second.status, "rejected");
    const inFlight = (second as PromiseRejectedResult).reason as RazorpayError;
    assert.equal(inFlight.status, 409);
    assert.equal(inFlight.retryable, true);
    const failedRefund = (first as PromiseFulfilledResult<{ id: string }>).value;
    assert.equal((await rzp.fetchRefund(failedRefund.id)).status, "failed");
    // Once answered, the same key answers the same refund.
    assert.equal(
      (await rzp.createRefund(paymentId, { amount: 10000 }, "refund-key-0003")).id,
      failedRefund.id,
    );
    // A failed refund released its amount: the remaining 70000 can still be refunded.
    await control(sandbox, "razorpay/refunds", { settle: "pending", processingMs: 0 });
    const rest = await rzp.createRefund(paymentId, {}, "refund-key-0004");
    assert.equal(rest.amount, 70000);
    assert.equal((await rzp.fetchRefund(rest.id)).status, "pending");
    const settled = await control(sandbox, "razorpay/refunds/settle", {
      refundId: rest.id,
      status: "processed",
    });
    assert.equal(settled.refund.status, "processed");
    const full = await rzp.fetchPayment(paymentId);
    assert.deepEqual([full.status, full.amount_refunded, full.refund_status], [
      "refunded",
      100000,
      "full",
    ]);
    await receiver.waitFor((r) => events(r).filter((e) => e.startsWith("refund.")).length >= 3);
    await sandbox.callbacksSettled();
    assert.deepEqual(events(receiver.received).filter((e) => e.startsWith("refund.")), [
      "refund.processed",
      "refund.failed",
      "refund.processed",
    ]);
    const malformed = await failure(rzp.createRefund(paymentId, {}, "short"));
    assert.equal(malformed.status, 400);
  });
});

Deno.test("sandbox razorpay: a refund of a payment not captured is refused", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_nc" });
    const paid = await control(sandbox, "razorpay/pay", {
      orderId: order.id,
      outcome: "authorized",
    });
    const error = await failure(rzp.createRefund(paid.payment.id, {}, "refund-key-0100"));
    assert.equal(error.status, 400);
    // The refused request did not keep the key: the same key works once captured.
    await rzp.capturePayment(paid.payment.id, 10000);
    assert.equal((await rzp.createRefund(paid.payment.id, {}, "refund-key-0100")).amount, 10000);
  });
});

Deno.test("sandbox razorpay: webhooks refused with 500 are retried with backoff, same id, bytes and signature", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    receiver.refuseNext = 2;
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_retry" });
    await control(sandbox, "razorpay/webhooks", { backoffMs: 30 });
    const paid = await control(sandbox, "razorpay/pay", { orderId: order.id, outcome: "failed" });
    await receiver.waitFor((r) => r.length >= 3);
    await sandbox.callbacksSettled();
    const got = webhooks(receiver);
    assert.equal(got.length, 3);
    assert.deepEqual(new Set(got.map((w) => w.id)), new Set([paid.events[0].id]));
    assert.equal(new Set(got.map((w) => w.raw)).size, 1);
    assert.equal(new Set(got.map((w) => w.signature)).size, 1);
    const deliveries = await inspect(sandbox, `deliveries?eventId=${paid.events[0].id}`);
    assert.deepEqual(
      deliveries.map((d: { attempt: number; status: number }) => [d.attempt, d.status]),
      [[1, 500], [2, 500], [3, 200]],
    );
    // Backoff: the third attempt waited about twice as long as the second.
    const at = receiver.received.map((r) => r.at);
    assert.ok(at[1] - at[0] >= 25, `first retry after ${at[1] - at[0]} ms`);
    assert.ok(at[2] - at[1] >= 55, `second retry after ${at[2] - at[1]} ms`);
  });
});

Deno.test("sandbox razorpay: a receiver that stays down gets retries+1 attempts, then none", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    receiver.status = 503;
    await control(sandbox, "razorpay/webhooks", { retries: 2, backoffMs: 5 });
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_down" });
    await control(sandbox, "razorpay/pay", { orderId: order.id, outcome: "failed" });
    await receiver.waitFor((r) => r.length >= 3);
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 3);
    const deliveries = await inspect(sandbox, "deliveries");
    assert.deepEqual(deliveries.map((d: { status: number }) => d.status), [503, 503, 503]);
  });
});

Deno.test("sandbox razorpay: duplicates (one after another and all at once), reorder, drop", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    await control(sandbox, "razorpay/webhooks", { duplicates: 2, reorder: true });
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_dup" });
    const paid = await control(sandbox, "razorpay/pay", { orderId: order.id });
    await receiver.waitFor((r) => r.length >= 9);
    await sandbox.callbacksSettled();
    const got = webhooks(receiver);
    assert.deepEqual(got.map((w) => w.event), [
      ...Array(3).fill("order.paid"),
      ...Array(3).fill("payment.captured"),
      ...Array(3).fill("payment.authorized"),
    ]);
    const byId = Map.groupBy(got, (w) => w.id);
    assert.equal(byId.size, 3);
    for (const copies of byId.values()) {
      assert.equal(copies.length, 3);
      assert.equal(new Set(copies.map((c) => c.raw + c.signature)).size, 1);
    }
    assert.deepEqual([...byId.keys()].sort(), paid.events.map((e: { id: string }) => e.id).sort());

    receiver.received.length = 0;
    await control(sandbox, "razorpay/webhooks", {
      duplicates: 49,
      concurrent: true,
      reorder: false,
    });
    const second = await rzp.createOrder({ amount: 10000, receipt: "po_dup2" });
    await control(sandbox, "razorpay/pay", { orderId: second.id, outcome: "failed" });
    await receiver.waitFor((r) => r.length >= 50);
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 50);
    assert.equal(new Set(webhooks(receiver).map((w) => w.id)).size, 1);

    receiver.received.length = 0;
    await control(sandbox, "razorpay/webhooks", { drop: true, duplicates: 0 });
    const third = await rzp.createOrder({ amount: 10000, receipt: "po_drop" });
    const dropped = await control(sandbox, "razorpay/pay", { orderId: third.id });
    await sandbox.callbacksSettled();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.received.length, 0);
    // Dropped events are still made (a replay can deliver them).
    const made = await inspect(sandbox, "events");
    assert.ok(made.some((e: { id: string }) => e.id === dropped.events[2].id));
  });
});

Deno.test("sandbox razorpay: webhooks delayed on demand, and none in the generic mode none", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    await control(sandbox, "razorpay/webhooks", { delayMs: 400 });
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_late" });
    const started = Date.now();
    await control(sandbox, "razorpay/pay", { orderId: order.id, outcome: "failed" });
    await receiver.waitFor((r) => r.length >= 1);
    assert.ok(receiver.received[0].at - started >= 380, `${receiver.received[0].at - started} ms`);

    receiver.received.length = 0;
    await control(sandbox, "razorpay/webhooks", { delayMs: null });
    await control(sandbox, "razorpay", { callbacks: { mode: "none" } });
    const second = await rzp.createOrder({ amount: 10000, receipt: "po_none" });
    await control(sandbox, "razorpay/pay", { orderId: second.id });
    await sandbox.callbacksSettled();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.received.length, 0);
  });
});

Deno.test("sandbox razorpay: secret rotation — retries of older events keep the old secret, replays use the new", async () => {
  await withSandbox(async ({ sandbox, receiver, rzp }) => {
    const oldSecret = sandbox.credentials.razorpayWebhookSecret;
    receiver.status = 500;
    await control(sandbox, "razorpay/webhooks", { retries: 6, backoffMs: 40 });
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_rot" });
    const before = await control(sandbox, "razorpay/pay", { orderId: order.id, outcome: "failed" });
    await receiver.waitFor((r) => r.length >= 1);
    const rotated = await control(sandbox, "razorpay/webhook-secret", {});
    const newSecret = rotated.secret;
    assert.notEqual(newSecret, oldSecret);
    assert.equal(sandbox.credentials.razorpayWebhookSecret, newSecret);
    assert.equal(rotated.secretVersion, 2);
    receiver.status = 200;
    const second = await rzp.createOrder({ amount: 10000, receipt: "po_rot2" });
    const after = await control(sandbox, "razorpay/pay", { orderId: second.id, outcome: "failed" });
    const oldId = before.events[0].id;
    const newId = after.events[0].id;
    const idOf = (x: ReceivedRequest) => x.headers.get("x-razorpay-event-id");
    await receiver.waitFor((r) =>
      r.some((x) => idOf(x) === newId) && r.filter((x) => idOf(x) === oldId).length >= 2
    );
    await sandbox.callbacksSettled();
    const rotating = { current: newSecret, previous: oldSecret };
    const got = webhooks(receiver);
    const oldOnes = got.filter((w) => w.id === oldId);
    assert.ok(oldOnes.length >= 2);
    for (const w of oldOnes) {
      assert.equal(await verifyWebhookSignature(w.raw, w.signature, rotating), "previous");
      assert.equal(await verifyWebhookSignature(w.raw, w.signature, { current: newSecret }), null);
    }
    const newOne = got.find((w) => w.id === newId)!;
    assert.equal(await verifyWebhookSignature(newOne.raw, newOne.signature, rotating), "current");

    // A dashboard replay of the old event: same id and body, signed with the current secret.
    receiver.received.length = 0;
    await control(sandbox, "razorpay/replay", { eventId: oldId });
    await receiver.waitFor((r) => r.length >= 1);
    const [replayed] = webhooks(receiver);
    assert.equal(replayed.id, oldId);
    assert.equal(replayed.raw, oldOnes[0].raw);
    assert.equal(
      await verifyWebhookSignature(replayed.raw, replayed.signature, { current: newSecret }),
      "current",
    );
    await control(sandbox, "razorpay/replay", { eventId: "evt_00000000000000" }, 404);
  });
});

Deno.test("sandbox razorpay: faults — 429 and 503 on the next calls of a path, a timeout, a lost answer", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    await control(sandbox, "razorpay", {
      failNext: { code: 429, count: 2, path: "/v1/orders" },
    });
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_warm" }).catch((e) => e);
    assert.ok(order instanceof RazorpayError);
    assert.deepEqual([order.status, order.retryable], [429, true]);
    // Another path is untouched by the fault.
    assert.deepEqual(await rzp.findPaymentLinksByReferenceId("none"), []);
    const second = await failure(rzp.createOrder({ amount: 10000, receipt: "po_warm" }));
    assert.equal(second.status, 429);
    const created = await rzp.createOrder({ amount: 10000, receipt: "po_warm" });
    assert.match(created.id, ids.order);
    assert.equal((await rzp.findOrdersByReceipt("po_warm")).length, 1);

    await control(sandbox, "razorpay", { failNext: { code: "SERVICE_UNAVAILABLE" } });
    const unavailable = await failure(rzp.fetchOrder(created.id));
    assert.deepEqual([unavailable.status, unavailable.code, unavailable.retryable], [
      503,
      "SERVICE_UNAVAILABLE",
      true,
    ]);
    await control(sandbox, "razorpay", { failNext: { code: 500 } });
    const server = await failure(rzp.fetchOrder(created.id));
    assert.deepEqual([server.status, server.code], [500, "SERVER_ERROR"]);

    const quick = createRazorpayClient({
      baseUrl: `${sandbox.url}/razorpay`,
      keyId: sandbox.credentials.razorpayKeyId,
      keySecret: sandbox.credentials.razorpayKeySecret,
      timeoutMs: 150,
    });
    // "timeout": no answer and no effect.
    await control(sandbox, "razorpay", { failNext: { code: "timeout", path: "/v1/orders" } });
    const timedOut = await failure(quick.createOrder({ amount: 10000, receipt: "po_to" }));
    assert.deepEqual([timedOut.status, timedOut.code, timedOut.retryable], [0, "TIMEOUT", true]);
    assert.deepEqual(await rzp.findOrdersByReceipt("po_to"), []);
    // "lost_answer": done, but the answer never came — found again by receipt.
    await control(sandbox, "razorpay", { failNext: { code: "lost_answer", path: "/v1/orders" } });
    const lost = await failure(quick.createOrder({ amount: 10000, receipt: "po_lost" }));
    assert.equal(lost.code, "TIMEOUT");
    assert.equal((await rzp.findOrdersByReceipt("po_lost")).length, 1);

    await control(sandbox, "razorpay", { outage: true });
    assert.equal((await failure(rzp.fetchOrder(created.id))).status, 503);
    await control(sandbox, "razorpay", { outage: false, rateLimitPerSecond: 1 });
    const burst = await Promise.allSettled([1, 2, 3].map(() => rzp.fetchOrder(created.id)));
    assert.ok(
      burst.some((b) => b.status === "rejected" && (b.reason as RazorpayError).status === 429),
    );
  });
});

Deno.test("sandbox razorpay: control requests checked; reset forgets the account", async () => {
  await withSandbox(async ({ sandbox, rzp }) => {
    const bad: Array<[string, unknown, number]> = [
      ["razorpay/pay", {}, 400],
      ["razorpay/pay", { orderId: "order_x", paymentLinkId: "plink_x" }, 400],
      ["razorpay/pay", { orderId: "order_00000000000000" }, 404],
      ["razorpay/pay", { orderId: "order_x", outcome: "maybe" }, 400],
      ["razorpay/pay", { orderId: "order_x", method: "cash" }, 400],
      ["razorpay/webhooks", { retries: -1 }, 400],
      ["razorpay/webhooks", { reorder: "yes" }, 400],
      ["razorpay/refunds", { settle: "later" }, 400],
      ["razorpay/webhook-secret", { secret: "" }, 400],
      ["razorpay/nothing", {}, 404],
      ["razorpay", { failNext: { code: 429, path: "v1/orders" } }, 400],
    ];
    for (const [path, body, status] of bad) await control(sandbox, path, body, status);
    const order = await rzp.createOrder({ amount: 10000, receipt: "po_reset" });
    await control(sandbox, "razorpay/webhooks", { duplicates: 3 });
    await control(sandbox, "reset", {});
    assert.equal((await failure(rzp.fetchOrder(order.id))).status, 400);
    const settings = await control(sandbox, "razorpay/webhooks", {});
    assert.equal(settings.duplicates, 0);
  });
});
