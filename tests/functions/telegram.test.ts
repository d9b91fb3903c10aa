// Telegram end to end against the vendor sandbox's Bot API: connecting registers the webhook with
// a fresh secret (stored encrypted); updates with a missing or wrong secret are refused with
// nothing written; a customer's deep link (from the verify endpoint) links their chat once; a
// message on channel telegram goes through the gate, the claim, the telegram provider and the
// result recording to the sandbox's sendMessage; a chat that blocked the bot fails and is
// suppressed; a 429 is retried after its retry_after; STOP withdraws the consent; a repeated
// update_id is one event; an admin's linked chat gets alerts; disconnecting deletes the webhook.
import assert from "node:assert/strict";
import { config } from "../../functions/_shared/config.ts";
import { type ClaimedMessage, outboundMessage } from "../../functions/_shared/dispatch.ts";
import { buildProviders, type SendResult } from "../../functions/_shared/providers/mod.ts";
import {
  scrubBotToken,
  telegramBotProvider,
  telegramErrors,
} from "../../functions/_shared/providers/telegram_bot.ts";
import {
  connectTelegram,
  disconnectTelegram,
  newWebhookSecret,
  sha256Hex,
  telegramStaffLink,
  telegramWebhookSecret,
  telegramWebhookSecrets,
  verifyTelegram,
} from "../../functions/_shared/social/telegram.ts";
import { createWebhooksApp } from "../../functions/webhooks/app.ts";
import {
  telegramReply,
  telegramSecretMatch,
  telegramSecretMatches,
} from "../../functions/webhooks/telegram.ts";
import { startSandbox, telegramBotUsername } from "../../sandbox/mod.ts";
import { gatewayHandler } from "../../scripts/gateway.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";

// The gateway with the webhooks app on a free port, and the sandbox; the functions' Telegram and
// social variables point at them before anything reads the configuration.
let handle: (request: Request) => Promise<Response> = () =>
  Promise.resolve(new Response(null, { status: 503 }));
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (r) => handle(r));
const functionsUrl = `http://127.0.0.1:${server.addr.port}/functions/v1`;
const sandbox = await startSandbox();
const botToken = sandbox.credentials.telegramBotToken;
for (
  const [name, value] of Object.entries({
    PUBLIC_FUNCTIONS_URL: functionsUrl,
    TELEGRAM_BOT_TOKEN: botToken,
    TELEGRAM_BASE_URL: `${sandbox.url}/telegram`,
    SOCIAL_TOKEN_ENCRYPTION_KEY: btoa("telegram-test-key-0123456789abcd"),
    PROVIDER_TIMEOUT_MS: "5000",
  })
) Deno.env.set(name, value);
const webhooks = createWebhooksApp();
handle = gatewayHandler(
  new Map([["webhooks", { name: "webhooks", verifyJwt: false, fetch: webhooks.fetch }]]),
);
const telegram = buildProviders(config()).telegram!;
const agentEmail = "arjun.agent@py360.test";
const worker = `telegram-test-${crypto.randomUUID().slice(0, 8)}`;

/** A chat id no other test uses. */
const freshChat = () => 6_000_000_000 + Math.floor(Math.random() * 1_000_000_000);

