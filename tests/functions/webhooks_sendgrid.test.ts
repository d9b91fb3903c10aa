// POST /webhooks/sendgrid through the functions gateway: real emails sent through the gate and
// the SendGrid provider to the vendor sandbox, whose ECDSA-signed event posts (processed,
// delivered, opened, duplicated, out of order, bounced, dropped, spam reports) move them and
// suppress dead addresses; missing, forged, altered and stale signatures refused with nothing
// written (checked against an app holding a key pair of the test's own).
import assert from "node:assert/strict";
import { sendgridEvents } from "../../functions/webhooks/sendgrid.ts";
import { sendgridKeyPair, sendgridSignature } from "../../sandbox/sign.ts";
import { adminSql, dbTest, expectProblem } from "./_helpers.ts";
import {
  callbacks,
  control,
  createCustomer,
  enqueue,
  ensureTemplates,
  eventsOf,
  message,
  send,
  startHarness,
  tag,
  writableCounts,
} from "./_webhooks.ts";

const harness = await startHarness();
const { sandbox } = harness;

function sendgridTest(name: string, fn: () => Promise<void>) {
  dbTest(`webhooks sendgrid: ${name}`, async () => {
    await control(sandbox, "reset");
    await callbacks(sandbox, "sendgrid");
    await ensureTemplates();
    await fn();
  });
}

async function callbackAnswers(): Promise<number[]> {
  const callbacks: { status: number }[] =
    await (await fetch(`${sandbox.url}/_inspect/sendgrid/callbacks`)).json();
  return callbacks.map((callback) => callback.status);
}

async function sentEmail(local = "c") {
  const customer = await createCustomer({ email: `${local}+${tag()}@example.test` });
  const id = await enqueue(customer.id, "email");
  const results = await send(harness, [id], { provider: "sendgrid" });
  await sandbox.callbacksSettled();
  const result = results.get(id)!;
  assert.ok(result.ok);
  return { customer, id, xMessageId: result.providerMessageId };
}

async function suppressionOf(address: string) {
  const [row] = await adminSql()`
    select channel::text, reason, source from public.suppressions where address = ${address}`;
  return row;
}

sendgridTest(
  "a sent email reaches delivered (processed, delivered), by our custom arg",
  async () => {
    const { id, xMessageId } = await sentEmail();
    const row = await message(id);
    assert.deepEqual([row.status, row.provider, row.provider_message_id], [
      "delivered",
      "sendgrid",
      xMessageId,
    ]);
    assert.deepEqual(
      (await eventsOf(id)).map((e) => [e.status, e.message_status]).sort(),
      [["delivered", "delivered"], ["processed", "sent"]],
    );
    const [event] = await adminSql()`
    select provider_message_id, payload ->> 'sg_message_id' as sg_message_id
      from public.message_events where message_id = ${id} and status = 'delivered'`;
    assert.equal(event.provider_message_id, xMessageId, "sg_message_id up to its first dot");
    assert.notEqual(event.sg_message_id, xMessageId);
    assert.deepEqual(await callbackAnswers(), [200, 200]);
  },
);

sendgridTest("opened without delivered, duplicated, out of order: one row each", async () => {
  await callbacks(sandbox, "sendgrid", "read_without_delivered");
  const opened = await sentEmail();
  assert.equal((await message(opened.id)).status, "read");
  assert.deepEqual((await eventsOf(opened.id)).map((e) => e.status).sort(), ["open", "processed"]);

  await callbacks(sandbox, "sendgrid", "duplicate");
  const twice = await sentEmail();
  assert.equal((await message(twice.id)).status, "delivered");
  assert.equal((await eventsOf(twice.id)).length, 2);

  await callbacks(sandbox, "sendgrid", "out_of_order");
  const reversed = await sentEmail();
  assert.equal((await message(reversed.id)).status, "delivered");
  assert.equal((await eventsOf(reversed.id)).length, 2);
  const answers = await callbackAnswers();
  assert.equal(answers.length, 2 + 4 + 2);
  assert.ok(answers.every((status) => status === 200), JSON.stringify(answers));
});

sendgridTest("a bounce: undeliverable and the address suppressed (hard_bounce)", async () => {
  const { id, customer } = await sentEmail("bounce");
  const row = await message(id);
  assert.deepEqual([row.status, row.last_error_code], ["undeliverable", "5.1.1"]);
  assert.deepEqual(await suppressionOf(customer.email), {
    channel: "email",
    reason: "hard_bounce",
    source: "sendgrid_5.1.1",
  });
});

