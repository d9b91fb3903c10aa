// AWS SNS HTTP message signatures (VENDORS.md §2; aws-js-sns-message-validator index.js; AWS SNS
// guide "Verifying the signatures of Amazon SNS messages"). Each message carries an RSA signature
// (SignatureVersion "1" = SHA1withRSA, "2" = SHA256withRSA) over `Key\nValue\n` for the signed
// keys present, in an order that differs for confirmations, made with the private key of the
// X.509 certificate at SigningCertURL. That URL must be AWS's (https, sns.<region>.amazonaws.com
// or .com.cn, a .pem path) before anything is fetched from it. Like AWS's validator, this does
// not check Timestamp freshness or the certificate's chain: the host rule is the trust anchor.
import { Buffer } from "node:buffer";
import { type KeyObject, verify, X509Certificate } from "node:crypto";

/** The message types SNS posts to an HTTP(S) subscriber. */
export type SnsMessageType =
  | "Notification"
  | "SubscriptionConfirmation"
  | "UnsubscribeConfirmation";

/** A verified SNS message, as posted (JSON in a text/plain body); only the keys below are kept. */
export type SnsMessage = {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  /** Notifications only, when the publisher set one. */
  Subject?: string;
  /** The payload: for SES events a JSON string; for confirmations a sentence. */
  Message: string;
  /** ISO-8601 with milliseconds, e.g. "2026-05-01T10:20:30.123Z". */
  Timestamp: string;
  SignatureVersion: "1" | "2";
  /** Base64 RSA signature. */
  Signature: string;
  SigningCertURL: string;
  /** Not signed by SNS: never follow it on the strength of the signature alone. */
  UnsubscribeURL?: string;
  /** Confirmations: GET it to confirm the subscription. */
  SubscribeURL?: string;
  /** Confirmations: the subscription token. */
  Token?: string;
};

/** The result of a verification: the message, or why it was refused (no secrets, no input). */
export type SnsVerification = { ok: true; message: SnsMessage } | { ok: false; reason: string };

/** Options for createSnsVerifier. */
export type SnsVerifierOptions = {
  /**
   * Which SigningCertURLs may be fetched, matched against the whole URL (which must also be in
   * canonical form, with no user or password). Default: awsSnsCertUrlPattern.
   */
  certUrlPattern?: RegExp;
  /** Fetches a certificate's PEM (default: an HTTP GET, 200 only, no redirects, 5 s, 64 KiB). */
  fetchCertificate?: (url: string) => Promise<string>;
};

/**
 * AWS's rule for SigningCertURL: https, host `sns.<region>.amazonaws.com` or `.com.cn` (the host
 * part of aws-js-sns-message-validator's default pattern), no port, a path ending in `.pem`, no
 * query or fragment.
 */
