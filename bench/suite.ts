// `npm run bench -- [--only <name>[,<name>]] [--policies 1000000] [--results bench/RESULTS.md]
//   [--logs DIR] [--args "<name> <its arguments>"]...`
//
// Every benchmark in one go, each in its own process on its own throwaway cluster, in this order:
// redact, messages, payments, campaigns, ai, renewals, risk, analytics. Each runs with
// PY360_BENCH_RESULTS naming a temporary JSON file its BenchRecorder (bench/lib/results.ts)
// writes its figures to; its `##progress i/n label` lines drive the progress bar (on a terminal;
// one line per step otherwise). Each bench's whole output goes to a log file (bench/logs/<time>/
// <name>.log unless --logs says otherwise), named at the end. Then bench/RESULTS.md is written
// (bench/lib/results_file.ts): the machine, a summary of the goals met and missed, a section per
// bench. With --only, the other benches' sections are kept from the existing file, each with its
// own date and commit.
//
// - `--policies N` (1,000,000) is handed to the benches that build a book of policies.
// - `--args "messages --messages 2000 --instances 1,2"` (repeatable) hands more arguments to one
//   bench, e.g. for a small trial run; the defaults otherwise.
// - A bench that fails (exits non-zero, or ends without its results) gets a section saying so,
//   with its log and its last lines; the suite goes on with the next and exits 1 at the end.
import { parseArgs } from "node:util";
import { projectRoot, tryRun } from "../scripts/lib/run.ts";
import { exitSignals } from "../scripts/lib/signals.ts";
import { loadAverage } from "./lib/machine.ts";
import type { BenchResult } from "./lib/results.ts";
import { resultsFileVariable } from "./lib/results.ts";
import {
  type BenchRun,
  formatDuration,
  type KeptSection,
  type Machine,
  parseSections,
  renderResults,
  summarize,
} from "./lib/results_file.ts";
import {
  LineSplitter,
  progressLine,
  stepLine,
  stepOf,
  type SuiteState,
} from "./lib/suite_progress.ts";

/** The suite's benches in the order they run; `policies`: takes `--policies` (builds a book). */
const benches = [
  { name: "redact", policies: false },
  { name: "messages", policies: false },
  { name: "payments", policies: false },
  { name: "campaigns", policies: false },
  { name: "ai", policies: false },
  { name: "renewals", policies: true },
  { name: "risk", policies: true },
  { name: "analytics", policies: true },
] as const;
const names: string[] = benches.map((b) => b.name);

/** Says what is wrong with the command line, and what the suite takes; exits 2. */
function usage(message: string): never {
  console.error(
    `${message}\nThe suite takes --only <name>[,<name>] (among ${names.join(", ")}), ` +
      `--policies N, --results FILE, --logs DIR and --args "<bench> <its options>"; one bench ` +
      "alone: npm run bench:<name> -- <its options>.",
  );
  Deno.exit(2);
}

/** The suite's options; usage() for one it does not take. */
function parseOptions() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        only: { type: "string" },
        policies: { type: "string", default: "1000000" },
        results: { type: "string", default: `${projectRoot}/bench/RESULTS.md` },
        logs: { type: "string" },
        args: { type: "string", multiple: true, default: [] },
      },
    });
  } catch (error) {
    // E.g. the renewals bench's own `--jobs-only`, which `npm run bench` used to take.
    usage((error as Error).message);
  }
}
const { values } = parseOptions();
const policies = Number(values.policies);
if (!Number.isInteger(policies) || policies < 1) {
  usage("--policies must be a whole number, at least 1");
}
const chosen = values.only
  ? values.only.split(",").map((name) => name.trim()).filter(Boolean)
  : names;
const unknown = chosen.filter((name) => !names.includes(name));
if (unknown.length > 0 || chosen.length === 0) {
  usage(`--only: no bench named ${unknown.join(", ") || "(none given)"}`);
}
const extra = new Map<string, string[]>();
for (const spec of values.args) {
  const [name, ...rest] = spec.trim().split(/\s+/);
  if (!names.includes(name)) usage(`--args "${spec}": no bench named ${name}`);
  extra.set(name, [...(extra.get(name) ?? []), ...rest]);
}
const toRun = benches.filter((b) => chosen.includes(b.name));

