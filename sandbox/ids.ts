// Identifiers shaped like each vendor's own, so code and logs that look at them see real-looking
// values: Twilio `SM` + 32 hex, SES `0100…-uuid-000000`, SNS a UUID, SendGrid a 22-character
// X-Message-Id, WhatsApp `wamid.HBg…`, Graph `fbtrace_id`. Shapes from ../shared/VENDORS.md.

const encoder = new TextEncoder();

/** `count` random bytes. */
function randomBytes(count: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(count));
}

const hexPairs = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** `length` random lowercase hex characters. */
export function randomHex(length: number): string {
  let text = "";
  for (const byte of randomBytes(Math.ceil(length / 2))) text += hexPairs[byte];
  return text.slice(0, length);
}

/** Base64 of bytes; `url` gives the URL-safe alphabet without padding. */
export function base64(bytes: Uint8Array, url = false): string {
  const text = btoa(String.fromCharCode(...bytes));
  return url ? text.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "") : text;
}

/** A Twilio SID: two-letter prefix (`SM` message, `AC` account, `MG` service) + 32 hex. */
export function twilioSid(prefix: "SM" | "MM" | "AC" | "MG" | "PN"): string {
  return prefix + randomHex(32);
}

/**
 * An SES v1 MessageId: 4 hex region prefix + 12 hex (epoch ms) + `-` + UUID + `-000000`, e.g.
 * `0100017e25edab6a-296197bf-50c0-4754-91e7-7f13e59acf60-000000`. The prefix is `0100` in
 * us-east-1 and `0102` in eu-west-1 (VENDORS.md §2, from captured events); other regions are
 * unchecked, so they get `0100` too.
 */
export function sesMessageId(region: string, now = Date.now()): string {
  const prefix = region === "eu-west-1" ? "0102" : "0100";
  return `${prefix}${now.toString(16).padStart(12, "0")}-${crypto.randomUUID()}-000000`;
}

/** A SendGrid `X-Message-Id`: 22 characters of URL-safe base64 (16 random bytes). */
export function sendgridMessageId(): string {
  return base64(randomBytes(16), true);
}

/**
 * The `sg_message_id` of a SendGrid event: the X-Message-Id plus the `.filter…` suffix of the
 * relay that handled it, e.g. `Ul1mTkGuQYaB8JlHC3yGOA.filterdrecv-5645d9c87f-6r2zm-1-616D3B56-39.0`.
 */
export function sendgridEventMessageId(xMessageId: string): string {
  const pod = `${randomHex(10)}-${base64(randomBytes(4), true).toLowerCase().slice(0, 5)}`;
  const stamp = Math.floor(Date.now() / 1000).toString(16).toUpperCase();
  return `${xMessageId}.filterdrecv-${pod}-1-${stamp}-${Math.floor(Math.random() * 100)}.0`;
}

/** A SendGrid `sg_event_id`: URL-safe base64 of random bytes (22 characters). */
export function sendgridEventId(): string {
  return base64(randomBytes(16), true);
}

/**
 * A WhatsApp message id, `wamid.` + base64 of the framing WhatsApp uses: 0x1c 0x18, the
 * recipient's digits with their length, 0x15 0x02 0x00 0x11 0x18 0x12, 18 uppercase hex, 0x00
 * (so `wamid.HBgM…` for a 12-digit Indian number, as real ones look).
 */
export function wamid(recipientDigits: string): string {
  const digits = encoder.encode(recipientDigits.replace(/\D/g, ""));
  const tail = encoder.encode(randomHex(18).toUpperCase());
  const bytes = new Uint8Array([
    0x1c,
    0x18,
    digits.length,
    ...digits,
    0x15,
    0x02,
    0x00,
    0x11,
    0x18,
    0x12,
    ...tail,
    0x00,
  ]);
  return `wamid.${base64(bytes)}`;
}

/** A Graph API `fbtrace_id`: 23 characters of URL-safe base64 with a leading `A`. */
export function fbtraceId(): string {
  return `A${base64(randomBytes(16), true)}`;
}

/** An AWS request id (a UUID). */
export function awsRequestId(): string {
  return crypto.randomUUID();
}
