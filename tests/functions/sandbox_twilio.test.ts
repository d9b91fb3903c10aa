// The sandbox's Twilio: the Messages API as Twilio answers it (VENDORS.md §1), its faults, and
// its signed status callbacks and inbound replies, checked with the webhooks' own verifier.
import assert from "node:assert/strict";
import { verifyTwilioSignature } from "../../functions/_shared/signatures/twilio.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type Receiver, startReceiver } from "../../sandbox/receiver.ts";

/** A sandbox and a receiver for one test, closed after it whatever happens. */
async function withSandbox(fn: (sandbox: Sandbox, receiver: Receiver) => Promise<void>) {
  const receiver = await startReceiver();
  const sandbox = await startSandbox({
    webhooks: { twilioInbound: `${receiver.url}/twilio/inbound` },
  });
  try {
    await fn(sandbox, receiver);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
}

function messagesUrl(sandbox: Sandbox, sid = sandbox.credentials.twilioAccountSid) {
  return `${sandbox.url}/twilio/2010-04-01/Accounts/${sid}/Messages.json`;
}

function basic(sandbox: Sandbox, token = sandbox.credentials.twilioAuthToken) {
  return "Basic " + btoa(`${sandbox.credentials.twilioAccountSid}:${token}`);
}

async function send(sandbox: Sandbox, params: Record<string, string>, token?: string) {
  const response = await fetch(messagesUrl(sandbox), {
    method: "POST",
    headers: {
      authorization: basic(sandbox, token),
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: await response.json() };
}

async function control(sandbox: Sandbox, path: string, body: unknown) {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

async function inspect(sandbox: Sandbox, what: string) {
  return (await fetch(`${sandbox.url}/_inspect/twilio/${what}`)).json();
}

function formOf(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

Deno.test("sandbox twilio: a send is answered 201 in Twilio's snake_case shape and listed", async () => {
  await withSandbox(async (sandbox) => {
    const { status, body } = await send(sandbox, {
      To: "+919810150461",
      From: "PYRNWL",
      Body: "Your policy renewal is due on 12 Dec. सूचना",
      StatusCallback: "https://hooks.example.test/twilio/status?message_id=m-1",
    });
    assert.equal(status, 201);
    assert.match(body.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(body.status, "queued");
    assert.equal(body.direction, "outbound-api");
    assert.equal(body.account_sid, sandbox.credentials.twilioAccountSid);
    assert.equal(body.num_segments, "1");
    assert.equal(body.error_code, null);
    assert.equal(body.price, null);
    assert.match(
      body.date_created,
      /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/,
    );
    assert.equal(body.uri, `/2010-04-01/Accounts/${body.account_sid}/Messages/${body.sid}.json`);
    const [listed] = await inspect(sandbox, "requests");
    assert.equal(listed.id, body.sid);
    assert.equal(listed.to, "+919810150461");
    assert.equal(listed.ourId, "m-1");
    assert.equal(listed.params.From, "PYRNWL");
    // A long Hindi body is UCS-2: 70 units in one segment, 67 per segment beyond.
    const long = await send(sandbox, { To: "+919810150461", From: "PYRNWL", Body: "न".repeat(71) });
    assert.equal(long.body.num_segments, "2");
  });
});

Deno.test("sandbox twilio: wrong credentials, bad numbers and missing fields get Twilio's error envelope", async () => {
  await withSandbox(async (sandbox) => {
    const denied = await send(
      sandbox,
      { To: "+919810150461", From: "PYRNWL", Body: "x" },
      "0".repeat(32),
    );
    assert.equal(denied.status, 401);
    assert.deepEqual(denied.body, {
      code: 20003,
      message: "Authenticate",
      more_info: "https://www.twilio.com/docs/errors/20003",
      status: 401,
    });
    const badTo = await send(sandbox, { To: "9810150461", From: "PYRNWL", Body: "x" });
    assert.equal(badTo.status, 400);
    assert.equal(badTo.body.code, 21211);
    assert.equal(badTo.body.status, 400);
    assert.equal(badTo.body.more_info, "https://www.twilio.com/docs/errors/21211");
    assert.equal(
      (await send(sandbox, { To: "+15005550009", From: "PYRNWL", Body: "x" })).body.code,
      21614,
    );
    assert.equal((await send(sandbox, { To: "+919810150461", Body: "x" })).body.code, 21603);
    assert.equal((await send(sandbox, { To: "+919810150461", From: "PYRNWL" })).body.code, 21602);
    assert.equal(
      (await send(sandbox, { To: "+919810150461", From: "PYRNWL", Body: "x".repeat(1601) })).body
        .code,
      21617,
    );
    assert.equal((await inspect(sandbox, "requests")).length, 0);
  });
});

Deno.test("sandbox twilio: beyond rateLimitPerSecond the answer is 429 with code 20429", async () => {
  await withSandbox(async (sandbox) => {
    await control(sandbox, "twilio", { rateLimitPerSecond: 2 });
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        () => send(sandbox, { To: "+919810150461", From: "PYRNWL", Body: "x" }),
      ),
    );
    const limited = results.filter((r) => r.status === 429);
    const accepted = results.filter((r) => r.status === 201);
    // Eight at once fit in at most two wall-clock seconds: at most 2 × 2 go through.
    assert.ok(accepted.length >= 2 && accepted.length <= 4, `accepted ${accepted.length}`);
    assert.equal(limited.length, 8 - accepted.length);
    assert.deepEqual(limited[0].body, {
      code: 20429,
      message: "Too Many Requests",
      more_info: "https://www.twilio.com/docs/errors/20429",
      status: 429,
    });
    assert.equal((await inspect(sandbox, "requests")).length, accepted.length);
  });
});

Deno.test("sandbox twilio: status callbacks sent → delivered (none for queued), signed with X-Twilio-Signature", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const callback = `${receiver.url}/twilio/status?message_id=3f1c`;
    const { body } = await send(sandbox, {
      To: "+919810150461",
      From: "PYRNWL",
      Body: "hello",
      StatusCallback: callback,
    });
    await sandbox.callbacksSettled();
    // No callback for the initial status: the send's answer said queued (VENDORS.md §1).
    assert.deepEqual(receiver.received.map((r) => formOf(r.body).MessageStatus), [
      "sent",
      "delivered",
    ]);
    for (const request of receiver.received) {
      const params = formOf(request.body);
      assert.equal(request.url, callback);
      assert.match(request.headers.get("content-type")!, /^application\/x-www-form-urlencoded/);
      assert.equal(params.MessageSid, body.sid);
      assert.equal(params.AccountSid, sandbox.credentials.twilioAccountSid);
      assert.equal(params.ApiVersion, "2010-04-01");
      assert.equal(params.ErrorCode, undefined);
      const signature = request.headers.get("x-twilio-signature");
      assert.ok(
        await verifyTwilioSignature(
          sandbox.credentials.twilioAuthToken,
          signature,
          callback,
          params,
        ),
      );
      assert.equal(
        await verifyTwilioSignature("0".repeat(32), signature, callback, params),
        false,
      );
    }
    const logged = await inspect(sandbox, "callbacks");
    assert.deepEqual(logged.map((c: { event: string; status: number }) => [c.event, c.status]), [
      ["sent", 200],
      ["delivered", 200],
    ]);
    // The resource itself moved on, with Twilio's (negative, USD) price.
    const fetched = await fetch(
      `${sandbox.url}/twilio/2010-04-01/Accounts/${body.account_sid}/Messages/${body.sid}.json`,
      { headers: { authorization: basic(sandbox) } },
    );
    const resource = await fetched.json();
    assert.equal(resource.status, "delivered");
    assert.match(resource.price, /^-0\.\d{5}$/);
  });
});

Deno.test("sandbox twilio: callback modes duplicate, out_of_order and none", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const url = `${receiver.url}/twilio/status`;
    const message = { To: "+919810150461", From: "PYRNWL", Body: "x", StatusCallback: url };

    await control(sandbox, "twilio", { callbacks: { mode: "duplicate" } });
    await send(sandbox, message);
    await sandbox.callbacksSettled();
    const statuses = receiver.received.map((r) => formOf(r.body).MessageStatus);
    assert.deepEqual(statuses, ["sent", "sent", "delivered", "delivered"]);
    for (let i = 0; i < 4; i += 2) {
      const [a, b] = [receiver.received[i], receiver.received[i + 1]];
      assert.equal(a.body, b.body);
      assert.equal(
        a.headers.get("i-twilio-idempotency-token"),
        b.headers.get("i-twilio-idempotency-token"),
      );
    }

    receiver.received.length = 0;
    await control(sandbox, "twilio", { callbacks: { mode: "out_of_order" } });
    await send(sandbox, message);
    await sandbox.callbacksSettled();
    assert.deepEqual(receiver.received.map((r) => formOf(r.body).MessageStatus), [
      "delivered",
      "sent",
    ]);

    receiver.received.length = 0;
    await control(sandbox, "twilio", { callbacks: { mode: "none" } });
    await send(sandbox, message);
    await sandbox.callbacksSettled();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.received.length, 0);
  });
});

