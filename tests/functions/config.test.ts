import assert from "node:assert/strict";
import { ConfigError, configVariables, parseConfig } from "../../functions/_shared/config.ts";

const base = {
  FUNCTIONS_DB_URL: "postgresql://api_authenticator:pw@127.0.0.1:54322/postgres",
};

Deno.test("config: a vendor without credentials is disabled, naming what is missing", () => {
  const config = parseConfig({ ...base, TWILIO_ACCOUNT_SID: "AC123" });
  assert.deepEqual(config.vendors.twilio, {
    enabled: false,
    reason: "disabled: set TWILIO_AUTH_TOKEN",
  });
  assert.deepEqual(config.vendors.openai, {
    enabled: false,
    reason: "disabled: set OPENAI_API_KEY",
  });
});

Deno.test("config: a vendor with all its credentials is enabled", () => {
  const config = parseConfig({
    ...base,
    TWILIO_ACCOUNT_SID: "AC123",
    TWILIO_AUTH_TOKEN: "tok",
    AWS_ACCESS_KEY_ID: "AKIA",
    AWS_SECRET_ACCESS_KEY: "s",
    SES_FROM_EMAIL: "noreply@py360.test",
  });
  assert.deepEqual(config.vendors.twilio, { enabled: true });
  assert.deepEqual(config.vendors.ses, { enabled: true });
  assert.deepEqual(config.vendors.sns, { enabled: true });
});

Deno.test("config: blank credentials count as missing, and defaults fill base URLs", () => {
  const config = parseConfig({ ...base, OPENAI_API_KEY: "  " });
  assert.equal(config.vendors.openai.enabled, false);
  assert.equal(config.OPENAI_BASE_URL, "https://api.openai.com/v1");
  assert.equal(config.TWILIO_BASE_URL, "https://api.twilio.com");
  assert.equal(config.DB_POOL_SIZE, 5);
});

Deno.test("config: a base-URL override points a vendor at the sandbox", () => {
  const config = parseConfig({ ...base, OPENAI_BASE_URL: "http://127.0.0.1:4010/openai/v1" });
  assert.equal(config.OPENAI_BASE_URL, "http://127.0.0.1:4010/openai/v1");
});

Deno.test("config: bad core settings fail with every variable named and no value echoed", () => {
  const secret = "not-a-url-but-a-secret-value";
  let caught: unknown;
  try {
    parseConfig({ FUNCTIONS_DB_URL: secret, SUPABASE_JWT_SECRET: "short", DB_POOL_SIZE: "0" });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError);
  const names = caught.issues.map((issue) => issue.split(":")[0]).sort();
  assert.deepEqual(names, ["DB_POOL_SIZE", "FUNCTIONS_DB_URL", "SUPABASE_JWT_SECRET"]);
  assert.ok(!caught.message.includes(secret), "the message must not contain the value");
});

Deno.test("config: the functions' database URL is required; the platform's is not read", () => {
  assert.throws(() => parseConfig({}), /FUNCTIONS_DB_URL/);
  // On Supabase SUPABASE_DB_URL is the `postgres` login: it must not stand in for ours.
  assert.throws(
    () => parseConfig({ SUPABASE_DB_URL: "postgresql://postgres:pw@127.0.0.1:54322/postgres" }),
    /FUNCTIONS_DB_URL/,
  );
});

Deno.test("config: user tokens must come from the project's auth server by default", () => {
  assert.equal(
    parseConfig({ ...base, SUPABASE_URL: "https://abcd.supabase.co/" }).authIssuer,
    "https://abcd.supabase.co/auth/v1",
  );
  assert.equal(parseConfig(base).authIssuer, "http://127.0.0.1:54321/auth/v1");
  assert.equal(
    parseConfig({ ...base, JWT_ISSUER: "https://auth.example.com/auth/v1" }).authIssuer,
    "https://auth.example.com/auth/v1",
  );
});

Deno.test("config: API keys are expected from Supabase unless told otherwise", () => {
  assert.equal(parseConfig(base).API_KEY_ISSUER, "supabase");
  assert.equal(
    parseConfig({ ...base, API_KEY_ISSUER: "supabase-demo" }).API_KEY_ISSUER,
    "supabase-demo",
  );
});

Deno.test("config: the vendor variables of the providers and webhooks are read", () => {
  for (
    const name of [
      "TWILIO_MESSAGING_SERVICE_SID",
      "SMS_SENDER_ID",
      "SES_CONFIGURATION_SET",
      "SNS_SIGNING_CERT_URL_PATTERN",
      "WHATSAPP_APP_SECRET",
      "WHATSAPP_VERIFY_TOKEN",
      "SENDGRID_FROM_EMAIL",
      "SENDGRID_WEBHOOK_PUBLIC_KEY",
      "PUBLIC_FUNCTIONS_URL",
      "PROVIDER_TIMEOUT_MS",
    ]
  ) {
    assert.ok(configVariables.includes(name), name);
  }
});

