// Twilio webhook signatures (VENDORS.md §1; twilio-node 6.0.2 src/webhooks/webhooks.ts):
// X-Twilio-Signature = base64(HMAC-SHA1(Auth Token, full URL + each POST param sorted by name as
// name + value)). No timestamp is signed, so there is no replay window: callers dedupe.
//
// The SharedKey variant (Webhooks Rules, Public Beta) is supported: when Twilio adds
// `X-Twilio-Webhooks-Signature-Settings: key=<sid>,algorithm=HMAC_SHA1|HMAC_SHA256`, the same
// string is signed with the SharedKey secret and that algorithm instead of the Auth Token.
import { createHash, createHmac } from "node:crypto";
import { parse, stringify } from "node:querystring";
import { timingSafeEqualText } from "./compare.ts";

/** Form fields as posted; a name sent more than once carries all its values. */
export type TwilioParams = Record<string, string | string[]>;

/** Options for the SharedKey variant; without `signatureSettings` the Auth Token signs. */
export type TwilioVerifyOptions = {
  /** The X-Twilio-Webhooks-Signature-Settings header, or null when absent. */
  signatureSettings?: string | null;
  /** The SharedKey secret the matching Webhook Setting signs with (one key; no rotation map). */
  sharedKeySecret?: string;
};

/**
 * The form body as TwilioParams: each name once, a repeated name as the array of its values
 * (the SDK de-duplicates and sorts those values when it signs). Empty values are kept.
 */
export function twilioParamsFromForm(form: URLSearchParams): TwilioParams {
  const params: TwilioParams = {};
  for (const name of new Set(form.keys())) {
    const values = form.getAll(name);
    params[name] = values.length === 1 ? values[0] : values;
  }
  return params;
}

/**
 * The URL spellings twilio-node's validateRequest accepts for `url`, in its order: parsed and
 * re-serialised (WHATWG URL) with its port removed; with its port (the given one, else :443 for
 * https and :80 otherwise); and both again with the query re-encoded by Node's legacy
 * querystring (so `It's+amazing` matches as Twilio sent it). Note the SDK removes any port, not
 * only a default one. Throws TypeError for a string that is not an absolute URL.
 */
export function twilioUrlSpellings(url: string): string[] {
  const parsed = new URL(url);
  const portless = new URL(parsed);
  portless.port = "";
  const withoutPort = portless.toString();
  const withPort = parsed.port ? parsed.toString() : withDefaultPort(parsed);
  const spellings = [withoutPort, withPort, legacyQuery(withoutPort), legacyQuery(withPort)];
  return [...new Set(spellings)];
}

function withDefaultPort(url: URL): string {
  const port = url.protocol === "https:" ? ":443" : ":80";
  const credentials = url.username || url.password
    ? url.username + (url.password ? ":" + url.password : "") + "@"
    : "";
  return `${url.protocol}//${credentials}${url.host}${port}${url.pathname}${url.search}${url.hash}`;
}

function legacyQuery(url: string): string {
  const parsed = new URL(url);
  if (!parsed.search) return url;
  const query = parse(parsed.search.slice(1));
  parsed.search = "";
  return parsed.toString() + "?" + stringify(query);
}

function signedString(url: string, params: TwilioParams): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (Array.isArray(value)) {
      for (const item of Array.from(new Set(value)).sort()) data += name + item;
    } else {
      data += name + value;
    }
  }
  return data;
}

/** The algorithm named by X-Twilio-Webhooks-Signature-Settings, or null if none we support. */
function settingsAlgorithm(settings: string): "sha1" | "sha256" | null {
  for (const part of settings.split(",")) {
    const [name, value] = part.split("=", 2).map((text) => text.trim());
    if (name.toLowerCase() !== "algorithm") continue;
    if (value === "HMAC_SHA1") return "sha1";
    if (value === "HMAC_SHA256") return "sha256";
    return null;
  }
  return null;
}

/**
 * Whether `header` (X-Twilio-Signature, null when absent) is Twilio's signature of `url` and
 * `params` (every form field posted). `url` is the exact public URL Twilio was given (scheme,
 * host, port, query); the SDK's four spellings of it are accepted (see twilioUrlSpellings) and
 * nothing else. The comparison is constant-time. With `options.signatureSettings` the SharedKey
 * secret and the header's algorithm are used instead (false if no secret is configured or the
 * algorithm is unknown). Never throws: a malformed URL or missing header is false.
 */
export function verifyTwilioSignature(
  authToken: string,
  header: string | null,
  url: string,
  params: TwilioParams,
  options: TwilioVerifyOptions = {},
): Promise<boolean> {
  return Promise.resolve(signatureHolds(authToken, header, url, params, options));
}

function signatureHolds(
  authToken: string,
  header: string | null,
  url: string,
  params: TwilioParams,
  options: TwilioVerifyOptions,
): boolean {
  try {
    if (!header) return false;
    let secret = authToken;
    let algorithm: "sha1" | "sha256" | null = "sha1";
    if (options.signatureSettings) {
      secret = options.sharedKeySecret ?? "";
      algorithm = settingsAlgorithm(options.signatureSettings);
    }
    if (!secret || !algorithm) return false;
    let valid = false;
    for (const spelling of twilioUrlSpellings(url)) {
      const expected = createHmac(algorithm, secret)
        .update(signedString(spelling, params), "utf8")
        .digest("base64");
      if (timingSafeEqualText(header, expected)) valid = true;
    }
    return valid;
  } catch {
    return false;
  }
}

/**
 * The JSON-body variant (the SDK's validateRequestWithBody): Twilio puts
 * `bodySHA256=<hex SHA-256 of the raw body>` in the URL and signs the URL with no params. True
 * only if the signature of `url` holds and its bodySHA256 equals the hash of `rawBody` (bytes as
 * received). A URL without bodySHA256 is false. Never throws.
 */
export function verifyTwilioSignatureWithBody(
  authToken: string,
  header: string | null,
  url: string,
  rawBody: string | Uint8Array,
  options: TwilioVerifyOptions = {},
): Promise<boolean> {
  try {
    const claimed = new URL(url).searchParams.get("bodySHA256");
    if (!claimed || !signatureHolds(authToken, header, url, {}, options)) {
      return Promise.resolve(false);
    }
    const actual = createHash("sha256").update(rawBody).digest("hex");
    return Promise.resolve(timingSafeEqualText(claimed, actual));
  } catch {
    return Promise.resolve(false);
  }
}
