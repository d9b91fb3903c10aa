// The sandbox's WhatsApp Cloud API (VENDORS.md §3): sends validated against the template
// registry, the Graph error envelope and its codes, and the status and inbound webhooks signed
// with X-Hub-Signature-256 (checked with the webhooks' own verifier) in Meta's escaped JSON.
import assert from "node:assert/strict";
import { verifyWhatsappSignature } from "../../functions/_shared/signatures/whatsapp.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type Receiver, startReceiver } from "../../sandbox/receiver.ts";

async function withSandbox(fn: (sandbox: Sandbox, receiver: Receiver) => Promise<void>) {
  const receiver = await startReceiver();
  const sandbox = await startSandbox({ webhooks: { whatsapp: `${receiver.url}/whatsapp` } });
  try {
    await fn(sandbox, receiver);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
}

async function send(
  sandbox: Sandbox,
  body: unknown,
  options: { token?: string; phoneNumberId?: string } = {},
) {
  const id = options.phoneNumberId ?? sandbox.credentials.whatsappPhoneNumberId;
  const response = await fetch(`${sandbox.url}/graph/v21.0/${id}/messages`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${options.token ?? sandbox.credentials.whatsappAccessToken}`,
      "content-type": "application/json",
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

async function control(sandbox: Sandbox, path: string, body: unknown) {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

function template(name: string, language: string, bodyTexts: string[], extra: unknown[] = []) {
  return {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: "919810150461",
    type: "template",
    biz_opaque_callback_data: "msg-42",
    template: {
      name,
      language: { code: language },
      components: [
        ...extra,
        { type: "body", parameters: bodyTexts.map((text) => ({ type: "text", text })) },
      ],
    },
  };
}

const text = (body: string, to = "919810150461") => ({
  messaging_product: "whatsapp",
  to,
  type: "text",
  text: { body, preview_url: false },
});

/** The `value` of each webhook post the receiver got. */
function values(receiver: Receiver) {
  return receiver.received.map((r) => JSON.parse(r.body).entry[0].changes[0].value);
}

Deno.test("sandbox whatsapp: a template send is 200 with contacts and a wamid, and listed", async () => {
  await withSandbox(async (sandbox) => {
    const answer = await send(
      sandbox,
      template("renewal_reminder", "hi", ["आशा", "12 दिसंबर", "₹18,450"]),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.json.messaging_product, "whatsapp");
    assert.deepEqual(answer.json.contacts, [{ input: "919810150461", wa_id: "919810150461" }]);
    const id = answer.json.messages[0].id;
    assert.match(id, /^wamid\.HBgM[A-Za-z0-9+/]+=*$/);
    // The id frames the recipient's digits, as Meta's do.
    assert.ok(atob(id.slice(6)).includes("919810150461"));
    const [listed] = await (await fetch(`${sandbox.url}/_inspect/whatsapp_cloud/requests`)).json();
    assert.equal(listed.id, id);
    assert.equal(listed.template, "renewal_reminder");
    assert.equal(listed.ourId, "msg-42");
    assert.equal(listed.params.template.language.code, "hi");
    assert.equal(
      (await send(sandbox, {
        messaging_product: "whatsapp",
        to: "+919810150461",
        type: "document",
        document: { link: "https://files.py360.test/receipt.pdf", filename: "receipt.pdf" },
      })).status,
      200,
    );
  });
});

Deno.test("sandbox whatsapp: 132001 for an unknown template or language, 132000 for a wrong parameter count", async () => {
  await withSandbox(async (sandbox) => {
    const missing = await send(sandbox, template("renewal_reminder", "ta", ["a", "b", "c"]));
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 132001);
    assert.equal(missing.json.error.type, "OAuthException");
    assert.equal(
      missing.json.error.message,
      "(#132001) Template name does not exist in the translation",
    );
    assert.equal(
      missing.json.error.error_data.details,
      "template name (renewal_reminder) does not exist in ta",
    );
    assert.match(missing.json.error.fbtrace_id, /^A[A-Za-z0-9_-]{22}$/);

    const count = await send(sandbox, template("renewal_reminder", "en", ["a", "b"]));
    assert.equal(count.status, 400);
    assert.equal(count.json.error.code, 132000);
    assert.equal(
      count.json.error.error_data.details,
      "body: number of localizable_params (2) does not match the expected number of params (3)",
    );
    // The document header counts too.
    const noHeader = await send(sandbox, template("payment_receipt", "en", ["a", "b"]));
    assert.equal(noHeader.json.error.code, 132000);
    const header = {
      type: "header",
      parameters: [{
        type: "document",
        document: { link: "https://x.test/r.pdf", filename: "r.pdf" },
      }],
    };
    assert.equal(
      (await send(sandbox, template("payment_receipt", "en", ["a", "b"], [header]))).status,
      200,
    );

    // Templates registered through the control API.
    await control(sandbox, "whatsapp_cloud/templates", {
      templates: [{ name: "lapse_notice", language: "en", category: "utility", bodyParams: 1 }],
    });
    assert.equal((await send(sandbox, template("lapse_notice", "en", ["a"]))).status, 200);
    assert.equal(
      (await send(sandbox, template("renewal_reminder", "en", ["a", "b", "c"]))).status,
      200,
    );
    await control(sandbox, "whatsapp_cloud/templates", {
      replace: true,
      templates: [{ name: "lapse_notice", language: "en", category: "utility", bodyParams: 1 }],
    });
    assert.equal(
      (await send(sandbox, template("renewal_reminder", "en", ["a", "b", "c"]))).json.error.code,
      132001,
    );
  });
});

Deno.test("sandbox whatsapp: a bad token is 190, a bad body is 100, failNext gives the Graph code", async () => {
  await withSandbox(async (sandbox) => {
    const expired = await send(sandbox, text("hi"), { token: "EAAGexpired" });
    assert.equal(expired.status, 401);
    assert.equal(expired.json.error.code, 190);
    const elsewhere = await send(sandbox, text("hi"), { phoneNumberId: "999999999999999" });
    assert.equal(elsewhere.status, 400);
    assert.equal(elsewhere.json.error.code, 100);
    assert.equal(elsewhere.json.error.error_subcode, 33);
    const empty = await send(sandbox, text(""));
    assert.equal(empty.json.error.code, 100);
    assert.equal(empty.json.error.error_data.details, "The parameter text['body'] is required.");
    assert.equal(
      (await send(sandbox, { ...text("hi"), messaging_product: "sms" })).json.error.code,
      100,
    );
    assert.equal((await send(sandbox, { ...text("hi"), type: "poll" })).json.error.code, 100);

    for (const code of [131047, 131026, 131049, 131056, 130429]) {
      await control(sandbox, "whatsapp_cloud", { failNext: { code } });
      const failed = await send(sandbox, text("hi"));
      assert.equal(failed.status, 400);
      assert.equal(failed.json.error.code, code);
      assert.match(failed.json.error.message, new RegExp(`^\\(#${code}\\) `));
      assert.equal(failed.json.error.error_data.messaging_product, "whatsapp");
    }
    assert.equal((await send(sandbox, text("hi"))).status, 200);
    assert.equal(
      (await (await fetch(`${sandbox.url}/_inspect/whatsapp_cloud/requests`)).json()).length,
      1,
    );
  });
});

