// What every provider call shares: the vendors' wait hints read as milliseconds, and the
// deadline that turns a hung, cancelled or unreachable vendor into a transient result.
import assert from "node:assert/strict";
import {
  maxRetryAfterMs,
  rateLimitResetMs,
  retryAfterMs,
  withDeadline,
} from "../../functions/_shared/providers/http.ts";
import type { SendResult } from "../../functions/_shared/providers/types.ts";

const now = Date.parse("2026-11-29T10:00:00Z");

Deno.test("providers http: Retry-After as delay-seconds or an HTTP date", () => {
  assert.equal(retryAfterMs(new Headers({ "retry-after": "7" }), now), 7_000);
  assert.equal(retryAfterMs(new Headers({ "retry-after": "0" }), now), 0);
  assert.equal(
    retryAfterMs(new Headers({ "retry-after": "Sun, 29 Nov 2026 10:00:30 GMT" }), now),
    30_000,
  );
  // A date in the past means now; absent or garbage means no hint.
  assert.equal(
    retryAfterMs(new Headers({ "retry-after": "Sun, 29 Nov 2026 09:00:00 GMT" }), now),
    0,
  );
  assert.equal(retryAfterMs(new Headers(), now), undefined);
  assert.equal(retryAfterMs(new Headers({ "retry-after": "soon" }), now), undefined);
  assert.equal(retryAfterMs(new Headers({ "retry-after": "-5" }), now), undefined);
  // A hint of days is held to the cap.
  assert.equal(retryAfterMs(new Headers({ "retry-after": "864000" }), now), maxRetryAfterMs);
});

Deno.test("providers http: SendGrid's X-RateLimit-Reset is a Unix timestamp, not a delay", () => {
  const reset = String(now / 1000 + 12);
  assert.equal(rateLimitResetMs(reset, now), 12_000);
  assert.equal(rateLimitResetMs(String(now / 1000 - 3), now), 0);
  // Read as seconds-to-wait, "12" would be 12 s; as a timestamp it is in 1970: no wait.
  assert.equal(rateLimitResetMs("12", now), 0);
  assert.equal(rateLimitResetMs(null, now), undefined);
  assert.equal(rateLimitResetMs("tomorrow", now), undefined);
});

/** A call that never answers until its signal aborts, like a hung vendor. */
function hang(signal: AbortSignal): Promise<SendResult> {
  return new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

Deno.test("providers http: a vendor that does not answer in time is a transient timeout", async () => {
  const started = performance.now();
  const result = await withDeadline("vendor", 50, undefined, hang);
  assert.ok(performance.now() - started < 2_000);
  assert.equal(result.ok, false);
  assert.ok(!result.ok);
  assert.equal(result.disposition, "transient");
  assert.equal(result.code, "timeout");
  assert.match(result.message, /50 ms/);
});

Deno.test("providers http: the caller's abort ends the call as transient `aborted`", async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const result = await withDeadline("vendor", 10_000, controller.signal, hang);
  assert.ok(!result.ok);
  assert.deepEqual([result.disposition, result.code], ["transient", "aborted"]);
  // Already aborted: the vendor is not called at all.
  let called = false;
  const again = await withDeadline("vendor", 10_000, controller.signal, (signal) => {
    called = true;
    return hang(signal);
  });
  assert.ok(!again.ok);
  assert.equal(again.code, "aborted");
  assert.equal(called, false);
});

Deno.test("providers http: a thrown network error is transient, its token redacted", async () => {
  const result = await withDeadline("vendor", 10_000, undefined, () => {
    throw new TypeError("error sending request: Bearer sk-secret-value connection refused");
  });
  assert.ok(!result.ok);
  assert.deepEqual([result.disposition, result.code], ["transient", "network"]);
  assert.match(result.message, /connection refused/);
  assert.ok(!result.message.includes("sk-secret-value"));
});

Deno.test("providers http: a real refused connection is a network failure", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const result = await withDeadline("vendor", 5_000, undefined, async (signal) => {
    await fetch(`http://127.0.0.1:${port}/`, { signal });
    return { ok: true, providerMessageId: "never" };
  });
  assert.ok(!result.ok);
  assert.equal(result.code, "network");
});

Deno.test("providers http: an answer within the deadline passes through unchanged", async () => {
  const result = await withDeadline(
    "vendor",
    1_000,
    undefined,
    () => Promise.resolve({ ok: true, providerMessageId: "SM1" }),
  );
  assert.deepEqual(result, { ok: true, providerMessageId: "SM1" });
});
