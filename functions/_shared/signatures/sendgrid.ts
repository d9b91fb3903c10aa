// SendGrid Event Webhook signatures (VENDORS.md §9; sendgrid-nodejs packages/eventwebhook):
// X-Twilio-Email-Event-Webhook-Signature = base64 ASN.1 DER ECDSA P-256 / SHA-256 over the UTF-8
// `timestamp + raw body` (no separator, the body's trailing "\r\n" included), with the timestamp
// in X-Twilio-Email-Event-Webhook-Timestamp (Unix seconds). The public key is the base64 DER SPKI
// SendGrid shows. node:crypto's verify takes the DER signature as it comes (WebCrypto would need
// it converted to r‖s). The SDK enforces no freshness; we refuse timestamps beyond a tolerance.
import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject, verify } from "node:crypto";

/** Options for verifySendgridSignature. */
export type SendgridVerifyOptions = {
  /** How far the signed timestamp may be from `now`, either way, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The clock (default: the current time). */
  now?: Date;
};

const keyCache = new Map<string, KeyObject>();
const keyCacheLimit = 16;

/** The P-256 public key in `spkiBase64`; throws for anything else. Parsed keys are cached. */
function publicKey(spkiBase64: string): KeyObject {
  const cached = keyCache.get(spkiBase64);
  if (cached) return cached;
  const key = createPublicKey({
    key: Buffer.from(spkiBase64, "base64"),
    format: "der",
    type: "spki",
  });
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new TypeError("the SendGrid verification key is not an ECDSA P-256 public key");
  }
  if (keyCache.size >= keyCacheLimit) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(spkiBase64, key);
  return key;
}

/**
 * Whether `signature` (the X-Twilio-Email-Event-Webhook-Signature header, null when absent) is
 * SendGrid's ECDSA P-256 / SHA-256 signature, under `publicKeyBase64` (base64 DER SPKI,
 * "MFkw..."), of `timestamp` (the X-Twilio-Email-Event-Webhook-Timestamp header, Unix seconds as
 * decimal digits) followed by `rawBody` (the bytes as received, or their UTF-8 text). False too
 * when the timestamp is more than `options.toleranceSeconds` (default 300) from `options.now`,
 * either way, so a captured post cannot be replayed later. Never throws.
 */
export function verifySendgridSignature(
  publicKeyBase64: string,
  signature: string | null,
  timestamp: string | null,
  rawBody: string | Uint8Array,
  options: SendgridVerifyOptions = {},
): Promise<boolean> {
  try {
    if (!signature || !timestamp || !/^[0-9]{1,12}$/.test(timestamp)) {
      return Promise.resolve(false);
    }
    const tolerance = options.toleranceSeconds ?? 300;
    const nowSeconds = (options.now ?? new Date()).getTime() / 1000;
    if (!(tolerance >= 0) || !(Math.abs(nowSeconds - Number(timestamp)) <= tolerance)) {
      return Promise.resolve(false);
    }
    const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : rawBody;
    const data = Buffer.concat([Buffer.from(timestamp, "utf8"), body]);
    const valid = verify(
      "sha256",
      data,
      publicKey(publicKeyBase64),
      Buffer.from(signature, "base64"),
    );
    return Promise.resolve(valid);
  } catch {
    return Promise.resolve(false);
  }
}
