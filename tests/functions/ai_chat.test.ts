// POST /api/ai/chat and GET /api/ai/chat/{caseId} against the test database and the vendor
// sandbox's OpenAI: a streamed answer in several deltas, stored with the agent's message; the
// history on the next turn; another agent's case (404, nothing stored, nothing asked); bad bodies
// (422, a lone surrogate and an invisible message included); the model down, slow, refusing, over
// budget or switched off (a rules answer, streamed the same way, with its source and reason); an
// answer that fails midway, cut at the token limit, silent past the timeout or its connection lost
// (a discard event, then the rules answer; the partial answer never stored); a client that leaves
// midway (the answer read to its end, stored and settled ok); the rate limit (429 before any
// stream); what the agent typed (phone, email, PAN, Aadhaar, the customer's name) never reaching
// the sandbox but kept in the history, and later prompts built from the text as redacted at its
// turn (a name corrected since does not leak; rows without it are left out); and a prompt holding
// this case's facts only. Each test signs in a fresh agent, so rate windows and histories start
// empty. The functions reach the sandbox through a proxy of this module's (streamPlay), which can
// rewrite, slow down, stall or cut a streamed answer midway; it is set up before the app reads its
// config.
import assert from "node:assert/strict";
import { PersonalisedText } from "../../functions/api/ai/chat.ts";
import { formatRupees } from "../../functions/api/ai/chat_rules.ts";
import { closeDb } from "../../functions/_shared/db.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";

const sandbox: Sandbox = await startSandbox();

/**
 * How the proxy plays the sandbox's next streamed answers (reset by resetSandbox): `text` replaces
 * the answer's text (sent in pieces of `pieceChars`, as a model writing tokens such as <customer>);
 * `gapMs` between events; after `stallAfter` pieces, silence with the connection open; after
 * `cutAfter` pieces, the connection lost. Everything else passes through untouched.
 */
interface StreamPlay {
  text?: string;
  pieceChars?: number;
  gapMs?: number;
  stallAfter?: number;
  cutAfter?: number;
}
let streamPlay: StreamPlay = {};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A streamed answer's events played as `streamPlay` says. */
function playStream(upstream: string): ReadableStream<Uint8Array> {
  const play = streamPlay;
  const events = upstream.split("\n\n").filter((e) => e.trim() !== "").map((e) => `${e}\n\n`);
  const chunkOf = (event: string) =>
    event.startsWith("data: {") ? JSON.parse(event.slice("data: ".length)) : null;
  const isPiece = (event: string) => {
    const content = chunkOf(event)?.choices?.[0]?.delta?.content;
    return typeof content === "string" && content !== "";
  };
  let played = events;
  if (play.text !== undefined) {
    const first = events.findIndex(isPiece);
    const template = chunkOf(events[first]);
    const size = play.pieceChars ?? 16;
    const pieces: string[] = [];
    for (let i = 0; i < play.text.length; i += size) {
      template.choices[0].delta.content = play.text.slice(i, i + size);
      pieces.push(`data: ${JSON.stringify(template)}\n\n`);
    }
    played = [
      ...events.slice(0, first),
      ...pieces,
      ...events.filter((e, i) => i > first && !isPiece(e)),
    ];
  }
  const encoder = new TextEncoder();
  let next = 0;
  let pieces = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (play.stallAfter !== undefined && pieces >= play.stallAfter) return; // silence
      if (play.cutAfter !== undefined && pieces >= play.cutAfter) {
        await sleep(50); // what was sent reaches the API first
        controller.error(new Error("the proxy cut the connection"));
        return;
      }
      if (next >= played.length) {
        controller.close();
        return;
      }
      if (next > 0 && play.gapMs) await sleep(play.gapMs);
      const event = played[next++];
      if (isPiece(event)) pieces++;
      controller.enqueue(encoder.encode(event));
    },
  }, { highWaterMark: 0 });
}

/** Between the functions and the sandbox's OpenAI: everything forwarded, streams played. */
const proxy = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    const url = new URL(request.url);
    const upstream = await fetch(`${sandbox.url}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: request.method === "GET" ? undefined : await request.arrayBuffer(),
    });
    const headers = new Headers(upstream.headers);
    headers.delete("content-length");
    if (!(upstream.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      return new Response(upstream.body, { status: upstream.status, headers });
    }
    return new Response(playStream(await upstream.text()), { status: upstream.status, headers });
  },
);

const aiVariables: Record<string, string> = {
  OPENAI_API_KEY: sandbox.credentials.openaiApiKey,
  OPENAI_BASE_URL: `http://127.0.0.1:${proxy.addr.port}/openai/v1`,
  ENABLE_AI_ASSISTANT: "true",
  AI_TIMEOUT_MS: "1500",
};
for (const [name, value] of Object.entries(aiVariables)) Deno.env.set(name, value);

/** A server-sent event as the client sees it. */
interface SseEvent {
  event: string;
  data: string;
}

/** The events of a text/event-stream body, in order. */
async function readEvents(response: Response): Promise<SseEvent[]> {
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const text = await response.text();
  return text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice("event: ".length);
      else if (line.startsWith("data: ")) data.push(line.slice("data: ".length));
    }
    return { event, data: data.join("\n") };
  });
}

/**
 * A chat answer read to its end as a client does: the deltas after the last `discard` (those
 * before it are `discarded`), its text, the discards' data, and the closing `done` or `error`.
 */
