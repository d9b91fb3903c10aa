// The AI assistant's core against the real vendor sandbox and the test database: askStructured()
// and streamChat() with the model up, cached, down, slow, malformed (once, twice), refusing,
// truncated, rate limited by OpenAI, over our budget, over our rate limit, switched off and not
// configured; each answer's `source` and reason, the ai_requests row it leaves (none pending,
// exact cost), and no personal data in any prompt the sandbox received; bad AI settings, requests
// that cannot be built and lone surrogates never break a request. redact() alone:
// ai_redact.test.ts.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { z } from "zod";
import { type Config, parseConfig } from "../../functions/_shared/config.ts";
import {
  type AiAnswer,
  type AskStructuredOptions,
  type Assistant,
  createAssistant,
} from "../../functions/_shared/ai/assistant.ts";
import type { Claims } from "../../functions/_shared/db.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { adminSql, createCase, dbTest } from "./_helpers.ts";

const Explanation = z.object({
  explanation: z.string(),
  next_action: z.string(),
  urgency: z.enum(["low", "medium", "high"]),
});
type Explanation = z.infer<typeof Explanation>;

const instructions = "You explain a renewal case's lapse risk to an insurance agent. " +
  "Use only the facts given. Answer in plain words.";

/** One test's world: a sandbox, an assistant pointed at it, a fresh user and case. */
interface World {
  sandbox: Sandbox;
  assistant: Assistant;
  claims: Claims;
  userId: string;
  caseId: string;
  customerId: string;
  /** The assistant of another configuration on the same sandbox. */
  with(overrides: Record<string, string | undefined>): Assistant;
  control(body: Record<string, unknown>): Promise<void>;
  /** Every request the sandbox's OpenAI received so far. */
  prompts(): Promise<SandboxRequest[]>;
  /** This user's ai_requests rows, oldest first. */
  rows(): Promise<AiRow[]>;
}

interface SandboxRequest {
  id: string;
  body: string;
  template?: string;
  params: { messages: { role: string; content: string }[]; [key: string]: unknown };
}

interface AiRow {
  id: string;
  purpose: string;
  caller: string;
  case_id: string | null;
  customer_id: string | null;
  model: string;
  prompt_hash: string;
  prompt: { role: string; content: string }[] | null;
  response: unknown;
  tokens_in: number;
  tokens_out: number;
  estimated_cost_paise: string | null;
  cost_paise: string | null;
  latency_ms: number | null;
  attempts: number;
  outcome: string;
  source: string | null;
  cached_from: string | null;
  finished_at: Date | null;
}

