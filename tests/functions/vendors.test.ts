// The vendor and channel reports (GET /api/vendors/communications, /api/vendors/{id}/performance,
// /api/channels/{id}/performance): figures over an hour of the past that only the fixture uses,
// so every count, cost, percentile and breaker change is known; managers see their subtree's
// messages, admins all; agents and analysts are refused.
import assert from "node:assert/strict";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import { reportFixture } from "./_messaging.ts";

type Row = Record<string, unknown> & { vendor: { code: string } };

const zero = {
  messages: 0,
  sent: 0,
  delivered: 0,
  read: 0,
  failed: 0,
  undeliverable: 0,
  unconfirmed: 0,
  cost: {
    total_paise: "0",
    actual_paise: "0",
    estimated_paise: "0",
    actual_messages: 0,
    estimated_messages: 0,
  },
};

/** A vendor row without its vendor reference, for comparing figures. */
const figures = ({ vendor: _, ...rest }: Row) => rest;

dbTest("vendors: communications per vendor for the period, as each manager may see", async () => {
  const f = await reportFixture();
  const period = `from=${f.from}&to=${f.to}`;
  const report = async (email: string) => {
    const body = await expectJson(
      await api(`/vendors/communications?${period}`, { token: await tokenFor(email) }),
      200,
    );
    assert.deepEqual(body.period, {
      from: f.from.replace(".000Z", ".000000Z"),
      to: f.to.replace(".000Z", ".000000Z"),
    });
    return Object.fromEntries(body.data.map((row: Row) => [row.vendor.code, figures(row)]));
  };

  const cp = await report("cp.manager@py360.test");
  assert.deepEqual(Object.keys(cp), ["aws_ses", "aws_sns", "sendgrid", "twilio", "whatsapp_cloud"]);
  assert.deepEqual(cp.twilio, {
    messages: 4,
    sent: 3,
    delivered: 2,
    read: 0,
    failed: 1,
    undeliverable: 1,
    unconfirmed: 0,
    cost: {
      total_paise: "112.5",
      actual_paise: "62.5",
      estimated_paise: "50",
      actual_messages: 1,
      estimated_messages: 2,
    },
  });
  assert.deepEqual(cp.aws_sns, {
    ...zero,
    messages: 1,
    sent: 1,
    unconfirmed: 1,
    cost: { ...zero.cost, total_paise: "25", estimated_paise: "25", estimated_messages: 1 },
  });
  assert.deepEqual(cp.whatsapp_cloud, {
    ...zero,
    messages: 1,
    sent: 1,
    delivered: 1,
    read: 1,
    cost: { ...zero.cost, total_paise: "11.5", actual_paise: "11.5", actual_messages: 1 },
  });
  assert.deepEqual(cp.aws_ses, zero);

  const admin = await report("admin@py360.test");
  assert.deepEqual(
    [admin.twilio.messages, admin.twilio.sent, admin.twilio.cost],
    [5, 4, {
      total_paise: "137.5",
      actual_paise: "62.5",
      estimated_paise: "75",
      actual_messages: 1,
      estimated_messages: 3,
    }],
    "an admin counts Gopal's customer's message too",
  );
  const ggn = await report("ggn.manager@py360.test");
  assert.deepEqual(
    ggn.twilio,
    {
      ...zero,
      messages: 1,
      sent: 1,
      cost: { ...zero.cost, total_paise: "25", estimated_paise: "25", estimated_messages: 1 },
    },
    "another branch's manager counts only their branch's message",
  );
  assert.deepEqual(ggn.whatsapp_cloud, zero);
});

dbTest("vendors: a vendor's latency, failure reasons, cost and breaker history", async () => {
  const f = await reportFixture();
  const token = await tokenFor("cp.manager@py360.test");
  const period = `from=${f.from}&to=${f.to}`;
  const byCode = await expectJson(
    await api(`/vendors/twilio/performance?${period}`, { token }),
    200,
  );
  const [vendor] = await adminSql()`
    select id, code, name, kind from public.vendors where code = 'twilio'`;
  assert.deepEqual(byCode.vendor, vendor);
  assert.deepEqual(byCode.counts, {
    messages: 4,
    sent: 3,
    delivered: 2,
    read: 0,
    failed: 1,
    undeliverable: 1,
    unconfirmed: 0,
  });
  // Queue to sent: 2, 4 and 6 s; to delivered: 10 and 20 s (percentile_cont interpolates).
  assert.deepEqual(byCode.latency, {
    queue_to_sent: { messages: 3, p50_seconds: 4, p95_seconds: 5.8 },
    queue_to_delivered: { messages: 2, p50_seconds: 15, p95_seconds: 19.5 },
  });
  assert.deepEqual(byCode.failure_reasons, [
    { code: "20429", messages: 1, final: 0 },
    { code: "21211", messages: 1, final: 1 },
    { code: "30003", messages: 1, final: 1 },
  ]);
  assert.equal(byCode.cost.total_paise, "112.5");

  const [state] = await adminSql()`
    select breaker, breaker_since, consecutive_failures from public.provider_state
     where provider = 'twilio'`;
  assert.equal(byCode.breakers.length, 1);
  const [breaker] = byCode.breakers;
  assert.deepEqual(
    [breaker.provider, breaker.state, Date.parse(breaker.since), breaker.consecutive_failures],
    ["twilio", state.breaker, state.breaker_since.getTime(), state.consecutive_failures],
  );
  assert.deepEqual(
    breaker.history.map((change: { breaker: string; at: string }) => [
      change.breaker,
      (Date.parse(change.at) - f.start.getTime()) / 1000,
    ]),
    [["open", 30], ["half_open", 60], ["closed", 90]],
    "the changes in the period only, oldest first",
  );

  const byId = await expectJson(
    await api(`/vendors/${vendor.id}/performance?${period}`, { token }),
    200,
  );
  assert.deepEqual(byId, byCode, "the vendor by id or by code");

  const ggn = await expectJson(
    await api(`/vendors/twilio/performance?${period}`, {
      token: await tokenFor("ggn.manager@py360.test"),
    }),
    200,
  );
  assert.deepEqual(ggn.latency.queue_to_sent, { messages: 1, p50_seconds: 8, p95_seconds: 8 });
  assert.deepEqual(ggn.failure_reasons, []);
  assert.deepEqual(ggn.latency.queue_to_delivered, {
    messages: 0,
    p50_seconds: null,
    p95_seconds: null,
  });
});

