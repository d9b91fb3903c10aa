// The `go` function's document look-up: the document a `/go/d/{token}` link names (the short
// link a receipt's email or SMS carries, <LINK_BASE_URL>/d/<token>), by the token's SHA-256
// (private.document_for_link_token; the token itself is never stored).
import { asServiceInOneTrip } from "../_shared/db.ts";

/** A document's link token: 22 random base62 characters as private.register_generated_document
 * draws them (the look-up accepts 16 to 64). */
export const documentTokenPattern = /^[0-9A-Za-z]{16,64}$/;

/** The document behind a link token; `status` pending: not rendered yet. */
export interface LinkedDocument {
  id: string;
  /** The storage bucket holding it (documents.bucket). */
  bucket: string;
  objectKey: string;
  fileName: string;
  contentType: string;
  status: "pending" | "stored";
}

/**
 * The document whose link carries `token` (as service_role, in one round trip), or null when
 * the token is unknown or its link expired (documents.link_expires_at, DOCUMENT_LINK_DAYS). Throws what the database throws (a 503 DatabaseUnavailable when it
 * cannot be reached).
 */
export async function documentForToken(token: string): Promise<LinkedDocument | null> {
  const [row] = await asServiceInOneTrip<
    {
      id: string;
      bucket: string;
      object_key: string;
      file_name: string;
      content_type: string;
      status: string;
    }[]
  >`select d.id, d.bucket, d.object_key, d.file_name, d.content_type, d.status
      from private.document_for_link_token(${token}) d`;
  if (!row) return null;
  return {
    id: row.id,
    bucket: row.bucket,
    objectKey: row.object_key,
    fileName: row.file_name,
    contentType: row.content_type,
    status: row.status === "stored" ? "stored" : "pending",
  };
}
