// /api/messages: the desk's one-off messages through the gate (queued, deferred, blocked; once
// per Idempotency-Key), the messages of a case or customer in keyset pages under RLS, and the
// admins' redrive of dead letters.
import assert from "node:assert/strict";
import app from "../../functions/api/app.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";
import {
  createTemplate,
  enqueue,
  freshCode,
  grantConsent,
  messageCount,
  setMessages,
} from "./_messaging.ts";

/** POST /messages with an Idempotency-Key (null sends none). */
async function send(
  token: string | undefined,
  body: unknown,
  key: string | null = crypto.randomUUID(),
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (key !== null) headers["idempotency-key"] = key;
  return await app.request("/api/messages", {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const userId = async (email: string) =>
  (await adminSql()`select id from public.profiles where email = ${email}`)[0].id as string;

dbTest(
  "messages: an agent's SMS is queued (201), and the same key answers it again (200)",
  async () => {
    // A service template (the desk sends no transactional one), with quiet hours off so that
    // it goes now at any hour of the run.
    const sql = adminSql();
    const [{ value: saved }] = await sql`
    select value from public.app_settings where key = 'QUIET_HOURS'`;
    await sql`update public.app_settings set value = '{"start": "00:00", "end": "00:00"}'
               where key = 'QUIET_HOURS'`;
    try {
      const farah = await tokenFor("farah.agent@py360.test");
      const { customerId, caseId } = await createCase("farah.agent@py360.test");
      const { code } = await createTemplate({ purpose: "service" });
      const key = crypto.randomUUID();
      const request = {
        customer_id: customerId,
        case_id: caseId,
        channel: "sms",
        template_code: code,
        variables: { customer_name: "Meera" },
      };
      const first = await expectJson(await send(farah, request, key), 201);
      assert.equal(first.status, "queued");
      assert.equal(first.blocked_reason, null);
      assert.equal(first.deferred_reason, null);
      assert.equal(first.summary, "Queued to go now.");
      assert.ok(Date.parse(first.next_attempt_at) <= Date.now() + 1000);

      const [row] = await adminSql()`
      select body, recipient, priority, created_by, case_id, idempotency_key
        from public.messages where id = ${first.message_id}`;
      assert.deepEqual(row, {
        body: "Hello Meera -PYRNWL",
        recipient: "+919900000000",
        priority: 3,
        created_by: await userId("farah.agent@py360.test"),
        case_id: caseId,
        idempotency_key: `desk:${await userId("farah.agent@py360.test")}:${key}`,
      });

      const count = await messageCount();
      const again = await expectJson(await send(farah, { ...request, variables: {} }, key), 200);
      assert.equal(again.message_id, first.message_id, "the first message, not a second one");
      assert.equal(await messageCount(), count);
    } finally {
      await sql`update public.app_settings set value = ${
        sql.json(saved)
      } where key = 'QUIET_HOURS'`;
    }
  },
);

dbTest("messages: the answer says blocked and why", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const blocked = await expectJson(
    await send(await tokenFor("farah.agent@py360.test"), {
      customer_id: customerId,
      channel: "whatsapp",
      body: "Please call me back",
      purpose: "service",
    }),
    201,
  );
  assert.equal(blocked.status, "blocked");
  assert.equal(blocked.blocked_reason, "whatsapp_not_opted_in");
  assert.equal(blocked.summary, "Blocked: whatsapp_not_opted_in.");

  await grantConsent(customerId, "whatsapp");
  const windowClosed = await expectJson(
    await send(await tokenFor("farah.agent@py360.test"), {
      customer_id: customerId,
      channel: "whatsapp",
      body: "Please call me back",
      purpose: "service",
    }),
    201,
  );
  assert.equal(windowClosed.blocked_reason, "whatsapp_window_closed");
});

dbTest("messages: the answer says deferred, and until when (quiet hours)", async () => {
  const sql = adminSql();
  const [{ value: saved }] = await sql`
    select value from public.app_settings where key = 'QUIET_HOURS'`;
  // Quiet hours from an hour ago to an hour from now, on the IST clock.
  const [clock] = await sql`
    select to_char(now() at time zone 'Asia/Kolkata' - interval '1 hour', 'HH24:MI') as start,
           to_char(now() at time zone 'Asia/Kolkata' + interval '1 hour', 'HH24:MI') as "end"`;
  await sql`update public.app_settings set value = ${sql.json(clock)} where key = 'QUIET_HOURS'`;
  try {
    const { customerId } = await createCase("farah.agent@py360.test");
    const { code } = await createTemplate({ purpose: "service" });
    const deferred = await expectJson(
      await send(await tokenFor("farah.agent@py360.test"), {
        customer_id: customerId,
        channel: "sms",
        template_code: code,
        variables: { customer_name: "Meera" },
      }),
      201,
    );
    assert.equal(deferred.status, "queued");
    assert.equal(deferred.deferred_reason, "quiet_hours");
    const until = Date.parse(deferred.next_attempt_at);
    assert.ok(until > Date.now() + 58 * 60_000 && until < Date.now() + 61 * 60_000, String(until));
    assert.equal(
      deferred.summary,
      `Deferred until ${new Date(until).toISOString()} (quiet_hours).`,
    );
  } finally {
    await sql`update public.app_settings set value = ${sql.json(saved)} where key = 'QUIET_HOURS'`;
  }
});

dbTest("messages: bad requests are 4xx problems and write nothing", async () => {
  const farah = await tokenFor("farah.agent@py360.test");
  const { customerId, caseId } = await createCase("farah.agent@py360.test");
  const other = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate({ purpose: "service" });
  const good = {
    customer_id: customerId,
    channel: "sms",
    template_code: code,
    variables: { customer_name: "Meera" },
  };
  const before = await messageCount();

  const noKey = await expectProblem(await send(farah, good, null), 422);
  assert.equal(noKey.errors[0].path, "idempotency-key");
  await expectProblem(await send(farah, good, ""), 422);
  await expectProblem(await send(farah, good, "k".repeat(201)), 422);
  const invalid: [unknown, string][] = [
    [{ ...good, body: "Hi", purpose: "service" }, "template_code"],
    [{ customer_id: customerId, channel: "sms" }, "template_code"],
    [{ customer_id: customerId, channel: "email", body: "Hi", purpose: "service" }, "subject"],
    [{ customer_id: customerId, channel: "whatsapp", body: "Hi" }, "purpose"],
    [{ ...good, subject: "Hello" }, "subject"],
    [{ ...good, channel: "voice" }, "channel"],
    [{ ...good, customer_id: "nope" }, "customer_id"],
    [{ ...good, variables: { customer_name: 42 } }, "variables.customer_name"],
    [{
      ...good,
      variables: Object.fromEntries([...Array(51).keys()].map((n) => [`v${n}`, "x"])),
    }, "variables"],
  ];
  for (const [body, path] of invalid) {
    const refused = await expectProblem(await send(farah, body), 422);
    assert.ok(
      refused.errors.some((error: { path: string }) => error.path === path),
      `${JSON.stringify(body)}: ${JSON.stringify(refused.errors)}`,
    );
  }
  const unknownField = await expectProblem(await send(farah, { ...good, priority: 0 }), 422);
  assert.equal(unknownField.errors[0].code, "unrecognized_keys");

  const unknownTemplate = await expectProblem(
    await send(farah, { ...good, template_code: freshCode() }),
    422,
  );
  assert.equal(unknownTemplate.code, "22023");
  await expectProblem(await send(farah, "{not json"), 400);
  // Over 1 MiB: refused before it is read whole.
  const huge = await expectProblem(
    await send(farah, { ...good, body: "x".repeat(1_100_000), purpose: "service" }),
    413,
  );
  assert.equal(huge.max_bytes, 1_048_576);
  const bare = await app.request("/api/messages", {
    method: "POST",
    headers: { authorization: `Bearer ${farah}`, "idempotency-key": "no-content-type" },
    body: JSON.stringify(good),
  });
  await expectProblem(bare, 415);

  const notTheirs = await expectProblem(
    await send(await tokenFor("gopal.agent@py360.test"), good),
    404,
  );
  assert.equal(notTheirs.code, "P0002");
  await expectProblem(await send(farah, { ...good, case_id: other.caseId }), 404);
  await expectProblem(await send(farah, { ...good, customer_id: crypto.randomUUID() }), 404);
  const analyst = await expectProblem(await send(await tokenFor("analyst@py360.test"), good), 403);
  assert.equal(analyst.code, "42501");
  await expectProblem(await send(undefined, good), 401);

  assert.equal(await messageCount(), before, "no message was written");
  // The same request with a key and a case of the customer's own goes through.
  await expectJson(await send(farah, { ...good, case_id: caseId }), 201);

  // A case that has closed: its messages would be cancelled unsent, so a new one is refused.
  const lost = await createCase("farah.agent@py360.test");
  await adminSql()`update public.renewal_cases set stage = 'lost', lost_reason = 'Moved insurer'
                    where id = ${lost.caseId}`;
  const before2 = await messageCount();
  const closed = await expectProblem(
    await send(farah, { ...good, customer_id: lost.customerId, case_id: lost.caseId }),
    422,
  );
  assert.match(closed.detail, /is closed \(lost\)/);
  assert.equal(await messageCount(), before2, "nothing written for the closed case");
});

dbTest("messages: the desk sends no transactional template (422), and writes nothing", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate({ purpose: "transactional" });
  const before = await messageCount();
  const refused = await expectProblem(
    await send(await tokenFor("farah.agent@py360.test"), {
      customer_id: customerId,
      channel: "sms",
      template_code: code,
      variables: { customer_name: "Meera", document_link: "https://phish.example/r" },
    }),
    422,
  );
  assert.equal(refused.code, "22023");
  assert.equal(
    refused.detail,
    `template ${code} is transactional: receipts, renewal confirmations, pre-debit notices and ` +
      "refunds are the system's to send, not the desk's",
  );
  assert.equal(await messageCount(), before, "no message was written");
});

dbTest("messages: a customer's messages in keyset pages, newest first", async () => {
  const farah = await tokenFor("farah.agent@py360.test");
  const { customerId, caseId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const base = { customer_id: customerId, template_code: code };
  // Three statements: three created_at values, two of them shared by several messages.
  const first = await enqueue([base, base, base]);
  const second = await enqueue([base, base]);
  const onCase = await enqueue([{ ...base, case_id: caseId }, { ...base, case_id: caseId }]);
  const all = [...first, ...second, ...onCase];

  const seen: { id: string; created_at: string }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `/messages?customer_id=${customerId}&limit=2` +
      (cursor ? `&cursor=${cursor}` : "");
    const page = await expectJson(await api(query, { token: farah }), 200);
    assert.ok(page.data.length <= 2);
    seen.push(...page.data);
    cursor = page.next_cursor;
    pages++;
  } while (cursor && pages < 10);
  assert.equal(pages, 4, "7 messages, 2 a page");
  assert.deepEqual(seen.map((m) => m.id).sort(), [...all].sort(), "each message once");
  const [{ ids: expected }] = await adminSql()`
    select array_agg(id order by created_at desc, id) as ids
      from public.messages where customer_id = ${customerId}`;
  assert.deepEqual(seen.map((m) => m.id), expected, "created_at desc, then id");
  assert.deepEqual(new Set(onCase), new Set(seen.slice(0, 2).map((m) => m.id)));

  const [message] = seen;
  assert.equal(message.created_at.length > 0, true);
  const sample = seen[0] as unknown as Record<string, unknown>;
  assert.equal(sample.channel, "sms");
  assert.equal(sample.body, "Hello Test -PYRNWL");
  assert.deepEqual(sample.template, {
    id: (sample.template as { id: string }).id,
    code,
    language: "en",
  });
  assert.equal(sample.estimated_cost_paise, "25", "exact decimal paise");
  assert.equal(sample.created_by, null, "a producer's message, not an agent's");

  const byCase = await expectJson(await api(`/messages?case_id=${caseId}`, { token: farah }), 200);
  assert.deepEqual(byCase.data.map((m: { id: string }) => m.id).sort(), [...onCase].sort());
  assert.equal(byCase.next_cursor, null);
});

dbTest("messages: RLS decides whose messages a list shows", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const ids = await enqueue([{ customer_id: customerId, template_code: code }]);
  const list = async (email: string) =>
    (await expectJson(
      await api(`/messages?customer_id=${customerId}`, { token: await tokenFor(email) }),
      200,
    )).data.map((m: { id: string }) => m.id);
  assert.deepEqual(await list("farah.agent@py360.test"), ids, "their agent");
  assert.deepEqual(await list("cp.manager@py360.test"), ids, "their branch's manager");
  assert.deepEqual(await list("admin@py360.test"), ids, "an admin");
  assert.deepEqual(await list("gopal.agent@py360.test"), [], "another agent");
  assert.deepEqual(await list("ggn.manager@py360.test"), [], "another branch's manager");
  assert.deepEqual(await list("analyst@py360.test"), [], "an analyst");
});

