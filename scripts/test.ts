// `npm test`: the gates (fmt, lint, type check, db lint), pgTAP through pg_prove, the Deno tests
// and the journeys (tests/e2e, against the running stack: scripts/lib/stack.ts), all on a
// throwaway cluster of their own. Ends with one line `N passed, M failed`.
// After the journeys the secret scan (scripts/lib/secret_scan.ts) looks for every configured
// secret value in what the run printed and in the database's log: each value looked for counts
// as one passed test, each leak as one failed.
//
// `npm test -- tests/database/10_x.test.sql tests/functions/x.test.ts tests/e2e/y.test.ts` runs
// only those files.
import postgres from "postgres";
import { configVariables } from "../functions/_shared/config.ts";
import { throwawayCluster } from "./lib/cluster.ts";
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

/** Runs a program with its output shown live and returned. */
async function tee(program: string, args: string[], env?: Record<string, string>) {
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
      await sink.write(chunk);
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

async function gate(name: string, check: () => Promise<{ code: number; output: string }>) {
  const { code, output } = await check();
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

/** The database's clock, as an ISO time. */
async function databaseNow(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [{ now }] = await sql`select now()::text as now`;
    return now;
  } finally {
    await sql.end();
  }
}

/**
 * The journeys begin from the demo book: the cases the Deno tests left open since `since` are
 * closed (not_taken, which tells the customer nothing) and the messages they left queued are
 * cancelled, so a journey's cadence run with an as_of a month back reaches the demo book and the
 * journey's own customers only, and the worker does not start with a backlog. If a rule refuses
 * to close one case (an erased customer's), the rest are closed one by one and that one stays.
 * Returns what was done.
 */
async function closeLeftovers(url: string, since: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const open = sql`
    select id from public.renewal_cases
     where created_at > ${since}::timestamptz
       and stage not in ('renewed', 'lapsed', 'lost', 'not_taken')`;
  const close = (ids: string[]) =>
    sql`update public.renewal_cases
           set stage = 'not_taken', lost_reason = 'closed before the journeys'
         where id = any (${ids}::uuid[])`;
  try {
    const ids = (await open).map(({ id }) => id as string);
    let cases = ids.length;
    await close(ids).catch(async () => {
      cases = 0;
      for (const id of ids) await close([id]).then(() => cases++, () => {});
    });
    const [{ messages }] = await sql`
      with cancelled as (
        update public.messages set status = 'cancelled', cancelled_at = now()
         where status = 'queued' and queued_at > ${since}::timestamptz
        returning 1)
      select count(*)::int as messages from cancelled`;
    return `before the journeys: closed ${cases} cases and cancelled ${messages} queued ` +
      "messages the Deno tests left";
  } finally {
    await sql.end();
  }
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

if (runAll) {
  await gate("deno fmt --check", gateCommand(["fmt", "--check"]));
  await gate("deno lint", gateCommand(["lint"]));
  await gate("deno check", gateCommand(["check", "."]));
  await gate("migrations are forward-only", async () => {
    try {
      const modified = await modifiedMigrations();
      return { code: modified.length === 0 ? 0 : 1, output: forwardOnlyReport(modified) };
    } catch (error) {
      return { code: 1, output: String(error) };
    }
  });
  await gate("redocly lint (OpenAPI document)", lintOpenApiDocument);
}

/** What pg_prove printed, searched by the secret scan with the rest. */
let pgTapOutput = "";

const cluster = await throwawayCluster();
// Removed at the end, or on Ctrl-C / SIGTERM after stopping the running child.
const stopCluster = removeOnExitSignals(cluster, () => {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
});

try {
  console.log(`\nthrowaway database on port ${cluster.port} in ${cluster.dataDir}`);
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  // Nothing listens on port 1: no scheduled job runs during the pgTAP files (see pointScheduler).
  await pointScheduler(url, 1);
  if (runAll) {
    await gate("supabase db lint", async () => {
      try {
        return { code: 0, output: await lintDatabase(url) };
      } catch (error) {
        return { code: 1, output: String(error) };
      }
    });
  }
  await applySeed(url);
  const seeded = await databaseNow(url);
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

  // The secret scan's inputs, gathered by the Deno tests and the journeys.
  const scanned: Record<string, string> = { "the pgTAP output": pgTapOutput };
  const secrets: ScannedSecret[] = [];
  const scanDir = await Deno.makeTempDir({ prefix: "py360-secret-scan-" });
  const keys = await localApiKeys();
  // The machine's environment, less anything the functions would read from it.
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !configVariables.includes(name)),
  );
  // In a full run `deno check .` has checked every file already.
  const check = runAll ? ["--no-check"] : [];

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

  if (runAll || journeyFiles.length > 0) {
    console.log("\nJourneys (tests/e2e, against the running stack)");
    // Nothing runs on its own: the journeys play pg_cron's part, calling each job's function
    // with the as_of of their own timeline.
    await pointScheduler(url, 1);
    await setLocalAuthenticatorPassword(url);
    console.log(await closeLeftovers(url, seeded));
    let stackOutput = "";
    let stack: Stack | undefined;
    try {
      stack = await startStack({
        databaseUrl: url,
        env: { PY360_TEST_SECRET_SCAN_DIR: scanDir, LOG_LEVEL: "warn", NO_COLOR: "1" },
        workerName: "e2e-worker",
        onLine: (child, line) => stackOutput += `${child}: ${line}\n`,
      });
      const { code, output } = await tee(deno, [
        "test",
        "-A",
        "--no-prompt",
        ...check,
        ...(journeyFiles.length > 0 ? journeyFiles : ["tests/e2e/"]),
      ], {
        ...env,
        NO_COLOR: "1",
        E2E_FUNCTIONS_URL: stack.functionsUrl,
        E2E_SANDBOX_URL: stack.sandbox!.url,
        TEST_ADMIN_DB_URL: url,
        SUPABASE_JWT_SECRET: localJwtSecret,
        SUPABASE_ANON_KEY: keys.anon,
        SUPABASE_SERVICE_ROLE_KEY: keys.serviceRole,
      });
      tally({ suite: "journeys", ...countDeno(output, code) });
      scanned["the journeys' output"] = output;
      if (code !== 0) {
        console.log(`\nthe stack's last lines:\n${stack.gateway.tail()}\n${stack.worker.tail()}`);
      }
    } finally {
      await stack?.stop();
    }
    scanned["the stack's output (gateway, worker)"] = stackOutput;
  }

  if (runAll || denoFiles.length > 0) {
    secrets.push(
      { name: "SUPABASE_JWT_SECRET", value: localJwtSecret },
      { name: "FUNCTIONS_DB_URL (password)", value: localAuthenticator.password },
      ...await recordedSecrets(scanDir),
    );
    const quietLeaks = await recordedLeaks(scanDir);
    scanned["the database log"] = await Deno.readTextFile(`${cluster.dataDir}/server.log`)
      .catch(() => "");
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
  await Deno.remove(scanDir, { recursive: true }).catch(() => {});
} finally {
  await stopCluster();
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
