// Secret rotation without downtime (issue 13): for every vendor webhook and for our own JWT
// secret, the current value is always accepted, the previous one inside its window
// (NAME_PREVIOUS_UNTIL ahead, or unset), refused after it, and an unknown secret never. The
// routes run in-process with a configuration of their own and a recorder that writes nothing.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { createApp } from "../../functions/_shared/app.ts";
import { verifyToken } from "../../functions/_shared/auth.ts";
import { type Config, parseConfig } from "../../functions/_shared/config.ts";
import {
  acceptedSecrets,
  matchSecret,
  rotatingSecretNames,
} from "../../functions/_shared/secrets.ts";
import { webhookSignature } from "../../functions/_shared/signatures/razorpay.ts";
import type { RecordEvents, VendorEvent, WebhookDeps } from "../../functions/webhooks/events.ts";
import { razorpayRoutes } from "../../functions/webhooks/razorpay.ts";
import { sendgridRoutes } from "../../functions/webhooks/sendgrid.ts";
import { twilioRoutes } from "../../functions/webhooks/twilio.ts";
import { whatsappRoutes } from "../../functions/webhooks/whatsapp.ts";
import {
  sendgridKeyPair,
  sendgridSignature,
  twilioSignature,
  whatsappSignature,
} from "../../sandbox/sign.ts";

const base = {
  FUNCTIONS_DB_URL: "postgresql://api_authenticator:pw@127.0.0.1:1/postgres",
  LOG_LEVEL: "error",
};
const hourMs = 3_600_000;
const future = () => new Date(Date.now() + hourMs).toISOString();
const past = () => new Date(Date.now() - hourMs).toISOString();
const random = (label: string) => `${label}-${crypto.randomUUID()}-${crypto.randomUUID()}`;

/** The three windows each vendor is tried in: previous with a future end, none, a past end. */
const windows = [
  { name: "inside the window", until: future, previousAccepted: true },
  { name: "with no end set", until: () => undefined, previousAccepted: true },
  { name: "after the window", until: past, previousAccepted: false },
] as const;

/** An app serving one vendor's routes on `cfg`, recording deliveries in memory. */
function appFor(
  cfg: Config,
  routes: (deps: WebhookDeps) => ReturnType<typeof twilioRoutes>,
  recorded: VendorEvent[][],
) {
  const record: RecordEvents = (_provider, events) => {
    recorded.push(events);
    return Promise.resolve({
      received: events.length,
      new: events.length,
      messages_moved: 0,
      suppressed: 0,
      opted_out: 0,
    });
  };
  const deps: WebhookDeps = { config: () => cfg, record, fetch };
  return createApp("webhooks").route("/", routes(deps));
}

// ---------------------------------------------------------------------------------------------
// The helper

Deno.test("secrets: the previous value is accepted until its instant, then dropped", () => {
  const cfg = parseConfig({
    ...base,
    TWILIO_AUTH_TOKEN: "current-token",
    TWILIO_AUTH_TOKEN_PREVIOUS: "previous-token",
    TWILIO_AUTH_TOKEN_PREVIOUS_UNTIL: "2026-12-01T06:00:00+05:30",
  });
  const before = acceptedSecrets(cfg, "TWILIO_AUTH_TOKEN", new Date("2026-12-01T00:29:59Z"));
  assert.deepEqual(before, {
    name: "TWILIO_AUTH_TOKEN",
    current: "current-token",
    previous: "previous-token",
  });
  // 06:00 IST is 00:30 UTC: the instant itself is already refused.
  const at = acceptedSecrets(cfg, "TWILIO_AUTH_TOKEN", new Date("2026-12-01T00:30:00Z"));
  assert.equal(at.previous, undefined);
  assert.equal(at.current, "current-token");
  // Without an end, for as long as it is configured; equal to the current one, dropped.
  const open = parseConfig({ ...base, TWILIO_AUTH_TOKEN: "a", TWILIO_AUTH_TOKEN_PREVIOUS: "b" });
  assert.equal(acceptedSecrets(open, "TWILIO_AUTH_TOKEN", new Date(8.64e15)).previous, "b");
  const same = parseConfig({ ...base, TWILIO_AUTH_TOKEN: "a", TWILIO_AUTH_TOKEN_PREVIOUS: "a" });
  assert.equal(acceptedSecrets(same, "TWILIO_AUTH_TOKEN").previous, undefined);
});

