// What the book benchmarks (bench/renewals.ts, bench/risk.ts, bench/analytics.ts) share: a
// throwaway cluster with the schema and pg_cron's scheduler idle, and the rule that a goal set
// for the 1,000,000-policy book is judged only on a run over that book.
import { type Cluster, throwawayCluster } from "../../scripts/lib/cluster.ts";
import { ensureDebianPackages } from "../../scripts/lib/packages.ts";
import { applyPlatform, pointScheduler, pushMigrations } from "../../scripts/lib/schema.ts";
import { removeOnExitSignals } from "../../scripts/lib/signals.ts";

/** The book the issues' goals were set for, in policies. */
export const goalBook = 1_000_000;

/**
 * Whether a goal set for the 1,000,000-policy book was met: `met` on a run over that book, null
 * (not judged) on any other.
 */
export function judgedAtGoalBook(policies: number, met: boolean): boolean | null {
  return policies === goalBook ? met : null;
}

/** A goal's text with the book it was set for (`≤ 10 s at 1,000,000 policies`). */
export function atGoalBook(goal: string): string {
  return `${goal} at ${goalBook.toLocaleString("en-US")} policies`;
}

/**
 * The book benchmarks' shared_buffers: 1 GB, what Supabase gives Postgres on its 2-core Medium
 * compute (4 GB of memory; the quarter of memory the Postgres manual suggests as a start for a
 * dedicated server), the smallest 2-core compute in whose memory the 1,000,000-policy book (2.7
 * GB on disk) fits. Postgres's own default, 128 MB, holds a twentieth of the book: a
 * regular day then copies most pages it reads from the kernel's cache. `--shared-buffers 128MB`
 * on a book benchmark measures that.
 */
export const bookSharedBuffers = "1GB";

/** A started throwaway cluster holding the platform and the migrations. */
export interface BookCluster {
  cluster: Cluster;
  /** The superuser's URL. */
  url: string;
  /** Stops and deletes the cluster; also done on Ctrl-C / SIGTERM. Call it in a `finally`. */
  remove: () => Promise<void>;
}

/**
 * Creates and starts a throwaway cluster (fsync off, `sharedBuffers` of shared buffers, a free
 * port, a temporary folder), applies the platform shim and every migration, and idles pg_cron's
 * scheduler (its jobs point at port 1, where nothing listens, as during pgTAP): the benchmarks
 * call each job's function themselves, and a scheduled run (alerts and housekeeping every minute,
 * the 5-minute refresh) would land in the middle of their timings. Prints `throwaway cluster in
 * <folder>` first. The cluster is removed on Ctrl-C / SIGTERM or by `remove`; if setting it up
 * fails, it is removed before the error is thrown.
 */
export async function startBookCluster(sharedBuffers = bookSharedBuffers): Promise<BookCluster> {
  if (!/^\d+[kMG]B$/.test(sharedBuffers)) {
    throw new Error(`shared_buffers must be a size such as 1GB or 128MB, not ${sharedBuffers}`);
  }
  await ensureDebianPackages();
  const cluster = await throwawayCluster([`shared_buffers = ${sharedBuffers}`]);
  const remove = removeOnExitSignals(cluster);
  // Printed before anything starts, as before: tests/functions/signals.test.ts reads it.
  console.log(`throwaway cluster in ${cluster.dataDir}`);
  try {
    await cluster.init();
    await cluster.start();
    const url = cluster.url();
    await applyPlatform(url);
    await pushMigrations(url);
    await pointScheduler(url, 1);
    return { cluster, url, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
