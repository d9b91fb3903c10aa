// The benchmark suite's pure parts: bench/RESULTS.md as bench/lib/results_file.ts writes it (the
// table, the judgements, failures, the summary), the sections a run with --only keeps from the
// file before it, and the progress the suite reads from the benches' `##progress` lines
// (bench/lib/suite_progress.ts). No bench runs here.
import assert from "node:assert/strict";
import type { BenchResult } from "../../bench/lib/results.ts";
import {
  type BenchRun,
  formatDuration,
  formatRatio,
  type Machine,
  parseSections,
  renderResults,
  renderSection,
  summarize,
} from "../../bench/lib/results_file.ts";
import { parseSuiteOptions, UsageError, usageText } from "../../bench/lib/suite_options.ts";
import {
  bar,
  formatClock,
  LineSplitter,
  progressLine,
  stepLine,
  stepOf,
  suiteFraction,
} from "../../bench/lib/suite_progress.ts";

const order = ["redact", "messages", "payments", "campaigns", "ai", "renewals", "risk"];

const machine: Machine = {
  cores: 2,
  cpu: "Test CPU @ 2.80GHz",
  memoryGiB: 24,
  postgres: "PostgreSQL 15.18",
  deno: "2.9.6",
  loadBefore: "1.00 0.90 0.80",
  loadAfter: "2.00 1.50 1.00",
  date: "2026-11-30T08:00:00.000Z",
  commit: "abc1234",
  ran: ["messages", "payments"],
};

/** A messages result: a met goal, a missed one, one not judged, one without a goal. */
function messagesResult(): BenchResult {
  return {
    name: "messages",
    title: "The outbound pipeline",
    parameters: { messages: 20000, instances: "1,2,4,8" },
    figures: [
      {
        what: "claim of 100, 100,000 rows half sent",
        ours: "p50 11.2 ms, p95 17.9 ms",
        reference: "bare skip-locked update: p95 13.9 ms",
        ratio: 1.2877,
        goal: "p95 < 5 ms",
        met: false,
      },
      {
        what: "webhook ingest | signed",
        ours: "1,205/s",
        reference: "the gateway's 404: 1,715/s",
        ratio: 0.7026,
        goal: "≥ 1,000/s",
        met: true,
      },
      { what: "launch at 1M", ours: "9.0 s", goal: "≤ 10 s at 1M", met: null },
      { what: "the gate's own rate", ours: "3,000/s" },
    ],
    notes: ["Compare ratios,\nnot rates."],
    startedAt: "2026-11-30T08:01:00.000Z",
    finishedAt: "2026-11-30T08:04:00.000Z",
  };
}

/** A run of `result` as the suite records it. */
function runOf(result: BenchResult, startedAt: string, commit: string): BenchRun {
  return {
    name: result.name,
    title: result.name,
    startedAt,
    finishedAt: new Date(Date.parse(startedAt) + 185_000).toISOString(),
    commit,
    loadBefore: "1.10 1.00 0.90",
    loadAfter: "1.90 1.20 1.00",
    log: `bench/logs/x/${result.name}.log`,
    result,
  };
}

const paymentsResult: BenchResult = {
  name: "payments",
  title: "Payments",
  parameters: { payments: 3000 },
  figures: [{
    what: "payment.captured, 32 at a time",
    ours: "111/s",
    reference: "Twilio callbacks: 918/s",
    ratio: 0.121,
    goal: "none set",
    met: undefined,
  }],
  notes: [],
  startedAt: "2026-11-30T08:05:00.000Z",
  finishedAt: "2026-11-30T08:06:00.000Z",
};

/** The table rows of a section (lines starting with `|`, after the header and its rule). */
function tableRows(markdown: string): string[] {
  return markdown.split("\n").filter((line) => line.startsWith("|")).slice(2);
}

