// The Razorpay fetch client (functions/_shared/razorpay/client.ts) against a fake fetch: what it
// sends (Basic auth, /v1 paths, JSON, X-Refund-Idempotency), how it reads answers (schemas,
// notes `[]`), and how each failure is classified (timeout and network: status 0, retryable;
// 429, 5xx, 409 retryable; validation and auth final; an unexpected 2xx body BAD_RESPONSE).
// The client against the sandbox is tested in sandbox_razorpay.test.ts.
import assert from "node:assert/strict";
import { createRazorpayClient, RazorpayError } from "../../functions/_shared/razorpay/client.ts";

const order = {
  id: "order_IluGWxBm9U8zJ8",
  entity: "order",
  amount: 50000,
  amount_paid: 0,
  amount_due: 50000,
  currency: "INR",
  receipt: "po_1",
  offer_id: null,
  status: "created",
  attempts: 0,
  notes: [],
  created_at: 1764400000,
};

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  body: string | null;
}

function fakeFetch(answer: (seen: Seen) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    const entry = {
      url: request.url,
      method: request.method,
      headers: request.headers,
      body: init?.body ? String(init.body) : null,
    };
    seen.push(entry);
    return await answer(entry);
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function client(fetch: typeof globalThis.fetch, timeoutMs?: number) {
  return createRazorpayClient({
    baseUrl: "https://rzp.example.test/",
    keyId: "rzp_test_1DP5mmOlF5G5ag",
    keySecret: "thisisasecret",
    fetch,
    timeoutMs,
  });
}

async function failure(promise: Promise<unknown>): Promise<RazorpayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RazorpayError, `not a RazorpayError: ${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}

Deno.test("razorpay client: Basic auth, /v1 path, JSON body with INR by default; notes [] read as {}", async () => {
  const fake = fakeFetch(() => json(order));
  const created = await client(fake.fetch).createOrder({ amount: 50000, receipt: "po_1" });
  assert.equal(created.id, "order_IluGWxBm9U8zJ8");
  assert.deepEqual(created.notes, {});
  const [sent] = fake.seen;
  assert.equal(sent.url, "https://rzp.example.test/v1/orders");
  assert.equal(sent.method, "POST");
  assert.equal(
    sent.headers.get("authorization"),
    "Basic " + btoa("rzp_test_1DP5mmOlF5G5ag:thisisasecret"),
  );
  assert.equal(sent.headers.get("content-type"), "application/json");
  assert.deepEqual(JSON.parse(sent.body!), { currency: "INR", amount: 50000, receipt: "po_1" });
});

Deno.test("razorpay client: ids and queries are URL-encoded; lists read items and payment_links", async () => {
  const fake = fakeFetch((seen) => {
    if (seen.url.includes("/payment_links?")) return json({ payment_links: [] });
    return json({ entity: "collection", count: 1, items: [order] });
  });
  const rzp = client(fake.fetch);
  assert.deepEqual((await rzp.findOrdersByReceipt("po 1/&x")).map((o) => o.id), [order.id]);
  assert.deepEqual(await rzp.findPaymentLinksByReferenceId("ref#1"), []);
  await failure(rzp.fetchOrder("../refunds"));
  assert.equal(
    fake.seen[0].url,
    "https://rzp.example.test/v1/orders?receipt=po%201%2F%26x&count=100",
  );
  assert.equal(fake.seen[1].url, "https://rzp.example.test/v1/payment_links?reference_id=ref%231");
  assert.equal(fake.seen[2].url, "https://rzp.example.test/v1/orders/..%2Frefunds");
});

Deno.test("razorpay client: a refund carries X-Refund-Idempotency; a malformed key is refused unsent", async () => {
  const refund = {
    id: "rfnd_FP8QHiV938haTz",
    entity: "refund",
    amount: 10000,
    currency: "INR",
    payment_id: "pay_29QQoUBi66xm2f",
    notes: { reason: "duplicate" },
    receipt: null,
    status: "pending",
    speed_requested: "normal",
    created_at: 1764400000,
  };
  const fake = fakeFetch(() => json(refund));
  const rzp = client(fake.fetch);
  const got = await rzp.createRefund(
    "pay_29QQoUBi66xm2f",
    { amount: 10000, notes: { reason: "duplicate" } },
    "refund_0001-abc",
  );
  assert.equal(got.status, "pending");
  assert.equal(fake.seen[0].url, "https://rzp.example.test/v1/payments/pay_29QQoUBi66xm2f/refund");
  assert.equal(fake.seen[0].headers.get("x-refund-idempotency"), "refund_0001-abc");
  assert.deepEqual(JSON.parse(fake.seen[0].body!), {
    amount: 10000,
    notes: { reason: "duplicate" },
  });
  const refused = await failure(rzp.createRefund("pay_29QQoUBi66xm2f", {}, "short"));
  assert.equal(refused.retryable, false);
  assert.equal(refused.field, "X-Refund-Idempotency");
  assert.equal(fake.seen.length, 1);
});

Deno.test("razorpay client: Razorpay's error envelope, and which errors are retryable", async () => {
  const envelope = (code: string, description: string, extra: Record<string, unknown> = {}) => ({
    error: { code, description, source: "NA", step: "NA", reason: "NA", metadata: {}, ...extra },
  });
  const cases: Array<[Response, { status: number; code: string; retryable: boolean }]> = [
    [
      json(
        envelope("BAD_REQUEST_ERROR", "The amount must be at least INR 1.00", {
          field: "amount",
          source: "business",
          step: "payment_initiation",
          reason: "input_validation_failed",
        }),
        400,
      ),
      { status: 400, code: "BAD_REQUEST_ERROR", retryable: false },
    ],
    [
      json(envelope("BAD_REQUEST_ERROR", "The api key provided is invalid"), 401),
      { status: 401, code: "BAD_REQUEST_ERROR", retryable: false },
    ],
    [
      json(envelope("BAD_REQUEST_ERROR", "Too many requests"), 429),
      { status: 429, code: "BAD_REQUEST_ERROR", retryable: true },
    ],
    [
      json(envelope("BAD_REQUEST_ERROR", "Request in progress"), 409),
      { status: 409, code: "BAD_REQUEST_ERROR", retryable: true },
    ],
    [
      json(envelope("SERVER_ERROR", "We are facing some trouble"), 500),
      { status: 500, code: "SERVER_ERROR", retryable: true },
    ],
    [
      new Response("<html>bad gateway</html>", { status: 502 }),
      { status: 502, code: "SERVER_ERROR", retryable: true },
    ],
    [
      new Response("", { status: 503 }),
      { status: 503, code: "SERVICE_UNAVAILABLE", retryable: true },
    ],
    [json({ id: "nope" }), { status: 200, code: "BAD_RESPONSE", retryable: true }],
  ];
  for (const [response, expected] of cases) {
    const error = await failure(client(fakeFetch(() => response).fetch).fetchOrder(order.id));
    assert.deepEqual(
      { status: error.status, code: error.code, retryable: error.retryable },
      expected,
      error.message,
    );
  }
});

Deno.test("razorpay client: the validation envelope's fields are kept", async () => {
  const fake = fakeFetch(() =>
    json({
      error: {
        code: "BAD_REQUEST_ERROR",
        description: "The amount must be at least INR 1.00",
        field: "amount",
        source: "business",
        step: "payment_initiation",
        reason: "input_validation_failed",
        metadata: {},
      },
    }, 400)
  );
  const error = await failure(client(fake.fetch).createOrder({ amount: 99, receipt: "r" }));
  assert.equal(error.description, "The amount must be at least INR 1.00");
  assert.equal(error.field, "amount");
  assert.equal(error.source, "business");
  assert.equal(error.step, "payment_initiation");
  assert.equal(error.reason, "input_validation_failed");
});

Deno.test("razorpay client: no answer within the deadline is TIMEOUT, status 0, retryable", async () => {
  // A server that never answers: only the client's deadline ends the call.
  const slow = (_input: string | URL | Request, init?: RequestInit) =>
    new Promise<Response>((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
    });
  const started = Date.now();
  const error = await failure(client(slow as typeof fetch, 80).fetchPayment("pay_29QQoUBi66xm2f"));
  assert.equal(error.status, 0);
  assert.equal(error.code, "TIMEOUT");
  assert.equal(error.retryable, true);
  assert.ok(Date.now() - started < 2000);
});

Deno.test("razorpay client: a refused connection is NETWORK_ERROR, status 0, retryable", async () => {
  // A port nothing listens on: bind one, note it, close it.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const rzp = createRazorpayClient({
    baseUrl: `http://127.0.0.1:${port}`,
    keyId: "rzp_test_1DP5mmOlF5G5ag",
    keySecret: "thisisasecret",
  });
  const error = await failure(rzp.fetchOrder(order.id));
  assert.equal(error.status, 0);
  assert.equal(error.code, "NETWORK_ERROR");
  assert.equal(error.retryable, true);
  assert.doesNotMatch(error.message, /thisisasecret/);
});

