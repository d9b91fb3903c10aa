// `npm start`: the local stack — database with demo data, the functions gateway, the vendor
// sandbox (unless real vendor credentials are set) and the outbox's worker — until Ctrl-C,
// which stops what this command started.
import { functionsEnv, functionsPort, prepareDevDatabase } from "./lib/dev.ts";
import { localApiKeys, localJwtSecret } from "./lib/keys.ts";
import { projectRoot } from "./lib/run.ts";
import { realVendorVariables, sandboxPort } from "./lib/sandbox_env.ts";
import { startStack } from "./lib/stack.ts";

// `npm start -- --simulate [...]`: the simulated renewal desk (scripts/simulate.ts), on a
// database of its own; the dev stack is not started.
if (Deno.args.includes("--simulate")) {
  await import("./simulate.ts");
  Deno.exit(0);
}
// Plain `npm start` takes no arguments: a typo (`--simulat`) must not start the dev stack.
if (Deno.args.length > 0) {
  console.error(
    `unknown argument${Deno.args.length > 1 ? "s" : ""}: ${Deno.args.join(" ")}\n` +
      "usage: npm start  |  npm start -- --simulate [--days 1-60] [--speed X > 0] " +
      "[--policies 1-99999] [--seed 0-4294967295]",
  );
  Deno.exit(2);
}

const { cluster, wasRunning, created } = await prepareDevDatabase();
// The caller's environment wins over .env, which wins over the stack's own values.
const env = { ...await functionsEnv(cluster), ...Deno.env.toObject() };

// The vendors: the sandbox, unless a real vendor's credentials are set (then no vendor is
// emulated, so a real message is never mixed with a played one). Documents' bytes: s3rver
// standing in for Supabase Storage's S3 endpoint (kept in .local/objects), unless
// STORAGE_S3_ENDPOINT points somewhere already.
const realVendors = realVendorVariables.filter((name) => env[name] !== undefined);
const stack = await startStack({
  databaseUrl: cluster.url(),
  functionsPort,
  sandboxPort: realVendors.length > 0 ? false : sandboxPort,
  objectsDir: env.STORAGE_S3_ENDPOINT === undefined ? `${projectRoot}/.local/objects` : false,
  env,
  workerName: "local-worker",
  // The gateway's and the worker's log lines scroll above the status line.
  onLine: (_child, line) => console.log(line),
});
const { sandbox, objectStore } = stack;
const keys = await localApiKeys();
const url = `http://127.0.0.1:${stack.gatewayPort}`;
const functions = (await stack.gateway.waitFor(/^gateway on/)).replace(/^.* serving /, "");

console.log(`
Started the Py360 Renewal local stack${created ? " (new database, demo data loaded)" : ""}.

         API URL: ${url}
   Functions URL: ${url}/functions/v1   (${functions})
        API docs: ${url}/functions/v1/api/docs
          DB URL: ${cluster.url()}
         Vendors: ${
  sandbox
    ? `sandbox at ${sandbox.url} (control: POST ${sandbox.url}/_control/<vendor>)`
    : `real (${realVendors.join(", ")} set)`
}
         Objects: ${
  objectStore
    ? `s3rver at ${objectStore.endpoint} (bucket ${objectStore.bucket}, keys S3RVER/S3RVER)`
    : `STORAGE_S3_ENDPOINT (${env.STORAGE_S3_ENDPOINT})`
}
          Worker: drains the outbox (pid ${stack.worker.process.pid})
      JWT secret: ${localJwtSecret}
        anon key: ${keys.anon}
service_role key: ${keys.serviceRole}

A user token: npm run token -- arjun.agent@py360.test
`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  console.log("\nStopping ...");
  await stack.stop();
  if (!wasRunning) await cluster.stop();
  console.log(
    wasRunning ? "Stopped the gateway; the database was already running and stays up." : "Stopped.",
  );
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

// A live status line when attached to a terminal; log lines scroll above it.
const started = Date.now();
let databaseUp = true;
const encoder = new TextEncoder();
const ticker = setInterval(async () => {
  const seconds = Math.floor((Date.now() - started) / 1000);
  if (seconds % 5 === 0) databaseUp = await cluster.isRunning();
  if (!Deno.stdout.isTerminal()) return;
  const uptime = new Date(seconds * 1000).toISOString().slice(11, 19);
  const db = databaseUp ? "database up" : "DATABASE DOWN";
  const line = `● up ${uptime} · ${db} · Ctrl-C to stop`;
  Deno.stdout.writeSync(encoder.encode(`\x1b[2K${line}\r`));
}, 1000);