function configFor(sandbox: Sandbox, overrides: Record<string, string | undefined> = {}): Config {
  const env: Record<string, string | undefined> = {
    ...Deno.env.toObject(),
    ...sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1"),
    AI_TIMEOUT_MS: "2000",
    ...overrides,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return parseConfig(env);
}

async function newUser(): Promise<string> {
  const tag = crypto.randomUUID().slice(0, 8);
  const [user] = await adminSql()`
    insert into auth.users (id, email) values (gen_random_uuid(), ${`ai.${tag}@tests.py360.test`})
    returning id`;
  return user.id;
}

async function withWorld(fn: (world: World) => Promise<void>): Promise<void> {
  const sandbox = await startSandbox();
  try {
    const userId = await newUser();
    const fixture = await createCase("farah.agent@py360.test");
    const world: World = {
      sandbox,
      assistant: createAssistant({ config: configFor(sandbox) }),
      claims: { role: "authenticated", sub: userId },
      userId,
      caseId: fixture.caseId,
      customerId: fixture.customerId,
      with: (overrides) => createAssistant({ config: configFor(sandbox, overrides) }),
      control: async (body) => {
        const response = await fetch(`${sandbox.url}/_control/openai`, {
          method: "POST",
          body: JSON.stringify(body),
        });
        assert.equal(response.status, 200, await response.text());
      },
      prompts: async () => await (await fetch(`${sandbox.url}/_inspect/openai/requests`)).json(),
      rows: async () =>
        await adminSql()`
          select id, purpose::text, caller, case_id, customer_id, model, prompt_hash, prompt,
                 response, tokens_in, tokens_out, estimated_cost_paise::text,
                 cost_paise::text, latency_ms, attempts, outcome::text, source, cached_from,
                 finished_at
            from public.ai_requests where caller = ${userId} order by created_at, finished_at`,
    };
    await fn(world);
    // Whatever happened, nothing this user asked is left pending.
    const [{ pending }] = await adminSql()`
      select count(*)::int as pending from public.ai_requests
       where caller = ${userId} and outcome = 'pending'`;
    assert.equal(pending, 0, "every ai_requests row is settled");
  } finally {
    await sandbox.close();
  }
}

/** A risk question about the world's case; `facts` varies the prompt. */
function ask(
  world: World,
  facts: Record<string, unknown> = { days_to_expiry: 12, late_installments: 2 },
  extra: Partial<AskStructuredOptions<Explanation>> = {},
  assistant: Assistant = world.assistant,
): Promise<AiAnswer<Explanation>> {
  return assistant.askStructured<Explanation>({
    purpose: "risk_assessment",
    claims: world.claims,
    caseId: world.caseId,
    customerId: world.customerId,
    schema: Explanation,
    schemaName: "risk_explanation",
    instructions,
    facts: { case_id: world.caseId, ...facts },
    ...extra,
  });
}

/** The cost ai_settle must compute: (in x 1.32 + out x 5.28) / 1000 paise, as numeric text. */
async function expectedCost(tokensIn: number, tokensOut: number): Promise<string> {
  const [{ cost }] = await adminSql()`
    select trim_scale((${tokensIn}::numeric * 1.32 + ${tokensOut}::numeric * 5.28) / 1000)::text
             as cost`;
  return cost;
}

function sandboxTokens(messages: { content: string }[]): number {
  return Math.ceil(messages.map((m) => m.content).join("").length / 4);
}

dbTest(
  "ai: the model's valid answer is returned and recorded with exact tokens and cost",
  async () => {
    await withWorld(async (world) => {
      const answer = await ask(world);
      assert.equal(answer.source, "model", JSON.stringify(answer));
      if (answer.source !== "model") return;
      assert.deepEqual(Explanation.parse(answer.value), answer.value);

      const [sent] = await world.prompts();
      assert.equal(sent.template, "risk_explanation");
      assert.equal((sent.params.response_format as { type: string }).type, "json_schema");
      assert.equal(sent.params.max_completion_tokens, 800);
      assert.equal(sent.params.model, "gpt-4o-mini");
      assert.equal(sent.params.messages[0].role, "system");
      assert.deepEqual(JSON.parse(sent.params.messages[1].content), {
        case_id: world.caseId,
        days_to_expiry: 12,
        late_installments: 2,
      });

      const [row] = await world.rows();
      assert.equal(row.id, answer.requestId);
      assert.equal(row.outcome, "ok");
      assert.equal(row.source, "model");
      assert.equal(row.purpose, "risk_assessment");
      assert.equal(row.case_id, world.caseId);
      assert.equal(row.customer_id, world.customerId);
      assert.equal(row.model, "gpt-4o-mini");
      assert.match(row.prompt_hash, /^[0-9a-f]{64}$/);
      assert.deepEqual(row.prompt, sent.params.messages);
      assert.deepEqual(row.response, answer.value);
      assert.equal(row.attempts, 1);
      assert.equal(row.tokens_in, sandboxTokens(sent.params.messages));
      assert.ok(row.tokens_out > 0);
      assert.equal(row.cost_paise, await expectedCost(row.tokens_in, row.tokens_out));
      assert.ok(Number(row.estimated_cost_paise) > Number(row.cost_paise), "the estimate is high");
      assert.ok(row.latency_ms !== null && row.latency_ms >= 0);
      assert.ok(row.finished_at instanceof Date);
    });
  },
);

dbTest("ai: the same facts are answered from the cache, other facts by the model", async () => {
  await withWorld(async (world) => {
    const first = await ask(world);
    const again = await ask(world);
    assert.equal(first.source, "model");
    assert.equal(again.source, "cache");
    if (first.source !== "model" || again.source !== "cache") return;
    assert.deepEqual(again.value, first.value);
    assert.notEqual(again.requestId, first.requestId);
    assert.equal((await world.prompts()).length, 1, "the cache made no call");

    const other = await ask(world, { days_to_expiry: 3, late_installments: 0 });
    assert.equal(other.source, "model");
    // cacheSeconds 0: never from the cache.
    const fresh = await ask(world, undefined, { cacheSeconds: 0 });
    assert.equal(fresh.source, "model");
    assert.equal((await world.prompts()).length, 3);

    const rows = await world.rows();
    assert.deepEqual(rows.map((r) => r.outcome), ["ok", "cached", "ok", "ok"]);
    const hit = rows[1];
    assert.equal(hit.id, again.requestId);
    assert.equal(hit.source, "cache");
    assert.equal(hit.cost_paise, "0");
    assert.equal(hit.cached_from, first.requestId);
    assert.equal(hit.prompt_hash, rows[0].prompt_hash);
    assert.notEqual(rows[2].prompt_hash, rows[0].prompt_hash);

    // An answer older than cacheSeconds is not served.
    await adminSql()`
      update public.ai_requests set created_at = created_at - interval '20 seconds'
       where caller = ${world.userId}`;
    const stale = await ask(world, undefined, { cacheSeconds: 10 });
    assert.equal(stale.source, "model");
    // Infinity serves any earlier answer, however old.
    await adminSql()`
      update public.ai_requests set created_at = created_at - interval '1 day'
       where caller = ${world.userId}`;
    const old = await ask(world, undefined, { cacheSeconds: Infinity });
    assert.equal(old.source, "cache");
    assert.equal(
      old.source === "cache" && old.value.explanation,
      stale.source === "model" && stale.value.explanation,
    );
  });
});

dbTest(
  "ai: OpenAI down (500) or rate limiting us (429): rules/unavailable, no retry, row error",
  async () => {
    await withWorld(async (world) => {
      await world.control({ outage: true });
      const down = await ask(world);
      assert.deepEqual(down, { source: "rules", reason: "unavailable", requestId: down.requestId });
      await world.control({ outage: false, rateLimited: true });
      const limited = await ask(world, { days_to_expiry: 5 });
      assert.equal(limited.source, "rules");
      assert.equal(limited.source === "rules" && limited.reason, "unavailable");
      assert.equal((await world.prompts()).length, 2, "one call each, not retried");
      const rows = await world.rows();
      assert.deepEqual(rows.map((r) => [r.outcome, r.source, r.attempts]), [
        ["error", "rules", 1],
        ["error", "rules", 1],
      ]);
      assert.equal((rows[0].response as { status: number }).status, 500);
      assert.equal((rows[1].response as { status: number }).status, 429);
      assert.equal(rows[0].cost_paise, "0");
    });
  },
);

dbTest("ai: a model slower than AI_TIMEOUT_MS: rules/timeout in time, row timeout", async () => {
  await withWorld(async (world) => {
    await world.control({ latencyMs: 3000 });
    const started = Date.now();
    const answer = await ask(world, undefined, {}, world.with({ AI_TIMEOUT_MS: "300" }));
    const took = Date.now() - started;
    assert.equal(answer.source, "rules");
    assert.equal(answer.source === "rules" && answer.reason, "timeout");
    assert.ok(took < 2500, `${took} ms`);
    const [row] = await world.rows();
    assert.equal(row.outcome, "timeout");
    assert.equal(row.attempts, 1);
    assert.ok(row.latency_ms! >= 300 && row.latency_ms! < 2500, `${row.latency_ms}`);
  });
});

dbTest(
  "ai: malformed JSON once is retried and answered; the tokens of both attempts are billed",
  async () => {
    await withWorld(async (world) => {
      await world.control({ failNext: { code: "malformed" } });
      const answer = await ask(world);
      assert.equal(answer.source, "model");
      const prompts = await world.prompts();
      assert.equal(prompts.length, 2);
      const [row] = await world.rows();
      assert.equal(row.outcome, "ok");
      assert.equal(row.attempts, 2);
      assert.equal(row.tokens_in, 2 * sandboxTokens(prompts[0].params.messages));
      assert.equal(row.cost_paise, await expectedCost(row.tokens_in, row.tokens_out));
    });
  },
);

dbTest(
  "ai: malformed twice, the wrong schema twice, refused, truncated: rules/invalid after two tries",
  async () => {
    await withWorld(async (world) => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ failNext: { code: "malformed", count: 2 } }, "invalid"],
        [{ failNext: { code: "malformed_schema", count: 2 } }, "invalid"],
        [{ refusal: true }, "refused"],
        [{ refusal: false, truncated: true }, "truncated"],
      ];
      for (const [i, [faults]] of cases.entries()) {
        await world.control(faults);
        const answer = await ask(world, { days_to_expiry: 20 + i });
        assert.deepEqual(answer, {
          source: "rules",
          reason: "invalid",
          requestId: answer.requestId,
        });
      }
      assert.equal((await world.prompts()).length, 8, "each asked twice");
      const rows = await world.rows();
      assert.deepEqual(
        rows.map((r) => [r.outcome, r.source, r.attempts]),
        cases.map(([, outcome]) => [outcome, "rules", 2]),
      );
      for (const row of rows) {
        assert.ok(row.tokens_in > 0 && row.tokens_out > 0, "a bad answer's tokens are billed");
        assert.equal(row.cost_paise, await expectedCost(row.tokens_in, row.tokens_out));
      }
      assert.match((rows[0].response as { problem: string }).problem, /not JSON/);
      assert.match((rows[1].response as { problem: string }).problem, /not the schema/);
      assert.match((rows[2].response as { refusal: string }).refusal, /can't help/);
      assert.equal((rows[3].response as { finish_reason: string }).finish_reason, "length");
    });
  },
);