const started = new Date();
const stamp = started.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
const logDir = values.logs ?? `${projectRoot}/bench/logs/${stamp}`;
await Deno.mkdir(logDir, { recursive: true });
const resultsPath = values.results;
const tty = Deno.stdout.isTerminal();
const commit = await gitCommit();
const machineBefore = loadAverage();

/** The running bench's process, stopped if the suite is interrupted. */
let current: Deno.ChildProcess | undefined;
for (const [signal, code] of exitSignals) {
  Deno.addSignalListener(signal, async () => {
    if (tty) console.log();
    console.log(`Interrupted: stopping the running bench (it removes its cluster), no results.`);
    try {
      current?.kill("SIGTERM");
      await current?.status;
    } catch { /* already gone */ }
    Deno.exit(code);
  });
}

console.log(
  `Running ${toRun.map((b) => b.name).join(", ")}` +
    `${toRun.some((b) => b.policies) ? ` (book benches: --policies ${policies})` : ""}; ` +
    `logs in ${relative(logDir)}`,
);
const runs: BenchRun[] = [];
for (const [i, bench] of toRun.entries()) {
  const args = [
    ...(bench.policies ? ["--policies", String(policies)] : []),
    ...(extra.get(bench.name) ?? []),
  ];
  const run = await runBench(bench.name, args, i + 1, toRun.length);
  runs.push(run);
  const took = formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
  if (run.result) {
    const s = summarize(run);
    console.log(
      `✓ ${run.name} (${took}): ${run.result.figures.length} figures; goals met ${s.met}, ` +
        `missed ${s.missed}, not judged ${s.unjudged}`,
    );
  } else {
    console.log(`✗ ${run.name} (${took}) FAILED: ${run.failure}; see ${run.log}`);
  }
}