async function control(path: string, body: unknown = {}) {
  const response = await fetch(`${sandbox.url}/_control/${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, `${path}: ${JSON.stringify(answer)}`);
  return answer;
}

async function inspect<T>(what: string): Promise<T> {
  const response = await fetch(`${sandbox.url}/_inspect/telegram/${what}`);
  assert.equal(response.status, 200);
  return await response.json() as T;
}

/** The texts the bot sent to a chat (sandbox inspection). */
async function sentTo(chat: number): Promise<string[]> {
  const requests = await inspect<{ to: string; body?: string }[]>("requests");
  return requests.filter((r) => r.to === String(chat)).map((r) => r.body ?? "");
}

/** A user writing `text` to the bot; the update record (its receiver's status). */
function say(chat: number, text: string, extra: Record<string, unknown> = {}) {
  return control("telegram/message", { chat_id: chat, text, ...extra }) as Promise<
    { updateId: number; status: number; secretSent: string | null }
  >;
}

function telegramTest(name: string, fn: () => Promise<void>) {
  dbTest(`telegram: ${name}`, async () => {
    await control("reset");
    await adminSql()`delete from public.social_connections where platform = 'telegram'`;
    await fn();
  });
}

/** A fresh customer held by the agent, with a policy and a case. */
async function customer(): Promise<string> {
  return (await createCase(agentEmail)).customerId;
}

/** A deep-link token for a customer, from the invitation the agent's verify call queues to them. */
async function deepLinkToken(customerId: string): Promise<string> {
  const answer = await expectJson(
    await api("/integrations/social-media/verify", {
      token: await tokenFor(agentEmail),
      method: "POST",
      body: { platform: "telegram", customer_id: customerId },
    }),
    200,
  );
  assert.equal(answer.reachable, false);
  assert.equal(answer.deep_link, undefined, "the agent never gets the customer's link");
  assert.equal(answer.invited.status, "queued", answer.invited.blocked_reason);
  const [message] = await adminSql()`
    select m.customer_id, m.channel::text, c.email, m.variables ->> 'telegram_link' as link
      from public.messages m join public.customers c on c.id = m.customer_id
     where m.id = ${answer.invited.message_id}`;
  assert.equal(message.customer_id, customerId, "the invitation goes to the customer");
  assert.equal(answer.invited.channel, message.email ? "email" : "sms");
  assert.equal(message.channel, answer.invited.channel);
  const link = new URL(message.link);
  assert.equal(`${link.origin}${link.pathname}`, `https://t.me/${telegramBotUsername}`);
  return link.searchParams.get("start")!;
}

/** Connects the bot and links a fresh chat to a fresh customer; both ids. */
async function linkedCustomer(): Promise<{ customerId: string; chat: number }> {
  await connectTelegram();
  const customerId = await customer();
  const chat = freshChat();
  const update = await say(chat, `/start ${await deepLinkToken(customerId)}`);
  assert.equal(update.status, 200);
  return { customerId, chat };
}

/** Puts a transactional text message on channel telegram through the gate. */
async function enqueue(customerId: string, body = "Your receipt is ready") {
  const [row] = await adminSql()<
    { message_id: string; status: string; blocked_reason: string | null }[]
  >`select * from private.enqueue_messages(${
    adminSql().json({
      customer_id: customerId,
      channel: "telegram",
      purpose: "transactional",
      body,
      idempotency_key: `telegram-test-${crypto.randomUUID()}`,
    })
  }::jsonb)`;
  return row;
}

/**
 * One dispatcher round as functions/_shared/dispatch.ts does it, for `ids` only: claim (other
 * files' messages the claim took are handed back at once), send through the telegram provider,
 * record the results with private.record_send_results.
 */
async function dispatch(ids: string[]): Promise<Map<string, SendResult>> {
  const sql = adminSql();
  const claimed = await sql<
    ClaimedMessage[]
  >`select * from private.claim_messages(${worker}, 1000)`;
  const others = claimed.filter((row) => !ids.includes(row.id)).map((row) => row.id);
  if (others.length > 0) {
    await sql`select private.release_messages(${worker}, ${others}::uuid[], now())`;
  }
  const sent = await Promise.all(
    claimed.filter((row) => ids.includes(row.id)).map(async (row) => {
      assert.equal(row.provider, "telegram");
      return { row, result: await telegram.send(outboundMessage(row)) };
    }),
  );
  await sql`select private.record_send_results(${worker}, ${
    sql.json(sent.map(({ row, result }) =>
      result.ok
        ? {
          id: row.id,
          attempt: row.attempts,
          ok: true,
          provider_message_id: result.providerMessageId,
        }
        : {
          id: row.id,
          attempt: row.attempts,
          ok: false,
          disposition: result.disposition,
          code: result.code,
          message: result.message,
          retry_after_ms: result.retryAfterMs ?? null,
          address_dead: result.addressDead ?? false,
          throttled: result.throttled ?? false,
        }
    ))
  }::jsonb)`;
  return new Map(sent.map(({ row, result }) => [row.id, result]));
}

async function messageRow(id: string) {
  const [row] = await adminSql()<
    {
      status: string;
      recipient: string;
      provider_message_id: string | null;
      last_error_code: string | null;
      deferred_reason: string | null;
      wait_seconds: number;
    }[]
  >`select status::text, recipient, provider_message_id, last_error_code, deferred_reason,
           extract(epoch from next_attempt_at - now())::float8 as wait_seconds
      from public.messages where id = ${id}`;
  return row;
}

/** Counts of what an update may write. */
async function writable() {
  const [row] = await adminSql()`
    select (select count(*)::int from public.message_events where provider = 'telegram') as events,
           (select count(*)::int from public.customer_social_accounts) as links,
           (select count(*)::int from public.consents where channel = 'telegram') as consents,
           (select count(*)::int from private.telegram_link_tokens where used_at is not null) as used`;
  return row;
}

telegramTest("connecting registers the webhook with a fresh secret, stored encrypted", async () => {
  const agent = await tokenFor(agentEmail);
  await expectProblem(
    await api("/integrations/social-media/connect", {
      token: agent,
      method: "POST",
      body: { platform: "telegram" },
    }),
    403,
  );
  assert.equal(await inspect("webhook"), null, "an agent's refused connect registered nothing");

  const response = await api("/integrations/social-media/connect", {
    token: await tokenFor("admin@py360.test"),
    method: "POST",
    body: { platform: "telegram" },
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  const hook = await inspect<{ url: string; secretToken: string }>("webhook");
  assert.equal(hook.url, `${functionsUrl}/webhooks/telegram`);
  assert.match(hook.secretToken, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!text.includes(hook.secretToken), "the answer never carries the secret");
  assert.ok(!text.includes(botToken.split(":")[1]), "nor the bot token");
  const connection = JSON.parse(text);
  assert.equal(connection.status, "connected");
  assert.equal(connection.account_name, `@${telegramBotUsername}`);

  const [stored] = await adminSql()<{ secret: Uint8Array; account_id: string }[]>`
    select t.webhook_secret as secret, c.account_id
      from private.social_tokens t join public.social_connections c using (platform)
     where platform = 'telegram'`;
  assert.equal(stored.account_id, botToken.split(":")[0]);
  assert.ok(
    !new TextDecoder().decode(stored.secret).includes(hook.secretToken),
    "the stored secret is a ciphertext",
  );
  assert.equal(
    await telegramWebhookSecret(),
    hook.secretToken,
    "and decrypts to the registered one",
  );

  // Connecting again rotates the secret: the old one opens the webhook only for the overlap
  // (TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS; see the next test), then no longer.
  await connectTelegram();
  const rotated = await inspect<{ secretToken: string }>("webhook");
  assert.notEqual(rotated.secretToken, hook.secretToken);
  await adminSql()`
    update private.social_tokens set previous_webhook_secret_until = now()
     where platform = 'telegram'`;
  assert.equal((await say(freshChat(), "hello", { secret: hook.secretToken })).status, 401);
});

telegramTest("a reconnect keeps the previous secret for the overlap, then refuses it", async () => {
  await connectTelegram();
  const first = (await inspect<{ secretToken: string }>("webhook")).secretToken;
  const [none] = await adminSql()`select private.previous_webhook_secret('telegram') as digest`;
  assert.equal(none.digest, null, "a first connection has no previous secret");

  await connectTelegram();
  const second = (await inspect<{ secretToken: string }>("webhook")).secretToken;
  assert.notEqual(second, first);
  // Only the old secret's SHA-256 is kept, for an hour (the default overlap).
  const [kept] = await adminSql()`
    select previous_webhook_secret_sha256 as digest,
           round(extract(epoch from previous_webhook_secret_until - now())) as seconds
      from private.social_tokens where platform = 'telegram'`;
  assert.equal(kept.digest, await sha256Hex(first));
  assert.ok(Number(kept.seconds) > 3500 && Number(kept.seconds) <= 3600, String(kept.seconds));
  // Inside the window: the current and the previous secret are taken, nothing else.
  assert.equal((await say(freshChat(), "hello", { secret: second })).status, 200);
  assert.equal((await say(freshChat(), "hello", { secret: first })).status, 200);
  assert.equal((await say(freshChat(), "hello", { secret: `${first}x` })).status, 401);
  assert.equal((await say(freshChat(), "hello", { secret: newWebhookSecret() })).status, 401);
  assert.equal(await telegramSecretMatch(first, await telegramWebhookSecrets()), "previous");
  assert.equal(await telegramSecretMatch(second, await telegramWebhookSecrets()), "current");

  // After the window: the previous one is refused, the current one still taken.
  await adminSql()`
    update private.social_tokens set previous_webhook_secret_until = now() - interval '1 second'
     where platform = 'telegram'`;
  assert.equal((await say(freshChat(), "hello", { secret: first })).status, 401);
  assert.equal((await say(freshChat(), "hello", { secret: second })).status, 200);

  // With no overlap configured a reconnect refuses the replaced secret at once.
  await connectTelegram(null, {
    config: () => ({ ...config(), TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS: 0 }),
  });
  const third = (await inspect<{ secretToken: string }>("webhook")).secretToken;
  assert.equal((await say(freshChat(), "hello", { secret: second })).status, 401);
  assert.equal((await say(freshChat(), "hello", { secret: third })).status, 200);

  // Disconnecting ends the previous secret with the rest.
  await connectTelegram();
  assert.equal((await say(freshChat(), "hello", { secret: third })).status, 200);
  await disconnectTelegram();
  assert.equal(await telegramSecretMatch(third, await telegramWebhookSecrets()), null);
  const [gone] = await adminSql()`select private.previous_webhook_secret('telegram') as digest`;
  assert.equal(gone.digest, null);

  // The digest function refuses what is not a digest, and a half-given pair.
  await assert.rejects(
    adminSql()`select private.keep_previous_webhook_secret('telegram', 'abc', now())`,
    /64 lowercase hex digits/,
  );
  await assert.rejects(
    adminSql()`select private.keep_previous_webhook_secret('telegram', ${"0".repeat(64)}, null)`,
    /go together/,
  );
});

telegramTest("an update with a missing or wrong secret is refused and writes nothing", async () => {
  await connectTelegram();
  const customerId = await customer();
  const token = await deepLinkToken(customerId);
  const chat = freshChat();
  const before = await writable();
  assert.equal((await say(chat, `/start ${token}`, { omit_secret: true })).status, 401);
  assert.equal((await say(chat, `/start ${token}`, { secret: "not-the-secret" })).status, 401);
  const right = await inspect<{ secretToken: string }>("webhook");
  assert.equal(
    (await say(chat, `/start ${token}`, { secret: `${right.secretToken}x` })).status,
    401,
    "a longer secret sharing the right prefix",
  );
  assert.deepEqual(await writable(), before, "no event, link, consent or token use");
  assert.deepEqual(await sentTo(chat), [], "and no answer to the chat");
  assert.equal(await telegramSecretMatches(null, "x"), false);
  assert.equal(await telegramSecretMatches("x", null), false, "no bot connected: nothing matches");

  // The right secret with a body that is not an update: 400, nothing written.
  const response = await fetch(`${functionsUrl}/webhooks/telegram`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-telegram-bot-api-secret-token": right.secretToken,
    },
    body: JSON.stringify({ message: { text: "no update_id" } }),
  });
  await expectProblem(response, 400);
  assert.deepEqual(await writable(), before);

  // The token still works afterwards: the refused updates did not use it.
  assert.equal((await say(chat, `/start ${token}`)).status, 200);
  const [link] = await adminSql()`
    select external_id from public.customer_social_accounts where customer_id = ${customerId}`;
  assert.equal(link.external_id, String(chat));
});

telegramTest("a deep link links the customer once; reused or forged links do nothing", async () => {
  await connectTelegram();
  const customerId = await customer();
  await expectProblem(
    await api("/integrations/social-media/verify", {
      token: await tokenFor("kavya.agent@py360.test"),
      method: "POST",
      body: { platform: "telegram", customer_id: customerId },
    }),
    404,
  );
  const token = await deepLinkToken(customerId);
  const chat = freshChat();
  assert.equal((await say(chat, `/start ${token}`, { username: "meera_k" })).status, 200);
  assert.match((await sentTo(chat))[0], /^Linked: Py360 will send/);

  const verified = await verifyTelegram(customerId);
  assert.equal(verified.reachable, true);
  assert.equal(verified.account?.chat_id, String(chat));
  assert.equal(verified.account?.username, "meera_k");
  const consents = await adminSql()`
    select purpose::text, status::text, source from public.consents
     where customer_id = ${customerId} and channel = 'telegram' order by purpose`;
  assert.deepEqual(consents.map((c) => `${c.purpose}:${c.status}:${c.source}`), [
    "service:granted:telegram_start",
    "transactional:granted:telegram_start",
  ]);

  // The same link opened from another chat, and a made-up one: no link moves, the user is told.
  const other = freshChat();
  const before = await writable();
  assert.equal((await say(other, `/start ${token}`)).status, 200);
  assert.equal((await say(other, "/start QUJDREVGR0hJSktMTU5PUA")).status, 200);
  assert.deepEqual(await sentTo(other), [
    "This link has expired or was already used. Ask your Py360 agent for a new one.",
    "This link has expired or was already used. Ask your Py360 agent for a new one.",
  ]);
  const after = await writable();
  assert.deepEqual({ ...after, events: before.events }, before, "only the two events are new");
  assert.equal(after.events, before.events + 2);
  const [link] = await adminSql()`
    select external_id from public.customer_social_accounts
     where customer_id = ${customerId} and platform = 'telegram'`;
  assert.equal(link.external_id, String(chat), "the customer stays on the first chat");

  // A fresh link posted in a group chat links nothing, and the link stays usable.
  const other2 = await customer();
  const groupToken = await deepLinkToken(other2);
  const secret = (await inspect<{ secretToken: string }>("webhook")).secretToken;
  const group = await fetch(`${functionsUrl}/webhooks/telegram`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
    body: JSON.stringify({
      update_id: 1 + Math.floor(Math.random() * 1e9),
      message: {
        message_id: 1,
        date: Math.floor(Date.now() / 1000),
        chat: { id: -1001234567890, type: "supergroup", title: "Family" },
        text: `/start ${groupToken}`,
      },
    }),
  });
  assert.deepEqual(await group.json(), { ok: true, action: "ignored" });
  const third = freshChat();
  assert.equal((await say(third, `/start ${groupToken}`)).status, 200);
  assert.match((await sentTo(third))[0], /^Linked/, "the link was not used up by the group");
});