dbTest(
  "ai: the consumer's validate() is a check like the schema's: retried once, then rules",
  async () => {
    await withWorld(async (world) => {
      let calls = 0;
      const once = await ask(world, undefined, {
        validate: () => ++calls > 1 || "the first answer cites a fact that does not exist",
      });
      assert.equal(once.source, "model");
      assert.equal(calls, 2);
      const never = await ask(world, { days_to_expiry: 40 }, { validate: () => false });
      assert.equal(never.source === "rules" && never.reason, "invalid");
      const rows = await world.rows();
      assert.deepEqual(rows.map((r) => [r.outcome, r.attempts]), [["ok", 2], ["invalid", 2]]);
      assert.match(JSON.stringify(rows[1].response), /rejected by validate/);
      // A cached answer that the check now refuses is not served: the model is asked again.
      const refusedHit = await ask(world, undefined, { validate: () => false });
      assert.equal(refusedHit.source, "rules");
      assert.equal((await world.rows()).filter((r) => r.outcome === "cached").length, 0);
    });
  },
);

dbTest(
  "ai: over the user's daily budget: rules/over_budget until IST midnight, no call",
  async () => {
    await withWorld(async (world) => {
      // Earlier today (IST) the user spent exactly the budget (5000 paise).
      await adminSql()`
      insert into public.ai_requests (created_at, finished_at, purpose, caller, model, prompt_hash,
                                      cost_paise, outcome, source, attempts)
      values (greatest(date_trunc('day', now() at time zone 'Asia/Kolkata')
                         at time zone 'Asia/Kolkata', now() - interval '2 hours'),
              now(), 'draft', ${world.userId}, 'gpt-4o-mini', repeat('a', 64), 5000, 'ok',
              'model', 1)`;
      const answer = await ask(world);
      assert.equal(answer.source, "rules");
      if (answer.source !== "rules") return;
      assert.equal(answer.reason, "over_budget");
      const [{ seconds }] = await adminSql()`
      select extract(epoch from (date_trunc('day', now() at time zone 'Asia/Kolkata')
                                 + interval '1 day') at time zone 'Asia/Kolkata' - now())::int
             as seconds`;
      assert.ok(Math.abs(answer.retryAfterSeconds! - seconds) <= 2, `${answer.retryAfterSeconds}`);
      assert.equal((await world.prompts()).length, 0, "no call over budget");
      const rows = await world.rows();
      assert.deepEqual(rows.map((r) => [r.outcome, r.source, r.cost_paise]), [
        ["ok", "model", "5000"],
        ["over_budget", "rules", "0"],
      ]);
      assert.equal(rows[1].id, answer.requestId);
    });
  },
);

