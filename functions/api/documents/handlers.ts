// Handlers of /api/documents. Reads run as the caller, so RLS on public.documents decides what
// they see (a document of a case they do not see is a 404, like one that does not exist). An
// upload asks private.can_attach_document under the caller's role before anything is stored,
// then stores the bytes (S3, with their SHA-256), then records the row through
// private.record_document as service_role; if the record fails, the object is deleted again, so
// a refused upload leaves neither row nor object. A delete removes the row as the caller (the
// database refuses non-admins and anything under retention or hold), then the object. A legal
// hold is placed or lifted by private.set_document_legal_hold as the caller (admins only).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { config } from "../../_shared/config.ts";
import { decodeCreatedAtCursor, encodeCursor } from "../../_shared/cursor.ts";
import { asCaller, asService, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { log } from "../../_shared/log.ts";
import {
  deleteObject,
  presignGet,
  putObject,
  s3Client,
  storageBucket,
} from "../../_shared/storage/s3.ts";
import type {
  deleteDocument,
  DocumentSchema,
  getDocument,
  getDocumentUrl,
  listDocuments,
  setDocumentLegalHold,
  uploadDocument,
} from "./routes.ts";
import { checkFileSize, documentObjectKey, fileContentType, safeFileName } from "./upload.ts";

type Document = z.infer<typeof DocumentSchema>;

/** A documents row as the queries below select it. */
interface DocumentRow extends Omit<Document, "created_at" | "stored_at"> {
  created_at: Date;
  stored_at: Date | null;
  cursor_key: string;
}

/** 403 unless the caller is an active admin, manager or agent. */
async function requireDesk(tx: Tx): Promise<void> {
  const [caller] = await tx<{ desk: boolean }[]>`select private.is_desk_member() as desk`;
  if (!caller.desk) {
    throw new ProblemError(
      403,
      "Forbidden",
      "Documents are for the desk: admins, managers and agents.",
    );
  }
}

/** SQL: the columns of a document row (`d`), with its cursor key. */
const columns = (tx: Tx) =>
  tx`d.id, d.kind, d.customer_id, d.case_id, d.policy_id, d.payment_id, d.bucket, d.object_key,
     d.file_name, d.content_type, d.size_bytes, d.checksum_sha256, d.status, d.generated,
     d.uploaded_by, d.retain_until::text as retain_until, d.legal_hold, d.created_at,
     d.stored_at,
     to_char(d.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_key`;

/** A row as the API answers it: instants as ISO 8601 UTC text. */
function serialize({ cursor_key: _, ...row }: DocumentRow): Document {
  return {
    ...row,
    created_at: new Date(row.created_at).toISOString(),
    stored_at: row.stored_at ? new Date(row.stored_at).toISOString() : null,
  };
}

/** The document `id` as the caller sees it (RLS), or the 404. */
async function visibleDocument(tx: Tx, id: string): Promise<DocumentRow> {
  const [row] = await tx<DocumentRow[]>`
    select ${columns(tx)} from public.documents d where d.id = ${id}`;
  if (!row) throw notFound("document");
  return row;
}

/** The 503 of a store that failed (the SDK's error goes to the log, not to the caller). */
function storageFailed(what: string, error: unknown): ProblemError {
  log("error", `documents: ${what} failed`, { error });
  return new ProblemError(
    503,
    "Service Unavailable",
    "Document storage did not answer; nothing was stored. Try again.",
  );
}

/** POST /documents: check, sniff, store, record (and unstore if the record fails). */
export const upload: RouteHandler<typeof uploadDocument, AppEnv> = async (c) => {
  const form = c.req.valid("form");
  const claims = c.get("claims");
  s3Client(); // 503 now when storage is not configured, before anything is read or stored
  const file = form.file;
  checkFileSize(file);
  const caseId = form.case_id ?? null;
  const customerId = form.customer_id ?? null;
  await asCaller(claims, async (tx) => {
    await requireDesk(tx);
    const [answer] = await tx<{ allowed: boolean }[]>`
      select private.can_attach_document(${caseId}::uuid, ${customerId}::uuid) as allowed`;
    if (!answer.allowed) throw notFound(caseId ? "case" : "customer");
  });
  const contentType = await fileContentType(file);
  const fileName = safeFileName(file.name, contentType);
  const id = crypto.randomUUID();
  const objectKey = documentObjectKey(id, { caseId, customerId }, form.kind, contentType);
  const bucket = storageBucket();
  const bytes = new Uint8Array(await file.arrayBuffer());
  const stored = await putObject(objectKey, bytes, contentType, bucket).catch((error) => {
    throw storageFailed("upload", error);
  });
  let row: DocumentRow;
  try {
    row = await asService(async (tx) => {
      const record = {
        id,
        kind: form.kind,
        case_id: caseId,
        customer_id: customerId,
        policy_id: form.policy_id ?? null,
        bucket,
        object_key: objectKey,
        file_name: fileName,
        content_type: contentType,
        size_bytes: stored.sizeBytes,
        checksum_sha256: stored.checksumSha256,
        uploaded_by: claims.sub ?? null,
      };
      const [recorded] = await tx<DocumentRow[]>`
        select ${columns(tx)}
          from private.record_document(${tx.json(record)}::jsonb) d`;
      return recorded;
    });
  } catch (error) {
    await deleteObject(objectKey, bucket).catch((cleanup) =>
      log("error", "documents: an unrecorded object could not be deleted", {
        object_key: objectKey,
        error: cleanup,
      })
    );
    throw error;
  }
  return c.json(serialize(row), 201);
};

/** GET /documents: the visible documents, filtered, newest first, keyset paged. */
export const list: RouteHandler<typeof listDocuments, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const after = query.cursor ? decodeCreatedAtCursor(query.cursor) : undefined;
  const rows = await asCaller(c.get("claims"), async (tx) => {
    await requireDesk(tx);
    return await tx<DocumentRow[]>`
      select ${columns(tx)}
        from public.documents d
       where true
         ${query.case_id ? tx`and d.case_id = ${query.case_id}` : tx``}
         ${query.customer_id ? tx`and d.customer_id = ${query.customer_id}` : tx``}
         ${query.policy_id ? tx`and d.policy_id = ${query.policy_id}` : tx``}
         ${query.kind ? tx`and d.kind = ${query.kind}::public.document_kind` : tx``}
         ${
      after
        // As text first: a parameter postgres.js sees as timestamptz it sends as a JavaScript
        // Date would, to the millisecond.
        ? tx`and (d.created_at < ${after[0]}::text::timestamptz
                  or (d.created_at = ${after[0]}::text::timestamptz and d.id > ${after[1]}::uuid))`
        : tx``
    }
       order by d.created_at desc, d.id
       limit ${query.limit + 1}`;
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return c.json({
    data: page.map(serialize),
    next_cursor: rows.length > query.limit && last
      ? encodeCursor([last.cursor_key, last.id])
      : null,
  }, 200);
};

/** GET /documents/{id}. */
export const get: RouteHandler<typeof getDocument, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = await asCaller(c.get("claims"), async (tx) => {
    await requireDesk(tx);
    return await visibleDocument(tx, id);
  });
  return c.json(serialize(row), 200);
};

/** GET /documents/{id}/url: a presigned GET of the stored bytes, named for download. */
export const url: RouteHandler<typeof getDocumentUrl, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  s3Client();
  const row = await asCaller(c.get("claims"), async (tx) => {
    await requireDesk(tx);
    return await visibleDocument(tx, id);
  });
  if (row.status !== "stored") {
    throw new ProblemError(409, "Conflict", "The document is not rendered yet; try again soon.");
  }
  const seconds = config().DOCUMENT_URL_TTL_SECONDS;
  // The URL is signed now for `seconds`: it expires no later than this.
  const expiresAt = new Date(Date.now() + seconds * 1000);
  const signed = await presignGet(row.object_key, seconds, row.file_name, row.bucket);
  return c.json({ url: signed, expires_at: expiresAt.toISOString() }, 200);
};