telegramTest("a repeated update_id is one event and acts once", async () => {
  await connectTelegram();
  const chat = freshChat();
  const first = await say(chat, "hello there");
  assert.equal(first.status, 200);
  const again = await say(chat, "hello there", { update_id: first.updateId });
  assert.equal(again.status, 200, "a redelivery is accepted (Telegram stops retrying)");
  const [row] = await adminSql()`
    select count(*)::int as n from public.message_events
     where provider = 'telegram' and event_key = ${`update:${first.updateId}`}`;
  assert.equal(row.n, 1);
});

telegramTest(
  "a telegram message goes through the gate and the dispatcher to sendMessage",
  async () => {
    const { customerId, chat } = await linkedCustomer();
    const queued = await enqueue(customerId, "Receipt R-1: 15,000.00 received");
    assert.equal(queued.status, "queued", queued.blocked_reason ?? "");
    const results = await dispatch([queued.message_id]);
    const result = results.get(queued.message_id);
    assert.ok(result?.ok, JSON.stringify(result));
    const row = await messageRow(queued.message_id);
    assert.equal(row.status, "sent");
    assert.equal(row.recipient, String(chat));
    assert.match(row.provider_message_id ?? "", new RegExp(`^${chat}:\\d+$`));
    const texts = await sentTo(chat);
    assert.equal(texts.at(-1), "Receipt R-1: 15,000.00 received");

    // A customer who never linked has no telegram address.
    const unlinked = await enqueue(await customer());
    assert.deepEqual([unlinked.status, unlinked.blocked_reason], ["blocked", "no_address"]);
  },
);

