// The sandbox's OpenAI, driven by the real `openai` SDK pointed at it with `baseURL`: strict
// structured outputs (zodResponseFormat + chat.completions.parse), deterministic answers,
// streaming, usage, the strict-schema rules, each fault as the SDK's own error, and the
// inspection API that the AI features' tests read to scan prompts (VENDORS.md §5).
import assert from "node:assert/strict";
import OpenAI, {
  APIConnectionTimeoutError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from "openai";
import { LengthFinishReasonError } from "openai/error";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";
import { sandboxEnv } from "../../scripts/lib/sandbox_env.ts";
import { defaultSandboxCredentials, type Sandbox, startSandbox } from "../../sandbox/mod.ts";

const model = "gpt-4o-mini";

/** What the risk assistant asks for: nested objects, enums, bounds, arrays, a nullable field. */
const Assessment = z.object({
  explanation: z.string(),
  band: z.enum(["low", "medium", "high"]),
  score: z.number().int().min(0).max(100),
  confidence: z.number().min(0).max(1),
  reasons: z.array(z.object({ feature: z.string(), weight: z.number().min(-1).max(1) })).min(2)
    .max(4),
  next_action: z.object({
    channel: z.enum(["sms", "email", "whatsapp", "call"]),
    text: z.string(),
  }),
  follow_up_on: z.string().nullable(),
  urgent: z.boolean(),
});

async function withSandbox(fn: (sandbox: Sandbox, client: OpenAI) => Promise<void>) {
  const sandbox = await startSandbox();
  const client = new OpenAI({
    apiKey: sandbox.credentials.openaiApiKey,
    baseURL: `${sandbox.url}/openai/v1`,
    maxRetries: 0,
  });
  try {
    await fn(sandbox, client);
  } finally {
    await sandbox.close();
  }
}

async function control(sandbox: Sandbox, body: unknown) {
  const response = await fetch(`${sandbox.url}/_control/openai`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

function messages(prompt: string) {
  return [
    { role: "system" as const, content: "You explain lapse risk to an insurance agent." },
    { role: "user" as const, content: prompt },
  ];
}

function assess(client: OpenAI, prompt: string) {
  return client.chat.completions.parse({
    model,
    messages: messages(prompt),
    response_format: zodResponseFormat(Assessment, "risk_assessment"),
  });
}

/** A raw call, for what the SDK would not send. */
async function raw(sandbox: Sandbox, body: unknown, key = sandbox.credentials.openaiApiKey) {
  const response = await fetch(`${sandbox.url}/openai/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

/** Asserts that `promise` rejects with an instance of `kind`, and returns the error. */
async function rejection<T>(promise: Promise<unknown>, kind: new (...args: never[]) => T) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${error}`);
    return error as T;
  }
  assert.fail(`expected ${kind.name}, but the call succeeded`);
}

Deno.test("sandbox openai: a strict structured output parses into the zod schema, with usage and headers", async () => {
  await withSandbox(async (_sandbox, client) => {
    const { data, response } = await assess(
      client,
      "Case <case>: 12 days to expiry, 2 late payments.",
    )
      .withResponse();
    assert.match(data.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.equal(data.object, "chat.completion");
    assert.equal(data.model, model);
    const choice = data.choices[0];
    assert.equal(choice.finish_reason, "stop");
    assert.equal(choice.message.refusal, null);
    const parsed = choice.message.parsed!;
    assert.deepEqual(Assessment.parse(parsed), parsed);
    assert.ok(parsed.reasons.length >= 2 && parsed.reasons.length <= 4, `${parsed.reasons.length}`);
    assert.ok(parsed.score >= 0 && parsed.score <= 100 && Number.isInteger(parsed.score));
    // A nullable field gets its non-null member.
    assert.equal(typeof parsed.follow_up_on, "string");
    assert.ok(parsed.explanation.length > 0);
    // Usage: a quarter of the characters, rounded up.
    const promptChars = messages("Case <case>: 12 days to expiry, 2 late payments.")
      .map((m) => m.content).join("").length;
    assert.equal(data.usage!.prompt_tokens, Math.ceil(promptChars / 4));
    assert.equal(data.usage!.completion_tokens, Math.ceil(choice.message.content!.length / 4));
    assert.equal(
      data.usage!.total_tokens,
      data.usage!.prompt_tokens + data.usage!.completion_tokens,
    );
    assert.match(response.headers.get("x-request-id")!, /^req_[0-9a-f]{32}$/);
    assert.match(response.headers.get("x-ratelimit-limit-requests")!, /^\d+$/);
    assert.match(response.headers.get("x-ratelimit-remaining-tokens")!, /^\d+$/);
    assert.match(response.headers.get("x-ratelimit-reset-requests")!, /^[\d.]+(ms|s)$|m\d+s$/);
  });
});

Deno.test("sandbox openai: the same prompt gives the same answer, another prompt another one", async () => {
  await withSandbox(async (_sandbox, client) => {
    const first = await assess(client, "Case <case>: 30 days to expiry.");
    const again = await assess(client, "Case <case>: 30 days to expiry.");
    const other = await assess(client, "Case <case>: 3 days into grace.");
    assert.notEqual(first.id, again.id);
    assert.equal(again.choices[0].message.content, first.choices[0].message.content);
    assert.notEqual(other.choices[0].message.content, first.choices[0].message.content);
    // Without a response format: a short text that echoes nothing of the prompt.
    const text = await client.chat.completions.create({
      model,
      messages: messages("Asha Verma, +919810150461, asked about her renewal."),
    });
    const content = text.choices[0].message.content!;
    assert.match(content, /^Sandbox answer [0-9a-f]{8}\.$/);
    assert.doesNotMatch(content, /Asha|9810150461/);
  });
});

Deno.test("sandbox openai: strict schemas must require every property and close every object", async () => {
  await withSandbox(async (sandbox, client) => {
    const format = (schema: unknown, strict = true) => ({
      type: "json_schema" as const,
      json_schema: { name: "risk", schema: schema as Record<string, unknown>, strict },
    });
    const open = {
      type: "object",
      properties: { a: { type: "string" } },
      required: ["a"],
    };
    const error = await rejection(
      client.chat.completions.create({
        model,
        messages: messages("x"),
        response_format: format(open),
      }),
      BadRequestError,
    );
    assert.equal(error.status, 400);
    assert.equal(error.type, "invalid_request_error");
    assert.equal(error.param, "response_format");
    assert.match(
      error.message,
      /In context=\(\), 'additionalProperties' is required to be supplied and to be false/,
    );

    const cases: Array<[unknown, RegExp]> = [
      [
        {
          type: "object",
          properties: { a: { type: "string" }, b: { type: "integer" } },
          required: ["a"],
          additionalProperties: false,
        },
        /'required' is required .* Missing 'b'/,
      ],
      [
        {
          type: "object",
          properties: {
            inner: { type: "object", properties: { c: { type: "string" } }, required: ["c"] },
          },
          required: ["inner"],
          additionalProperties: false,
        },
        /In context=\('properties', 'inner'\), 'additionalProperties'/,
      ],
      [
        {
          type: "object",
          properties: { a: { allOf: [{ type: "string" }] } },
          required: ["a"],
          additionalProperties: false,
        },
        /'allOf' is not permitted/,
      ],
      [{ type: "array", items: { type: "string" } }, /must be a JSON Schema of 'type: "object"'/],
      [
        {
          type: "object",
          properties: { a: { $ref: "#/$defs/missing" } },
          required: ["a"],
          additionalProperties: false,
        },
        /reference to component '#\/\$defs\/missing'/,
      ],
    ];
    for (const [schema, reason] of cases) {
      const answer = await raw(sandbox, {
        model,
        messages: messages("x"),
        response_format: format(schema),
      });
      assert.equal(answer.status, 400, JSON.stringify(schema));
      assert.equal(answer.json.error.type, "invalid_request_error");
      assert.match(answer.json.error.message, reason);
    }
    // Not strict: OpenAI does its best and does not check the rules.
    const loose = await raw(sandbox, {
      model,
      messages: messages("x"),
      response_format: format(open, false),
    });
    assert.equal(loose.status, 200);
    assert.equal(typeof JSON.parse(loose.json.choices[0].message.content).a, "string");

    // A strict schema with $defs, a recursive $ref, a nullable union and a string format.
    const tree = {
      type: "object",
      properties: {
        root: { $ref: "#/$defs/node" },
        due: { type: "string", format: "date" },
        tier: { anyOf: [{ type: "string", enum: ["gold", "silver"] }, { type: "null" }] },
      },
      required: ["root", "due", "tier"],
      additionalProperties: false,
      $defs: {
        node: {
          type: "object",
          properties: {
            label: { type: "string" },
            children: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 },
          },
          required: ["label", "children"],
          additionalProperties: false,
        },
      },
    };
    const ok = await raw(sandbox, {
      model,
      messages: messages("tree"),
      response_format: format(tree),
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const value = JSON.parse(ok.json.choices[0].message.content);
    assert.equal(typeof value.root.label, "string");
    assert.ok(Array.isArray(value.root.children) && value.root.children.length <= 2);
    assert.match(value.due, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(["gold", "silver"].includes(value.tier), value.tier);
  });
});

Deno.test("sandbox openai: string formats, patterns, literals, unions and zod's wide int bounds", async () => {
  const Shapes = z.object({
    email: z.email(),
    id: z.uuid(),
    day: z.iso.date(),
    at: z.iso.datetime(),
    long: z.string().min(40),
    short: z.string().max(5),
    count: z.number().int().positive(),
    any: z.number().int(),
    ratio: z.number().gt(0).lt(1),
    fixed: z.literal("v1"),
    pair: z.array(z.string()).length(2),
    code: z.string().regex(/^[A-Z]{3}-\d{2}$/),
    language: z.string().regex(/^(en|hi|ta)(-IN)?$/),
    kind: z.discriminatedUnion("k", [
      z.object({ k: z.literal("a"), x: z.number() }),
      z.object({ k: z.literal("b"), y: z.string() }),
    ]),
  });
  await withSandbox(async (_sandbox, client) => {
    const kinds = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const answer = await client.chat.completions.parse({
        model,
        messages: messages(`Shapes ${i}`),
        response_format: zodResponseFormat(Shapes, "shapes"),
      });
      const parsed = answer.choices[0].message.parsed!;
      assert.deepEqual(Shapes.parse(parsed), parsed);
      // Small numbers even where zod writes +-2^53-1 as the bounds of every int.
      assert.ok(parsed.count >= 1 && parsed.count <= 101, `${parsed.count}`);
      assert.ok(Math.abs(parsed.any) <= 100, `${parsed.any}`);
      kinds.add(parsed.kind.k);
    }
    // Both members of the union come up across prompts.
    assert.deepEqual([...kinds].sort(), ["a", "b"]);
  });
});

Deno.test("sandbox openai: bad bodies, unknown models and keys are refused as OpenAI refuses them", async () => {
  await withSandbox(async (sandbox) => {
    const cases: Array<[unknown, number, string | null, string | null]> = [
      [{ messages: messages("x") }, 400, "missing_required_parameter", "model"],
      [{ model }, 400, "missing_required_parameter", "messages"],
      [{ model, messages: [] }, 400, "empty_array", "messages"],
      [
        { model, messages: [{ role: "bot", content: "x" }] },
        400,
        "invalid_value",
        "messages[0].role",
      ],
      [
        { model, messages: [{ role: "user", content: 42 }] },
        400,
        "invalid_type",
        "messages[0].content",
      ],
      [
        { model, messages: messages("x"), temperature: 3 },
        400,
        "decimal_above_max_value",
        "temperature",
      ],
      [
        {
          model,
          messages: messages("x"),
          response_format: {
            type: "json_schema",
            json_schema: { name: "bad name!", schema: {}, strict: true },
          },
        },
        400,
        "invalid_value",
        "response_format.json_schema.name",
      ],
      [
        { model, messages: messages("no j-word"), response_format: { type: "json_object" } },
        400,
        null,
        "messages",
      ],
      [
        { model, messages: messages("x"), stream_options: { include_usage: true } },
        400,
        null,
        "stream_options",
      ],
      [{ model: "text-davinci-001", messages: messages("x") }, 404, "model_not_found", null],
    ];
    for (const [body, status, code, param] of cases) {
      const answer = await raw(sandbox, body);
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.equal(answer.json.error.code, code, JSON.stringify(answer.json));
      assert.equal(answer.json.error.param, param, JSON.stringify(answer.json));
      assert.equal(answer.json.error.type, "invalid_request_error");
    }
    const wrongKey = new OpenAI({
      apiKey: "sk-proj-notTheSandboxKey0000000000",
      baseURL: `${sandbox.url}/openai/v1`,
      maxRetries: 0,
    });
    const error = await rejection(
      wrongKey.chat.completions.create({ model, messages: messages("x") }),
      AuthenticationError,
    );
    assert.equal(error.status, 401);
    assert.equal(error.code, "invalid_api_key");
    assert.equal(error.type, "invalid_request_error");
    assert.doesNotMatch(error.message, /notTheSandboxKey0000000000/);
    const missing = await fetch(`${sandbox.url}/openai/v1/chat/completions`, {
      method: "POST",
      body: "{}",
    });
    assert.equal(missing.status, 401);
    assert.equal((await missing.json()).error.code, "invalid_api_key");
    const elsewhere = await fetch(`${sandbox.url}/openai/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${sandbox.credentials.openaiApiKey}` },
      body: "{}",
    });
    assert.equal(elsewhere.status, 404);
    assert.match((await elsewhere.json()).error.message, /Invalid URL \(POST \/v1\/embeddings\)/);
    // Nothing was answered to a refused request: no completion was listed under its id.
    const listed = await (await fetch(`${sandbox.url}/_inspect/openai/requests`)).json();
    assert.ok(listed.length >= cases.length);
    assert.ok(listed.every((r: { id: string }) => r.id.startsWith("req_")));
  });
});

Deno.test("sandbox openai: a stream yields chunks, the finish reason, usage and [DONE]", async () => {
  await withSandbox(async (sandbox, client) => {
    const stream = await client.chat.completions.create({
      model,
      messages: messages("Draft a reminder for <customer>."),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id));
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    const plain = await client.chat.completions.create({
      model,
      messages: messages("Draft a reminder for <customer>."),
    });
    assert.equal(text, plain.choices[0].message.content);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    assert.equal(finish?.choices[0].finish_reason, "stop");
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage!.completion_tokens, Math.ceil(text.length / 4));

    // The raw wire: text/event-stream, data lines, [DONE] last.
    const response = await fetch(`${sandbox.url}/openai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${sandbox.credentials.openaiApiKey}` },
      body: JSON.stringify({ model, messages: messages("x"), stream: true }),
    });
    assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
    const events = (await response.text()).trim().split("\n\n");
    assert.equal(events.at(-1), "data: [DONE]");
    assert.ok(events.every((e) => e.startsWith("data: ")));
    // No usage chunk unless asked for.
    assert.ok(events.slice(0, -1).every((e) => !("usage" in JSON.parse(e.slice(6)))));

    // A structured output streams too, and its pieces join into the same JSON.
    const runner = client.chat.completions.stream({
      model,
      messages: messages("Case <case>: 30 days to expiry."),
      response_format: zodResponseFormat(Assessment, "risk_assessment"),
    });
    const final = await runner.finalChatCompletion();
    const direct = await assess(client, "Case <case>: 30 days to expiry.");
    assert.deepEqual(final.choices[0].message.parsed, direct.choices[0].message.parsed);
  });
});

