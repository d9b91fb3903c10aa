// A job on a timer for the worker (payment reconciliation, social token refresh): one run at a
// time, skipped while the job is switched off, a failure logged and tried again at the next tick.
import { log } from "../../functions/_shared/log.ts";

/** A running periodic job. */
export interface PeriodicJob {
  /** Lets the run in hand finish, then stops. */
  stop(): Promise<void>;
}

/**
 * Runs `run` now and every `everyMs` milliseconds, never two at once; a tick while `enabled()` is
 * false does nothing. A failed run is logged at warn as `failure` and waits for the next tick.
 */
export function startPeriodic(
  { everyMs, enabled, run, failure }: {
    everyMs: number;
    enabled: () => boolean;
    run: () => Promise<void>;
    failure: string;
  },
): PeriodicJob {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running || !enabled()) return;
    running = run()
      .catch((error) => log("warn", failure, { error }))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, everyMs);
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