Deno.test("results file: a bench's section is its table, each goal judged, and its notes", () => {
  const run = runOf(messagesResult(), "2026-11-30T08:01:00.000Z", "abc1234");
  const text = renderSection(run);
  assert.match(text, /^## The outbound pipeline \(`messages`\)$/m);
  assert.match(
    text,
    /^Ran 2026-11-30 08:01 UTC for 3 min 5 s, commit abc1234, load average 1\.10 1\.00 0\.90 before, 1\.90 1\.20 1\.00 after\. Its output: `bench\/logs\/x\/messages\.log`\.$/m,
  );
  assert.match(text, /^Parameters: messages 20,000, instances 1,2,4,8\.$/m);
  assert.match(text, /^\| what \| ours \| reference \(same run\) \| ratio \| goal \| met \|$/m);
  assert.deepEqual(tableRows(text), [
    "| claim of 100, 100,000 rows half sent | p50 11.2 ms, p95 17.9 ms | bare skip-locked update: p95 13.9 ms | 1.29× | p95 < 5 ms | **missed** |",
    "| webhook ingest \\| signed | 1,205/s | the gateway's 404: 1,715/s | 0.70× | ≥ 1,000/s | met |",
    "| launch at 1M | 9.0 s |  |  | ≤ 10 s at 1M | not judged |",
    "| the gate's own rate | 3,000/s |  |  |  |  |",
  ]);
  // A note on one line, as a bullet.
  assert.match(text, /^- Compare ratios, not rates\.$/m);
});

Deno.test("results file: goals are counted only where a goal is set", () => {
  const summary = summarize(runOf(messagesResult(), "2026-11-30T08:01:00.000Z", "abc1234"));
  assert.equal(summary.met, 1);
  assert.equal(summary.missed, 1);
  assert.equal(summary.unjudged, 1);
  assert.equal(summary.failed, false);
  assert.deepEqual(summary.missedGoals, [
    "claim of 100, 100,000 rows half sent: p50 11.2 ms, p95 17.9 ms (goal p95 < 5 ms)",
  ]);
  // met: true without a goal is no goal met.
  const result = messagesResult();
  result.figures = [{ what: "x", ours: "1 s", met: true }];
  const none = summarize(runOf(result, "2026-11-30T08:01:00.000Z", "abc1234"));
  assert.deepEqual([none.met, none.missed, none.unjudged], [0, 0, 0]);
});

Deno.test("results file: a failed bench says so, with its log and last lines", () => {
  const run: BenchRun = {
    name: "campaigns",
    title: "campaigns",
    startedAt: "2026-11-30T08:10:00.000Z",
    finishedAt: "2026-11-30T08:10:42.000Z",
    commit: "abc1234",
    loadBefore: "1.00 1.00 1.00",
    loadAfter: "1.00 1.00 1.00",
    log: "bench/logs/x/campaigns.log",
    failure: "exited with code 1",
    tail: ["\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: boom", "```"],
  };
  const text = renderSection(run);
  assert.match(text, /^## campaigns \(`campaigns`\)$/m);
  assert.match(text, /for 42 s, commit abc1234/);
  assert.match(text, /`bench\/logs\/x\/campaigns\.log`/);
  assert.match(text, /^\*\*Failed\*\*: exited with code 1\. No figures from this run\.$/m);
  // The colours are gone, and a line of backticks cannot close the block early.
  assert.match(text, /^```text\nerror: boom\n'''\n```$/m);
  assert.equal(tableRows(text).length, 0);
  const summary = summarize(run);
  assert.equal(summary.failed, true);
  assert.deepEqual([summary.met, summary.missed, summary.unjudged], [0, 0, 0]);
});

Deno.test("results file: the head says the machine, the summary counts every section", () => {
  const text = renderResults({
    machine,
    runs: [
      runOf(messagesResult(), "2026-11-30T08:01:00.000Z", "abc1234"),
      runOf(paymentsResult, "2026-11-30T08:05:00.000Z", "abc1234"),
    ],
    kept: new Map(),
    order,
  });
  assert.match(text, /^- 2 cores, Test CPU @ 2\.80GHz, 24 GiB of memory$/m);
  assert.match(
    text,
    /^- PostgreSQL 15\.18 \(a throwaway cluster per bench, fsync off; shared buffers 128 MB, 1 GB for the book benches: renewals, risk, analytics\), Deno 2\.9\.6$/m,
  );
  assert.match(
    text,
    /^- Load average \(1, 5, 15 min\) 1\.00 0\.90 0\.80 before, 2\.00 1\.50 1\.00 after$/m,
  );
  assert.match(
    text,
    /^- The last run: 2026-11-30 08:00 UTC, commit abc1234, ran messages, payments$/m,
  );
  assert.match(
    text,
    /^Goals met: 1; missed: 1; not judged on these runs: 1\. Benches failed: 0; some never ran \(below\)\.$/m,
  );
  assert.match(text, /^\| messages \| 2026-11-30 08:01 UTC \| abc1234 \| 1 \| 1 \| 1 \|$/m);
  assert.match(text, /^\| payments \| 2026-11-30 08:05 UTC \| abc1234 \| 0 \| 0 \| 0 \|$/m);
  assert.match(text, /^\| redact \| not run yet \| \| \| \| \|$/m);
  assert.match(
    text,
    /^- messages: claim of 100, 100,000 rows half sent: p50 11\.2 ms, p95 17\.9 ms \(goal p95 < 5 ms\)$/m,
  );
  // Sections in the suite's order, whatever order the runs came in.
  assert.ok(text.indexOf("## The outbound pipeline") < text.indexOf("## Payments"));
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
});

Deno.test("results file: --only keeps the other sections word for word, and their goals", () => {
  const first = renderResults({
    machine,
    runs: [
      runOf(messagesResult(), "2026-11-30T08:01:00.000Z", "abc1234"),
      runOf(paymentsResult, "2026-11-30T08:05:00.000Z", "abc1234"),
    ],
    kept: new Map(),
    order,
  });
  const kept = parseSections(first);
  assert.deepEqual([...kept.keys()], ["messages", "payments"]);
  const oldPayments = kept.get("payments")!.text;
  assert.ok(first.includes(oldPayments));
  assert.match(oldPayments, /^<!-- bench-section /);
  assert.match(oldPayments, /## Payments \(`payments`\)/);
  assert.ok(!oldPayments.includes("## Summary") && !oldPayments.includes("outbound"));

  // A later run of messages alone, with a figure now met.
  const again = messagesResult();
  again.figures[0] = { ...again.figures[0], ours: "p95 4.1 ms", met: true };
  const second = renderResults({
    machine: { ...machine, date: "2026-12-01T09:00:00.000Z", commit: "def5678", ran: ["messages"] },
    runs: [runOf(again, "2026-12-01T09:01:00.000Z", "def5678")],
    kept,
    order,
  });
  // Payments: exactly as before, its own date and commit.
  assert.ok(second.includes(oldPayments));
  assert.match(second, /^\| payments \| 2026-11-30 08:05 UTC \| abc1234 \| 0 \| 0 \| 0 \|$/m);
  // Messages: the new run only.
  assert.match(second, /^\| messages \| 2026-12-01 09:01 UTC \| def5678 \| 2 \| 0 \| 1 \|$/m);
  assert.equal(second.match(/## The outbound pipeline/g)?.length, 1);
  assert.ok(!second.includes("p50 11.2 ms"));
  assert.match(second, /^Goals met: 2; missed: 0; not judged on these runs: 1\./m);
  // And a third file read from the second keeps both as they are.
  const third = parseSections(second);
  assert.equal(third.get("payments")!.text, oldPayments);
  assert.equal(third.get("messages")!.summary.commit, "def5678");
});

Deno.test("results file: a marker survives text that would end an HTML comment", () => {
  const result = messagesResult();
  result.figures = [{ what: "a --> b", ours: "1 s", goal: "<-- -->", met: false }];
  const text = renderResults({
    machine,
    runs: [runOf(result, "2026-11-30T08:01:00.000Z", "abc1234")],
    kept: new Map(),
    order,
  });
  const marker = text.split("\n").find((line) => line.startsWith("<!-- bench-section"))!;
  assert.equal(marker.indexOf("-->"), marker.length - 3);
  const sections = parseSections(text);
  assert.deepEqual(sections.get("messages")!.summary.missedGoals, ["a --> b: 1 s (goal <-- -->)"]);
});

/** A marker line holding `summary` as its JSON. */
function markerLine(summary: unknown): string {
  return `<!-- bench-section ${JSON.stringify(summary)} -->`;
}

const riskSummary = {
  name: "risk",
  title: "Risk",
  ran: "2026-11-30T08:00:00.000Z",
  commit: "abc",
  failed: false,
  met: 1,
  missed: 0,
  unjudged: 0,
  missedGoals: [],
};

Deno.test("results file: text before the first marker is no section; a broken marker's section is dropped, with a warning", () => {
  const text = [
    "# Benchmark results",
    "<!-- bench-section {not json} -->",
    "## Summary",
    markerLine(riskSummary),
    "## Risk",
    "still risk",
    "<!-- bench-section {oops} -->",
    "## not kept",
    "",
    "",
  ].join("\n");
  const warnings: string[] = [];
  const sections = parseSections(text, (warning) => warnings.push(warning));
  assert.deepEqual([...sections.keys()], ["risk"]);
  assert.equal(sections.get("risk")!.text, text.split("\n").slice(3, 6).join("\n") + "\n");
  assert.deepEqual(warnings, [
    "line 2: a section marker that is not JSON; that section is dropped",
    "line 7: a section marker that is not JSON; that section is dropped",
  ]);
  assert.equal(parseSections("# nothing here\n").size, 0);
});

Deno.test("results file: a marker that is not a whole summary drops its section (named), not the run", () => {
  // The review's file: a marker with only a name and `failed`, which crashed the summary.
  const cases: [string, unknown, RegExp][] = [
    [
      "ai",
      { name: "ai", failed: false },
      /^line 1: the "ai" section has a malformed marker \(title: missing; ran: missing; commit: missing; met: missing; missed: missing; unjudged: missing; missedGoals: missing\); it is dropped$/,
    ],
    [
      "ai",
      { ...riskSummary, name: "ai", missedGoals: "none" },
      /^line 1: the "ai" section has a malformed marker \(missedGoals: a string, not an array\); it is dropped$/,
    ],
    ["ai", { ...riskSummary, name: "ai", missedGoals: [3] }, /\(missedGoals\.0: /],
    ["ai", { ...riskSummary, name: "ai", met: "1" }, /\(met: a string, not a number\)/],
    ["ai", { ...riskSummary, name: "ai", missed: -1 }, /\(missed: /],
    ["ai", { ...riskSummary, name: "ai", ran: "yesterday" }, /\(ran: /],
    ["ai", { ...riskSummary, name: "ai", trial: 5 }, /\(trial: /],
    ["ai", { ...riskSummary, name: "ai", failed: "no" }, /\(failed: /],
    ["?", { ...riskSummary, name: 7 }, /^line 1: a section has a malformed marker \(name: /],
    ["?", null, /^line 1: a section has a malformed marker \(\(marker\): /],
    ["?", [], /^line 1: a section has a malformed marker \(\(marker\): /],
  ];
  for (const [, summary, warning] of cases) {
    const text = [markerLine(summary), "## AI", "", markerLine(riskSummary), "## Risk", ""].join(
      "\n",
    );
    const warnings: string[] = [];
    const sections = parseSections(text, (w) => warnings.push(w));
    assert.deepEqual([...sections.keys()], ["risk"], JSON.stringify(summary));
    assert.equal(warnings.length, 1, JSON.stringify(summary));
    assert.match(warnings[0], warning);
    // The dropped section's text goes nowhere: not into the section before or after.
    assert.ok(!sections.get("risk")!.text.includes("## AI"));
    // And the file still renders, the dropped bench as never run.
    const rendered = renderResults({ machine, runs: [], kept: sections, order });
    assert.match(rendered, /^\| ai \| not run yet \| \| \| \| \|$/m);
    assert.match(rendered, /^\| risk \| 2026-11-30 08:00 UTC \| abc \| 1 \| 0 \| 0 \|$/m);
  }
  // A whole marker is kept, with or without a trial.
  const whole = parseSections(markerLine({ ...riskSummary, trial: "--policies 10" }) + "\n");
  assert.equal(whole.get("risk")!.summary.trial, "--policies 10");
});

Deno.test("results file: a trial run (arguments beyond the defaults) judges no goal", () => {
  const run: BenchRun = {
    ...runOf(messagesResult(), "2026-11-30T08:01:00.000Z", "abc1234"),
    trialArgs: ["--messages", "500", "--instances", "1"],
  };
  const summary = summarize(run);
  assert.deepEqual([summary.met, summary.missed, summary.unjudged], [0, 0, 3]);
  assert.deepEqual(summary.missedGoals, []);
  assert.equal(summary.trial, "--messages 500 --instances 1");
  const text = renderSection(run);
  assert.match(
    text,
    /^Trial run \(arguments: `--messages 500 --instances 1`\): its goals are not judged\.$/m,
  );
  assert.deepEqual(tableRows(text).map((row) => row.split(" | ").at(-1)), [
    "not judged |",
    "not judged |",
    "not judged |",
    " |",
  ]);
  const whole = renderResults({ machine, runs: [run], kept: new Map(), order });
  assert.match(whole, /^Goals met: 0; missed: 0; not judged on these runs: 3\./m);
  assert.match(
    whole,
    /^\| messages \| 2026-11-30 08:01 UTC \(trial run: --messages 500 --instances 1\) \| abc1234 \| 0 \| 0 \| 3 \|$/m,
  );
  assert.ok(!whole.includes("Missed:"));
  // Its marker says so, and a later --only run keeps it as a trial.
  assert.equal(parseSections(whole).get("messages")!.summary.trial, "--messages 500 --instances 1");
  // No arguments beyond the defaults: judged as the bench said.
  const plain = summarize({ ...run, trialArgs: [] });
  assert.deepEqual([plain.met, plain.missed, plain.unjudged, plain.trial], [1, 1, 1, undefined]);
});

Deno.test("results file: ratios and durations", () => {
  assert.equal(formatRatio(1.2877), "1.29×");
  assert.equal(formatRatio(0.0123), "0.012×");
  assert.equal(formatRatio(136.4), "136×");
  assert.equal(formatRatio(Infinity), "Infinity");
  assert.equal(formatDuration(42_400), "42 s");
  assert.equal(formatDuration(185_000), "3 min 5 s");
  assert.equal(formatDuration(3_725_000), "1 h 2 min");
});

Deno.test("progress: the benches' lines give the step, other lines nothing", () => {
  assert.deepEqual(stepOf("##progress 3/7 the daily jobs, first run"), {
    step: 3,
    steps: 7,
    label: "the daily jobs, first run",
  });
  assert.deepEqual(stepOf("##progress 1/2 claim\r"), { step: 1, steps: 2, label: "claim" });
  assert.equal(stepOf("  ##progress 1/2 indented"), null);
  assert.equal(stepOf("##progress x/2 claim"), null);
  assert.equal(stepOf("##progress 1/2"), null);
  assert.equal(stepOf("Machine: 2 cores"), null);
});

Deno.test("progress: output cut into lines as it arrives", () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push("##progr"), []);
  assert.deepEqual(splitter.push("ess 1/2 a\nplain\n##progress 2"), ["##progress 1/2 a", "plain"]);
  assert.deepEqual(splitter.push("/2 b\n"), ["##progress 2/2 b"]);
  assert.deepEqual(splitter.push("tail"), []);
  assert.deepEqual(splitter.flush(), ["tail"]);
  assert.deepEqual(splitter.flush(), []);
});

Deno.test("progress: the terminal's line and the log's line", () => {
  const state = {
    index: 3,
    total: 8,
    name: "campaigns",
    step: { step: 2, steps: 5, label: "warm-up run" },
    benchMs: 72_000,
    suiteMs: 3_783_000,
  };
  // Two benches done, and one step of five of the third: (2 + 1/5) / 8.
  assert.equal(suiteFraction(state), 2.2 / 8);
  assert.equal(bar(0.5, 4), "██░░");
  assert.equal(bar(2, 4), "████");
  assert.equal(
    progressLine(state, 200),
    `bench 3/8 campaigns ${bar(2.2 / 8, 20)} step 2/5 warm-up run · 1:12 (suite 1:03:03)`,
  );
  const cut = progressLine(state, 40);
  assert.equal([...cut].length, 39);
  assert.ok(cut.startsWith("bench 3/8 campaigns") && cut.endsWith("…"));
  assert.equal(stepLine(state), "[3/8 campaigns] 2/5 warm-up run (1:12)");
  assert.equal(
    stepLine({ ...state, step: undefined, benchMs: 0 }),
    "[3/8 campaigns] starting (0:00)",
  );
  assert.equal(suiteFraction({ ...state, step: undefined }), 2 / 8);
  assert.equal(formatClock(59_999), "0:59");
});

const suiteNames = ["redact", "messages", "renewals"];

/** The UsageError parseSuiteOptions throws for `args`. */
function usageErrorOf(args: string[]): UsageError {
  try {
    parseSuiteOptions(args, suiteNames, "/r/RESULTS.md");
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  assert.fail(`no usage error for ${JSON.stringify(args)}`);
}

Deno.test("suite options: what the suite takes, and the defaults", () => {
  const none = parseSuiteOptions([], suiteNames, "/r/RESULTS.md");
  assert.deepEqual(none, {
    chosen: suiteNames,
    policies: 1_000_000,
    results: "/r/RESULTS.md",
    logs: undefined,
    extra: new Map(),
  });
  const all = parseSuiteOptions(
    [
      "--only",
      " messages, redact ",
      "--policies",
      "5000",
      "--results",
      "/tmp/x.md",
      "--logs",
      "/tmp/l",
      "--args",
      "messages --messages 500",
      "--args",
      " messages  --instances 1 ",
    ],
    suiteNames,
    "/r/RESULTS.md",
  );
  assert.deepEqual(all, {
    chosen: ["messages", "redact"],
    policies: 5000,
    results: "/tmp/x.md",
    logs: "/tmp/l",
    extra: new Map([["messages", ["--messages", "500", "--instances", "1"]]]),
  });
});

Deno.test("suite options: bad input names the option that was wrong, and how it is used", () => {
  const cases: [string[], string, RegExp][] = [
    [["--jobs-only"], "--jobs-only", /not an option of the suite .*--args "<bench> --jobs-only"/],
    [["--policies"], "--policies", /^needs a value$/],
    [["--policies", "abc"], "--policies", /^"abc" is not a whole number of at least 1$/],
    [["--policies", "0"], "--policies", /"0"/],
    [["--policies", "1.5"], "--policies", /"1\.5"/],
    [["--policies", "1e6"], "--policies", /"1e6"/],
    [["--only", "nope,redact"], "--only", /^no bench named nope$/],
    [["--only", ","], "--only", /^names no bench$/],
    [["--only"], "--only", /^needs a value$/],
    [["--args", "nope --x 1"], "--args", /^"nope --x 1": no bench named nope$/],
    [["--args", "  "], "--args", /^names no bench$/],
    [["--results", ""], "--results", /^an empty file name$/],
    [["--logs", " "], "--logs", /^an empty folder name$/],
    [["messages"], "messages", /^an argument without an option/],
  ];
  for (const [args, option, message] of cases) {
    const error = usageErrorOf(args);
    assert.equal(error.option, option, JSON.stringify(args));
    assert.match(error.message, message, JSON.stringify(args));
  }
  // The printed text: the option first, how that option is used, then everything the suite takes.
  const lines = usageText(usageErrorOf(["--policies", "abc"]), suiteNames).split("\n");
  assert.deepEqual(lines.slice(0, 2), [
    'bench suite: --policies: "abc" is not a whole number of at least 1',
    "Usage: --policies N: a whole number of at least 1 (1000000 unless given), the policies the " +
    "book benches build.",
  ]);
  assert.match(
    lines[2],
    /^The suite takes --only <name>\[,<name>\] \(among redact, messages, renewals\)/,
  );
  assert.equal(lines.length, 3);
  // An option the suite does not take has no usage line of its own.
  const unknown = usageText(usageErrorOf(["--jobs-only"]), suiteNames).split("\n");
  assert.equal(unknown.length, 2);
  assert.match(unknown[0], /^bench suite: --jobs-only: /);
});