telegramTest("an agent's one-off message on telegram goes to the linked chat", async () => {
  const { customerId, chat } = await linkedCustomer();
  const agent = await tokenFor(agentEmail);
  const post = (customer: string, key: string) =>
    api("/messages", {
      token: agent,
      method: "POST",
      headers: { "idempotency-key": key },
      body: { customer_id: customer, channel: "telegram", purpose: "service", body: "Call me?" },
    });
  const queued = await expectJson(await post(customerId, crypto.randomUUID()), 201);
  assert.equal(queued.status, "queued", queued.summary);
  const listed = await expectJson(
    await api(`/messages?customer_id=${customerId}`, { token: agent }),
    200,
  );
  const row = listed.data.find((m: { id: string }) => m.id === queued.message_id);
  assert.deepEqual([row.channel, row.recipient, row.provider], [
    "telegram",
    String(chat),
    "telegram",
  ]);
  await expectProblem(
    await api("/messages", {
      token: agent,
      method: "POST",
      headers: { "idempotency-key": crypto.randomUUID() },
      body: {
        customer_id: customerId,
        channel: "telegram",
        purpose: "service",
        body: "x",
        subject: "s",
      },
    }),
    422,
  );
  const unlinked = await expectJson(await post(await customer(), crypto.randomUUID()), 201);
  assert.deepEqual([unlinked.status, unlinked.blocked_reason], ["blocked", "no_address"]);
});

