// `npm start`: the local stack — database with demo data, the functions gateway, the vendor
// sandbox (unless real vendor credentials are set) and the outbox's worker — until Ctrl-C,
// which stops what this command started.
import { startSandbox } from "../sandbox/mod.ts";
import { serveGateway } from "./gateway.ts";
import { functionsEnv, functionsPort, prepareDevDatabase } from "./lib/dev.ts";
import { localApiKeys, localJwtSecret } from "./lib/keys.ts";
import { startObjectStore } from "./lib/object_store.ts";
import { projectRoot } from "./lib/run.ts";
import {
  realVendorVariables,
  sandboxEnv,
  sandboxPort,
  sandboxWebhooks,
} from "./lib/sandbox_env.ts";

const { cluster, wasRunning, created } = await prepareDevDatabase();
for (const [name, value] of Object.entries(await functionsEnv(cluster))) {
  if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
}

// The vendors: the sandbox, unless a real vendor's credentials are set (then no vendor is
// emulated, so a real message is never mixed with a played one).
const functionsUrl = `http://127.0.0.1:${functionsPort}/functions/v1`;
const realVendors = realVendorVariables.filter((name) => Deno.env.get(name) !== undefined);
const sandbox = realVendors.length > 0
  ? undefined
  : await startSandbox({ port: sandboxPort, webhooks: sandboxWebhooks(functionsUrl) });
if (sandbox) {
  for (const [name, value] of Object.entries(sandboxEnv(sandbox, functionsUrl))) {
    if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
  }
}

// Documents' bytes: s3rver standing in for Supabase Storage's S3 endpoint (kept in
// .local/objects), unless STORAGE_S3_ENDPOINT points somewhere already.
const objectStore = Deno.env.get("STORAGE_S3_ENDPOINT") === undefined
  ? await startObjectStore({ dir: `${projectRoot}/.local/objects` })
  : undefined;
for (const [name, value] of Object.entries(objectStore?.env ?? {})) {
  if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
}

let requests = 0;
const gateway = await serveGateway(functionsPort, () => requests++);
// The worker drains the outbox in its own process, as a self-hosted dispatcher would.
const worker = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", `${projectRoot}/scripts/worker.ts`, "--name", "local-worker"],
  env: Deno.env.toObject(),
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const keys = await localApiKeys();
const url = `http://127.0.0.1:${gateway.port}`;

console.log(`
Started the Py360 Renewal local stack${created ? " (new database, demo data loaded)" : ""}.

         API URL: ${url}
   Functions URL: ${url}/functions/v1   (${gateway.functions.join(", ")})
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
    : `STORAGE_S3_ENDPOINT (${Deno.env.get("STORAGE_S3_ENDPOINT")})`
}
          Worker: drains the outbox (pid ${worker.pid})
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
  try {
    worker.kill("SIGTERM");
  } catch { /* already gone */ }
  await worker.status;
  await gateway.shutdown();
  await sandbox?.close();
  await objectStore?.close();
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
  const line = `● up ${uptime} · ${requests} requests · ${db} · Ctrl-C to stop`;
  Deno.stdout.writeSync(encoder.encode(`\x1b[2K${line}\r`));
}, 1000);
