// `npm run bench:risk -- [--policies 1000000] [--seed 1] [--runs 3] [--plans FILE]
//   [--shared-buffers 1GB]`
//
// The lapse-risk model (private.score_lapse_risk) on a fresh synthetic book whose outcomes are
// known, on a throwaway cluster (fsync off, 1 GB of shared buffers as bench/lib/book_cluster.ts
// says why, pg_cron's scheduler idle):
//  1. the book (scripts/lib/big_book.ts, seed/big/book.sql): customers, current terms and their
//     history, each current term's hidden outcome drawn from a hidden process that is not the
//     scorecard (traits, interactions, noise), kept in simulation.outcomes, which the model
//     does not read; then the daily jobs open the cases and the cases' activity at the same
//     as_of is added (reminders read or ignored, links clicked, failed payments, replies);
//  2. the scoring of every open case in one call, timed (wall clock and the cluster's CPU),
//     `--runs` times: the first writes every score and every kept history (a first run over a
//     fresh book); then `vacuum analyze` (what autovacuum does in the day between); each other
//     is the next day, in a transaction rolled back after it: the daily jobs of the day after
//     (untimed: they open, lapse and mark cases, so the scoring computes again the histories of
//     the customers they touched), then the scoring of that day, timed.
//     Beside each, the reference measured in the same state: a plain CREATE TABLE AS SELECT of
//     the cases it scores joined to their policy and customer, the rows the scorecard starts
//     from. The goal (issue 10: at most 10 s for 1,000,000 policies) is judged on the next
//     day's scoring;
//  3. how well the scores separate the outcomes, on a time-based split: the open cases ordered
//     by due date, the earlier half (by whole days) for calibration only, the later half to
//     evaluate: ROC-AUC (ties counted half), expected calibration error (10 bins) of score/100 and
//     of a Platt calibration fitted on the earlier half, lift in the top decile, and the AUC of
//     the hidden process's own propensity, the best any model of this data could reach, with
//     the ratio of ours to it.
// `--plans FILE`: every statement of 2 s or more, nested ones included (the book's load, the
// jobs, the scoring and its triggers), is logged with its plan (auto_explain, analyze without
// per-node timing), and the server log is copied to FILE at the end.
// Nothing here passes or fails on the figures; a run fails if a scored case has no outcome, or
// a score has fewer than two reasons. Under the suite (bench/suite.ts) the figures are also
// handed over (bench/lib/results.ts); the goal is judged only on a run of 1,000,000 policies.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { addCaseActivity, loadBigBook } from "../scripts/lib/big_book.ts";
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
import { expectedCalibrationError, fitPlatt, rocAuc, topLift } from "./lib/risk_metrics.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    policies: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    runs: { type: "string", default: "3" },
    plans: { type: "string" },
    "shared-buffers": { type: "string", default: bookSharedBuffers },
  },
});
const sharedBuffers = values["shared-buffers"];
const whole = (name: "policies" | "seed" | "runs", least: number) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`--${name} must be a whole number, at least ${least}`);
  }
  return value;
};
const policies = whole("policies", 100);
const seed = whole("seed", 0);
const runs = whole("runs", 2);

/** The issue's goal for scoring the 1,000,000-policy book, in seconds. */
const goalSeconds = 10;
const row = rowPrinter(58);
const seconds = (s: number) => `${s.toFixed(2)} s`;
const started = performance.now();
const recorder = new BenchRecorder(
  "risk",
  "Lapse risk: scoring the book's open cases, and how well the scores separate the outcomes",
  { policies, seed, runs, "shared buffers": sharedBuffers },
  4,
);
const ratioOf = (value: number) => Number(value.toFixed(2));

