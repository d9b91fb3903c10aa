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
//   bench, e.g. for a small trial run; the defaults otherwise. A bench given any is a trial run:
//   its section says so (with the arguments) and none of its goals is judged (`met: null`).
// - A bench that fails (exits non-zero, or ends without its results) gets a section saying so,
//   with its log and its last lines; the suite goes on with the next and exits 1 at the end.
// - Bad input (bench/lib/suite_options.ts), or a --results file that could not be written, exits 2
//   before any bench runs, naming the option that was wrong.
// - Ctrl-C (SIGINT) or SIGTERM stops the running bench (which removes its cluster), writes the
//   results of the benches finished (the stopped one as failed: interrupted), removes the
//   temporary JSON files and exits 130 / 143; a second signal exits at once, writing nothing.
// - A section of the existing file whose marker is malformed is dropped with a warning naming it.
import { dirname } from "node:path";
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
import {
  parseSuiteOptions,
  type SuiteOptions,
  UsageError,
  usageText,
} from "./lib/suite_options.ts";

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

/** Says which option is wrong and how it is used, and what the suite takes; exits 2. */
function usage(error: UsageError): never {
  console.error(usageText(error, names));
  Deno.exit(2);
}

let options: SuiteOptions;
try {
  options = parseSuiteOptions(Deno.args, names, `${projectRoot}/bench/RESULTS.md`);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  usage(error);
}
const { chosen, policies, extra } = options;
const toRun = benches.filter((b) => chosen.includes(b.name));

const started = new Date();
const stamp = started.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
const resultsPath = options.results;
// Before anything runs: RESULTS.md must be writable where --results says, not found unwritable
// after an hour of benches.
await checkResultsFolder(resultsPath);
const logDir = options.logs ?? `${projectRoot}/bench/logs/${stamp}`;
await Deno.mkdir(logDir, { recursive: true });
const tty = Deno.stdout.isTerminal();
const commit = await gitCommit();
const machineBefore = loadAverage();

/** The running bench's process, stopped if the suite is interrupted. */
let current: Deno.ChildProcess | undefined;
/** The benches' results files (temporary JSON) not yet removed. */
const tempFiles = new Set<string>();
/** The signal that interrupted the suite, and the exit code it gets (130, 143). */
let interrupted: { signal: Deno.Signal; code: number } | undefined;
for (const [signal, code] of exitSignals) {
  Deno.addSignalListener(signal, () => {
    if (tty) console.log();
    if (interrupted) {
      // A second signal: out now, without the results (the bench still removes its cluster).
      console.log(`Interrupted again (${signal}): exiting without writing the results.`);
      for (const file of tempFiles) {
        try {
          Deno.removeSync(file);
        } catch { /* already gone */ }
      }
      Deno.exit(code);
    }
    interrupted = { signal, code };
    console.log(
      `Interrupted (${signal}): stopping the running bench (it removes its cluster), then ` +
        `writing the results of the benches finished (again to exit at once).`,
    );
    try {
      current?.kill("SIGTERM");
    } catch { /* already gone */ }
  });
}

console.log(
  `Running ${toRun.map((b) => b.name).join(", ")}` +
    `${toRun.some((b) => b.policies) ? ` (book benches: --policies ${policies})` : ""}; ` +
    `logs in ${relative(logDir)}`,
);
const runs: BenchRun[] = [];
for (const [i, bench] of toRun.entries()) {
  if (interrupted) break;
  const trialArgs = extra.get(bench.name) ?? [];
  const args = [...(bench.policies ? ["--policies", String(policies)] : []), ...trialArgs];
  const run = await runBench(bench.name, args, trialArgs, i + 1, toRun.length);
  runs.push(run);
  const took = formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
  if (run.result) {
    const s = summarize(run);
    console.log(
      `✓ ${run.name} (${took}): ${run.result.figures.length} figures; ` +
        (s.trial
          ? `a trial run (arguments: ${s.trial}), goals not judged (${s.unjudged})`
          : `goals met ${s.met}, missed ${s.missed}, not judged ${s.unjudged}`),
    );
  } else {
    console.log(`✗ ${run.name} (${took}) FAILED: ${run.failure}; see ${run.log}`);
  }
}

