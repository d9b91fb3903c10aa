// The vendor and channel reports (GET /api/vendors/communications, /api/vendors/{id}/performance,
// /api/channels/{id}/performance): figures over an hour of the past that only the fixture uses,
// so every count, cost, percentile and breaker change is known; managers see their subtree's
// messages, admins all; agents and analysts are refused. The performance reports read the
// analytics facts: each test rebuilds the facts of its days first, and compares the answer with
// what the messages themselves give (latency percentiles within the histograms' 9 % buckets).
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
import { createTemplate, enqueue, reportFixture, setMessages } from "./_messaging.ts";

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

/** Puts each message on its customer's case (the reports place it in its case's agent's subtree). */
async function onCases(ids: string[]) {
  await adminSql()`
    update public.messages m set case_id = c.id
      from public.renewal_cases c
     where c.customer_id = m.customer_id and m.id = any(${ids}::uuid[])`;
}

/**
 * One more Twilio message of `customerId` at `start` on no case (sent 3 s after, estimated 25
 * paise): a desk message of `sender`'s (an email), or the system's without one.
 */
async function caselessMessage(customerId: string, start: Date, sender: string | null = null) {
  const [{ code }] = await adminSql()`
    select t.code from public.messages m join public.templates t on t.id = m.template_id
     where m.customer_id = ${customerId} and m.channel = 'sms' and m.template_id is not null
     limit 1`;
  const [id] = await enqueue([{ customer_id: customerId, template_code: code }]);
  const [{ created_by }] = await adminSql()`
    select (select p.id from public.profiles p where p.email = ${sender}) as created_by`;
  await setMessages([id], {
    case_id: null,
    created_by,
    created_at: start,
    queued_at: start,
    estimated_cost_paise: 25,
    provider: "twilio",
    status: "sent",
    sent_at: new Date(start.getTime() + 3000),
  });
  return id;
}