/** DELETE /documents/{id}: admins; the row first (the database guards retention), then bytes. */
export const remove: RouteHandler<typeof deleteDocument, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const removed = await asCaller(c.get("claims"), async (tx) => {
    const [caller] = await tx<{ admin: boolean }[]>`select private.is_admin() as admin`;
    if (!caller.admin) throw new ProblemError(403, "Forbidden", "Only admins delete documents.");
    const [row] = await tx<{ bucket: string; object_key: string }[]>`
      delete from public.documents d where d.id = ${id} returning d.bucket, d.object_key`;
    if (!row) throw notFound("document");
    return row;
  });
  // The row is gone for good; an object left behind is only logged (nothing points at it).
  await deleteObject(removed.object_key, removed.bucket).catch((error) =>
    log("error", "documents: a deleted document's object could not be deleted", {
      object_key: removed.object_key,
      error,
    })
  );
  return c.body(null, 204);
};

/** PUT /documents/{id}/legal-hold: admins place (hold true) or lift (false) a legal hold;
 * answers the document as it is now. 403 for anyone else, 404 for a document the admin cannot
 * see or that does not exist. */
export const legalHold: RouteHandler<typeof setDocumentLegalHold, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { hold } = c.req.valid("json");
  const row = await asCaller(c.get("claims"), async (tx) => {
    const [caller] = await tx<{ admin: boolean }[]>`select private.is_admin() as admin`;
    if (!caller.admin) {
      throw new ProblemError(403, "Forbidden", "Only admins place or lift legal holds.");
    }
    await visibleDocument(tx, id);
    const [held] = await tx<DocumentRow[]>`
      select ${columns(tx)} from private.set_document_legal_hold(${id}::uuid, ${hold}) d`;
    return held;
  });
  return c.json(serialize(row), 200);
};
