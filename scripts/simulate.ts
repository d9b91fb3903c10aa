// `npm start -- --simulate [--days 30] [--speed X] [--policies 1000] [--seed 1]`: the simulated
// renewal desk. On a throwaway database of its own (the dev data is untouched): the migrations,
// the seed's organisation and a synthetic book; then the local stack (scripts/lib/stack.ts) and a
// month of the desk played day by day (scripts/lib/simulation/engine.ts), its funnel drawn live,
// then the month's summary and next month's spend forecast. Everything it started goes away at
// the end or on Ctrl-C.
import { parseArgs } from "node:util";
import { throwawayCluster } from "./lib/cluster.ts";
import { localJwtSecret } from "./lib/keys.ts";
import { ensureDebianPackages } from "./lib/packages.ts";
import { projectRoot } from "./lib/run.ts";
import {
  applyPlatform,
  applySqlFiles,
  pointScheduler,
  pushMigrations,
  setLocalAuthenticatorPassword,
} from "./lib/schema.ts";
import { exitSignals } from "./lib/signals.ts";
import { simulateDesk } from "./lib/simulation/engine.ts";
import { livePrinter, summaryLines } from "./lib/simulation/render.ts";
import { type Stack, startStack } from "./lib/stack.ts";

const usage = "usage: npm start -- --simulate [--days 1-60] [--speed X > 0] " +
  "[--policies 1-99999] [--seed 0-4294967295]";

/** The largest seed: the customers' randomness takes 32 bits of it (scripts/lib/simulation/
 * random.ts), and the book's tag `SIM<seed>` must stay within 20 characters. */
const maxSeed = 2 ** 32 - 1;

/** The simulation's options from the command line (after `--simulate`); exits 2 on bad ones. */
function options(args: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: args.filter((arg) => arg !== "--simulate"),
      options: {
        days: { type: "string", default: "30" },
        speed: { type: "string" },
        policies: { type: "string", default: "1000" },
        seed: { type: "string", default: "1" },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    Deno.exit(2);
  }
  const days = Number(values.days);
  const policies = Number(values.policies);
  const seed = Number(values.seed);
  const speed = values.speed === undefined ? undefined : Number(values.speed);
  if (
    !Number.isInteger(days) || days < 1 || days > 60 ||
    !Number.isInteger(policies) || policies < 1 || policies > 99_999 ||
    !/^\d{1,10}$/.test(values.seed) || !Number.isInteger(seed) || seed < 0 || seed > maxSeed ||
    (speed !== undefined && !(speed > 0))
  ) {
    console.error(usage);
    Deno.exit(2);
  }
  return { days, policies, seed, speed };
}

const chosen = options(Deno.args);
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const encoder = new TextEncoder();
const write = (text: string) => Deno.stdout.writeSync(encoder.encode(text));

await ensureDebianPackages();
const cluster = await throwawayCluster();
let stack: Stack | undefined;
let starting: Promise<Stack> | undefined;
let stackStopped: Promise<void> | undefined;
/** Stops the whole stack once (worker, gateway, sandbox, s3rver and its temporary folder); one
 * still starting is stopped once it is up. */
const stopStack = () =>
  stackStopped ??= (async () => {
    await (stack ?? await starting?.catch(() => undefined))?.stop();
  })();
let removal: Promise<void> | undefined;
let signalled = false;
/** Removes the throwaway cluster (its whole folder) once; after a signal, never resolves (the
 * signal's handler ends the process with its exit code). */
const removeCluster = () => signalled ? new Promise<void>(() => {}) : removal ??= cluster.remove();
// Ctrl-C (SIGINT, to the process group or to this process alone) and SIGTERM: the whole stack
// first (worker, gateway, sandbox, s3rver and its temporary folder), then the database and its
// folder, then exit 130 / 143; nothing of the run is left behind.
for (const [signal, code] of exitSignals) {
  Deno.addSignalListener(signal, async () => {
    if (signalled) return;
    signalled = true;
    await stopStack().catch(() => {});
    await (removal ??= cluster.remove()).catch(() => {});
    Deno.exit(code);
  });
}
try {
  console.log(
    `Simulated renewal desk: ${chosen.policies.toLocaleString("en-IN")} policies, ` +
      `${chosen.days} days, seed ${chosen.seed}` +
      (chosen.speed ? `, speed ×${chosen.speed}` : ", as fast as it goes"),
  );
  console.log(`Building a throwaway database on port ${cluster.port} ...`);
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  // pg_cron is played by the simulation (each job with the simulated day's as_of): nothing
  // runs on its own clock.
  await pointScheduler(url, 1);
  await setLocalAuthenticatorPassword(url);
  await applySqlFiles(url, [`${projectRoot}/seed/00_org.sql`]);
  console.log(`Database ready (${elapsed()}); starting the stack ...`);
  starting = startStack({ databaseUrl: url });
  stack = await starting;
  console.log(
    `Stack up (${elapsed()}): functions ${stack.functionsUrl}, sandbox ${stack.sandbox?.url}`,
  );

  const terminal = Deno.stdout.isTerminal();
  const title = `Simulated desk, book SIM${chosen.seed}`;
  const result = await simulateDesk({
    functionsUrl: stack.functionsUrl,
    sandboxUrl: stack.sandbox!.url,
    databaseUrl: url,
    jwtSecret: stack.env.SUPABASE_JWT_SECRET ?? localJwtSecret,
    authIssuer: stack.env.JWT_ISSUER ?? `${stack.env.SUPABASE_URL}/auth/v1`,
  }, { ...chosen, onDay: livePrinter(title, terminal, write) });
  console.log("");
  for (const line of summaryLines(result)) console.log(line);
  console.log(`\nDone in ${elapsed()} (set-up included).`);
} finally {
  await stopStack();
  await removeCluster();
}
