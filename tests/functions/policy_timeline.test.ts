// GET /api/policies/{id}/timeline (issue 13): one policy's history as the desk made it happen,
// end to end: a stage change by the agent, an SMS sent through the vendor sandbox and delivered
// by its signed status callbacks, a call task done by the agent, a document, an AI call, and a
// payment made in the Razorpay sandbox with its webhooks, all in time order with their actors;
// the CSV parses back to the same entries (formula cells defused); another agent's policy is a
// 404 like a missing one; no token is a 401.
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
import {
  agent,
  caseOwing,
  control as paymentsControl,
  eventually,
  openOrder,
  otherAgent,
  startPayments,
} from "./_payments.ts";
import { callbacks, ensureTemplates, send, startHarness, tag } from "./_webhooks.ts";

// The payments harness first: the api app reads RAZORPAY_* once, on its first request.
const payments = await startPayments();
const messaging = await startHarness();

interface Entry {
  at: string;
  kind: string;
  actor: { type: string; id: string | null; name: string | null; role: string | null };
  summary: string;
  why: string | null;
  refs: Record<string, unknown>;
}

/** Parses RFC 4180 CSV (quoted cells, doubled quotes, CRLF) into rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += ch;
  }
  assert.equal(cell, "", "the CSV ends with CRLF");
  assert.equal(row.length, 0);
  return rows;
}

/** A CSV cell as the entry held it: empty is null, a defused formula loses its apostrophe. */
function uncell(cell: string): string | null {
  if (cell === "") return null;
  return /^'[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell;
}

/** Builds the policy's history; returns what the assertions need. */
async function policyWithHistory() {
  const sql = adminSql();
  const fixture = await caseOwing();
  const token = await tokenFor(agent);
  const [{ id: agentId }] = await sql`select id from public.profiles where email = ${agent}`;

  // 1. The agent moves the case along.
  const patched = await api(`/cases/${fixture.caseId}`, {
    token,
    method: "PATCH",
    body: { stage: "contacted" },
  });
  await expectJson(patched, 200);
  const patchRequestId = patched.headers.get("x-request-id");

  // 2. An SMS about the case, sent to the Twilio sandbox, delivered by its signed callbacks.
  await ensureTemplates();
  await callbacks(messaging.sandbox, "twilio");
  const [queued] = await sql<{ message_id: string; status: string }[]>`
    select * from private.enqueue_messages(${
    sql.json({
      customer_id: fixture.customerId,
      case_id: fixture.caseId,
      channel: "sms",
      template_code: "webhooks_test",
      variables: { customer_name: "Meera", policy_number: "P-1", expiry_date: "1 Jan" },
      idempotency_key: `timeline-${tag()}-${tag()}`,
    })
  }::jsonb)`;
  assert.equal(queued.status, "queued");
  await send(messaging, [queued.message_id]);
  await messaging.sandbox.callbacksSettled();
  const [delivered] =
    await sql`select status::text from public.messages where id = ${queued.message_id}`;
  assert.equal(delivered.status, "delivered");

  // 3. A call task, done by the agent with an outcome a spreadsheet would run as a formula.
  const [task] = await sql`
    insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
    values (${fixture.caseId}, ${agentId}, now(), 48, now() + interval '48 hours')
    returning id`;
  const outcome = `=HYPERLINK("http://evil.test","call back") ${tag()}`;
  await expectJson(
    await api(`/tasks/${task.id}`, {
      token,
      method: "PATCH",
      body: { status: "done", outcome },
    }),
    200,
  );

  // 4. A document and an AI call about the case.
  const documentKey = tag();
  // The object key names the document by id and kind, never by its file name.
  const documentId = crypto.randomUUID();
  const [document] = await sql`
    insert into public.documents (id, kind, case_id, object_key, file_name, content_type, stored_at)
    values (${documentId}, 'policy_copy', ${fixture.caseId},
            ${`cases/${fixture.caseId}/${documentId}/policy_copy.pdf`},
            ${`schedule-${documentKey}.pdf`}, 'application/pdf', now())
    returning id`;
  const [ai] = await sql`
    insert into public.ai_requests (purpose, caller, customer_id, case_id, model, prompt_hash,
                                    outcome, source, finished_at, cost_paise)
    values ('risk_assessment', ${agentId}, ${fixture.customerId}, ${fixture.caseId}, 'gpt-4o-mini',
            repeat('a', 64), 'ok', 'model', now(), 12)
    returning id`;

  // 5. The customer pays in the Razorpay sandbox; its webhooks reach our webhook endpoint.
  const order = await openOrder(fixture.caseId);
  const paid = await paymentsControl<{ payment: { id: string } }>(
    payments.sandbox,
    "razorpay/pay",
    { orderId: order.order_id },
  );
  await eventually("the payment is credited and the case renewed", async () => {
    const [row] = await sql`
      select c.stage::text as stage,
             (select count(*)::int from public.payment_events e
               where private.razorpay_event_ids(e.payload) @> array[${paid.payment.id}]) as events
        from public.renewal_cases c where c.id = ${fixture.caseId}`;
    return row.stage === "renewed" && row.events > 0;
  });
  // What the payment sets going (its receipt, the messages about it) settles before the tests
  // compare two reads of the timeline: the same answer twice, 300 ms apart.
  let previous = "";
  await eventually("the timeline settles", async () => {
    const response = await api(`/policies/${fixture.policyId}/timeline`, { token });
    const current = JSON.stringify((await expectJson(response, 200)).entries);
    const settled = current === previous;
    previous = current;
    if (!settled) await new Promise((resolve) => setTimeout(resolve, 300));
    return settled;
  }, 20_000);
  return {
    ...fixture,
    agentId: agentId as string,
    token,
    patchRequestId,
    messageId: queued.message_id,
    taskId: task.id as string,
    outcome,
    documentId: document.id as string,
    aiRequestId: ai.id as string,
    razorpayPaymentId: paid.payment.id,
  };
}