dbTest(
  "ai: the N+1th request in a minute is rate limited (cached answers count), no call",
  async () => {
    await withWorld(async (world) => {
      const [{ value }] = await adminSql()`
      select (value #>> '{}')::int as value from public.app_settings
       where key = 'AI_RATE_LIMIT_PER_MINUTE'`;
      assert.equal(value, 10);
      for (let i = 0; i < 9; i++) {
        const answer = await ask(world, { days_to_expiry: i });
        assert.equal(answer.source, "model", `request ${i + 1}`);
      }
      const tenth = await ask(world, { days_to_expiry: 0 });
      assert.equal(tenth.source, "cache", "the 10th, a repeat, is a cache hit");
      const eleventh = await ask(world, { days_to_expiry: 99 });
      assert.equal(eleventh.source, "rules");
      if (eleventh.source !== "rules") return;
      assert.equal(eleventh.reason, "rate_limited");
      assert.ok(eleventh.retryAfterSeconds! >= 1 && eleventh.retryAfterSeconds! <= 60);
      // A repeat of an answered prompt is not served from the cache over the limit either.
      const repeat = await ask(world, { days_to_expiry: 1 });
      assert.equal(repeat.source === "rules" && repeat.reason, "rate_limited");
      assert.equal((await world.prompts()).length, 9);
      const outcomes = (await world.rows()).map((r) => r.outcome);
      assert.deepEqual(outcomes.slice(9), ["cached", "rate_limited", "rate_limited"]);
    });
  },
);

dbTest(
  "ai: fifteen requests at once: exactly ten get past the rate limit (the check is locked)",
  async () => {
    await withWorld(async (world) => {
      await world.control({ latencyMs: 200 });
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, i) => ask(world, { days_to_expiry: 100 + i })),
      );
      const sources = answers.map((a) => a.source === "rules" ? a.reason : a.source).sort();
      assert.deepEqual(sources, [...Array(10).fill("model"), ...Array(5).fill("rate_limited")]);
      assert.equal((await world.prompts()).length, 10);
      const rows = await world.rows();
      assert.equal(rows.filter((r) => r.outcome === "ok").length, 10);
      assert.equal(rows.filter((r) => r.outcome === "rate_limited").length, 5);
    });
  },
);

dbTest("ai: flag off or no API key: rules at once, no row, no call", async () => {
  await withWorld(async (world) => {
    const off = await ask(world, undefined, {}, world.with({ ENABLE_AI_ASSISTANT: "false" }));
    assert.deepEqual(off, { source: "rules", reason: "disabled" });
    const unset = await ask(world, undefined, {}, world.with({ ENABLE_AI_ASSISTANT: undefined }));
    assert.deepEqual(unset, { source: "rules", reason: "disabled" }, "off by default");
    const keyless = await ask(world, undefined, {}, world.with({ OPENAI_API_KEY: undefined }));
    assert.deepEqual(keyless, { source: "rules", reason: "not_configured" });
    const offChat = await world.with({ ENABLE_AI_ASSISTANT: "false" }).streamChat({
      claims: world.claims,
      caseId: world.caseId,
      instructions,
      facts: {},
      message: "What is due?",
    });
    assert.deepEqual(offChat, { source: "rules", reason: "disabled" });
    assert.equal((await world.rows()).length, 0);
    assert.equal((await world.prompts()).length, 0);
  });
});

dbTest(
  "ai: the admins' switch (app setting ENABLE_AI_ASSISTANT false) also means rules, no row",
  async () => {
    await withWorld(async (world) => {
      const [before] = await adminSql()`
      select value from public.app_settings where key = 'ENABLE_AI_ASSISTANT'`;
      await adminSql()`update public.app_settings set value = 'false' where key = 'ENABLE_AI_ASSISTANT'`;
      try {
        const answer = await ask(world);
        assert.deepEqual(answer, { source: "rules", reason: "disabled" });
        assert.equal((await world.rows()).length, 0);
        assert.equal((await world.prompts()).length, 0);
      } finally {
        await adminSql()`
        update public.app_settings set value = ${adminSql().json(before.value)}
         where key = 'ENABLE_AI_ASSISTANT'`;
      }
      assert.equal((await ask(world)).source, "model");
    });
  },
);

