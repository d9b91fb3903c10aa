// `npm run bench:ai -- [--requests 100] [--warmup 10] [--cases 400]`
//
// The AI endpoints' latency as an agent's desk sees it (issue 10's "API p95 for a cached and an
// uncached recommendation against the sandbox"), on a throwaway cluster (fsync off) with the
// migrations pushed and the demo organisation seeded:
// - the book (bench/lib/ai_book.ts), made in bulk as the superuser before any timing: `--cases`
//   open renewal cases across the demo agents, Farah (farah.agent@py360.test) holding `warmup +
//   requests` of them, each with a premium of its own (so no two prompts are the same), varied
//   product lines, frequencies, NCB, due dates and earlier terms, scored by the daily lapse-risk
//   job; the AI settings opened up for the run (rate limit, budgets), the cache window as shipped;
// - the vendor sandbox (sandbox/main.ts) plays OpenAI in a process of its own, with no latency
//   injected; the functions gateway (scripts/gateway.ts) serves every function in another, the
//   assistant switched on and pointed at the sandbox;
// - every request goes through HTTP with Farah's access token, one at a time, so each time is one
//   request's latency. For each of her cases in turn: `GET /api/me` (the reference for a cached
//   answer: the cheapest signed-in round trip through the same gateway), `POST
//   /api/ai/policy-recommendations {case_id}` for a case not asked about before (the model is
//   called), the same request again (within AI_CACHE_SECONDS: served from the cache), then the
//   prompt the sandbox received replayed to the sandbox directly (the reference for an uncached
//   answer: what the model call itself costs), and the same three for `POST
//   /api/ai/risk-assessment`. The first `warmup` cases are untimed.
// Nothing passes or fails on speed. A run fails (its figures would mean nothing) when an uncached
// answer did not come from the model (its `source`, one chat completion received by the sandbox,
// its ai_requests row `ok` from the model) or a cached one did not come from the cache (`source`
// cache, nothing received by the sandbox, its ai_requests row `cached` from the uncached one's),
// or when the cached answer differs from the uncached one.
import { isDeepStrictEqual, parseArgs } from "node:util";
import postgres from "postgres";
import { defaultSandboxCredentials } from "../sandbox/mod.ts";
import { throwawayCluster } from "../scripts/lib/cluster.ts";
import {
  localAuthenticatorUrl,
  localAuthIssuer,
  localJwtSecret,
  userToken,
} from "../scripts/lib/keys.ts";
import { ensureDebianPackages } from "../scripts/lib/packages.ts";
import { freePort } from "../scripts/lib/ports.ts";
import { killAll, spawnDeno, stopAll } from "../scripts/lib/processes.ts";
import { projectRoot } from "../scripts/lib/run.ts";
import {
  applyPlatform,
  applySqlFiles,
  pushMigrations,
  setLocalAuthenticatorPassword,
} from "../scripts/lib/schema.ts";
import { removeOnExitSignals } from "../scripts/lib/signals.ts";
import { type AiBookCase, openAiSettings, prepareAiBook } from "./lib/ai_book.ts";
import { times } from "./lib/load.ts";
import { loadAverage, printMachine } from "./lib/machine.ts";
import { percentile } from "./lib/measure.ts";
import { count, heading, rowPrinter } from "./lib/report.ts";
import { BenchRecorder } from "./lib/results.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "100" },
    warmup: { type: "string", default: "10" },
    cases: { type: "string", default: "400" },
  },
});
const whole = (name: keyof typeof values, least: number) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`--${name} must be a whole number, at least ${least}`);
  }
  return value;
};
const requests = whole("requests", 1);
const warmup = whole("warmup", 0);
const asked = warmup + requests;
const cases = Math.max(whole("cases", 1), asked);

/** The agent whose desk is measured (the demo seed's). */
const agentEmail = "farah.agent@py360.test";
const row = rowPrinter(54);
const started = performance.now();