telegramTest("a chat that blocked the bot fails the message and is suppressed", async () => {
  const { customerId, chat } = await linkedCustomer();
  await control("telegram/chats", { chat_id: chat, blocked: true });
  const queued = await enqueue(customerId);
  const result = (await dispatch([queued.message_id])).get(queued.message_id);
  assert.ok(result && !result.ok);
  assert.deepEqual([result.code, result.disposition, result.addressDead], [
    "403",
    "permanent",
    true,
  ]);
  const row = await messageRow(queued.message_id);
  assert.deepEqual([row.status, row.last_error_code], ["failed", "403"]);
  const [suppressed] = await adminSql()`
    select source from public.suppressions where channel = 'telegram' and address = ${
    String(chat)
  }`;
  assert.equal(suppressed.source, "telegram_403");
  const next = await enqueue(customerId);
  assert.deepEqual([next.status, next.blocked_reason], ["blocked", "suppressed"]);

  // The user unblocks the bot and presses Restart (a bare /start): reachable again.
  assert.equal((await control("telegram/member", { chat_id: chat, status: "member" })).status, 200);
  assert.equal((await say(chat, "/start")).status, 200);
  assert.match((await sentTo(chat)).at(-1)!, /^Welcome back/);
  const again = await enqueue(customerId);
  assert.deepEqual([again.status, again.blocked_reason], ["queued", null]);
});