/** Reads a chat stream to its end: the deltas and how it ended. */
async function drain(reply: Awaited<ReturnType<Assistant["streamChat"]>>) {
  if (reply.source === "rules") return { text: "", pieces: 0, outcome: reply };
  let text = "";
  let pieces = 0;
  for await (const piece of reply.deltas) {
    text += piece;
    pieces++;
  }
  return { text, pieces, outcome: await reply.result };
}

dbTest("ai chat: the answer streams in pieces, then settles ok with the usage", async () => {
  await withWorld(async (world) => {
    const reply = await world.assistant.streamChat({
      claims: world.claims,
      caseId: world.caseId,
      customerId: world.customerId,
      instructions: "You help an agent with one renewal case. Use only its facts.",
      facts: { case_id: world.caseId, stage: "quoted", outstanding_paise: 1500000 },
      history: [
        { role: "agent", content: "Did the customer pay?" },
        { role: "assistant", content: "Not yet: 1500000 paise are due." },
      ],
      message: "Draft a reminder for Asha Verma at +91 98101 50461.",
      known: { customer: "Asha Verma" },
    });
    assert.equal(reply.source, "model");
    const { text, pieces, outcome } = await drain(reply);
    assert.ok(pieces >= 2, `${pieces} pieces`);
    assert.deepEqual(outcome, {
      source: "model",
      requestId: reply.source === "model" && reply.requestId,
      text,
    });
    const [sent] = await world.prompts();
    assert.equal(sent.params.stream, true);
    assert.deepEqual(sent.params.stream_options, { include_usage: true });
    assert.deepEqual(sent.params.messages.map((m) => m.role), [
      "system",
      "system",
      "user",
      "assistant",
      "user",
    ]);
    assert.equal(sent.params.messages[4].content, "Draft a reminder for <customer> at <phone>.");
    const [row] = await world.rows();
    assert.equal(row.purpose, "chat");
    assert.equal(row.outcome, "ok");
    assert.equal(row.source, "model");
    assert.deepEqual(row.response, { content: text });
    assert.equal(row.tokens_in, sandboxTokens(sent.params.messages));
    assert.equal(row.tokens_out, Math.ceil(text.length / 4));
    assert.equal(row.cost_paise, await expectedCost(row.tokens_in, row.tokens_out));
  });
});

dbTest(
  "ai chat: down, slow, refused, cut short, or left early: the right fallback and a settled row",
  async () => {
    await withWorld(async (world) => {
      const chat = (message: string, assistant = world.assistant) =>
        assistant.streamChat({
          claims: world.claims,
          caseId: world.caseId,
          instructions: "You help an agent with one renewal case.",
          facts: { stage: "new" },
          message,
        });
      await world.control({ outage: true });
      const down = await chat("one");
      assert.equal(down.source === "rules" && down.reason, "unavailable");

      await world.control({ outage: false, latencyMs: 3000 });
      const slow = await chat("two", world.with({ AI_TIMEOUT_MS: "300" }));
      assert.equal(slow.source === "rules" && slow.reason, "timeout");

      await world.control({ latencyMs: 0, refusal: true });
      const refused = await drain(await chat("three"));
      assert.equal(refused.pieces, 0, "a refusal is never streamed");
      assert.equal(refused.outcome.source === "rules" && refused.outcome.reason, "invalid");

      await world.control({ refusal: false, truncated: true });
      const cut = await drain(await chat("four"));
      assert.ok(cut.pieces > 0);
      assert.equal(cut.outcome.source === "rules" && cut.outcome.reason, "invalid");

      await world.control({ truncated: false });
      const left = await chat("five");
      assert.equal(left.source, "model");
      if (left.source !== "model") return;
      for await (const _ of left.deltas) break;
      assert.equal((await left.result).source, "rules");

      const rows = await world.rows();
      assert.deepEqual(rows.map((r) => [r.outcome, r.source]), [
        ["error", "rules"],
        ["timeout", "rules"],
        ["refused", "rules"],
        ["truncated", "rules"],
        ["error", "rules"],
      ]);
    });
  },
);

