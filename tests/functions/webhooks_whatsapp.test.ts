// /webhooks/whatsapp through the functions gateway: Meta's verify handshake; real template
// messages sent through the gate and the WhatsApp provider to the vendor sandbox, whose signed
// status webhooks (normal, read without delivered, duplicated, out of order, failed) move them
// and record their cost; customers' inbound messages opening the 24-hour window and a Hindi
// opt-out withdrawing marketing consent; unsigned, forged, altered and re-serialised bodies
// refused with nothing written.
import assert from "node:assert/strict";
import { whatsappEvents } from "../../functions/webhooks/whatsapp.ts";
import { whatsappSignature } from "../../sandbox/sign.ts";
import { metaJson } from "../../sandbox/whatsapp.ts";
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
  verifyToken,
  writableCounts,
} from "./_webhooks.ts";

const harness = await startHarness();
const { sandbox } = harness;
const appSecret = sandbox.credentials.whatsappAppSecret;
const whatsappUrl = `${harness.webhooksUrl}/whatsapp`;

function whatsappTest(name: string, fn: () => Promise<void>) {
  dbTest(`webhooks whatsapp: ${name}`, async () => {
    await control(sandbox, "reset");
    await callbacks(sandbox, "whatsapp_cloud");
    await ensureTemplates();
    await fn();
  });
}

/** A webhook body around `value`, as Meta writes it (non-ASCII escaped). */
function webhookBody(value: Record<string, unknown>): string {
  return metaJson({
    object: "whatsapp_business_account",
    entry: [{
      id: "102290129340398",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550783881", phone_number_id: "106540352242922" },
          ...value,
        },
      }],
    }],
  });
}

