// `npm run bench:campaigns -- [--recipients 100000] [--runs 3] [--out-of-scope 10]
//   [--spread-rate 20000] [--same-session 8] [--same-session-timeout 60] [--profile]
//   [--plans FILE]`
//
// Launching a campaign, on a throwaway cluster (fsync off) with the migrations pushed and the
// demo organisation seeded (seed/00_org.sql). Beside it, in the same run, the reference: a
// plain INSERT ... SELECT of the rows the launch wrote. Nothing passes or fails on speed; a run
// whose launch did not write one message and one recipient per customer of its audience, or
// whose reference did not write as many, fails, since its ratio would mean nothing.
//
// - The book (bench/lib/campaign_book.ts): `recipients` customers with one open renewal case
//   each in the North zone, `out-of-scope` percent more in the South zone (left out by the
//   scope); 2 % without a phone, 1 % who replied STOP on WhatsApp, 8 % more without WhatsApp
//   opt-in: the gate blocks about 11 %, and the blocked messages are written too (status
//   blocked, with the reason). Two WhatsApp utility templates (the A/B variants), each in
//   English and Hindi (30 % of customers are Hindi speakers).
// - The campaign: the North zone manager's, created through the tables under RLS as that user:
//   WhatsApp, service, variants A/B 50/50, an audience filter on the expiry range (every case of
//   the book matches it), spread at `spread-rate` an hour (0: not spread). Gate settings: the
//   migrations' defaults (MESSAGE_FREQUENCY_CAPS service 3 a day: on the empty outbox each run
//   starts from, one message per customer is never capped; quiet hours 21:00-08:00 IST, as_of
//   being noon IST tomorrow).
// - Each run, on a new session and on fresh state (public.messages and
//   public.campaign_recipients truncated and analyzed empty, then a CHECKPOINT, before each
//   timed step; autovacuum is off for those two, see bench/lib/campaign_runs.ts), a new
//   campaign:
//   1. private.preview_campaign(id, as_of) as the manager (the launch in a subtransaction,
//      rolled back), then
//   2. private.launch_campaign(id, as_of) with the manager's claims (the clock-taking form is the
//      owner's), in its own transaction, committed;
//      its messages and recipients are copied aside (untimed), the two tables truncated, and
//   3. the reference, in one transaction, committed: `insert into public.messages (<the 22
//      columns the gate's insert fills, and campaign_id>) select ... from` the copy of the
//      launch's messages (rendered bodies, recipients' addresses, statuses, blocked reasons,
//      deferral, next_attempt_at, costs, template snapshots, keys), then `insert into
//      public.campaign_recipients (campaign_id, customer_id, case_id, variant_id, message_id,
//      due_at, state, next_at) select ...` from the copy of its recipients joined to the new
//      messages by idempotency key. The same rows into the same empty tables with the same
//      indexes and triggers, without the audience query, the rendering, the gate's rules and
//      the launch's bookkeeping (the campaign_id update, the counts).
//   Times are wall clock from BEGIN to COMMIT on the run's session (the launch's and the
//   reference's), as the API's transaction would see them, and beside them the CPU time of that
//   session's backend (read from /proc: the cluster is local), which waiting for a core on a
//   shared machine does not inflate. The goal is judged on the wall clock. The first run is a
//   warm-up, printed but left out of the medians.
// - The launch and the reference run under the cluster's JIT setting (printed; the batch
//   functions turn it off for themselves). The API gives a preview or a launch a 120 s statement
//   timeout; the bench sets none, and says whether they would fit.
// - `--same-session N` (8; 0 skips it): N launches in one session, as a long-lived pooled
//   connection would run them, of a campaign over the cases due in the book's first six days
//   (a tenth): from the sixth call of a PL/pgSQL function in a session Postgres may keep a
//   generic plan of its statements, made without the arrays' sizes; each is cancelled after
//   `--same-session-timeout` seconds (60). The timed runs each start a new session.
// - `--profile`: after the timed runs, on fresh state each: a launch and its reference with
//   `jit = off`; a launch with track_functions = all (functions by self time, per message); a
//   launch under auto_explain (analyze, nested statements of 10 ms or more, per-node timing and
//   triggers: slower) with its statements by duration, the time of the triggers (foreign-key
//   checks) and of JIT in each. `--plans FILE` writes those plans out.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { throwawayCluster } from "../scripts/lib/cluster.ts";
import { ensureDebianPackages } from "../scripts/lib/packages.ts";
import { projectRoot } from "../scripts/lib/run.ts";
import { applyPlatform, applySqlFiles, pushMigrations } from "../scripts/lib/schema.ts";
import { removeOnExitSignals } from "../scripts/lib/signals.ts";
import { prepareCampaignBook, variantTemplates, zoneManager } from "./lib/campaign_book.ts";
import { CampaignBench, type RunResult, type Timing } from "./lib/campaign_runs.ts";
import { perSecond, times } from "./lib/load.ts";
import { loadAverage, printMachine } from "./lib/machine.ts";
import { percentile } from "./lib/measure.ts";
import { count, heading, rowPrinter } from "./lib/report.ts";
import { BenchRecorder } from "./lib/results.ts";

