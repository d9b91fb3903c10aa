// The object-deletion sweep: empties private.object_deletions, where an erasure, the retention
// purge and expired exports queue the objects they no longer need. Each queued object is deleted
// with S3 DeleteObject, which succeeds for an object already gone (S3's rule; a 404 NoSuchKey
// from a stricter server counts as done too), so a sweep repeated after a crash is harmless. A
// failure is recorded on its row (attempts, last_error) and tried again by a later sweep after a
// back-off (private.claim_object_deletions); the rows stay as the record of what was deleted.
import { asService } from "../db.ts";
import { log } from "../log.ts";
import { deleteObject, s3Client } from "./s3.ts";

/** What one sweep did: objects deleted, and deletions that failed (retried later). */
export interface SweepStats {
  deleted: number;
  failed: number;
}

interface Queued {
  id: number;
  bucket: string;
  object_key: string;
  attempts: number;
}

/** Whether `error` says the object (not the bucket) is not there: the deletion is done. */
function isMissingObject(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.Code === "NoSuchKey" ||
    (e?.$metadata?.httpStatusCode === 404 && e?.name !== "NoSuchBucket");
}

/**
 * Deletes up to `batch` queued objects (default 100) and records each outcome. Throws (a 503
 * ProblemError) when the object store is not configured, before taking anything.
 */
export async function sweepObjectDeletions({ batch = 100 } = {}): Promise<SweepStats> {
  s3Client();
  const queued = await asService((tx) =>
    tx<Queued[]>`
      select d.id, d.bucket, d.object_key, d.attempts
        from private.claim_object_deletions(${batch}) d
       order by d.id`
  );
  const stats: SweepStats = { deleted: 0, failed: 0 };
  for (const item of queued) {
    let error: string | null = null;
    try {
      await deleteObject(item.object_key, item.bucket);
    } catch (failure) {
      if (!isMissingObject(failure)) {
        const e = failure as { name?: string; message?: string };
        error = `${e?.name ?? "Error"}: ${String(e?.message ?? failure)}`.slice(0, 500);
        log("warn", "object deletion failed; retried later", {
          deletion_id: item.id,
          attempt: item.attempts,
          error: failure,
        });
      }
    }
    await asService((tx) => tx`select private.finish_object_deletion(${item.id}, ${error})`);
    if (error) stats.failed++;
    else stats.deleted++;
  }
  return stats;
}