const timelineTest = (name: string, fn: () => Promise<void>) =>
  dbTest(`policy timeline: ${name}`, fn);

let built: Awaited<ReturnType<typeof policyWithHistory>> | undefined;
const history = async () => (built ??= await policyWithHistory());

timelineTest("every kind of event appears, in time order, with its actor", async () => {
  const h = await history();
  const body = await expectJson(
    await api(`/policies/${h.policyId}/timeline`, { token: h.token }),
    200,
  );
  assert.equal(body.policy.id, h.policyId);
  assert.equal(body.truncated, false);
  const entries: Entry[] = body.entries;
  const ats = entries.map((entry) => Date.parse(entry.at));
  assert.deepEqual(ats, [...ats].sort((a, b) => a - b), "oldest first");

  const find = (kind: string, ref?: [string, unknown]) => {
    const index = entries.findIndex((entry) =>
      entry.kind === kind && (!ref || entry.refs[ref[0]] === ref[1])
    );
    assert.ok(index >= 0, `${kind} ${ref ? ref.join("=") : ""} in ${JSON.stringify(entries)}`);
    return { index, entry: entries[index] };
  };
  const [{ full_name: agentName }] = await adminSql()`
    select full_name from public.profiles where id = ${h.agentId}`;
  const agentActor = { type: "user", id: h.agentId, name: agentName, role: "agent" };
  const [{ full_name: customerName }] = await adminSql()`
    select full_name from public.customers where id = ${h.customerId}`;

  const opened = find("case.opened", ["case_id", h.caseId]);
  assert.equal(opened.entry.actor.type, "system");

  const stage = find("case.changed", ["request_id", h.patchRequestId]);
  assert.deepEqual(stage.entry.actor, agentActor);
  assert.match(stage.entry.summary, /stage new → contacted/);
  assert.equal(stage.entry.refs.row_id, h.caseId);

  const queued = find("message.queued", ["message_id", h.messageId]);
  assert.equal(queued.entry.actor.type, "system");
  assert.match(queued.entry.summary, /^sms transactional message webhooks_test$/);
  const sent = find("message.sent", ["message_id", h.messageId]);
  assert.match(sent.entry.summary, /sent by twilio/);
  const delivery = entries.findIndex((entry) =>
    entry.kind === "message.event" && entry.refs.message_id === h.messageId &&
    entry.summary === "twilio reports delivered"
  );
  assert.ok(delivery >= 0, "the delivery report");
  assert.deepEqual(entries[delivery].actor, {
    type: "vendor",
    id: null,
    name: "twilio",
    role: null,
  });

  const taskOpened = find("task.opened", ["task_id", h.taskId]);
  const taskDone = find("task.done", ["task_id", h.taskId]);
  assert.deepEqual(taskDone.entry.actor, agentActor);
  assert.equal(taskDone.entry.why, h.outcome);

  const document = find("document.added", ["document_id", h.documentId]);
  assert.match(document.entry.summary, /^policy_copy document schedule-/);
  const ai = find("ai.call", ["ai_request_id", h.aiRequestId]);
  assert.deepEqual(ai.entry.actor, agentActor);
  assert.equal(ai.entry.summary, "AI risk_assessment with gpt-4o-mini: ok");

  const payment = find("payment", ["razorpay_payment_id", h.razorpayPaymentId]);
  assert.deepEqual(payment.entry.actor, {
    type: "customer",
    id: h.customerId,
    name: customerName,
    role: null,
  });
  assert.match(payment.entry.summary, /^Payment of ₹15000\.00/);
  const webhooks = entries.filter((entry) => entry.kind === "payment.webhook");
  assert.ok(
    webhooks.some((entry) => entry.summary === "Razorpay payment.captured"),
    JSON.stringify(webhooks),
  );
  assert.ok(
    webhooks.every((entry) => entry.actor.type === "vendor" && entry.actor.name === "razorpay"),
  );
  const renewed = entries.findIndex((entry) =>
    entry.kind === "case.changed" && /stage contacted → renewed/.test(entry.summary)
  );
  assert.ok(renewed >= 0, "the renewal the payment caused");
  assert.equal(entries[renewed].actor.type, "system");

  // The order things were done in.
  const order = [
    opened.index,
    stage.index,
    queued.index,
    sent.index,
    delivery,
    taskOpened.index,
    taskDone.index,
    document.index,
    ai.index,
    payment.index,
    renewed,
  ];
  assert.deepEqual(order, [...order].sort((a, b) => a - b), JSON.stringify(order));
});