interface Streamed {
  deltas: string[];
  text: string;
  discarded: string[];
  discards: { reason: string }[];
  done?: { message_id: string; source: string; fallback_reason?: string };
  error?: Record<string, unknown>;
  events: string[];
}

async function streamed(response: Response): Promise<Streamed> {
  const events = await readEvents(response);
  const cut = events.findLastIndex((e) => e.event === "discard");
  const deltasOf = (list: SseEvent[]) =>
    list.filter((e) => e.event === "delta").map((e) => JSON.parse(e.data).text as string);
  const deltas = deltasOf(events.slice(cut + 1));
  const last = events.at(-1)!;
  return {
    deltas,
    text: deltas.join(""),
    discarded: deltasOf(events.slice(0, Math.max(cut, 0))),
    discards: events.filter((e) => e.event === "discard").map((e) => JSON.parse(e.data)),
    done: last.event === "done" ? JSON.parse(last.data) : undefined,
    error: last.event === "error" ? JSON.parse(last.data) : undefined,
    events: events.map((e) => e.event),
  };
}

/** A fresh agent in the Bengaluru team (Bindu Bengaluru, blr.manager, manages it). */
async function newAgent(): Promise<{ id: string; email: string; name: string; token: string }> {
  const tag = crypto.randomUUID().slice(0, 8);
  const email = `chat.${tag}@tests.py360.test`;
  const name = `Kiran Deshpande${tag.replace(/[0-9]/g, "").toUpperCase()}`;
  const [user] = await adminSql()`
    insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
    values (gen_random_uuid(), 'authenticated', 'authenticated', ${email},
            ${adminSql().json({ provider: "email", role: "agent", node: "BLR_KOR_ALL" })},
            ${adminSql().json({ full_name: name })})
    returning id`;
  return { id: user.id, email, name, token: await tokenFor(email) };
}

/** A case of `agentEmail` whose customer has a distinctive name, phone and email. */
async function chatCase(agentEmail: string, premium = 1500000) {
  const fixture = await createCase(agentEmail);
  const tag = crypto.randomUUID().replace(/[0-9-]/g, "").slice(0, 6).toUpperCase();
  const customerName = `Lakshmi Raghunathan${tag}`;
  const phone = `+9198${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
  const email = `lakshmi.${tag.toLowerCase()}@example.in`;
  const [row] = await adminSql()`
    with customer as (
      update public.customers set full_name = ${customerName}, phone = ${phone}, email = ${email}
       where id = ${fixture.customerId}
    ),
    installment as (
      update public.outstanding_amounts set amount = ${premium} where id = ${fixture.installmentId}
    ),
    policy as (
      update public.policies set premium = ${premium} where id = ${fixture.policyId}
    )
    select c.case_number, p.policy_number
      from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where c.id = ${fixture.caseId}`;
  return {
    ...fixture,
    caseNumber: row.case_number as string,
    policyNumber: row.policy_number as string,
    customerName,
    phone,
    email,
    premium,
  };
}

function ask(token: string, caseId: string, message: string) {
  return api("/ai/chat", { token, method: "POST", body: { case_id: caseId, message } });
}

interface SandboxRequest {
  id: string;
  body: string;
  params: { messages: { role: string; content: string }[]; stream?: boolean };
}

async function control(body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${sandbox.url}/_control/openai`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.text());
}

async function resetSandbox(): Promise<void> {
  streamPlay = {};
  const response = await fetch(`${sandbox.url}/_control/reset`, { method: "POST" });
  assert.equal(response.status, 200);
  await response.body?.cancel();
}

async function prompts(): Promise<SandboxRequest[]> {
  const response = await fetch(`${sandbox.url}/_inspect/openai/requests`);
  assert.equal(response.status, 200);
  return await response.json();
}

interface StoredMessage {
  id: string;
  role: string;
  content: string;
  redacted_content: string | null;
  source: string | null;
  fallback_reason: string | null;
  ai_request_id: string | null;
}

/** The stored conversation of `caseId`, oldest first (as the database holds it). */
async function stored(caseId: string): Promise<StoredMessage[]> {
  const rows = await adminSql()<StoredMessage[]>`
    select id, role, content, redacted_content, source, fallback_reason, ai_request_id
      from public.ai_chat_messages where case_id = ${caseId} order by created_at, id`;
  return [...rows];
}

/** Sets an app setting for the length of `fn`, then puts the old value back. */
async function withSetting(key: string, value: unknown, fn: () => Promise<void>): Promise<void> {
  const sql = adminSql();
  const [before] = await sql`select value from public.app_settings where key = ${key}`;
  assert.ok(before, `the setting ${key} exists`);
  await sql`update public.app_settings set value = ${sql.json(value as never)} where key = ${key}`;
  try {
    await fn();
  } finally {
    await sql`update public.app_settings set value = ${sql.json(before.value)} where key = ${key}`;
  }
}

