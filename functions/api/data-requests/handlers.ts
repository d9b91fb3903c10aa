// Handlers of /api/customers/{id}/export and /api/data-requests. Everything runs as the caller:
// private.request_customer_export refuses non-admins (42501 → 403) and unknown customers
// (P0002 → 404); public.data_requests is readable by admins only (RLS), and the API asks
// private.is_admin() first so a non-admin gets 403 rather than an empty list. A finished export
// still offered gets a presigned GET of exports/{id}.json valid 15 minutes, signed locally.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { decodeCreatedAtCursor, encodeCursor } from "../../_shared/cursor.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { exportBucket } from "../../_shared/privacy/exports.ts";
import { presignGet } from "../../_shared/storage/s3.ts";
import type {
  DataRequestSchema,
  getDataRequest,
  listDataRequests,
  requestExport,
} from "./routes.ts";

type DataRequest = z.infer<typeof DataRequestSchema>;

/** How long a download URL works, in seconds (15 minutes). */
export const downloadUrlSeconds = 15 * 60;

/** A data_requests row as the queries below select it. */
interface DataRequestRow {
  id: string;
  kind: DataRequest["kind"];
  customer_id: string;
  reason: string | null;
  requested_by: string | null;
  status: DataRequest["status"];
  attempts: number;
  byte_size: number | null;
  error: string | null;
  object_key: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  expires_at: Date | null;
  cursor_key: string;
}

/** SQL: the columns of a data request row (`r`), with its cursor key. */
const columns = (tx: Tx) =>
  tx`r.id, r.kind, r.customer_id, r.reason, r.requested_by, r.status, r.attempts, r.byte_size,
     r.error, r.object_key, r.created_at, r.started_at, r.completed_at, r.expires_at,
     to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_key`;

const iso = (at: Date | null) => (at ? new Date(at).toISOString() : null);

/** A row as the API answers it, with `download` as given. */
function serialize(row: DataRequestRow, download: DataRequest["download"] = null): DataRequest {
  return {
    id: row.id,
    kind: row.kind,
    customer_id: row.customer_id,
    reason: row.reason,
    requested_by: row.requested_by,
    status: row.status,
    attempts: row.attempts,
    byte_size: row.byte_size,
    error: row.error,
    created_at: new Date(row.created_at).toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    expires_at: iso(row.expires_at),
    download,
  };
}

/** 403 unless the caller is an active admin. */
async function requireAdmin(tx: Tx): Promise<void> {
  const [caller] = await tx<{ admin: boolean }[]>`select private.is_admin() as admin`;
  if (!caller.admin) {
    throw new ProblemError(403, "Forbidden", "Data requests are for admins only.");
  }
}

/** POST /customers/{id}/export: 202 with the pending request. */
export const exportCustomer: RouteHandler<typeof requestExport, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  // The body is optional: no body (or no JSON content type) is no reason.
  const body = (c.req.valid("json") ?? {}) as { reason?: string };
  const row = await asCaller(c.get("claims"), async (tx) => {
    const [created] = await tx<DataRequestRow[]>`
      select ${columns(tx)}
        from private.request_customer_export(${id}::uuid, ${body.reason ?? null}) r`;
    return created;
  });
  c.header("Location", `/api/data-requests/${row.id}`);
  return c.json(serialize(row), 202);
};

/** GET /data-requests: newest first, keyset paged on (created_at desc, id). */
export const list: RouteHandler<typeof listDataRequests, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const after = query.cursor ? decodeCreatedAtCursor(query.cursor) : undefined;
  const rows = await asCaller(c.get("claims"), async (tx) => {
    await requireAdmin(tx);
    return await tx<DataRequestRow[]>`
      select ${columns(tx)}
        from public.data_requests r
       where true
         ${query.customer_id ? tx`and r.customer_id = ${query.customer_id}::uuid` : tx``}
         ${query.kind ? tx`and r.kind = ${query.kind}` : tx``}
         ${query.status ? tx`and r.status = ${query.status}` : tx``}
         ${
      after
        // As text first: a timestamptz parameter would travel as a JavaScript Date, to the ms.
        ? tx`and (r.created_at < ${after[0]}::text::timestamptz
                  or (r.created_at = ${after[0]}::text::timestamptz and r.id > ${after[1]}::uuid))`
        : tx``
    }
       order by r.created_at desc, r.id
       limit ${query.limit + 1}`;
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return c.json({
    data: page.map((row) => serialize(row)),
    next_cursor: rows.length > query.limit && last
      ? encodeCursor([last.cursor_key, last.id])
      : null,
  }, 200);
};

/** GET /data-requests/{id}: the request, with a fresh download URL for an export on offer. */
export const get: RouteHandler<typeof getDataRequest, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = await asCaller(c.get("claims"), async (tx) => {
    await requireAdmin(tx);
    const [found] = await tx<DataRequestRow[]>`
      select ${columns(tx)} from public.data_requests r where r.id = ${id}::uuid`;
    if (!found) throw notFound("data request");
    return found;
  });
  let download: DataRequest["download"] = null;
  if (
    row.kind === "export" && row.status === "done" && row.object_key && row.expires_at &&
    new Date(row.expires_at).getTime() > Date.now()
  ) {
    // Signed now for 15 minutes, and never beyond the export's own end.
    const seconds = Math.max(
      1,
      Math.min(
        downloadUrlSeconds,
        Math.floor((new Date(row.expires_at).getTime() - Date.now()) / 1000),
      ),
    );
    const expiresAt = new Date(Date.now() + seconds * 1000);
    const url = await presignGet(
      row.object_key,
      seconds,
      `customer-export-${row.customer_id}.json`,
      exportBucket(),
    );
    download = { download_url: url, expires_at: expiresAt.toISOString() };
  }
  return c.json(serialize(row, download), 200);
};