dbTest("ai: no phone, email, name, PAN or Aadhaar reaches the model, in any prompt", async () => {
  await withWorld(async (world) => {
    const person = {
      name: "Asha Kumari Verma",
      hindiName: "आशा वर्मा",
      phones: ["+91 98101 50461", "098101-50461", "9810150461", "+919810150461"],
      email: "asha.verma@example.in",
      pan: "ABCPV1234K",
      aadhaar: "2345 6789 0123",
      agent: "Farah Khan",
    };
    // The ways people write them that once reached the model verbatim.
    const disguised = [
      "98 12 34 56 78",
      "98 7654 3210",
      "987 65 43210",
      "(981) 234-5678",
      "+91 (987) 654 3210",
      "98123/45678",
      "98123,45678",
      "９８１２３４５６７８",
      "98123\u200B45678",
      "98123\u00AD45678",
      "৯৮১২৩৪৫৬৭৮",
      "௯௮௧௨௩௪௫௬௭௮",
      "९८१२३४५६७८",
      "2345.6789.0123",
      "2345  6789  0123",
      "ABCDE 1234 F",
      "ABCDE-1234-F",
      "ab.cd＠example.com",
      "ef.gh@exam\u200Bple.org",
    ];
    const note = `${person.name} (${person.hindiName}) called from ${person.phones[0]} and ` +
      `${person.phones[1]}; alt ${person.phones[2]} / ${person.phones[3]}. Mail ${person.email}. ` +
      `PAN ${person.pan}, Aadhaar ${person.aadhaar}. Agent ${person.agent} promised a call. ` +
      `आशा जी ने कहा कि वह ${person.phones[2]} पर उपलब्ध हैं। Also: ${disguised.join("; ")}.`;
    const known = { customer: [person.name, person.hindiName], agent: person.agent };
    await ask(world, { note, tags: [note] }, { known });
    await world.control({ failNext: { code: "malformed" } });
    await ask(world, { note: `${note} again` }, { known, instructions: `${instructions} ${note}` });
    const reply = await world.assistant.streamChat({
      claims: world.claims,
      caseId: world.caseId,
      instructions,
      facts: { note },
      history: [{ role: "agent", content: note }],
      message: `Write to ${person.name} at ${person.email}`,
      known,
    });
    await drain(reply);

    const prompts = await world.prompts();
    assert.equal(prompts.length, 4);
    const forbidden = [
      "Asha",
      "Kumari",
      "Verma",
      "आशा",
      "वर्मा",
      "Farah",
      "Khan",
      "9810150461",
      "98101",
      "50461",
      "asha.verma",
      "example.in",
      "ABCPV1234K",
      "2345 6789 0123",
      "234567890123",
      ...disguised,
      "12 34 56 78",
      "7654",
      "43210",
      "5678",
      "3210",
      "45678",
      "6789",
      "ABCDE",
      "ab.cd",
      "ef.gh",
      "exam",
      "৯", // a Bengali digit
      "௯",
      "९",
    ];
    // The case's id is in the facts: a UUID may hold any four digits.
    const ids = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
    for (const prompt of prompts) {
      const sent = JSON.stringify(prompt.params.messages).replace(ids, "<id>");
      for (const word of forbidden) {
        assert.ok(!sent.includes(word), `"${word}" reached the model: ${sent}`);
      }
      assert.match(sent, /<customer>/);
      assert.match(sent, /<phone>/);
    }
    const all = prompts.map((p) => JSON.stringify(p.params.messages)).join("\n");
    for (const token of ["<customer>", "<agent>", "<phone>", "<email>", "<pan>", "<aadhaar>"]) {
      assert.ok(all.includes(token), token);
    }
    // What ai_requests keeps is what was sent.
    const stored = JSON.stringify((await world.rows()).map((r) => r.prompt)).replace(ids, "<id>");
    for (const word of forbidden) assert.ok(!stored.includes(word), word);
  });
});

dbTest(
  "ai: the sandbox env switches the assistant on; the default config leaves it off",
  async () => {
    const sandbox = await startSandbox();
    try {
      const env = sandboxEnv(sandbox, "http://127.0.0.1:9/functions/v1");
      assert.equal(env.ENABLE_AI_ASSISTANT, "true");
      assert.equal(configFor(sandbox).ENABLE_AI_ASSISTANT, true);
    } finally {
      await sandbox.close();
    }
  },
);

/**
 * Sets app settings while `fn` runs, then puts the values they had back. The values are bad ones
 * that every write now refuses (private.setting_rules): they are written past the rules, as only
 * the table's owner can, for the readers' fallbacks.
 */
async function withSettings(
  values: Record<string, unknown>,
  fn: () => Promise<void>,
): Promise<void> {
  const before = await adminSql()`
    select key, value from public.app_settings where key = any(${Object.keys(values)}::text[])`;
  assert.equal(before.length, Object.keys(values).length);
  try {
    await adminSql()`select tests.write_settings_unchecked(${adminSql().json(values as never)})`;
    await fn();
  } finally {
    for (const row of before) {
      await adminSql()`
        update public.app_settings set value = ${
        adminSql().json(row.value)
      } where key = ${row.key}`;
    }
  }
}

/** The error lines logged (JSON, on stderr) while `fn` ran. */
async function loggedErrors(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines.map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      return { raw: line };
    }
  });
}