/** One line of figures: a label, then right-aligned cells. */
const row = rowPrinter(50);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    recipients: { type: "string", default: "100000" },
    runs: { type: "string", default: "3" },
    "out-of-scope": { type: "string", default: "10" },
    "spread-rate": { type: "string", default: "20000" },
    "same-session": { type: "string", default: "8" },
    "same-session-timeout": { type: "string", default: "60" },
    profile: { type: "boolean", default: false },
    plans: { type: "string" },
  },
});
const whole = (name: keyof typeof values, least: number) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`--${name} must be a whole number, at least ${least}`);
  }
  return value;
};
const recipients = whole("recipients", 1);
const runs = whole("runs", 1);
const outOfScopePercent = whole("out-of-scope", 0);
const spreadRate = whole("spread-rate", 0);
const sameSessionLaunches = whole("same-session", 0);
const sameSessionTimeout = whole("same-session-timeout", 1);

/** The issue's goal: the launch at most this many times the plain INSERT ... SELECT. */
const goalRatio = 3;
/** The statement timeout the API gives a preview or a launch (functions/api/campaigns/
 * handlers.ts, CAMPAIGN_STATEMENT_TIMEOUT; the desk's other requests have Supabase's 8 s). */
const apiTimeoutSeconds = 120;
const started = performance.now();