/** POSTs `body` signed with `secret` (over `signedBody`), or with `signature` as given. */
async function post(
  body: string,
  { secret = appSecret, signedBody = body, signature }: {
    secret?: string;
    signedBody?: string;
    signature?: string | null;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const sig = signature === undefined ? await whatsappSignature(secret, signedBody) : signature;
  if (sig !== null) headers["x-hub-signature-256"] = sig;
  return await fetch(whatsappUrl, { method: "POST", headers, body });
}

async function callbackAnswers(): Promise<number[]> {
  const callbacks: { status: number }[] =
    await (await fetch(`${sandbox.url}/_inspect/whatsapp_cloud/callbacks`)).json();
  return callbacks.map((callback) => callback.status);
}

async function sentTemplate() {
  const customer = await createCustomer({ whatsapp: true });
  const id = await enqueue(customer.id, "whatsapp");
  const results = await send(harness, [id]);
  await sandbox.callbacksSettled();
  const result = results.get(id)!;
  assert.ok(result.ok);
  return { customer, id, wamid: result.providerMessageId };
}

async function utilityRate(): Promise<number> {
  const [row] = await adminSql()`
    select (private.setting('MESSAGE_RATES_PAISE') ->> 'whatsapp_utility')::float8 as rate`;
  return row.rate;
}

whatsappTest("the verify handshake: the challenge for our token, 403 otherwise", async () => {
  const handshake = (query: Record<string, string>) =>
    fetch(`${whatsappUrl}?${new URLSearchParams(query)}`);
  const right = await handshake({
    "hub.mode": "subscribe",
    "hub.verify_token": verifyToken,
    "hub.challenge": "1158201444",
  });
  assert.equal(right.status, 200);
  assert.match(right.headers.get("content-type") ?? "", /^text\/plain/);
  assert.equal(await right.text(), "1158201444");
  for (
    const wrong of [
      { "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1" },
      { "hub.mode": "subscribe", "hub.verify_token": `${verifyToken}x`, "hub.challenge": "1" },
      { "hub.mode": "unsubscribe", "hub.verify_token": verifyToken, "hub.challenge": "1" },
      { "hub.mode": "subscribe", "hub.challenge": "1" },
      { "hub.mode": "subscribe", "hub.verify_token": verifyToken },
    ] as Record<string, string>[]
  ) {
    await expectProblem(await handshake(wrong), 403);
  }
  const unconfigured = harness.appWith({ WHATSAPP_VERIFY_TOKEN: undefined });
  await expectProblem(
    await unconfigured.request(
      `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1`,
    ),
    503,
  );
});

whatsappTest("a template goes sent, delivered, read, with its cost from the category", async () => {
  const { id, wamid } = await sentTemplate();
  const row = await message(id);
  assert.equal(row.status, "read");
  assert.equal(row.provider_message_id, wamid);
  assert.ok(row.delivered_at instanceof Date && row.read_at instanceof Date);
  assert.equal(row.cost_paise, await utilityRate(), "billable utility: the utility rate");
  assert.deepEqual((await eventsOf(id)).map((e) => [e.event_key, e.message_status]), [
    [`${wamid}:delivered`, "delivered"],
    [`${wamid}:read`, "read"],
    [`${wamid}:sent`, "sent"],
  ]);
  assert.deepEqual(await callbackAnswers(), [200, 200, 200]);
});

whatsappTest("statuses that come before the send is recorded apply when it is", async () => {
  const customer = await createCustomer({ whatsapp: true });
  const id = await enqueue(customer.id, "whatsapp");
  const sent = (await send(harness, [id], { recordAfterCallbacks: true })).get(id)!;
  assert.ok(sent.ok);
  const row = await message(id);
  assert.deepEqual([row.status, row.provider_message_id], ["read", sent.providerMessageId]);
  assert.ok(row.delivered_at instanceof Date && row.read_at instanceof Date);
  assert.equal((await eventsOf(id)).length, 3);
});

whatsappTest("read without delivered, duplicated, out of order: read, one row each", async () => {
  await callbacks(sandbox, "whatsapp_cloud", "read_without_delivered");
  const skipped = await sentTemplate();
  assert.equal((await message(skipped.id)).status, "read");
  assert.deepEqual((await eventsOf(skipped.id)).map((e) => e.status), ["read", "sent"]);

  await callbacks(sandbox, "whatsapp_cloud", "duplicate");
  const twice = await sentTemplate();
  assert.equal((await message(twice.id)).status, "read");
  assert.equal((await eventsOf(twice.id)).length, 3);

  await callbacks(sandbox, "whatsapp_cloud", "out_of_order");
  const reversed = await sentTemplate();
  assert.equal((await message(reversed.id)).status, "read");
  assert.equal((await eventsOf(reversed.id)).length, 3);
  const answers = await callbackAnswers();
  assert.equal(answers.length, 2 + 6 + 3);
  assert.ok(answers.every((status) => status === 200), JSON.stringify(answers));
});

whatsappTest("a failed status: failed with Meta's error code", async () => {
  await control(sandbox, "whatsapp_cloud", { failNext: { code: 131026, via: "callback" } });
  const { id, wamid } = await sentTemplate();
  const row = await message(id);
  assert.equal(row.status, "failed");
  assert.equal(row.last_error_code, "131026");
  assert.deepEqual((await eventsOf(id)).map((e) => e.event_key), [`${wamid}:failed`]);
});

whatsappTest("an inbound message opens the customer's 24-hour window", async () => {
  const customer = await createCustomer({ whatsapp: true });
  const reply = await control(sandbox, "whatsapp_cloud/reply", {
    from: customer.phone,
    text: "Please send the renewal link",
  }) as { id: string; status: number };
  assert.equal(reply.status, 200);
  const [window] = await adminSql()`
    select last_inbound_at > now() - interval '1 minute' as fresh from public.whatsapp_windows
     where customer_id = ${customer.id}`;
  assert.deepEqual(window, { fresh: true });
  const [event] = await adminSql()`
    select kind, event_key, payload -> 'text' ->> 'body' as text from public.message_events
     where provider = 'whatsapp_cloud' and event_key = ${reply.id}`;
  assert.deepEqual(event, {
    kind: "inbound",
    event_key: reply.id,
    text: "Please send the renewal link",
  });
  // Inside the window, free text passes the gate.
  const [free] = await adminSql()`
    select status::text from private.enqueue_messages(${
    adminSql().json({
      customer_id: customer.id,
      channel: "whatsapp",
      body: "Here it is",
      purpose: "service",
      idempotency_key: `webhooks-free-${tag()}`,
    })
  }::jsonb)`;
  assert.equal(free.status, "queued");
  await adminSql()`update public.messages set status = 'cancelled'
                    where customer_id = ${customer.id} and status = 'queued'`;
});

whatsappTest("a Hindi opt-out (रोकें) withdraws WhatsApp marketing consent", async () => {
  const customer = await createCustomer({ whatsapp: true, marketing: ["whatsapp", "sms"] });
  const reply = await control(sandbox, "whatsapp_cloud/reply", {
    from: customer.phone,
    text: "रोकें",
  }) as { status: number };
  assert.equal(reply.status, 200);
  const consents = await adminSql()`
    select channel::text, status::text, source, evidence ->> 'reply' as reply
      from public.consents
     where customer_id = ${customer.id} and purpose = 'marketing' order by channel`;
  assert.deepEqual([...consents], [
    { channel: "sms", status: "granted", source: "web_form", reply: null },
    { channel: "whatsapp", status: "withdrawn", source: "whatsapp_reply", reply: "रोकें" },
  ]);
});

whatsappTest("a status for a message we do not know is kept with message_id null", async () => {
  const wamid = `wamid.${tag()}${tag()}`;
  const response = await post(webhookBody({
    statuses: [{
      id: wamid,
      status: "delivered",
      timestamp: "1764410000",
      recipient_id: "919812345678",
      biz_opaque_callback_data: "not-our-id",
    }],
  }));
  assert.equal(response.status, 200);
  const rows = await adminSql()`
    select message_id, message_status::text, occurred_at from public.message_events
     where provider = 'whatsapp_cloud' and event_key = ${wamid + ":delivered"}`;
  assert.deepEqual([...rows], [{
    message_id: null,
    message_status: "delivered",
    occurred_at: new Date(1764410000 * 1000),
  }]);
});

whatsappTest("missing, forged, altered, re-serialised: 401, nothing written", async () => {
  const { id, wamid, customer } = await sentTemplate();
  const body = webhookBody({
    statuses: [{
      id: wamid,
      status: "failed",
      timestamp: String(Math.floor(Date.now() / 1000)),
      recipient_id: customer.phone.slice(1),
      biz_opaque_callback_data: id,
      errors: [{ code: 131026, title: "Message undeliverable — नहीं" }],
    }],
  });
  const before = await writableCounts();
  const refusals = [
    await post(body, { signature: null }),
    await post(body, { signature: "" }),
    await post(body, { signature: (await whatsappSignature(appSecret, body)).slice(7) }),
    await post(body, { secret: "0".repeat(32) }),
    await post(body, { secret: sandbox.credentials.whatsappAccessToken }),
    await post(body.replace("131026", "131047"), { signedBody: body }),
    // The same JSON re-serialised (Hindi no longer \u-escaped) is other bytes.
    await post(JSON.stringify(JSON.parse(body)), { signedBody: body }),
  ];
  for (const response of refusals) await expectProblem(response, 401);
  assert.deepEqual(await writableCounts(), before);
  assert.equal((await message(id)).status, "read");

  // No time is signed: a replay of a genuine body is answered and stores nothing new.
  const genuine = webhookBody({
    statuses: [{ id: `wamid.${tag()}`, status: "sent", timestamp: "1764410000" }],
  });
  assert.equal((await post(genuine)).status, 200);
  const afterFirst = await writableCounts();
  assert.equal(afterFirst.events, before.events + 1);
  assert.equal((await post(genuine)).status, 200);
  assert.deepEqual(await writableCounts(), afterFirst);
});

whatsappTest("no app secret: 503; signed but unreadable: 400, nothing written", async () => {
  const unconfigured = harness.appWith({ WHATSAPP_APP_SECRET: undefined });
  await expectProblem(
    await unconfigured.request("/webhooks/whatsapp", {
      method: "POST",
      headers: { "content-type": "application/json", "x-hub-signature-256": "sha256=00" },
      body: "{}",
    }),
    503,
  );
  const before = await writableCounts();
  await expectProblem(await post("not json"), 400);
  await expectProblem(await post('{"object":"page","entry":[]}'), 400);
  await expectProblem(
    await post(webhookBody({ statuses: [{ id: "wamid.x", status: 7 }] })),
    400,
  );
  await expectProblem(
    await post(webhookBody({ messages: [{ from: "+91 98", id: "wamid.y", type: "text" }] })),
    400,
  );
  assert.deepEqual(await writableCounts(), before);
});

Deno.test("webhooks whatsapp: what each status and message means", () => {
  const body = (value: Record<string, unknown>) =>
    JSON.parse(webhookBody(value)) as Record<string, unknown>;
  const [free, marketing, deleted] = whatsappEvents(body({
    statuses: [
      {
        id: "wamid.1",
        status: "delivered",
        pricing: { billable: false, pricing_model: "CBP", category: "service" },
      },
      {
        id: "wamid.2",
        status: "read",
        pricing: { billable: true, pricing_model: "PMP", category: "marketing" },
      },
      { id: "wamid.3", status: "deleted" },
    ],
  }));
  assert.deepEqual([free.cost_paise, free.cost_rate], [0, undefined]);
  assert.deepEqual([marketing.cost_paise, marketing.cost_rate], [undefined, "whatsapp_marketing"]);
  assert.deepEqual([deleted.status, deleted.vendor_status], [null, "deleted"]);
  const [button] = whatsappEvents(body({
    messages: [{
      from: "919812345678",
      id: "wamid.4",
      type: "button",
      button: { text: "Stop promotions", payload: "stop" },
    }],
  }));
  assert.deepEqual([button.address, button.reply, button.channel], [
    "+919812345678",
    "Stop promotions",
    "whatsapp",
  ]);
  assert.deepEqual(whatsappEvents(body({ contacts: [] })), [], "nothing to record");
});

dbTest("webhooks whatsapp: close the sandbox and the gateway", async () => {
  await harness.close();
});
