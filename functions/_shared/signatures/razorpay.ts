// Razorpay's four signatures (VENDORS.md §4; razorpay-node 2.9.6 lib/utils/razorpay-utils.js),
// all lowercase hex HMAC-SHA256, with two different secrets:
// - webhooks: X-Razorpay-Signature over the raw body, keyed with the *webhook secret*; after a
//   rotation, retries of older events still carry the old secret's signature, so the previous
//   secret is accepted too while it is configured;
// - Checkout success: `order_id|payment_id` (our stored order id), keyed with the *key secret*;
// - payment-link redirect: `plink_id|reference_id|status|payment_id`, key secret;
// - subscription Checkout: the reversed `payment_id|subscription_id`, key secret.
// The SDK compares with `===`; these compare in constant time (compare.ts). WebCrypto only, so
// they run on Deno, edge runtimes and browsers alike.
import { timingSafeEqualText } from "./compare.ts";

const encoder = new TextEncoder();
const hexPairs = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
/** A Razorpay signature: 64 lowercase hex characters (the SDK's digest("hex")). */
const signatureShape = /^[0-9a-f]{64}$/;

/** Imported HMAC keys by secret: a process holds a handful (key secret, webhook secrets). */
const keys = new Map<string, Promise<CryptoKey>>();
const maxKeys = 8;

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    if (keys.size >= maxKeys) keys.delete(keys.keys().next().value!);
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    keys.set(secret, key);
  }
  return key;
}

/** Lowercase hex of HMAC-SHA256(secret, data). Throws for an empty secret (never a key). */
async function hmacHex(secret: string, data: string | Uint8Array): Promise<string> {
  if (!secret) throw new TypeError("a Razorpay signing secret must not be empty");
  const key = await hmacKey(secret);
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes as BufferSource));
  let hex = "";
  for (const byte of mac) hex += hexPairs[byte];
  return hex;
}

/** Whether `signature` is the hex HMAC of `data`; false (never throws) for bad input. */
async function matches(
  secret: string,
  data: string | Uint8Array,
  signature: string | null | undefined,
): Promise<boolean> {
  if (!secret || typeof signature !== "string" || !signatureShape.test(signature)) return false;
  try {
    return timingSafeEqualText(signature, await hmacHex(secret, data));
  } catch {
    return false;
  }
}

/**
 * The X-Razorpay-Signature Razorpay sends with a webhook: lowercase hex HMAC-SHA256 keyed with
 * the webhook secret (set per webhook in the Dashboard; not the key secret) over the raw body
 * bytes (text is taken as UTF-8). Throws TypeError for an empty secret.
 */
export function webhookSignature(secret: string, rawBody: string | Uint8Array): Promise<string> {
  return hmacHex(secret, rawBody);
}

/**
 * Checks X-Razorpay-Signature (`signature`, null when the header is absent) against the raw body
 * as received (never a re-serialised parse: `\/`, `\uXXXX`, number spellings and whitespace are
 * all signed). Answers which secret signed it: `"current"`, `"previous"` (a retry of an event
 * made before the rotation, VENDORS.md §4), or null for none. Both secrets are always tried, so
 * the time does not say which one matched. An empty or absent secret never matches. Never throws.
 */
export async function verifyWebhookSignature(
  rawBody: string | Uint8Array,
  signature: string | null,
  secrets: { current: string; previous?: string },
): Promise<"current" | "previous" | null> {
  const [current, previous] = await Promise.all([
    matches(secrets.current, rawBody, signature),
    matches(secrets.previous ?? "", rawBody, signature),
  ]);
  return current ? "current" : previous ? "previous" : null;
}

/**
 * The `razorpay_signature` Checkout hands the browser after a successful payment of an order:
 * hex HMAC-SHA256(key secret, `order_id + "|" + payment_id`). Pass **our stored** order id, never
 * one the browser sent (VENDORS.md §4). Throws TypeError for an empty key secret.
 */
export function checkoutSignature(
  keySecret: string,
  orderId: string,
  paymentId: string,
): Promise<string> {
  return hmacHex(keySecret, `${orderId}|${paymentId}`);
}

/**
 * Whether `signature` is the Checkout signature of our stored `orderId` and `paymentId`
 * (constant-time). False for an empty id or secret, a malformed signature; never throws.
 */
export function verifyCheckoutSignature(
  keySecret: string,
  orderId: string,
  paymentId: string,
  signature: string | null,
): Promise<boolean> {
  if (!orderId || !paymentId) return Promise.resolve(false);
  return matches(keySecret, `${orderId}|${paymentId}`, signature);
}

/** The four values a payment link's redirect carries (`razorpay_payment_link_*` query fields). */
export interface PaymentLinkSignatureFields {
  /** `plink_…` (razorpay_payment_link_id). */
  paymentLinkId: string;
  /** Our `reference_id` of the link (razorpay_payment_link_reference_id); may be empty. */
  referenceId: string;
  /** The link's status at the redirect, e.g. `paid` (razorpay_payment_link_status). */
  status: string;
  /** `pay_…` (razorpay_payment_id). */
  paymentId: string;
}

/**
 * The `razorpay_signature` of a payment link's callback redirect: hex HMAC-SHA256(key secret,
 * `plink_id|reference_id|status|payment_id`) (razorpay-node validatePaymentVerification). Throws
 * TypeError for an empty key secret.
 */
export function paymentLinkSignature(
  keySecret: string,
  fields: PaymentLinkSignatureFields,
): Promise<string> {
  return hmacHex(keySecret, paymentLinkData(fields));
}

/** Whether `signature` is the payment-link redirect signature of `fields`; never throws. */
export function verifyPaymentLinkSignature(
  keySecret: string,
  fields: PaymentLinkSignatureFields,
  signature: string | null,
): Promise<boolean> {
  if (!fields.paymentLinkId || !fields.paymentId) return Promise.resolve(false);
  return matches(keySecret, paymentLinkData(fields), signature);
}

function paymentLinkData(f: PaymentLinkSignatureFields): string {
  return `${f.paymentLinkId}|${f.referenceId}|${f.status}|${f.paymentId}`;
}

/**
 * The `razorpay_signature` of a subscription's Checkout: hex HMAC-SHA256(key secret,
 * `payment_id|subscription_id`). ⚠ The payment id comes first, the reverse of orders
 * (razorpay-node validatePaymentVerification). Throws TypeError for an empty key secret.
 */
export function subscriptionSignature(
  keySecret: string,
  paymentId: string,
  subscriptionId: string,
): Promise<string> {
  return hmacHex(keySecret, `${paymentId}|${subscriptionId}`);
}

/** Whether `signature` is the subscription Checkout signature (reversed order); never throws. */
export function verifySubscriptionSignature(
  keySecret: string,
  paymentId: string,
  subscriptionId: string,
  signature: string | null,
): Promise<boolean> {
  if (!paymentId || !subscriptionId) return Promise.resolve(false);
  return matches(keySecret, `${paymentId}|${subscriptionId}`, signature);
}