dbTest(
  "ai: bad AI settings are read as their defaults: requests answered, the keys logged, not the values",
  async () => {
    await withWorld(async (world) => {
      const answers: unknown[] = [];
      const errors = await loggedErrors(() =>
        withSettings({
          AI_MODEL: "",
          AI_RATE_LIMIT_PER_MINUTE: "ten",
          AI_PRICE_PAISE_PER_1K_TOKENS: { input: "cheap", output: "dear" },
          AI_MAX_OUTPUT_TOKENS: "lots",
          AI_CACHE_SECONDS: -5,
        }, async () => {
          answers.push(await ask(world));
          answers.push(await ask(world));
          answers.push(
            (await drain(
              await world.assistant.streamChat({
                claims: world.claims,
                caseId: world.caseId,
                instructions,
                facts: { stage: "new" },
                message: "What is due?",
              }),
            )).outcome,
          );
        })
      );
      assert.deepEqual(
        answers.map((a) => (a as { source: string }).source),
        ["model", "cache", "model"],
        "answered, the repeat from the cache (600 s, not -5)",
      );
      const sent = await world.prompts();
      assert.deepEqual(
        sent.map((p) => [p.params.model, p.params.max_completion_tokens]),
        [["gpt-4o-mini", 800], ["gpt-4o-mini", 800]],
        "the default model and token limit",
      );
      const rows = await world.rows();
      assert.deepEqual(rows.map((r) => [r.outcome, r.model]), [
        ["ok", "gpt-4o-mini"],
        ["cached", "gpt-4o-mini"],
        ["ok", "gpt-4o-mini"],
      ]);
      assert.equal(rows[0].cost_paise, await expectedCost(rows[0].tokens_in, rows[0].tokens_out));
      const bad = errors.filter((e) =>
        e.level === "error" && e.msg === "ai: settings that cannot be read; their defaults are used"
      );
      assert.ok(bad.length >= 3, JSON.stringify(errors));
      assert.deepEqual(bad[0].settings, [
        "AI_MODEL",
        "AI_RATE_LIMIT_PER_MINUTE",
        "AI_PRICE_PAISE_PER_1K_TOKENS",
        "AI_MAX_OUTPUT_TOKENS",
        "AI_CACHE_SECONDS",
      ]);
      for (const value of ['"ten"', "cheap", "dear", "lots"]) {
        assert.ok(!JSON.stringify(errors).includes(value), value);
      }
      assert.equal((await ask(world, { days_to_expiry: 3 })).source, "model", "and after");
    });
  },
);

dbTest(
  "ai: a request that cannot be built or admitted is the rules answer (unavailable), logged without the prompt",
  async () => {
    await withWorld(async (world) => {
      const note = "Asha Verma, 9810150461";
      const answers: unknown[] = [];
      const errors = await loggedErrors(async () => {
        // Schemas OpenAI's structured outputs cannot express (zodResponseFormat throws).
        for (
          const schema of [
            z.object({ explanation: z.string().optional() }),
            z.object({ at: z.date() }),
          ]
        ) {
          answers.push(
            await world.assistant.askStructured({
              purpose: "risk_assessment",
              claims: world.claims,
              caseId: world.caseId,
              schema: schema as never,
              schemaName: "unrepresentable",
              instructions,
              facts: { note },
            }),
          );
        }
        // Facts that are not JSON.
        answers.push(await ask(world, { amount: 10n, note }));
        answers.push(
          await world.assistant.streamChat({
            claims: world.claims,
            instructions,
            facts: { amount: 10n },
            message: note,
          }),
        );
        // An admission the database refuses (a case id that is not a uuid).
        answers.push(await ask(world, { note }, { caseId: "case-1" }));
      });
      for (const answer of answers) {
        assert.deepEqual(answer, { source: "rules", reason: "unavailable" });
      }
      assert.equal((await world.rows()).length, 0, "no row");
      assert.equal((await world.prompts()).length, 0, "no call");
      const logged = errors.filter((e) => e.level === "error").map((e) => e.msg);
      assert.deepEqual(logged, [
        ...Array(4).fill("ai: the request could not be built; the rules answer"),
        "ai: the request could not be admitted; the rules answer",
      ]);
      assert.match(JSON.stringify(errors[0]), /unrepresentable/, "names the schema");
      for (const word of ["Asha", "9810150461"]) {
        assert.ok(!JSON.stringify(errors).includes(word), word);
      }
      assert.equal((await ask(world)).source, "model", "the next request is answered");
    });
  },
);

dbTest(
  "ai: a customer named like fact words: the facts' codes reach the model unchanged, the prose without the name",
  async () => {
    await withWorld(async (world) => {
      const cases = [{ id: "case_1", product_line: "motor", stage: "payment_pending" }];
      const answer = await ask(world, {
        cases,
        note: "Case Motor asked about the motor policy of case_1",
      }, { known: { customer: "Case Motor" } });
      assert.equal(answer.source, "model");
      const [sent] = await world.prompts();
      const facts = JSON.parse(sent.params.messages[1].content);
      assert.deepEqual(facts.cases, cases);
      assert.equal(facts.note, "<customer> asked about the <customer> policy of case_1");
    });
  },
);

/**
 * An OpenAI client whose answers are given here (the sandbox cannot send a lone surrogate):
 * `content` for a structured answer, `pieces` streamed for a chat; with `stallAfter`, the stream
 * falls silent after that many pieces, the connection open, until the request is aborted.
 */
