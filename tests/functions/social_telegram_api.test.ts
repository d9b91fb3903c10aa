// The Telegram branch of /api/integrations/social-media through the sandbox's Bot API: an admin
// connects the bot (webhook registered with a secret), the desk sees it connected, an agent gets
// a deep link for their customer, the admin disconnects it (webhook deleted). No secret in any
// answer; agents may not connect or disconnect.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";
import { publicFunctionsUrl, startSocialDesk } from "./_social.ts";

const desk = await startSocialDesk();
const mine = await createCase("arjun.agent@py360.test");
const agent = await tokenFor("arjun.agent@py360.test");
const inspect = async (what: string) =>
  await (await fetch(`${desk.sandbox.url}/_inspect/telegram/${what}`)).json();

dbTest("social telegram API: connect, status, verify with a deep link, disconnect", async () => {
  await adminSql()`delete from public.social_connections where platform = 'telegram'`;
  await expectProblem(await desk.connect("telegram", agent), 403);
  assert.equal(await inspect("webhook"), null, "a refused connect registers nothing");

  const response = await desk.connect("telegram");
  const text = await response.clone().text();
  const connected = await expectJson(response, 200);
  assert.equal(connected.platform, "telegram");
  assert.equal(connected.status, "connected");
  assert.equal(connected.account_name, "@py360_sandbox_bot");
  const webhook = await inspect("webhook");
  assert.equal(webhook.url, `${publicFunctionsUrl}/webhooks/telegram`);
  assert.ok(webhook.secretToken.length >= 32);
  assert.ok(!text.includes(webhook.secretToken), "the secret is not in the answer");
  assert.ok(!text.includes(desk.sandbox.credentials.telegramBotToken), "nor the bot token");

  const status = await expectJson(
    await api("/integrations/social-media/status", { token: agent }),
    200,
  );
  const row = status.data.find((r: { platform: string }) => r.platform === "telegram");
  assert.equal(row.status, "connected");
  assert.ok(!JSON.stringify(status).includes(webhook.secretToken));

  const verified = await expectJson(
    await api("/integrations/social-media/verify", {
      token: agent,
      method: "POST",
      body: { platform: "telegram", customer_id: mine.customerId },
    }),
    200,
  );
  assert.equal(verified.customer_id, mine.customerId);
  assert.equal(verified.reachable, false);
  assert.equal(verified.deep_link, undefined, "the link goes to the customer, not the agent");
  assert.ok(["email", "sms"].includes(verified.invited.channel));
  assert.equal(verified.invited.status, "queued", verified.invited.blocked_reason);
  const [invite] = await adminSql()`
    select m.customer_id, t.code as template_code, m.variables ->> 'telegram_link' as link
      from public.messages m join public.templates t on t.id = m.template_id
     where m.id = ${verified.invited.message_id}`;
  assert.equal(invite.customer_id, mine.customerId);
  assert.equal(invite.template_code, "telegram_invite");
  assert.match(invite.link, /^https:\/\/t\.me\/py360_sandbox_bot\?start=[A-Za-z0-9_-]+$/);
  assert.ok(!JSON.stringify(verified).includes(new URL(invite.link).searchParams.get("start")!));

  await expectProblem(
    await api("/integrations/social-media/telegram", { token: agent, method: "DELETE" }),
    403,
  );
  const gone = await expectJson(
    await api("/integrations/social-media/telegram", { token: desk.admin, method: "DELETE" }),
    200,
  );
  assert.equal(gone.revoked, true);
  assert.equal(gone.connection.status, "disconnected");
  assert.equal(await inspect("webhook"), null, "the webhook deleted at Telegram");
  const [{ tokens }] = await adminSql()`
    select count(*)::int as tokens from private.social_tokens where platform = 'telegram'`;
  assert.equal(tokens, 0);
});

dbTest("social telegram API: close", async () => {
  await adminSql()`delete from public.social_connections where platform = 'telegram'`;
  await desk.close();
});