telegramTest("a user blocking the bot suppresses the chat before any send fails", async () => {
  const { customerId, chat } = await linkedCustomer();
  const blocked = await control("telegram/member", { chat_id: chat, status: "kicked" });
  assert.equal(blocked.status, 200);
  const [suppressed] = await adminSql()`
    select reason, source from public.suppressions
     where channel = 'telegram' and address = ${String(chat)}`;
  assert.deepEqual([suppressed.reason, suppressed.source], ["unsubscribed", "telegram_blocked"]);
  const next = await enqueue(customerId);
  assert.deepEqual([next.status, next.blocked_reason], ["blocked", "suppressed"]);
  const consents = await adminSql()`
    select count(*)::int as n from public.consents
     where customer_id = ${customerId} and channel = 'telegram' and status = 'granted'`;
  assert.equal(consents[0].n, 2, "blocking is not STOP: the consents stay");
  // Unblocked (my_chat_member member): lifted.
  assert.equal((await control("telegram/member", { chat_id: chat, status: "member" })).status, 200);
  assert.equal((await enqueue(customerId)).status, "queued");
  // A stranger's block is recorded and changes nothing.
  const stranger = freshChat();
  await control("telegram/chats", { chat_id: stranger });
  await control("telegram/member", { chat_id: stranger, status: "kicked" });
  const [none] = await adminSql()`
    select count(*)::int as n from public.suppressions where address = ${String(stranger)}`;
  assert.equal(none.n, 0);
});

telegramTest("a 429 is retried after Telegram's retry_after", async () => {
  const { customerId, chat } = await linkedCustomer();
  await control("telegram/settings", { retry_after: 7 });
  await control("telegram", { failNext: { code: 429 } });
  const queued = await enqueue(customerId, "Reminder: renews on 1 Dec");
  const result = (await dispatch([queued.message_id])).get(queued.message_id);
  assert.ok(result && !result.ok);
  assert.deepEqual([result.code, result.disposition, result.retryAfterMs, result.throttled], [
    "429",
    "transient",
    7_000,
    true,
  ]);
  const held = await messageRow(queued.message_id);
  assert.deepEqual([held.status, held.deferred_reason], ["queued", "retry"]);
  assert.ok(held.wait_seconds > 6, `waits out retry_after (${held.wait_seconds} s)`);
  assert.deepEqual(await sentTo(chat).then((t) => t.filter((x) => x.startsWith("Reminder"))), []);

  // Seven seconds on (the clock moved by hand): the retry goes through.
  await adminSql()`update public.messages set next_attempt_at = now() where id = ${queued.message_id}`;
  const retried = (await dispatch([queued.message_id])).get(queued.message_id);
  assert.ok(retried?.ok, JSON.stringify(retried));
  assert.equal((await messageRow(queued.message_id)).status, "sent");
  assert.deepEqual((await sentTo(chat)).filter((x) => x.startsWith("Reminder")), [
    "Reminder: renews on 1 Dec",
  ]);
});

