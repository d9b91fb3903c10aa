// The local dispatcher, and the self-hosted one for operators without pg_net: drains the outbox
// whenever the gate NOTIFYs `messages_queued`, and on a tick for what comes due later (deferred
// and retried messages, released ones, expired leases). Several may run side by side: claims
// skip each other's rows, and the rate limits and breakers live in the database.
//
// `deno run -A scripts/worker.ts [--name NAME] [--tick-ms 1000] [--batch 100] [--concurrency 32]`
// with the functions' environment (FUNCTIONS_DB_URL and the vendors' variables); `npm start`
// runs one in its own process.
import { parseArgs } from "node:util";
import { config } from "../functions/_shared/config.ts";
import { listen } from "../functions/_shared/db.ts";
import { drain, type DrainStats } from "../functions/_shared/dispatch.ts";
import { log } from "../functions/_shared/log.ts";
import { buildProviders } from "../functions/_shared/providers/mod.ts";
import type { Provider, ProviderCode } from "../functions/_shared/providers/types.ts";

/** How a worker runs. */
export interface WorkerOptions {
  /** Holds the leases; unique per process. Default `worker-<pid>`. */
  name?: string;
  /** Drain at least this often (milliseconds). Default 1000. */
  tickMs?: number;
  batchSize?: number;
  concurrency?: number;
  /** The providers; by default those the configuration enables. */
  providers?: Partial<Record<ProviderCode, Provider>>;
  /** Called after each drain that moved something. */
  onDrain?: (stats: DrainStats) => void;
}

/** A running worker. */
export interface Worker {
  /** Finishes the batch in hand, then stops. */
  stop(): Promise<void>;
}

/** Starts draining; resolves once it listens for the gate's notifications. */
export async function startWorker(options: WorkerOptions = {}): Promise<Worker> {
  const name = options.name ?? `worker-${Deno.pid}`;
  const providers = options.providers ?? buildProviders(config());
  const stopping = new AbortController();
  let wanted = true; // a drain is due
  let wake: (() => void) | undefined;
  const nudge = () => {
    wanted = true;
    wake?.();
  };
  const unlisten = await listen("messages_queued", nudge);
  const ticker = setInterval(nudge, options.tickMs ?? 1000);

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      if (!wanted) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (stopping.signal.aborted) break;
      wanted = false;
      try {
        const stats = await drain({
          worker: name,
          providers,
          batchSize: options.batchSize,
          concurrency: options.concurrency,
          budgetMs: 30_000,
          signal: stopping.signal,
        });
        if (stats.claimed > 0) {
          options.onDrain?.(stats);
          // A full drain may have left more behind (budget): go again at once.
          if (stats.released < stats.claimed) wanted = true;
        }
      } catch (error) {
        // The database went away or refused: what was claimed comes back after its lease.
        log("warn", "worker: drain failed; retrying on the next tick", { worker: name, error });
      }
    }
  })();

  return {
    async stop() {
      stopping.abort();
      clearInterval(ticker);
      wake?.();
      await loop;
      await unlisten().catch(() => {});
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      name: { type: "string" },
      "tick-ms": { type: "string", default: "1000" },
      batch: { type: "string", default: "100" },
      concurrency: { type: "string", default: "32" },
    },
  });
  const worker = await startWorker({
    name: values.name,
    tickMs: Number(values["tick-ms"]),
    batchSize: Number(values.batch),
    concurrency: Number(values.concurrency),
    onDrain: (stats) => log("info", "worker: drained", { ...stats }),
  });
  log("info", "worker: started", { name: values.name ?? `worker-${Deno.pid}` });
  const stop = async () => {
    await worker.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