dbTest("messages: list refusals", async () => {
  const token = await tokenFor("farah.agent@py360.test");
  const unnamed = await expectProblem(await api("/messages", { token }), 422);
  assert.equal(unnamed.errors[0].message, "name a case_id or a customer_id");
  const id = crypto.randomUUID();
  await expectProblem(await api(`/messages?customer_id=${id}&limit=201`, { token }), 422);
  await expectProblem(await api(`/messages?customer_id=${id}&limit=0`, { token }), 422);
  await expectProblem(await api(`/messages?case_id=nope`, { token }), 422);
  const cursor = await expectProblem(
    await api(`/messages?customer_id=${id}&cursor=${btoa('["x","y"]')}`, { token }),
    422,
  );
  assert.equal(cursor.errors[0].code, "invalid_cursor");
  // Well formed, but no such instant: refused here, never a Postgres error (22008).
  const impossible = btoa(JSON.stringify(["2026-02-30T25:00:00.000000Z", crypto.randomUUID()]))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const unreal = await expectProblem(
    await api(`/messages?customer_id=${id}&cursor=${impossible}`, { token }),
    422,
  );
  assert.equal(unreal.errors[0].code, "invalid_cursor");
  await expectProblem(await api(`/messages?customer_id=${id}`), 401);
});