dbTest(
  "ai chat: a model answer streams in several deltas and is stored with the agent's message",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    const message = "When is this renewal due, and what is still owed?";
    const answer = await streamed(await ask(agent.token, fixture.caseId, message));

    assert.ok(answer.deltas.length >= 2, `${answer.deltas.length} deltas`);
    assert.match(answer.text, /^Sandbox answer [0-9a-f]{8}\.$/);
    assert.deepEqual(answer.events, [...answer.deltas.map(() => "delta"), "done"]);
    assert.equal(answer.done?.source, "model");
    assert.ok(!("fallback_reason" in answer.done!), JSON.stringify(answer.done));

    const rows = await stored(fixture.caseId);
    assert.deepEqual(
      rows.map((r) => [r.role, r.content, r.redacted_content, r.source, r.fallback_reason]),
      [
        ["agent", message, message, null, null],
        ["assistant", answer.text, answer.text, "model", null],
      ],
    );
    assert.equal(rows[1].id, answer.done?.message_id);
    const [request] = await adminSql()`
    select purpose, caller, case_id, outcome, source, tokens_out > 0 as billed
      from public.ai_requests where id = ${rows[1].ai_request_id}`;
    assert.deepEqual({ ...request }, {
      purpose: "chat",
      caller: agent.id,
      case_id: fixture.caseId,
      outcome: "ok",
      source: "model",
      billed: true,
    });

    // The model was asked once, streamed: the instructions, the case's facts, the message.
    const sent = await prompts();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].params.stream, true);
    const roles = sent[0].params.messages.map((m) => m.role);
    assert.deepEqual(roles, ["system", "system", "user"]);
    assert.equal(sent[0].params.messages[2].content, message);
    assert.match(sent[0].params.messages[1].content, new RegExp(fixture.caseNumber));
  },
);

dbTest("ai chat: the history of this agent and case goes with the next turn", async () => {
  await resetSandbox();
  const agent = await newAgent();
  const fixture = await chatCase(agent.email);
  const first = await streamed(await ask(agent.token, fixture.caseId, "What stage is it at?"));
  assert.equal(first.done?.source, "model");
  const second = await streamed(
    await ask(agent.token, fixture.caseId, "And what should I do next?"),
  );
  assert.equal(second.done?.source, "model");

  const sent = await prompts();
  assert.equal(sent.length, 2);
  const turns = sent[1].params.messages.slice(2).map((m) => [m.role, m.content]);
  assert.deepEqual(turns, [
    ["user", "What stage is it at?"],
    ["assistant", first.text],
    ["user", "And what should I do next?"],
  ]);
  // The same prompt would give the same answer: the history changed it.
  assert.notEqual(second.text, first.text);

  const history = await expectJson(
    await api(`/ai/chat/${fixture.caseId}`, { token: agent.token }),
    200,
  );
  assert.deepEqual(
    history.data.map((m: StoredMessage) => [m.role, m.content, m.source]),
    [
      ["agent", "What stage is it at?", null],
      ["assistant", first.text, "model"],
      ["agent", "And what should I do next?", null],
      ["assistant", second.text, "model"],
    ],
  );
  assert.equal(history.data[3].id, second.done?.message_id);
  // The latest `limit` messages, still oldest first.
  const latest = await expectJson(
    await api(`/ai/chat/${fixture.caseId}?limit=2`, { token: agent.token }),
    200,
  );
  assert.deepEqual(latest.data.map((m: StoredMessage) => m.content), [
    "And what should I do next?",
    second.text,
  ]);

  // Another agent's own conversation about another case is not part of this one.
  const other = await newAgent();
  const otherCase = await chatCase(other.email);
  await streamed(await ask(other.token, otherCase.caseId, "Unrelated question"));
  const third = await streamed(await ask(agent.token, fixture.caseId, "Thanks"));
  assert.equal(third.done?.source, "model");
  const last = (await prompts()).at(-1)!;
  assert.ok(!last.body.includes("Unrelated question"));
  assert.equal(last.params.messages.length, 2 + 4 + 1);
});

dbTest(
  "ai chat: another agent's case is a 404; nothing is stored and nothing is asked",
  async () => {
    await resetSandbox();
    const owner = await newAgent();
    const intruder = await newAgent();
    const fixture = await chatCase(owner.email);
    await expectProblem(await ask(intruder.token, fixture.caseId, "What is owed?"), 404);
    await expectProblem(await ask(owner.token, crypto.randomUUID(), "What is owed?"), 404);
    assert.deepEqual(await stored(fixture.caseId), []);
    assert.equal((await prompts()).length, 0);
    const [requests] = await adminSql()`
    select count(*)::int as n from public.ai_requests where caller in (${owner.id}, ${intruder.id})`;
    assert.equal(requests.n, 0);

    // The history likewise: a 404 for who cannot see the case; the case's manager sees the case
    // but not the agent's conversation (an empty list); no token, a 401.
    await streamed(await ask(owner.token, fixture.caseId, "What is owed?"));
    await expectProblem(
      await api(`/ai/chat/${fixture.caseId}`, { token: intruder.token }),
      404,
    );
    await expectProblem(
      await api(`/ai/chat/${fixture.caseId}`, { token: await tokenFor("tamil.agent@py360.test") }),
      404,
    );
    const manager = await expectJson(
      await api(`/ai/chat/${fixture.caseId}`, { token: await tokenFor("blr.manager@py360.test") }),
      200,
    );
    assert.deepEqual(manager.data, []);
    const own = await expectJson(
      await api(`/ai/chat/${fixture.caseId}`, { token: owner.token }),
      200,
    );
    assert.equal(own.data.length, 2);
    await expectProblem(await api(`/ai/chat/${fixture.caseId}`), 401);
    await expectProblem(
      await api("/ai/chat", { method: "POST", body: { case_id: fixture.caseId, message: "x" } }),
      401,
    );
  },
);