sendgridTest("dropped for a bounced address: failed and suppressed", async () => {
  const { id, customer } = await sentEmail("suppressionlist");
  assert.equal((await message(id)).status, "failed");
  assert.equal((await suppressionOf(customer.email)).reason, "hard_bounce");
});

sendgridTest("a spam report suppresses the address; the message stays delivered", async () => {
  const { id, customer } = await sentEmail("complaint");
  assert.equal((await message(id)).status, "delivered");
  assert.equal((await suppressionOf(customer.email)).reason, "complaint");
  assert.deepEqual((await eventsOf(id)).map((e) => e.status).sort(), [
    "delivered",
    "processed",
    "spamreport",
  ]);
});

/** An app that verifies with a key pair the test holds, and a signed post to it. */
const ownKeys = await sendgridKeyPair();
const ownApp = harness.appWith({ SENDGRID_WEBHOOK_PUBLIC_KEY: ownKeys.publicKey });

async function postOwn(
  body: string,
  {
    timestamp = String(Math.floor(Date.now() / 1000)),
    privateKey = ownKeys.privateKey,
    signedBody = body,
    signature,
  }: {
    timestamp?: string | null;
    privateKey?: CryptoKey;
    signedBody?: string;
    signature?: string | null;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const sig = signature === undefined
    ? await sendgridSignature(privateKey, timestamp ?? "", signedBody)
    : signature;
  if (sig !== null) headers["x-twilio-email-event-webhook-signature"] = sig;
  if (timestamp !== null) headers["x-twilio-email-event-webhook-timestamp"] = timestamp;
  return await ownApp.request("/webhooks/sendgrid", { method: "POST", headers, body });
}

const eventsBody = (events: Record<string, unknown>[]) => JSON.stringify(events) + "\r\n";

sendgridTest("missing, forged, altered and stale signatures: 401, nothing written", async () => {
  const { id, xMessageId, customer } = await sentEmail();
  const body = eventsBody([{
    email: customer.email,
    timestamp: Math.floor(Date.now() / 1000),
    event: "bounce",
    type: "bounce",
    status: "5.1.1",
    reason: "550 5.1.1 no such user",
    sg_event_id: `ev-${tag()}`,
    sg_message_id: `${xMessageId}.filter0001`,
    message_id: id,
  }]);
  const other = await sendgridKeyPair();
  const old = String(Math.floor(Date.now() / 1000) - 600);
  const before = await writableCounts();
  const refusals = [
    await postOwn(body, { signature: null }),
    await postOwn(body, { timestamp: null }),
    await postOwn(body, { signature: "" }),
    await postOwn(body, { privateKey: other.privateKey }),
    await postOwn(body.replace("bounce", "delivered"), { signedBody: body }),
    await postOwn(body, { timestamp: old }),
    await postOwn(body, { timestamp: String(Math.floor(Date.now() / 1000) + 600) }),
  ];
  for (const response of refusals) await expectProblem(response, 401);
  // The sandbox's genuine key does not sign for the test's key, and vice versa.
  await expectProblem(
    await fetch(`${harness.webhooksUrl}/sendgrid`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-twilio-email-event-webhook-signature": await sendgridSignature(
          ownKeys.privateKey,
          String(Math.floor(Date.now() / 1000)),
          body,
        ),
        "x-twilio-email-event-webhook-timestamp": String(Math.floor(Date.now() / 1000)),
      },
      body,
    }),
    401,
  );
  assert.deepEqual(await writableCounts(), before);
  assert.equal((await message(id)).status, "delivered");

  // Correctly signed and fresh, the same body is taken (a bounce after delivery ranks level).
  assert.equal((await postOwn(body)).status, 200);
  assert.equal((await writableCounts()).events, before.events + 1);
  assert.equal((await suppressionOf(customer.email)).reason, "hard_bounce");
});

sendgridTest("unknown messages kept; no key: 503; signed but unreadable: 400", async () => {
  const eventId = `ev-${tag()}`;
  const response = await postOwn(eventsBody([{
    email: "Someone@Example.TEST",
    timestamp: 1764410000,
    event: "delivered",
    sg_event_id: eventId,
    sg_message_id: "unknownXMessageId.filter0001.1.0",
  }]));
  assert.equal(response.status, 200);
  const rows = await adminSql()`
    select message_id, provider_message_id, message_status::text from public.message_events
     where provider = 'sendgrid' and event_key = ${eventId}`;
  assert.deepEqual([...rows], [{
    message_id: null,
    provider_message_id: "unknownXMessageId",
    message_status: "delivered",
  }]);

  const unconfigured = harness.appWith({ SENDGRID_WEBHOOK_PUBLIC_KEY: undefined });
  await expectProblem(
    await unconfigured.request("/webhooks/sendgrid", { method: "POST", body: "[]" }),
    503,
  );
  const before = await writableCounts();
  await expectProblem(await postOwn("not json"), 400);
  await expectProblem(await postOwn('{"event":"delivered"}'), 400);
  await expectProblem(await postOwn(eventsBody([{ event: "delivered" }])), 400);
  assert.deepEqual(await writableCounts(), before);
});

