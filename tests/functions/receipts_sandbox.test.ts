// The sandbox's WhatsApp takes a template's document header as Meta does: the parameter must
// match the template's header format (132012), its link must be a URI (131009), and the document
// is downloaded by link: a PDF that downloads gives sent → delivered → read, a link that does not
// answer (or answers something that is not a PDF) gives `failed` with 131052.
import assert from "node:assert/strict";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { type Receiver, startReceiver } from "../../sandbox/receiver.ts";

/** A sandbox posting its WhatsApp webhooks to a receiver, and a file server for the links. */
async function withSandbox(
  fn: (sandbox: Sandbox, receiver: Receiver, files: string) => Promise<void>,
) {
  const receiver = await startReceiver();
  const sandbox = await startSandbox({ webhooks: { whatsapp: `${receiver.url}/whatsapp` } });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/receipt.pdf") {
      return new Response("%PDF-1.7\n%fake\n", { headers: { "content-type": "application/pdf" } });
    }
    if (path === "/page.html") return new Response("<html></html>");
    return new Response("gone", { status: 404 });
  });
  try {
    await fn(sandbox, receiver, `http://127.0.0.1:${server.addr.port}`);
  } finally {
    await sandbox.close();
    await receiver.close();
    await server.shutdown();
  }
}

async function send(sandbox: Sandbox, header: unknown) {
  const response = await fetch(
    `${sandbox.url}/graph/v21.0/${sandbox.credentials.whatsappPhoneNumberId}/messages`,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${sandbox.credentials.whatsappAccessToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        messaging_product: "whatsapp",
        to: "919810150461",
        type: "template",
        template: {
          name: "payment_receipt",
          language: { code: "en" },
          components: [
            { type: "header", parameters: [header] },
            {
              type: "body",
              parameters: [{ type: "text", text: "a" }, { type: "text", text: "b" }],
            },
          ],
        },
      }),
    },
  );
  return { status: response.status, json: await response.json() };
}

const documentHeader = (link: string) => ({
  type: "document",
  document: { link, filename: "receipt.pdf" },
});

/** The statuses the receiver got, in order. */
function statuses(receiver: Receiver) {
  return receiver.received.map((r) => JSON.parse(r.body).entry[0].changes[0].value.statuses[0]);
}

Deno.test("receipts sandbox: a document header of the wrong format or link is refused", async () => {
  await withSandbox(async (sandbox, _receiver, files) => {
    for (
      const header of [
        { type: "text", text: "Receipt" },
        { type: "image", image: { link: `${files}/receipt.pdf` } },
        { type: "document" },
        { type: "document", document: { filename: "receipt.pdf" } },
      ]
    ) {
      const refused = await send(sandbox, header);
      assert.equal(refused.status, 400, JSON.stringify(header));
      assert.equal(refused.json.error.code, 132012, JSON.stringify(header));
    }
    const notUri = await send(sandbox, documentHeader("receipt.pdf"));
    assert.equal(notUri.json.error.code, 131009);
    const requests = await (await fetch(`${sandbox.url}/_inspect/whatsapp_cloud/requests`)).json();
    assert.equal(requests.length, 0, "nothing refused was recorded");
  });
});

Deno.test("receipts sandbox: the header's document is recorded and downloaded; a bad link fails 131052", async () => {
  await withSandbox(async (sandbox, receiver, files) => {
    const ok = await send(sandbox, documentHeader(`${files}/receipt.pdf`));
    assert.equal(ok.status, 200);
    await sandbox.callbacksSettled();
    assert.deepEqual(statuses(receiver).map((s) => s.status), ["sent", "delivered", "read"]);
    const [request] = await (await fetch(`${sandbox.url}/_inspect/whatsapp_cloud/requests`))
      .json();
    assert.equal(request.id, ok.json.messages[0].id);
    assert.equal(request.template, "payment_receipt");
    assert.deepEqual(
      request.params.template.components[0],
      { type: "header", parameters: [documentHeader(`${files}/receipt.pdf`)] },
    );

    for (const link of [`${files}/missing.pdf`, `${files}/page.html`, "http://127.0.0.1:9/r.pdf"]) {
      receiver.received.length = 0;
      const accepted = await send(sandbox, documentHeader(link));
      assert.equal(accepted.status, 200, link);
      await sandbox.callbacksSettled();
      const [failed] = statuses(receiver);
      assert.equal(failed.status, "failed", link);
      assert.equal(failed.id, accepted.json.messages[0].id);
      assert.equal(failed.errors[0].code, 131052, link);
    }
  });
});