dbTest("messages: admins redrive dead letters, once; others may not", async () => {
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const [stalled, exhausted] = await enqueue([
    { customer_id: customerId, template_code: code },
    { customer_id: customerId, template_code: code },
  ]);
  await setMessages([stalled], {
    status: "dead",
    dead_reason: "stalled",
    dead_at: new Date(),
    provider: "twilio",
    attempts: 3,
    stalls: 3,
  });
  await setMessages([exhausted], {
    status: "dead",
    dead_reason: "retries_exhausted",
    dead_at: new Date(),
    provider: "aws_sns",
  });
  const statuses = async () =>
    (await adminSql()`
      select status::text from public.messages where id in (${stalled}, ${exhausted})
       order by id = ${stalled} desc`).map((row) => row.status);

  const body = { dead_reason: "stalled", template_code: code };
  for (const email of ["farah.agent@py360.test", "cp.manager@py360.test", "analyst@py360.test"]) {
    const refused = await expectProblem(
      await api("/messages/redrive", { token: await tokenFor(email), method: "POST", body }),
      403,
    );
    assert.equal(refused.code, "42501", email);
  }
  const admin = await tokenFor("admin@py360.test");
  await expectProblem(
    await api("/messages/redrive", {
      token: admin,
      method: "POST",
      body: { dead_reason: "tired" },
    }),
    422,
  );
  await expectProblem(
    await api("/messages/redrive", { token: admin, method: "POST", body: { everything: true } }),
    422,
  );
  await expectProblem(await api("/messages/redrive", { method: "POST", body }), 401);
  assert.deepEqual(await statuses(), ["dead", "dead"], "refusals moved nothing");

  const redriven = await expectJson(
    await api("/messages/redrive", { token: admin, method: "POST", body }),
    200,
  );
  assert.deepEqual(redriven, { redriven: 1 });
  assert.deepEqual(await statuses(), ["queued", "dead"], "only the stalled one");
  assert.deepEqual(
    await expectJson(await api("/messages/redrive", { token: admin, method: "POST", body }), 200),
    { redriven: 0 },
    "idempotent",
  );
  assert.deepEqual(
    await expectJson(
      await api("/messages/redrive", {
        token: admin,
        method: "POST",
        body: { provider: "aws_sns", template_code: code },
      }),
      200,
    ),
    { redriven: 1 },
  );
  assert.deepEqual(await statuses(), ["queued", "queued"]);
});

