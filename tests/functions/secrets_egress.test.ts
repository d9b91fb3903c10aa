// The egress guard (functions/_shared/egress_guard.ts, in every createApp): a response body
// holding a configured secret is withheld as a 500 problem and an error is logged naming the
// variable, never the value; everything else passes untouched. Also: which variables count as
// secrets, so that a secret added later under a new name is not missed.
import assert from "node:assert/strict";
import { createApp } from "../../functions/_shared/app.ts";
import {
  configVariables,
  isSecretVariable,
  parseConfig,
  secretVariables,
} from "../../functions/_shared/config.ts";
import { configuredSecrets, secretIn } from "../../functions/_shared/egress_guard.ts";
import { ProblemError } from "../../functions/_shared/errors.ts";

const botToken = `123456:${crypto.randomUUID()}`;
const dbPassword = `db-${crypto.randomUUID()}`;
const cfg = parseConfig({
  FUNCTIONS_DB_URL: `postgresql://api_authenticator:${dbPassword}@127.0.0.1:1/postgres`,
  TELEGRAM_BOT_TOKEN: botToken,
  TWILIO_AUTH_TOKEN: "short-tok", // under 12 characters: too short to look for
  TWILIO_ACCOUNT_SID: "AC" + "0".repeat(32),
  LOG_LEVEL: "error",
});

/** An app on `cfg` with routes that leak, each in its own way. */
function leakyApp() {
  const app = createApp("leaky", { config: () => cfg });
  app.get("/json", (c) => c.json({ hint: `token ${botToken} here` }));
  app.get("/text", (c) => c.text(`password=${dbPassword}`));
  app.get("/problem", () => {
    throw new ProblemError(502, "Bad Gateway", `Telegram said: bad token ${botToken}`);
  });
  app.get("/clean", (c) => c.json({ ok: true, sid: cfg.TWILIO_ACCOUNT_SID }));
  app.get("/short", (c) => c.text("a short-tok is no secret worth the name"));
  app.get("/pdf", (c) => c.body(botToken, 200, { "content-type": "application/pdf" }));
  app.get(
    "/stream",
    (c) => c.body(`data: ${botToken}\n\n`, 200, { "content-type": "text/event-stream" }),
  );
  return app;
}

/** Runs `fn` with console.error captured; answers what it returned and the lines written. */
async function capturingErrors<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    return { value: await fn(), lines };
  } finally {
    console.error = original;
  }
}

Deno.test("egress guard: a body holding a secret is withheld, the log names only the key", async () => {
  const app = leakyApp();
  for (
    const [path, key] of [
      ["/json", "TELEGRAM_BOT_TOKEN"],
      ["/text", "FUNCTIONS_DB_URL (password)"],
      ["/problem", "TELEGRAM_BOT_TOKEN"],
    ]
  ) {
    const { value: response, lines } = await capturingErrors(() =>
      Promise.resolve(app.request(`/leaky${path}`))
    );
    assert.equal(response.status, 500, path);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.match(response.headers.get("x-request-id") ?? "", /.+/, "the request id is kept");
    const body = await response.text();
    assert.equal(
      JSON.parse(body).detail,
      "The response was withheld: it would have " +
        "disclosed a server secret.",
    );
    assert.ok(!body.includes(botToken) && !body.includes(dbPassword), path);
    const withheld = lines.map((line) => JSON.parse(line)).filter((entry) =>
      entry.msg === "response withheld: it contained a configured secret"
    );
    assert.equal(withheld.length, 1, path);
    assert.equal(withheld[0].config_key, key);
    assert.equal(withheld[0].path, `/leaky${path}`);
    const logged = lines.join("\n");
    assert.ok(!logged.includes(botToken) && !logged.includes(dbPassword), path);
  }
});

Deno.test("egress guard: clean, binary and streamed bodies pass untouched", async () => {
  const app = leakyApp();
  const { value, lines } = await capturingErrors(async () => {
    const clean = await app.request("/leaky/clean");
    const short = await app.request("/leaky/short");
    const pdf = await app.request("/leaky/pdf");
    const stream = await app.request("/leaky/stream");
    return {
      clean: [clean.status, await clean.json()],
      short: [short.status, await short.text()],
      pdf: [pdf.status, await pdf.text()],
      stream: [stream.status, await stream.text()],
    };
  });
  assert.deepEqual(value.clean, [200, { ok: true, sid: cfg.TWILIO_ACCOUNT_SID }]);
  assert.deepEqual(value.short, [200, "a short-tok is no secret worth the name"]);
  // Not read: a PDF's bytes and an event stream (reading would hold the stream back).
  assert.deepEqual(value.pdf, [200, botToken]);
  assert.deepEqual(value.stream, [200, `data: ${botToken}\n\n`]);
  assert.deepEqual(lines, []);
});

Deno.test("egress guard: the values looked for are the configuration's secrets", () => {
  const secrets = configuredSecrets(cfg);
  assert.deepEqual(secrets.map((secret) => secret.name).sort(), [
    "FUNCTIONS_DB_URL (password)",
    "TELEGRAM_BOT_TOKEN",
  ]);
  assert.equal(secretIn(`x${botToken}y`, secrets), "TELEGRAM_BOT_TOKEN");
  assert.equal(secretIn(botToken.slice(0, -1), secrets), null);
});

Deno.test("secrets: every variable named like a secret is one, or is known not to be", () => {
  // Names that look like secrets but are not: ids, issuers, public keys, rotation instants.
  const notSecret = /(_ID|_ISSUER|_UNTIL|PUBLIC_KEY(_PREVIOUS)?|_URL|_SECONDS)$/;
  const looksSecret = /KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|PRIVATE/;
  const unclassified = configVariables.filter((name) =>
    looksSecret.test(name) && !isSecretVariable(name) && !notSecret.test(name)
  );
  assert.deepEqual(unclassified, []);
  for (
    const name of [
      "SUPABASE_JWT_SECRET",
      "SUPABASE_JWT_SECRET_PREVIOUS",
      "TWILIO_AUTH_TOKEN",
      "TWILIO_AUTH_TOKEN_PREVIOUS",
      "AWS_SECRET_ACCESS_KEY",
      "STORAGE_S3_SECRET_ACCESS_KEY",
      "WHATSAPP_ACCESS_TOKEN",
      "WHATSAPP_APP_SECRET",
      "WHATSAPP_VERIFY_TOKEN_PREVIOUS",
      "RAZORPAY_KEY_SECRET",
      "RAZORPAY_WEBHOOK_SECRET_PREVIOUS",
      "OPENAI_API_KEY",
      "SENDGRID_API_KEY",
      "TELEGRAM_BOT_TOKEN",
      "SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS",
      "FACEBOOK_APP_SECRET",
      "X_CLIENT_SECRET",
      "LINKEDIN_CLIENT_SECRET",
    ]
  ) assert.ok(secretVariables.includes(name), name);
  for (
    const name of [
      "TWILIO_ACCOUNT_SID",
      "AWS_ACCESS_KEY_ID",
      "SENDGRID_WEBHOOK_PUBLIC_KEY",
      "TWILIO_AUTH_TOKEN_PREVIOUS_UNTIL",
      "FUNCTIONS_DB_URL",
      "TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS",
    ]
  ) assert.ok(!secretVariables.includes(name), name);
});