/** An email offer (marketing), for the opt-out tests: the gate appends the withdrawal link. */
async function ensureEmailOffer(): Promise<void> {
  await adminSql()`
    insert into public.templates (code, channel, language, purpose, subject, body)
    values ('webhooks_email_offer', 'email', 'en', 'marketing', 'An offer for {{policy_number}}',
            'Dear {{customer_name}}, renew {{policy_number}} before {{expiry_date}} for less.')
    on conflict do nothing`;
}

/** The customer's consent on a channel for a purpose: status and source, or undefined. */
async function consentOf(customerId: string, channel: string, purpose: string) {
  const [row] = await adminSql()`
    select status::text, source, recorded_by, evidence from public.consents
     where customer_id = ${customerId} and channel = ${channel} and purpose = ${purpose}`;
  return row;
}

/** What the gate makes of a transactional email to the customer now (blocked reason or null). */
async function gateOnEmail(customerId: string): Promise<string | null> {
  const [row] = await adminSql()<{ status: string; blocked_reason: string | null }[]>`
    select * from private.enqueue_messages(${
    adminSql().json({
      customer_id: customerId,
      channel: "email",
      template_code: "webhooks_test",
      variables: { customer_name: "Meera", policy_number: `P-${tag()}`, expiry_date: "1 Jan" },
      idempotency_key: `webhooks-gate-${tag()}`,
    })
  }::jsonb)`;
  return row.status === "blocked" ? row.blocked_reason : null;
}

for (const event of ["unsubscribe", "group_unsubscribe"]) {
  sendgridTest(
    `${event}: email marketing consent withdrawn, queued offers cancelled, nothing suppressed`,
    async () => {
      await ensureEmailOffer();
      const customer = await createCustomer({
        email: `Unsub+${tag()}@Example.TEST`,
        marketing: ["email", "sms"],
      });
      const offer = await enqueue(customer.id, "email", { template: "webhooks_email_offer" });
      const eventId = `ev-${tag()}`;
      const response = await postOwn(eventsBody([{
        email: customer.email.toUpperCase(),
        timestamp: Math.floor(Date.now() / 1000),
        event,
        sg_event_id: eventId,
        ...(event === "group_unsubscribe" ? { asm_group_id: 12 } : {}),
      }]));
      assert.equal(response.status, 200);
      const withdrawn = await consentOf(customer.id, "email", "marketing");
      assert.deepEqual([withdrawn?.status, withdrawn?.source, withdrawn?.recorded_by], [
        "withdrawn",
        "email_unsubscribe",
        null,
      ]);
      assert.equal(withdrawn.evidence.provider, "sendgrid");
      assert.equal((await message(offer)).status, "cancelled", "the queued offer will not go");
      assert.equal(
        (await consentOf(customer.id, "sms", "marketing"))?.status,
        "granted",
        "other channels keep their consent",
      );
      assert.equal(await suppressionOf(customer.email.toLowerCase()), undefined, "not suppressed");
      assert.equal(await gateOnEmail(customer.id), null, "a receipt still goes");
      // The same event again (SendGrid retries): recorded once, nothing more changes.
      const ledger = async () =>
        (await adminSql()`
          select count(*)::int as n from public.consent_ledger
           where customer_id = ${customer.id} and channel = 'email'`)[0].n;
      const rows = await ledger();
      assert.equal(
        (await postOwn(eventsBody([{ email: customer.email, event, sg_event_id: eventId }])))
          .status,
        200,
      );
      assert.equal(await ledger(), rows);
    },
  );
}

sendgridTest(
  "dropped for an unsubscribed address: failed, not suppressed, email marketing withdrawn",
  async () => {
    // SendGrid drops instead of processing: no other event moves the message first.
    await callbacks(sandbox, "sendgrid", "none");
    const { id, xMessageId, customer } = await sentEmail("dropunsub");
    const response = await postOwn(eventsBody([{
      email: customer.email,
      timestamp: Math.floor(Date.now() / 1000),
      event: "dropped",
      reason: "Unsubscribed Address",
      status: "5.0.0",
      sg_event_id: `ev-${tag()}`,
      sg_message_id: `${xMessageId}.filter0001`,
      message_id: id,
    }]));
    assert.equal(response.status, 200);
    const row = await message(id);
    assert.deepEqual([row.status, row.last_error_code], ["failed", "5.0.0"]);
    assert.equal(
      await suppressionOf(customer.email),
      undefined,
      "an opt-out is not a dead address",
    );
    assert.deepEqual(
      [(await consentOf(customer.id, "email", "marketing"))?.status],
      ["withdrawn"],
    );
    assert.equal(await gateOnEmail(customer.id), null, "receipts are not blocked");
  },
);