Deno.test("sandbox whatsapp: beyond the rate 130429, as Meta's throughput error", async () => {
  await withSandbox(async (sandbox) => {
    await control(sandbox, "whatsapp_cloud", { rateLimitPerSecond: 2 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(sandbox, text("hi"))));
    const limited = answers.filter((a) => a.status !== 200);
    assert.ok(limited.length >= 4, `limited ${limited.length}`);
    assert.equal(limited[0].json.error.code, 130429);
    assert.equal(limited[0].json.error.message, "(#130429) Rate limit hit");
  });
});

Deno.test("sandbox whatsapp: statuses sent → delivered → read, signed, with pricing and escaped JSON", async () => {
  await withSandbox(async (sandbox, receiver) => {
    const id =
      (await send(sandbox, template("renewal_offer", "hi", ["आशा", "10%"]))).json.messages[0].id;
    await sandbox.callbacksSettled();
    assert.equal(receiver.received.length, 3);
    for (const request of receiver.received) {
      const header = request.headers.get("x-hub-signature-256");
      assert.match(header!, /^sha256=[0-9a-f]{64}$/);
      assert.ok(
        await verifyWhatsappSignature(sandbox.credentials.whatsappAppSecret, header, request.body),
      );
      assert.equal(await verifyWhatsappSignature("0".repeat(32), header, request.body), false);
      assert.match(request.body, /^[\x20-\x7e]*$/); // ASCII only: non-ASCII is escaped
      const body = JSON.parse(request.body);
      assert.equal(body.object, "whatsapp_business_account");
      assert.equal(body.entry[0].changes[0].field, "messages");
    }
    const statuses = values(receiver).map((v) => v.statuses[0]);
    assert.deepEqual(statuses.map((s) => s.status), ["sent", "delivered", "read"]);
    for (const status of statuses) {
      assert.equal(status.id, id);
      assert.equal(status.recipient_id, "919810150461");
      assert.equal(status.biz_opaque_callback_data, "msg-42");
      assert.match(status.timestamp, /^\d{10}$/);
      assert.deepEqual(status.pricing, {
        billable: true,
        pricing_model: "CBP",
        category: "marketing",
      });
    }
    assert.equal(
      values(receiver)[0].metadata.phone_number_id,
      sandbox.credentials.whatsappPhoneNumberId,
    );
  });
});

