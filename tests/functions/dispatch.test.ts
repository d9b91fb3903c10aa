// The drain (functions/_shared/dispatch.ts) against the vendor sandbox over HTTP, with the real
// providers and the database's dispatch rules: every message reaches its vendor exactly once
// (counted by the sandbox, by our message id), through 429 storms, an outage with its fallback
// and breaker, a number Twilio refuses after a STOP (21610: the fallback carries it, the breaker
// and the suppression list are untouched), and two dispatchers sharing a rate limit.
import assert from "node:assert/strict";
import { parseConfig } from "../../functions/_shared/config.ts";
import { drain, drainBatch, leaseWindow } from "../../functions/_shared/dispatch.ts";
import { buildProviders } from "../../functions/_shared/providers/mod.ts";
import { startSandbox } from "../../sandbox/mod.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { control as sandboxControl } from "./_webhooks.ts";
import { adminSql, createCase, dbTest } from "./_helpers.ts";

const sandbox = await startSandbox();
const providers = buildProviders(parseConfig({
  ...sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1"),
  FUNCTIONS_DB_URL: Deno.env.get("FUNCTIONS_DB_URL"),
}));

/** Sets a sandbox vendor's faults or callback mode. */
const control = (path: string, body: Record<string, unknown> = {}) =>
  sandboxControl(sandbox, path, body);

/** What a vendor accepted, per our message id. */
async function receivedByOurId(vendor: string): Promise<Map<string, number>> {
  const requests: { ourId?: string }[] =
    await (await fetch(`${sandbox.url}/_inspect/${vendor}/requests`)).json();
  const counts = new Map<string, number>();
  for (const request of requests) {
    if (request.ourId) counts.set(request.ourId, (counts.get(request.ourId) ?? 0) + 1);
  }
  return counts;
}

let round = 0;
/**
 * A fresh customer with `count` service SMS (and optionally email and WhatsApp) queued now; with
 * `phone`, the customer's number (E.164) instead of createCase's.
 */
async function queue(count: number, channels = ["sms"], phone?: string): Promise<string[]> {
  const sql = adminSql();
  round++;
  const { customerId } = await createCase("farah.agent@py360.test");
  if (phone) await sql`update public.customers set phone = ${phone} where id = ${customerId}`;
  await sql`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${customerId}, 'whatsapp', 'service', 'granted', 'web_form')
    on conflict do nothing`;
  await sql`update public.customers set email = ${`c${round}@example.test`} where id = ${customerId}`;
  const requests = Array.from({ length: count }, (_, n) =>
    channels.map((channel) => ({
      customer_id: customerId,
      channel,
      template_code: "dispatch_test",
      variables: { customer_name: "Meera", policy_number: `P-${round}-${n}`, expiry_date: "1 Jan" },
      priority: 1,
      idempotency_key: `dispatch-${round}-${n}-${channel}`,
    }))).flat();
  const rows = await sql<{ message_id: string; status: string; blocked_reason: string | null }[]>`
    select * from private.enqueue_messages(${sql.json(requests)}, now())`;
  for (const row of rows) assert.equal(row.status, "queued", row.blocked_reason ?? "");
  return rows.map((row) => row.message_id);
}

async function statuses(ids: string[]) {
  return await adminSql()<
    {
      id: string;
      status: string;
      provider: string;
      attempts: number;
      provider_message_id: string | null;
    }[]
  >`select id, status::text, provider, attempts, provider_message_id from public.messages
     where id = any(${ids}::uuid[])`;
}

