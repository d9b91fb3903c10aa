// POST /api/integrations/social-media/telegram/staff-link against the vendor sandbox's Bot API,
// with the webhooks app behind the gateway on a free port (the sandbox posts its updates there):
// while the bot is not connected an admin gets 409; connected, the admin gets a single-use deep
// link for their own chat; following it (the sandbox plays the admin pressing Start) links the
// admin's chat, and an alert for admins (private.notify_admins) then queues a Telegram message to
// it beside the email. Agents and managers are refused (403) and get no link token.
import assert from "node:assert/strict";
import { createWebhooksApp } from "../../functions/webhooks/app.ts";
import { startSandbox, telegramBotUsername } from "../../sandbox/mod.ts";
import { gatewayHandler } from "../../scripts/gateway.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

// The gateway with the webhooks app, and the sandbox; the functions' Telegram variables point at
// them before anything reads the configuration.
let handle: (request: Request) => Promise<Response> = () =>
  Promise.resolve(new Response(null, { status: 503 }));
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (r) => handle(r));
const sandbox = await startSandbox();
for (
  const [name, value] of Object.entries({
    PUBLIC_FUNCTIONS_URL: `http://127.0.0.1:${server.addr.port}/functions/v1`,
    TELEGRAM_BOT_TOKEN: sandbox.credentials.telegramBotToken,
    TELEGRAM_BASE_URL: `${sandbox.url}/telegram`,
    SOCIAL_TOKEN_ENCRYPTION_KEY: btoa("telegram-staff-key-0123456789abc"),
  })
) Deno.env.set(name, value);
const webhooks = createWebhooksApp();
handle = gatewayHandler(
  new Map([["webhooks", { name: "webhooks", verifyJwt: false, fetch: webhooks.fetch }]]),
);

const adminEmail = "admin@py360.test";
const [admin] = await adminSql()`select id from public.profiles where email = ${adminEmail}`;
const path = "/integrations/social-media/telegram/staff-link";

/** POST the staff-link route as `email` (no token when undefined). */
async function staffLink(email?: string): Promise<Response> {
  return await api(path, { token: email ? await tokenFor(email) : undefined, method: "POST" });
}

