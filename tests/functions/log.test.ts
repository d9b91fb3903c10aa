import assert from "node:assert/strict";
import { redact } from "../../functions/_shared/log.ts";

Deno.test("log: values under secret-looking keys are redacted, at any depth", () => {
  const line = redact({
    authorization: "Bearer abc",
    vendor: { TWILIO_AUTH_TOKEN: "tok", api_key: "k", name: "twilio" },
    list: [{ password: "p" }],
  });
  assert.deepEqual(line, {
    authorization: "[redacted]",
    vendor: { TWILIO_AUTH_TOKEN: "[redacted]", api_key: "[redacted]", name: "twilio" },
    list: [{ password: "[redacted]" }],
  });
});

Deno.test("log: bearer tokens and JWTs inside free text are redacted", () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
  assert.equal(
    redact(`upstream said: Bearer sk-live-123 and ${jwt} expired`),
    "upstream said: [redacted] and [redacted] expired",
  );
});

Deno.test("log: errors keep their name and a redacted message", () => {
  assert.deepEqual(redact(new TypeError("bad Bearer xyz")), {
    name: "TypeError",
    message: "bad [redacted]",
  });
});
