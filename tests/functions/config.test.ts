import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../functions/_shared/config.ts";

const base = { SUPABASE_DB_URL: "postgresql://postgres:pw@127.0.0.1:54322/postgres" };

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
    parseConfig({ SUPABASE_DB_URL: secret, SUPABASE_JWT_SECRET: "short", DB_POOL_SIZE: "0" });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError);
  const names = caught.issues.map((issue) => issue.split(":")[0]).sort();
  assert.deepEqual(names, ["DB_POOL_SIZE", "SUPABASE_DB_URL", "SUPABASE_JWT_SECRET"]);
  assert.ok(!caught.message.includes(secret), "the message must not contain the value");
});

Deno.test("config: the database URL is required", () => {
  assert.throws(() => parseConfig({}), /SUPABASE_DB_URL/);
});
