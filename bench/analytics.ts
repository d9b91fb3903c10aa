// `npm run bench:analytics -- [--policies 1000000] [--seed 1] [--per-day N] [--runs 3]
//                              [--db-url URL] [--clean] [--shared-buffers 1GB]`
//
// The analytics facts (issue 11) on a fresh synthetic book of `--policies` policies, on a
// throwaway cluster of its own (fsync off, 1 GB of shared buffers as bench/lib/book_cluster.ts
// says why, pg_cron's scheduler idle): the book with its history
// (scripts/lib/big_book.ts), the daily jobs' first run opening its cases, their activity as of
// now, as `npm run seed:big -- --open-cases` makes it; then every fact built once
// (private.rebuild_analytics(null, null)), timed. `--db-url URL` runs on a kept database holding
// such a book instead (the dev database's, port 54322: `npm run seed:big -- --policies 1000000
// --open-cases`), whose facts are already built; then:
//  1. a month of messages: the book's own, topped up to `--per-day` messages on each of the last
//     30 IST days (default: the reminders such a book sends, a twelfth of its policies renewing
//     each month with the cadence's reminder rules per case, spread over 30 days). The added
//     messages carry idempotency keys `bench-analytics:...` and stay for the next run (`--clean`
//     deletes them and rebuilds the facts of those days at the end); then the month's facts are
//     rebuilt (private.rebuild_analytics over 30 days), timed once;
//  2. refreshing one day's facts, `--runs` times: private.rebuild_analytics(yesterday, yesterday)
//     (message and latency facts by hour and day, activity facts, the cohorts due that day and
//     every rollup), and the 5-minute job private.refresh_analytics() (three days of messages,
//     two of activity, the cohorts of the cases changed since its last run); each beside the
//     reference measured just before it: a plain count(*) ... group by channel, provider and
//     status over the same day's messages. Wall clock, and in brackets the cluster's CPU seconds
//     (parallel workers included). The goal: at most 10 s for a day. The nightly pass
//     (private.refresh_analytics_nightly: 8 days, older last touches, pruning) twice: catching up,
//     then steady;
//  3. `GET /api/hierarchy/{nodeId}/performance` for a zone over 90 days, through the api app
//     in-process with an admin's token: p50 / p95 of 200 requests after 20 untimed, beside a
//     `GET /api/me` in the same loop. The goal: p95 at most 50 ms. On a kept database other
//     than the dev database this is skipped (the functions' environment is the dev stack's).
// The bench holds the refresh's advisory lock for its whole run, so pg_cron's 5-minute refresh
// skips rather than running beside the timings (on a kept database, where the scheduler runs).
// Nothing passes or fails on the figures. Under the suite (bench/suite.ts) they are also handed
// over (bench/lib/results.ts); the goals, set for the 1,000,000-policy book, are judged only on a
// run over that book.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { addCaseActivity, loadBigBook } from "../scripts/lib/big_book.ts";
import { type Cluster, devCluster } from "../scripts/lib/cluster.ts";
import { functionsEnv } from "../scripts/lib/dev.ts";
import { userToken } from "../scripts/lib/keys.ts";
import { setLocalAuthenticatorPassword } from "../scripts/lib/schema.ts";
import {
  atGoalBook,
  bookSharedBuffers,
  judgedAtGoalBook,
  startBookCluster,
} from "./lib/book_cluster.ts";
import { clusterCpuSeconds } from "./lib/cluster_cpu.ts";
import { times } from "./lib/load.ts";
import { loadAverage, printMachine } from "./lib/machine.ts";
import { percentile } from "./lib/measure.ts";
import { count, heading, rowPrinter } from "./lib/report.ts";
import { BenchRecorder } from "./lib/results.ts";
import { topUpMessages } from "./lib/analytics_messages.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    policies: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    "per-day": { type: "string" },
    runs: { type: "string", default: "3" },
    "db-url": { type: "string" },
    clean: { type: "boolean", default: false },
    "shared-buffers": { type: "string", default: bookSharedBuffers },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a whole number ≥ 1");
const policiesAsked = Number(values.policies);
const seed = Number(values.seed);
if (!Number.isInteger(policiesAsked) || policiesAsked < 100) {
  throw new Error("--policies must be a whole number ≥ 100");
}
if (!Number.isInteger(seed) || seed < 0) throw new Error("--seed must be a whole number ≥ 0");
const kept = values["db-url"];

