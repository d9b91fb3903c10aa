// What an upload must pass before any byte is stored: the size limit (before the body is read,
// when the request says its length), the type told by the bytes' magic numbers and agreeing with
// the name and the declared type, and a file name safe to keep and offer; and the object key it
// is stored under, which never holds that name (keys hold no personal data).
import { createMiddleware } from "hono/factory";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../../_shared/app.ts";
import { config } from "../../_shared/config.ts";
import { ProblemError } from "../../_shared/errors.ts";

/** The types a document may have: its media type and the file name extensions that fit it. */
const fileTypes = [
  { contentType: "application/pdf", extensions: ["pdf"] },
  { contentType: "image/png", extensions: ["png"] },
  { contentType: "image/jpeg", extensions: ["jpg", "jpeg", "jpe"] },
  { contentType: "image/webp", extensions: ["webp"] },
] as const;

/** A media type a document may have. */
export type DocumentContentType = typeof fileTypes[number]["contentType"];

/** Room for the multipart framing and the small form fields around the file, in bytes. */
const formOverhead = 64 * 1024;

/** The 413 of a file over DOCUMENT_MAX_BYTES. */
export function tooLarge(maxBytes: number): ProblemError {
  return new ProblemError(
    413,
    "Content Too Large",
    `The file is larger than the limit of ${maxBytes} bytes.`,
    { max_bytes: maxBytes },
  );
}

/**
 * Middleware: refuses with 413 a request body longer than DOCUMENT_MAX_BYTES plus the form's
 * framing, from its Content-Length before reading it, or as soon as a body without one grows past
 * it. The file's own size is checked exactly once the form is parsed (checkFileSize).
 */
export const documentBodyLimit = createMiddleware<AppEnv>((c, next) => {
  const maxBytes = config().DOCUMENT_MAX_BYTES;
  return bodyLimit({
    maxSize: maxBytes + formOverhead,
    onError: () => {
      throw tooLarge(maxBytes);
    },
  })(c, next);
});

/**
 * Middleware: a 415 problem for a body that is not multipart/form-data (a JSON body, none), said
 * for this route rather than the app's generic "send JSON".
 */
export const requireMultipart = createMiddleware<AppEnv>(async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  if (!/^multipart\/form-data\s*;/i.test(type)) {
    throw new ProblemError(
      415,
      "Unsupported Media Type",
      "Send the document as multipart/form-data (fields file, kind, case_id or customer_id).",
    );
  }
  await next();
});

/** Throws the 413 when the file is larger than DOCUMENT_MAX_BYTES. */
export function checkFileSize(file: File): void {
  const maxBytes = config().DOCUMENT_MAX_BYTES;
  if (file.size > maxBytes) throw tooLarge(maxBytes);
}

/** The media type the bytes' magic numbers say, or undefined for any other kind of file. */
export function sniffContentType(head: Uint8Array): DocumentContentType | undefined {
  const starts = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  const ascii = (from: number, text: string) =>
    [...text].every((ch, i) => head[from + i] === ch.charCodeAt(0));
  if (ascii(0, "%PDF-")) return "application/pdf";
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  if (ascii(0, "RIFF") && ascii(8, "WEBP")) return "image/webp";
  return undefined;
}

/** The 415 of a file that is not what the documents take, or not what it says it is. */
function unsupported(detail: string): ProblemError {
  return new ProblemError(415, "Unsupported Media Type", detail, {
    accepted: fileTypes.map((type) => type.contentType),
  });
}

/**
 * The file's media type, from its first bytes. Throws the 415 problem when the bytes are not a
 * PDF, PNG, JPEG or WEBP file, when the type the client declared for the part (other than none or
 * application/octet-stream) is another, or when the name's extension names another type.
 */
export async function fileContentType(file: File): Promise<DocumentContentType> {
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const sniffed = sniffContentType(head);
  if (!sniffed) {
    throw unsupported("The file is not a PDF, PNG, JPEG or WEBP file (told by its bytes).");
  }
  const declared = file.type.split(";")[0].trim().toLowerCase();
  const normalized = declared === "image/jpg" || declared === "image/pjpeg"
    ? "image/jpeg"
    : declared;
  if (normalized && normalized !== "application/octet-stream" && normalized !== sniffed) {
    throw unsupported(`The file was declared ${declared} but its bytes are ${sniffed}.`);
  }
  const extension = /\.([^.]+)$/.exec(file.name)?.[1]?.toLowerCase();
  const fits = fileTypes.find((type) => type.contentType === sniffed)!
    .extensions as readonly string[];
  if (extension !== undefined && !fits.includes(extension)) {
    throw unsupported(`The file is named .${extension} but its bytes are ${sniffed}.`);
  }
  return sniffed;
}

/**
 * The file name kept (documents.file_name) and offered on download: the name's last path part,
 * accents dropped and every character Storage's keys do not take replaced by `_` (letters,
 * digits, `.`, `-`, `_` and spaces kept), at most 120 characters with its extension; a name that
 * is left empty becomes `document.<ext>` for the type.
 */
export function safeFileName(name: string, contentType: DocumentContentType): string {
  const base = name.split(/[\\/]/).at(-1) ?? "";
  const ascii = base.normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .replace(/[^A-Za-z0-9._ -]/g, "_").replace(/\s+/g, " ").replace(/_+/g, "_").trim();
  const extension = fileTypes.find((type) => type.contentType === contentType)!.extensions[0];
  const cleaned = ascii.replace(/^[. ]+/, "");
  if (!/[A-Za-z0-9]/.test(cleaned.replace(/\.[^.]*$/, ""))) return `document.${extension}`;
  if (cleaned.length <= 120) return cleaned;
  const dot = cleaned.lastIndexOf(".");
  const tail = dot > 0 && cleaned.length - dot <= 6 ? cleaned.slice(dot) : "";
  return cleaned.slice(0, 120 - tail.length).trimEnd() + tail;
}

/**
 * The object key of a new upload: `cases/{caseId}/{id}/{kind}.{ext}`, or
 * `customers/{customerId}/{id}/{kind}.{ext}` without a case; ext from the media type (pdf, png,
 * jpg, webp). Never the file name, which may name the person and is kept only in
 * documents.file_name (the erasure replaces it): the same rule as private.document_object_key,
 * which private.record_document applies (and the table enforces for every new key).
 */
export function documentObjectKey(
  id: string,
  owner: { caseId: string | null; customerId: string | null },
  kind: string,
  contentType: DocumentContentType,
): string {
  const extension = fileTypes.find((type) => type.contentType === contentType)!.extensions[0];
  const folder = owner.caseId ? `cases/${owner.caseId}` : `customers/${owner.customerId}`;
  return `${folder}/${id}/${kind}.${extension}`;
}