Deno.test("secrets: every rotating secret has _PREVIOUS and a validated _PREVIOUS_UNTIL", () => {
  assert.equal(rotatingSecretNames.length, 6);
  for (const name of rotatingSecretNames) {
    const value = name === "SUPABASE_JWT_SECRET"
      ? "rotation-test-jwt-secret-of-40-characters"
      : "value";
    const ok = parseConfig({
      ...base,
      [name]: value,
      [`${name}_PREVIOUS`]: value + "-old",
      [`${name}_PREVIOUS_UNTIL`]: "2026-12-01T06:00:00Z",
    });
    assert.equal(
      acceptedSecrets(ok, name, new Date("2026-12-01T05:59:59Z")).previous,
      value + "-old",
    );
    // Not an instant (no zone, a date, words): the configuration fails naming the variable,
    // never echoing the previous secret.
    for (const bad of ["2026-12-01T06:00:00", "2026-12-01", "next tuesday"]) {
      assert.throws(
        () =>
          parseConfig({
            ...base,
            [`${name}_PREVIOUS`]: value + "-old",
            [`${name}_PREVIOUS_UNTIL`]: bad,
          }),
        (error: Error) =>
          error.message.includes(`${name}_PREVIOUS_UNTIL`) &&
          !error.message.includes(value + "-old"),
      );
    }
  }
});

Deno.test("secrets: matchSecret tries both values and says which matched", async () => {
  const secrets = { name: "TWILIO_AUTH_TOKEN" as const, current: "c", previous: "p" };
  const tried: string[] = [];
  const check = (wanted: string) => (secret: string) => {
    tried.push(secret);
    return secret === wanted;
  };
  assert.equal(await matchSecret(secrets, check("c")), "current");
  // The current one matching does not spare the check of the previous one.
  assert.deepEqual(tried.sort(), ["c", "p"]);
  assert.equal(await matchSecret(secrets, check("p")), "previous");
  assert.equal(await matchSecret(secrets, check("x")), null);
  assert.equal(await matchSecret({ ...secrets, previous: undefined }, check("p")), null);
  assert.equal(
    await matchSecret(secrets, () => {
      throw new Error("boom");
    }),
    null,
  );
});

// ---------------------------------------------------------------------------------------------
// Twilio: X-Twilio-Signature under TWILIO_AUTH_TOKEN or its previous value

for (const window of windows) {
  Deno.test(`secrets: Twilio's previous Auth Token ${window.name}`, async () => {
    const current = random("twilio-current");
    const previous = random("twilio-previous");
    const cfg = parseConfig({
      ...base,
      PUBLIC_FUNCTIONS_URL: "https://fn.py360.test/functions/v1",
      TWILIO_AUTH_TOKEN: current,
      TWILIO_AUTH_TOKEN_PREVIOUS: previous,
      TWILIO_AUTH_TOKEN_PREVIOUS_UNTIL: window.until(),
    });
    const recorded: VendorEvent[][] = [];
    const app = appFor(cfg, twilioRoutes, recorded);
    const params = { MessageSid: "SM" + "1".repeat(32), MessageStatus: "delivered" };
    const post = async (token: string) =>
      (await app.request("/webhooks/twilio", {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": await twilioSignature(
            token,
            "https://fn.py360.test/functions/v1/webhooks/twilio",
            params,
          ),
        },
        body: new URLSearchParams(params).toString(),
      })).status;
    assert.equal(await post(current), 204);
    assert.equal(await post(previous), window.previousAccepted ? 204 : 401);
    assert.equal(await post(random("twilio-unknown")), 401);
    assert.equal(recorded.length, window.previousAccepted ? 2 : 1);
  });
}