/** The goals: a day's facts refreshed in 10 s; a zone's 90 days answered in 50 ms (p95). */
const goalSeconds = 10;
const goalMs = 50;
const monthDays = 30;
const row = rowPrinter(50);
const seconds = (s: number) => `${s.toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const ratioOf = (value: number) => Number(value.toFixed(2));

const recorder = new BenchRecorder(
  "analytics",
  "Analytics: a day's facts over a month of messages, the nightly pass, a zone's performance",
  kept
    ? {
      "kept database": "yes",
      runs,
      ...(values["per-day"] ? { "per day": values["per-day"] } : {}),
    }
    : {
      policies: policiesAsked,
      seed,
      runs,
      ...(values["per-day"] ? { "per day": values["per-day"] } : {}),
      "shared buffers": values["shared-buffers"],
    },
  kept ? 5 : 6,
);

/** The cluster (for its CPU time and the API's environment): our own, or the dev database. */
let cluster: Cluster | undefined;
/** Removes our own throwaway cluster; nothing for a kept database. */
let removeCluster = () => Promise.resolve();
/** The bench's own admin on its own cluster, for the API section. */
let ownAdmin: { id: string; email: string } | undefined;
let url: string;
if (kept) {
  url = kept;
  const dev = await devCluster();
  if (url === dev.url()) cluster = dev;
} else {
  recorder.step("a fresh book on a throwaway cluster");
  const own = await startBookCluster(values["shared-buffers"]);
  ({ cluster, url, remove: removeCluster } = own);
  try {
    ownAdmin = await freshBook(url);
  } catch (error) {
    await removeCluster();
    throw error;
  }
}
const sql = postgres(url, { max: 1, onnotice: () => {} });

/** Wall clock and (for a local cluster) the cluster's CPU seconds of `work`. */
async function timed<T>(work: () => Promise<T>): Promise<{ wall: number; cpu: number; result: T }> {
  const cpuBefore = cluster ? await clusterCpuSeconds(cluster.dataDir) : NaN;
  const from = performance.now();
  const result = await work();
  const wall = (performance.now() - from) / 1000;
  const cpu = cluster ? (await clusterCpuSeconds(cluster.dataDir)) - cpuBefore : NaN;
  return { wall, cpu, result };
}
const cpuText = (cpu: number) => Number.isNaN(cpu) ? "" : `(${seconds(cpu)})`;

try {
  if (kept) {
    const [{ version }] = await sql`select current_setting('server_version') as version`;
    console.log(
      `Machine: ${navigator.hardwareConcurrency} cores, Postgres ${version} (a kept database, ` +
        `fsync as it is set there); load average at start ${loadAverage()}`,
    );
  }
  const [book] = await sql`
    select coalesce((select max(b.policies) from simulation.books b), 0)::int as policies,
           (select count(*)::int from public.renewal_cases) as cases,
           (select count(*)::int from public.hierarchy_nodes) as nodes,
           (select count(*)::int from public.profiles where role = 'agent') as agents`;
  if (book.policies < 1 || book.cases < 1) {
    throw new Error(
      "The database holds no synthetic book with open cases. Load one: " +
        "npm run seed:big -- --policies 1000000 --open-cases",
    );
  }
  /** The book the goals are judged on: ours, or the kept database's largest. */
  const policies: number = kept ? book.policies : policiesAsked;
  console.log(
    `Book: ${count(book.policies)} policies, ${count(book.cases)} cases, ` +
      `${count(book.agents)} agents, ${count(book.nodes)} hierarchy nodes`,
  );

  // pg_cron's refresh skips while we hold its lock (it waits for one already running).
  await sql`select pg_advisory_lock(hashtext('py360.refresh_analytics'))`;

  // 1. A month of messages, and the month's facts.
  recorder.step("a month of messages");
  const [{ rules }] = await sql`
    select coalesce(round(avg(n)), 10)::int as rules
      from (select count(*) as n from public.reminder_rules group by product_line) r`;
  const perDay = values["per-day"]
    ? Number(values["per-day"])
    : Math.round((book.policies / 12) * rules / monthDays);
  if (!Number.isInteger(perDay) || perDay < 1) throw new Error("--per-day must be ≥ 1");
  heading(
    `A month of messages: at least ${count(perDay)} queued on each of the last ${monthDays} IST ` +
      `days (${count(book.policies)} policies / 12 months x ${rules} reminder rules / ` +
      `${monthDays} days unless --per-day)`,
  );
  const added = await timed(() => topUpMessages(sql, { days: monthDays, perDay }));
  const [month] = await sql`
    select count(*)::int as messages,
           min(private.business_date(created_at))::text as first_day
      from public.messages
     where created_at >= (private.business_date(now()) - ${monthDays}::int)::timestamp
                           at time zone 'Asia/Kolkata'`;
  console.log(
    `  added ${count(added.result)} messages in ${seconds(added.wall)}; the month holds ` +
      `${count(month.messages)} messages`,
  );
  if (added.result > 0) await sql`analyze public.messages`;
  recorder.step("the facts rebuilt");
  if (!kept) {
    // A kept book's facts were built when it was loaded; ours are built here, once, as
    // `npm run seed:big` does (its whole history, two years).
    const all = await timed(() => sql`select private.rebuild_analytics(null, null) as r`);
    console.log(
      `  every fact built (private.rebuild_analytics(null, null), the book's whole history) in ` +
        `${seconds(all.wall)} ${cpuText(all.cpu)}: ${JSON.stringify(all.result[0].r)}`,
    );
    recorder.figure({
      what: "every fact built over the fresh book (rebuild_analytics(null, null), 2 years)",
      ours: seconds(all.wall),
    });
  }
  const rebuild = await timed(() =>
    sql`select private.rebuild_analytics(private.business_date(now()) - ${monthDays}::int,
                                         private.business_date(now())) as r`
  );
  console.log(
    `  the month's facts rebuilt (private.rebuild_analytics over ${monthDays + 1} days) in ` +
      `${seconds(rebuild.wall)} ${cpuText(rebuild.cpu)}: ${JSON.stringify(rebuild.result[0].r)}`,
  );
  recorder.figure({
    what: `the month's facts rebuilt (${monthDays + 1} days, ${count(month.messages)} messages)`,
    ours: seconds(rebuild.wall),
  });
  await sql`analyze analytics.message_facts, analytics.latency_facts, analytics.activity_facts,
                    analytics.node_activity_facts, analytics.renewal_facts,
                    analytics.node_renewal_facts`;

  // 2. One day's facts, beside the reference.
  const [day] = await sql`
    select (private.business_date(now()) - 1)::text as day,
           ((private.business_date(now()) - 1)::timestamp at time zone 'Asia/Kolkata') as starts,
           (private.business_date(now())::timestamp at time zone 'Asia/Kolkata') as ends`;
  const [{ messages: dayMessages }] = await sql`
    select count(*)::int as messages from public.messages
     where created_at >= ${day.starts} and created_at < ${day.ends}`;
  const reference = () =>
    timed(() =>
      sql`select channel, provider, status, count(*)
            from public.messages
           where created_at >= ${day.starts} and created_at < ${day.ends}
           group by channel, provider, status`
    );
  recorder.step("one day's facts and the 5-minute refresh");
  heading(
    `Refreshing one day's facts (${day.day}, ${count(dayMessages)} messages), ${runs} runs, each ` +
      "after its reference, a plain count(*) ... group by channel, provider, status over the " +
      "same day's messages (wall clock; in brackets the cluster's CPU seconds):",
  );
  const dayRuns: { wall: number; ratio: number; ref: number }[] = [];
  const jobRuns: { wall: number; ratio: number; ref: number }[] = [];
  for (let run = 1; run <= runs; run++) {
    const ref = await reference();
    const one = await timed(() =>
      sql`select private.rebuild_analytics(${day.day}::date, ${day.day}::date) as r`
    );
    dayRuns.push({ wall: one.wall, ratio: one.wall / ref.wall, ref: ref.wall });
    row([
      `run ${run}: rebuild_analytics(day, day)`,
      seconds(one.wall),
      cpuText(one.cpu),
      `ref ${(ref.wall * 1000).toFixed(0)} ms`,
      cpuText(ref.cpu),
      times(one.wall / ref.wall),
    ]);
    const ref2 = await reference();
    const job = await timed(() => sql`select private.refresh_analytics() as r`);
    if (job.result[0].r.skipped) throw new Error("the refresh skipped: another holds its lock");
    jobRuns.push({ wall: job.wall, ratio: job.wall / ref2.wall, ref: ref2.wall });
    row([
      `run ${run}: refresh_analytics() (5-minute job)`,
      seconds(job.wall),
      cpuText(job.cpu),
      `ref ${(ref2.wall * 1000).toFixed(0)} ms`,
      cpuText(ref2.cpu),
      times(job.wall / ref2.wall),
    ]);
  }
  const dayWall = median(dayRuns.map((r) => r.wall));
  const jobWall = median(jobRuns.map((r) => r.wall));
  console.log(
    `One day's facts: ${seconds(dayWall)} (median of ${runs}), ` +
      `${times(median(dayRuns.map((r) => r.ratio)))} the reference; the 5-minute refresh ` +
      `(3 days of messages, 2 of activity, changed cohorts): ${seconds(jobWall)}, ` +
      `${times(median(jobRuns.map((r) => r.ratio)))}. Goal: at most ${goalSeconds} s for a day: ` +
      `${Math.max(dayWall, jobWall) <= goalSeconds ? "meets" : "MISSES"}.`,
  );
  const plainCount = (runs: { ref: number }[]) =>
    "count(*) ... group by channel, provider, status over the same day's messages: " +
    `${(median(runs.map((r) => r.ref)) * 1000).toFixed(0)} ms`;
  recorder.figure({
    what: `one day's facts (${count(dayMessages)} messages; rebuild_analytics(day, day)), ` +
      `median of ${runs}`,
    ours: seconds(dayWall),
    reference: plainCount(dayRuns),
    ratio: ratioOf(median(dayRuns.map((r) => r.ratio))),
    goal: atGoalBook(`≤ ${goalSeconds} s`),
    met: judgedAtGoalBook(policies, dayWall <= goalSeconds),
  });
  recorder.figure({
    what: "the 5-minute refresh (3 days of messages, 2 of activity, changed cohorts), " +
      `median of ${runs}`,
    ours: seconds(jobWall),
    reference: plainCount(jobRuns),
    ratio: ratioOf(median(jobRuns.map((r) => r.ratio))),
  });
  recorder.step("the nightly pass, twice");
  // The nightly pass twice: the first catches up with every case changed and renewed since the
  // previous one (on a freshly loaded book, all of them), the second is a night like the others.
  for (const label of ["first (catching up)", "second (steady)"]) {
    const nightly = await timed(() => sql`select private.refresh_analytics_nightly() as r`);
    const r = nightly.result[0].r;
    console.log(
      `The nightly pass, ${label}: ${seconds(nightly.wall)} ${cpuText(nightly.cpu)}; 8 days, ` +
        `${count((r.touch_days ?? []).length)} older days of last touches recounted, ` +
        `${count(r.renewal_due_days ?? 0)} cohorts' due dates, ` +
        `${count(r.hourly_rows_pruned)} hourly rows pruned.`,
    );
    recorder.figure({ what: `the nightly pass (8 days), ${label}`, ours: seconds(nightly.wall) });
  }

  await sql`select pg_advisory_unlock(hashtext('py360.refresh_analytics'))`;

  // 3. A zone's 90 days through the API.
  recorder.step("a zone's 90 days through the API");
  await zonePerformance(policies);

  if (values.clean) {
    const removed = await timed(() => topUpMessages(sql, { days: monthDays, remove: true }));
    await sql`select private.rebuild_analytics(private.business_date(now()) - ${monthDays}::int,
                                               private.business_date(now()))`;
    console.log(`\nRemoved the ${count(removed.result)} added messages; facts rebuilt.`);
  }
  console.log(`\nLoad average at the end ${loadAverage()}.`);
  recorder.note(
    "The reference for a day's facts and the 5-minute refresh is a plain count(*) ... group by " +
      "channel, provider and status over the same day's messages, measured just before each " +
      "run; for the zone's performance, GET /api/me through the same app in the same loop.",
  );
  await recorder.save();
} finally {
  await sql.end();
  await removeCluster();
}

