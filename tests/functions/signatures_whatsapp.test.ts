// WhatsApp X-Hub-Signature-256: the signer (sandbox/sign.ts, WebCrypto) and the verifier
// (functions/_shared/signatures/whatsapp.ts, node:crypto) against a published HMAC-SHA256 vector
// (RFC 4231 test case 2; VENDORS.md gives no Meta vector), against each other, and refusals.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { whatsappSignature } from "../../sandbox/sign.ts";
import { verifyWhatsappSignature } from "../../functions/_shared/signatures/whatsapp.ts";
import { timingSafeEqualText } from "../../functions/_shared/signatures/compare.ts";

// RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
const rfcSecret = "Jefe";
const rfcBody = "what do ya want for nothing?";
const rfcHeader = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

// A status callback as Meta serialises it: non-ASCII escaped as \uXXXX, "/" escaped.
const body = String.raw`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398",` +
  String.raw`"changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":[` +
  String.raw`{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA","status":"read",` +
  String.raw`"timestamp":"1750000000","recipient_id":"919810150461"}],"contacts":[{"profile":` +
  String.raw`{"name":"\u0930\u093e\u092e"},"wa_id":"919810150461"}],"note":"a\/b"}}]}]}`;

Deno.test("whatsapp sign: the RFC 4231 HMAC-SHA256 vector, with the sha256= prefix", async () => {
  assert.equal(await whatsappSignature(rfcSecret, rfcBody), rfcHeader);
  assert.equal(await whatsappSignature(rfcSecret, new TextEncoder().encode(rfcBody)), rfcHeader);
});

Deno.test("whatsapp verify: the RFC 4231 vector, as text or bytes", async () => {
  assert.equal(await verifyWhatsappSignature(rfcSecret, rfcHeader, rfcBody), true);
  const bytes = new TextEncoder().encode(rfcBody);
  assert.equal(await verifyWhatsappSignature(rfcSecret, rfcHeader, bytes), true);
});

Deno.test("whatsapp: sign -> verify round trip over the escaped bytes", async () => {
  const secret = crypto.randomUUID().replaceAll("-", "");
  const header = await whatsappSignature(secret, body);
  assert.match(header, /^sha256=[0-9a-f]{64}$/);
  assert.equal(await verifyWhatsappSignature(secret, header, body), true);
  // The same JSON re-serialised (escapes undone) is other bytes: refused.
  const reserialised = JSON.stringify(JSON.parse(body));
  assert.notEqual(reserialised, body);
  assert.deepEqual(JSON.parse(reserialised), JSON.parse(body));
  assert.equal(await verifyWhatsappSignature(secret, header, reserialised), false);
});

Deno.test("whatsapp verify: refuses a missing or malformed header, a wrong secret, a changed body", async () => {
  const secret = "0123456789abcdef0123456789abcdef";
  const header = await whatsappSignature(secret, body);
  const hexPart = header.slice("sha256=".length);
  for (
    const bad of [
      null,
      "",
      "sha256=",
      hexPart, // no prefix
      "sha1=" + hexPart,
      "SHA256=" + hexPart,
      "sha256=" + hexPart.toUpperCase(),
      header + " ",
      header.slice(0, -1),
      header.slice(0, -1) + (header.endsWith("0") ? "1" : "0"),
    ]
  ) {
    assert.equal(await verifyWhatsappSignature(secret, bad, body), false, String(bad));
  }
  assert.equal(await verifyWhatsappSignature(secret + "x", header, body), false);
  // An unset secret must not turn into a key anyone can use (WebCrypto will not sign with it).
  const emptyKeyHeader = "sha256=" + createHmac("sha256", "").update(body).digest("hex");
  assert.equal(await verifyWhatsappSignature("", emptyKeyHeader, body), false);
  assert.equal(await verifyWhatsappSignature(secret, header, body.replace("read", "sent")), false);
  assert.equal(await verifyWhatsappSignature(secret, header, body + "\n"), false);
});

Deno.test("timingSafeEqualText: equal only for the same bytes", () => {
  assert.equal(timingSafeEqualText("abc", "abc"), true);
  assert.equal(timingSafeEqualText("abc", "abd"), false);
  assert.equal(timingSafeEqualText("abc", "abcd"), false);
  assert.equal(timingSafeEqualText("", ""), true);
  assert.equal(timingSafeEqualText("é", "e\u0301"), false);
});