// ---------------------------------------------------------------------------------------------
// WhatsApp: X-Hub-Signature-256 under WHATSAPP_APP_SECRET, and the GET verify token

for (const window of windows) {
  Deno.test(`secrets: WhatsApp's previous app secret and verify token ${window.name}`, async () => {
    const current = random("wa-current");
    const previous = random("wa-previous");
    const verifyCurrent = random("wa-verify-current");
    const verifyPrevious = random("wa-verify-previous");
    const cfg = parseConfig({
      ...base,
      WHATSAPP_APP_SECRET: current,
      WHATSAPP_APP_SECRET_PREVIOUS: previous,
      WHATSAPP_APP_SECRET_PREVIOUS_UNTIL: window.until(),
      WHATSAPP_VERIFY_TOKEN: verifyCurrent,
      WHATSAPP_VERIFY_TOKEN_PREVIOUS: verifyPrevious,
      WHATSAPP_VERIFY_TOKEN_PREVIOUS_UNTIL: window.until(),
    });
    const recorded: VendorEvent[][] = [];
    const app = appFor(cfg, whatsappRoutes, recorded);
    const body = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{
        changes: [{
          field: "messages",
          value: { statuses: [{ id: "wamid.rotation", status: "delivered" }] },
        }],
      }],
    });
    const post = async (secret: string) =>
      (await app.request("/webhooks/whatsapp", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-hub-signature-256": await whatsappSignature(secret, body),
        },
        body,
      })).status;
    assert.equal(await post(current), 200);
    assert.equal(await post(previous), window.previousAccepted ? 200 : 401);
    assert.equal(await post(random("wa-unknown")), 401);
    assert.equal(recorded.length, window.previousAccepted ? 2 : 1);

    const handshake = async (token: string) => {
      const query = new URLSearchParams({
        "hub.mode": "subscribe",
        "hub.verify_token": token,
        "hub.challenge": "1158201444",
      });
      const response = await app.request(`/webhooks/whatsapp?${query}`);
      return { status: response.status, text: await response.text() };
    };
    assert.deepEqual(await handshake(verifyCurrent), { status: 200, text: "1158201444" });
    const old = await handshake(verifyPrevious);
    assert.equal(old.status, window.previousAccepted ? 200 : 403);
    assert.equal((await handshake(random("wa-verify-unknown"))).status, 403);
    // A refusal never echoes either token.
    assert.ok(!old.text.includes(verifyCurrent) && !old.text.includes(verifyPrevious));
  });
}

// ---------------------------------------------------------------------------------------------
// Razorpay: X-Razorpay-Signature under RAZORPAY_WEBHOOK_SECRET; signed_with goes to the ingest

for (const window of windows) {
  Deno.test(`secrets: Razorpay's previous webhook secret ${window.name}`, async () => {
    const current = random("rzp-current");
    const previous = random("rzp-previous");
    const cfg = parseConfig({
      ...base,
      RAZORPAY_WEBHOOK_SECRET: current,
      RAZORPAY_WEBHOOK_SECRET_PREVIOUS: previous,
      RAZORPAY_WEBHOOK_SECRET_PREVIOUS_UNTIL: window.until(),
    });
    const ingested: string[] = [];
    const deps: WebhookDeps = {
      config: () => cfg,
      record: () => Promise.reject(new Error("not used")),
      fetch,
    };
    const app = createApp("webhooks").route(
      "/",
      razorpayRoutes(deps, (_id, _body, signedWith) => {
        ingested.push(signedWith);
        return Promise.resolve("applied");
      }),
    );
    const body = JSON.stringify({
      entity: "event",
      event: "payment.captured",
      payload: {},
      created_at: 1764540000,
    });
    const post = async (secret: string) =>
      (await app.request("/webhooks/razorpay", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-razorpay-signature": await webhookSignature(secret, body),
          "x-razorpay-event-id": "evt_rotation00001",
        },
        body,
      })).status;
    assert.equal(await post(current), 200);
    assert.equal(await post(previous), window.previousAccepted ? 200 : 401);
    assert.equal(await post(random("rzp-unknown")), 401);
    assert.deepEqual(ingested, window.previousAccepted ? ["current", "previous"] : ["current"]);
  });
}

