// POST /webhooks/twilio through the functions gateway: real SMS sent through the gate and the
// Twilio provider to the vendor sandbox, whose signed status callbacks (normal, duplicated, out
// of order, failed) move the messages; a STOP reply withdraws marketing consent; unsigned,
// forged and altered posts are refused with nothing written.
import assert from "node:assert/strict";
import { twilioEvents } from "../../functions/webhooks/twilio.ts";
import { twilioSignature } from "../../sandbox/sign.ts";
import { adminSql, dbTest, expectProblem } from "./_helpers.ts";
import {
  callbacks,
  control,
  createCustomer,
  enqueue,
  ensureTemplates,
  eventsOf,
  freshPhone,
  message,
  send,
  startHarness,
  tag,
  writableCounts,
} from "./_webhooks.ts";

const harness = await startHarness();
const { sandbox } = harness;
const authToken = sandbox.credentials.twilioAuthToken;
const twilioUrl = `${harness.webhooksUrl}/twilio`;

function twilioTest(name: string, fn: () => Promise<void>) {
  dbTest(`webhooks twilio: ${name}`, async () => {
    await control(sandbox, "reset");
    await callbacks(sandbox, "twilio");
    await ensureTemplates();
    await fn();
  });
}

/** A form post to `url`, signed with `token` over `signedUrl` and `signedParams`. */
async function post(
  url: string,
  params: Record<string, string>,
  {
    token = authToken,
    signedUrl = url,
    signedParams = params,
    signature,
  }: {
    token?: string;
    signedUrl?: string;
    signedParams?: Record<string, string>;
    signature?: string | null;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded; charset=utf-8",
  };
  const sig = signature === undefined
    ? await twilioSignature(token, signedUrl, signedParams)
    : signature;
  if (sig !== null) headers["x-twilio-signature"] = sig;
  return await fetch(url, { method: "POST", headers, body: new URLSearchParams(params) });
}

/** The status callbacks Twilio (the sandbox) made, and what our webhook answered. */
async function callbackAnswers(): Promise<number[]> {
  const callbacks: { status: number }[] =
    await (await fetch(`${sandbox.url}/_inspect/twilio/callbacks`)).json();
  return callbacks.map((callback) => callback.status);
}

async function sentSms() {
  const customer = await createCustomer();
  const id = await enqueue(customer.id, "sms");
  const results = await send(harness, [id]);
  await sandbox.callbacksSettled();
  const result = results.get(id)!;
  assert.ok(result.ok);
  return { customer, id, sid: result.providerMessageId };
}

twilioTest("a sent SMS reaches delivered through the signed status callbacks", async () => {
  const { id, sid } = await sentSms();
  const row = await message(id);
  assert.equal(row.status, "delivered");
  assert.equal(row.provider_message_id, sid);
  assert.ok(row.delivered_at instanceof Date);
  assert.deepEqual(
    (await eventsOf(id)).map((e) => [e.event_key, e.message_status]),
    [[`${sid}:delivered`, "delivered"], [`${sid}:sent`, "sent"]],
    "each callback is one event",
  );
  assert.deepEqual(await callbackAnswers(), [204, 204]);
});

twilioTest("callbacks that come before the send is recorded apply when it is", async () => {
  const customer = await createCustomer();
  const id = await enqueue(customer.id, "sms");
  const sent = (await send(harness, [id], { recordAfterCallbacks: true })).get(id)!;
  assert.ok(sent.ok);
  assert.deepEqual(await callbackAnswers(), [204, 204], "taken while the SMS was sending");
  const row = await message(id);
  assert.deepEqual([row.status, row.provider_message_id], ["delivered", sent.providerMessageId]);
  assert.ok(row.delivered_at instanceof Date);
  assert.equal((await eventsOf(id)).length, 2);
});

twilioTest("duplicated callbacks: one event row each, delivered", async () => {
  await callbacks(sandbox, "twilio", "duplicate");
  const { id, sid } = await sentSms();
  assert.equal((await message(id)).status, "delivered");
  assert.deepEqual(await callbackAnswers(), [204, 204, 204, 204], "each posted twice");
  assert.deepEqual((await eventsOf(id)).map((e) => e.event_key), [
    `${sid}:delivered`,
    `${sid}:sent`,
  ]);
});

twilioTest("out-of-order callbacks: delivered first, the late sent does not undo it", async () => {
  await callbacks(sandbox, "twilio", "out_of_order");
  const { id } = await sentSms();
  const row = await message(id);
  assert.equal(row.status, "delivered");
  assert.equal((await eventsOf(id)).length, 2);
});