dbTest("ai chat: bad bodies are 422 (400 for broken JSON), and change nothing", async () => {
  await resetSandbox();
  const agent = await newAgent();
  const fixture = await chatCase(agent.email);
  const bodies: unknown[] = [
    {},
    { case_id: fixture.caseId },
    { message: "What is owed?" },
    { case_id: "not-a-uuid", message: "What is owed?" },
    { case_id: fixture.caseId, message: "" },
    { case_id: fixture.caseId, message: "   \n " },
    { case_id: fixture.caseId, message: "x".repeat(2001) },
    { case_id: fixture.caseId, message: 42 },
    { case_id: fixture.caseId, message: "What is owed?", model: "gpt-4o" },
    { case_id: fixture.caseId, message: "nul \u0000 byte" },
    [fixture.caseId, "What is owed?"],
  ];
  for (const body of bodies) {
    const problem = await expectProblem(
      await api("/ai/chat", { token: agent.token, method: "POST", body }),
      422,
    );
    assert.ok(problem.errors.length > 0, JSON.stringify(body));
  }
  // A lone UTF-16 surrogate (which the database would refuse, 22P02), and messages with nothing
  // visible in them (zero-width spaces and joiners, a BOM, direction marks: Unicode Cf): 422s
  // that name `message`.
  for (
    const message of [
      "hello \ud800",
      "\udc00 trailing half",
      "\ud83d",
      "\u200b",
      "\u200b\u200d\u2060\ufeff",
      " \u200e \n\u200f\t\u00ad",
    ]
  ) {
    // JSON.stringify writes a lone surrogate as the escape \ud800, which parses back to it.
    const body = JSON.stringify({ case_id: fixture.caseId, message });
    const problem = await expectProblem(
      await api("/ai/chat", { token: agent.token, method: "POST", body }),
      422,
    );
    assert.deepEqual(
      problem.errors.map((e: { path: string }) => e.path),
      ["message"],
      JSON.stringify(message),
    );
    assert.match(problem.errors[0].message, /well-formed|blank/);
  }
  await expectProblem(
    await api("/ai/chat", { token: agent.token, method: "POST", body: "{not json" }),
    400,
  );
  await expectProblem(
    await api(`/ai/chat/${fixture.caseId}?limit=0`, { token: agent.token }),
    422,
  );
  await expectProblem(await api("/ai/chat/not-a-uuid", { token: agent.token }), 422);
  // The longest message allowed is fine, and so are joiners and surrogate pairs inside text.
  const longest = await streamed(await ask(agent.token, fixture.caseId, "y".repeat(2000)));
  assert.equal(longest.done?.source, "model");
  const joined = "Call her back 👩‍💼 क्‍ष today \u{1F600}";
  const emoji = await streamed(await ask(agent.token, fixture.caseId, joined));
  assert.equal(emoji.done?.source, "model");
  const rows = await stored(fixture.caseId);
  assert.deepEqual(rows.map((r) => r.content.length), [
    2000,
    longest.text.length,
    joined.length,
    emoji.text.length,
  ]);
  assert.equal(rows[2].content, joined);
  assert.equal((await prompts()).length, 2);
});

/** Asserts a rules answer: several deltas, `done` with the source and reason, stored as streamed. */
async function expectRules(
  response: Response,
  fixture: Awaited<ReturnType<typeof chatCase>>,
  reason: string,
) {
  const answer = await streamed(response);
  assert.deepEqual(answer.done && { ...answer.done, message_id: "-" }, {
    message_id: "-",
    source: "rules",
    fallback_reason: reason,
  });
  assert.ok(answer.deltas.length >= 4, `${answer.deltas.length} deltas`);
  // Factual, from the case: its number, stage, due date and what is owed, in rupees.
  assert.match(answer.text, new RegExp(`^Case ${fixture.caseNumber} \\(motor, Test General\\)`));
  assert.match(answer.text, /is at stage new/);
  const rupees = `₹${Math.floor(fixture.premium / 100).toLocaleString("en-IN")}.${
    String(fixture.premium % 100).padStart(2, "0")
  }`;
  assert.ok(answer.text.includes(`${rupees} is outstanding`), answer.text);
  assert.doesNotMatch(answer.text, new RegExp(`${fixture.customerName}|${fixture.phone.slice(3)}`));
  const rows = await stored(fixture.caseId);
  const last = rows.at(-1)!;
  assert.deepEqual([last.id, last.role, last.content, last.source, last.fallback_reason], [
    answer.done!.message_id,
    "assistant",
    answer.text,
    "rules",
    reason,
  ]);
  return { answer, stored: last };
}

