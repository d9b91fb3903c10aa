// The `go` edge function: the short redirect our messages carry instead of a raw link
// (<LINK_BASE_URL>/<code>, public.tracked_links; the cadence's payment links). GET /go/{code}
// looks the code up and counts the click in one database call (private.record_link_click), then
// answers 302 to the stored target, uncached and without a Referer for the target. No JWT
// (verify_jwt = false in supabase/config.toml): the customer taps it in WhatsApp, an SMS or an
// email. The code is the only credential: 12 random base62 characters.
// * Only stored targets: the answer's Location is the target saved with the code (http or https,
//   checked again here), never anything taken from the request, so it is no open redirect.
// * Not counted, though redirected all the same: HEAD requests, link-preview fetchers
//   (preview_bots.ts: WhatsApp fetches a preview of every link it delivers), and requests
//   without a User-Agent (a browser always sends one; a false click would silence a reminder).
// * A malformed code (zod), an unknown one and an expired one get the same small 404 problem, so
//   the answer tells a guesser nothing; a malformed one never reaches the database.
// GET /go/d/{token}: a generated document's link (a receipt's email or SMS). The token (22 base62
// characters, stored only as its SHA-256) is looked up (document.ts); the answer is a 302 to a
// presigned GET of the object valid 5 minutes, made when tapped, so the link in the message
// never expires with it; the link itself works DOCUMENT_LINK_DAYS (30) days after it is drawn
// (documents.link_expires_at). A malformed, unknown or expired token: the same 404 as a code; a
// document not rendered yet: 409 with Retry-After (the dispatcher stores a document before it
// sends its link, so a customer should never meet it).
import { z } from "@hono/zod-openapi";
import { createApp } from "../_shared/app.ts";
import { problemResponse } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { presignGet } from "../_shared/storage/s3.ts";
import { recordClick } from "./click.ts";
import { documentForToken, documentTokenPattern, type LinkedDocument } from "./document.ts";
import { isPreviewBot } from "./preview_bots.ts";

/** A tracked link's code: base62, as private.random_base62 draws it (12 characters; the table
 * allows 10 to 32). */
export const LinkCode = z.string().regex(/^[0-9A-Za-z]{10,32}$/);

/** A document link's token (document.ts: 22 base62 characters; 16 to 64 accepted). */
export const DocumentToken = z.string().regex(documentTokenPattern);

/** How long the presigned URL a document link redirects to stays valid, in seconds. */
export const documentUrlSeconds = 300;

/** What the app needs from outside; tests replace the database call. */
export interface GoDeps {
  /** recordClick() of click.ts: the target of a live code (null otherwise), counting the click
   * when `counted`. */
  record: (code: string, userAgent: string | null, counted: boolean) => Promise<string | null>;
  /** documentForToken() of document.ts: the document a link token names, or null. */
  document: (token: string) => Promise<LinkedDocument | null>;
  /** presignGet() of storage/s3.ts: a GET URL for an object key in a bucket, valid `seconds`. */
  presign: (key: string, seconds: number, filename: string, bucket: string) => Promise<string>;
}

/** Headers of every answer: a redirect is per click (never cached) and leaks no Referer. */
const privateAnswer = { "cache-control": "no-store", "referrer-policy": "no-referrer" };

/** The one answer for a code that is malformed, unknown or expired. */
const noSuchLink = () =>
  problemResponse(404, { detail: "No such link, or it has expired.", headers: privateAnswer });

/** Whether `target` is an absolute http(s) URL (the table's check, asked again before use). */
function isWebUrl(target: string): boolean {
  try {
    const url = new URL(target);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** The `go` app, serving under `/go` as Supabase routes the function. */
export function createGoApp(deps: Partial<GoDeps> = {}) {
  const record = deps.record ?? recordClick;
  const findDocument = deps.document ?? documentForToken;
  const presign = deps.presign ?? presignGet;
  const app = createApp("go");
  app.get("/d/:token", async (c) => {
    const token = DocumentToken.safeParse(c.req.param("token"));
    if (!token.success) return noSuchLink();
    const document = await findDocument(token.data);
    if (document === null) return noSuchLink();
    if (document.status !== "stored") {
      return problemResponse(409, {
        detail: "The document is being prepared; try again in a few seconds.",
        headers: { ...privateAnswer, "retry-after": "5" },
      });
    }
    const url = await presign(
      document.objectKey,
      documentUrlSeconds,
      document.fileName,
      document.bucket,
    );
    return new Response(null, { status: 302, headers: { location: url, ...privateAnswer } });
  });
  // GET also answers HEAD (Hono runs the GET handler and drops the body).
  app.get("/:code", async (c) => {
    const code = LinkCode.safeParse(c.req.param("code"));
    if (!code.success) return noSuchLink();
    const userAgent = c.req.header("user-agent")?.trim() || null;
    const counted = c.req.method === "GET" && userAgent !== null && !isPreviewBot(userAgent);
    const target = await record(code.data, userAgent, counted);
    if (target === null) return noSuchLink();
    if (!isWebUrl(target)) {
      log("error", "go: a tracked link's stored target is not an http(s) URL", { code: code.data });
      return noSuchLink();
    }
    return new Response(null, { status: 302, headers: { location: target, ...privateAnswer } });
  });
  // Any other path under /go (a code with more segments, none at all): the same 404.
  app.get("*", () => noSuchLink());
  return app;
}

const app = createGoApp();

export default app;