twilioTest(
  "undelivered with 30005 (unknown handset): undeliverable, number suppressed",
  async () => {
    await control(sandbox, "twilio", { failNext: { code: 30005, via: "callback" } });
    const { id, customer, sid } = await sentSms();
    const row = await message(id);
    assert.equal(row.status, "undeliverable");
    assert.equal(row.last_error_code, "30005");
    const events = await eventsOf(id);
    assert.deepEqual(events.map((e) => e.event_key).sort(), [
      `${sid}:sent`,
      `${sid}:undelivered`,
    ]);
    const [suppression] = await adminSql()`
    select channel::text, reason, source, message_id from public.suppressions
     where address = ${customer.phone}`;
    assert.deepEqual(suppression, {
      channel: "sms",
      reason: "invalid_number",
      source: "twilio_30005",
      message_id: id,
    });
  },
);

twilioTest(
  "a STOP reply withdraws SMS marketing consent and stops the next marketing SMS",
  async () => {
    const sql = adminSql();
    const customer = await createCustomer({ marketing: ["sms"] });
    const offer = await enqueue(customer.id, "sms", { template: "webhooks_offer" });
    const reply = await control(sandbox, "twilio/reply", { from: customer.phone, text: "STOP" });
    assert.equal((reply as { status: number }).status, 200, "the webhook answered the reply");
    const [consent] = await sql`
    select status::text, source, evidence ->> 'reply' as reply from public.consents
     where customer_id = ${customer.id} and channel = 'sms' and purpose = 'marketing'`;
    assert.deepEqual(consent, { status: "withdrawn", source: "sms_stop", reply: "STOP" });
    assert.equal((await message(offer)).status, "cancelled", "the queued offer will not go");
    const [next] = await sql`
    select status::text, blocked_reason from private.enqueue_messages(${
      sql.json({
        customer_id: customer.id,
        channel: "sms",
        template_code: "webhooks_offer",
        variables: { customer_name: "Meera" },
        idempotency_key: `webhooks-next-offer-${tag()}`,
      })
    }::jsonb)`;
    assert.deepEqual(next, { status: "blocked", blocked_reason: "consent_withdrawn" });
    const [inbound] = await sql`
    select kind, message_id, status from public.message_events
     where provider = 'twilio' and kind = 'inbound' and payload ->> 'From' = ${customer.phone}`;
    assert.deepEqual(inbound, { kind: "inbound", message_id: null, status: "received" });
  },
);