dbTest(
  "ai chat: the model down, slow or refusing gives a rules answer, streamed the same way",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email, 1234567);

    await control({ outage: true });
    const down = await expectRules(
      await ask(agent.token, fixture.caseId, "How much is outstanding?"),
      fixture,
      "unavailable",
    );
    // Asked about money: what is owed comes right after the stage.
    assert.match(
      down.answer.deltas[1],
      /^₹12,345\.67 is outstanding: installment 1 of ₹12,345\.67/,
    );
    const [failed] = await adminSql()`
    select outcome from public.ai_requests where id = ${down.stored.ai_request_id}`;
    assert.equal(failed.outcome, "error");

    await control({ outage: false, latencyMs: 3000 });
    const started = Date.now();
    const slow = await expectRules(
      await ask(agent.token, fixture.caseId, "Why is the risk high?"),
      fixture,
      "timeout",
    );
    assert.ok(Date.now() - started < 2900, `${Date.now() - started} ms`);
    assert.match(slow.answer.deltas[1], /lapse-risk score|lapse risk is/);
    const [timedOut] = await adminSql()`
    select outcome from public.ai_requests where id = ${slow.stored.ai_request_id}`;
    assert.equal(timedOut.outcome, "timeout");

    await control({ latencyMs: 0, refusal: true });
    const refused = await expectRules(
      await ask(agent.token, fixture.caseId, "Any open tasks?"),
      fixture,
      "invalid",
    );
    assert.match(refused.answer.deltas[1], /no open task/);
    const [refusal] = await adminSql()`
    select outcome from public.ai_requests where id = ${refused.stored.ai_request_id}`;
    assert.equal(refusal.outcome, "refused");
    assert.equal((await prompts()).length, 3);
  },
);

dbTest("ai chat: over budget and switched off give a rules answer; no model call", async () => {
  await resetSandbox();
  const agent = await newAgent();
  const fixture = await chatCase(agent.email);
  await withSetting("AI_USER_DAILY_BUDGET_PAISE", 0, async () => {
    const over = await expectRules(
      await ask(agent.token, fixture.caseId, "What is owed?"),
      fixture,
      "over_budget",
    );
    const [row] = await adminSql()`
      select outcome from public.ai_requests where id = ${over.stored.ai_request_id}`;
    assert.equal(row.outcome, "over_budget");
  });
  await withSetting("ENABLE_AI_ASSISTANT", false, async () => {
    const off = await expectRules(
      await ask(agent.token, fixture.caseId, "What is owed?"),
      fixture,
      "disabled",
    );
    assert.equal(off.stored.ai_request_id, null);
  });
  assert.equal((await prompts()).length, 0);
  const [rows] = await adminSql()`
    select count(*)::int as n from public.ai_requests where caller = ${agent.id}`;
  assert.equal(rows.n, 1, "switched off, no ai_requests row is written");
  // Back on, the model answers again.
  const back = await streamed(await ask(agent.token, fixture.caseId, "What is owed?"));
  assert.equal(back.done?.source, "model");
});

/**
 * Asserts a model answer that failed midway: part of it streamed, then `discard` with `reason`,
 * then the rules answer (expectRules); the history holds the rules answer, pointing at the
 * failed request, never the partial text. Returns the answer and the request's outcome.
 */
async function expectDiscarded(
  response: Response,
  fixture: Awaited<ReturnType<typeof chatCase>>,
  reason: string,
) {
  const { answer, stored: last } = await expectRules(response, fixture, reason);
  assert.ok(answer.discarded.length >= 1, "part of the model's answer was sent first");
  assert.match(answer.discarded.join(""), /^Sandbox answ/);
  assert.deepEqual(answer.discards, [{ reason }]);
  const firstDiscard = answer.events.indexOf("discard");
  assert.deepEqual(answer.events.slice(0, firstDiscard), answer.discarded.map(() => "delta"));
  assert.equal(answer.events.at(-1), "done");
  assert.ok(!answer.events.includes("error"), answer.events.join(","));
  const rows = await stored(fixture.caseId);
  assert.ok(
    rows.every((r) => !r.content.startsWith("Sandbox answ")),
    "the partial answer is not stored",
  );
  assert.ok(last.ai_request_id, "the rules answer points at the failed request");
  const [request] = await adminSql()`
    select outcome, source from public.ai_requests where id = ${last.ai_request_id}`;
  return { answer, rows, outcome: request.outcome as string, requestSource: request.source };
}

dbTest(
  "ai chat: an answer cut at the token limit midway is discarded, then the rules answer follows and is stored",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    await control({ truncated: true });
    const cut = await expectDiscarded(
      await ask(agent.token, fixture.caseId, "Summarise the case"),
      fixture,
      "invalid",
    );
    assert.equal(cut.outcome, "truncated");
    assert.equal(cut.requestSource, "rules");
    assert.deepEqual(cut.rows.map((r) => [r.role, r.source]), [
      ["agent", null],
      ["assistant", "rules"],
    ]);
    assert.equal(cut.rows[1].redacted_content, cut.answer.text);

    // The next turn carries the question and the rules answer it got, not the partial one.
    await control({ truncated: false });
    const next = await streamed(await ask(agent.token, fixture.caseId, "Try again please"));
    assert.equal(next.done?.source, "model");
    const sent = (await prompts()).at(-1)!;
    assert.deepEqual(sent.params.messages.slice(2).map((m) => [m.role, m.content]), [
      ["user", "Summarise the case"],
      ["assistant", cut.answer.text],
      ["user", "Try again please"],
    ]);
  },
);