const recorder = new BenchRecorder(
  "ai",
  "The AI assistant's endpoints against the sandbox (`npm run bench:ai`)",
  { requests, warmup, cases },
  6,
);

/** One request's milliseconds, by what was asked. */
const kinds = [
  "me",
  "recommendations_uncached",
  "recommendations_cached",
  "recommendations_sandbox",
  "risk_uncached",
  "risk_cached",
  "risk_sandbox",
] as const;
type Kind = typeof kinds[number];
const samples = Object.fromEntries(kinds.map((kind) => [kind, [] as number[]])) as Record<
  Kind,
  number[]
>;
/** The ai_requests ids of each uncached answer and of its cached twin, to check afterwards. */
const pairs: { purpose: string; uncached: string; cached: string }[] = [];

await ensureDebianPackages();
recorder.step("the cluster: platform, migrations, seed");
const cluster = await throwawayCluster();
// Removed at the end, or on Ctrl-C / SIGTERM (children first: they hold connections).
const removeCluster = removeOnExitSignals(cluster, killAll);
try {
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  await setLocalAuthenticatorPassword(url);
  await applySqlFiles(url, [`${projectRoot}/seed/00_org.sql`]);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  await printMachine(sql);

  recorder.step("the book");
  const made = performance.now();
  const book = await prepareAiBook(sql, { cases, agentEmail, asked });
  const settings = await openAiSettings(sql);
  console.log(
    `Book: ${count(cases)} open cases, ${count(asked)} of them ${agentEmail}'s, scored, made in ` +
      `${((performance.now() - made) / 1000).toFixed(1)} s; AI_CACHE_SECONDS ` +
      `${settings.cacheSeconds}, model ${settings.model}`,
  );

  recorder.step("the sandbox and the gateway");
  const sandboxPort = freePort();
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const sandbox = spawnDeno("sandbox", "sandbox/main.ts", ["--port", String(sandboxPort)], {});
  const gatewayPort = freePort();
  const functionsUrl = `http://127.0.0.1:${gatewayPort}/functions/v1`;
  const gateway = spawnDeno("gateway", "scripts/gateway.ts", [String(gatewayPort)], {
    FUNCTIONS_DB_URL: localAuthenticatorUrl(url),
    PUBLIC_FUNCTIONS_URL: functionsUrl,
    SUPABASE_JWT_SECRET: localJwtSecret,
    JWT_ISSUER: localAuthIssuer,
    OPENAI_API_KEY: defaultSandboxCredentials.openaiApiKey,
    OPENAI_BASE_URL: `${sandboxUrl}/openai/v1`,
    ENABLE_AI_ASSISTANT: "true",
    LOG_LEVEL: "error",
  });
  try {
    await sandbox.waitFor(/^vendor sandbox on /);
    await gateway.waitFor(/^gateway on /);
    const token = await userToken(book.agent);
    const desk = deskClient(functionsUrl, token);
    const openai = sandboxClient(sandboxUrl);

    /**
     * One case through one endpoint: uncached (the model), cached (the same request again),
     * the sandbox alone on the prompt it received; each checked, and timed when `timed`.
     */
    const askTwice = async (
      path: string,
      purpose: string,
      one: AiBookCase,
      prefix: "recommendations" | "risk",
      timed: boolean,
    ) => {
      const body = { case_id: one.caseId };
      const uncached = await desk.post(path, body);
      const prompts = await openai.received();
      if (uncached.json.source !== "model" || !uncached.json.ai_request_id) {
        throw new Error(
          `${path} for case ${one.n} (never asked before) answered from ` +
            `${uncached.json.source} (${uncached.json.fallback_reason ?? "-"}), not the model`,
        );
      }
      if (prompts.length !== 1) {
        throw new Error(
          `${path} for case ${one.n}: the sandbox received ${prompts.length} chat completions, ` +
            "not one",
        );
      }
      const cached = await desk.post(path, body);
      if (cached.json.source !== "cache" || !cached.json.ai_request_id) {
        throw new Error(
          `${path} for case ${one.n}, asked again: answered from ${cached.json.source} ` +
            `(${cached.json.fallback_reason ?? "-"}), not the cache`,
        );
      }
      const after = await openai.received();
      if (after.length !== 0) {
        throw new Error(`${path} for case ${one.n}, asked again: the sandbox was called`);
      }
      const { source: _s, ai_request_id: _u, ...first } = uncached.json;
      const { source: _t, ai_request_id: _c, ...second } = cached.json;
      if (!isDeepStrictEqual(first, second)) {
        throw new Error(`${path} for case ${one.n}: the cached answer differs from the model's`);
      }
      const direct = await openai.complete(prompts[0]);
      if (timed) {
        samples[`${prefix}_uncached`].push(uncached.ms);
        samples[`${prefix}_cached`].push(cached.ms);
        samples[`${prefix}_sandbox`].push(direct);
      }
      pairs.push({
        purpose,
        uncached: uncached.json.ai_request_id,
        cached: cached.json.ai_request_id,
      });
    };
    const round = async (one: AiBookCase, timed: boolean) => {
      const me = await desk.get("/me");
      if (timed) samples.me.push(me.ms);
      await askTwice(
        "/ai/policy-recommendations",
        "policy_recommendations",
        one,
        "recommendations",
        timed,
      );
      await askTwice("/ai/risk-assessment", "risk_assessment", one, "risk", timed);
    };

    recorder.step("warm-up");
    heading(
      `Through the functions gateway (own process), one request at a time, as ${agentEmail}: ` +
        `${count(warmup)} cases untimed, then ${count(requests)} cases, each asked for its ` +
        "recommendations and its risk assessment twice (uncached, then cached), beside GET " +
        "/api/me and the sandbox's own chat completion of the same prompt",
    );
    for (const one of book.cases.slice(0, warmup)) await round(one, false);
    recorder.step("the timed requests");
    const loadBefore = loadAverage();
    for (const one of book.cases.slice(warmup, asked)) await round(one, true);
    const loadAfter = loadAverage();

    recorder.step("the check");
    const failures = await checkRequests(sql, book.agent.id, pairs);
    if (failures.length > 0) {
      throw new Error(
        `the run is void, ai_requests does not say what the answers said:\n  ${
          failures.join("\n  ")
        }`,
      );
    }
    const [latency] = await sql`
      select percentile_disc(0.5) within group (order by latency_ms) as p50,
             percentile_disc(0.95) within group (order by latency_ms) as p95
        from public.ai_requests
       where id = any(${pairs.slice(2 * warmup).map((p) => p.uncached)}::uuid[])`;
    console.log(
      `Checked: ${count(pairs.length / 2)} cases, each uncached answer from the model (one chat ` +
        "completion received, its ai_requests row ok from the model), each cached one from the " +
        "cache (nothing received, its row cached from the uncached one's), the same answer.",
    );

    const stat = (kind: Kind) => ({
      p50: percentile(samples[kind], 50),
      p95: percentile(samples[kind], 95),
    });
    const text = (kind: Kind) => {
      const { p50, p95 } = stat(kind);
      return `p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`;
    };
    heading(`${count(requests)} of each (load average ${loadBefore} before, ${loadAfter} after):`);
    for (
      const [label, kind] of [
        ["GET /api/me", "me"],
        ["policy recommendations, uncached (the model)", "recommendations_uncached"],
        ["policy recommendations, cached", "recommendations_cached"],
        ["  the sandbox alone, the same prompts", "recommendations_sandbox"],
        ["risk assessment, uncached (the model)", "risk_uncached"],
        ["risk assessment, cached", "risk_cached"],
        ["  the sandbox alone, the same prompts", "risk_sandbox"],
      ] as const
    ) row([label, text(kind)]);
    console.log(
      `The model call as the functions timed it (ai_requests.latency_ms, uncached): p50 ` +
        `${latency.p50} ms, p95 ${latency.p95} ms`,
    );

    const ratio = (ours: Kind, reference: Kind) => stat(ours).p95 / stat(reference).p95;
    const figure = (what: string, ours: Kind, reference: Kind, referenceWhat: string) => {
      recorder.figure({
        what,
        ours: text(ours),
        reference: `${referenceWhat}: ${text(reference)}`,
        ratio: Number(ratio(ours, reference).toFixed(2)),
      });
      console.log(
        `  ${what}: ${times(ratio(ours, reference))} at p95, +${
          added(ours, reference).toFixed(1)
        } ms at p50`,
      );
    };
    /** What our path adds to its reference at p50, in ms. */
    const added = (ours: Kind, reference: Kind) => stat(ours).p50 - stat(reference).p50;
    heading("Ours against the reference (p95 over p95; what ours adds at p50):");
    figure(
      "POST /api/ai/policy-recommendations, uncached (the model called)",
      "recommendations_uncached",
      "recommendations_sandbox",
      "the sandbox's chat completion of the same prompts, direct",
    );
    figure(
      "POST /api/ai/policy-recommendations, cached (the same request again)",
      "recommendations_cached",
      "me",
      "GET /api/me, same gateway",
    );
    figure(
      "POST /api/ai/risk-assessment, uncached (the model called)",
      "risk_uncached",
      "risk_sandbox",
      "the sandbox's chat completion of the same prompts, direct",
    );
    figure(
      "POST /api/ai/risk-assessment, cached (the same request again)",
      "risk_cached",
      "me",
      "GET /api/me, same gateway",
    );
    recorder.note(
      `One request at a time through the functions gateway (its own process) with an agent's ` +
        `token, ${count(requests)} cases after ${count(warmup)} untimed, each asked twice per ` +
        "endpoint: uncached (a case never asked about, so the model is called), then cached (the " +
        "same request within AI_CACHE_SECONDS). The sandbox plays OpenAI in its own process with " +
        "no latency injected: a real model's seconds come on top of the uncached figures.",
    );
    recorder.note(
      `The uncached reference replays to the sandbox the very prompt it received; the model ` +
        `call as the functions timed it took p50 ${latency.p50} ms, p95 ${latency.p95} ms ` +
        "(ai_requests.latency_ms). The cached reference is the cheapest signed-in round trip: a " +
        "cached answer still reads the case's facts as the caller (RLS), builds and hashes the " +
        "prompt, and looks the cache up and records the hit under the caller's rate-limit lock.",
    );
    recorder.note(
      "What our path adds at p50: policy recommendations " +
        `${added("recommendations_uncached", "recommendations_sandbox").toFixed(1)} ms over ` +
        `the model call uncached, ${added("recommendations_cached", "me").toFixed(1)} ms over ` +
        `GET /api/me cached; risk assessment ` +
        `${added("risk_uncached", "risk_sandbox").toFixed(1)} ms and ` +
        `${added("risk_cached", "me").toFixed(1)} ms.`,
    );
    recorder.note(
      "The run is void, and fails, if an uncached answer did not come from the model (source, " +
        "one chat completion received, its ai_requests row ok) or a cached one did not come " +
        "from the cache (source, nothing received, its row cached from the uncached one's), or " +
        "the two answers differ.",
    );
    recorder.note(`Load average ${loadBefore} before the timed requests, ${loadAfter} after.`);
    console.log(
      `(the whole run took ${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  } finally {
    await gateway.stop();
    await sandbox.stop();
  }
  await sql.end();
  await recorder.save();
} finally {
  await stopAll();
  await removeCluster();
}

/** The desk's HTTP client: the API through the gateway with the agent's token, timed. */
function deskClient(functionsUrl: string, token: string) {
  const send = async (method: string, path: string, body?: unknown) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const from = performance.now();
    const response = await fetch(`${functionsUrl}/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(payload === undefined ? {} : { "content-type": "application/json" }),
      },
      body: payload,
    });
    const text = await response.text();
    const ms = performance.now() - from;
    if (response.status !== 200) {
      throw new Error(`${method} /api${path}: ${response.status} ${text.slice(0, 500)}`);
    }
    return { ms, json: JSON.parse(text) };
  };
  return {
    get: (path: string) => send("GET", path),
    post: (path: string, body: unknown) => send("POST", path, body),
  };
}