twilioTest("an inbound SMS is answered with empty TwiML and kept", async () => {
  const sid = `SM${tag()}${tag()}${tag()}${tag()}`;
  const from = freshPhone();
  const response = await post(twilioUrl, {
    MessageSid: sid,
    SmsSid: sid,
    SmsStatus: "received",
    From: from,
    To: "+15005550006",
    Body: "Please call me",
    AccountSid: sandbox.credentials.twilioAccountSid,
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/xml/);
  assert.match(await response.text(), /<Response\/>$/);
  const [event] = await adminSql()`
    select kind, message_id, provider_message_id from public.message_events
     where provider = 'twilio' and event_key = ${sid}`;
  assert.deepEqual(event, { kind: "inbound", message_id: null, provider_message_id: sid });
});

twilioTest("a status for a message we do not know is kept with message_id null", async () => {
  const sid = `SM${crypto.randomUUID().replaceAll("-", "")}`;
  const response = await post(twilioUrl, {
    MessageSid: sid,
    MessageStatus: "delivered",
    To: freshPhone(),
    From: "PYRNWL",
  });
  assert.equal(response.status, 204);
  const rows = await adminSql()`
    select message_id, status, message_status::text from public.message_events
     where provider = 'twilio' and event_key = ${sid + ":delivered"}`;
  assert.deepEqual([...rows], [{
    message_id: null,
    status: "delivered",
    message_status: "delivered",
  }]);
});

twilioTest("missing, forged and altered signatures: 401 and nothing written", async () => {
  const { id, sid } = await sentSms();
  const callbackUrl = `${twilioUrl}?message_id=${id}`;
  const params = { MessageSid: sid, MessageStatus: "failed", ErrorCode: "30005", To: freshPhone() };
  const before = await writableCounts();
  const refusals = [
    await post(callbackUrl, params, { signature: null }),
    await post(callbackUrl, params, { signature: "" }),
    await post(callbackUrl, params, { token: "0".repeat(32) }),
    // Altered: a field changed after signing, or the URL's message id swapped.
    await post(callbackUrl, { ...params, ErrorCode: "30003" }, { signedParams: params }),
    await post(`${twilioUrl}?message_id=${crypto.randomUUID()}`, params, {
      signedUrl: callbackUrl,
    }),
    // Signed for another host than the public one.
    await post(callbackUrl, params, { signedUrl: callbackUrl.replace("127.0.0.1", "localhost") }),
  ];
  for (const response of refusals) {
    const problem = await expectProblem(response, 401);
    assert.equal(problem.title, "Unauthorized");
  }
  assert.deepEqual(await writableCounts(), before);
  assert.equal((await message(id)).status, "delivered", "the forged failure changed nothing");

  // Twilio signs no time: a replay of a genuine callback is answered and stores nothing new.
  const genuine = { MessageSid: sid, MessageStatus: "read", To: "+919700000000" };
  const first = await post(callbackUrl, genuine);
  assert.equal(first.status, 204);
  const afterFirst = await writableCounts();
  assert.equal(afterFirst.events, before.events + 1, "the genuine callback is stored");
  const replay = await post(callbackUrl, genuine);
  assert.equal(replay.status, 204);
  assert.deepEqual(await writableCounts(), afterFirst);
});

twilioTest("no auth token: 503; signed but not a Twilio post: 400, nothing written", async () => {
  const unconfigured = harness.appWith({ TWILIO_AUTH_TOKEN: undefined });
  const body = new URLSearchParams({ MessageSid: "SMx", MessageStatus: "sent" });
  await expectProblem(
    await unconfigured.request("/webhooks/twilio", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": "whatever",
      },
      body,
    }),
    503,
  );
  const before = await writableCounts();
  await expectProblem(await post(twilioUrl, { Foo: "bar" }), 400);
  await expectProblem(await post(twilioUrl, { MessageSid: "SM1" }), 400);
  assert.deepEqual(await writableCounts(), before);
});

Deno.test("webhooks twilio: what each form means", () => {
  const id = crypto.randomUUID();
  const status = (fields: Record<string, string>, query: string | null = id) =>
    twilioEvents({ MessageSid: "SM1", To: "+919812345678", ...fields }, query).events[0];
  assert.equal(status({ MessageStatus: "queued" }).status, "sent", "Twilio has it");
  assert.equal(status({ MessageStatus: "accepted" }).status, "sent");
  assert.equal(status({ MessageStatus: "sending" }).status, "sent");
  assert.equal(status({ MessageStatus: "scheduled" }).status, null);
  assert.equal(status({ MessageStatus: "undelivered" }).status, "undeliverable");
  assert.equal(status({ MessageStatus: "failed" }).status, "failed");
  assert.equal(status({ MessageStatus: "read" }).status, "read");
  assert.equal(status({ MessageStatus: "sent" }).message_id, id);
  assert.equal(status({ MessageStatus: "sent" }, "not-a-uuid").message_id, null);
  // Twilio's opt-out list (the customer replied STOP to our sender) is not a dead number: the
  // failure is recorded, the number is not suppressed (other senders still reach it).
  const stop = status({ MessageStatus: "failed", ErrorCode: "21610" });
  assert.deepEqual([stop.status, stop.error_code, stop.suppress, stop.address], [
    "failed",
    "21610",
    undefined,
    undefined,
  ]);
  const dead = status({ MessageStatus: "failed", ErrorCode: "21211" });
  assert.deepEqual([dead.suppress, dead.address, dead.channel], [
    "invalid_number",
    "+919812345678",
    "sms",
  ]);
  const transient = status({ MessageStatus: "undelivered", ErrorCode: "30003" });
  assert.equal(transient.suppress, undefined, "an unreachable handset is not a dead number");
  assert.equal(transient.error_code, "30003");
  const inbound = twilioEvents(
    { MessageSid: "SM2", SmsStatus: "received", From: "+919812345678", Body: "STOP" },
    null,
  );
  assert.equal(inbound.inbound, true);
  assert.deepEqual(
    [inbound.events[0].kind, inbound.events[0].address, inbound.events[0].reply],
    ["inbound", "+919812345678", "STOP"],
  );
});

dbTest("webhooks twilio: close the sandbox and the gateway", async () => {
  await harness.close();
});