Deno.test("razorpay client: a caller's abort is ABORTED, not a timeout", async () => {
  const slow = (_input: string | URL | Request, init?: RequestInit) =>
    new Promise<Response>((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
    });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const error = await failure(
    client(slow as typeof fetch, 5000).fetchOrder(order.id, controller.signal),
  );
  assert.equal(error.code, "ABORTED");
  assert.equal(error.status, 0);
});

/** Razorpay docs subscriptions/cancel-subscription's sample answer. */
const cancelledSubscription = {
  id: "sub_00000000000001",
  entity: "subscription",
  plan_id: "plan_00000000000001",
  customer_id: "cust_D00000000000001",
  status: "cancelled",
  current_start: 1580453311,
  current_end: 1581013800,
  ended_at: 1580288092,
  quantity: 1,
  notes: { notes_key_1: "Tea, Earl Grey, Hot", notes_key_2: "Tea, Earl Grey… decaf." },
  charge_at: 1580453311,
  start_at: 1577385991,
  end_at: 1603737000,
  auth_attempts: 0,
  total_count: 6,
  paid_count: 1,
  customer_notify: true,
  created_at: 1580283117,
  expire_by: 1581013800,
  short_url: "https://rzp.io/i/z3b1R61A9",
  has_scheduled_changes: false,
  change_scheduled_at: null,
  source: "api",
  offer_id: "offer_JHD834hjbxzhd38d",
  remaining_count: 5,
};