Deno.test("sandbox openai: 429 rate limit with retry-after, 429 insufficient_quota not retried, 500 outage", async () => {
  await withSandbox(async (sandbox, client) => {
    const call = () => client.chat.completions.create({ model, messages: messages("x") });
    await control(sandbox, { rateLimited: true, retryAfterSeconds: 2 });
    const limited = await rejection(call(), RateLimitError);
    assert.equal(limited.status, 429);
    assert.equal(limited.code, "rate_limit_exceeded");
    assert.equal(limited.headers?.get("retry-after"), "2");
    assert.equal(limited.headers?.get("retry-after-ms"), "2000");

    await control(sandbox, { rateLimited: false, insufficientQuota: true });
    // Even with retries on, the SDK makes one request: x-should-retry: false.
    const retrying = new OpenAI({
      apiKey: sandbox.credentials.openaiApiKey,
      baseURL: `${sandbox.url}/openai/v1`,
      maxRetries: 2,
    });
    const before = (await (await fetch(`${sandbox.url}/_inspect/openai/requests`)).json()).length;
    const quota = await rejection(
      retrying.chat.completions.create({ model, messages: messages("x") }),
      RateLimitError,
    );
    assert.equal(quota.code, "insufficient_quota");
    assert.equal(quota.type, "insufficient_quota");
    assert.equal(quota.headers?.get("x-should-retry"), "false");
    const after = (await (await fetch(`${sandbox.url}/_inspect/openai/requests`)).json()).length;
    assert.equal(after - before, 1);

    await control(sandbox, { insufficientQuota: false, outage: true });
    const down = await rejection(call(), InternalServerError);
    assert.equal(down.status, 500);
    assert.equal(down.type, "server_error");

    // failNext: one failure, then normal answers (what a retry-once path needs).
    await control(sandbox, { outage: false, failNext: { code: "rate_limit_exceeded" } });
    await rejection(call(), RateLimitError);
    assert.match((await call()).choices[0].message.content!, /^Sandbox answer/);
    await control(sandbox, { failNext: { code: 503 } });
    assert.equal((await rejection(call(), InternalServerError)).status, 503);

    // A reset returns to normal.
    await control(sandbox, { outage: true, refusal: true });
    const reset = await fetch(`${sandbox.url}/_control/reset`, { method: "POST" });
    assert.equal(reset.status, 200);
    await reset.body?.cancel();
    const faults = await (await fetch(`${sandbox.url}/_control/openai`)).json();
    assert.equal(faults.outage, false);
    assert.equal(faults.refusal, false);
    assert.equal((await call()).choices[0].finish_reason, "stop");
  });
});