// When the assistant's idle timer aborts a stream, the openai SDK ends the iteration without an
// error; the core reports it as a timeout, and the chat discards the partial text.
Deno.test({
  name:
    "ai chat: a model silent midway past the timeout is discarded; the rules answer follows (timeout)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    streamPlay = { stallAfter: 1 };
    const started = Date.now();
    const stalled = await expectDiscarded(
      await ask(agent.token, fixture.caseId, "When is it due?"),
      fixture,
      "timeout",
    );
    // AI_TIMEOUT_MS is 1500 between two pieces; the stall never ends by itself.
    assert.ok(Date.now() - started < 6000, `${Date.now() - started} ms`);
    // The one piece sent before the silence: 16 characters of the sandbox's answer.
    assert.match(stalled.answer.discarded.join(""), /^Sandbox answer [0-9a-f]$/);
    assert.equal(stalled.outcome, "timeout");
    assert.match(stalled.answer.deltas[1], /^It is due on|^Its due date|^It is due today/);
  },
});

dbTest(
  "ai chat: a connection lost midway is discarded; the rules answer follows (unavailable)",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    streamPlay = { text: "Sandbox answer: the customer owes the whole premium.", cutAfter: 2 };
    const lost = await expectDiscarded(
      await ask(agent.token, fixture.caseId, "What is owed?"),
      fixture,
      "unavailable",
    );
    assert.equal(lost.answer.discarded.join(""), "Sandbox answer: the customer owe");
    assert.equal(lost.outcome, "error");
    assert.equal((await prompts()).length, 1);
  },
);

dbTest(
  "ai chat: a client that leaves midway does not cancel the turn: the whole answer is read, stored and settled ok",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    const [customer] = await adminSql()`
      select split_part(full_name, ' ', 1) as first from public.customers
       where id = ${fixture.customerId}`;
    const modelText =
      "Call <customer> today: the premium is due soon, and the link is ready to send.";
    streamPlay = { text: modelText, gapMs: 150 };
    const response = await ask(agent.token, fixture.caseId, "What should I do?");
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    while (!seen.includes("event: delta")) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the stream ended before any delta");
      seen += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    const leftAt = Date.now();
    assert.ok(!seen.includes("event: done"), seen);

    // The pieces still to come arrive 150 ms apart: the answer is stored once they all have.
    let rows: StoredMessage[] = [];
    for (let i = 0; i < 100 && rows.length < 2; i++) {
      await sleep(100);
      rows = await stored(fixture.caseId);
    }
    const whole = modelText.replace("<customer>", customer.first);
    assert.deepEqual(rows.map((r) => [r.role, r.content, r.redacted_content, r.source]), [
      ["agent", "What should I do?", "What should I do?", null],
      ["assistant", whole, modelText, "model"],
    ]);
    assert.ok(Date.now() - leftAt >= 600, "stored after the rest of the answer came in");
    const shown = seen.split("\n").filter((l) => l.startsWith("data: ")).map((l) =>
      JSON.parse(l.slice("data: ".length)).text
    ).join("");
    assert.ok(whole.startsWith(shown) && shown.length < whole.length, `the client saw ${shown}`);
    const [request] = await adminSql()`
      select outcome, source, tokens_out > 0 as billed from public.ai_requests
       where id = ${rows[1].ai_request_id}`;
    assert.deepEqual({ ...request }, { outcome: "ok", source: "model", billed: true });
    // And the agent finds it in the history.
    const history = await expectJson(
      await api(`/ai/chat/${fixture.caseId}`, { token: agent.token }),
      200,
    );
    assert.equal(history.data.at(-1).content, whole);
  },
);

dbTest(
  "ai chat: over the per-user rate limit, 429 with Retry-After before any stream; nothing stored",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    await withSetting("AI_RATE_LIMIT_PER_MINUTE", 2, async () => {
      for (const message of ["One", "Two"]) {
        const answer = await streamed(await ask(agent.token, fixture.caseId, message));
        assert.equal(answer.done?.source, "model");
      }
      const response = await ask(agent.token, fixture.caseId, "Three");
      const problem = await expectProblem(response, 429);
      const retryAfter = Number(response.headers.get("retry-after"));
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
        `${retryAfter}`,
      );
      assert.match(problem.detail, /Too many AI requests/);
    });
    const rows = await stored(fixture.caseId);
    assert.deepEqual(rows.map((r) => r.content).filter((c) => c.length < 6), ["One", "Two"]);
    assert.equal(rows.length, 4);
    assert.equal((await prompts()).length, 2);
  },
);

dbTest(
  "ai chat: phone numbers, emails, PAN, Aadhaar and names typed by the agent never reach the model; the history keeps them",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    const firstName = fixture.customerName.split(" ")[0];
    const message = `${fixture.customerName} called from +91 98450 12345 and wants the link on ` +
      `${fixture.email} or rk.sharma@example.org; PAN ABCPR1234K, Aadhaar 2345 6789 0123. ` +
      `Also try 080-41234567. Signed ${agent.name}.`;
    const answer = await streamed(await ask(agent.token, fixture.caseId, message));
    assert.equal(answer.done?.source, "model");
    const second = await streamed(
      await ask(agent.token, fixture.caseId, `Should ${firstName} pay now?`),
    );
    assert.equal(second.done?.source, "model");

    const sent = await prompts();
    assert.equal(sent.length, 2);
    const everything = JSON.stringify(sent);
    for (
      const secret of [
        "98450 12345",
        "9845012345",
        fixture.email,
        "rk.sharma@example.org",
        "ABCPR1234K",
        "2345 6789 0123",
        "41234567",
        fixture.phone,
        fixture.phone.slice(3),
        fixture.customerName,
        firstName,
        "Raghunathan",
        agent.name,
        fixture.policyNumber,
      ]
    ) {
      assert.ok(!everything.includes(secret), `the sandbox received ${secret}`);
    }
    // What it received instead: the tokens, in the message and again in the history.
    const user = sent[1].params.messages.filter((m) => m.role === "user").map((m) => m.content);
    assert.equal(user.length, 2);
    for (const token of ["<customer>", "<phone>", "<email>", "<pan>", "<aadhaar>", "<agent>"]) {
      assert.ok(user[0].includes(token), `${token} in ${user[0]}`);
    }
    assert.equal(user[1], "Should <customer> pay now?");
    // The history keeps what the agent typed.
    const rows = await stored(fixture.caseId);
    assert.equal(rows[0].content, message);
    assert.equal(rows[2].content, `Should ${firstName} pay now?`);
    // ai_requests keeps the redacted prompt only.
    const [prompt] = await adminSql()`
    select prompt::text as text from public.ai_requests
     where caller = ${agent.id} order by created_at desc limit 1`;
    assert.ok(!prompt.text.includes("ABCPR1234K") && prompt.text.includes("<pan>"));
  },
);

