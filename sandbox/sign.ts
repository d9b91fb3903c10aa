// The vendor sandbox signs its callbacks here, the way each vendor does (VENDORS.md §1, §2, §3,
// §9): Twilio's X-Twilio-Signature, WhatsApp's X-Hub-Signature-256, SendGrid's ECDSA Event
// Webhook signature and SNS's RSA message signature with a self-signed certificate made at start.
// Everything is WebCrypto, so the verifiers in functions/_shared/signatures/ (written separately,
// mostly on node:crypto) check an independent implementation, not this one read back.

const encoder = new TextEncoder();

function bytesOf(text: string | Uint8Array): Uint8Array<ArrayBuffer> {
  return typeof text === "string" ? encoder.encode(text) : new Uint8Array(text);
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function hmac(
  hash: "SHA-1" | "SHA-256",
  secret: string,
  data: string | Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, bytesOf(data)));
}

// ---------------------------------------------------------------------------------------------
// Twilio (VENDORS.md §1, twilio-node src/webhooks/webhooks.ts)

/** The algorithms a Twilio webhook signature may use: the Auth Token's, or a SharedKey's. */
export type TwilioSignatureAlgorithm = "HMAC_SHA1" | "HMAC_SHA256";

/**
 * The string Twilio signs: the URL exactly as given, then for each parameter name in plain
 * code-unit order, `name + value` with no separator; a repeated name has its values
 * de-duplicated and sorted, each appended as `name + value`.
 */
export function twilioSignedString(url: string, params: Record<string, string | string[]>): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    const values = Array.isArray(value) ? [...new Set(value)].sort() : [value];
    for (const item of values) data += name + item;
  }
  return data;
}

/**
 * X-Twilio-Signature: base64(HMAC-SHA1(key = Auth Token, data = url + sorted name+value)).
 * `url` is the full public URL Twilio calls, as configured (scheme, host, port, query); `params`
 * the form fields posted (every one, even empty). With `algorithm` "HMAC_SHA256" and the SharedKey
 * secret as `authToken`, it is the Webhooks Rule variant (same string, another hash); the caller
 * then sends `X-Twilio-Webhooks-Signature-Settings: key=<sid>,algorithm=HMAC_SHA256`.
 */
export async function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string | string[]>,
  algorithm: TwilioSignatureAlgorithm = "HMAC_SHA1",
): Promise<string> {
  const hash = algorithm === "HMAC_SHA256" ? "SHA-256" : "SHA-1";
  return base64(await hmac(hash, authToken, twilioSignedString(url, params)));
}

/**
 * Lowercase hex SHA-256 of a JSON webhook body. Twilio appends it to the URL as
 * `bodySHA256=<hex>` and signs that URL with no params (`twilioSignature(token, url, {})`).
 */
export async function twilioBodySha256(rawBody: string | Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytesOf(rawBody))));
}

// ---------------------------------------------------------------------------------------------
// WhatsApp Cloud API (VENDORS.md §3)

/**
 * X-Hub-Signature-256: "sha256=" + lowercase hex HMAC-SHA256(key = App Secret, data = the raw
 * body bytes exactly as sent). Sign the very string you send; never re-serialise after signing.
 */
export async function whatsappSignature(
  appSecret: string,
  rawBody: string | Uint8Array,
): Promise<string> {
  return "sha256=" + hex(await hmac("SHA-256", appSecret, rawBody));
}

// ---------------------------------------------------------------------------------------------
// SendGrid Event Webhook (VENDORS.md §9, sendgrid-nodejs packages/eventwebhook)

/**
 * A fresh ECDSA P-256 key pair for signing Event Webhook posts: the private CryptoKey and the
 * public key as SendGrid shows it in its settings (base64 DER SubjectPublicKeyInfo, "MFkw...").
 */
export async function sendgridKeyPair(): Promise<{ privateKey: CryptoKey; publicKey: string }> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: base64(spki) };
}

/** An unsigned big-endian integer as a DER INTEGER (leading zeros dropped, 0x00 if high bit). */
function derUnsignedInteger(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  const padded = body[0] & 0x80 ? concat(Uint8Array.of(0), body) : body;
  return der(0x02, padded);
}

/**
 * An ECDSA signature as WebCrypto gives it (IEEE P1363: r‖s, each half the length) in the ASN.1
 * DER form SendGrid sends: SEQUENCE { INTEGER r, INTEGER s }, each integer minimal (leading zero
 * bytes dropped) and positive (0x00 prepended when its high bit is set).
 */
export function ecdsaP1363ToDer(raw: Uint8Array): Uint8Array<ArrayBuffer> {
  const half = raw.length / 2;
  return der(
    0x30,
    concat(derUnsignedInteger(raw.subarray(0, half)), derUnsignedInteger(raw.subarray(half))),
  );
}

/**
 * X-Twilio-Email-Event-Webhook-Signature: base64 of the ASN.1 DER ECDSA P-256 / SHA-256 signature
 * over the UTF-8 string `timestamp + rawBody` (no separator; the body exactly as posted, its
 * trailing "\r\n" included). `timestamp` is the X-Twilio-Email-Event-Webhook-Timestamp header
 * value (Unix seconds). WebCrypto gives r‖s (IEEE P1363); SendGrid sends DER, so it is converted.
 */