Deno.test("config: the Graph API version is pinned, and the sandbox may replace the base", () => {
  assert.equal(parseConfig(base).GRAPH_BASE_URL, "https://graph.facebook.com/v21.0");
  assert.equal(
    parseConfig({ ...base, GRAPH_BASE_URL: "http://127.0.0.1:4010/graph/v21.0" }).GRAPH_BASE_URL,
    "http://127.0.0.1:4010/graph/v21.0",
  );
});

Deno.test("config: SendGrid needs a sender; the webhooks need their own secrets", () => {
  const partial = parseConfig({ ...base, SENDGRID_API_KEY: "SG.key", WHATSAPP_APP_SECRET: "s" });
  assert.deepEqual(partial.vendors.sendgrid, {
    enabled: false,
    reason: "disabled: set SENDGRID_FROM_EMAIL",
  });
  assert.deepEqual(partial.vendors.whatsapp_webhook, {
    enabled: false,
    reason: "disabled: set WHATSAPP_VERIFY_TOKEN",
  });
  assert.deepEqual(partial.vendors.sendgrid_webhook, {
    enabled: false,
    reason: "disabled: set SENDGRID_WEBHOOK_PUBLIC_KEY",
  });
  assert.deepEqual(partial.vendors.razorpay_webhook, {
    enabled: false,
    reason: "disabled: set RAZORPAY_WEBHOOK_SECRET",
  });
  const full = parseConfig({
    ...base,
    SENDGRID_API_KEY: "SG.key",
    SENDGRID_FROM_EMAIL: "noreply@py360.test",
    SENDGRID_WEBHOOK_PUBLIC_KEY: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
    WHATSAPP_APP_SECRET: "app-secret",
    WHATSAPP_VERIFY_TOKEN: "verify-me",
    RAZORPAY_WEBHOOK_SECRET: "whsec-current",
  });
  assert.deepEqual(full.vendors.sendgrid, { enabled: true });
  assert.deepEqual(full.vendors.razorpay_webhook, { enabled: true });
  assert.deepEqual(full.vendors.whatsapp_webhook, { enabled: true });
  assert.deepEqual(full.vendors.sendgrid_webhook, { enabled: true });
  // A malformed sender is treated as missing, not as a boot failure.
  const bad = parseConfig({ ...base, SENDGRID_API_KEY: "SG.key", SENDGRID_FROM_EMAIL: "nope" });
  assert.equal(bad.SENDGRID_FROM_EMAIL, undefined);
  assert.equal(bad.vendors.sendgrid.enabled, false);
});

Deno.test("config: vendors reach our functions at PUBLIC_FUNCTIONS_URL, else Supabase's", () => {
  assert.equal(parseConfig(base).publicFunctionsUrl, "http://127.0.0.1:54321/functions/v1");
  assert.equal(
    parseConfig({ ...base, SUPABASE_URL: "https://abcd.supabase.co/" }).publicFunctionsUrl,
    "https://abcd.supabase.co/functions/v1",
  );
  assert.equal(
    parseConfig({ ...base, PUBLIC_FUNCTIONS_URL: "https://hooks.py360.test/fn/" })
      .publicFunctionsUrl,
    "https://hooks.py360.test/fn",
  );
});

Deno.test("config: SNS certificate URLs follow AWS's rule unless the pattern is replaced", () => {
  const pattern = parseConfig(base).snsCertUrlPattern;
  const aws =
    "https://sns.ap-south-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem";
  assert.ok(pattern.test(aws));
  assert.ok(pattern.test("https://sns.cn-north-1.amazonaws.com.cn/cert.pem"));
  for (
    const url of [
      aws.replace("https:", "http:"),
      aws.replace(".pem", ".txt"),
      "https://sns.ap-south-1.amazonaws.com.evil.test/cert.pem",
      "https://evil.test/sns.ap-south-1.amazonaws.com/cert.pem",
      "https://sns.ap-south-1.amazonaws.com/cert.pem?x=.pem.evil",
    ]
  ) {
    assert.equal(pattern.test(url), false, url);
  }
  const local = parseConfig({
    ...base,
    SNS_SIGNING_CERT_URL_PATTERN: "^http://127\\.0\\.0\\.1:\\d+/aws/[^?#]*\\.pem$",
  }).snsCertUrlPattern;
  assert.ok(local.test("http://127.0.0.1:4010/aws/SimpleNotificationService-x.pem"));
  assert.throws(
    () => parseConfig({ ...base, SNS_SIGNING_CERT_URL_PATTERN: "(unclosed" }),
    /SNS_SIGNING_CERT_URL_PATTERN/,
  );
});