telegramTest("STOP withdraws the telegram consent and cancels what is queued", async () => {
  const { customerId, chat } = await linkedCustomer();
  const queued = await enqueue(customerId);
  assert.equal(queued.status, "queued");
  assert.equal((await say(chat, "STOP")).status, 200);
  assert.match((await sentTo(chat)).at(-1)!, /^Stopped:/);
  const consents = await adminSql()`
    select distinct status::text, source from public.consents
     where customer_id = ${customerId} and channel = 'telegram'`;
  assert.deepEqual(consents.map((c) => `${c.status}:${c.source}`), ["withdrawn:telegram_stop"]);
  assert.equal((await messageRow(queued.message_id)).status, "cancelled");
  const next = await enqueue(customerId);
  assert.deepEqual([next.status, next.blocked_reason], ["blocked", "consent_withdrawn"]);
  const verified = await verifyTelegram(customerId);
  assert.equal(verified.reachable, false);
  assert.match(verified.reason ?? "", /STOP/);

  // A new link from the agent starts it again (marketing stays withdrawn).
  assert.equal((await say(chat, `/start ${await deepLinkToken(customerId)}`)).status, 200);
  assert.equal((await verifyTelegram(customerId)).reachable, true);
  assert.equal((await enqueue(customerId)).status, "queued");
});

telegramTest("an admin who linked a chat gets alerts there", async () => {
  await connectTelegram();
  const [admin] = await adminSql()`select id from public.profiles where email = 'admin@py360.test'`;
  const claims = (id: string) => ({
    role: "authenticated" as const,
    sub: id,
    aud: "authenticated",
  });
  const [agent] = await adminSql()`select id from public.profiles where email = ${agentEmail}`;
  await assert.rejects(telegramStaffLink(claims(agent.id)), (error: { code?: string }) => {
    assert.equal(error.code, "42501", "an agent gets no alert link");
    return true;
  });
  const link = await telegramStaffLink(claims(admin.id));
  const token = new URL(link.deep_link).searchParams.get("start")!;
  const chat = freshChat();
  try {
    assert.equal((await say(chat, `/start ${token}`)).status, 200);
    assert.match((await sentTo(chat))[0], /^Linked: Py360 alerts/);
    const key = `telegram-test-${crypto.randomUUID()}`;
    await adminSql()`select private.notify_admins('alert_raised', 'Queue is late', null,
                       'The outbox is 12 minutes behind', ${key})`;
    const [queued] = await adminSql()`
      select id, status::text, recipient from public.messages
       where idempotency_key = ${`staff:${admin.id}:${key}:telegram`}`;
    assert.deepEqual([queued.status, queued.recipient], ["queued", String(chat)]);
    assert.ok((await dispatch([queued.id])).get(queued.id)?.ok);
    assert.equal((await sentTo(chat)).at(-1), "Queue is late\n\nThe outbox is 12 minutes behind");
  } finally {
    // Other files count the admins' alert messages: the admin's chat goes with this test.
    await adminSql()`delete from private.staff_telegram_chats where staff_id = ${admin.id}`;
  }
});

telegramTest("disconnecting deletes the webhook and the secret; links stay", async () => {
  const { customerId } = await linkedCustomer();
  const secret = (await inspect<{ secretToken: string }>("webhook")).secretToken;
  const pending = await deepLinkToken(await customer());
  assert.deepEqual(await disconnectTelegram(), { revoked: true });
  assert.equal(await inspect("webhook"), null, "deleteWebhook reached Telegram");
  const [row] = await adminSql()`
    select c.status, (select count(*)::int from private.social_tokens where platform = 'telegram') as tokens,
           (select count(*)::int from private.telegram_link_tokens
             where token_hash = encode(sha256(convert_to(${pending}, 'UTF8')), 'hex')) as pending
      from public.social_connections c where c.platform = 'telegram'`;
  assert.deepEqual([row.status, row.tokens, row.pending], ["disconnected", 0, 0]);
  assert.equal(await telegramWebhookSecret(), null);
  assert.equal(await telegramSecretMatches(secret, await telegramWebhookSecret()), false);
  assert.equal((await verifyTelegram(customerId)).answerable, false, "no bot: no answer");
});

