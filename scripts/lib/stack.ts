// The running local stack on a database that has the migrations: the vendor sandbox (in the
// calling process), the object store (s3rver), the functions gateway and the outbox's worker
// (each a process of its own), wired together: the functions reach the sandbox and s3rver, the
// sandbox posts its signed webhooks to the gateway. `npm start`, the journeys of `npm test`
// (tests/e2e) and the simulated desk start it the same way.
import { startSandbox } from "../../sandbox/mod.ts";
import type { Sandbox } from "../../sandbox/mod.ts";
import { localAuthIssuer, localFunctionsEnv } from "./keys.ts";
import { type ObjectStore, startObjectStore } from "./object_store.ts";
import { freePort } from "./ports.ts";
import { type Child, spawnDeno } from "./processes.ts";
import { sandboxEnv, sandboxWebhooks } from "./sandbox_env.ts";

/** How to start the stack. */
export interface StackOptions {
  /** The database's superuser URL (SUPABASE_DB_URL); the functions log in as
   * api_authenticator on the same server, whose password must be set. */
  databaseUrl: string;
  /** The gateway's port; 0 or absent: a free one. */
  functionsPort?: number;
  /** The sandbox's port, 0 or absent: a free one; `false`: no sandbox (real vendors, whose
   * variables are then expected in `env`). */
  sandboxPort?: number | false;
  /** s3rver's folder (absent: a temporary one, removed on stop); `false`: no s3rver
   * (STORAGE_S3_ENDPOINT and its keys are then expected in `env`). */
  objectsDir?: string | false;
  /** Variables for the functions that win over the stack's own (`.env`, the caller's). */
  env?: Record<string, string>;
  /** The worker's name (its leases' holder); default `stack-worker`. */
  workerName?: string;
  /** Each line the gateway and the worker print, with the child's name; default: kept quiet
   * (the last lines are shown if one fails). */
  onLine?: (child: string, line: string) => void;
}

/** A running stack. */
export interface Stack {
  /** `http://127.0.0.1:PORT/functions/v1`: the functions, as Supabase's URL shapes them. */
  functionsUrl: string;
  gatewayPort: number;
  /** Absent when the real vendors are used. */
  sandbox?: Sandbox;
  /** Absent when STORAGE_S3_ENDPOINT points elsewhere. */
  objectStore?: ObjectStore;
  /** The environment the gateway and the worker run with. */
  env: Record<string, string>;
  gateway: Child;
  worker: Child;
  /** Stops the worker (after its batch in hand), the gateway, the sandbox and s3rver. */
  stop(): Promise<void>;
}

/**
 * Starts the stack and resolves once the gateway listens (within 60 s, else throws with what it
 * printed). A part that fails to start stops the parts started before it.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const gatewayPort = options.functionsPort || freePort();
  const functionsUrl = `http://127.0.0.1:${gatewayPort}/functions/v1`;
  const started: (() => Promise<void>)[] = [];
  const stopStarted = async () => {
    for (const stop of started.reverse()) await stop().catch(() => {});
  };
  try {
    const sandbox = options.sandboxPort === false ? undefined : await startSandbox({
      port: options.sandboxPort ?? 0,
      webhooks: sandboxWebhooks(functionsUrl),
    });
    if (sandbox) started.push(() => sandbox.close());
    const objectStore = options.objectsDir === false
      ? undefined
      : await startObjectStore({ dir: options.objectsDir });
    if (objectStore) started.push(() => objectStore.close());

    const env: Record<string, string> = {
      ...await localFunctionsEnv(options.databaseUrl, gatewayPort),
      // The local tokens' issuer (`npm run token`), whichever port the gateway listens on,
      // unless the caller names its own project.
      ...(options.env?.SUPABASE_URL === undefined ? { JWT_ISSUER: localAuthIssuer } : {}),
      ...(sandbox ? sandboxEnv(sandbox, functionsUrl) : {}),
      ...(objectStore?.env ?? {}),
      ...options.env,
    };
    const echo = (child: Child) => {
      if (options.onLine) child.onLine((line) => options.onLine!(child.name, line));
    };
    const gateway = spawnDeno("gateway", "scripts/gateway.ts", [String(gatewayPort)], env);
    echo(gateway);
    started.push(() => gateway.stop());
    await gateway.waitFor(/^gateway on \d+/, 60_000);
    const worker = spawnDeno("worker", "scripts/worker.ts", [
      "--name",
      options.workerName ?? "stack-worker",
    ], { ...env, DB_APPLICATION_NAME: "py360-worker" });
    echo(worker);
    started.push(() => worker.stop());

    return {
      functionsUrl,
      gatewayPort,
      sandbox,
      objectStore,
      env,
      gateway,
      worker,
      stop: stopStarted,
    };
  } catch (error) {
    await stopStarted();
    throw error;
  }
}
