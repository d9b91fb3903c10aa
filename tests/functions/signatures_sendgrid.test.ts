// SendGrid Event Webhook signatures: the verifier (functions/_shared/signatures/sendgrid.ts,
// node:crypto) against the vectors sendgrid-nodejs publishes (VENDORS.md §9), the signer
// (sandbox/sign.ts, WebCrypto, DER converted by hand) against the verifier, and refusals.
import assert from "node:assert/strict";
import { ecdsaP1363ToDer, sendgridKeyPair, sendgridSignature } from "../../sandbox/sign.ts";
import { verifySendgridSignature } from "../../functions/_shared/signatures/sendgrid.ts";

// sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js (also in sendgrid-php,
// -python, -ruby): the spec's one-event `dropped` array, compact JSON, then "\r\n".
const publicKey =
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const signature =
  "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const timestamp = "1600112502";
const body = JSON.stringify([{
  email: "hello@world.com",
  event: "dropped",
  reason: "Bounced Address",
  sg_event_id: "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
  sg_message_id: "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
  "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
  timestamp: 1600112492,
}]) + "\r\n";
// The SDK's "invalid key" and "bad signature" fixtures.
const otherKey =
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
const otherSignature =
  "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
const signedAt = { now: new Date(Number(timestamp) * 1000) };

Deno.test("sendgrid verify: the SDK's published vector, body reproduced byte for byte", async () => {
  assert.equal(body.length, 327); // compact JSON, keys in the spec's order, then CR LF
  assert.equal(
    await verifySendgridSignature(publicKey, signature, timestamp, body, signedAt),
    true,
  );
  const bytes = new TextEncoder().encode(body);
  assert.equal(
    await verifySendgridSignature(publicKey, signature, timestamp, bytes, signedAt),
    true,
  );
  // Within the tolerance either side; with none, any age.
  const later = { now: new Date((Number(timestamp) + 300) * 1000) };
  assert.equal(await verifySendgridSignature(publicKey, signature, timestamp, body, later), true);
  const earlier = { now: new Date((Number(timestamp) - 300) * 1000) };
  assert.equal(await verifySendgridSignature(publicKey, signature, timestamp, body, earlier), true);
  assert.equal(
    await verifySendgridSignature(publicKey, signature, timestamp, body, {
      toleranceSeconds: Infinity,
    }),
    true,
  );
});

Deno.test("sendgrid verify: the SDK's earlier vector (one object, no trailing CRLF)", async () => {
  assert.equal(
    await verifySendgridSignature(
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
      "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=",
      "1588788367",
      JSON.stringify({
        category: "example_payload",
        event: "test_event",
        message_id: "message_id",
      }),
      { now: new Date(1588788367_000) },
    ),
    true,
  );
});

Deno.test("sendgrid verify: refuses the SDK's bad key, bad signature, bad payload, bad timestamp", async () => {
  assert.equal(
    await verifySendgridSignature(otherKey, signature, timestamp, body, signedAt),
    false,
  );
  assert.equal(
    await verifySendgridSignature(publicKey, otherSignature, timestamp, body, signedAt),
    false,
  );
  assert.equal(
    await verifySendgridSignature(publicKey, signature, timestamp, "payload", signedAt),
    false,
  );
  assert.equal(
    await verifySendgridSignature(publicKey, signature, "timestamp", body, signedAt),
    false,
  );
});