// For the suite (bench/suite.ts): a step per phase, a figure per row printed; the goal is issue
// 9's.
const recorder = new BenchRecorder(
  "campaigns",
  "Campaign launches",
  {
    recipients,
    runs,
    "out of scope %": outOfScopePercent,
    "spread rate per hour": spreadRate,
    "same-session launches": sameSessionLaunches,
    ...(values.profile ? { profile: "yes" } : {}),
  },
  2 + (runs + 1) + (sameSessionLaunches > 0 ? 1 : 0) + (values.profile ? 1 : 0),
);
recorder.step("a throwaway cluster, the migrations, the seed");
await ensureDebianPackages();
const cluster = await throwawayCluster();
const removeCluster = removeOnExitSignals(cluster);
try {
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  await applySqlFiles(url, [`${projectRoot}/seed/00_org.sql`]);
  // The setup's session; the timed steps have their own (CampaignBench).
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await printMachine(sql);
  const [jit] = await sql`
    select current_setting('jit') as jit, current_setting('jit_above_cost') as above,
           current_setting('jit_inline_above_cost') as inline,
           current_setting('jit_optimize_above_cost') as optimize`;
  console.log(
    `JIT: ${jit.jit} (jit_above_cost ${jit.above}, inline ${jit.inline}, optimize ` +
      `${jit.optimize}), as a hosted Postgres 15 has it unless said otherwise`,
  );

  const [{ today, as_of: asOf }] = await sql`
    select private.business_date(now())::text as today,
           (((private.business_date(now()) + 1) + time '12:00') at time zone 'Asia/Kolkata')::text
             as as_of`;
  const outOfScope = Math.round((recipients * outOfScopePercent) / 100);
  recorder.step("the book");
  const made = performance.now();
  const book = await prepareCampaignBook(sql, { inScope: recipients, outOfScope, today });
  console.log(
    `Book: ${count(recipients)} customers with an open case in the ${zoneManager.zoneCode} ` +
      `zone and ${count(outOfScope)} in another, cases due ${book.dueFrom} to ${book.dueTo}, ` +
      `made in ${((performance.now() - made) / 1000).toFixed(1)} s; the gate should block ` +
      `${JSON.stringify(book.expectedBlocked)}`,
  );
  const settings = await sql`
    select key, value::text from public.app_settings
     where key in ('MESSAGE_FREQUENCY_CAPS', 'QUIET_HOURS', 'PROMOTIONAL_HOURS') order by key`;
  console.log(`Gate settings (defaults): ${settings.map((s) => `${s.key} ${s.value}`).join("; ")}`);
  console.log(
    `Campaign: WhatsApp, service, A/B 50/50 (${Object.values(variantTemplates).join(", ")}), ` +
      `${spreadRate > 0 ? `spread at ${count(spreadRate)} an hour` : "not spread"}, as_of ${asOf}`,
  );

  const bench = new CampaignBench(url, book, asOf, spreadRate);
  heading(
    `${runs + 1} runs (the first a warm-up), each on an empty outbox: preview, launch, reference ` +
      "(wall-clock seconds, BEGIN to COMMIT; in brackets the backend's CPU seconds)",
  );
  const results: RunResult[] = [];
  for (let run = 0; run <= runs; run++) {
    recorder.step(run === 0 ? "warm-up run" : `run ${run} of ${runs}: preview, launch, reference`);
    const result = await bench.run(run);
    printRun(run === 0 ? "warm-up" : `run ${run}`, result);
    if (run > 0) results.push(result);
  }
  const loadAtEnd = loadAverage();

  const median = (pick: (r: RunResult) => number) => percentile(results.map(pick), 50);
  const launch = median((r) => r.launch.seconds);
  const reference = median((r) => r.reference.seconds);
  const preview = median((r) => r.preview.seconds);
  const ratio = median((r) => r.launch.seconds / r.reference.seconds);
  const cpuRatio = median((r) => r.launch.cpu / r.reference.cpu);
  const last = results[results.length - 1];
  heading(`Medians of ${results.length} runs (load average ${loadAtEnd} at the end):`);
  const cpu = (pick: (r: RunResult) => number) => `(CPU ${median(pick).toFixed(2)} s)`;
  row([
    "launch: private.launch_campaign, the manager's claims",
    `${launch.toFixed(2)} s`,
    cpu((r) => r.launch.cpu),
    perSecond(recipients / launch),
  ]);
  row([
    "reference: INSERT ... SELECT messages + recipients",
    `${reference.toFixed(2)} s`,
    cpu((r) => r.reference.cpu),
    perSecond(recipients / reference),
  ]);
  row([
    "preview: private.preview_campaign (rolled back)",
    `${preview.toFixed(2)} s`,
    cpu((r) => r.preview.cpu),
    perSecond(recipients / preview),
  ]);
  console.log(
    `launch / reference: ${times(ratio)} wall clock, ${times(cpuRatio)} CPU (medians of the ` +
      `runs' ratios); goal <= ${goalRatio}x: ${
        ratio <= goalRatio ? "meets" : "MISSES"
      }; preview / launch ${times(preview / launch)}`,
  );
  console.log(
    `Each launch: ${count(last.counts.audience)} in the audience, ${count(last.counts.created)} ` +
      `messages created (${count(last.counts.queued)} queued, ${count(last.counts.deferred)} of ` +
      `them for later by the spread; ${count(last.counts.blocked)} blocked ` +
      `${JSON.stringify(last.counts.blocked_reasons)}), ${count(last.recipients)} recipients ` +
      `(A ${count(last.variants.A ?? 0)}, B ${count(last.variants.B ?? 0)}); estimated cost Rs ${
        (Number(last.counts.estimated_cost_paise) / 100).toLocaleString("en-IN")
      }. Preview numbers equal: ${results.every((r) => r.previewEqual) ? "yes" : "NO"}.`,
  );
  console.log(
    `Through the API (POST /api/campaigns/{id}/launch) the manager's transaction has a ` +
      `${apiTimeoutSeconds} s statement timeout: a launch of ${launch.toFixed(1)} s ${
        launch <= apiTimeoutSeconds ? "fits in it" : "would be CANCELLED"
      }; the preview (${preview.toFixed(1)} s) ${
        preview <= apiTimeoutSeconds ? "fits" : "would be CANCELLED too"
      }.`,
  );

  const ratios = results.map((r) => r.launch.seconds / r.reference.seconds);
  const plainInsert = `plain INSERT ... SELECT of the same messages and recipients: ` +
    `${reference.toFixed(2)} s (${perSecond(recipients / reference)})`;
  recorder.figure({
    what: `launch of a ${count(recipients)}-recipient WhatsApp A/B campaign by a zone manager ` +
      `(private.launch_campaign), median of ${results.length} runs`,
    ours: `${launch.toFixed(2)} s (${perSecond(recipients / launch)})`,
    reference: plainInsert,
    ratio,
    goal: `≤ ${goalRatio}×`,
    met: ratio <= goalRatio,
  });
  recorder.figure({
    what: "its preview (the launch, rolled back)",
    ours: `${preview.toFixed(2)} s`,
    reference: plainInsert,
    ratio: preview / reference,
  });
  recorder.note(
    `Ratios are time over time. The runs' launch / reference: ${
      ratios.map((r) => times(r)).join(", ")
    } (wall clock), ${times(cpuRatio)} in CPU time (median). Through the API the launch has a ` +
      `${apiTimeoutSeconds} s statement timeout: ${launch.toFixed(1)} s ${
        launch <= apiTimeoutSeconds ? "fits" : "would be cancelled"
      }.`,
  );

  if (sameSessionLaunches > 0) {
    recorder.step(`${sameSessionLaunches} launches in one session`);
    await sameSession(bench, sameSessionLaunches, sameSessionTimeout, recorder);
  }
  if (values.profile) {
    recorder.step("profile");
    await profile(bench, values.plans);
  }

  heading("README rows (the campaigns' table):");
  console.log(
    `| launch of a ${count(recipients)}-recipient WhatsApp A/B campaign by a zone manager ` +
      `(private.launch_campaign: audience, gate, messages, recipients) | ${launch.toFixed(1)} s ` +
      `(${perSecond(recipients / launch)}) | plain INSERT ... SELECT of the same messages and ` +
      `recipients: ${reference.toFixed(1)} s (${perSecond(recipients / reference)}) | ` +
      `${times(ratio)} | <= ${goalRatio}x: ${ratio <= goalRatio ? "meets" : "misses"} |`,
  );
  console.log(
    `| its preview (the launch rolled back) | ${preview.toFixed(1)} s | | ` +
      `${times(preview / reference)} | for information |`,
  );
  console.log(
    `(load average ${loadAtEnd} at the end; the whole run took ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s)`,
  );
  await sql.end();
  await recorder.save();
} finally {
  await removeCluster();
}

