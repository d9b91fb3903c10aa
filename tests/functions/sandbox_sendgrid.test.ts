// The sandbox's SendGrid: v3 mail send as SendGrid answers it (VENDORS.md §9): 202 with
// X-Message-Id, {errors:[…]}, X-RateLimit-* headers and 429; its Event Webhook posts signed
// with ECDSA, checked with the webhooks' own verifier.
import assert from "node:assert/strict";
import { verifySendgridSignature } from "../../functions/_shared/signatures/sendgrid.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type Receiver, startReceiver } from "../../sandbox/receiver.ts";

async function withSandbox(fn: (sandbox: Sandbox, receiver: Receiver) => Promise<void>) {
  const receiver = await startReceiver();
  const sandbox = await startSandbox({ webhooks: { sendgrid: `${receiver.url}/sendgrid` } });
  try {
    await fn(sandbox, receiver);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
}

function mail(overrides: Record<string, unknown> = {}) {
  return {
    personalizations: [{
      to: [{ email: "asha.verma@example.com", name: "Asha Verma" }],
      custom_args: { message_id: "6a1d2f5e-8c4b-4e0a-9f3d-2b7c1e5a9d40" },
    }],
    from: { email: "renewals@py360.test", name: "Py360 Renewals" },
    subject: "Your renewal is due",
    content: [{ type: "text/plain", value: "Pay by 12 Dec." }, {
      type: "text/html",
      value: "<p>Pay by 12 Dec.</p>",
    }],
    custom_args: { campaign: "renewal" },
    ...overrides,
  };
}

async function send(sandbox: Sandbox, body: unknown, key = sandbox.credentials.sendgridApiKey) {
  const response = await fetch(`${sandbox.url}/sendgrid/v3/mail/send`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: text ? JSON.parse(text) : null,
  };
}

async function control(sandbox: Sandbox, body: unknown) {
  const response = await fetch(`${sandbox.url}/_control/sendgrid`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  await response.body?.cancel();
}

function eventsOf(receiver: Receiver) {
  return receiver.received.flatMap((r) => JSON.parse(r.body));
}

Deno.test("sandbox sendgrid: a send is 202 with an empty body, X-Message-Id and rate-limit headers", async () => {
  await withSandbox(async (sandbox) => {
    const before = Math.floor(Date.now() / 1000);
    const answer = await send(sandbox, mail());
    assert.equal(answer.status, 202);
    assert.equal(answer.text, "");
    const id = answer.headers.get("x-message-id")!;
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.match(answer.headers.get("x-ratelimit-limit")!, /^\d+$/);
    assert.match(answer.headers.get("x-ratelimit-remaining")!, /^\d+$/);
    // Reset is a Unix timestamp, not seconds to wait.
    const reset = Number(answer.headers.get("x-ratelimit-reset"));
    assert.ok(reset >= before && reset <= before + 2, `reset ${reset}`);
    const [listed] = await (await fetch(`${sandbox.url}/_inspect/sendgrid/requests`)).json();
    assert.equal(listed.id, id);
    assert.equal(listed.to, "asha.verma@example.com");
    assert.equal(listed.subject, "Your renewal is due");
    assert.equal(listed.body, "Pay by 12 Dec.");
    assert.equal(listed.ourId, "6a1d2f5e-8c4b-4e0a-9f3d-2b7c1e5a9d40");
  });
});

Deno.test("sandbox sendgrid: bad keys and bad bodies get SendGrid's {errors:[…]} envelope", async () => {
  await withSandbox(async (sandbox) => {
    const denied = await send(sandbox, mail(), "SG.wrong.key");
    assert.equal(denied.status, 401);
    assert.deepEqual(denied.json, {
      errors: [{
        field: null,
        message: "The provided authorization grant is invalid, expired, or revoked",
        help: null,
      }],
    });
    const noFrom = await send(sandbox, mail({ from: undefined }));
    assert.equal(noFrom.status, 400);
    assert.equal(noFrom.json.errors[0].field, "from.email");
    assert.match(noFrom.json.errors[0].message, /^The from object must be provided/);
    const badTo = await send(
      sandbox,
      mail({ personalizations: [{ to: [{ email: "not-an-address" }] }] }),
    );
    assert.equal(badTo.status, 400);
    assert.deepEqual(badTo.json.errors.map((e: { field: string }) => e.field), [
      "personalizations.0.to.0.email",
    ]);
    const noContent = await send(sandbox, mail({ content: undefined, subject: undefined }));
    assert.deepEqual(noContent.json.errors.map((e: { field: string }) => e.field), [
      "subject",
      "content",
    ]);
    // A dynamic template needs neither.
    assert.equal(
      (await send(
        sandbox,
        mail({ content: undefined, subject: undefined, template_id: "d-4f1e2a" }),
      )).status,
      202,
    );
  });
});

Deno.test("sandbox sendgrid: beyond the rate a 429 'too many requests' with X-RateLimit-Reset", async () => {
  await withSandbox(async (sandbox) => {
    await control(sandbox, { rateLimitPerSecond: 2 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(sandbox, mail())));
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(limited.length >= 4, `limited ${limited.length}`);
    assert.deepEqual(limited[0].json, {
      errors: [{ field: null, message: "too many requests", help: null }],
    });
    assert.equal(limited[0].headers.get("x-ratelimit-limit"), "2");
    assert.equal(limited[0].headers.get("x-ratelimit-remaining"), "0");
    assert.ok(Number(limited[0].headers.get("x-ratelimit-reset")) * 1000 > Date.now() - 1000);
  });
});

Deno.test("sandbox sendgrid: processed and delivered events, signed with ECDSA, echo custom_args", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const id = (await send(sandbox, mail())).headers.get("x-message-id")!;
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 2);
    for (const request of receiver.received) {
      assert.ok(request.body.endsWith("\r\n"));
      const signature = request.headers.get("x-twilio-email-event-webhook-signature");
      const timestamp = request.headers.get("x-twilio-email-event-webhook-timestamp");
      assert.match(signature!, /^ME[A-Za-z0-9+/]+=*$/);
      assert.ok(
        await verifySendgridSignature(
          sandbox.sendgridPublicKey,
          signature,
          timestamp,
          request.body,
        ),
      );
      assert.equal(
        await verifySendgridSignature(
          sandbox.sendgridPublicKey,
          signature,
          timestamp,
          request.body.replace("asha", "usha"),
        ),
        false,
      );
    }
    const events = eventsOf(receiver);
    assert.deepEqual(events.map((e) => e.event), ["processed", "delivered"]);
    for (const event of events) {
      assert.equal(event.email, "asha.verma@example.com");
      assert.ok(event.sg_message_id.startsWith(`${id}.filter`), event.sg_message_id);
      assert.match(event.sg_event_id, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(event.message_id, "6a1d2f5e-8c4b-4e0a-9f3d-2b7c1e5a9d40");
      assert.equal(event.campaign, "renewal");
      assert.equal(typeof event.timestamp, "number");
    }
    assert.notEqual(events[0].sg_event_id, events[1].sg_event_id);
  });
});