timelineTest("the CSV holds the same entries, formula cells defused", async () => {
  const h = await history();
  const json = await expectJson(
    await api(`/policies/${h.policyId}/timeline`, { token: h.token }),
    200,
  );
  const [{ policy_number: policyNumber }] = await adminSql()`
    select policy_number from public.policies where id = ${h.policyId}`;
  for (
    const call of [
      api(`/policies/${h.policyId}/timeline?format=csv`, { token: h.token }),
      api(`/policies/${h.policyId}/timeline`, { token: h.token, headers: { accept: "text/csv" } }),
    ]
  ) {
    const response = await call;
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/csv; charset=utf-8; header=present");
    assert.equal(
      response.headers.get("content-disposition"),
      `attachment; filename="policy-${policyNumber.replaceAll("/", "-")}-timeline.csv"`,
    );
    assert.equal(response.headers.get("x-timeline-truncated"), "false");
    const text = await response.text();
    assert.ok(!/(^|,)=HYPERLINK/m.test(text), "no cell starts with =");
    assert.ok(
      text.includes(`"'=HYPERLINK(""http://evil.test""`),
      "the outcome, defused and quoted",
    );
    const [header, ...rows] = parseCsv(text);
    assert.deepEqual(header, [
      "at",
      "kind",
      "actor_type",
      "actor_id",
      "actor_name",
      "actor_role",
      "summary",
      "why",
      "refs",
    ]);
    const entries = rows.map((cells) => {
      const [at, kind, type, id, name, role, summary, why, refs] = cells.map(uncell);
      return {
        at,
        kind,
        actor: { type, id, name, role },
        summary,
        why,
        refs: JSON.parse(refs ?? "{}"),
      };
    });
    assert.ok(entries.length > 10);
    assert.deepEqual(entries, json.entries);
  }
});

