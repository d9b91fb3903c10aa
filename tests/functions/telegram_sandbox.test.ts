// The sandbox's Telegram Bot API (sandbox/telegram.ts) as VENDORS.md §7 writes it: the token in
// the path (401 Unauthorized otherwise), setWebhook's URL and secret_token rules, Telegram's error
// envelope for sendMessage (empty or long text, chat not found, blocked, 429 with retry_after),
// sendDocument, JSON, form and query calls, and the control API's played users.
import assert from "node:assert/strict";
import { startSandbox } from "../../sandbox/mod.ts";
import { startReceiver } from "../../sandbox/receiver.ts";

const sandbox = await startSandbox();
const receiver = await startReceiver();
const base = `${sandbox.url}/telegram/bot${sandbox.credentials.telegramBotToken}`;

function sandboxTest(name: string, fn: () => Promise<void>) {
  Deno.test({
    name: `telegram sandbox: ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await control("reset");
      receiver.received.length = 0;
      await fn();
    },
  });
}

async function control(path: string, body: unknown = {}) {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Calls a Bot API method with a JSON body; status and Telegram's answer. */
async function call(method: string, body?: Record<string, unknown>, url = base) {
  const response = await fetch(`${url}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  return { status: response.status, body: await response.json() };
}

sandboxTest("a wrong or missing token is 401 Unauthorized, whatever the method", async () => {
  for (
    const url of [`${sandbox.url}/telegram/bot7123456789:wrong`, `${sandbox.url}/telegram/bot`]
  ) {
    const answer = await call("getMe", undefined, url);
    if (url.endsWith("/bot")) {
      assert.equal(answer.status, 404, "no token at all is not a bot path");
      continue;
    }
    assert.deepEqual(answer, {
      status: 401,
      body: { ok: false, error_code: 401, description: "Unauthorized" },
    });
  }
  const sent = await call(
    "sendMessage",
    { chat_id: 1, text: "x" },
    `${sandbox.url}/telegram/bot1:x`,
  );
  assert.equal(sent.status, 401);
  const requests = await (await fetch(`${sandbox.url}/_inspect/telegram/requests`)).json();
  assert.deepEqual(requests, [], "nothing was accepted");
});

sandboxTest("getMe names the bot by the token's id, by GET, JSON or form", async () => {
  const byGet = await (await fetch(`${base}/getMe`)).json();
  assert.equal(byGet.ok, true);
  assert.equal(byGet.result.id, Number(sandbox.credentials.telegramBotToken.split(":")[0]));
  assert.equal(byGet.result.is_bot, true);
  assert.equal(byGet.result.username, "py360_sandbox_bot");
  await control("telegram/chats", { chat_id: 42 });
  const form = await fetch(`${base}/sendMessage`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "chat_id=42&text=Namaste%20%F0%9F%99%8F",
  });
  const sent = await form.json();
  assert.equal(sent.result.text, "Namaste 🙏");
  assert.equal(sent.result.chat.id, 42);
  const query = await (await fetch(`${base}/sendMessage?chat_id=42&text=hi`)).json();
  assert.equal(query.result.message_id, sent.result.message_id + 1, "message ids grow per chat");
});

sandboxTest(
  "setWebhook: HTTPS on 443, 80, 88 or 8443, loopback over HTTP; a safe secret",
  async () => {
    const refusals: [Record<string, unknown>, string][] = [
      [{ url: "http://bot.example.com/hook" }, "An HTTPS URL must be provided for webhook"],
      [{ url: "https://bot.example.com:8080/hook" }, "only on ports 80, 88, 443 or 8443"],
      [{ url: "https://bot.example.com/hook", secret_token: "has space" }, "unallowed characters"],
      [
        { url: "https://bot.example.com/hook", secret_token: "x".repeat(257) },
        "unallowed characters",
      ],
      [{ url: "https://bot.example.com/hook", max_connections: 101 }, "max_connections"],
    ];
    for (const [body, words] of refusals) {
      const answer = await call("setWebhook", body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.error_code, 400);
      assert.match(answer.body.description, /^Bad Request: /);
      assert.ok(answer.body.description.includes(words), answer.body.description);
    }
    const info = await call("getWebhookInfo");
    assert.equal(info.body.result.url, "", "nothing was registered by the refusals");

    for (const url of ["https://bot.example.com:8443/hook", `${receiver.url}/hook`]) {
      const set = await call("setWebhook", { url, secret_token: "Ab9_-z" });
      assert.deepEqual(set.body, { ok: true, result: true, description: "Webhook was set" }, url);
    }
    const registered = await call("getWebhookInfo");
    assert.equal(registered.body.result.url, `${receiver.url}/hook`);
    assert.equal(registered.body.result.max_connections, 40);
    assert.ok(!JSON.stringify(registered.body).includes("Ab9_-z"), "the secret is never shown");
    assert.equal((await call("deleteWebhook")).body.description, "Webhook was deleted");
    assert.equal((await call("deleteWebhook")).body.description, "Webhook is already deleted");
  },
);

sandboxTest("sendMessage: Telegram's errors, each in its envelope", async () => {
  await control("telegram/chats", { chat_id: 42 });
  const cases: [Record<string, unknown>, number, string][] = [
    [{ chat_id: 42, text: "" }, 400, "Bad Request: message text is empty"],
    [{ chat_id: 42, text: "x".repeat(4097) }, 400, "Bad Request: message is too long"],
    [{ chat_id: 43, text: "hi" }, 400, "Bad Request: chat not found"],
    [{ text: "hi" }, 400, "Bad Request: chat_id is empty"],
  ];
  for (const [body, status, description] of cases) {
    assert.deepEqual(await call("sendMessage", body), {
      status,
      body: { ok: false, error_code: status, description },
    });
  }
  assert.equal((await call("sendMessage", { chat_id: 42, text: "x".repeat(4096) })).status, 200);

  await control("telegram/chats", { chat_id: 42, blocked: true });
  assert.deepEqual((await call("sendMessage", { chat_id: 42, text: "hi" })).body, {
    ok: false,
    error_code: 403,
    description: "Forbidden: bot was blocked by the user",
  });

  await control("telegram/chats", { chat_id: 42, blocked: false });
  await control("telegram/settings", { retry_after: 12 });
  await control("telegram", { failNext: { code: 429, count: 2 } });
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await call("sendMessage", { chat_id: 42, text: "hi" }), {
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: "Too Many Requests: retry after 12",
        parameters: { retry_after: 12 },
      },
    });
  }
  assert.equal(
    (await call("sendMessage", { chat_id: 42, text: "hi" })).status,
    200,
    "then it goes",
  );
  const requests = await (await fetch(`${sandbox.url}/_inspect/telegram/requests`)).json();
  assert.equal(requests.length, 2, "only the two accepted sends are listed");
});