Deno.test("config: a provider call's deadline defaults to 10 s and is bounded", () => {
  assert.equal(parseConfig(base).PROVIDER_TIMEOUT_MS, 10_000);
  assert.equal(parseConfig({ ...base, PROVIDER_TIMEOUT_MS: "2500" }).PROVIDER_TIMEOUT_MS, 2_500);
  assert.throws(() => parseConfig({ ...base, PROVIDER_TIMEOUT_MS: "0" }), /PROVIDER_TIMEOUT_MS/);
});

Deno.test("config: the AI assistant is off unless ENABLE_AI_ASSISTANT is exactly true; its timeout is bounded", () => {
  assert.equal(parseConfig(base).ENABLE_AI_ASSISTANT, false);
  assert.equal(parseConfig({ ...base, ENABLE_AI_ASSISTANT: "true" }).ENABLE_AI_ASSISTANT, true);
  assert.equal(parseConfig({ ...base, ENABLE_AI_ASSISTANT: "false" }).ENABLE_AI_ASSISTANT, false);
  assert.equal(parseConfig({ ...base, ENABLE_AI_ASSISTANT: " " }).ENABLE_AI_ASSISTANT, false);
  for (const value of ["yes", "1", "TRUE"]) {
    assert.throws(
      () => parseConfig({ ...base, ENABLE_AI_ASSISTANT: value }),
      /ENABLE_AI_ASSISTANT: must be "true" or "false"/,
      value,
    );
  }
  assert.equal(parseConfig(base).AI_TIMEOUT_MS, 8_000);
  assert.equal(parseConfig({ ...base, AI_TIMEOUT_MS: "300" }).AI_TIMEOUT_MS, 300);
  assert.throws(() => parseConfig({ ...base, AI_TIMEOUT_MS: "50" }), /AI_TIMEOUT_MS/);
  assert.ok(
    configVariables.includes("ENABLE_AI_ASSISTANT") && configVariables.includes("AI_TIMEOUT_MS"),
  );
});

Deno.test("config: every rotating secret has _PREVIOUS and _PREVIOUS_UNTIL, the instant checked", () => {
  const names = [
    "SUPABASE_JWT_SECRET",
    "TWILIO_AUTH_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "RAZORPAY_WEBHOOK_SECRET",
    "SENDGRID_WEBHOOK_PUBLIC_KEY",
  ];
  for (const name of names) {
    assert.ok(configVariables.includes(`${name}_PREVIOUS`), name);
    assert.ok(configVariables.includes(`${name}_PREVIOUS_UNTIL`), name);
  }
  const until = (value: string) =>
    parseConfig({ ...base, RAZORPAY_WEBHOOK_SECRET_PREVIOUS_UNTIL: value })
      .RAZORPAY_WEBHOOK_SECRET_PREVIOUS_UNTIL;
  assert.equal(until("2026-12-01T06:00:00Z"), "2026-12-01T06:00:00Z");
  assert.equal(until("2026-12-01T11:30:00.5+05:30"), "2026-12-01T11:30:00.5+05:30");
  assert.equal(until("  "), undefined, "blank is unset");
  for (const bad of ["2026-12-01T06:00:00", "2026-12-01", "tomorrow", "2026-13-01T00:00:00Z"]) {
    assert.throws(() => until(bad), /RAZORPAY_WEBHOOK_SECRET_PREVIOUS_UNTIL: must be an ISO 8601/);
  }
  // The Telegram overlap: an hour by default, 0 allowed, a week at most.
  assert.equal(parseConfig(base).TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS, 3600);
  assert.equal(
    parseConfig({ ...base, TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS: "0" })
      .TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS,
    0,
  );
  assert.throws(
    () => parseConfig({ ...base, TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS: "604801" }),
    /TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS/,
  );
});

Deno.test("config: .env.example lists every variable the functions read", async () => {
  const example = await Deno.readTextFile(new URL("../../.env.example", import.meta.url));
  const listed = new Set(
    example.match(/^#? ?([A-Z][A-Z0-9_]+)=/gm)?.map((line) =>
      line.replace(/^#? ?/, "").replace(/=$/, "")
    ),
  );
  assert.deepEqual(configVariables.filter((name) => !listed.has(name)), []);
});