/**
 * Launches in one session (see CampaignBench.sameSession) of campaigns narrowed to the cases due
 * in the book's first six days (a tenth of it), printed one by one, with the verdict: do the
 * launches after the fifth (generic plans) take about as long as the first five?
 */
async function sameSession(
  bench: CampaignBench,
  launches: number,
  timeoutSeconds: number,
  recorder: BenchRecorder,
) {
  const dueTo = new Date(Date.parse(`${bench.book.dueFrom}T00:00:00Z`) + 5 * 86_400_000)
    .toISOString().slice(0, 10);
  const { seconds, recipients } = await bench.sameSession(launches, dueTo, timeoutSeconds);
  heading(
    `${launches} launches in one session (Postgres may switch a function's statements to ` +
      `generic plans from the 6th call), each a new campaign over the cases due ` +
      `${bench.book.dueFrom} to ${dueTo} (${count(recipients)} recipients), cancelled after ` +
      `${timeoutSeconds} s:`,
  );
  console.log(
    `  ${seconds.map((s) => (Number.isNaN(s) ? `>${timeoutSeconds}` : s.toFixed(2))).join("  ")} s`,
  );
  const first = percentile(seconds.slice(0, 5), 50);
  const later = seconds.slice(5);
  if (later.length === 0) return;
  const worst = later.some(Number.isNaN) ? Infinity : Math.max(...later);
  recorder.figure({
    what: `${launches} launches in one session (generic plans possible from the 6th), ` +
      `${count(recipients)} recipients each: the slowest after the 5th`,
    ours: Number.isFinite(worst) ? `${worst.toFixed(2)} s` : `over ${timeoutSeconds} s (cancelled)`,
    reference: `the median of the first five: ${first.toFixed(2)} s`,
    ratio: Number.isFinite(worst) ? worst / first : undefined,
  });
  console.log(
    `  after the 5th, the slowest ${
      Number.isFinite(worst) ? times(worst / first) : `over ${times(timeoutSeconds / first)}`
    } the median of the first five: ${
      worst <= 2 * first ? "steady" : "SLOWER: a generic plan the arrays' real sizes would not pick"
    }`,
  );
}