/** Drains until `ids` have all left the queue (or the deadline passes). */
async function drainUntilDone(ids: string[], worker = "test", deadlineMs = 20_000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    await drain({ worker, providers, budgetMs: 2_000 });
    const open = (await statuses(ids)).filter((m) => ["queued", "sending"].includes(m.status));
    if (open.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("messages still queued at the deadline");
}

dbTest("dispatch: setup — templates, fast retries, the sandbox quiet", async () => {
  const sql = adminSql();
  await sql`
    insert into public.templates (code, channel, language, purpose, subject, body, whatsapp_name,
                                  whatsapp_category, whatsapp_status, whatsapp_parameter_count,
                                  dlt_entity_id, dlt_header, dlt_template_id, dlt_text)
    values
      ('dispatch_test', 'sms', 'en', 'service', null,
       'Dear {{customer_name}}, {{policy_number}} expires {{expiry_date}} -PYRNWL', null, null,
       null, null, '1101234567890123456', 'PYRNWL', '1107161234567890123',
       'Dear {#var#}, {#var#} expires {#var#} -PYRNWL'),
      ('dispatch_test', 'email', 'en', 'service', 'Renew {{policy_number}}',
       'Dear {{customer_name}}, {{policy_number}} expires {{expiry_date}}.', null, null, null,
       null, null, null, null, null),
      ('dispatch_test', 'whatsapp', 'en', 'service', null,
       'Dear {{customer_name}}, {{policy_number}} expires {{expiry_date}}.', 'renewal_reminder',
       'utility', 'approved', 3, null, null, null, null)
    on conflict do nothing`;
  await sql`update public.app_settings set value = '{"max_attempts": 3, "base_seconds": 0.05, "max_seconds": 0.2}'
             where key = 'MESSAGE_RETRY'`;
  await sql`update public.app_settings set value = '{}' where key = 'MESSAGE_FREQUENCY_CAPS'`;
  // Quiet hours open; none of these messages is marketing, so PROMOTIONAL_HOURS (held to TRAI's
  // 10:00-21:00 by its rule) is left as it is.
  await sql`update public.app_settings set value = '{"start": "00:00", "end": "00:00"}'
             where key = 'QUIET_HOURS'`;
  await sql`update public.provider_state set rate_per_second = 1000, tokens = 1000`;
  for (const vendor of ["twilio", "aws_ses", "whatsapp_cloud"]) {
    await control(vendor, { callbacks: { mode: "none" } });
  }
});

dbTest("dispatch: each channel's messages reach their vendor once, in one drain", async () => {
  const ids = await queue(5, ["sms", "email", "whatsapp"]);
  const stats = await drain({ worker: "w-channels", providers });
  // Other test files may have left messages queued: they go too.
  assert.ok(stats.claimed >= 15 && stats.sent >= 15, JSON.stringify(stats));
  const rows = await statuses(ids);
  assert.deepEqual([...new Set(rows.map((m) => m.status))], ["sent"]);
  assert.deepEqual(
    [...new Set(rows.map((m) => m.provider))].sort(),
    ["aws_ses", "twilio", "whatsapp_cloud"],
  );
  for (const vendor of ["twilio", "aws_ses", "whatsapp_cloud"]) {
    const received = await receivedByOurId(vendor);
    const mine = rows.filter((m) => m.provider === vendor);
    assert.equal(mine.length, 5, vendor);
    for (const message of mine) {
      assert.equal(received.get(message.id), 1, `${vendor} ${message.id}`);
    }
  }
});

dbTest("dispatch: a 429 storm backs off and delivers everything, nothing twice", async () => {
  // Enough attempts that no message reaches the fallback: with jitter, one message can meet three
  // of the twelve 429s in a row.
  const sql = adminSql();
  await sql`update public.app_settings set value = '{"max_attempts": 20, "base_seconds": 0.05, "max_seconds": 0.2}'
             where key = 'MESSAGE_RETRY'`;
  await control("twilio", { failNext: { code: 20429, count: 12, status: 429 } });
  const ids = await queue(8);
  await drainUntilDone(ids, "w-storm");
  await sql`update public.app_settings set value = '{"max_attempts": 3, "base_seconds": 0.05, "max_seconds": 0.2}'
             where key = 'MESSAGE_RETRY'`;
  const rows = await statuses(ids);
  assert.deepEqual([...new Set(rows.map((m) => `${m.status}/${m.provider}`))], ["sent/twilio"]);
  assert.ok(rows.some((m) => m.attempts > 1), "some were retried");
  const received = await receivedByOurId("twilio");
  for (const message of rows) assert.equal(received.get(message.id), 1, message.id);
});

dbTest(
  "dispatch: Twilio down — AWS SNS delivers with the same DLT ids; the breaker opens, then closes",
  async () => {
    const sql = adminSql();
    await sql`update public.app_settings set value = '{"failures": 3, "open_seconds": 1}'
             where key = 'PROVIDER_BREAKER'`;
    await control("twilio", { outage: true });
    const ids = await queue(4);
    await drainUntilDone(ids, "w-outage");
    const rows = await statuses(ids);
    assert.deepEqual([...new Set(rows.map((m) => `${m.status}/${m.provider}`))], ["sent/aws_sns"]);
    const sns: { ourId?: string; params: Record<string, string> }[] =
      await (await fetch(`${sandbox.url}/_inspect/aws_sns/requests`)).json();
    const mine = sns.filter((r) => r.ourId && ids.includes(r.ourId));
    assert.equal(mine.length, 4);
    for (const request of mine) {
      const attributes = JSON.stringify(request.params);
      assert.match(attributes, /1101234567890123456/, "the DLT entity id");
      assert.match(attributes, /1107161234567890123/, "the DLT template id");
    }
    const [breaker] =
      await sql`select breaker from public.provider_state where provider = 'twilio'`;
    assert.equal(breaker.breaker, "open");

    // Recovery: after open_seconds one probe goes, succeeds, and the breaker closes.
    await control("twilio", { outage: false });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const probe = await queue(1);
    await drainUntilDone(probe, "w-probe");
    const [after] = await sql`select breaker from public.provider_state where provider = 'twilio'`;
    assert.equal(after.breaker, "closed");
    const history = await sql`
    select breaker from public.provider_breaker_events where provider = 'twilio' order by at, id`;
    assert.deepEqual(history.slice(-3).map((e) => e.breaker), ["open", "half_open", "closed"]);
    await sql`update public.app_settings set value = '{"failures": 5, "open_seconds": 30}'
             where key = 'PROVIDER_BREAKER'`;
  },
);

/** Twilio's magic `To` that its sandbox always refuses with 21610 (the number replied STOP). */
const optedOutAtTwilio = "+15005550004";

/** Twilio's breaker as it stands: state, consecutive failures, and how many events it has. */
async function twilioBreaker() {
  const [row] = await adminSql()`
    select ps.breaker::text, ps.consecutive_failures,
           (select count(*)::int from public.provider_breaker_events e
             where e.provider = 'twilio') as events
      from public.provider_state ps where ps.provider = 'twilio'`;
  return row;
}

/** The suppressions of `address` on SMS. */
async function smsSuppressions(address: string) {
  return await adminSql()`
    select reason, source from public.suppressions where channel = 'sms' and address = ${address}`;
}

dbTest(
  "dispatch: Twilio refuses an opted-out number (21610) — AWS SNS carries it with the same DLT ids; no breaker count, no suppression",
  async () => {
    const sql = adminSql();
    // A breaker that five transient failures would open: five 21610s must not.
    await sql`update public.app_settings set value = '{"failures": 3, "open_seconds": 30}'
             where key = 'PROVIDER_BREAKER'`;
    try {
      const before = await twilioBreaker();
      assert.equal(before.breaker, "closed");
      const ids = await queue(5, ["sms"], optedOutAtTwilio);
      await drainUntilDone(ids, "w-stop");
      const rows = await sql`
        select id, status::text, provider, last_error_code, recipient from public.messages
         where id = any(${ids}::uuid[])`;
      assert.equal(rows.length, 5);
      assert.deepEqual(
        [...new Set(rows.map((m) => `${m.status}/${m.provider}/${m.last_error_code}`))],
        ["sent/aws_sns/21610"],
        "each was refused by Twilio once, then sent by SNS",
      );
      const twilio = await receivedByOurId("twilio");
      for (const id of ids) assert.equal(twilio.get(id), undefined, "Twilio accepted none");
      const sns: { ourId?: string; params: Record<string, string> }[] =
        await (await fetch(`${sandbox.url}/_inspect/aws_sns/requests`)).json();
      const mine = sns.filter((r) => r.ourId && ids.includes(r.ourId));
      assert.equal(mine.length, 5, "SNS took each once");
      for (const request of mine) {
        const attributes = JSON.stringify(request.params);
        assert.match(attributes, /1101234567890123456/, "the DLT entity id");
        assert.match(attributes, /1107161234567890123/, "the DLT template id");
        assert.match(attributes, /\+15005550004/, "to the opted-out number");
      }
      // Five refusals, none counted: the breaker stays closed, its count and history unchanged.
      assert.deepEqual(await twilioBreaker(), before);
      // The number is not dead: not suppressed, and the next SMS to it is queued, not blocked.
      assert.equal((await smsSuppressions(optedOutAtTwilio)).length, 0);
      const next = await queue(1, ["sms"], optedOutAtTwilio);
      await drainUntilDone(next, "w-stop-next");
      const [again] = await statuses(next);
      assert.equal(`${again.status}/${again.provider}`, "sent/aws_sns");
    } finally {
      await sql`update public.app_settings set value = '{"failures": 5, "open_seconds": 30}'
               where key = 'PROVIDER_BREAKER'`;
    }
  },
);

dbTest(
  "dispatch: 21610 with no SMS fallback provider — the message fails, the number is not suppressed",
  async () => {
    const sql = adminSql();
    const [channel] = await sql`
      select fallback_provider from public.channels where type = 'sms' and provider = 'twilio'`;
    assert.equal(channel.fallback_provider, "aws_sns");
    const before = await twilioBreaker();
    await sql`update public.channels set fallback_provider = null
               where type = 'sms' and provider = 'twilio'`;
    try {
      const ids = await queue(1, ["sms"], optedOutAtTwilio);
      await drainUntilDone(ids, "w-stop-alone");
      const [row] = await sql`
        select status::text, provider, last_error_code, failed_at is not null as failed
          from public.messages where id = ${ids[0]}`;
      assert.deepEqual([row.status, row.provider, row.last_error_code, row.failed], [
        "failed",
        "twilio",
        "21610",
        true,
      ]);
      const sns = await receivedByOurId("aws_sns");
      assert.equal(sns.get(ids[0]), undefined, "SNS never saw it");
      assert.equal((await smsSuppressions(optedOutAtTwilio)).length, 0);
      assert.deepEqual(await twilioBreaker(), before);
    } finally {
      await sql`update public.channels set fallback_provider = 'aws_sns'
                 where type = 'sms' and provider = 'twilio'`;
    }
  },
);

dbTest("dispatch: two dispatchers together stay within a provider's rate limit", async () => {
  const sql = adminSql();
  const rate = 25;
  await sql`update public.provider_state set rate_per_second = ${rate}, tokens = 0, tokens_at = now()
             where provider = 'aws_ses'`;
  const before = (await receivedByOurId("aws_ses")).size;
  const ids = await queue(75, ["email"]);
  const started = Date.now();
  await Promise.all([drainUntilDone(ids, "w-rate-1"), drainUntilDone(ids, "w-rate-2")]);
  const seconds = (Date.now() - started) / 1000;
  const received = await receivedByOurId("aws_ses");
  assert.equal(received.size - before, 75);
  for (const id of ids) assert.equal(received.get(id), 1);
  // An empty bucket refilling at 25 a second cannot pass 75 in under 3 seconds.
  assert.ok(seconds >= 75 / rate - 0.3, `75 sends took ${seconds.toFixed(2)} s`);
  await sql`update public.provider_state set rate_per_second = 1000, tokens = 1000
             where provider = 'aws_ses'`;
});

dbTest("dispatch: messages the rate limit holds back come due with their own permits", async () => {
  // An empty bucket refilling 5 a second and 20 emails: none can go now, and each held one comes
  // due when its permit does (0.2 s apart), not all of them at the last one's (4 s).
  const sql = adminSql();
  await drain({ worker: "w-pace", providers });
  await sql`update public.provider_state set rate_per_second = 5, tokens = 0, tokens_at = now()
             where provider = 'aws_ses'`;
  const ids = await queue(20, ["email"]);
  try {
    const stats = await drainBatch({ worker: "w-pace", providers, batchSize: 100 });
    assert.ok(stats.released >= 20, JSON.stringify(stats));
    const due = await sql<{ wait: number }[]>`
      select extract(epoch from m.next_attempt_at - m.updated_at)::float8 as wait
        from public.messages m
       where m.id = any(${ids}::uuid[]) and m.status = 'queued' and m.deferred_reason = 'rate_limit'
       order by m.next_attempt_at`;
    assert.equal(due.length, 20);
    assert.ok(due[0].wait <= 0.35, `the first held comes due within a permit: ${due[0].wait} s`);
    assert.ok(due[19].wait >= 3.7, `the last waits for the twentieth: ${due[19].wait} s`);
    // Spread over the four seconds, a few to each tenth of a second at most.
    assert.ok(new Set(due.map((d) => d.wait.toFixed(1))).size >= 15, JSON.stringify(due));
  } finally {
    await sql`update public.provider_state set rate_per_second = 1000, tokens = 1000
               where provider = 'aws_ses'`;
    await drainUntilDone(ids, "w-pace");
  }
});

dbTest("dispatch: a batch with nothing due claims nothing", async () => {
  await drain({ worker: "w-idle", providers });
  const stats = await drainBatch({ worker: "w-idle", providers });
  assert.equal(stats.picked, 0);
  assert.equal(stats.claimed, 0);
});

dbTest("dispatch: batches held back whole at send time do not end the drain", async () => {
  const sql = adminSql();
  await drain({ worker: "w-held", providers });
  // 120 SMS to a number suppressed after the gate queued them (each batch of 50 is blocked
  // whole when claimed), then one SMS to another customer, queued behind them.
  const phone = `+9197${String(Date.now() % 100_000_000).padStart(8, "0")}`;
  const suppressed = await queue(120, ["sms"], phone);
  await sql`insert into public.suppressions (channel, address, reason, source)
            values ('sms', ${phone}, 'stop_reply', 'test')`;
  const [behind] = await queue(1);
  const stats = await drain({ worker: "w-held", providers, batchSize: 50, lanes: 1 });
  // (Anything of earlier tests that fell due meanwhile is picked too.)
  assert.ok(stats.picked >= 121, JSON.stringify(stats));
  assert.ok(stats.claimed >= 1, JSON.stringify(stats));
  const [{ blocked }] = await sql<{ blocked: number }[]>`
    select count(*)::int as blocked from public.messages
     where id = any(${suppressed}::uuid[]) and status = 'blocked' and blocked_reason = 'suppressed'`;
  assert.equal(blocked, 120);
  const [message] = await statuses([behind]);
  assert.equal(message.status, "sent", "the message behind them went in the same drain");
});

dbTest("dispatch: a batch that outlasts its lease sends nothing twice", async () => {
  const sql = adminSql();
  await drain({ worker: "w-slow", providers });
  // A lease of 5 s (the least the setting allows), Twilio answering in 1.5 s, two sends at a
  // time: a batch of 10 needs 7.5 s. Its first sends go; those that could not start 3 s before
  // the lease's end (a 2 s send deadline, the last 0.5 s kept for the results) are handed back
  // unsent, and go in the drain's next batches. A second dispatcher draining meanwhile finds no
  // lease run out: without the window it took over the messages still waiting for a free send
  // after 5 s, and both sent them.
  await sql`update public.app_settings set value = '5' where key = 'MESSAGE_LEASE_SECONDS'`;
  await control("twilio", { latencyMs: 1_500 });
  try {
    const ids = await queue(10);
    const slow = drain({
      worker: "w-slow",
      providers,
      batchSize: 10,
      concurrency: 2,
      lanes: 1,
      sendTimeoutMs: 2_000,
      budgetMs: 30_000,
    });
    let done = false;
    const other = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 5_500));
      while (!done) {
        await drain({ worker: "w-other", providers, concurrency: 10, lanes: 1, budgetMs: 2_000 });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const stats = await slow.finally(() => done = true);
    await other;
    const received = await receivedByOurId("twilio");
    for (const id of ids) assert.equal(received.get(id), 1, `message ${id} reached Twilio once`);
    assert.deepEqual([...new Set((await statuses(ids)).map((m) => m.status))], ["sent"]);
    assert.ok(
      stats.released >= 4,
      `sends not started in time were handed back: ${JSON.stringify(stats)}`,
    );
    const [{ stalled }] = await sql<{ stalled: number }[]>`
      select count(*)::int as stalled from public.messages where id = any(${ids}::uuid[]) and stalls > 0`;
    assert.equal(stalled, 0, "no lease ran out");
  } finally {
    await control("twilio", { latencyMs: 0 });
    await sql`update public.app_settings set value = '60' where key = 'MESSAGE_LEASE_SECONDS'`;
  }
});

Deno.test(
  "dispatch: the lease window keeps a tenth for the results and a send deadline before it",
  () => {
    // 60 s lease, 10 s deadline: every send over by 54 s, none starting after 44 s.
    assert.deepEqual(leaseWindow(1_000, 60, 10_000), { startBy: 45_000, endBy: 55_000 });
    // 5 s lease: at least 500 ms for the results; a 10 s deadline cut to half the 4.5 s left.
    assert.deepEqual(leaseWindow(0, 5, 10_000), { startBy: 2_250, endBy: 4_500 });
  },
);

Deno.test({
  name: "dispatch: teardown",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => sandbox.close(),
});