Deno.test("sandbox twilio: late callbacks wait for delayMs", async () => {
  await withSandbox(async (sandbox, receiver) => {
    await control(sandbox, "twilio", { callbacks: { mode: "late", delayMs: 300 } });
    const started = Date.now();
    await send(sandbox, {
      To: "+919810150461",
      From: "PYRNWL",
      Body: "x",
      StatusCallback: `${receiver.url}/s`,
    });
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 2);
    assert.ok(receiver.received[0].at - started >= 300, `${receiver.received[0].at - started} ms`);
  });
});

Deno.test("sandbox twilio: failNext answers the code once; a 30xxx code fails later in the callbacks", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const message = {
      To: "+919810150461",
      From: "PYRNWL",
      Body: "x",
      StatusCallback: `${receiver.url}/s`,
    };
    await control(sandbox, "twilio", { failNext: { code: 21610, count: 2 } });
    assert.equal((await send(sandbox, message)).body.code, 21610);
    assert.equal((await send(sandbox, message)).body.code, 21610);
    assert.equal((await send(sandbox, message)).status, 201);
    await sandbox.callbacksSettled();

    receiver.received.length = 0;
    await control(sandbox, "twilio", { failNext: { code: 30007 } });
    const accepted = await send(sandbox, message);
    assert.equal(accepted.status, 201);
    await sandbox.callbacksSettled();
    const last = formOf(receiver.received.at(-1)!.body);
    assert.equal(last.MessageStatus, "undelivered");
    assert.equal(last.ErrorCode, "30007");
    assert.equal(last.MessageSid, accepted.body.sid);

    await control(sandbox, "twilio", { failNext: { code: 20429, status: 429 } });
    const throttled = await send(sandbox, message);
    assert.equal(throttled.status, 429);
    assert.equal(throttled.body.code, 20429);
  });
});