/** The profile: JIT off, function statistics, auto_explain (see the header). */
async function profile(bench: CampaignBench, plansFile: string | undefined) {
  const n = bench.book.inScope;
  heading("Profile (each on an empty outbox, after the timed runs)");

  const jitOff = await bench.run(99, true);
  printRun("jit = off", jitOff);

  // Function statistics of the launch's own transaction.
  await bench.freshState();
  const id = await bench.newCampaign("Bench campaign (track_functions)");
  let functions: postgres.Row[] = [];
  await bench.sql`set track_functions = 'all'`;
  const tracked = await bench.launch(id, {
    inspect: async (tx: postgres.TransactionSql) => {
      functions = await tx`
          select schemaname || '.' || funcname as name, calls::int, total_time, self_time
            from pg_stat_xact_user_functions order by self_time desc limit 15`;
    },
  });
  await bench.sql`reset track_functions`;
  heading(
    `Functions in one launch with track_functions = all (${
      tracked.timing.seconds.toFixed(2)
    } s), by ` +
      `self time; ms in all, and µs per message (${count(n)} messages):`,
  );
  console.log(
    `  ${"function".padEnd(46)} ${"calls".padStart(8)} ${"total ms".padStart(10)} ` +
      `${"self ms".padStart(10)} ${"self µs/msg".padStart(12)}`,
  );
  for (const f of functions) {
    console.log(
      `  ${String(f.name).padEnd(46)} ${String(f.calls).padStart(8)} ${
        f.total_time.toFixed(1).padStart(10)
      } ${f.self_time.toFixed(1).padStart(10)} ${
        ((f.self_time * 1000) / n).toFixed(2).padStart(12)
      }`,
    );
  }

  // Every statement of one launch under auto_explain.
  const plans: { ms: number; jitMs: number; triggerMs: number; text: string; plan: string }[] = [];
  const explained = postgres(bench.url, {
    max: 1,
    onnotice: (notice) => {
      const message = String(notice.message ?? "");
      const ms = Number(message.match(/^duration: ([0-9.]+) ms/)?.[1]);
      if (!Number.isFinite(ms)) return;
      const lines = message.split("\n");
      const from = lines.findIndex((line) => line.startsWith("Query Text:"));
      const planAt = lines.findIndex((line, i) => i > from && line.includes("(cost="));
      const text = lines.slice(from, planAt < 0 ? undefined : planAt).join(" ")
        .replace(/^Query Text:/, "").replace(/\s+/g, " ").trim();
      const jitMs = Number(message.match(/Timing: .*Total ([0-9.]+) ms/)?.[1] ?? 0);
      // "Trigger for constraint messages_customer_id_fkey: time=12.345 calls=10000" (the
      // foreign-key checks and triggers the statement fired, not part of its plan's nodes).
      const triggerMs = [...message.matchAll(/^Trigger .*: time=([0-9.]+) calls=/gm)]
        .reduce((sum, m) => sum + Number(m[1]), 0);
      plans.push({ ms, jitMs, triggerMs, text, plan: message });
    },
  });
  let explainedSeconds = 0;
  try {
    await bench.freshState(explained);
    const id = await bench.newCampaign("Bench campaign (auto_explain)");
    await explained`load 'auto_explain'`;
    // Statements of 10 ms or more: the launch's own, not the per-row ones inside functions and
    // foreign-key checks (at 100,000 recipients, millions of plans).
    await explained`set auto_explain.log_min_duration = 10`;
    await explained`set auto_explain.log_triggers = on`;
    await explained`set auto_explain.log_analyze = on`;
    await explained`set auto_explain.log_timing = on`;
    await explained`set auto_explain.log_nested_statements = on`;
    await explained`set auto_explain.log_level = notice`;
    explainedSeconds = (await bench.launch(id, { on: explained })).timing.seconds;
  } finally {
    await explained.end();
  }
  // Nested statements are logged with their callers: a call's duration includes theirs.
  const top = [...plans].sort((a, b) => b.ms - a.ms).slice(0, 15);
  const jitTotal = plans.reduce((sum, p) => sum + p.jitMs, 0);
  heading(
    `Statements of one launch under auto_explain (analyze with per-node timing: ` +
      `${explainedSeconds.toFixed(2)} s in all), slowest first, a call including the ` +
      "statements it runs; ms, µs per message, of which in triggers (foreign-key checks), JIT ms:",
  );
  for (const p of top) {
    console.log(
      `  ${p.ms.toFixed(1).padStart(9)} ms ${((p.ms * 1000) / n).toFixed(1).padStart(8)} µs ` +
        `triggers ${p.triggerMs.toFixed(0).padStart(6)} ms  jit ${
          p.jitMs.toFixed(0).padStart(6)
        }  ` +
        p.text.slice(0, 90),
    );
  }
  console.log(
    `  (JIT compilation summed over every plan logged: ${jitTotal.toFixed(0)} ms)`,
  );
  if (plansFile) {
    await Deno.writeTextFile(
      plansFile,
      plans.sort((a, b) => b.ms - a.ms).map((p) => p.plan).join("\n\n---\n\n"),
    );
    console.log(`  (all ${plans.length} plans written to ${plansFile})`);
  }
}

/** One run's line. */
function printRun(label: string, r: RunResult) {
  row([
    label,
    `preview ${seconds(r.preview)}`,
    `launch ${seconds(r.launch)}`,
    `reference ${seconds(r.reference)}`,
    `launch / reference ${times(r.launch.seconds / r.reference.seconds)} (${
      times(r.launch.cpu / r.reference.cpu)
    })`,
  ]);
}

/** A step's wall-clock seconds and, in brackets, its backend's CPU seconds. */
function seconds(t: Timing) {
  return `${t.seconds.toFixed(2)} s (${t.cpu.toFixed(2)})`;
}