Deno.test("sandbox sendgrid: bounce, dropped and spamreport from the address or failNext", async () => {
  await withSandbox(async (sandbox, receiver) => {
    await send(sandbox, mail({ personalizations: [{ to: [{ email: "bounce@example.com" }] }] }));
    await sandbox.callbacksSettled();
    const [, bounce] = eventsOf(receiver);
    assert.equal(bounce.event, "bounce");
    assert.equal(bounce.type, "bounce");
    assert.equal(bounce.status, "5.1.1");

    receiver.received.length = 0;
    await send(sandbox, mail({ personalizations: [{ to: [{ email: "complaint@example.com" }] }] }));
    await sandbox.callbacksSettled();
    assert.deepEqual(eventsOf(receiver).map((e) => e.event), [
      "processed",
      "delivered",
      "spamreport",
    ]);

    receiver.received.length = 0;
    await control(sandbox, { failNext: { code: "dropped" } });
    assert.equal((await send(sandbox, mail())).status, 202);
    await sandbox.callbacksSettled();
    const dropped = eventsOf(receiver);
    assert.deepEqual(dropped.map((e) => e.event), ["processed", "dropped"]);
    assert.equal(dropped[1].reason, "Bounced Address");

    await control(sandbox, { failNext: { code: 503 } });
    const unavailable = await send(sandbox, mail());
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.json.errors[0].message, "service unavailable");
  });
});

Deno.test("sandbox sendgrid: duplicate and read_without_delivered modes", async () => {
  await withSandbox(async (sandbox, receiver) => {
    await control(sandbox, { callbacks: { mode: "duplicate" } });
    await send(sandbox, mail());
    await sandbox.callbacksSettled();
    const ids = eventsOf(receiver).map((e) => e.sg_event_id);
    assert.equal(ids.length, 4);
    assert.equal(ids[0], ids[1]);
    assert.equal(ids[2], ids[3]);

    receiver.received.length = 0;
    await control(sandbox, { callbacks: { mode: "read_without_delivered" } });
    await send(sandbox, mail());
    await sandbox.callbacksSettled();
    assert.deepEqual(eventsOf(receiver).map((e) => e.event), ["processed", "open"]);
  });
});

Deno.test("sandbox sendgrid: a refused event post is retried, each attempt logged", async () => {
  await withSandbox(async (sandbox, receiver) => {
    receiver.refuseNext = 2;
    await send(sandbox, mail());
    await sandbox.callbacksSettled();
    const log = await (await fetch(`${sandbox.url}/_inspect/sendgrid/callbacks`)).json();
    assert.equal(log[0].status, 500);
    assert.equal(log[0].attempt, 1);
    const processed = log.filter((c: { event: string }) => c.event === "processed");
    assert.deepEqual(
      processed.map((c: { status: number; attempt: number }) => [c.status, c.attempt]),
      [
        [500, 1],
        [500, 2],
        [200, 3],
      ],
    );
    // The retry carries the same event.
    const bodies = receiver.received.filter((r) => JSON.parse(r.body)[0].event === "processed");
    assert.equal(new Set(bodies.map((r) => r.body)).size, 1);
  });
});
