// graphile-worker 0.18.0 (a bench-only dependency) as the queue-overhead reference: one worker
// instance with a no-op task, at the settings its performance page gives for its best figures
// (worker.graphile.org/docs/performance, "Quick stats"): concurrentJobs 24, maxPoolSize 25,
// localQueue { size: 500 } (batch job fetching), completeJobBatchDelay 0 and failJobBatchDelay 0
// (batched completion). It runs under Deno through its npm: specifier (deno.json), as our own
// dispatcher does. `deno run -A bench/lib/graphile_noop.ts` with DATABASE_URL set: installs its
// schema, prints "graphile-worker listening" once it LISTENs for new jobs, and counts the jobs it
// ran until SIGTERM. Success lines are off (NO_LOG_SUCCESS, and a logger printing only warnings
// and errors), as in its own performance test.
import { EventEmitter } from "node:events";
import { Logger, run, runMigrations } from "graphile-worker";

/** The preset of graphile-worker's published best run, on `connectionString`; its events go to
 * `events` from the start. */
export function bestPreset(connectionString: string, events = new EventEmitter()) {
  return {
    worker: {
      connectionString,
      events,
      concurrentJobs: 24,
      maxPoolSize: 25,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
      logger: new Logger(() => (level: string, message: string) => {
        if (level === "error" || level === "warning") console.error(`graphile-worker: ${message}`);
      }),
    },
  };
}

if (import.meta.main) {
  const url = Deno.env.get("DATABASE_URL");
  if (!url) throw new Error("set DATABASE_URL");
  const events = new EventEmitter();
  events.on("pool:listen:success", () => console.log("graphile-worker listening"));
  const preset = bestPreset(url, events);
  await runMigrations({ preset });
  let ran = 0;
  const runner = await run({ preset, taskList: { noop: () => void ran++ } });
  const stop = async () => {
    await runner.stop();
    console.log(`graphile-worker ran ${ran} jobs`);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await runner.promise;
}