/** Razorpay docs subscriptions/create-plan's sample answer. */
const weeklyPlan = {
  id: "plan_00000000000001",
  entity: "plan",
  interval: 1,
  period: "weekly",
  item: {
    id: "item_00000000000001",
    active: true,
    name: "Test plan - Weekly",
    description: "Description for the test plan - Weekly",
    amount: 69900,
    unit_amount: 69900,
    currency: "INR",
    type: "plan",
    unit: null,
    tax_inclusive: false,
    hsn_code: null,
    sac_code: null,
    tax_rate: null,
    tax_id: null,
    tax_group_id: null,
    created_at: 1580219935,
    updated_at: 1580219935,
  },
  notes: { notes_key_1: "Tea, Earl Grey, Hot", notes_key_2: "Tea, Earl Grey… decaf." },
  created_at: 1580219935,
};

Deno.test("razorpay client: plans and subscriptions — paths, bodies (INR item, pause_at/resume_at now, cancel_at_cycle_end), Razorpay's sample answers read", async () => {
  const fake = fakeFetch((seen) => {
    if (seen.url.includes("/plans")) return json(weeklyPlan);
    if (seen.url.includes("/subscriptions?")) {
      return json({ entity: "collection", count: 1, items: [cancelledSubscription] });
    }
    return json(cancelledSubscription);
  });
  const rzp = client(fake.fetch);
  const plan = await rzp.createPlan({
    period: "weekly",
    interval: 1,
    item: { name: "Test plan - Weekly", amount: 69900 },
  });
  assert.equal(plan.item.amount, 69900);
  await rzp.fetchPlan("plan_00000000000001");
  const sub = await rzp.createSubscription({
    plan_id: "plan_00000000000001",
    total_count: 6,
    start_at: 1767225600,
    customer_notify: 0,
    notes: { case_id: "c" },
  });
  assert.deepEqual([sub.status, sub.paid_count, sub.remaining_count], ["cancelled", 1, 5]);
  await rzp.fetchSubscription("sub_00000000000001");
  await rzp.cancelSubscription("sub_00000000000001", { cancel_at_cycle_end: 1 });
  await rzp.pauseSubscription("sub_00000000000001");
  await rzp.resumeSubscription("sub_00000000000001");
  const found = await rzp.findSubscriptionsByPlan("plan_00000000000001", { skip: 100 });
  assert.deepEqual(found.map((s) => s.id), ["sub_00000000000001"]);
  const sent = fake.seen.map((s) => [s.method, s.url.replace("https://rzp.example.test", "")]);
  assert.deepEqual(sent, [
    ["POST", "/v1/plans"],
    ["GET", "/v1/plans/plan_00000000000001"],
    ["POST", "/v1/subscriptions"],
    ["GET", "/v1/subscriptions/sub_00000000000001"],
    ["POST", "/v1/subscriptions/sub_00000000000001/cancel"],
    ["POST", "/v1/subscriptions/sub_00000000000001/pause"],
    ["POST", "/v1/subscriptions/sub_00000000000001/resume"],
    ["GET", "/v1/subscriptions?plan_id=plan_00000000000001&count=100&skip=100"],
  ]);
  const bodies = fake.seen.map((s) => (s.body === null ? null : JSON.parse(s.body)));
  assert.deepEqual(bodies[0], {
    period: "weekly",
    interval: 1,
    item: { currency: "INR", name: "Test plan - Weekly", amount: 69900 },
  });
  assert.deepEqual(bodies[2], {
    plan_id: "plan_00000000000001",
    total_count: 6,
    start_at: 1767225600,
    customer_notify: 0,
    notes: { case_id: "c" },
  });
  assert.deepEqual(bodies.slice(4, 7), [
    { cancel_at_cycle_end: 1 },
    { pause_at: "now" },
    { resume_at: "now" },
  ]);
  assert.equal(bodies[1], null);
});