Deno.test("sandbox openai: latency makes the SDK time out", async () => {
  await withSandbox(async (sandbox) => {
    await control(sandbox, { latencyMs: 2000 });
    const impatient = new OpenAI({
      apiKey: sandbox.credentials.openaiApiKey,
      baseURL: `${sandbox.url}/openai/v1`,
      maxRetries: 0,
      timeout: 200,
    });
    const started = Date.now();
    await rejection(
      impatient.chat.completions.create({ model, messages: messages("x") }),
      APIConnectionTimeoutError,
    );
    assert.ok(Date.now() - started < 1500, `${Date.now() - started} ms`);
  });
});

Deno.test("sandbox openai: malformed, schema-breaking, refused and truncated answers", async () => {
  await withSandbox(async (sandbox, client) => {
    await control(sandbox, { malformed: true });
    await assert.rejects(assess(client, "Case <case>"), SyntaxError);
    const raw = await client.chat.completions.create({
      model,
      messages: messages("Case <case>"),
      response_format: zodResponseFormat(Assessment, "risk_assessment"),
    });
    assert.throws(() => JSON.parse(raw.choices[0].message.content!), SyntaxError);

    await control(sandbox, { malformed: "schema" });
    await assert.rejects(assess(client, "Case <case>"), (error) => error instanceof z.ZodError);

    await control(sandbox, { malformed: false, refusal: true });
    const refused = await assess(client, "Case <case>");
    assert.equal(refused.choices[0].message.content, null);
    assert.equal(refused.choices[0].message.parsed, null);
    assert.match(refused.choices[0].message.refusal!, /can't help/);
    const refusedStream = await client.chat.completions.create({
      model,
      messages: messages("x"),
      stream: true,
    });
    let refusalText = "";
    for await (const chunk of refusedStream) refusalText += chunk.choices[0]?.delta.refusal ?? "";
    assert.equal(refusalText, refused.choices[0].message.refusal);

    await control(sandbox, { refusal: false, truncated: true });
    await assert.rejects(assess(client, "Case <case>"), LengthFinishReasonError);
    const cut = await client.chat.completions.create({
      model,
      messages: messages("Case <case>"),
      response_format: zodResponseFormat(Assessment, "risk_assessment"),
    });
    assert.equal(cut.choices[0].finish_reason, "length");
    assert.throws(() => JSON.parse(cut.choices[0].message.content!), SyntaxError);

    // max_completion_tokens cuts a long answer the same way, without any fault.
    await control(sandbox, { truncated: false });
    const short = await client.chat.completions.create({
      model,
      messages: messages("Case <case>"),
      response_format: zodResponseFormat(Assessment, "risk_assessment"),
      max_completion_tokens: 5,
    });
    assert.equal(short.choices[0].finish_reason, "length");
    assert.equal(short.choices[0].message.content!.length, 20);

    // One malformed answer through failNext, then a valid one (a retry-once path).
    await control(sandbox, { failNext: { code: "malformed" } });
    await assert.rejects(assess(client, "Case <case>"), SyntaxError);
    assert.ok((await assess(client, "Case <case>")).choices[0].message.parsed);

    const refusedControl = await fetch(`${sandbox.url}/_control/openai`, {
      method: "POST",
      body: JSON.stringify({ malformed: "sometimes" }),
    });
    assert.equal(refusedControl.status, 400);
    assert.match((await refusedControl.json()).error, /malformed/);
  });
});

Deno.test("sandbox openai: the inspection API lists every prompt received, faults included", async () => {
  await withSandbox(async (sandbox, client) => {
    await assess(client, "Case <case>: first prompt.");
    await control(sandbox, { outage: true });
    await rejection(
      client.chat.completions.create({ model, messages: messages("second prompt while down") }),
      InternalServerError,
    );
    const listed = await (await fetch(`${sandbox.url}/_inspect/openai/requests`)).json();
    assert.equal(listed.length, 2);
    assert.match(listed[0].id, /^chatcmpl-/);
    assert.equal(listed[0].to, model);
    assert.equal(listed[0].template, "risk_assessment");
    assert.match(listed[0].body, /Case <case>: first prompt\./);
    assert.equal(listed[0].params.messages[1].content, "Case <case>: first prompt.");
    assert.equal(listed[0].params.response_format.json_schema.strict, true);
    assert.match(listed[1].id, /^req_/);
    assert.match(listed[1].body, /second prompt while down/);
  });
});

Deno.test("sandbox openai: the functions' env points the SDK at the sandbox", async () => {
  await withSandbox(async (sandbox) => {
    const env = sandboxEnv(sandbox, "http://127.0.0.1:54321/functions/v1");
    assert.equal(env.OPENAI_BASE_URL, `${sandbox.url}/openai/v1`);
    assert.equal(env.OPENAI_API_KEY, defaultSandboxCredentials.openaiApiKey);
    assert.match(env.OPENAI_API_KEY, /^sk-proj-[A-Za-z0-9]{40,}$/);
    const client = new OpenAI({
      apiKey: env.OPENAI_API_KEY,
      baseURL: env.OPENAI_BASE_URL,
      maxRetries: 0,
    });
    const answer = await client.chat.completions.create({ model, messages: messages("x") });
    assert.equal(answer.choices[0].finish_reason, "stop");
    await assert.rejects(
      new OpenAI({ apiKey: env.OPENAI_API_KEY, baseURL: `${sandbox.url}/openai/v2`, maxRetries: 0 })
        .chat.completions.create({ model, messages: messages("x") }),
      NotFoundError,
    );
  });
});