dbTest(
  "ai chat: a customer's corrected name does not bring the old one into later prompts (the history is sent as redacted at its turn)",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    await adminSql()`
      update public.customers set full_name = 'Parvathi Iyengar' where id = ${fixture.customerId}`;
    // The model's answer names the customer by her token; the desk sees her first name.
    streamPlay = { text: "Call <customer> back about the renewal today.", pieceChars: 7 };
    const first = await streamed(
      await ask(agent.token, fixture.caseId, "Spoke to Parvathi Iyengar today"),
    );
    assert.equal(first.done?.source, "model");
    assert.equal(first.text, "Call Parvathi back about the renewal today.");
    const [sentFirst] = await prompts();
    assert.equal(sentFirst.params.messages.at(-1)!.content, "Spoke to <customer> today");

    // The customer's name is corrected; the next turn sends the history as the model saw it.
    await adminSql()`
      update public.customers set full_name = 'Parvathy Raman' where id = ${fixture.customerId}`;
    streamPlay = {};
    const second = await streamed(
      await ask(agent.token, fixture.caseId, "Has Parvathy Raman paid?"),
    );
    assert.equal(second.done?.source, "model");
    const sent = await prompts();
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[1].params.messages.slice(2).map((m) => [m.role, m.content]), [
      ["user", "Spoke to <customer> today"],
      ["assistant", "Call <customer> back about the renewal today."],
      ["user", "Has <customer> paid?"],
    ]);
    const everything = JSON.stringify(sent);
    for (const name of ["Parvathi", "Iyengar", "Parvathy", "Raman"]) {
      assert.ok(!everything.includes(name), `the sandbox received ${name}`);
    }
    // The desk's history keeps the text as typed and as shown.
    const rows = await stored(fixture.caseId);
    assert.deepEqual(rows.map((r) => [r.content, r.redacted_content]), [
      ["Spoke to Parvathi Iyengar today", "Spoke to <customer> today"],
      [
        "Call Parvathi back about the renewal today.",
        "Call <customer> back about the renewal today.",
      ],
      ["Has Parvathy Raman paid?", "Has <customer> paid?"],
      [second.text, second.text],
    ]);
  },
);

dbTest(
  "ai chat: messages stored before their redacted text was kept never go to the model again, but stay in the history",
  async () => {
    await resetSandbox();
    const agent = await newAgent();
    const fixture = await chatCase(agent.email);
    // Rows as the chat wrote them before the column existed: no redacted text. Its check spares
    // such rows (NOT VALID) but refuses new ones, so it is lifted for the insert and put back
    // exactly as it was, in one transaction.
    await adminSql().begin(async (tx) => {
      const [check] = await tx`
        select pg_get_constraintdef(oid) as definition from pg_constraint
         where conrelid = 'public.ai_chat_messages'::regclass
           and conname = 'ai_chat_messages_redacted_content_check'`;
      assert.match(check.definition, /NOT VALID$/);
      await tx`alter table public.ai_chat_messages
                 drop constraint ai_chat_messages_redacted_content_check`;
      await tx`
        insert into public.ai_chat_messages (case_id, author, role, content, source, created_at)
        values (${fixture.caseId}, ${agent.id}, 'agent', 'Old note: Parvathi Iyengar, 98450 12345',
                null, now() - interval '2 days'),
               (${fixture.caseId}, ${agent.id}, 'assistant', 'Call Parvathi.', 'model',
                now() - interval '2 days' + interval '1 second')`;
      await tx.unsafe(`alter table public.ai_chat_messages
                         add constraint ai_chat_messages_redacted_content_check
                         ${check.definition}`);
    });
    const answer = await streamed(await ask(agent.token, fixture.caseId, "What is owed?"));
    assert.equal(answer.done?.source, "model");
    const [sent] = await prompts();
    assert.deepEqual(sent.params.messages.map((m) => m.role), ["system", "system", "user"]);
    assert.ok(!JSON.stringify(sent).includes("Old note"), "the old turn was not sent");
    const history = await expectJson(
      await api(`/ai/chat/${fixture.caseId}`, { token: agent.token }),
      200,
    );
    assert.deepEqual(history.data.map((m: StoredMessage) => m.content), [
      "Old note: Parvathi Iyengar, 98450 12345",
      "Call Parvathi.",
      "What is owed?",
      answer.text,
    ]);
  },
);