sandboxTest("sendDocument takes a URL or an upload, with a caption", async () => {
  await control("telegram/chats", { chat_id: 42 });
  const byUrl = await call("sendDocument", {
    chat_id: 42,
    document: "https://files.example.com/receipt-R1.pdf",
    caption: "Your receipt",
  });
  assert.equal(byUrl.body.result.document.file_name, "receipt-R1.pdf");
  assert.equal(byUrl.body.result.caption, "Your receipt");
  const form = new FormData();
  form.set("chat_id", "42");
  form.set(
    "document",
    new File([new Uint8Array([37, 80, 68, 70])], "r.pdf", { type: "application/pdf" }),
  );
  const upload = await (await fetch(`${base}/sendDocument`, { method: "POST", body: form })).json();
  assert.deepEqual(
    [
      upload.result.document.file_name,
      upload.result.document.mime_type,
      upload.result.document.file_size,
    ],
    ["r.pdf", "application/pdf", 4],
  );
  const none = await call("sendDocument", { chat_id: 42 });
  assert.equal(none.body.description, "Bad Request: there is no document in the request");
});

sandboxTest("a played user's update reaches the webhook with the secret, or without", async () => {
  assert.equal(
    (await control("telegram/message", { chat_id: 42, text: "hi" })).status,
    409,
    "no webhook yet",
  );
  await call("setWebhook", { url: `${receiver.url}/hook`, secret_token: "s3cret" });
  const first = await control("telegram/message", {
    chat_id: 42,
    text: "/start abc",
    username: "meera",
  });
  assert.equal(first.body.status, 200);
  const wrong = await control("telegram/message", { chat_id: 42, text: "hi", secret: "nope" });
  const none = await control("telegram/message", { chat_id: 42, text: "hi", omit_secret: true });
  assert.equal(wrong.body.updateId, first.body.updateId + 1, "update ids grow");
  assert.equal(none.body.updateId, first.body.updateId + 2);
  const [a, b, c] = receiver.received;
  assert.equal(a.headers.get("x-telegram-bot-api-secret-token"), "s3cret");
  assert.equal(b.headers.get("x-telegram-bot-api-secret-token"), "nope");
  assert.equal(c.headers.get("x-telegram-bot-api-secret-token"), null);
  const update = JSON.parse(a.body);
  assert.equal(update.update_id, first.body.updateId);
  assert.equal(update.message.text, "/start abc");
  assert.equal(update.message.chat.id, 42);
  assert.equal(update.message.from.username, "meera");
  assert.deepEqual(update.message.entities, [{ offset: 0, length: 6, type: "bot_command" }]);
  // The user who wrote can now be sent to.
  assert.equal((await call("sendMessage", { chat_id: 42, text: "hello" })).status, 200);
  const bad = await control("telegram/message", { chat_id: "42", text: "hi" });
  assert.equal(bad.status, 400, "the control API checks its own input");
});

Deno.test({
  name: "telegram sandbox: (close)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await receiver.close();
    await sandbox.close();
  },
});