// ---------------------------------------------------------------------------------------------
// SendGrid: ECDSA under SENDGRID_WEBHOOK_PUBLIC_KEY or the key before it was regenerated

for (const window of windows) {
  Deno.test(`secrets: SendGrid's previous verification key ${window.name}`, async () => {
    const [current, previous, unknown] = await Promise.all([
      sendgridKeyPair(),
      sendgridKeyPair(),
      sendgridKeyPair(),
    ]);
    const cfg = parseConfig({
      ...base,
      SENDGRID_WEBHOOK_PUBLIC_KEY: current.publicKey,
      SENDGRID_WEBHOOK_PUBLIC_KEY_PREVIOUS: previous.publicKey,
      SENDGRID_WEBHOOK_PUBLIC_KEY_PREVIOUS_UNTIL: window.until(),
    });
    const recorded: VendorEvent[][] = [];
    const app = appFor(cfg, sendgridRoutes, recorded);
    const body = JSON.stringify([{
      email: "rotation@py360.test",
      event: "delivered",
      sg_event_id: "rotation-event",
      sg_message_id: "rotation.filter",
      timestamp: 1764540000,
    }]) + "\r\n";
    const post = async (privateKey: CryptoKey) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      return (await app.request("/webhooks/sendgrid", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-twilio-email-event-webhook-signature": await sendgridSignature(
            privateKey,
            timestamp,
            body,
          ),
          "x-twilio-email-event-webhook-timestamp": timestamp,
        },
        body,
      })).status;
    };
    assert.equal(await post(current.privateKey), 200);
    assert.equal(await post(previous.privateKey), window.previousAccepted ? 200 : 401);
    assert.equal(await post(unknown.privateKey), 401);
    assert.equal(recorded.length, window.previousAccepted ? 2 : 1);
  });
}

// ---------------------------------------------------------------------------------------------
// Our own tokens: HS256 under SUPABASE_JWT_SECRET or its previous value

function serviceKey(secret: string, claims: { exp?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("supabase")
    .setIssuedAt(now - 60)
    .setExpirationTime(claims.exp ?? now + 3600)
    .sign(new TextEncoder().encode(secret));
}

async function refusal(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    return (error as { status?: number; detail?: string }).status + " " +
      (error as { detail?: string }).detail;
  }
}

for (const window of windows) {
  Deno.test(`secrets: tokens signed with the previous JWT secret ${window.name}`, async () => {
    const current = random("jwt-current");
    const previous = random("jwt-previous");
    const cfg = parseConfig({
      ...base,
      SUPABASE_JWT_SECRET: current,
      SUPABASE_JWT_SECRET_PREVIOUS: previous,
      SUPABASE_JWT_SECRET_PREVIOUS_UNTIL: window.until(),
    });
    const verify = async (token: string) => await verifyToken(token, () => cfg);
    assert.equal((await verify(await serviceKey(current))).role, "service_role");
    const old = refusal(verify(await serviceKey(previous)));
    assert.equal(
      await old,
      window.previousAccepted ? null : "401 The token could not be verified.",
    );
    assert.equal(
      await refusal(verify(await serviceKey(random("jwt-unknown")))),
      "401 The token could not be verified.",
    );
    // An expired token signed with an accepted key says so, whichever key signed it.
    const expired = { exp: Math.floor(Date.now() / 1000) - 10 };
    assert.equal(
      await refusal(verify(await serviceKey(current, expired))),
      "401 The token has expired.",
    );
    assert.equal(
      await refusal(verify(await serviceKey(previous, expired))),
      window.previousAccepted
        ? "401 The token has expired."
        : "401 The token could not be verified.",
    );
  });
}