/**
 * Loads a fresh book of `--policies` policies (seed `--seed`) into our own cluster at `url`, as
 * `npm run seed:big -- --open-cases` does: the book with its history, the daily jobs' first run
 * (which opens the cases in the window), those cases' activity as of now. Adds an admin for the
 * API section (the throwaway cluster has no demo seed) and returns it.
 */
async function freshBook(url: string): Promise<{ id: string; email: string }> {
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const setup = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await printMachine(setup);
    console.log(`\nLoading ${count(policiesAsked)} policies (seed ${seed}) ...`);
    await loadBigBook(url, { policies: policiesAsked, seed });
    console.log(`Book loaded in ${elapsed()}`);
    const [{ as_of: asOf, jobs }] = await setup`
      select now() as as_of, private.run_daily_renewal_jobs(now()) as jobs`;
    await setup`analyze`;
    console.log(
      `Daily jobs (the first run opens every case in the window): ${JSON.stringify(jobs)}`,
    );
    const activity = await addCaseActivity(url, { seed, asOf });
    console.log(`Case activity added: ${JSON.stringify(activity)}; ${elapsed()}`);
    // The API's pool logs in as api_authenticator, as the functions do.
    await setLocalAuthenticatorPassword(url);
    const [admin] = await setup`
      insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
      values (gen_random_uuid(), 'authenticated', 'authenticated', 'bench.admin@big.py360.test',
              '{"role": "admin"}', '{"full_name": "Bench Admin"}')
      returning id, email`;
    return { id: admin.id, email: admin.email };
  } finally {
    await setup.end();
  }
}

