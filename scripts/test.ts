// `npm test`: the gates (fmt, lint, type check, db lint), pgTAP through pg_prove, the Deno tests
// and the journeys (tests/e2e, against the running stack: scripts/lib/stack.ts), all on a
// throwaway cluster of their own. Ends with one line `N passed, M failed`.
// After the journeys the secret scan (scripts/lib/secret_scan.ts) looks for every configured
// secret value in what the run printed and in the database's log: each value looked for counts
// as one passed test, each leak as one failed.
//
// `npm test -- tests/database/10_x.test.sql tests/functions/x.test.ts tests/e2e/y.test.ts` runs
// only those files.
import { configVariables } from "../functions/_shared/config.ts";
import { type Cluster, throwawayCluster } from "./lib/cluster.ts";
import { forwardOnlyReport, modifiedMigrations } from "./lib/forward_only.ts";
import { lintOpenApiDocument } from "./lib/openapi_lint.ts";
import {
  localApiKeyIssuer,
  localApiKeys,
  localAuthenticator,
  localAuthenticatorUrl,
  localJwtSecret,
} from "./lib/keys.ts";
import { ensureDebianPackages } from "./lib/packages.ts";
import { projectRoot, tryRun } from "./lib/run.ts";
import {
  applyPlatform,
  applySeed,
  applyTestHelpers,
  lintDatabase,
  pointScheduler,
  projectFiles,
  pushMigrations,
  setLocalAuthenticatorPassword,
} from "./lib/schema.ts";
import { killAll } from "./lib/processes.ts";
import { removeOnExitSignals } from "./lib/signals.ts";
import { type Stack, startStack } from "./lib/stack.ts";
import {
  plantSecrets,
  recordedLeaks,
  recordedSecrets,
  scanForSecrets,
  type ScannedSecret,
} from "./lib/secret_scan.ts";

interface Tally {
  suite: string;
  passed: number;
  failed: number;
  /** Wall-clock seconds since the tally before it (set up included). */
  seconds?: number;
}

const tallies: Tally[] = [];
const runStarted = performance.now();
let lastTally = runStarted;
/** Counts a suite's tests, with the seconds since the suite before it. */
function tally(entry: Tally): void {
  const now = performance.now();
  tallies.push({ ...entry, seconds: (now - lastTally) / 1000 });
  lastTally = now;
}
const deno = Deno.execPath();
/** Children still running, stopped first when a signal ends the run. */
const children = new Set<Deno.ChildProcess>();