Deno.test("sandbox twilio: outage, error rate and latency", async () => {
  await withSandbox(async (sandbox) => {
    const message = { To: "+919810150461", From: "PYRNWL", Body: "x" };
    await control(sandbox, "twilio", { outage: true });
    const down = await send(sandbox, message);
    assert.equal(down.status, 503);
    assert.equal(down.body.code, 20503);
    await control(sandbox, "twilio", { outage: false, errorRate: 1 });
    const broken = await send(sandbox, message);
    assert.equal(broken.status, 500);
    assert.equal(broken.body.code, 20500);
    await control(sandbox, "twilio", { errorRate: 0, latencyMs: 150 });
    const started = Date.now();
    assert.equal((await send(sandbox, message)).status, 201);
    assert.ok(Date.now() - started >= 150);
    await control(sandbox, "reset", {});
    assert.equal((await inspect(sandbox, "requests")).length, 0);
    const bad = await fetch(`${sandbox.url}/_control/twilio`, {
      method: "POST",
      body: JSON.stringify({ errorRate: 2 }),
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  });
});

Deno.test("sandbox twilio: a STOP reply is posted signed, and opts the number out until START", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const message = { To: "+919810150461", From: "+15017122661", Body: "x" };
    assert.equal((await send(sandbox, message)).status, 201);
    const reply = await control(sandbox, "twilio/reply", { from: "+919810150461", text: "STOP" });
    assert.match(reply.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(reply.status, 200);
    const [inbound] = receiver.received;
    const params = formOf(inbound.body);
    assert.equal(params.Body, "STOP");
    assert.equal(params.OptOutType, "STOP");
    assert.equal(params.From, "+919810150461");
    assert.equal(params.To, "+15017122661");
    assert.equal(params.SmsStatus, "received");
    assert.ok(
      await verifyTwilioSignature(
        sandbox.credentials.twilioAuthToken,
        inbound.headers.get("x-twilio-signature"),
        `${receiver.url}/twilio/inbound`,
        params,
      ),
    );
    const refused = await send(sandbox, message);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.code, 21610);
    await control(sandbox, "twilio/reply", { from: "+919810150461", text: "start" });
    assert.equal(formOf(receiver.received[1].body).OptOutType, "START");
    assert.equal((await send(sandbox, message)).status, 201);
    // REVOKE is one of Twilio's default opt-out keywords too.
    await control(sandbox, "twilio/reply", { from: "+919810150461", text: "revoke" });
    assert.equal(formOf(receiver.received[2].body).OptOutType, "STOP");
    assert.equal((await send(sandbox, message)).body.code, 21610);
  });
});