Deno.test("sendgrid verify: refuses missing headers, altered bytes, a stale or future timestamp", async () => {
  const verifyWith = (sig: string | null, ts: string | null, raw: string, options = signedAt) =>
    verifySendgridSignature(publicKey, sig, ts, raw, options);
  assert.equal(await verifyWith(null, timestamp, body), false);
  assert.equal(await verifyWith("", timestamp, body), false);
  assert.equal(await verifyWith(signature, null, body), false);
  assert.equal(await verifyWith(signature, "", body), false);
  assert.equal(await verifyWith(signature, "1600112503", body), false);
  assert.equal(await verifyWith(signature, " 1600112502", body), false);
  assert.equal(await verifyWith(signature, timestamp, body.trimEnd()), false); // "\r\n" is signed
  assert.equal(await verifyWith(signature, timestamp, body.replace("dropped", "deferred")), false);
  assert.equal(await verifyWith(signature.slice(0, -4), timestamp, body), false);
  assert.equal(await verifyWith("bm90IGEgc2lnbmF0dXJl", timestamp, body), false);
  // One second beyond the default 300 s tolerance, after or before; today's clock.
  const at = (seconds: number) => ({ now: new Date((Number(timestamp) + seconds) * 1000) });
  assert.equal(await verifyWith(signature, timestamp, body, at(301)), false);
  assert.equal(await verifyWith(signature, timestamp, body, at(-301)), false);
  assert.equal(await verifySendgridSignature(publicKey, signature, timestamp, body), false);
  assert.equal(
    await verifySendgridSignature(publicKey, signature, timestamp, body, {
      ...at(61),
      toleranceSeconds: 60,
    }),
    false,
  );
  assert.equal(
    await verifySendgridSignature(publicKey, signature, timestamp, body, {
      ...signedAt,
      toleranceSeconds: NaN,
    }),
    false,
  );
  // A key that is not a P-256 public key, or not a key at all.
  assert.equal(await verifySendgridSignature("", signature, timestamp, body, signedAt), false);
  assert.equal(
    await verifySendgridSignature("bm90IGEga2V5", signature, timestamp, body, signedAt),
    false,
  );
});

Deno.test("sendgrid: sign -> verify round trips with a fresh key pair", async () => {
  const pair = await sendgridKeyPair();
  assert.match(pair.publicKey, /^MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/); // P-256 SPKI header
  const now = new Date();
  const ts = String(Math.floor(now.getTime() / 1000));
  const events = JSON.stringify([{
    email: "a@example.test",
    event: "delivered",
    sg_event_id: crypto.randomUUID(),
    sg_message_id: "abc.filter0001",
    timestamp: Number(ts),
    custom_args: { message_id: crypto.randomUUID() },
  }]) + "\r\n";
  for (let i = 0; i < 16; i++) {
    const raw = events.replace("delivered", `delivered${i}`);
    const sig = await sendgridSignature(pair.privateKey, ts, raw);
    // A DER SEQUENCE of two INTEGERs: 70 bytes at most, fewer when r or s has leading zero bytes
    // (about one signature in 128), never a fixed prefix.
    const der = Uint8Array.from(atob(sig), (char) => char.charCodeAt(0));
    assert.deepEqual([der[0], der[1], der[2]], [0x30, der.length - 2, 0x02]);
    assert.ok(der.length >= 8 && der.length <= 72, `DER of ${der.length} bytes`);
    assert.equal(await verifySendgridSignature(pair.publicKey, sig, ts, raw, { now }), true);
    assert.equal(await verifySendgridSignature(publicKey, sig, ts, raw, { now }), false);
    assert.equal(
      await verifySendgridSignature(pair.publicKey, sig, ts, raw + " ", { now }),
      false,
    );
  }
});

Deno.test("sendgrid sign: r‖s to DER, minimal and positive integers", () => {
  const r = new Uint8Array(32).fill(1);
  r.set([0x00, 0x00, 0x7f]); // two leading zero bytes to drop, high bit clear
  const s = new Uint8Array(32);
  s[0] = 0x80; // high bit set: a 0x00 goes in front
  const raw = new Uint8Array(64);
  raw.set(r);
  raw.set(s, 32);
  const expected = [0x30, 2 + 30 + 2 + 33, 0x02, 30, ...r.subarray(2), 0x02, 33, 0x00, ...s];
  assert.deepEqual([...ecdsaP1363ToDer(raw)], expected);
  // A zero integer stays one byte.
  assert.deepEqual([...ecdsaP1363ToDer(new Uint8Array(64))], [0x30, 6, 0x02, 1, 0, 0x02, 1, 0]);
});
