// /api/documents: policy copies, renewal notices, receipts, KYC papers and endorsements attached to
// a case or a customer. The bytes live in Supabase Storage (its S3 endpoint); public.documents says
// what each object is. The desk (admins, managers, agents) uploads, lists and fetches the documents
// of the cases and customers it sees (RLS decides; what it hides is a 404), through short-lived
// presigned URLs; admins delete, never a document under legal retention or hold, and place or lift
// legal holds.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, DocumentKind, IsoDate, orNull } from "../../_shared/domain.ts";
import { requireUser } from "../../_shared/auth.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";
import { documentBodyLimit, requireMultipart } from "./upload.ts";

/** The media types a document may have, found from its bytes. */
export const documentContentTypes = [
  "application/pdf",
  "image/png",
  "image/jpeg",
  "image/webp",
] as const;

/** A document as the API shows it. */
export const DocumentSchema = z.object({
  id: z.guid(),
  kind: DocumentKind,
  customer_id: z.guid(),
  case_id: orNull(z.guid()),
  policy_id: orNull(z.guid()),
  payment_id: orNull(z.guid()).openapi({ description: "For a receipt: the payment" }),
  bucket: z.string().openapi({ description: "The Storage bucket holding the bytes" }),
  object_key: z.string().openapi({
    description: "cases/{case_id}/{id}/{file_name}, or customers/{customer_id}/{id}/{file_name}",
  }),
  file_name: z.string().openapi({ example: "policy-schedule.pdf" }),
  content_type: z.string().openapi({
    description: "Found from the bytes: application/pdf, image/png, image/jpeg or image/webp",
  }),
  size_bytes: orNull(z.number().int()).openapi({ description: "Bytes; null while pending" }),
  checksum_sha256: orNull(z.string()).openapi({
    description: "SHA-256 of the bytes, lowercase hex; null while pending (and for a file put " +
      "straight into Storage by the desk)",
  }),
  status: z.enum(["pending", "stored"]).openapi({
    description: "pending: a generated document not rendered yet; stored: the bytes are there",
  }),
  generated: z.boolean().openapi({ description: "A receipt or notice we produced" }),
  uploaded_by: orNull(z.guid()),
  retain_until: orNull(IsoDate).openapi({
    description: "IST date before which it cannot be deleted (legal retention); null: none",
  }),
  legal_hold: z.boolean().openapi({ description: "While true it cannot be deleted" }),
  created_at: DateTime,
  stored_at: orNull(DateTime),
}).openapi("Document");

/** The multipart form of POST /documents. */
export const DocumentUploadSchema = z.object({
  file: z.custom<File>((value) => value instanceof File, { message: "a file is required" })
    .openapi({
      type: "string",
      format: "binary",
      description: "The file: PDF, PNG, JPEG or WEBP, told by its bytes (not its name or " +
        "declared type, which must not disagree with them)",
    }),
  kind: DocumentKind,
  case_id: z.guid().optional().openapi({ description: "The case (or give customer_id)" }),
  customer_id: z.guid().optional().openapi({
    description: "The customer, for a document of no case",
  }),
  policy_id: z.guid().optional().openapi({
    description: "The policy it is about (with a case: the case's, filled in when left out)",
  }),
}).refine((form) => (form.case_id === undefined) !== (form.customer_id === undefined), {
  message: "give case_id or customer_id, not both",
  path: ["case_id"],
}).openapi("DocumentUpload");

/** The filters and keyset cursor of GET /documents. */
export const DocumentQuery = z.object({
  case_id: z.guid().optional(),
  customer_id: z.guid().optional(),
  policy_id: z.guid().optional(),
  kind: DocumentKind.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(200).optional().openapi({
    description: "`next_cursor` of the previous page (of a list with the same filters)",
  }),
});

const documentIdParams = z.object({ id: uuidParam("id", "Document id") });

const deskOnly = problem("Documents are for the desk: admins, managers and agents");
const hidden = problem("No such document, or you may not see it");
const storageDown = problem("Document storage is not configured or not reachable");
const who = "Admins, managers and agents, for the cases and customers they see; others get 403.";

