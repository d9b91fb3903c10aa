// Razorpay's four signatures (functions/_shared/signatures/razorpay.ts): the SDK's published
// webhook vector (VENDORS.md §4), each key-secret form against an independent node:crypto HMAC,
// the rotation window, refusals, and a property test over 10,000 random webhook bodies. The
// property test's PRNG is seeded: a failure prints the seed; rerun it with
// RAZORPAY_PROPERTY_SEED=<seed>.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  checkoutSignature,
  paymentLinkSignature,
  subscriptionSignature,
  verifyCheckoutSignature,
  verifyPaymentLinkSignature,
  verifySubscriptionSignature,
  verifyWebhookSignature,
  webhookSignature,
} from "../../functions/_shared/signatures/razorpay.ts";

const hex = (key: string, data: string) => createHmac("sha256", key).update(data).digest("hex");

Deno.test("razorpay webhook: the SDK's published vector", async () => {
  const body = '{"a":1,"b":2,"c":{"d":3}}';
  const expected = "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc";
  assert.equal(await webhookSignature("123456", body), expected);
  assert.equal(await webhookSignature("123456", new TextEncoder().encode(body)), expected);
  assert.equal(await verifyWebhookSignature(body, expected, { current: "123456" }), "current");
  assert.equal(await verifyWebhookSignature(body, expected, { current: "654321" }), null);
  // The same object spelt with a space is another body.
  assert.equal(
    await verifyWebhookSignature('{"a":1, "b":2,"c":{"d":3}}', expected, { current: "123456" }),
    null,
  );
});

Deno.test("razorpay webhook: rotation accepts current or previous, says which, refuses neither", async () => {
  const body = String.raw`{"entity":"event","event":"payment.captured","note":"a\/b \u20b9"}`;
  const oldSecret = "whsec-old-0123456789";
  const newSecret = "whsec-new-9876543210";
  const byOld = await webhookSignature(oldSecret, body);
  const byNew = await webhookSignature(newSecret, body);
  const byOther = await webhookSignature("someone-else", body);
  const rotating = { current: newSecret, previous: oldSecret };
  assert.equal(await verifyWebhookSignature(body, byNew, rotating), "current");
  assert.equal(await verifyWebhookSignature(body, byOld, rotating), "previous");
  assert.equal(await verifyWebhookSignature(body, byOther, rotating), null);
  // After the window (previous unset or empty) the old signature is refused.
  assert.equal(await verifyWebhookSignature(body, byOld, { current: newSecret }), null);
  assert.equal(
    await verifyWebhookSignature(body, byOld, { current: newSecret, previous: "" }),
    null,
  );
});

Deno.test("razorpay webhook: missing, malformed or altered signatures and empty secrets are refused", async () => {
  const body = '{"entity":"event"}';
  const secret = "webhook-secret-1";
  const good = await webhookSignature(secret, body);
  assert.equal(good, hex(secret, body));
  const flipped = good.slice(0, -1) + (good.endsWith("0") ? "1" : "0");
  for (
    const bad of [
      null,
      "",
      good.toUpperCase(),
      `sha256=${good}`,
      good + " ",
      good.slice(1),
      flipped,
    ]
  ) {
    assert.equal(await verifyWebhookSignature(body, bad, { current: secret }), null, String(bad));
  }
  // An unset secret is never a key anyone can sign with.
  const emptyKey = hex("", body);
  assert.equal(await verifyWebhookSignature(body, emptyKey, { current: "" }), null);
  assert.equal(await verifyWebhookSignature(body, emptyKey, { current: "", previous: "" }), null);
  await assert.rejects(() => webhookSignature("", body), TypeError);
});

Deno.test("razorpay checkout: hex HMAC of order_id|payment_id with the key secret", async () => {
  const keySecret = "EnLs21M47BllR3X8PSFtjtbd";
  const order = "order_IluGWxBm9U8zJ8";
  const payment = "pay_IluGw4Y2y9Hj5X";
  const signature = await checkoutSignature(keySecret, order, payment);
  assert.equal(signature, hex(keySecret, `${order}|${payment}`));
  assert.equal(await verifyCheckoutSignature(keySecret, order, payment, signature), true);
  // Another order (the browser's, not ours), another payment, another key, swapped: refused.
  assert.equal(
    await verifyCheckoutSignature(keySecret, "order_IluGWxBm9U8zJ9", payment, signature),
    false,
  );
  assert.equal(
    await verifyCheckoutSignature(keySecret, order, "pay_IluGw4Y2y9Hj5Y", signature),
    false,
  );
  assert.equal(await verifyCheckoutSignature("other", order, payment, signature), false);
  assert.equal(await verifyCheckoutSignature(keySecret, payment, order, signature), false);
  assert.equal(await verifyCheckoutSignature(keySecret, order, payment, null), false);
  assert.equal(await verifyCheckoutSignature(keySecret, "", payment, signature), false);
  assert.equal(
    await verifyCheckoutSignature("", order, payment, hex("", `${order}|${payment}`)),
    false,
  );
});

