// The local dispatcher, and the self-hosted one for operators without pg_net: drains the outbox
// whenever the gate NOTIFYs `messages_queued`, and on a tick for what comes due later (deferred
// and retried messages, released ones, expired leases). Several may run side by side: claims
// skip each other's rows, and the rate limits and breakers live in the database. It also
// reconciles payments with Razorpay once a minute (scripts/lib/reconciler.ts), and runs the
// housekeeping (data exports, object deletions) every 5 seconds (scripts/lib/housekeeper.ts).
//
// `deno run -A scripts/worker.ts [--name NAME] [--tick-ms 1000] [--batch 100] [--concurrency 32]`
// with the functions' environment (FUNCTIONS_DB_URL and the vendors' variables); `npm start`
// runs one in its own process.
import { parseArgs } from "node:util";
import { config } from "../functions/_shared/config.ts";
import { closeDb, listen } from "../functions/_shared/db.ts";
import { drain, type DrainStats } from "../functions/_shared/dispatch.ts";
import { log } from "../functions/_shared/log.ts";
import { buildProviders } from "../functions/_shared/providers/mod.ts";
import type { Provider, ProviderCode } from "../functions/_shared/providers/types.ts";
import { startHousekeeper } from "./lib/housekeeper.ts";
import { startReconciler } from "./lib/reconciler.ts";
import { startSocialRefresher } from "./lib/social_refresher.ts";

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

/**
 * Starts draining at once; listens for the gate's notifications as soon as the database lets it
 * (retrying on every tick until then), so a worker started while the database is down or
 * refusing connections begins work when it comes back.
 */
export function startWorker(options: WorkerOptions = {}): Worker {
  const name = options.name ?? `worker-${Deno.pid}`;
  const providers = options.providers ?? buildProviders(config());
  const stopping = new AbortController();
  let wanted = true; // a drain is due
  let wake: (() => void) | undefined;
  const nudge = () => {
    wanted = true;
    wake?.();
  };
  let unlisten: (() => Promise<void>) | undefined;
  let listening: Promise<void> | undefined;
  const ensureListening = () => {
    if (unlisten || listening) return;
    listening = listen("messages_queued", nudge)
      .then((stop) => void (unlisten = stop))
      .catch((error) => log("warn", "worker: cannot listen yet", { worker: name, error }))
      .finally(() => (listening = undefined));
  };
  ensureListening();
  const ticker = setInterval(() => {
    ensureListening();
    nudge();
  }, options.tickMs ?? 1000);

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      if (!wanted) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (stopping.signal.aborted) break;
      wanted = false;
      try {
        // A query on a connection the server killed can leave postgres.js waiting for ever: past
        // the budget, the patience for recording results through an outage and a margin, the
        // drain is abandoned and the pool rebuilt (what it had claimed comes back after its
        // lease).
        const budgetMs = 10_000, recordPatienceMs = 30_000;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stats = await Promise.race([
          drain({
            worker: name,
            providers,
            batchSize: options.batchSize,
            concurrency: options.concurrency,
            sendTimeoutMs: config().PROVIDER_TIMEOUT_MS,
            budgetMs,
            recordPatienceMs,
            signal: stopping.signal,
          }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error("drain hung")),
              budgetMs + recordPatienceMs + 10_000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        if (stats.claimed > 0) {
          options.onDrain?.(stats);
          // A full drain may have left more behind (budget): go again at once.
          if (stats.released < stats.claimed) wanted = true;
        }
      } catch (error) {
        // The database went away or refused: what was claimed comes back after its lease.
        log("warn", "worker: drain failed; retrying on the next tick", { worker: name, error });
        if ((error as Error).message === "drain hung") {
          unlisten = undefined;
          await Promise.race([closeDb(), new Promise((resolve) => setTimeout(resolve, 5_000))])
            .catch(() => {});
        }
      }
    }
  })();

  return {
    async stop() {
      stopping.abort();
      clearInterval(ticker);
      wake?.();
      await loop;
      await listening;
      await unlisten?.().catch(() => {});
    },
  };
}

if (import.meta.main) {
  // Its connections are told apart from the functions' in pg_stat_activity.
  if (Deno.env.get("DB_APPLICATION_NAME") === undefined) {
    Deno.env.set("DB_APPLICATION_NAME", "py360-worker");
  }
  // A driver error outside any drain (a connection the server closed mid-write) must not stop
  // the worker: the drain's own errors are caught, and the database keeps every message's state.
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    log("error", "worker: uncaught error", { error: event.error });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    log("error", "worker: unhandled rejection", { error: event.reason });
  });
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      name: { type: "string" },
      "tick-ms": { type: "string", default: "1000" },
      batch: { type: "string", default: "100" },
      concurrency: { type: "string", default: "32" },
    },
  });
  const worker = startWorker({
    name: values.name,
    tickMs: Number(values["tick-ms"]),
    batchSize: Number(values.batch),
    concurrency: Number(values.concurrency),
    onDrain: (stats) => log("info", "worker: drained", { ...stats }),
  });
  // The same process reconciles payments with Razorpay once a minute.
  const reconciler = startReconciler();
  // And refreshes the social platforms' tokens before they expire, every 10 minutes.
  const socialRefresher = startSocialRefresher();
  // And does the housekeeping (data exports, object deletions) every 5 seconds.
  const housekeeper = startHousekeeper();
  log("info", "worker: started", { name: values.name ?? `worker-${Deno.pid}` });
  const stop = async () => {
    await Promise.all([
      worker.stop(),
      reconciler.stop(),
      socialRefresher.stop(),
      housekeeper.stop(),
    ]);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