export async function sendgridSignature(
  privateKey: CryptoKey,
  timestamp: string,
  rawBody: string | Uint8Array,
): Promise<string> {
  const data = concat(encoder.encode(timestamp), bytesOf(rawBody));
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, data),
  );
  return base64(ecdsaP1363ToDer(raw));
}

// ---------------------------------------------------------------------------------------------
// AWS SNS (VENDORS.md §2, aws-js-sns-message-validator)

/** The SNS message types and the keys each signs, in signing order (a key absent is skipped). */
const snsSignedKeys = {
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
  // AWS's docs give confirmations one list; the npm validator applies it to
  // SubscriptionConfirmation only (VENDORS.md §2, marked (v)). We follow the docs.
  UnsubscribeConfirmation: [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
  ],
} as const;

/**
 * The string SNS signs: `Key\nValue\n` for each signed key present in `message`, in the order
 * for its `Type` (Notification: Message, MessageId, Subject, Timestamp, TopicArn, Type;
 * confirmations: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type).
 * Throws for a Type SNS does not send.
 */
export function snsCanonicalString(message: Record<string, string>): string {
  const keys = snsSignedKeys[message.Type as keyof typeof snsSignedKeys];
  if (!keys) throw new Error(`unknown SNS message Type: ${message.Type}`);
  let text = "";
  for (const key of keys) {
    if (key in message && message[key] !== undefined) text += `${key}\n${message[key]}\n`;
  }
  return text;
}

/** An SNS signer: its certificate (PEM) to serve at the SigningCertURL, and the signing calls. */
export type SnsSigner = {
  /** The self-signed X.509 certificate (RSA 2048, sha256WithRSAEncryption), PEM. */
  certificatePem: string;
  /**
   * The base64 `Signature` of `message` (its canonical string, see snsCanonicalString) with
   * RSA PKCS#1 v1.5: SignatureVersion "1" = SHA-1, "2" = SHA-256. Throws for an unknown Type.
   */
  sign(message: Record<string, string>, version: "1" | "2"): Promise<string>;
  /** The base64 signature of an arbitrary string (tests use it to forge a wrong field order). */
  signString(text: string, version: "1" | "2"): Promise<string>;
};

/**
 * Makes an RSA key and a self-signed certificate for it (valid from an hour ago for a year;
 * subject CN `commonName`, default "sns.amazonaws.com"), built in DER here and signed with
 * WebCrypto: no CLI, no dependency.
 */
export async function snsSigner(options: { commonName?: string } = {}): Promise<SnsSigner> {
  const algorithm = {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: Uint8Array.of(1, 0, 1),
    hash: "SHA-256",
  };
  const pair = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  // A WebCrypto RSA key is bound to one hash: import the same private key again for SHA-1.
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", pair.privateKey);
  const sha1Key = await crypto.subtle.importKey(
    "pkcs8",
    pkcs8,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const certificate = await selfSignedCertificate(
    options.commonName ?? "sns.amazonaws.com",
    spki,
    pair.privateKey,
  );
  const signString = async (text: string, version: "1" | "2") => {
    const key = version === "1" ? sha1Key : pair.privateKey;
    return base64(
      new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, encoder.encode(text))),
    );
  };
  return {
    certificatePem: pem("CERTIFICATE", certificate),
    sign: (message, version) => signString(snsCanonicalString(message), version),
    signString,
  };
}

// --- a minimal X.509 v1 certificate in DER (RFC 5280 §4.1), enough for a verifier to read ---

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One DER TLV: tag, definite length (short or long form), value. */
function der(tag: number, value: Uint8Array): Uint8Array<ArrayBuffer> {
  const length = value.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
      lengthBytes.unshift(rest % 256);
    }
    header = [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  return concat(Uint8Array.from(header), value);
}

const sequence = (...items: Uint8Array[]) => der(0x30, concat(...items));
const derNull = Uint8Array.of(0x05, 0x00);
// 1.2.840.113549.1.1.11 sha256WithRSAEncryption; 2.5.4.3 commonName.
const fromHex = (text: string) => Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
const sha256WithRsaOid = fromHex("06092a864886f70d01010b");
const commonNameOid = fromHex("0603550403");

function name(commonName: string): Uint8Array {
  const attribute = sequence(commonNameOid, der(0x0c, encoder.encode(commonName))); // UTF8String
  return sequence(der(0x31, attribute)); // RDNSequence of one SET
}

/** UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime from 2050, as RFC 5280 requires. */
function derTime(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-05-01T10:20:30.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z"; // 20260501102030Z
  return date.getUTCFullYear() < 2050
    ? der(0x17, encoder.encode(digits.slice(2)))
    : der(0x18, encoder.encode(digits));
}

async function selfSignedCertificate(
  commonName: string,
  spki: Uint8Array,
  privateKey: CryptoKey,
): Promise<Uint8Array> {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x01; // and without a leading zero byte
  const signatureAlgorithm = sequence(sha256WithRsaOid, derNull);
  const now = Date.now();
  const tbs = sequence(
    der(0x02, serial),
    signatureAlgorithm,
    name(commonName),
    sequence(derTime(new Date(now - 3600_000)), derTime(new Date(now + 365 * 86400_000))),
    name(commonName),
    spki,
  );
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", privateKey, tbs));
  // BIT STRING: a leading byte counting the unused bits (none).
  return sequence(tbs, signatureAlgorithm, der(0x03, concat(Uint8Array.of(0), signature)));
}

function pem(label: string, bytes: Uint8Array): string {
  const lines = base64(bytes).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