/**
 * The sandbox's OpenAI seen from outside: the chat completions it received since the last look
 * (then forgotten, by the sandbox's reset), and one chat completion asked directly, timed.
 */
function sandboxClient(sandboxUrl: string) {
  const key = defaultSandboxCredentials.openaiApiKey;
  return {
    async received(): Promise<Record<string, unknown>[]> {
      const response = await fetch(`${sandboxUrl}/_inspect/openai/requests`);
      if (response.status !== 200) throw new Error(`sandbox inspect: ${response.status}`);
      const records: { params: Record<string, unknown> }[] = await response.json();
      const reset = await fetch(`${sandboxUrl}/_control/reset`, { method: "POST", body: "{}" });
      if (reset.status !== 200) throw new Error(`sandbox reset: ${reset.status}`);
      await reset.body?.cancel();
      return records.map((record) => record.params);
    },
    async complete(params: Record<string, unknown>): Promise<number> {
      const payload = JSON.stringify(params);
      const from = performance.now();
      const response = await fetch(`${sandboxUrl}/openai/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: payload,
      });
      const text = await response.text();
      const ms = performance.now() - from;
      if (response.status !== 200) {
        throw new Error(`the sandbox's chat completion: ${response.status} ${text.slice(0, 300)}`);
      }
      const reset = await fetch(`${sandboxUrl}/_control/reset`, { method: "POST", body: "{}" });
      await reset.body?.cancel();
      return ms;
    },
  };
}

