import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../functions/_shared/config.ts";

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