Deno.test("sandbox whatsapp: failed statuses carry errors[], and read can come without delivered", async () => {
  await withSandbox(async (sandbox, receiver) => {
    await control(sandbox, "whatsapp_cloud", { failNext: { code: 131026, via: "callback" } });
    const accepted = await send(sandbox, text("hi"));
    assert.equal(accepted.status, 200);
    await sandbox.callbacksSettled();
    const [failed] = values(receiver).map((v) => v.statuses[0]);
    assert.equal(failed.status, "failed");
    assert.equal(failed.id, accepted.json.messages[0].id);
    assert.equal(failed.errors[0].code, 131026);
    assert.equal(failed.errors[0].title, "Message undeliverable");

    receiver.received.length = 0;
    await control(sandbox, "whatsapp_cloud", { callbacks: { mode: "read_without_delivered" } });
    await send(sandbox, text("hi"));
    await sandbox.callbacksSettled();
    assert.deepEqual(values(receiver).map((v) => v.statuses[0].status), ["sent", "read"]);
    assert.equal(values(receiver)[0].statuses[0].pricing.category, "service");
  });
});

Deno.test("sandbox whatsapp: a customer's reply arrives as a signed inbound message and opens the window", async () => {
  await withSandbox(async (sandbox, receiver) => {
    await control(sandbox, "whatsapp_cloud", { enforceWindow: true });
    const outside = await send(sandbox, text("hi", "919812345678"));
    assert.equal(outside.json.error.code, 131047);
    const reply = await control(sandbox, "whatsapp_cloud/reply", {
      from: "+919812345678",
      text: "रोकें STOP",
    });
    assert.equal(reply.status, 200);
    const [request] = receiver.received;
    assert.ok(request.body.includes("\\u0930\\u094b\\u0915\\u0947\\u0902 STOP"), request.body);
    assert.ok(
      await verifyWhatsappSignature(
        sandbox.credentials.whatsappAppSecret,
        request.headers.get("x-hub-signature-256"),
        request.body,
      ),
    );
    const [value] = values(receiver);
    assert.equal(value.messages[0].from, "919812345678");
    assert.equal(value.messages[0].id, reply.id);
    assert.equal(value.messages[0].type, "text");
    assert.equal(value.messages[0].text.body, "रोकें STOP");
    assert.equal(value.contacts[0].wa_id, "919812345678");
    assert.equal((await send(sandbox, text("hi", "919812345678"))).status, 200);
  });
});
