// WhatsApp Cloud API webhook signatures (VENDORS.md §3; WhatsApp-Nodejs-SDK src/utils.ts):
// X-Hub-Signature-256 = "sha256=" + lowercase hex HMAC-SHA256(App Secret, raw body bytes).
// The HMAC covers the bytes as Meta sent them (non-ASCII escaped as \uXXXX), so verify the raw
// body before any JSON parsing and never re-serialise it. No timestamp is signed: dedupe.
import { createHmac } from "node:crypto";
import { timingSafeEqualText } from "./compare.ts";

/**
 * Whether `header` (X-Hub-Signature-256, null when absent) is "sha256=" + the lowercase hex
 * HMAC-SHA256 of `rawBody` (the request body exactly as received: pass the bytes, or the text
 * of a UTF-8 body) keyed with the App Secret (not the access token or the verify token).
 * Constant-time; an empty secret is never accepted. Never throws.
 */
export function verifyWhatsappSignature(
  appSecret: string,
  header: string | null,
  rawBody: string | Uint8Array,
): Promise<boolean> {
  try {
    if (!appSecret || !header?.startsWith("sha256=")) return Promise.resolve(false);
    const expected = "sha256=" + createHmac("sha256", appSecret).update(rawBody).digest("hex");
    return Promise.resolve(timingSafeEqualText(header, expected));
  } catch {
    return Promise.resolve(false);
  }
}