const machine: Machine = {
  cores: navigator.hardwareConcurrency,
  cpu: (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.+)/)?.[1] ??
    "unknown CPU",
  memoryGiB: Deno.systemMemoryInfo().total / 2 ** 30,
  postgres: await postgresVersion(),
  deno: Deno.version.deno,
  loadBefore: machineBefore,
  loadAfter: loadAverage(),
  date: started.toISOString(),
  commit,
  ran: toRun.map((b) => b.name),
};
let kept = new Map<string, KeptSection>();
try {
  kept = parseSections(await Deno.readTextFile(resultsPath));
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
await Deno.writeTextFile(resultsPath, renderResults({ machine, runs, kept, order: names }));
// The file is in the tree, whose `deno fmt --check` is one of the test gates: format it.
await tryRun(Deno.execPath(), ["fmt", "--quiet", resultsPath]);
const failed = runs.filter((run) => !run.result);
console.log(
  `\nResults: ${relative(resultsPath)}; each bench's output: ${relative(logDir)}/<name>.log. ` +
    `The suite took ${formatDuration(Date.now() - started.getTime())}.`,
);
if (failed.length > 0) {
  console.log(`Failed: ${failed.map((run) => `${run.name} (${run.log})`).join(", ")}`);
  Deno.exit(1);
}

/**
 * Runs `bench/<name>.ts` in its own process with `args`, its output to `<logDir>/<name>.log`,
 * showing its steps; returns what it reported, or why it failed.
 */
async function runBench(
  name: string,
  args: string[],
  index: number,
  total: number,
): Promise<BenchRun> {
  const log = `${logDir}/${name}.log`;
  const script = `bench/${name}.ts`;
  const resultsFile = await Deno.makeTempFile({ prefix: `py360-bench-${name}-`, suffix: ".json" });
  const startedAt = new Date();
  const base = {
    name,
    title: name,
    startedAt: startedAt.toISOString(),
    commit,
    loadBefore: loadAverage(),
    log: relative(log),
  };
  const state: SuiteState = { index, total, name, benchMs: 0, suiteMs: 0 };
  const show = () => {
    state.benchMs = Date.now() - startedAt.getTime();
    state.suiteMs = Date.now() - started.getTime();
    if (tty) {
      const columns = Deno.consoleSize().columns;
      Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${progressLine(state, columns)}`));
    }
  };
  const file = await Deno.open(log, { write: true, create: true, truncate: true });
  const tail: string[] = [];
  let failure: string | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    await file.write(
      new TextEncoder().encode(`$ deno run -A ${script} ${args.join(" ")}\n`),
    );
    try {
      await Deno.stat(`${projectRoot}/${script}`);
    } catch {
      throw new Error(`${script} does not exist`);
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, ...args],
      cwd: projectRoot,
      env: { [resultsFileVariable]: resultsFile, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    current = child;
    if (!tty) console.log(stepLine(state));
    show();
    ticker = setInterval(show, 1000);
    const encoder = new TextEncoder();
    const follow = async (stream: ReadableStream<Uint8Array>) => {
      const splitter = new LineSplitter();
      const take = async (lines: string[]) => {
        for (const line of lines) {
          await file.write(encoder.encode(`${line}\n`));
          tail.push(line);
          if (tail.length > 30) tail.shift();
          const step = stepOf(line);
          if (step) {
            state.step = step;
            state.benchMs = Date.now() - startedAt.getTime();
            if (tty) show();
            else console.log(stepLine(state));
          }
        }
      };
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        await take(splitter.push(chunk));
      }
      await take(splitter.flush());
    };
    const [status] = await Promise.all([child.status, follow(child.stdout), follow(child.stderr)]);
    current = undefined;
    if (!status.success) {
      failure = status.signal ? `stopped by ${status.signal}` : `exited with code ${status.code}`;
    }
  } catch (error) {
    failure = (error as Error).message;
    tail.push(failure);
  } finally {
    clearInterval(ticker);
    if (tty) Deno.stdout.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    file.close();
  }
  let result: BenchResult | undefined;
  if (!failure) {
    const text = await Deno.readTextFile(resultsFile);
    try {
      result = JSON.parse(text) as BenchResult;
      if (result.name !== name) failure = `its results name ${result.name}, not ${name}`;
    } catch {
      failure = text.trim()
        ? "its results file is not JSON"
        : "it ended without writing its results (BenchRecorder.save())";
    }
  }
  await Deno.remove(resultsFile).catch(() => {});
  const finished = {
    ...base,
    finishedAt: new Date().toISOString(),
    loadAfter: loadAverage(),
  };
  return failure ? { ...finished, failure, tail: tail.slice(-15) } : { ...finished, result };
}

/** The commit checked out, short, and whether tracked files differ from it. */
async function gitCommit(): Promise<string> {
  const head = await tryRun("git", ["rev-parse", "--short", "HEAD"], { cwd: projectRoot });
  if (head.code !== 0) return "unknown";
  const status = await tryRun("git", ["status", "--porcelain", "--untracked-files=no"], {
    cwd: projectRoot,
  });
  const dirty = status.code === 0 && status.stdout.trim() !== "";
  return `${head.stdout.trim()}${dirty ? " + uncommitted changes" : ""}`;
}

/** `PostgreSQL 15.x` of the binaries the throwaway clusters run. */
async function postgresVersion(): Promise<string> {
  const bindir = Deno.env.get("PG_BINDIR") ?? "/usr/lib/postgresql/15/bin";
  const result = await tryRun(`${bindir}/postgres`, ["--version"]).catch(() => undefined);
  const version = result?.stdout.match(/(\d+\.\d+)/)?.[1];
  return version ? `PostgreSQL ${version}` : "PostgreSQL (version unknown)";
}

/** A path from the project root when it is inside it. */
function relative(path: string): string {
  return path.startsWith(`${projectRoot}/`) ? path.slice(projectRoot.length + 1) : path;
}