Deno.test("razorpay client: a subscription's counts as digits are read as numbers; an unknown status is BAD_RESPONSE", async () => {
  let answer: unknown = { ...cancelledSubscription, remaining_count: "5", paid_count: "1" };
  const rzp = client(fakeFetch(() => json(answer)).fetch);
  const sub = await rzp.fetchSubscription("sub_00000000000001");
  assert.deepEqual([sub.remaining_count, sub.paid_count], [5, 1]);
  answer = { ...cancelledSubscription, status: "suspended" };
  const error = await failure(rzp.fetchSubscription("sub_00000000000001"));
  assert.deepEqual([error.code, error.retryable], ["BAD_RESPONSE", true]);
  answer = { ...weeklyPlan, entity: "subscription" };
  assert.equal((await failure(rzp.fetchPlan("plan_00000000000001"))).code, "BAD_RESPONSE");
});

/**
 * Razorpay's sample invoice of a subscription (docs subscriptions/fetch-invoices), paise; the
 * fields after `view_less` as razorpay-ruby's invoice fixture names them (its billing period
 * values ours).
 */
const paidInvoice = {
  id: "inv_00000000000003",
  entity: "invoice",
  receipt: null,
  invoice_number: null,
  customer_id: "cust_00000000000001",
  customer_details: {
    id: "cust_00000000000001",
    name: null,
    email: "gaurav.kumar@example.com",
    contact: "+919876543210",
    gstin: null,
    billing_address: null,
    shipping_address: null,
    customer_name: null,
    customer_email: "gaurav.kumar@example.com",
    customer_contact: "+919876543210",
  },
  order_id: "order_00000000000002",
  subscription_id: "sub_00000000000001",
  line_items: [{
    id: "li_00000000000003",
    item_id: null,
    ref_id: null,
    ref_type: null,
    name: "Monthly Plan",
    description: null,
    amount: 99900,
    unit_amount: 99900,
    gross_amount: 99900,
    tax_amount: 0,
    taxable_amount: 99900,
    net_amount: 99900,
    currency: "INR",
    type: "plan",
    tax_inclusive: false,
    hsn_code: null,
    sac_code: null,
    tax_rate: null,
    unit: null,
    quantity: 1,
    taxes: [],
  }],
  payment_id: "pay_00000000000002",
  status: "paid",
  expire_by: null,
  issued_at: 1593344888,
  paid_at: 1593344889,
  cancelled_at: null,
  expired_at: null,
  sms_status: null,
  email_status: null,
  date: 1593344888,
  terms: null,
  partial_payment: false,
  gross_amount: 99900,
  tax_amount: 0,
  taxable_amount: 99900,
  amount: 99900,
  amount_paid: 99900,
  amount_due: 0,
  currency: "INR",
  currency_symbol: "₹",
  description: null,
  notes: [],
  comment: null,
  short_url: "https://rzp.io/i/Ys4feGqEp",
  view_less: true,
  billing_start: 1593369000,
  billing_end: 1595961000,
  type: "invoice",
  created_at: 1593344888,
};