Deno.test("telegram: the provider's rules without the network", async () => {
  // The bot token never reaches a failure's text (Deno's fetch errors quote the URL).
  const unreachable = telegramBotProvider({
    botToken,
    baseUrl: "http://127.0.0.1:9",
    timeoutMs: 2_000,
  });
  const result = await unreachable.send({
    id: crypto.randomUUID(),
    channel: "telegram",
    to: "42",
    body: "x",
  });
  assert.ok(!result.ok);
  assert.equal(result.code, "network");
  assert.ok(!result.message.includes(botToken.split(":")[1]), result.message);
  assert.equal(
    scrubBotToken(`POST /bot${botToken}/sendMessage`),
    "POST /bot[redacted]/sendMessage",
  );
  // What cannot go to Telegram at all is permanent, before any call.
  for (
    const message of [
      { to: "not-a-chat", body: "x" },
      { to: "42", body: " " },
      { to: "42", body: "x".repeat(4097) },
    ]
  ) {
    const refused = await telegram.send({
      id: crypto.randomUUID(),
      channel: "telegram",
      ...message,
    });
    assert.ok(!refused.ok);
    assert.deepEqual([refused.code, refused.disposition], ["invalid_message", "permanent"]);
  }
  assert.equal(telegramErrors["400"].addressDead, undefined, "chat not found is not suppressed");
  assert.equal(
    telegramReply({ new: false, action: "duplicate" }),
    null,
    "a duplicate says nothing",
  );
});

telegramTest("verify sends the customer their link; the agent's answer carries none", async () => {
  await connectTelegram();
  const agent = await tokenFor(agentEmail);
  const verify = async (customerId: string) => {
    const response = await api("/integrations/social-media/verify", {
      token: agent,
      method: "POST",
      body: { platform: "telegram", customer_id: customerId },
    });
    const text = await response.clone().text();
    return { text, answer: await expectJson(response, 200) };
  };
  const tokens = async (customerId: string) =>
    (await adminSql()`select count(*)::int as n from private.telegram_link_tokens
                       where customer_id = ${customerId}`)[0].n;

  // A customer with a phone only: the invitation goes by SMS, to them.
  const byPhone = await customer();
  const first = await verify(byPhone);
  assert.equal(first.answer.reachable, false);
  assert.ok(!/t\.me|start=/.test(first.text), "no link in the agent's answer");
  assert.deepEqual(
    { channel: first.answer.invited.channel, status: first.answer.invited.status },
    { channel: "sms", status: "queued" },
  );
  const [sms] = await adminSql()`
    select m.customer_id, m.recipient, c.phone, t.code, t.purpose::text,
           m.variables ->> 'telegram_token' as token
      from public.messages m
      join public.customers c on c.id = m.customer_id
      join public.templates t on t.id = m.template_id
     where m.id = ${first.answer.invited.message_id}`;
  assert.equal(sms.customer_id, byPhone);
  assert.equal(sms.recipient, sms.phone, "to the customer's own phone");
  assert.equal(sms.code, "telegram_invite");
  assert.equal(sms.purpose, "service");
  assert.ok(!first.text.includes(sms.token));
  // Asked again the same day: the same invitation, no new token.
  const again = await verify(byPhone);
  assert.equal(again.answer.invited.message_id, first.answer.invited.message_id);
  assert.equal(await tokens(byPhone), 1);
  // The customer's own link links their chat.
  const chat = freshChat();
  assert.equal((await say(chat, `/start ${sms.token}`)).status, 200);
  const [linked] = await adminSql()`
    select external_id from public.customer_social_accounts
     where customer_id = ${byPhone} and platform = 'telegram'`;
  assert.equal(linked.external_id, String(chat));

  // A customer with an email address: the invitation goes by email, with the whole link.
  const byEmail = await customer();
  await adminSql()`update public.customers set email = ${`invite-${crypto.randomUUID()}@example.test`}
                    where id = ${byEmail}`;
  const mailed = await verify(byEmail);
  assert.equal(mailed.answer.invited.channel, "email");
  assert.equal(mailed.answer.invited.status, "queued", mailed.answer.invited.blocked_reason);
  const [mail] = await adminSql()`
    select variables ->> 'telegram_link' as link from public.messages
     where id = ${mailed.answer.invited.message_id}`;
  assert.match(mail.link, new RegExp(`^https://t\\.me/${telegramBotUsername}\\?start=`));
  assert.ok(!mailed.text.includes(mail.link));

  // A customer with no address: nothing reaches them, and the answer says why.
  const nowhere = await customer();
  await adminSql()`update public.customers set phone = null, email = null where id = ${nowhere}`;
  const blocked = await verify(nowhere);
  assert.equal(blocked.answer.invited.status, "blocked");
  assert.equal(blocked.answer.invited.blocked_reason, "no_address");
  assert.match(blocked.answer.reason, /No invitation could be sent: no_address/);
  assert.ok(!/t\.me|start=/.test(blocked.text));
});

Deno.test({
  name: "telegram: (close the sandbox and the gateway)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await adminSql()`delete from public.social_connections where platform = 'telegram'`;
    await sandbox.close();
    await server.shutdown();
  },
});