/**
 * What ai_requests says of each pair: the uncached answer's row `ok`, from the model, one attempt,
 * by the agent, for its purpose; the cached one's `cached`, from the cache, pointing at the
 * uncached row. Returns one line per disagreement (empty when all agree).
 */
async function checkRequests(
  sql: postgres.Sql,
  caller: string,
  pairs: { purpose: string; uncached: string; cached: string }[],
): Promise<string[]> {
  const rows = await sql<
    {
      id: string;
      purpose: string;
      outcome: string;
      source: string | null;
      attempts: number;
      caller: string;
      cached_from: string | null;
    }[]
  >`
    select id, purpose::text, outcome::text, source, attempts, caller, cached_from
      from public.ai_requests
     where id = any(${pairs.flatMap((p) => [p.uncached, p.cached])}::uuid[])`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const failures: string[] = [];
  for (const pair of pairs) {
    const uncached = byId.get(pair.uncached);
    const cached = byId.get(pair.cached);
    if (
      !uncached || uncached.outcome !== "ok" || uncached.source !== "model" ||
      uncached.attempts !== 1 || uncached.caller !== caller || uncached.purpose !== pair.purpose
    ) {
      failures.push(`uncached ${pair.purpose} ${pair.uncached}: ${JSON.stringify(uncached)}`);
    }
    if (
      !cached || cached.outcome !== "cached" || cached.source !== "cache" ||
      cached.cached_from !== pair.uncached || cached.caller !== caller ||
      cached.purpose !== pair.purpose
    ) {
      failures.push(`cached ${pair.purpose} ${pair.cached}: ${JSON.stringify(cached)}`);
    }
  }
  const [{ others }] = await sql`
    select count(*)::int as others from public.ai_requests
     where not (id = any(${pairs.flatMap((p) => [p.uncached, p.cached])}::uuid[]))`;
  if (others !== 0) failures.push(`${others} ai_requests rows no measured answer made`);
  return failures.slice(0, 20);
}
