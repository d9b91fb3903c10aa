// Housekeeping on a timer, for the local stack and self-hosted operators without pg_net (on
// Supabase pg_cron + pg_net POST /housekeeping/run every minute instead): every `everyMs`
// (default 5 seconds) the pending data exports are built, expired ones handed to the deletion
// queue and the queued objects deleted (functions/_shared/privacy/housekeeping.ts). Nothing runs
// while the object store is not configured.
import { config } from "../../functions/_shared/config.ts";
import { log } from "../../functions/_shared/log.ts";
import { runHousekeeping } from "../../functions/_shared/privacy/housekeeping.ts";
import { type PeriodicJob, startPeriodic } from "./periodic.ts";

/** Starts housekeeping every `everyMs` milliseconds (default 5000), one run at a time. */
export function startHousekeeper({ everyMs = 5_000 } = {}): PeriodicJob {
  return startPeriodic({
    everyMs,
    enabled: () => config().vendors.s3.enabled,
    run: async () => {
      const stats = await runHousekeeping();
      const { exports, expired_exports, object_deletions } = stats;
      if (
        exports.built + exports.retried + exports.failed + expired_exports +
            object_deletions.deleted + object_deletions.failed > 0
      ) {
        log("info", "housekeeping done", { ...stats });
      }
    },
    failure: "housekeeping failed; next tick",
  });
}