/**
 * GET /api/hierarchy/{zone}/performance over 90 days for the zone with the most agents, through
 * the api app in-process as an admin, beside GET /api/me in the same loop: p50 and p95.
 */
async function zonePerformance(policies: number): Promise<void> {
  if (!cluster) {
    console.log(
      "\n(the API section needs the dev database or the bench's own: skipped with this --db-url)",
    );
    recorder.note(
      "The zone's performance through the API was not measured: it needs the dev database or " +
        "the bench's own cluster.",
    );
    return;
  }
  for (const [name, value] of Object.entries(await functionsEnv(cluster))) {
    Deno.env.set(name, value);
  }
  Deno.env.set("LOG_LEVEL", "error");
  const { default: app } = await import("../functions/api/app.ts");
  const { closeDb } = await import("../functions/_shared/db.ts");
  try {
    const [admin] = ownAdmin
      ? [ownAdmin]
      : await sql`select id, email from auth.users where email = 'admin@py360.test'`;
    if (!admin) throw new Error("no admin@py360.test in the dev database (the demo seed)");
    const token = await userToken({ id: admin.id, email: admin.email });
    const [zone] = await sql`
      select n.id, n.code,
             (select count(*)::int from public.profiles p
                join public.hierarchy_nodes s on s.id = p.node_id
               where s.path operator(extensions.<@) n.path and p.role = 'agent') as agents,
             (private.business_date(now()) - 89)::text as from_day,
             private.business_date(now())::text as to_day
        from public.hierarchy_nodes n
       where n.level = 'zone'
       order by 3 desc, n.code
       limit 1`;
    const get = async (path: string) => {
      const from = performance.now();
      const response = await app.request(`/api${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = await response.text();
      if (response.status !== 200) {
        throw new Error(`GET ${path}: ${response.status} ${body.slice(0, 300)}`);
      }
      return { ms: performance.now() - from, body };
    };
    const path = `/hierarchy/${zone.id}/performance?from=${zone.from_day}&to=${zone.to_day}`;
    heading(
      `GET /api/hierarchy/{zone}/performance, zone ${zone.code} (${count(zone.agents)} agents), ` +
        `${zone.from_day} to ${zone.to_day} (90 days), as an admin through the api app ` +
        "in-process; 200 requests after 20 untimed, each beside a GET /api/me:",
    );
    let sample;
    try {
      sample = await get(path);
    } catch (error) {
      console.log(`  not measured: ${(error as Error).message}`);
      recorder.note(`The zone's performance was not measured: ${(error as Error).message}`);
      return;
    }
    const answer = JSON.parse(sample.body);
    console.log(
      `  the answer: ${count(sample.body.length)} bytes, ` +
        `${count((answer.children ?? []).length)} child nodes side by side`,
    );
    for (let i = 0; i < 20; i++) {
      await get(path);
      await get("/me");
    }
    const node: number[] = [];
    const me: number[] = [];
    for (let i = 0; i < 200; i++) {
      node.push((await get(path)).ms);
      me.push((await get("/me")).ms);
    }
    const p95 = percentile(node, 95);
    row([
      "/hierarchy/{zone}/performance p50 / p95",
      `${percentile(node, 50).toFixed(1)} ms`,
      `${p95.toFixed(1)} ms`,
    ]);
    row([
      "/me (reference) p50 / p95",
      `${percentile(me, 50).toFixed(1)} ms`,
      `${percentile(me, 95).toFixed(1)} ms`,
      times(p95 / percentile(me, 95)),
    ]);
    console.log(
      `The zone's 90 days: p95 ${p95.toFixed(1)} ms, ${times(p95 / percentile(me, 95))} a GET ` +
        `/api/me. Goal: p95 at most ${goalMs} ms: ${p95 <= goalMs ? "meets" : "MISSES"}.`,
    );
    recorder.figure({
      what: `GET /api/hierarchy/{zone}/performance, 90 days, zone of ${count(zone.agents)} ` +
        "agents, p95 (p50)",
      ours: `${p95.toFixed(1)} ms (${percentile(node, 50).toFixed(1)} ms)`,
      reference: `GET /api/me, same app, same loop: ${percentile(me, 95).toFixed(1)} ms ` +
        `(${percentile(me, 50).toFixed(1)} ms)`,
      ratio: ratioOf(p95 / percentile(me, 95)),
      goal: atGoalBook(`p95 ≤ ${goalMs} ms`),
      met: judgedAtGoalBook(policies, p95 <= goalMs),
    });
  } finally {
    await closeDb();
  }
}