/** The link tokens drawn for a staff member's own chat. */
async function staffTokens(email: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from private.telegram_link_tokens t
      join public.profiles p on p.id = t.staff_id where p.email = ${email}`;
  return row.n;
}

/** A user writing `text` to the bot (the sandbox posts the update to our webhook). */
async function say(chat: number, text: string): Promise<{ status: number }> {
  const response = await fetch(`${sandbox.url}/_control/telegram/message`, {
    method: "POST",
    body: JSON.stringify({ chat_id: chat, text }),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

/** The texts the bot sent to a chat (sandbox inspection). */
async function sentTo(chat: number): Promise<string[]> {
  const response = await fetch(`${sandbox.url}/_inspect/telegram/requests`);
  const requests = await response.json() as { to: string; body?: string }[];
  return requests.filter((r) => r.to === String(chat)).map((r) => r.body ?? "");
}

const forget = async () => {
  await adminSql()`delete from public.social_connections where platform = 'telegram'`;
  // Other files count the admins' alert messages: no linked chat of the admin outlives a test.
  await adminSql()`delete from private.staff_telegram_chats where staff_id = ${admin.id}`;
};

dbTest("telegram staff link: 409 while the bot is not connected", async () => {
  await forget();
  const before = await staffTokens(adminEmail);
  const problem = await expectProblem(await staffLink(adminEmail), 409);
  assert.match(problem.detail, /Telegram is not connected/);
  assert.equal(await staffTokens(adminEmail), before, "no link drawn");
});

dbTest("telegram staff link: an admin's link links their chat; alerts queue there", async () => {
  await forget();
  try {
    const connected = await expectJson(
      await api("/integrations/social-media/connect", {
        token: await tokenFor(adminEmail),
        method: "POST",
        body: { platform: "telegram" },
      }),
      200,
    );
    assert.equal(connected.status, "connected");

    const before = await staffTokens(adminEmail);
    const answer = await expectJson(await staffLink(adminEmail), 200);
    assert.deepEqual(Object.keys(answer).sort(), ["deep_link", "expires_at"]);
    const link = new URL(answer.deep_link);
    assert.equal(`${link.origin}${link.pathname}`, `https://t.me/${telegramBotUsername}`);
    const token = link.searchParams.get("start")!;
    assert.match(token, /^[A-Za-z0-9_-]{16,64}$/);
    const days = (Date.parse(answer.expires_at) - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days <= 7, `valid 7 days (${days})`);
    assert.equal(await staffTokens(adminEmail), before + 1, "one link token for the admin");
    const [{ n: stored }] = await adminSql()`
      select count(*)::int as n from private.telegram_link_tokens
       where token_hash = encode(sha256(convert_to(${token}, 'UTF8')), 'hex')
         and staff_id = ${admin.id} and customer_id is null and used_at is null`;
    assert.equal(stored, 1, "stored hashed, for the admin, unused");

    // Not linked yet: an alert goes by email only.
    const chat = 7_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
    const alert = async () => {
      const key = `staff-link-test-${crypto.randomUUID()}`;
      await adminSql()`select private.notify_admins('alert_raised', 'Queue is late', null,
                         'The outbox is 12 minutes behind', ${key})`;
      return await adminSql()`
        select channel::text, status::text, recipient from public.messages
         where idempotency_key = ${`staff:${admin.id}:${key}:telegram`}`;
    };
    assert.equal((await alert()).length, 0, "no Telegram alert before the chat is linked");

    // The admin opens the link and presses Start: the sandbox posts /start <token> to the webhook.
    assert.equal((await say(chat, `/start ${token}`)).status, 200);
    assert.match((await sentTo(chat))[0], /^Linked: Py360 alerts/);
    const [linked] = await adminSql()`
      select chat_id from private.staff_telegram_chats where staff_id = ${admin.id}`;
    assert.equal(linked?.chat_id, String(chat));

    const queued = await alert();
    assert.equal(queued.length, 1, "an alert queues one Telegram message");
    assert.deepEqual(
      [queued[0].channel, queued[0].status, queued[0].recipient],
      ["telegram", "queued", String(chat)],
    );

    // The link was single use: a second Start with it links nothing more.
    const other = chat + 1;
    assert.equal((await say(other, `/start ${token}`)).status, 200);
    const [{ n: chats }] = await adminSql()`
      select count(*)::int as n from private.staff_telegram_chats where chat_id = ${String(other)}`;
    assert.equal(chats, 0, "a used link links no other chat");
  } finally {
    await forget();
  }
});

dbTest("telegram staff link: agents, managers and analysts 403; no token drawn", async () => {
  await forget();
  try {
    await expectJson(
      await api("/integrations/social-media/connect", {
        token: await tokenFor(adminEmail),
        method: "POST",
        body: { platform: "telegram" },
      }),
      200,
    );
    for (
      const email of [
        "arjun.agent@py360.test",
        "cp.manager@py360.test",
        "analyst@py360.test",
      ]
    ) {
      const before = await staffTokens(email);
      const problem = await expectProblem(await staffLink(email), 403);
      assert.equal(problem.detail, "Only admins link a chat for alerts.", email);
      assert.equal(await staffTokens(email), before, `${email}: no link token`);
    }
    await expectProblem(await staffLink(undefined), 401);
  } finally {
    await forget();
  }
});

dbTest("telegram staff link: an agent is 403 while the bot is not connected, too", async () => {
  await forget();
  await expectProblem(await staffLink("arjun.agent@py360.test"), 403);
});

Deno.test({
  name: "telegram staff link: (close the sandbox and the gateway)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await forget();
    await sandbox.close();
    await server.shutdown();
  },
});