Deno.test("razorpay payment link: plink_id|reference_id|status|payment_id with the key secret", async () => {
  const keySecret = "EnLs21M47BllR3X8PSFtjtbd";
  const fields = {
    paymentLinkId: "plink_ExjpAUN3gVHrPJ",
    referenceId: "case-42-inst-1",
    status: "paid",
    paymentId: "pay_ExjpBXYZ123abc",
  };
  const signature = await paymentLinkSignature(keySecret, fields);
  assert.equal(
    signature,
    hex(keySecret, "plink_ExjpAUN3gVHrPJ|case-42-inst-1|paid|pay_ExjpBXYZ123abc"),
  );
  assert.equal(await verifyPaymentLinkSignature(keySecret, fields, signature), true);
  for (const key of ["paymentLinkId", "referenceId", "status", "paymentId"] as const) {
    const changed = { ...fields, [key]: fields[key] + "x" };
    assert.equal(await verifyPaymentLinkSignature(keySecret, changed, signature), false, key);
  }
  assert.equal(await verifyPaymentLinkSignature("other", fields, signature), false);
  // The webhook form (body only) is not a link signature.
  assert.equal(await verifyPaymentLinkSignature(keySecret, fields, null), false);
});

Deno.test("razorpay subscription: the reversed payment_id|subscription_id", async () => {
  const keySecret = "EnLs21M47BllR3X8PSFtjtbd";
  const payment = "pay_IluGw4Y2y9Hj5X";
  const subscription = "sub_00000000000001";
  const signature = await subscriptionSignature(keySecret, payment, subscription);
  assert.equal(signature, hex(keySecret, `${payment}|${subscription}`));
  assert.notEqual(signature, hex(keySecret, `${subscription}|${payment}`));
  assert.equal(
    await verifySubscriptionSignature(keySecret, payment, subscription, signature),
    true,
  );
  // The order form's spelling (subscription first) is refused.
  const orderShaped = hex(keySecret, `${subscription}|${payment}`);
  assert.equal(
    await verifySubscriptionSignature(keySecret, payment, subscription, orderShaped),
    false,
  );
  assert.equal(
    await verifySubscriptionSignature(keySecret, subscription, payment, signature),
    false,
  );
});

// ---- property test ----------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const characters = [
  ..."abcxyzABCXYZ0189 -_.:,;'!?@#%&*()[]{}<>=+~`^|",
  "/",
  "/",
  '"',
  "\\",
  "\n",
  "\t",
  "\u0000",
  "\u001f",
  "\u007f",
  "é",
  "ñ",
  "₹",
  "€",
  "न",
  "म",
  "स्",
  "ते",
  "中",
  "文",
  "😀",
  "🇮🇳",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\u200d",
];
const whitespace = [" ", "  ", "\n", "\r\n", "\t", "\n  "];

/** A JSON string literal, with the escapes real senders use chosen at random. */
function stringLiteral(rng: Rng): string {
  let text = '"';
  const length = rng.int(12);
  for (let i = 0; i < length; i++) {
    const c = rng.pick(characters);
    for (const unit of c.split("")) {
      const code = unit.charCodeAt(0);
      if (unit === '"') text += '\\"';
      else if (unit === "\\") text += "\\\\";
      else if (unit === "/") text += rng.next() < 0.6 ? "\\/" : "/";
      else if (code < 0x20) {
        text += unit === "\n" && rng.next() < 0.5 ? "\\n" : "\\u" + hex4(code, rng);
      } else if (code > 0x7e && rng.next() < 0.5) text += "\\u" + hex4(code, rng);
      else text += unit;
    }
  }
  return text + '"';
}

function hex4(code: number, rng: Rng): string {
  const text = code.toString(16).padStart(4, "0");
  return rng.next() < 0.5 ? text : text.toUpperCase();
}

/** A JSON number as a sender might spell it: big integers, decimals, exponents, -0. */
function numberLiteral(rng: Rng): string {
  switch (rng.int(8)) {
    case 0:
      return String(rng.int(100000));
    case 1: // beyond 2^53: JSON.parse rounds it
      return "9" + Array.from({ length: 16 + rng.int(10) }, () => rng.int(10)).join("");
    case 2:
      return `${rng.int(1000)}.${rng.int(100)}0`;
    case 3:
      return `${rng.int(9) + 1}e${rng.int(30)}`;
    case 4:
      return `-${rng.int(100000)}`;
    case 5:
      return "1.0";
    case 6:
      return "-0";
    default:
      return String(rng.int(50000000) * 100); // paise
  }
}

function ws(rng: Rng): string {
  return rng.next() < 0.7 ? "" : rng.pick(whitespace);
}

