// `npm test`'s secret scan (scripts/lib/secret_scan.ts): what it plants, what the test processes
// record, and that a planted or recorded value printed anywhere — or a response the egress guard
// withheld — is found and reported by its variable, never by its value.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import {
  plantSecrets,
  recordedLeaks,
  recordedSecrets,
  scanForSecrets,
  withheldMessage,
} from "../../scripts/lib/secret_scan.ts";

const base = {
  FUNCTIONS_DB_URL: "postgresql://api_authenticator:pw@127.0.0.1:1/postgres",
  SUPABASE_JWT_SECRET: "super-secret-jwt-token-with-at-least-32-characters-long",
};

Deno.test("secret scan: planted values are distinctive and change no vendor's status", () => {
  const planted = plantSecrets(base);
  const names = Object.keys(planted).sort();
  assert.deepEqual(names, [
    "RAZORPAY_WEBHOOK_SECRET_PREVIOUS",
    "SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS",
    "SUPABASE_JWT_SECRET_PREVIOUS",
    "TWILIO_AUTH_TOKEN_PREVIOUS",
    "WHATSAPP_APP_SECRET_PREVIOUS",
    "WHATSAPP_VERIFY_TOKEN_PREVIOUS",
  ]);
  // A vendor's own credential would switch it on or change what its status says: left out.
  assert.ok(!("TELEGRAM_BOT_TOKEN" in planted) && !("OPENAI_API_KEY" in planted));
  const again = plantSecrets(base);
  for (const name of names) {
    assert.notEqual(planted[name], again[name], `${name} is random`);
    assert.ok(planted[name].length >= 32, name);
  }
  assert.equal(atob(planted.SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS).length, 32);
  const withPlants = parseConfig({ ...base, ...planted });
  assert.deepEqual(withPlants.vendors, parseConfig(base).vendors);
  // A variable the environment already sets is never overwritten.
  const own = plantSecrets({ ...base, TWILIO_AUTH_TOKEN_PREVIOUS: "the-tests-own-value" });
  assert.ok(!("TWILIO_AUTH_TOKEN_PREVIOUS" in own));
});

Deno.test("secret scan: a planted value in the output is reported by name and line", () => {
  const secrets = [
    { name: "TWILIO_AUTH_TOKEN_PREVIOUS", value: "planted-twilio-auth-token-previous-0123abcd" },
    { name: "OPENAI_API_KEY", value: "sk-proj-0123456789abcdefghij" },
    { name: "TWILIO_AUTH_TOKEN", value: "short" }, // under 12 characters: not looked for
  ];
  const clean = scanForSecrets({ "the Deno output": "ok | 3 passed\nshort words\n" }, secrets);
  assert.deepEqual(clean, { checked: 2, leaks: [] });
  const output = [
    "running 1 test",
    `{"level":"error","msg":"upstream said","body":"key sk-proj-0123456789abcdefghij"}`,
    "ok | 1 passed",
  ].join("\n");
  const leaky = scanForSecrets(
    { "the Deno output": output, "the database log": "LOG: nothing" },
    secrets,
  );
  assert.deepEqual(leaky, {
    checked: 2,
    leaks: ["OPENAI_API_KEY appeared in the Deno output (line 2)"],
  });
});

Deno.test("secret scan: a response withheld by the egress guard counts as a leak", () => {
  const line = JSON.stringify({
    level: "error",
    msg: withheldMessage,
    config_key: "TELEGRAM_BOT_TOKEN",
    path: "/api/x",
  });
  const result = scanForSecrets({ "the Deno output": `a\nb\n${line}\n` }, []);
  assert.deepEqual(result.leaks, [
    "a response holding TELEGRAM_BOT_TOKEN was withheld in the Deno output (line 3)",
  ]);
});

Deno.test("secret scan: a test process records the secrets its configuration holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "secret-scan-test-" });
  try {
    const secret = `leaked-${crypto.randomUUID()}`;
    // A process that configures a secret of its own and then prints it: a deliberate leak.
    const script = `
      import { parseConfig } from ${
      JSON.stringify(import.meta.resolve("../../functions/_shared/config.ts"))
    };
      const cfg = parseConfig({ FUNCTIONS_DB_URL: "postgresql://u:p@127.0.0.1:1/db",
        X_CLIENT_SECRET: ${JSON.stringify(secret)}, TWILIO_AUTH_TOKEN: "tiny" });
      console.log("debug dump:", JSON.stringify({ secret: cfg.X_CLIENT_SECRET }));`;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      env: { PY360_TEST_SECRET_SCAN_DIR: dir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(child.stderr);
    assert.equal(child.code, 0, stderr);
    const recorded = await recordedSecrets(dir);
    assert.deepEqual(recorded, [{ name: "X_CLIENT_SECRET", value: secret }]);
    const result = scanForSecrets(
      { "the child's output": new TextDecoder().decode(child.stdout) },
      recorded,
    );
    assert.deepEqual(result.leaks, ["X_CLIENT_SECRET appeared in the child's output (line 1)"]);
    assert.ok(!result.leaks.join("\n").includes(secret), "a leak report never quotes the value");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secret scan: a secret in a log line below LOG_LEVEL is noted, unwritten", async () => {
  const dir = await Deno.makeTempDir({ prefix: "secret-scan-test-" });
  try {
    const secret = `quiet-${crypto.randomUUID()}`;
    // LOG_LEVEL=error: the info lines are never written, yet one of them carries the secret.
    const script = `
      import { parseConfig } from ${
      JSON.stringify(import.meta.resolve("../../functions/_shared/config.ts"))
    };
      import { log } from ${JSON.stringify(import.meta.resolve("../../functions/_shared/log.ts"))};
      parseConfig({ FUNCTIONS_DB_URL: "postgresql://u:p@127.0.0.1:1/db",
        OPENAI_API_KEY: ${JSON.stringify(secret)} });
      log("info", "model call", { detail: "sent with " + ${JSON.stringify(secret)} });
      log("info", "model call", { detail: "nothing secret here" });
      log("debug", "api key", { api_key: ${JSON.stringify(secret)} }); // redacted: no leak`;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      env: { PY360_TEST_SECRET_SCAN_DIR: dir, LOG_LEVEL: "error", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
    assert.equal(new TextDecoder().decode(child.stdout), "", "nothing written");
    const leaks = await recordedLeaks(dir);
    assert.deepEqual(leaks, [
      'OPENAI_API_KEY appeared in a log line below LOG_LEVEL (info, msg "model call")',
    ]);
    assert.ok(!leaks.join("\n").includes(secret));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
