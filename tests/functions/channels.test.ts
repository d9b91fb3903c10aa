// /api/channels: the desk reads them, admins configure them.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";

const channelCount = async () =>
  Number((await adminSql()`select count(*) from public.channels`)[0].count);

dbTest("channels: the desk lists them; analysts see none", async () => {
  const agent = await expectJson(
    await api("/channels", { token: await tokenFor("gopal.agent@py360.test") }),
    200,
  );
  const sms = agent.data.find((c: { name: string }) => c.name === "SMS reminders");
  assert.deepEqual(
    { provider: sms.provider, fallback: sms.fallback_provider, cost: sms.cost_per_message },
    { provider: "twilio", fallback: "aws_sns", cost: "62.5" },
  );
  const analyst = await expectJson(
    await api("/channels", { token: await tokenFor("analyst@py360.test") }),
    200,
  );
  assert.deepEqual(analyst.data, []);
  await expectProblem(await api("/channels"), 401);
});

dbTest("channels: an admin creates, changes and deletes a channel", async () => {
  const token = await tokenFor("admin@py360.test");
  const name = `Telegram alerts ${crypto.randomUUID().slice(0, 6)}`;
  const created = await expectJson(
    await api("/channels", {
      token,
      method: "POST",
      body: {
        type: "telegram",
        name,
        provider: "telegram",
        cost_per_message: "0.1234",
        daily_quota: 5000,
      },
    }),
    201,
  );
  assert.equal(created.enabled, true);
  assert.deepEqual(created.settings, {});
  assert.equal(created.cost_per_message, "0.1234", "a fraction of a paisa, exactly");

  const changed = await expectJson(
    await api(`/channels/${created.id}`, {
      token,
      method: "PUT",
      body: { enabled: false, daily_quota: null, settings: { bot: "py360_bot" } },
    }),
    200,
  );
  assert.deepEqual(
    {
      enabled: changed.enabled,
      quota: changed.daily_quota,
      settings: changed.settings,
      name: changed.name,
      cost: changed.cost_per_message,
    },
    { enabled: false, quota: null, settings: { bot: "py360_bot" }, name, cost: "0.1234" },
  );
  const repriced = await expectJson(
    await api(`/channels/${created.id}`, {
      token,
      method: "PUT",
      body: { cost_per_message: "25" },
    }),
    200,
  );
  assert.deepEqual(
    { cost: repriced.cost_per_message, enabled: repriced.enabled, quota: repriced.daily_quota },
    { cost: "25", enabled: false, quota: null },
    "only the field named changes",
  );

  const response = await api(`/channels/${created.id}`, { token, method: "DELETE" });
  assert.equal(response.status, 204);
  await expectProblem(await api(`/channels/${created.id}`, { token, method: "DELETE" }), 404);
});

dbTest("channels: refusals change nothing", async () => {
  const admin = await tokenFor("admin@py360.test");
  const agent = await tokenFor("arjun.agent@py360.test");
  const [sms] = await adminSql()`select id from public.channels where name = 'SMS reminders'`;
  const before = await snapshot("channels", sms.id);
  const count = await channelCount();
  const body = { type: "sms", name: "Agent's own SMS", provider: "twilio" };

  await expectProblem(await api("/channels", { token: agent, method: "POST", body }), 403);
  await expectProblem(
    await api(`/channels/${sms.id}`, { token: agent, method: "PUT", body: { enabled: false } }),
    403,
  );
  await expectProblem(await api(`/channels/${sms.id}`, { token: agent, method: "DELETE" }), 403);
  const unknown = await expectProblem(
    await api("/channels", {
      token: admin,
      method: "POST",
      body: { ...body, provider: "carrier_pigeon" },
    }),
    422,
  );
  assert.equal(unknown.code, "23503");
  await expectProblem(
    await api("/channels", {
      token: admin,
      method: "POST",
      body: { ...body, name: "SMS reminders" },
    }),
    409,
  );
  await expectProblem(
    await api("/channels", {
      token: admin,
      method: "POST",
      body: { ...body, cost_per_message: "-1" },
    }),
    422,
  );
  for (const cost of [62.5, "62.12345", "1e3", ""]) {
    const refused = await expectProblem(
      await api("/channels", {
        token: admin,
        method: "POST",
        body: { ...body, cost_per_message: cost },
      }),
      422,
    );
    assert.equal(refused.errors[0].path, "cost_per_message", String(cost));
  }
  await expectProblem(
    await api("/channels", {
      token: admin,
      method: "POST",
      body: { ...body, fallback_provider: "twilio" },
    }),
    422,
  );
  await expectProblem(
    await api(`/channels/${crypto.randomUUID()}`, {
      token: admin,
      method: "PUT",
      body: { enabled: false },
    }),
    404,
  );
  assert.deepEqual(await snapshot("channels", sms.id), before);
  assert.equal(await channelCount(), count);
});