function scriptedClient(content: string, pieces: string[], stallAfter?: number): OpenAI {
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra = {}) =>
    `data: ${
      JSON.stringify({
        id: "c1",
        object: "chat.completion.chunk",
        created: 0,
        model: "gpt-4o-mini",
        choices: finish === "usage" ? [] : [{ index: 0, delta, finish_reason: finish }],
        ...extra,
      })
    }\n\n`;
  return new OpenAI({
    apiKey: "sk-scripted",
    baseURL: "http://scripted.invalid/v1",
    maxRetries: 0,
    fetch: (_url: string | URL | Request, init?: RequestInit) => {
      const body = JSON.parse(String(init?.body));
      if (body.stream) {
        const events = [
          chunk({ role: "assistant", content: "" }),
          ...pieces.map((piece) => chunk({ content: piece })),
          chunk({}, "stop"),
          chunk({}, "usage", { usage }),
          "data: [DONE]\n\n",
        ];
        const sse = new ReadableStream<Uint8Array>({
          start(controller) {
            const sent = stallAfter === undefined ? events : events.slice(0, 1 + stallAfter);
            for (const event of sent) controller.enqueue(new TextEncoder().encode(event));
            if (stallAfter === undefined) return controller.close();
            // As fetch does: the body fails when the request is aborted.
            init?.signal?.addEventListener("abort", () => {
              controller.error(new DOMException("The signal has been aborted", "AbortError"));
            });
          },
        });
        return Promise.resolve(
          new Response(sse, { headers: { "content-type": "text/event-stream" } }),
        );
      }
      return Promise.resolve(Response.json({
        id: "c1",
        object: "chat.completion",
        created: 0,
        model: "gpt-4o-mini",
        choices: [{
          index: 0,
          finish_reason: "stop",
          message: { role: "assistant", content, refusal: null },
        }],
        usage,
      }));
    },
  });
}

dbTest(
  "ai: lone surrogates in a question or in the model's answer are stored and returned as U+FFFD",
  async () => {
    await withWorld(async (world) => {
      const asked = await ask(world, { note: "hello \ud800", ["key \udc00"]: "x" }, {
        instructions: `${instructions} \ud83d`,
      });
      assert.equal(asked.source, "model", JSON.stringify(asked));
      const chat = await drain(
        await world.assistant.streamChat({
          claims: world.claims,
          caseId: world.caseId,
          instructions,
          facts: { note: "\udfff" },
          history: [{ role: "agent", content: "earlier \ud800" }],
          message: "hello \udbff",
        }),
      );
      assert.equal(chat.outcome.source, "model");
      const sent = (await world.prompts()).flatMap((p) => p.params.messages.map((m) => m.content));
      assert.equal(sent.length, 6);
      assert.ok(sent.every((content) => content.isWellFormed()), JSON.stringify(sent));
      for (
        const expected of [
          `${instructions} \uFFFD`,
          '"note":"hello \uFFFD","key \uFFFD":"x"',
          '"note":"\uFFFD"',
          "earlier \uFFFD",
          "hello \uFFFD",
        ]
      ) {
        assert.ok(sent.some((content) => content.includes(expected)), expected);
      }
      const stored = (await world.rows()).flatMap((r) => r.prompt!.map((m) => m.content));
      assert.deepEqual(stored, sent, "stored as sent");

      // The model answers with lone surrogates: in the structured answer, and in a stream whose
      // emoji is cut between two pieces.
      const scripted = createAssistant({
        config: configFor(world.sandbox),
        client: scriptedClient(
          '{"explanation": "x \\ud800", "next_action": "y \\udfff", "urgency": "low"}',
          ["Due ", "\ud83d", "\ude00 today", " \udc00"],
        ),
      });
      const answer = await ask(world, { days_to_expiry: 4 }, {}, scripted);
      assert.deepEqual(answer.source === "model" && answer.value, {
        explanation: "x \uFFFD",
        next_action: "y \uFFFD",
        urgency: "low",
      });
      const streamed = await drain(
        await scripted.streamChat({
          claims: world.claims,
          caseId: world.caseId,
          instructions,
          facts: {},
          message: "When is it due?",
        }),
      );
      assert.equal(streamed.text, "Due 😀 today \uFFFD");
      assert.equal(streamed.outcome.source === "model" && streamed.outcome.text, streamed.text);
      const rows = await world.rows();
      assert.deepEqual(rows.map((r) => r.outcome), ["ok", "ok", "ok", "ok"]);
      assert.deepEqual(rows[2].response, answer.source === "model" ? answer.value : null);
      assert.deepEqual(rows[3].response, { content: "Due 😀 today \uFFFD" });
    });
  },
);

dbTest(
  "ai chat: a model silent midway past AI_TIMEOUT_MS ends as a timeout, not as an answer",
  async () => {
    await withWorld(async (world) => {
      const stalling = createAssistant({
        config: configFor(world.sandbox, { AI_TIMEOUT_MS: "300" }),
        client: scriptedClient("", ["It is due ", "on the 1st."], 1),
      });
      const started = Date.now();
      const reply = await drain(
        await stalling.streamChat({
          claims: world.claims,
          caseId: world.caseId,
          instructions,
          facts: { due: "2026-12-01" },
          message: "When is it due?",
        }),
      );
      assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
      assert.equal(reply.text, "It is due ", "the piece before the silence was streamed");
      assert.equal(reply.outcome.source === "rules" && reply.outcome.reason, "timeout");
      const [row] = await world.rows();
      assert.equal(reply.outcome.source === "rules" && reply.outcome.requestId, row.id);
      assert.deepEqual([row.outcome, row.source], ["timeout", "rules"]);
      assert.equal((row.response as { content: string }).content, "It is due ");
    });
  },
);