dbTest("channels: a channel's measures cover its type's messages and its providers", async () => {
  const f = await reportFixture();
  const token = await tokenFor("cp.manager@py360.test");
  const [sms] = await adminSql()`select id from public.channels where name = 'SMS reminders'`;
  const body = await expectJson(
    await api(`/channels/${sms.id}/performance?from=${f.from}&to=${f.to}`, { token }),
    200,
  );
  assert.deepEqual(
    [body.channel.id, body.channel.type, body.channel.provider, body.channel.fallback_provider],
    [sms.id, "sms", "twilio", "aws_sns"],
  );
  assert.deepEqual(body.counts, {
    messages: 5,
    sent: 4,
    delivered: 2,
    read: 0,
    failed: 1,
    undeliverable: 1,
    unconfirmed: 1,
  });
  // Queue to sent: 1, 2, 4 and 6 s.
  assert.deepEqual(body.latency.queue_to_sent, { messages: 4, p50_seconds: 3, p95_seconds: 5.7 });
  assert.equal(body.cost.total_paise, "137.5");
  assert.deepEqual(body.breakers.map((b: { provider: string }) => b.provider), [
    "twilio",
    "aws_sns",
  ]);
  assert.equal(body.breakers[0].history.length, 3);

  const [whatsapp] = await adminSql()`
    select id from public.channels where type = 'whatsapp' order by name limit 1`;
  const wa = await expectJson(
    await api(`/channels/${whatsapp.id}/performance?from=${f.from}&to=${f.to}`, { token }),
    200,
  );
  assert.deepEqual([wa.counts.messages, wa.counts.read], [1, 1]);
  assert.deepEqual(wa.latency.queue_to_delivered, {
    messages: 1,
    p50_seconds: 5,
    p95_seconds: 5,
  });
  assert.deepEqual(wa.breakers.map((b: { provider: string }) => b.provider), ["whatsapp_cloud"]);
});

dbTest("vendors and channels: the reports are for managers and admins", async () => {
  const [sms] = await adminSql()`select id from public.channels where name = 'SMS reminders'`;
  const paths = [
    "/vendors/communications",
    "/vendors/twilio/performance",
    `/channels/${sms.id}/performance`,
  ];
  for (const path of paths) {
    for (const email of ["farah.agent@py360.test", "analyst@py360.test"]) {
      await expectProblem(await api(path, { token: await tokenFor(email) }), 403);
    }
    await expectProblem(await api(path), 401);
  }
  // The default period: the last 30 days up to now.
  const body = await expectJson(
    await api("/vendors/communications", { token: await tokenFor("admin@py360.test") }),
    200,
  );
  const to = Date.parse(body.period.to);
  assert.ok(Math.abs(to - Date.now()) < 60_000, body.period.to);
  assert.equal(to - Date.parse(body.period.from), 30 * 86_400_000);
});

dbTest("vendors and channels: report refusals", async () => {
  const token = await tokenFor("admin@py360.test");
  const [sms] = await adminSql()`select id from public.channels where name = 'SMS reminders'`;
  await expectProblem(await api("/vendors/carrier_pigeon/performance", { token }), 404);
  await expectProblem(await api(`/vendors/${crypto.randomUUID()}/performance`, { token }), 404);
  await expectProblem(await api("/vendors/Twilio!/performance", { token }), 422);
  await expectProblem(await api(`/channels/${crypto.randomUUID()}/performance`, { token }), 404);
  await expectProblem(await api("/channels/sms/performance", { token }), 422);
  for (
    const path of [
      "/vendors/communications",
      "/vendors/twilio/performance",
      `/channels/${sms.id}/performance`,
    ]
  ) {
    const backwards = await expectProblem(
      await api(`${path}?from=2026-12-02&to=2026-12-01`, { token }),
      422,
    );
    assert.equal(backwards.errors[0].code, "invalid_period", path);
    const long = await expectProblem(
      await api(`${path}?from=2024-01-01&to=2026-01-01`, { token }),
      422,
    );
    assert.match(long.detail, /at most 366 days/, path);
    await expectProblem(await api(`${path}?from=soon`, { token }), 422);
  }
});
