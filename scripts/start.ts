// `npm start`: the local stack — database with demo data and the functions gateway — until
// Ctrl-C, which stops what this command started.
import { serveGateway } from "./gateway.ts";
import { functionsEnv, functionsPort, prepareDevDatabase } from "./lib/dev.ts";
import { localApiKeys, localJwtSecret } from "./lib/keys.ts";

const { cluster, wasRunning, created } = await prepareDevDatabase();
for (const [name, value] of Object.entries(await functionsEnv(cluster))) {
  if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
}

let requests = 0;
const gateway = await serveGateway(functionsPort, () => requests++);
const keys = await localApiKeys();
const url = `http://127.0.0.1:${gateway.port}`;

console.log(`
Started the Py360 Renewal local stack${created ? " (new database, demo data loaded)" : ""}.

         API URL: ${url}
   Functions URL: ${url}/functions/v1   (${gateway.functions.join(", ")})
        API docs: ${url}/functions/v1/api/docs
          DB URL: ${cluster.url()}
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
  await gateway.shutdown();
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