timelineTest("another agent's policy is a 404 like a missing one; no token is a 401", async () => {
  const h = await history();
  const other = await tokenFor(otherAgent);
  const hidden = await expectProblem(
    await api(`/policies/${h.policyId}/timeline`, { token: other }),
    404,
  );
  const missing = await expectProblem(
    await api(`/policies/${crypto.randomUUID()}/timeline`, { token: other }),
    404,
  );
  assert.deepEqual(
    { ...hidden, instance: undefined, detail: undefined },
    { ...missing, instance: undefined, detail: undefined },
  );
  assert.equal(hidden.detail, missing.detail);
  const csv = await api(`/policies/${h.policyId}/timeline?format=csv`, { token: other });
  assert.equal(csv.status, 404);
  await csv.body?.cancel();
  await expectProblem(await api(`/policies/${h.policyId}/timeline`), 401);
  await expectProblem(await api(`/policies/not-a-uuid/timeline`, { token: h.token }), 422);
  await expectProblem(
    await api(`/policies/${h.policyId}/timeline?format=xml`, { token: h.token }),
    422,
  );
  // The function itself refuses a caller who does not see the policy (not only the handler).
  const refused = await adminSql().begin(async (tx) => {
    const [{ id }] = await tx`select id from public.profiles where email = ${otherAgent}`;
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${
      JSON.stringify({ sub: id, role: "authenticated" })
    }, true)`;
    await tx`select * from private.policy_timeline(${h.policyId})`;
  }).then(() => "no error", (error: { code?: string }) => error.code);
  assert.equal(refused, "P0002");
});

timelineTest(
  "a manager above the agent sees it; the payment's webhooks are the policy's only",
  async () => {
    const h = await history();
    const manager = await expectJson(
      await api(`/policies/${h.policyId}/timeline`, {
        token: await tokenFor("cp.manager@py360.test"),
      }),
      200,
    );
    const mine = await expectJson(
      await api(`/policies/${h.policyId}/timeline`, { token: h.token }),
      200,
    );
    assert.deepEqual(manager.entries, mine.entries);
    const [{ events }] = await adminSql()`
    select array_agg(e.id::text order by e.id) as events from public.payment_events e
     where e.payload::text like ${"%" + h.razorpayPaymentId + "%"}`;
    const shown = mine.entries.filter((entry: Entry) => entry.kind === "payment.webhook")
      .map((entry: Entry) => entry.refs.payment_event_id as string);
    assert.ok(events.length > 0);
    for (const id of events) assert.ok(shown.includes(id), `webhook ${id} shown`);
  },
);

timelineTest("a history past 10,000 entries answers the first 10,000, truncated", async () => {
  const fixture = await createCase(otherAgent);
  const code = crypto.randomUUID().replaceAll("-", "").slice(0, 20);
  // 10,005 clicks on one tracked link of the case: with the case opened, 10,006 entries.
  await adminSql()`
    with link as (
      insert into public.tracked_links (code, case_id, customer_id, purpose, target_url)
      values (${code}, ${fixture.caseId}, ${fixture.customerId}, 'renewal_payment',
              'https://pay.example.test/x')
      returning id
    )
    insert into public.link_clicks (tracked_link_id, case_id, clicked_at)
    select link.id, ${fixture.caseId}, now() + make_interval(secs => g)
      from link, generate_series(1, 10005) g`;
  const token = await tokenFor(otherAgent);
  const body = await expectJson(
    await api(`/policies/${fixture.policyId}/timeline`, { token }),
    200,
  );
  assert.equal(body.truncated, true);
  assert.equal(body.entries.length, 10_000);
  assert.equal(body.entries[0].kind, "case.opened");
  assert.equal(body.entries.at(-1).kind, "link.clicked");
  const csv = await api(`/policies/${fixture.policyId}/timeline?format=csv`, { token });
  assert.equal(csv.headers.get("x-timeline-truncated"), "true");
  assert.equal(parseCsv(await csv.text()).length, 10_001, "the header and 10,000 lines");
});

dbTest("policy timeline: close the harnesses", async () => {
  await messaging.close();
  await payments.close();
});