export const awsSnsCertUrlPattern =
  /^https:\/\/sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?\/[^?#]*\.pem$/;

/**
 * A pattern for certificates served under `baseUrl` (e.g. the vendor sandbox's
 * `http://127.0.0.1:PORT/aws`): that exact prefix, then a path ending in `.pem`. For local and
 * test use only; production keeps awsSnsCertUrlPattern.
 */
export function snsCertUrlPatternUnder(baseUrl: string): RegExp {
  const prefix = baseUrl.replace(/\/+$/, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${prefix}/[^?#]*\\.pem$`);
}

const signedKeys: Record<SnsMessageType, readonly (keyof SnsMessage)[]> = {
  Notification: ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
  SubscriptionConfirmation: [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
  ],
  // AWS's guide gives both confirmations this order; the npm validator applies it only to
  // SubscriptionConfirmation (VENDORS.md §2 marks the Unsubscribe case (v)).
  UnsubscribeConfirmation: [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
  ],
};

const requiredKeys = [
  "Message",
  "MessageId",
  "Timestamp",
  "TopicArn",
  "Type",
  "Signature",
  "SigningCertURL",
  "SignatureVersion",
] as const;

const certCacheLimit = 64;
const certFetchTimeoutMs = 5000;
const certMaxChars = 65536;

async function fetchCertificateOverHttp(url: string): Promise<string> {
  const response = await fetch(url, {
    redirect: "error",
    signal: AbortSignal.timeout(certFetchTimeoutMs),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`certificate request answered ${response.status}`);
  }
  const text = await response.text();
  if (text.length > certMaxChars) throw new Error("certificate too large");
  return text;
}

/** A check of the message's shape; returns the typed message or a reason. */
function parseMessage(body: unknown): SnsMessage | string {
  let value = body;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return "body is not JSON";
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "body is not a JSON object";
  }
  const fields = value as Record<string, unknown>;
  for (const key of requiredKeys) {
    if (typeof fields[key] !== "string") return `missing required key ${key}`;
  }
  const type = fields.Type as string;
  if (!(type in signedKeys)) return "unknown message Type";
  const confirmation = type !== "Notification";
  if (confirmation) {
    for (const key of ["SubscribeURL", "Token"]) {
      if (typeof fields[key] !== "string") return `missing required key ${key}`;
    }
  }
  // SignatureVersion must be the string "1" or "2" (a number or "01" is refused).
  if (fields.SignatureVersion !== "1" && fields.SignatureVersion !== "2") {
    return "unsupported SignatureVersion";
  }
  for (const key of ["Subject", "UnsubscribeURL"]) {
    if (fields[key] !== undefined && fields[key] !== null && typeof fields[key] !== "string") {
      return `${key} is not a string`;
    }
  }
  const message: SnsMessage = {
    Type: type as SnsMessageType,
    MessageId: fields.MessageId as string,
    TopicArn: fields.TopicArn as string,
    Message: fields.Message as string,
    Timestamp: fields.Timestamp as string,
    SignatureVersion: fields.SignatureVersion,
    Signature: fields.Signature as string,
    SigningCertURL: fields.SigningCertURL as string,
  };
  // A null Subject counts as absent, as in AWS's validator.
  if (typeof fields.Subject === "string" && !confirmation) message.Subject = fields.Subject;
  if (typeof fields.UnsubscribeURL === "string") message.UnsubscribeURL = fields.UnsubscribeURL;
  if (confirmation) {
    message.SubscribeURL = fields.SubscribeURL as string;
    message.Token = fields.Token as string;
  }
  return message;
}

/** `Key\nValue\n` for each signed key present, in the order for the message's Type. */
function canonicalString(message: SnsMessage): string {
  return signedKeys[message.Type]
    .filter((key) => message[key] !== undefined)
    .map((key) => `${key}\n${message[key]}\n`)
    .join("");
}

/**
 * A verifier for SNS HTTP(S) posts: give it the parsed JSON body (or its text) and it answers
 * `{ ok: true, message }` only when the message has every required key (plus SubscribeURL and
 * Token on confirmations), SignatureVersion is the string "1" or "2", SigningCertURL matches
 * `certUrlPattern` (default awsSnsCertUrlPattern), and the signature over the canonical string
 * holds under that certificate's key. Otherwise `{ ok: false, reason }`; it never throws.
 * Certificates are fetched only for URLs that pass the pattern, once per URL (concurrent
 * requests share one fetch; failures are not cached; at most 64 URLs are kept).
 */
export function createSnsVerifier(
  options: SnsVerifierOptions = {},
): (body: unknown) => Promise<SnsVerification> {
  const given = options.certUrlPattern ?? awsSnsCertUrlPattern;
  // A global or sticky RegExp keeps state between test() calls: use a stateless copy.
  const pattern = new RegExp(given.source, given.flags.replace(/[gy]/g, ""));
  const fetchCertificate = options.fetchCertificate ?? fetchCertificateOverHttp;
  const cache = new Map<string, Promise<KeyObject>>();

  const publicKeyAt = (url: string): Promise<KeyObject> => {
    const cached = cache.get(url);
    if (cached) return cached;
    const loading = (async () => {
      const pem = await fetchCertificate(url);
      if (typeof pem !== "string" || !pem.includes("-----BEGIN CERTIFICATE-----")) {
        throw new Error("not a PEM certificate");
      }
      const key = new X509Certificate(pem).publicKey;
      if (key.asymmetricKeyType !== "rsa") throw new Error("not an RSA certificate");
      return key;
    })();
    if (cache.size >= certCacheLimit) cache.delete(cache.keys().next().value!);
    cache.set(url, loading);
    loading.catch(() => cache.delete(url));
    return loading;
  };

  return async (body: unknown): Promise<SnsVerification> => {
    try {
      const message = parseMessage(body);
      if (typeof message === "string") return { ok: false, reason: message };

      const certUrl = message.SigningCertURL;
      let parsed: URL;
      try {
        parsed = new URL(certUrl);
      } catch {
        return { ok: false, reason: "SigningCertURL is not a URL" };
      }
      if (parsed.username || parsed.password || parsed.href !== certUrl || !pattern.test(certUrl)) {
        return { ok: false, reason: "SigningCertURL is not an allowed certificate URL" };
      }

      let key: KeyObject;
      try {
        key = await publicKeyAt(certUrl);
      } catch {
        return { ok: false, reason: "signing certificate could not be loaded" };
      }
      const algorithm = message.SignatureVersion === "1" ? "RSA-SHA1" : "RSA-SHA256";
      const data = Buffer.from(canonicalString(message), "utf8");
      const signature = Buffer.from(message.Signature, "base64");
      if (!verify(algorithm, data, key, signature)) {
        return { ok: false, reason: "signature does not match" };
      }
      return { ok: true, message };
    } catch {
      return { ok: false, reason: "message could not be verified" };
    }
  };
}