dbTest("ai chat: the prompt holds this case's facts and no other case's", async () => {
  await resetSandbox();
  const agent = await newAgent();
  const fixture = await chatCase(agent.email, 2345678);
  const other = await chatCase(agent.email, 8765432);
  await adminSql()`
    insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at)
    values (${fixture.caseId}, ${agent.id}, now(), 24, now() + interval '24 hours')`;
  await adminSql()`select * from private.score_lapse_risk(now())`;
  const answer = await streamed(await ask(agent.token, fixture.caseId, "What do you know?"));
  assert.equal(answer.done?.source, "model");

  const [sent] = await prompts();
  const factsMessage = sent.params.messages[1].content;
  assert.match(factsMessage, /^Facts \(JSON\): /);
  const facts = JSON.parse(factsMessage.slice("Facts (JSON): ".length));
  assert.equal(facts.case_number, fixture.caseNumber);
  assert.equal(facts.customer, "<customer>");
  assert.equal(facts.premium_paise, 2345678);
  assert.equal(facts.outstanding_paise, 2345678);
  assert.deepEqual(facts.installments.map((i: { amount_paise: number }) => i.amount_paise), [
    2345678,
  ]);
  assert.equal(facts.stage, "new");
  assert.equal(facts.product_line, "motor");
  assert.equal(facts.open_tasks.length, 1);
  assert.equal(facts.open_tasks[0].kind, "call");
  assert.ok(facts.risk.score >= 0 && facts.risk.reasons.length >= 2, JSON.stringify(facts.risk));
  assert.equal(typeof facts.days_to_due, "number");
  // Nothing of the other case, nor any id, nor the customer's contact details.
  const everything = JSON.stringify(sent);
  for (
    const absent of [
      other.caseNumber,
      other.caseId,
      "8765432",
      "87,654.32",
      fixture.caseId,
      fixture.customerId,
      fixture.policyNumber,
      fixture.phone,
      fixture.email,
    ]
  ) {
    assert.ok(!everything.includes(absent), `the prompt holds ${absent}`);
  }
  assert.deepEqual(Object.keys(facts).sort(), [
    "case_number",
    "customer",
    "customer_language",
    "days_to_due",
    "due_date",
    "grace_end",
    "installments",
    "insurer",
    "ncb_percent",
    "open_tasks",
    "outstanding_paise",
    "payment_frequency",
    "preferred_channel",
    "premium_paise",
    "priority",
    "product_line",
    "recent_messages",
    "recent_payments",
    "risk",
    "stage",
    "sum_insured_paise",
    "today",
  ]);
});

dbTest("ai chat: the OpenAPI document describes the stream as text/event-stream", async () => {
  const document = await (await api("/openapi.json")).json();
  const post = document.paths["/api/ai/chat"].post;
  assert.equal(post.operationId, "chatAboutCase");
  assert.ok(post.responses["200"].content["text/event-stream"]);
  // The stream's events, the discard of a partial answer and a client leaving midway included.
  const description: string = post.responses["200"].description;
  for (const said of ["`event: delta`", "`event: discard`", "`event: done`", "`event: error`"]) {
    assert.ok(description.includes(said), said);
  }
  assert.match(description, /drop every delta received so far/);
  assert.match(description, /disconnects midway does not cancel the turn/);
  assert.match(post.description, /`event: discard`/);
  assert.ok(post.responses["429"].headers["Retry-After"]);
  assert.ok(post.responses["404"] && post.responses["422"] && post.responses["401"]);
  const get = document.paths["/api/ai/chat/{caseId}"].get;
  assert.equal(get.operationId, "getCaseChat");
  assert.ok(get.responses["200"].content["application/json"]);
});

Deno.test("ai chat: streamed answers get first names back, even for a token cut across deltas", () => {
  const text = new PersonalisedText({
    customer: "Lakshmi Raghunathan",
    agent: "Kiran Deshpande",
  });
  const pieces = [
    "Call <cust",
    "omer> today",
    ", <",
    "agent>. Her <phone> is hidden; 3 <",
    " 5.",
    " <cus",
  ];
  const shown = pieces.map((piece) => text.push(piece));
  shown.push(text.flush());
  // Nothing of a token is shown before it is whole; a "<" that starts none is shown at once; what
  // is held at the end is let go.
  assert.deepEqual(shown, [
    "Call ",
    "Lakshmi today",
    ", ",
    "Kiran. Her <phone> is hidden; 3 ",
    "< 5.",
    " ",
    "<cus",
  ]);
  assert.equal(text.text, "Call Lakshmi today, Kiran. Her <phone> is hidden; 3 < 5. <cus");
});

Deno.test("ai chat: rupees in the rules answer use Indian digit grouping", () => {
  assert.equal(formatRupees(0), "₹0.00");
  assert.equal(formatRupees(5), "₹0.05");
  assert.equal(formatRupees(123456), "₹1,234.56");
  assert.equal(formatRupees(1234567), "₹12,345.67");
  assert.equal(formatRupees(150000000), "₹15,00,000.00");
  assert.equal(formatRupees(1234567890123), "₹12,34,56,78,901.23");
});

dbTest("ai chat: close the proxy and the sandbox", async () => {
  await proxy.shutdown();
  await sandbox.close();
  await closeDb();
  for (const name of Object.keys(aiVariables)) Deno.env.delete(name);
});
