// Makes a generated document's bytes exist: a receipt or renewal notice registered pending
// (private.register_generated_document, by the payment's or the quote's trigger) is loaded with
// what it prints, rendered (render.ts), PUT at its object key (storage/s3.ts) and marked stored
// (private.mark_document_stored). Idempotent and safe to race: a stored document is not rendered
// again; two workers rendering the same pending document render the same bytes (the PDF's dates
// are the payment's), PUT the same object twice and the second mark changes nothing, so there is
// one object, one row, one checksum. The dispatcher calls documentAttachment() before sending a
// message that carries a document (functions/_shared/dispatch.ts).
import { asServiceInOneTrip } from "../db.ts";
import { presignGet, putObject } from "../storage/s3.ts";
import { type DocumentContent, pdfContentType, renderDocument } from "./render.ts";

/** How long the link a WhatsApp document header carries stays valid: Meta fetches the file when
 * it delivers the message, which can be some minutes after the send. */
export const attachmentLinkSeconds = 60 * 60;

/** Where documents' bytes go; tests may replace it (the default is storage/s3.ts). Every call
 * names the document row's own bucket. */
export interface DocumentStorage {
  /** Stores the bytes at `key` in `bucket`; the stored size and lowercase hex SHA-256. */
  put(
    key: string,
    bytes: Uint8Array,
    contentType: string,
    bucket: string,
  ): Promise<{ sizeBytes: number; checksumSha256: string }>;
  /** A presigned GET URL for `key` in `bucket`, valid `seconds`, downloading as `filename`. */
  presign(key: string, seconds: number, filename: string, bucket: string): Promise<string>;
}

/** The S3-compatible store of storage/s3.ts (Supabase Storage; s3rver locally). */
export const s3Storage: DocumentStorage = { put: putObject, presign: presignGet };

/** A document whose bytes are stored: public.documents' columns a sender needs. */
export interface StoredDocument {
  id: string;
  /** The storage bucket holding it (documents.bucket). */
  bucket: string;
  objectKey: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  /** Lowercase hex SHA-256 of the stored bytes. */
  checksumSha256: string;
  /** Whether this call rendered and stored it (false: it was stored already). */
  rendered: boolean;
}

/** A documents row joined with what its PDF prints (amounts in paise, as numbers). */
interface DocumentSource {
  id: string;
  kind: string;
  status: string;
  bucket: string;
  object_key: string;
  file_name: string;
  content_type: string;
  size_bytes: number | null;
  checksum_sha256: string | null;
  created_at: string;
  insurer: string | null;
  customer_name: string;
  policy_number: string | null;
  case_number: string | null;
  amount: number | null;
  currency: string | null;
  payment_reference: string | null;
  method: string | null;
  paid_at: string | null;
  premium: number | null;
  due_date: string | null;
}

/** Thrown when a document cannot be generated (unknown, or not a kind rendered here). */
export class DocumentNotRenderable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DocumentNotRenderable";
  }
}

/** The document and what it prints, in one round trip as service_role; null when unknown. */
async function loadSource(documentId: string): Promise<DocumentSource | null> {
  const [row] = await asServiceInOneTrip<DocumentSource[]>`
    select d.id, d.kind::text as kind, d.status, d.bucket, d.object_key, d.file_name, d.content_type,
           d.size_bytes, d.checksum_sha256, d.created_at,
           pol.insurer, cu.full_name as customer_name, pol.policy_number, c.case_number,
           p.amount, p.currency, p.razorpay_payment_id as payment_reference, p.method,
           coalesce(p.credited_at, p.captured_at, p.created_at) as paid_at,
           coalesce((select sum(o.amount) from public.outstanding_amounts o
                      where o.case_id = c.id), pol.premium)::bigint as premium,
           c.due_date::text as due_date
      from public.documents d
      join public.customers cu on cu.id = d.customer_id
      left join public.renewal_cases c on c.id = d.case_id
      left join public.policies pol on pol.id = coalesce(d.policy_id, c.policy_id)
      left join public.payments p on p.id = d.payment_id
     where d.id = ${documentId}::uuid`;
  return row ?? null;
}

/** What the PDF of `source` prints; DocumentNotRenderable for kinds not generated here. */
function contentOf(source: DocumentSource): DocumentContent {
  const common = {
    documentId: source.id,
    issuer: source.insurer ?? "Py360 Renewal",
    customerName: source.customer_name,
    policyNumber: source.policy_number,
    caseNumber: source.case_number ?? "-",
  };
  if (source.kind === "receipt") {
    if (source.amount === null || source.paid_at === null) {
      throw new DocumentNotRenderable(`receipt ${source.id} has no payment`);
    }
    return {
      kind: "receipt",
      ...common,
      amountPaise: source.amount,
      currency: source.currency ?? "INR",
      paymentReference: source.payment_reference ?? "-",
      method: source.method,
      paidAt: new Date(source.paid_at),
    };
  }
  if (source.kind === "renewal_notice") {
    if (source.premium === null || source.due_date === null) {
      throw new DocumentNotRenderable(`renewal notice ${source.id} has no case`);
    }
    return {
      kind: "renewal_notice",
      ...common,
      premiumPaise: source.premium,
      currency: "INR",
      dueDate: source.due_date,
      issuedAt: new Date(source.created_at),
    };
  }
  throw new DocumentNotRenderable(`documents of kind ${source.kind} are uploaded, not generated`);
}

/**
 * Makes sure the document `documentId` is stored: a pending receipt or renewal notice is
 * rendered, PUT at its object key and marked stored (private.mark_document_stored: the first
 * mark wins, a later one changes nothing); a stored one is returned as it is. Throws
 * DocumentNotRenderable for an unknown document or one that cannot be generated, and whatever
 * the store or the database throws (the caller retries later: nothing is half done that a
 * retry would not finish).
 */
export async function ensureDocument(
  documentId: string,
  storage: DocumentStorage = s3Storage,
): Promise<StoredDocument> {
  const source = await loadSource(documentId);
  if (!source) throw new DocumentNotRenderable(`no document ${documentId}`);
  const known = {
    id: source.id,
    bucket: source.bucket,
    objectKey: source.object_key,
    fileName: source.file_name,
    contentType: source.content_type,
  };
  if (source.status === "stored") {
    return {
      ...known,
      sizeBytes: Number(source.size_bytes),
      checksumSha256: source.checksum_sha256 ?? "",
      rendered: false,
    };
  }
  const bytes = await renderDocument(contentOf(source));
  const stored = await storage.put(source.object_key, bytes, pdfContentType, source.bucket);
  await asServiceInOneTrip`
    select private.mark_document_stored(${source.id}::uuid, ${stored.sizeBytes},
                                        ${stored.checksumSha256})`;
  return {
    ...known,
    contentType: pdfContentType,
    sizeBytes: stored.sizeBytes,
    checksumSha256: stored.checksumSha256,
    rendered: true,
  };
}

/** A document as a message carries it: a presigned link and the file's name. */
export interface Attachment {
  link: string;
  filename: string;
}

/**
 * ensureDocument(), then a presigned GET link to it valid attachmentLinkSeconds (1 hour), for a
 * WhatsApp document header. Throws what ensureDocument throws.
 */
export async function documentAttachment(
  documentId: string,
  storage: DocumentStorage = s3Storage,
): Promise<Attachment> {
  const document = await ensureDocument(documentId, storage);
  return {
    link: await storage.presign(
      document.objectKey,
      attachmentLinkSeconds,
      document.fileName,
      document.bucket,
    ),
    filename: document.fileName,
  };
}