dbTest("vendors: communications per vendor for the period, as each manager may see", async () => {
  const f = await reportFixture();
  await onCases(Object.values(f.ids));
  const [{ farah }] = await adminSql()`
    select customer_id as farah from public.messages where id = ${f.ids.priced}`;
  // Farah's own message to her customer outside the case, and the system's.
  await caselessMessage(farah, f.start, "farah.agent@py360.test");
  await caselessMessage(farah, f.start);
  // A WhatsApp message of Farah's case that failed after its send: Meta bills delivered
  // messages only, so without a reported price it costs nothing.
  const [{ code: whatsapp }] = await adminSql()`
    select t.code from public.messages m join public.templates t on t.id = m.template_id
     where m.id = ${f.ids.read}`;
  const [failed] = await enqueue([
    { customer_id: farah, channel: "whatsapp", template_code: whatsapp },
  ]);
  await onCases([failed]);
  await setMessages([failed], {
    created_at: f.start,
    queued_at: f.start,
    estimated_cost_paise: 25,
    provider: "whatsapp_cloud",
    status: "failed",
    sent_at: new Date(f.start.getTime() + 2000),
    failed_at: new Date(f.start.getTime() + 4000),
    last_error_code: "131026",
  });
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
    messages: 5,
    sent: 4,
    delivered: 2,
    read: 0,
    failed: 1,
    undeliverable: 1,
    unconfirmed: 0,
    cost: {
      total_paise: "137.5",
      actual_paise: "62.5",
      estimated_paise: "75",
      actual_messages: 1,
      estimated_messages: 3,
    },
  }, "the branch's cases' messages and Farah's without a case, not the system's");
  assert.deepEqual(cp.aws_sns, {
    ...zero,
    messages: 1,
    sent: 1,
    unconfirmed: 1,
    cost: { ...zero.cost, total_paise: "25", estimated_paise: "25", estimated_messages: 1 },
  });
  assert.deepEqual(cp.whatsapp_cloud, {
    ...zero,
    messages: 2,
    sent: 2,
    delivered: 1,
    read: 1,
    failed: 1,
    cost: {
      ...zero.cost,
      total_paise: "11.5",
      actual_paise: "11.5",
      actual_messages: 1,
      estimated_messages: 1,
    },
  });
  assert.deepEqual(cp.aws_ses, zero);

  const admin = await report("admin@py360.test");
  assert.deepEqual(
    [admin.twilio.messages, admin.twilio.sent, admin.twilio.cost],
    [7, 6, {
      total_paise: "187.5",
      actual_paise: "62.5",
      estimated_paise: "125",
      actual_messages: 1,
      estimated_messages: 5,
    }],
    "an admin counts Gopal's customer's message and the system's without a case too",
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

/**
 * The report fixture with each message on its customer's case (the facts place a message in the
 * subtree of its case's agent), one more message of Farah's customer on no case (an admin counts
 * it, no manager does), and the facts of the fixture's IST day rebuilt. `day` is that day.
 */
async function factsFixture() {
  const f = await reportFixture();
  const ids = Object.values(f.ids);
  await onCases(ids);
  const [{ farah }] = await adminSql()`
    select customer_id as farah from public.messages where id = ${f.ids.priced}`;
  const caseless = await caselessMessage(farah, f.start);
  const [{ day }] = await adminSql()`select private.business_date(${f.start})::text as day`;
  await adminSql()`select private.rebuild_analytics(${day}::date, ${day}::date)`;
  return { ...f, day, caseless, ids: [...ids, caseless] };
}

/** percentile_cont's p50, p95 and p99 of a latency of some messages, straight from their rows. */
async function exactLatency(ids: string[], column: "sent_at" | "delivered_at") {
  const [row] = await adminSql()`
    select count(${adminSql()(column)})::int as messages,
           percentile_cont(array[0.5, 0.95, 0.99]) within group (
             order by extract(epoch from ${adminSql()(column)} - queued_at)::float8) as q
      from public.messages
     where id = any(${ids}::uuid[]) and ${adminSql()(column)} is not null`;
  return row as { messages: number; q: number[] | null };
}

/** A latency as answered matches the exact one: same count, each percentile within 9.1 %. */
function assertLatency(
  actual: { messages: number; p50_seconds: number; p95_seconds: number; p99_seconds: number },
  exact: { messages: number; q: number[] | null },
  label: string,
) {
  assert.equal(actual.messages, exact.messages, label);
  const answered = [actual.p50_seconds, actual.p95_seconds, actual.p99_seconds];
  exact.q!.forEach((value, i) => {
    assert.ok(
      Math.abs(answered[i] - value) <= 0.091 * value,
      `${label}: percentile ${i}: ${answered[i]} against ${value}`,
    );
  });
}

/** The messages of the fixture matching a condition, by id, as the superuser sees them. */
async function fixtureIds(ids: string[], where: ReturnType<ReturnType<typeof adminSql>>) {
  const rows = await adminSql()`
    select m.id from public.messages m
      join public.renewal_cases c on c.id = m.case_id
      join public.profiles a on a.id = c.assignee_id
     where m.id = any(${ids}::uuid[]) and ${where}`;
  return rows.map((row) => row.id as string);
}

dbTest(
  "vendors: a vendor's outcomes, causes, latency, cost and breaker history, from the facts",
  async () => {
    const f = await factsFixture();
    const token = await tokenFor("cp.manager@py360.test");
    const period = `from=${f.day}&to=${f.day}`;
    const byCode = await expectJson(
      await api(`/vendors/twilio/performance?${period}`, { token }),
      200,
    );
    const [vendor] = await adminSql()`
    select id, code, name, kind from public.vendors where code = 'twilio'`;
    assert.deepEqual(byCode.vendor, vendor);
    const [bounds] = await adminSql()`
    select to_char((${f.day}::date::timestamp at time zone 'Asia/Kolkata') at time zone 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as from,
           to_char(((${f.day}::date + 1)::timestamp at time zone 'Asia/Kolkata') at time zone 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as to`;
    assert.deepEqual(byCode.period, { ...bounds, granularity: "day" }, "the whole IST day");
    assert.ok(!Number.isNaN(Date.parse(byCode.facts_as_of)), byCode.facts_as_of);

    // Farah's four twilio messages: Gopal's (another branch) and the one on no case are not hers.
    assert.deepEqual(byCode.counts, {
      messages: 4,
      sent: 3,
      delivered: 2,
      read: 0,
      failed: 1,
      undeliverable: 1,
      unconfirmed: 0,
    });
    assert.deepEqual(byCode.by_status, {
      queued: 0,
      sending: 0,
      sent: 0,
      delivered: 2,
      read: 0,
      failed: 1,
      undeliverable: 1,
      cancelled: 0,
      blocked: 0,
      dead: 0,
    });
    const farahs = await fixtureIds(
      f.ids,
      adminSql()`m.provider = 'twilio' and a.email = 'farah.agent@py360.test'`,
    );
    assert.equal(farahs.length, 4);
    // Queue to sent: 2, 4 and 6 s; to delivered: 10 and 20 s.
    assertLatency(byCode.latency.queue_to_sent, await exactLatency(farahs, "sent_at"), "sent");
    assertLatency(
      byCode.latency.queue_to_delivered,
      await exactLatency(farahs, "delivered_at"),
      "delivered",
    );
    assert.deepEqual(byCode.failure_reasons, [
      { code: "20429", messages: 1, final: 0, cause: null },
      { code: "21211", messages: 1, final: 1, cause: "customer" },
      { code: "30003", messages: 1, final: 1, cause: "customer" },
    ]);
    assert.deepEqual(byCode.failure_causes, [
      {
        cause: "customer",
        messages: 2,
        codes: [{ code: "21211", messages: 1 }, { code: "30003", messages: 1 }],
      },
      { cause: "provider", messages: 0, codes: [] },
      { cause: "us", messages: 0, codes: [] },
      { cause: "regulation", messages: 0, codes: [] },
    ]);
    assert.deepEqual(byCode.cost, {
      total_paise: "112.5",
      actual_paise: "62.5",
      estimated_paise: "50",
      actual_messages: 1,
      estimated_messages: 2,
    });
    assert.equal(byCode.cost_per_delivered_paise, "56.25", "112.5 paise over 2 delivered");
    assert.equal(byCode.renewals, 0);
    assert.equal(byCode.cost_per_renewal_paise, null, "no renewal: no cost per renewal");

    assert.equal(byCode.providers.length, 1);
    const [twilio] = byCode.providers;
    assert.deepEqual([twilio.provider, twilio.counts, twilio.cost], [
      "twilio",
      byCode.counts,
      byCode.cost,
    ]);
    assert.deepEqual(twilio.latency, byCode.latency, "one provider: its latency is the whole's");
    const [template] = await adminSql()`
    select t.id, t.code, t.channel::text, t.language from public.templates t
      join public.messages m on m.template_id = t.id
     where m.id = ${f.ids[0]}`;
    assert.deepEqual(
      byCode.templates.map((t: Record<string, unknown>) => [t.template_id, t.code, t.channel]),
      [[template.id, template.code, "sms"]],
    );
    assert.deepEqual(byCode.templates[0].counts, byCode.counts);
    assert.equal(byCode.templates[0].cost_per_delivered_paise, "56.25");
    assert.deepEqual(byCode.series, [{
      start: bounds.from.replace(".000000Z", "Z"),
      messages: 4,
      sent: 3,
      delivered: 2,
      read: 0,
      failed: 1,
      undeliverable: 1,
      cost_paise: "112.5",
      renewals: 0,
      p50_delivered_seconds: byCode.latency.queue_to_delivered.p50_seconds,
      p95_delivered_seconds: byCode.latency.queue_to_delivered.p95_seconds,
    }]);

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
      "the changes in the period only (not the day before), oldest first",
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
    assert.deepEqual([ggn.counts.messages, ggn.counts.sent], [1, 1], "Gopal's message only");
    assertLatency(
      ggn.latency.queue_to_sent,
      await exactLatency(
        await fixtureIds(f.ids, adminSql()`a.email = 'gopal.agent@py360.test'`),
        "sent_at",
      ),
      "Gurugram's queue to sent (8 s)",
    );
    assert.deepEqual(ggn.failure_reasons, []);
    assert.deepEqual(ggn.latency.queue_to_delivered, {
      messages: 0,
      p50_seconds: null,
      p95_seconds: null,
      p99_seconds: null,
    });

    const admin = await expectJson(
      await api(`/vendors/twilio/performance?${period}`, {
        token: await tokenFor("admin@py360.test"),
      }),
      200,
    );
    const [everything] = await adminSql()`
    select count(*)::int as messages, count(sent_at)::int as sent,
           sum(coalesce(cost_paise, estimated_cost_paise)) filter (where sent_at is not null)::text
             as cost
      from public.messages where id = any(${f.ids}::uuid[]) and provider = 'twilio'`;
    assert.deepEqual(
      [admin.counts.messages, admin.counts.sent, admin.cost.total_paise],
      [everything.messages, everything.sent, everything.cost.replace(/\.?0+$/, "")],
      "an admin counts Gopal's message and the one on no case too (6, 5 sent, 162.5 paise)",
    );
    assert.equal(everything.messages, 6);
  },
);

dbTest("channels: a channel's measures cover its type's messages, per provider", async () => {
  const f = await factsFixture();
  const token = await tokenFor("cp.manager@py360.test");
  const [sms] = await adminSql()`select id from public.channels where name = 'SMS reminders'`;
  const body = await expectJson(
    await api(`/channels/${sms.id}/performance?from=${f.day}&to=${f.day}`, { token }),
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
  const farahsSms = await fixtureIds(
    f.ids,
    adminSql()`m.channel = 'sms' and a.email = 'farah.agent@py360.test'`,
  );
  assertLatency(body.latency.queue_to_sent, await exactLatency(farahsSms, "sent_at"), "sms");
  assert.equal(body.cost.total_paise, "137.5");
  assert.deepEqual(
    body.providers.map((p: { provider: string; counts: { messages: number } }) => [
      p.provider,
      p.counts.messages,
    ]),
    [["twilio", 4], ["aws_sns", 1]],
    "per provider, most messages first",
  );
  const sns = body.providers[1];
  assert.deepEqual([sns.counts.unconfirmed, sns.cost.total_paise, sns.cost_per_delivered_paise], [
    1,
    "25",
    null,
  ]);
  assertLatency(
    sns.latency.queue_to_sent,
    await exactLatency(await fixtureIds(f.ids, adminSql()`m.provider = 'aws_sns'`), "sent_at"),
    "aws_sns",
  );
  assert.deepEqual(body.breakers.map((b: { provider: string }) => b.provider), [
    "twilio",
    "aws_sns",
  ]);
  assert.equal(body.breakers[0].history.length, 3);

  const [whatsapp] = await adminSql()`
    select id from public.channels where type = 'whatsapp' order by name limit 1`;
  const wa = await expectJson(
    await api(`/channels/${whatsapp.id}/performance?from=${f.day}&to=${f.day}`, { token }),
    200,
  );
  assert.deepEqual([wa.counts.messages, wa.counts.read], [1, 1]);
  assertLatency(
    wa.latency.queue_to_delivered,
    await exactLatency(await fixtureIds(f.ids, adminSql()`m.channel = 'whatsapp'`), "delivered_at"),
    "whatsapp: delivered after 5 s",
  );
  assert.equal(wa.cost_per_delivered_paise, "11.5");
  assert.deepEqual(wa.breakers.map((b: { provider: string }) => b.provider), ["whatsapp_cloud"]);
});

dbTest("vendors: hourly figures of the last hours, with their series", async () => {
  // A vendor of this test's own, so that nobody else's messages of these hours count.
  const code = `perf_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  await adminSql()`insert into public.vendors (code, name, kind) values (${code}, 'Perf', 'sms')`;
  const { caseId, customerId } = await createCase("farah.agent@py360.test");
  const [clock] = await adminSql()`
    select (date_trunc('hour', now() at time zone 'Asia/Kolkata') - interval '3 hours')
             at time zone 'Asia/Kolkata' as hour`;
  const hour: Date = clock.hour;
  const { code: template } = await createTemplate();
  const ids = await enqueue([
    { customer_id: customerId, case_id: caseId, template_code: template },
    { customer_id: customerId, case_id: caseId, template_code: template },
  ]);
  await setMessages(ids, {
    created_at: new Date(hour.getTime() + 600_000),
    queued_at: new Date(hour.getTime() + 600_000),
    provider: code,
    estimated_cost_paise: 20,
    status: "sent",
    sent_at: new Date(hour.getTime() + 603_000),
  });
  await adminSql()`
    select private.rebuild_analytics(private.business_date(${hour}), private.business_date(${hour}))`;
  try {
    const from = hour.toISOString();
    const to = new Date(hour.getTime() + 3 * 3_600_000).toISOString();
    const body = await expectJson(
      await api(`/vendors/${code}/performance?from=${from}&to=${to}&granularity=hour`, {
        token: await tokenFor("cp.manager@py360.test"),
      }),
      200,
    );
    assert.equal(body.period.granularity, "hour");
    assert.deepEqual([body.counts.messages, body.counts.sent, body.cost.total_paise], [2, 2, "40"]);
    assert.deepEqual(
      body.series.map((p: { start: string; messages: number; cost_paise: string }) => [
        Date.parse(p.start) - hour.getTime(),
        p.messages,
        p.cost_paise,
      ]),
      [[0, 2, "40"], [3_600_000, 0, "0"], [7_200_000, 0, "0"]],
      "one point per IST hour, empty ones too",
    );
    const chosen = await expectJson(
      await api(`/vendors/${code}/performance?from=${from}&to=${to}`, {
        token: await tokenFor("admin@py360.test"),
      }),
      200,
    );
    assert.equal(chosen.period.granularity, "hour", "hours asked by instants inside a day");
    assert.deepEqual(chosen.series.length, 3);
    const ggn = await expectJson(
      await api(`/vendors/${code}/performance?from=${from}&to=${to}&granularity=hour`, {
        token: await tokenFor("ggn.manager@py360.test"),
      }),
      200,
    );
    assert.equal(ggn.counts.messages, 0, "another branch's manager: none of Farah's");
  } finally {
    await adminSql()`delete from public.messages where id = any(${ids}::uuid[])`;
    await adminSql()`
      select private.rebuild_analytics(private.business_date(${hour}), private.business_date(${hour}))`;
    await adminSql()`delete from public.vendors where code = ${code}`;
  }
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
  // The performance reports' default: the 30 IST days through today, by the day.
  const [today] = await adminSql()`
    select (private.business_date(now()) + 1)::timestamp at time zone 'Asia/Kolkata' as end`;
  const perf = await expectJson(
    await api("/vendors/twilio/performance", { token: await tokenFor("admin@py360.test") }),
    200,
  );
  assert.equal(perf.period.granularity, "day");
  assert.equal(Date.parse(perf.period.to), today.end.getTime(), "the end of today, IST");
  assert.equal(Date.parse(perf.period.to) - Date.parse(perf.period.from), 30 * 86_400_000);
  assert.equal(perf.series.length, 30);
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
  const [clock] = await adminSql()`
    select date_trunc('hour', now() at time zone 'Asia/Kolkata') at time zone 'Asia/Kolkata'
             as hour`;
  const hour: Date = clock.hour;
  const at = (hours: number) => new Date(hour.getTime() + hours * 3_600_000).toISOString();
  for (const path of ["/vendors/twilio/performance", `/channels/${sms.id}/performance`]) {
    const refused = async (query: string, pattern: RegExp) => {
      const problem = await expectProblem(await api(`${path}?${query}`, { token }), 422);
      assert.match(problem.detail, pattern, `${path}?${query}`);
      assert.equal(problem.errors[0].code, "invalid_period");
    };
    await refused(`from=${at(-5)}&to=${at(-2)}&granularity=day`, /runs from 00:00 to 00:00 IST/);
    await refused(
      `from=${new Date(hour.getTime() - 1_800_000).toISOString()}&to=${at(1)}`,
      /whole IST hours/,
    );
    await refused(`from=${at(-24 * 8)}&to=${at(-24 * 7)}&granularity=hour`, /last 7 days only/);
    await refused(`from=2026-01-01&to=2026-01-02&granularity=hour`, /last 7 days only/);
    await refused(`from=2025-01-01&to=2025-04-30&granularity=day`, /at most 90 days/);
    const schema = await expectProblem(await api(`${path}?granularity=week`, { token }), 422);
    assert.equal(schema.errors[0].path, "granularity");
    // Left to itself, a period of 120 days is answered in totals, without a series.
    const totals = await expectJson(
      await api(`${path}?from=2025-01-01&to=2025-04-30`, { token }),
      200,
    );
    assert.deepEqual([totals.period.granularity, totals.series], ["day", null]);
  }
});