dbTest(
  "messages: a dead letter whose content retention purged is never redriven (409)",
  async () => {
    const { customerId } = await createCase("farah.agent@py360.test");
    const { code } = await createTemplate();
    const [purged] = await enqueue([{ customer_id: customerId, template_code: code }]);
    await setMessages([purged], {
      status: "dead",
      dead_reason: "stalled",
      dead_at: new Date(),
      body: "",
      variables: {},
      content_purged_at: new Date(),
    });
    const refused = await expectProblem(
      await api("/messages/redrive", {
        token: await tokenFor("admin@py360.test"),
        method: "POST",
        body: { template_code: code },
      }),
      409,
    );
    assert.equal(refused.code, "55000");
    const [row] = await adminSql()`select status::text from public.messages where id = ${purged}`;
    assert.equal(row.status, "dead", "it stays dead");
  },
);

dbTest("messages: the customer profile sums up their messages and WhatsApp window", async () => {
  const token = await tokenFor("farah.agent@py360.test");
  const { customerId } = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const sms = { customer_id: customerId, template_code: code };
  const [queued, sent, delivered, old] = await enqueue([sms, sms, sms, sms]);
  const [blocked] = await enqueue([
    { customer_id: customerId, channel: "whatsapp", body: "Hi", purpose: "service" },
  ]);
  await setMessages([sent], { status: "sent", sent_at: new Date() });
  await setMessages([delivered], { status: "delivered", delivered_at: new Date() });
  await setMessages([old], {
    status: "delivered",
    created_at: new Date(Date.now() - 91 * 86_400_000),
  });
  const inbound = new Date(Date.now() - 2 * 3_600_000);
  await adminSql()`
    insert into public.whatsapp_windows (customer_id, last_inbound_at)
    values (${customerId}, ${inbound})`;

  const profile = await expectJson(await api(`/customers/${customerId}/profile`, { token }), 200);
  const summary = profile.communications;
  assert.deepEqual(summary.counts, [
    { channel: "sms", status: "queued", messages: 1 },
    { channel: "sms", status: "sent", messages: 1 },
    { channel: "sms", status: "delivered", messages: 1 },
    { channel: "whatsapp", status: "blocked", messages: 1 },
  ], "the last 90 days only: not the message of 91 days ago");
  assert.ok(Math.abs(Date.parse(summary.since) - (Date.now() - 90 * 86_400_000)) < 60_000);
  const [latest] = await adminSql()`
    select max(created_at) as at from public.messages where id in (${queued}, ${blocked})`;
  assert.equal(Date.parse(summary.last_message_at), latest.at.getTime());
  assert.equal(
    Date.parse(summary.whatsapp_window_until),
    inbound.getTime() + 24 * 3_600_000,
    "open until 24 hours after their last message",
  );

  await adminSql()`
    update public.whatsapp_windows set last_inbound_at = now() - interval '25 hours'
     where customer_id = ${customerId}`;
  const closed = await expectJson(await api(`/customers/${customerId}/profile`, { token }), 200);
  assert.equal(closed.communications.whatsapp_window_until, null, "a closed window");

  const quiet = await createCase("farah.agent@py360.test");
  const none = await expectJson(
    await api(`/customers/${quiet.customerId}/profile`, { token }),
    200,
  );
  assert.deepEqual(
    [none.communications.counts, none.communications.last_message_at],
    [[], null],
  );
});