/** POST /documents. */
export const uploadDocument = createRoute({
  operationId: "uploadDocument",
  method: "post",
  path: "/documents",
  tags: ["Documents"],
  summary: "Upload a document to a case or a customer",
  description: "multipart/form-data with `file`, `kind` and `case_id` or `customer_id`. The " +
    "type is found from the bytes (PDF, PNG, JPEG, WEBP); a file of another type, or whose name " +
    "or declared type says otherwise, is refused (415), and so is one over the size limit " +
    "(413, DOCUMENT_MAX_BYTES, 10 MiB by default); nothing is stored then. The bytes are " +
    "stored with their SHA-256, then the document is recorded. " + who,
  ...signedIn,
  // The media type and the size limit before the form is read (and validated).
  middleware: [requireUser, requireMultipart, documentBodyLimit] as const,
  request: {
    body: {
      required: true,
      content: { "multipart/form-data": { schema: DocumentUploadSchema } },
    },
  },
  responses: {
    201: json("The document, stored", DocumentSchema),
    ...commonProblems,
    403: deskOnly,
    404: problem("No such case or customer, or you may not see it"),
    413: problem("The file is larger than the limit"),
    415: problem("Not a PDF, PNG, JPEG or WEBP file, or its name or declared type disagrees"),
    503: storageDown,
  },
});

/** GET /documents. */
export const listDocuments = createRoute({
  operationId: "listDocuments",
  method: "get",
  path: "/documents",
  tags: ["Documents"],
  summary: "Documents of a case, customer or policy, newest first",
  description: "The documents the caller may see, filtered, newest first, page by page. " + who,
  ...signedIn,
  request: { query: DocumentQuery },
  responses: {
    200: json(
      "A page of documents",
      z.object({ data: z.array(DocumentSchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
    403: deskOnly,
  },
});

/** GET /documents/{id}. */
export const getDocument = createRoute({
  operationId: "getDocument",
  method: "get",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "One document",
  description: who,
  ...signedIn,
  request: { params: documentIdParams },
  responses: {
    200: json("The document", DocumentSchema),
    ...commonProblems,
    403: deskOnly,
    404: hidden,
  },
});

/** A presigned download URL and when it stops working. */
export const DocumentUrlSchema = z.object({
  url: z.url().openapi({ description: "A presigned GET URL of Storage's S3 endpoint" }),
  expires_at: DateTime.openapi({ description: "When the URL stops working" }),
}).openapi("DocumentUrl");

/** GET /documents/{id}/url. */
export const getDocumentUrl = createRoute({
  operationId: "getDocumentUrl",
  method: "get",
  path: "/documents/{id}/url",
  tags: ["Documents"],
  summary: "A short-lived download URL of a document",
  description: "A presigned GET URL, valid DOCUMENT_URL_TTL_SECONDS (300 by default), that " +
    "downloads the file under its name. 409 while a generated document is not rendered yet. " +
    who,
  ...signedIn,
  request: { params: documentIdParams },
  responses: {
    200: json("The URL", DocumentUrlSchema),
    ...commonProblems,
    403: deskOnly,
    404: hidden,
    409: problem("The document is pending: its bytes are not stored yet"),
    503: storageDown,
  },
});

/** DELETE /documents/{id}. */
export const deleteDocument = createRoute({
  operationId: "deleteDocument",
  method: "delete",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "Delete a document and its bytes",
  description: "Admins only. A document under legal retention (before retain_until) or legal " +
    "hold cannot be deleted (409), whoever asks; its row goes first, then its object.",
  ...signedIn,
  request: { params: documentIdParams },
  responses: {
    204: { description: "Deleted" },
    ...commonProblems,
    403: problem("Only admins delete documents"),
    404: hidden,
    409: problem("The document is under legal retention or hold"),
  },
});

/** The body of PUT /documents/{id}/legal-hold. */
export const LegalHoldSchema = z.object({
  hold: z.boolean().openapi({
    description: "true places the legal hold (the document cannot be deleted while it stands), " +
      "false lifts it (its retention, if any, still applies)",
  }),
}).strict().openapi("LegalHold");

/** PUT /documents/{id}/legal-hold. */
export const setDocumentLegalHold = createRoute({
  operationId: "setDocumentLegalHold",
  method: "put",
  path: "/documents/{id}/legal-hold",
  tags: ["Documents"],
  summary: "Place or lift a document's legal hold",
  description: "Admins only. While held, a document cannot be deleted, whatever its " +
    "retain_until; lifting the hold leaves its legal retention as it was. Setting the hold it " +
    "already has changes nothing. The change is audited (audit_log). Answers the document.",
  ...signedIn,
  request: { params: documentIdParams, body: jsonBody(LegalHoldSchema) },
  responses: {
    200: json("The document, with its legal hold as asked", DocumentSchema),
    ...commonProblems,
    403: problem("Only admins place or lift legal holds"),
    404: hidden,
  },
});