recorder.step("a fresh book on a throwaway cluster");
const { cluster, url, remove: removeCluster } = await startBookCluster(sharedBuffers);
try {
  if (values.plans) {
    const setup = postgres(url, { max: 1, onnotice: () => {} });
    await setup`load 'auto_explain'`;
    for (
      const [name, value] of [
        ["session_preload_libraries", "auto_explain"],
        ["auto_explain.log_min_duration", "2s"],
        ["auto_explain.log_nested_statements", "on"],
        ["auto_explain.log_analyze", "on"],
        ["auto_explain.log_timing", "off"],
        ["auto_explain.log_triggers", "on"],
      ]
    ) await setup.unsafe(`alter system set ${name} = '${value}'`);
    await setup`select pg_reload_conf()`;
    await setup.end();
  }
  // Two connections: a next day's transaction holds one while the other checkpoints.
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  await printMachine(sql);

  // 1. The book, its cases and their activity, all at one as_of.
  const step = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
    const from = performance.now();
    const result = await work();
    console.log(`${label} in ${((performance.now() - from) / 1000).toFixed(1)} s`);
    return result;
  };
  console.log(`\nLoading ${count(policies)} policies (seed ${seed}) ...`);
  await step("Book loaded", () => loadBigBook(url, { policies, seed }));
  const [{ as_of: asOf }] = await sql`select now() as as_of`;
  recorder.step("the daily jobs open the cases; their activity");
  const jobs = await step("Daily jobs (the first run opens every case in the window)", async () => {
    const [{ r }] = await sql`select private.run_daily_renewal_jobs(${asOf}) as r`;
    await sql`analyze`;
    return r;
  });
  console.log(`  ${JSON.stringify(jobs)}`);
  const activity = await step(
    "Case activity added",
    () => addCaseActivity(url, { seed, asOf }),
  );
  console.log(`  ${JSON.stringify(activity)}`);
  const [book] = await sql`
    select (select count(*)::int from public.policies) as policies,
           (select count(*)::int from public.renewal_cases) as cases,
           (select count(*)::int from public.outstanding_amounts) as installments,
           (select count(*)::int from public.messages) as messages,
           (select count(*)::int from public.suppressions) as suppressions`;
  console.log(
    `  The model reads: ${count(book.policies)} policies (current and earlier terms), ` +
      `${count(book.cases)} cases (open and closed), ${count(book.installments)} installments, ` +
      `${count(book.messages)} messages, ${count(book.suppressions)} suppressions`,
  );

  // 2. Scoring against the reference, in the same session, alternating.
  await sql`create schema bench`;
  const timed = async (work: () => Promise<unknown>) => {
    await sql`checkpoint`;
    const cpuBefore = await clusterCpuSeconds(cluster.dataDir);
    const from = performance.now();
    const result = await work();
    const wall = (performance.now() - from) / 1000;
    return { wall, cpu: (await clusterCpuSeconds(cluster.dataDir)) - cpuBefore, result };
  };
  const reference = (db: postgres.Sql) =>
    timed(async () => {
      await db`drop table if exists bench.scored_cases`;
      const made = await db`
        create table bench.scored_cases as
        select c.id as case_id, c.customer_id, c.stage, c.due_date, c.grace_end, p.product_line,
               p.premium, p.ncb_percent, p.renewed_from_policy_id, cu.phone,
               lower(cu.email::text) as email
          from public.renewal_cases c
          join public.policies p on p.id = c.policy_id
          join public.customers cu on cu.id = c.customer_id
         where c.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse')`;
      return made.count;
    });
  const score = (db: postgres.Sql, at: Date) =>
    timed(async () => {
      const outcome = await db`
        select outcome, cases::int from private.score_lapse_risk(${at})`;
      return Object.fromEntries(outcome.map((o) => [o.outcome, o.cases]));
    });
  const nextDay = new Date(asOf.getTime() + 86_400_000);
  /** The day after as_of, rolled back: its daily jobs (untimed), its reference and its scoring. */
  const theNextDay = async () => {
    const day = await sql.reserve();
    try {
      await day`begin`;
      await day`select private.run_daily_renewal_jobs(${nextDay})`;
      const ref = await reference(day);
      return { ref, scoring: await score(day, nextDay) };
    } finally {
      await day`rollback`;
      day.release();
    }
  };
  recorder.step(`scoring every open case, ${runs} runs beside the reference`);
  heading(
    `Scoring every open case in one call (private.score_lapse_risk), ${runs} runs, each after ` +
      "its reference (wall clock; in brackets the cluster's CPU seconds, parallel workers " +
      "included). Runs after the first are the next day, rolled back after: the daily jobs of " +
      "the day after (untimed), then its reference and its scoring:",
  );
  const results: { wall: number; cpu: number; ref: number; refCpu: number }[] = [];
  let scored: Record<string, number> = {};
  for (let run = 1; run <= runs; run++) {
    // A day passes between the first scoring and the next day's: autovacuum has long been
    // through the 221,613 scores and histories it wrote and the marks of the book's load it took.
    // Without this, autovacuum ran during the timed next day and took 30-50 % more (12.5 s
    // against 8.1 s on the same book).
    if (run === 2) await sql`vacuum analyze`;
    const { ref, scoring } = run === 1
      ? { ref: await reference(sql), scoring: await score(sql, asOf) }
      : await theNextDay();
    const outcome = scoring.result as Record<string, number>;
    if (run === 1) scored = outcome;
    results.push({ wall: scoring.wall, cpu: scoring.cpu, ref: ref.wall, refCpu: ref.cpu });
    row([
      run === 1 ? "run 1: first scoring (writes every score)" : `run ${run}: the next day`,
      `${seconds(scoring.wall)}`,
      `(${seconds(scoring.cpu)})`,
      `ref ${seconds(ref.wall)}`,
      `(${seconds(ref.cpu)})`,
      times(scoring.wall / ref.wall),
    ]);
    if (Number(ref.result) !== outcome.scored) {
      throw new Error(`the reference has ${ref.result} cases, the scoring ${outcome.scored}`);
    }
  }
  const daily = results.slice(1);
  // The median of the next days (the lower middle one of an even number).
  const middle = (values: number[]) =>
    [...values].sort((x, y) => x - y)[Math.floor((values.length - 1) / 2)];
  const dailyWall = middle(daily.map((r) => r.wall));
  const dailyRatio = middle(daily.map((r) => r.wall / r.ref));
  const first = results[0];
  console.log(
    `Scored ${count(scored.scored)} open cases (${count(scored.high)} high). The next day ` +
      `${seconds(dailyWall)} (median of ${daily.length}: ${
        daily.map((r) => r.wall.toFixed(2)).join(", ")
      } s), ${times(dailyRatio)} the reference ` +
      `(CREATE TABLE AS SELECT of the same cases with their policy and customer); first run ` +
      `${seconds(first.wall)}, ${times(first.wall / first.ref)}. Goal at 1,000,000 policies: ` +
      `at most ${goalSeconds} s${
        policies === 1_000_000 ? `: ${dailyWall <= goalSeconds ? "meets" : "MISSES"}` : ""
      }. Load average ${loadAverage()}.`,
  );

  const firstRef = results[0].ref;
  const dailyRef = middle(daily.map((r) => r.ref));
  const referenceText = (s: number) =>
    `CREATE TABLE AS SELECT of the same cases with their policy and customer: ${seconds(s)}`;
  recorder.figure({
    what: `the next day's scoring of the open cases, one call, after the daily jobs of the day ` +
      `after (median of ${daily.length})`,
    ours: seconds(dailyWall),
    reference: referenceText(dailyRef),
    ratio: ratioOf(dailyRatio),
    goal: atGoalBook(`≤ ${goalSeconds} s`),
    met: judgedAtGoalBook(policies, dailyWall <= goalSeconds),
  });
  recorder.figure({
    what: "first scoring of the never-scored book (writes every score)",
    ours: seconds(first.wall),
    reference: referenceText(firstRef),
    ratio: ratioOf(first.wall / firstRef),
  });

  // 3. Separation, on the time-based split.
  recorder.step("separation on the simulated outcomes");
  const rows = await sql`
    select c.due_date::text as due, s.score, o.propensity, o.lapsed,
           jsonb_array_length(s.reasons) as reasons
      from public.case_risk_scores s
      join public.renewal_cases c on c.id = s.case_id
      left join simulation.outcomes o on o.policy_id = c.policy_id
     order by c.due_date, c.id`;
  const cases: ScoredCase[] = rows.map((r) => ({
    due: r.due,
    score: r.score,
    propensity: r.propensity,
    lapsed: r.lapsed,
    reasons: r.reasons,
  }));
  if (cases.some((c) => c.lapsed === null)) throw new Error("a scored case has no outcome");
  const fewReasons = cases.filter((c) => c.reasons < 2).length;
  if (fewReasons > 0) throw new Error(`${fewReasons} scores have fewer than two reasons`);
  // The earlier half by due date, whole days: the last day taken is the one that reaches half.
  let cut = 0;
  while (cut < cases.length && cut < cases.length / 2) {
    const day = cases[cut].due;
    while (cut < cases.length && cases[cut].due === day) cut++;
  }
  const earlier = cases.slice(0, cut);
  const later = cases.slice(cut);
  const rate = (part: ScoredCase[]) => part.filter((c) => c.lapsed).length / part.length;
  const span = (part: ScoredCase[]) => `due ${part[0].due} to ${part[part.length - 1].due}`;
  const labels = (part: ScoredCase[]) => part.map((c) => c.lapsed as boolean);
  const ours = (part: ScoredCase[]) => part.map((c) => c.score);
  const hidden = (part: ScoredCase[]) => part.map((c) => c.propensity as number);

  const platt = fitPlatt(ours(earlier), labels(earlier));
  const y = labels(later);
  const auc = rocAuc(ours(later), y);
  const hiddenAuc = rocAuc(hidden(later), y);
  const eceRaw = expectedCalibrationError(ours(later).map((s) => s / 100), y);
  const ecePlatt = expectedCalibrationError(ours(later).map((s) => platt.probability(s)), y);
  const lift = topLift(ours(later), y);
  const hiddenLift = topLift(hidden(later), y);
  heading(
    "Separation on the simulated outcomes. Time-based split: the open cases by due date, the " +
      "earlier half (whole days) only to fit a calibration, the later half to evaluate; the " +
      "model itself is fixed (rules-2026-11) and learns nothing from either.",
  );
  row(["", "cases", "lapsed"]);
  row([`earlier half (${span(earlier)})`, count(earlier.length), pct(rate(earlier))]);
  row([`later half (${span(later)}): evaluated`, count(later.length), pct(rate(later))]);
  console.log("");
  row(["on the later half", "ours", "hidden", "ours/hidden"]);
  row(["ROC-AUC", auc.toFixed(3), hiddenAuc.toFixed(3), times(auc / hiddenAuc)]);
  row(["lift in the top decile", times(lift), times(hiddenLift), times(lift / hiddenLift)]);
  row(["expected calibration error (10 bins): score / 100", eceRaw.toFixed(3)]);
  row([
    `  Platt-calibrated on the earlier half (a ${platt.a.toFixed(2)}, b ${platt.b.toFixed(3)})`,
    ecePlatt.toFixed(3),
  ]);
  row([
    "ROC-AUC on the earlier half, for comparison",
    rocAuc(ours(earlier), labels(earlier))
      .toFixed(3),
    rocAuc(hidden(earlier), labels(earlier)).toFixed(3),
  ]);
  console.log(
    '"hidden" is the hidden process\'s own propensity (sigmoid of its log-odds without the ' +
      "noise), which knows the customers' traits: the ceiling of any model of this data. The " +
      "issue's anchor: random forests reach ROC-AUC about 0.88 on real insurers' lapse data. " +
      `Every score has at least two reasons (fewest: ${
        cases.reduce((fewest, c) => Math.min(fewest, c.reasons), Infinity)
      }).`,
  );
  const separation = `later half by due date, ${count(later.length)} cases, ` +
    `${pct(rate(later))} lapsed`;
  recorder.figure({
    what: `ROC-AUC (${separation})`,
    ours: auc.toFixed(3),
    reference: `the hidden process's own propensity, the ceiling: ${hiddenAuc.toFixed(3)}`,
    ratio: ratioOf(auc / hiddenAuc),
  });
  recorder.figure({
    what: "lift in the top decile (the same half)",
    ours: times(lift),
    reference: `the hidden process: ${times(hiddenLift)}`,
    ratio: ratioOf(lift / hiddenLift),
  });
  recorder.figure({
    what: "expected calibration error, 10 bins (the same half)",
    ours: `${eceRaw.toFixed(3)} score/100, ${ecePlatt.toFixed(3)} Platt-calibrated on the ` +
      "earlier half",
  });
  recorder.note(
    "The reference for scoring is a plain CREATE TABLE AS SELECT of the cases it scores joined " +
      "to their policy and customer, measured just before each scoring run. The separation is " +
      "judged against the hidden process that drew the outcomes, the best any model of this " +
      "data could reach; the issue asked for ROC-AUC, lift and calibration to be printed, " +
      "without a goal.",
  );
  recorder.note(
    "The API's p95 for a cached and an uncached recommendation is the ai bench's.",
  );
  heading("By band, on the later half:");
  row(["band", "cases", "lapsed", "Platt mean"]);
  for (const band of ["low", "medium", "high"] as const) {
    const inBand = later.filter((c) =>
      band === "high"
        ? c.score >= 65
        : band === "medium"
        ? c.score >= 35 && c.score < 65
        : c.score < 35
    );
    if (inBand.length === 0) continue;
    const mean = inBand.reduce((sum, c) => sum + platt.probability(c.score), 0) / inBand.length;
    row([band, count(inBand.length), pct(rate(inBand)), pct(mean)]);
  }

  heading("README rows:");
  console.log(
    `| lapse scoring of ${count(scored.scored)} open cases (${count(policies)} policies), one ` +
      `call | next day ${seconds(dailyWall)}, first ${seconds(first.wall)} | CREATE TABLE AS ` +
      `SELECT of the same cases: ${seconds(percentile(results.map((r) => r.ref), 50))} | ` +
      `${times(dailyRatio)} | <= ${goalSeconds} s at 1,000,000 policies |`,
  );
  console.log(
    `| separation, later half by due date (${count(later.length)} cases, ` +
      `${pct(rate(later))} lapsed) | ROC-AUC ${auc.toFixed(3)} (hidden process ` +
      `${hiddenAuc.toFixed(3)}: ${times(auc / hiddenAuc)}), top-decile lift ${times(lift)}, ` +
      `ECE ${eceRaw.toFixed(3)} raw / ${ecePlatt.toFixed(3)} calibrated |`,
  );
  console.log(
    `(load average ${loadAverage()} at the end; the whole run took ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s)`,
  );
  await sql.end();
  if (values.plans) {
    await Deno.copyFile(`${cluster.dataDir}/server.log`, values.plans);
    console.log(`Plans of the statements of 2 s or more: ${values.plans}`);
  }
  await recorder.save();
} finally {
  await removeCluster();
}

/** A scored case: its due date, score, and the hidden process's propensity and outcome. */
interface ScoredCase {
  due: string;
  score: number;
  /** Null only if the case has no outcome (the run then fails). */
  propensity: number | null;
  lapsed: boolean | null;
  reasons: number;
}

/** A share as a percentage with one decimal (`22.4 %`). */
function pct(share: number): string {
  return `${(100 * share).toFixed(1)} %`;
}
