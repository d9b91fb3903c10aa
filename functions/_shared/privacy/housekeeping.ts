// One housekeeping run: build the pending data exports, hand expired exports to the deletion
// queue, then sweep the queue (objects queued by erasures, the retention purge and expired
// exports). Called by functions/housekeeping (pg_cron + pg_net every minute on Supabase) and by
// the local worker's housekeeper (scripts/lib/housekeeper.ts); overlapping runs are safe: exports
// are leased when claimed and deletions skip each other's rows.
import { expireExports, type ExportRunStats, runPendingExports } from "./exports.ts";
import { sweepObjectDeletions, type SweepStats } from "../storage/object_deletions.ts";

/** What one housekeeping run did. */
export interface HousekeepingStats {
  exports: ExportRunStats;
  /** Exports whose download ended in this run (their objects queued for deletion). */
  expired_exports: number;
  object_deletions: SweepStats;
}

/** Options of one run: at most `maxExports` exports built, `deletionBatch` objects deleted. */
export interface HousekeepingOptions {
  maxExports?: number;
  deletionBatch?: number;
}

/**
 * Runs the three jobs in order and answers what each did. Throws a 503 ProblemError when the
 * object store is not configured (nothing is claimed then).
 */
export async function runHousekeeping(
  { maxExports = 5, deletionBatch = 100 }: HousekeepingOptions = {},
): Promise<HousekeepingStats> {
  const exports = await runPendingExports({ maxExports });
  const expired = await expireExports();
  const deletions = await sweepObjectDeletions({ batch: deletionBatch });
  return { exports, expired_exports: expired, object_deletions: deletions };
}