function valueLiteral(rng: Rng, depth: number): string {
  const kind = depth > 3 ? rng.int(4) : rng.int(6);
  if (kind === 0) return stringLiteral(rng);
  if (kind === 1) return numberLiteral(rng);
  if (kind === 2) return rng.pick(["true", "false", "null"]);
  if (kind === 3) return stringLiteral(rng);
  if (kind === 4) {
    const items = Array.from({ length: rng.int(4) }, () => ws(rng) + valueLiteral(rng, depth + 1));
    return "[" + items.join(ws(rng) + ",") + ws(rng) + "]";
  }
  return objectLiteral(rng, depth + 1);
}

function objectLiteral(rng: Rng, depth: number, fields: string[] = []): string {
  const members = [...fields];
  for (let i = rng.int(5); i > 0; i--) {
    members.push(`${ws(rng)}${stringLiteral(rng)}${ws(rng)}:${ws(rng)}${valueLiteral(rng, depth)}`);
  }
  return "{" + members.join(",") + ws(rng) + "}";
}

/** A random body: half of them shaped like Razorpay's envelope, all with random spellings. */
function payload(rng: Rng): string {
  if (rng.next() < 0.5) return ws(rng) + objectLiteral(rng, 0) + ws(rng);
  const envelope = [
    `"entity":"event"`,
    `"account_id":"acc_${"BFQ7uQEaa7j2z7".slice(rng.int(3))}"`,
    `"event":${rng.pick(['"payment.captured"', '"order.paid"', '"payment_link.paid"'])}`,
    `"contains":["payment"]`,
    `"payload":{"payment":{"entity":${objectLiteral(rng, 1, [`"amount":${numberLiteral(rng)}`])}}}`,
    `"created_at":${numberLiteral(rng)}`,
  ];
  return objectLiteral(rng, 0, envelope);
}

/** `text` with one character (code point) replaced by a different one. */
function changeOneCharacter(text: string, rng: Rng): string {
  const points = Array.from(text);
  const at = rng.int(points.length);
  let replacement = rng.pick(characters);
  while (replacement === points[at]) replacement = rng.pick(characters);
  points[at] = replacement;
  return points.join("");
}

Deno.test("razorpay webhook property: 10,000 random bodies, none valid refused, none altered accepted", async () => {
  const given = Deno.env.get("RAZORPAY_PROPERTY_SEED");
  const seed = given ? Number(given) : crypto.getRandomValues(new Uint32Array(1))[0];
  const rng = prng(seed);
  const encoder = new TextEncoder();
  let reserialisedChecked = 0;
  let iteration = 0;
  try {
    for (; iteration < 10_000; iteration++) {
      const body = payload(rng);
      JSON.parse(body); // the generator makes valid JSON only
      const secret = rng.next() < 0.2
        ? `sécret-${rng.int(1e9)}-₹`
        : `whsec_${rng.int(1e9).toString(36)}${rng.int(1e9).toString(36)}`;
      const signature = await webhookSignature(secret, body);
      assert.equal(signature, hex(secret, body), "WebCrypto and node:crypto disagree");
      const bytes = encoder.encode(body);
      const both = { current: secret, previous: secret + "-old" };
      const flipped = bytes.slice();
      flipped[rng.int(flipped.length)] ^= 1 << rng.int(8);
      const reserialised = JSON.stringify(JSON.parse(body));
      if (reserialised !== body) reserialisedChecked++;
      const at = rng.int(64);
      const badSignature = signature.slice(0, at) + (signature[at] === "a" ? "b" : "a") +
        signature.slice(at + 1);
      const checks: Array<
        [string, string | Uint8Array, string, { current: string; previous?: string }, string | null]
      > = [
        // Valid: as text, as bytes, and as the previous secret during a rotation.
        ["valid text", body, signature, { current: secret }, "current"],
        ["valid bytes", bytes, signature, { current: secret }, "current"],
        [
          "valid, previous",
          body,
          signature,
          { current: secret + "-new", previous: secret },
          "previous",
        ],
        // Altered: one character, one byte, whitespace appended, re-serialised, signature changed.
        ["one character", changeOneCharacter(body, rng), signature, both, null],
        ["one byte", flipped, signature, both, null],
        ["whitespace", body + rng.pick(whitespace), signature, both, null],
        ["signature", body, badSignature, both, null],
      ];
      if (reserialised !== body) {
        checks.push(["re-serialised", reserialised, signature, both, null]);
      }
      const answers = await Promise.all(
        checks.map(([, data, sig, secrets]) => verifyWebhookSignature(data, sig, secrets)),
      );
      checks.forEach(([what, , , , expected], i) => assert.equal(answers[i], expected, what));
    }
    // Most bodies carry an escape, a big number or whitespace, so re-serialising changes them.
    assert.ok(reserialisedChecked > 7_000, `only ${reserialisedChecked} re-serialised bodies`);
  } catch (error) {
    console.error(
      `razorpay property test failed at iteration ${iteration}; replay with ` +
        `RAZORPAY_PROPERTY_SEED=${seed}`,
    );
    throw error;
  }
});