if (runs.length === 0) {
  // Interrupted before the first bench started: nothing to write.
  console.log("No bench ran; the results file is as it was.");
  Deno.exit(interrupted?.code ?? 1);
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
  ran: runs.map((run) => run.name),
};
let kept = new Map<string, KeptSection>();
try {
  kept = parseSections(
    await Deno.readTextFile(resultsPath),
    (warning) => console.warn(`${relative(resultsPath)}, ${warning}`),
  );
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) {
    console.warn(
      `${relative(resultsPath)}: not read (${(error as Error).message}); no section kept from it`,
    );
  }
}
const text = renderResults({ machine, runs, kept, order: names });
let written = resultsPath;
try {
  await Deno.writeTextFile(resultsPath, text);
} catch (error) {
  // The folder was checked before the run, but may have gone since: keep the results anyway.
  written = `${logDir}/RESULTS.md`;
  console.warn(`${relative(resultsPath)}: not written (${(error as Error).message})`);
  await Deno.writeTextFile(written, text);
}
// The file is in the tree, whose `deno fmt --check` is one of the test gates: format it.
await tryRun(Deno.execPath(), ["fmt", "--quiet", written]);
const failed = runs.filter((run) => !run.result);
console.log(
  `\nResults: ${relative(written)}; each bench's output: ${relative(logDir)}/<name>.log. ` +
    `The suite took ${formatDuration(Date.now() - started.getTime())}.`,
);
if (failed.length > 0) {
  console.log(`Failed: ${failed.map((run) => `${run.name} (${run.log})`).join(", ")}`);
}
if (interrupted) {
  const skipped = toRun.slice(runs.length).map((b) => b.name);
  if (skipped.length > 0) console.log(`Not run (interrupted): ${skipped.join(", ")}`);
  Deno.exit(interrupted.code);
}
if (failed.length > 0) Deno.exit(1);

/**
 * Exits 2 unless `path` can be written: its folder exists and takes a new file, and `path` is
 * not itself a folder. Checked before the first bench runs.
 */
async function checkResultsFolder(path: string): Promise<void> {
  const folder = dirname(path);
  const fail = (message: string): never =>
    usage(new UsageError("--results", `${JSON.stringify(path)}: ${message}`));
  try {
    if (!(await Deno.stat(folder)).isDirectory) fail(`${folder} is not a folder`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) fail(`there is no folder ${folder}`);
    throw error;
  }
  try {
    if ((await Deno.stat(path)).isDirectory) fail("is a folder, not a file");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    const probe = await Deno.makeTempFile({ dir: folder, prefix: ".py360-bench-probe-" });
    await Deno.remove(probe);
  } catch (error) {
    fail(`cannot write in ${folder} (${(error as Error).message})`);
  }
}

/**
 * Runs `bench/<name>.ts` in its own process with `args`, its output to `<logDir>/<name>.log`,
 * showing its steps; returns what it reported, or why it failed.
 */
async function runBench(
  name: string,
  args: string[],
  trialArgs: string[],
  index: number,
  total: number,
): Promise<BenchRun> {
  const log = `${logDir}/${name}.log`;
  const script = `bench/${name}.ts`;
  const resultsFile = await Deno.makeTempFile({ prefix: `py360-bench-${name}-`, suffix: ".json" });
  tempFiles.add(resultsFile);
  const startedAt = new Date();
  const base = {
    name,
    title: name,
    startedAt: startedAt.toISOString(),
    commit,
    loadBefore: loadAverage(),
    log: relative(log),
    ...(trialArgs.length > 0 ? { trialArgs } : {}),
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
    // A signal between the start of this bench and here found no process to stop.
    if (interrupted) child.kill("SIGTERM");
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
      failure = interrupted
        ? `interrupted (${interrupted.signal}) before it finished`
        : status.signal
        ? `stopped by ${status.signal}`
        : `exited with code ${status.code}`;
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
  try {
    if (!failure) {
      const text = await Deno.readTextFile(resultsFile).catch(() => "");
      try {
        result = JSON.parse(text) as BenchResult;
        if (result.name !== name) failure = `its results name ${result.name}, not ${name}`;
      } catch {
        failure = text.trim()
          ? "its results file is not JSON"
          : "it ended without writing its results (BenchRecorder.save())";
      }
    }
  } finally {
    await Deno.remove(resultsFile).catch(() => {});
    tempFiles.delete(resultsFile);
  }
  const finished = {
    ...base,
    finishedAt: new Date().toISOString(),
    loadAfter: loadAverage(),
  };
  return failure ? { ...finished, failure, tail: tail.slice(-15) } : { ...finished, result };
}

/** The commit checked out, short, and whether tracked files differ from it. bench/RESULTS.md
 * does not count: an earlier run's figures left uncommitted in it change no code. */
async function gitCommit(): Promise<string> {
  const head = await tryRun("git", ["rev-parse", "--short", "HEAD"], { cwd: projectRoot });
  if (head.code !== 0) return "unknown";
  const status = await tryRun("git", [
    "status",
    "--porcelain",
    "--untracked-files=no",
    "--",
    ".",
    ":(exclude)bench/RESULTS.md",
  ], { cwd: projectRoot });
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