Deno.test("razorpay client: a subscription's invoices — GET /v1/invoices?subscription_id, every page of 100; Razorpay's sample read; an unknown status is BAD_RESPONSE", async () => {
  const issued = {
    ...paidInvoice,
    id: "inv_00000000000004",
    payment_id: null,
    status: "issued",
    paid_at: null,
    amount_paid: 0,
    amount_due: 99900,
  };
  // 100 on the first page, one on the second: both asked for, in order.
  const pages = [Array.from({ length: 100 }, () => paidInvoice), [issued]];
  const fake = fakeFetch(() => json({ entity: "collection", count: 1, items: pages.shift() }));
  const invoices = await client(fake.fetch).fetchSubscriptionInvoices("sub_00000000000001");
  assert.equal(invoices.length, 101);
  assert.deepEqual(
    [invoices[0].status, invoices[0].payment_id, invoices[0].order_id, invoices[0].amount_paid],
    ["paid", "pay_00000000000002", "order_00000000000002", 99900],
  );
  assert.deepEqual([invoices[100].status, invoices[100].payment_id], ["issued", null]);
  assert.deepEqual(
    fake.seen.map((s) => [s.method, s.url.replace("https://rzp.example.test", "")]),
    [
      ["GET", "/v1/invoices?subscription_id=sub_00000000000001&count=100&skip=0"],
      ["GET", "/v1/invoices?subscription_id=sub_00000000000001&count=100&skip=100"],
    ],
  );
  // A short first page is the last: one call.
  const once = fakeFetch(() => json({ entity: "collection", count: 1, items: [paidInvoice] }));
  assert.equal((await client(once.fetch).fetchSubscriptionInvoices("sub_1")).length, 1);
  assert.equal(once.seen.length, 1);
  const odd = fakeFetch(() =>
    json({ entity: "collection", count: 1, items: [{ ...paidInvoice, status: "void" }] })
  );
  const error = await failure(client(odd.fetch).fetchSubscriptionInvoices("sub_1"));
  assert.deepEqual([error.code, error.retryable], ["BAD_RESPONSE", true]);
});