/** Runs a program with its output shown live (unless `live` is false) and returned. */
async function tee(
  program: string,
  args: string[],
  env?: Record<string, string>,
  live = true,
) {
  const child = new Deno.Command(program, {
    args,
    cwd: projectRoot,
    env,
    clearEnv: env !== undefined,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += new TextDecoder().decode(chunk);
      if (live) await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  children.delete(child);
  return { code: status.code, output };
}

/** Runs one gate and tallies it; a check that throws fails the gate, its error as the output. */
async function gate(name: string, check: () => Promise<{ code: number; output: string }>) {
  const { code, output } = await check().catch((error) => ({ code: 1, output: String(error) }));
  if (code !== 0) console.log(output);
  console.log(`${code === 0 ? "ok" : "FAILED"}  gate: ${name}`);
  tally({ suite: `gate: ${name}`, passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1 });
}

const gateCommand = (args: string[]) => async () => {
  const result = await tryRun(deno, args, { env: { NO_COLOR: "1" } });
  return { code: result.code, output: result.stdout + result.stderr };
};

function countTap(output: string, code: number): { passed: number; failed: number } {
  const passed = output.match(/^\s*ok \d+/gm)?.length ?? 0;
  let failed = output.match(/^\s*not ok \d+/gm)?.length ?? 0;
  // A file that died part way fails the tests it planned and never ran.
  for (const [, planned, ran] of output.matchAll(/You planned (\d+) tests? but ran (\d+)/g)) {
    failed += Math.max(0, Number(planned) - Number(ran));
  }
  if (code !== 0 && failed === 0) failed = 1;
  return { passed, failed };
}

function countDeno(output: string, code: number): { passed: number; failed: number } {
  // deno test ends with e.g. "ok | 12 passed (3 steps) | 0 failed" (steps are not counted).
  const match = output.match(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  const passed = match ? Number(match[1]) : 0;
  let failed = match ? Number(match[2]) : 0;
  if (code !== 0 && failed === 0) failed = 1;
  return { passed, failed };
}

const selected = Deno.args;
const sqlFiles = selected.filter((file) => file.endsWith(".sql"));
// Deno test files, or folders of them (`npm test -- tests/functions/`); the journeys apart.
const isJourney = (file: string) => file.replace(/^\.\//, "").startsWith("tests/e2e");
const denoFiles = selected.filter((file) => file.endsWith(".ts") || file.endsWith("/"));
const tsFiles = denoFiles.filter((file) => !isJourney(file));
const journeyFiles = denoFiles.filter(isJourney);
const runAll = selected.length === 0;

await ensureDebianPackages();

/** The gates over the tree; they need no database, so they run while the databases are made. */
async function treeGates(): Promise<void> {
  await gate("deno fmt --check", gateCommand(["fmt", "--check"]));
  await gate("deno lint", gateCommand(["lint"]));
  await gate("deno check", gateCommand(["check", "."]));
  await gate("migrations are forward-only", async () => {
    const modified = await modifiedMigrations();
    return { code: modified.length === 0 ? 0 : 1, output: forwardOnlyReport(modified) };
  });
  await gate("redocly lint (OpenAPI document)", lintOpenApiDocument);
}
const gatesDone = runAll ? treeGates() : Promise.resolve();

/** What pg_prove printed, searched by the secret scan with the rest. */
let pgTapOutput = "";

// The secret scan's inputs, gathered by the Deno tests and the journeys.
const scanned: Record<string, string> = {};
const secrets: ScannedSecret[] = [];
const scanDir = await Deno.makeTempDir({ prefix: "py360-secret-scan-" });
const keys = await localApiKeys();
// The machine's environment, less anything the functions would read from it.
const env = Object.fromEntries(
  Object.entries(Deno.env.toObject()).filter(([name]) => !configVariables.includes(name)),
);
// In a full run `deno check .` has checked every file already.
const check = runAll ? ["--no-check"] : [];

const cluster = await throwawayCluster();
// The journeys run on a database of their own, beside pgTAP and the Deno tests.
const journeysCluster = runAll || journeyFiles.length > 0 ? await throwawayCluster() : undefined;
let journeysStack: Stack | undefined;
// Both removed at the end, or on Ctrl-C / SIGTERM after stopping the running children.
const stopClusters = removeOnExitSignals({
  remove: async () => {
    await Promise.all([cluster.remove(), journeysCluster?.remove()]);
  },
}, () => {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  killAll();
  journeysStack?.objectStore?.close();
});
const journeys = journeysCluster ? runJourneys(journeysCluster) : undefined;

/**
 * The journeys (tests/e2e) against the running stack on `on`: a database with the migrations and
 * the demo book, pg_cron's scheduler pointed away (the journeys play its part, calling each job's
 * function with the as_of of their own timeline). Their output is kept, shown when they end.
 */
async function runJourneys(on: Cluster): Promise<{ output: string; tally: Tally }> {
  const started = performance.now();
  let output = "";
  let stackOutput = "";
  const counts = { passed: 0, failed: 1 };
  try {
    await on.init();
    await on.start();
    const url = on.url();
    await applyPlatform(url);
    await pushMigrations(url);
    await pointScheduler(url, 1);
    await applySeed(url);
    await setLocalAuthenticatorPassword(url);
    journeysStack = await startStack({
      databaseUrl: url,
      env: { PY360_TEST_SECRET_SCAN_DIR: scanDir, LOG_LEVEL: "warn", NO_COLOR: "1" },
      workerName: "e2e-worker",
      onLine: (child, line) => stackOutput += `${child}: ${line}\n`,
    });
    const run = await tee(deno, [
      "test",
      "-A",
      "--no-prompt",
      ...check,
      ...(journeyFiles.length > 0 ? journeyFiles : ["tests/e2e/"]),
    ], {
      ...env,
      NO_COLOR: "1",
      E2E_FUNCTIONS_URL: journeysStack.functionsUrl,
      E2E_SANDBOX_URL: journeysStack.sandbox!.url,
      TEST_ADMIN_DB_URL: url,
      SUPABASE_JWT_SECRET: localJwtSecret,
      SUPABASE_ANON_KEY: keys.anon,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRole,
    }, false);
    output = run.output;
    Object.assign(counts, countDeno(run.output, run.code));
    if (run.code !== 0) {
      output += "\nthe stack's last lines:\n" +
        `${journeysStack.gateway.tail()}\n${journeysStack.worker.tail()}\n`;
    }
  } catch (error) {
    output += `\nthe journeys could not run: ${error instanceof Error ? error.stack : error}\n`;
  } finally {
    await journeysStack?.stop();
    scanned["the journeys' output"] = output;
    scanned["the stack's output (gateway, worker)"] = stackOutput;
  }
  const seconds = (performance.now() - started) / 1000;
  return { output, tally: { suite: "journeys (beside the above)", ...counts, seconds } };
}

try {
  console.log(`\nthrowaway database on port ${cluster.port} in ${cluster.dataDir}`);
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  // Nothing listens on port 1: no scheduled job runs during the pgTAP files (see pointScheduler).
  await pointScheduler(url, 1);
  await gatesDone;
  if (runAll) {
    await gate("supabase db lint", async () => ({ code: 0, output: await lintDatabase(url) }));
  }
  await applySeed(url);
  await applyTestHelpers(url);

  if (runAll || sqlFiles.length > 0) {
    console.log("\npgTAP");
    const files = sqlFiles.length > 0
      ? sqlFiles
      : await projectFiles("tests/database", ".test.sql");
    const { code, output } = await tee("pg_prove", [
      "--host=127.0.0.1",
      `--port=${cluster.port}`,
      "--username=postgres",
      "--dbname=postgres",
      "--verbose",
      ...files,
    ], { PATH: Deno.env.get("PATH") ?? "", PGPASSWORD: "postgres" });
    tally({ suite: "pgTAP", ...countTap(output, code) });
    pgTapOutput = output;
  }

  scanned["the pgTAP output"] = pgTapOutput;

  if (runAll || tsFiles.length > 0) {
    console.log("\nDeno");
    // The Deno tests run against the whole stack, the scheduler included.
    await pointScheduler(url, cluster.port);
    await setLocalAuthenticatorPassword(url);
    // The secret scan (scripts/lib/secret_scan.ts): values planted here, and the values every
    // configuration parsed in the test processes holds, recorded into scanDir.
    const functionsEnv = {
      FUNCTIONS_DB_URL: localAuthenticatorUrl(url),
      SUPABASE_JWT_SECRET: localJwtSecret,
      API_KEY_ISSUER: localApiKeyIssuer,
    };
    const planted = plantSecrets(functionsEnv);
    const { code, output } = await tee(deno, [
      "test",
      "-A",
      "--no-prompt",
      ...check,
      ...(tsFiles.length > 0 ? tsFiles : ["tests/functions/"]),
    ], {
      ...env,
      ...planted,
      PY360_TEST_SECRET_SCAN_DIR: scanDir,
      NO_COLOR: "1",
      LOG_LEVEL: "warn",
      // The functions log in as api_authenticator (no rights of its own); the tests look
      // things up as the superuser, which, as on Supabase, is also SUPABASE_DB_URL.
      FUNCTIONS_DB_URL: localAuthenticatorUrl(url),
      TEST_ADMIN_DB_URL: url,
      // For the chaos tests, which restart the cluster under load.
      TEST_CLUSTER_DATA_DIR: cluster.dataDir,
      TEST_CLUSTER_PORT: String(cluster.port),
      SUPABASE_DB_URL: url,
      SUPABASE_JWT_SECRET: localJwtSecret,
      API_KEY_ISSUER: localApiKeyIssuer,
      SUPABASE_ANON_KEY: keys.anon,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRole,
    });
    tally({ suite: "Deno", ...countDeno(output, code) });
    scanned["the Deno output"] = output;
    secrets.push(...Object.entries(planted).map(([name, value]) => ({ name, value })));
  }

  if (journeys) {
    const { output, tally: counted } = await journeys;
    console.log("\nJourneys (tests/e2e, against the running stack, on a database of their own)");
    console.log(output);
    tallies.push(counted);
  }

  if (runAll || denoFiles.length > 0) {
    secrets.push(
      { name: "SUPABASE_JWT_SECRET", value: localJwtSecret },
      { name: "FUNCTIONS_DB_URL (password)", value: localAuthenticator.password },
      ...await recordedSecrets(scanDir),
    );
    const quietLeaks = await recordedLeaks(scanDir);
    for (const [name, used] of [["", cluster], [" of the journeys", journeysCluster]] as const) {
      if (!used) continue;
      scanned[`the database log${name}`] = await Deno.readTextFile(`${used.dataDir}/server.log`)
        .catch(() => "");
    }
    const found = scanForSecrets(scanned, secrets);
    const scan = { checked: found.checked, leaks: [...found.leaks, ...quietLeaks] };
    const outputKiB = Math.round(
      Object.values(scanned).reduce((sum, text) => sum + text.length, 0) / 1024,
    );
    console.log(
      `\nsecret scan: ${scan.checked} secret values looked for in ${
        Object.keys(scanned).join(", ")
      } (${outputKiB} KiB): ` +
        (scan.leaks.length === 0 ? "none found" : `${scan.leaks.length} found`),
    );
    for (const leak of scan.leaks) console.log(`FAILED  secret scan: ${leak}`);
    tally({
      suite: "secret scan",
      passed: Math.max(0, scan.checked - scan.leaks.length),
      failed: scan.leaks.length,
    });
  }
} finally {
  await gatesDone;
  await journeys;
  await Deno.remove(scanDir, { recursive: true }).catch(() => {});
  await stopClusters();
}

const passed = tallies.reduce((sum, tally) => sum + tally.passed, 0);
const failed = tallies.reduce((sum, tally) => sum + tally.failed, 0);
console.log("");
for (const { suite, passed, failed, seconds } of tallies) {
  console.log(`  - ${suite} (${passed} passed / ${failed} failed, ${seconds?.toFixed(0)} s)`);
}
console.log(`  in ${((performance.now() - runStarted) / 1000).toFixed(0)} s`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