sendgridTest("dropped for an invalid or spam-reporting address still suppresses", async () => {
  await callbacks(sandbox, "sendgrid", "none");
  for (
    const [reason, suppressed] of [["Invalid", "hard_bounce"], [
      "Spam Reporting Address",
      "hard_bounce",
    ]]
  ) {
    const { id, xMessageId, customer } = await sentEmail("dropother");
    assert.equal(
      (await postOwn(eventsBody([{
        email: customer.email,
        timestamp: Math.floor(Date.now() / 1000),
        event: "dropped",
        reason,
        sg_event_id: `ev-${tag()}`,
        sg_message_id: `${xMessageId}.filter0001`,
        message_id: id,
      }]))).status,
      200,
    );
    assert.equal((await suppressionOf(customer.email))?.reason, suppressed, reason);
    assert.equal(await consentOf(customer.id, "email", "marketing"), undefined, reason);
  }
});

sendgridTest("a body over 1 MiB: 413 before anything is read", async () => {
  const before = await writableCounts();
  const huge = eventsBody([{ event: "processed", sg_event_id: "big", pad: "x".repeat(1 << 20) }]);
  await expectProblem(await postOwn(huge), 413);
  assert.deepEqual(await writableCounts(), before);
});

Deno.test("webhooks sendgrid: what each event means", () => {
  const id = crypto.randomUUID();
  const [processed, blocked, deferred, unsubscribe, dropped] = sendgridEvents([
    { event: "processed", sg_event_id: "e1", sg_message_id: "abc.filter1.2", message_id: id },
    {
      event: "bounce",
      type: "blocked",
      sg_event_id: "e2",
      email: "A@Example.TEST",
      reason: "550 5.7.1 policy",
      status: "5.7.1",
    },
    { event: "deferred", sg_event_id: "e3", email: "a@example.test" },
    { event: "unsubscribe", sg_event_id: "e4", email: "a@example.test" },
    { event: "dropped", sg_event_id: "e5", email: "a@example.test", reason: "Spam Content" },
  ]);
  const [groupUnsubscribe, droppedUnsubscribed, droppedBounced] = sendgridEvents([
    { event: "group_unsubscribe", sg_event_id: "e6", email: "B@Example.TEST", asm_group_id: 1 },
    {
      event: "dropped",
      sg_event_id: "e7",
      email: "b@example.test",
      reason: "Unsubscribed Address",
    },
    { event: "dropped", sg_event_id: "e8", email: "b@example.test", reason: "Bounced Address" },
  ]);
  assert.deepEqual([processed.status, processed.provider_message_id, processed.message_id], [
    "sent",
    "abc",
    id,
  ]);
  assert.deepEqual(
    [blocked.status, blocked.suppress],
    ["undeliverable", undefined],
    "a blocked bounce does not suppress the address",
  );
  assert.equal(deferred.status, null);
  assert.deepEqual(
    [unsubscribe.status, unsubscribe.suppress, unsubscribe.opt_out, unsubscribe.address],
    [null, undefined, true, "a@example.test"],
    "an unsubscribe withdraws email marketing; it does not suppress",
  );
  assert.deepEqual(
    [groupUnsubscribe.status, groupUnsubscribe.suppress, groupUnsubscribe.opt_out],
    [null, undefined, true],
  );
  assert.deepEqual(
    [droppedUnsubscribed.status, droppedUnsubscribed.suppress, droppedUnsubscribed.opt_out],
    ["failed", undefined, true],
    "a drop for an unsubscribed address is that opt-out, not a dead address",
  );
  assert.equal(droppedUnsubscribed.channel, "email");
  assert.deepEqual(
    [droppedBounced.status, droppedBounced.suppress, droppedBounced.opt_out],
    ["failed", "hard_bounce", undefined],
  );
  assert.deepEqual([dropped.status, dropped.suppress, dropped.opt_out], [
    "failed",
    undefined,
    undefined,
  ]);
  assert.throws(() => sendgridEvents({ event: "processed" }), /Not an array/);
});

dbTest("webhooks sendgrid: close the sandbox and the gateway", async () => {
  await harness.close();
});
