// The background half of a customer's data export (issue 13: DPDP Act 2023 s. 11, GDPR arts. 15
// and 20). POST /api/customers/{id}/export records a pending data request; each housekeeping run
// (functions/housekeeping on Supabase, the local worker's housekeeper) takes pending exports one
// by one with a lease (private.claim_data_export: two runners never build the same one), builds
// the JSON in the database (private.customer_export: every table that holds the person's data,
// found from the catalog), stores it at exports/{request_id}.json in the documents bucket, and
// marks it done with its size and the end of its download (EXPORT_DOWNLOAD_DAYS, 7). A failure
// (the store down, the database) puts it back to pending for a later run after a back-off (1
// minute, then 5), up to 3 attempts, then failed with the error; the claim's attempt number
// fences a runner whose lease ran out.
// Exports past their end are handed to the object-deletion queue (private.expire_data_exports).
import { asService } from "../db.ts";
import { log } from "../log.ts";
import { putObject, s3Client, storageBucket } from "../storage/s3.ts";

/** What one run of the export builder did: requests built, put back for a retry, given up. */
export interface ExportRunStats {
  built: number;
  retried: number;
  failed: number;
}

/** Options of runPendingExports. */
export interface ExportRunOptions {
  /** At most this many exports in one run (default 5). */
  maxExports?: number;
  /** How long a claim is this runner's before another may take it over (default 300 s). */
  leaseSeconds?: number;
}

/** The bucket exports are stored in: the documents bucket (S3_BUCKET_NAME). */
export function exportBucket(): string {
  return storageBucket();
}

/** The object key of the export of data request `requestId`: exports/{requestId}.json. */
export function exportObjectKey(requestId: string): string {
  return `exports/${requestId}.json`;
}

interface Claimed {
  id: string | null;
  customer_id: string;
  attempts: number;
}

/** Words for a failure, without personal data: the error's name and message, shortened. */
function failureText(error: unknown): string {
  const e = error as { name?: string; message?: string; Code?: string };
  const name = e?.Code ?? e?.name ?? "Error";
  return `${name}: ${String(e?.message ?? error)}`.slice(0, 500);
}

/**
 * Builds pending exports until none is left or `maxExports` are done: claim (lease), build the
 * JSON in the database, PUT it (application/json) to the object store, mark done. A failure is
 * recorded on its request (retried by a later run, up to 3 attempts, then failed) and ends the
 * run. Throws (a 503 ProblemError) when the object store is not configured,
 * before claiming anything.
 */
export async function runPendingExports(
  { maxExports = 5, leaseSeconds = 300 }: ExportRunOptions = {},
): Promise<ExportRunStats> {
  s3Client(); // nothing is claimed while storage is not configured
  const stats: ExportRunStats = { built: 0, retried: 0, failed: 0 };
  const bucket = exportBucket();
  for (let n = 0; n < maxExports; n++) {
    const [claimed] = await asService((tx) =>
      tx<Claimed[]>`
        select r.id, r.customer_id, r.attempts
          from private.claim_data_export(make_interval(secs => ${leaseSeconds})) r`
    );
    if (!claimed?.id) break;
    const requestId = claimed.id;
    try {
      const [{ doc }] = await asService((tx) =>
        tx<{ doc: string }[]>`
          select private.customer_export(${claimed.customer_id}::uuid)::text as doc`
      );
      const bytes = new TextEncoder().encode(doc);
      const key = exportObjectKey(requestId);
      await putObject(key, bytes, "application/json", bucket);
      await asService((tx) =>
        tx`select private.complete_data_export(${requestId}::uuid, ${claimed.attempts},
                                                ${key}, ${bytes.byteLength})`
      );
      stats.built++;
      log("info", "export built", { data_request_id: requestId, bytes: bytes.byteLength });
    } catch (error) {
      const [after] = await asService((tx) =>
        tx<{ status: string | null }[]>`
          select r.status from private.fail_data_export(${requestId}::uuid, ${claimed.attempts},
                                                        ${failureText(error)}) r`
      ).catch((recordError) => {
        log("error", "export: the failure could not be recorded", {
          data_request_id: requestId,
          error: recordError,
        });
        return [{ status: null }];
      });
      if (after?.status === "failed") stats.failed++;
      else stats.retried++;
      log("warn", "export failed", {
        data_request_id: requestId,
        attempt: claimed.attempts,
        status: after?.status ?? "unknown",
        error,
      });
      // A request put back to pending would be claimed again at once: it waits for the next run
      // (and a store that is down would fail every other export too).
      break;
    }
  }
  return stats;
}

/**
 * Queues the objects of exports past their download end for deletion (reason export_expired)
 * and stops offering them; returns how many. Idempotent.
 */
export async function expireExports(): Promise<number> {
  const [{ expired }] = await asService((tx) =>
    tx<{ expired: number }[]>`select private.expire_data_exports(${exportBucket()}) as expired`
  );
  return expired;
}
