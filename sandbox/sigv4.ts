// AWS Signature Version 4 for the sandbox's awsQuery endpoint: parse and check the
// Authorization header (shape, access key, credential scope, X-Amz-Date) and recompute the
// signature with the secret key, as AWS does; plus the signer tests use to call the endpoint
// with plain fetch. Algorithm: AWS General Reference "Create a signed AWS API request".

const encoder = new TextEncoder();

async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return hex(new Uint8Array(digest));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hmac(key: Uint8Array | string, data: string): Promise<Uint8Array> {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(data)));
}

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept, everything else %XX). */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16));
}

/** The parts of a SigV4 Authorization header. */
export interface SigV4Authorization {
  accessKeyId: string;
  /** YYYYMMDD. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=…/date/region/service/aws4_request, SignedHeaders=…, Signature=…`. */
export function parseAuthorization(header: string | null): SigV4Authorization | null {
  const match = header?.match(
    /^AWS4-HMAC-SHA256\s+Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/,
  );
  if (!match) return null;
  return {
    accessKeyId: match[1],
    date: match[2],
    region: match[3],
    service: match[4],
    signedHeaders: match[5].split(";"),
    signature: match[6],
  };
}

/** The signature SigV4 gives a request: hex HMAC-SHA256 of the string to sign. */
export async function computeSignature(input: {
  method: string;
  url: URL;
  headers: Headers;
  signedHeaders: string[];
  body: string;
  amzDate: string;
  region: string;
  service: string;
  secretAccessKey: string;
}): Promise<string> {
  const date = input.amzDate.slice(0, 8);
  const query = [...input.url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const path = input.url.pathname.split("/").map((part) => uriEncode(decodeURIComponent(part)))
    .join("/");
  const canonicalHeaders = input.signedHeaders
    .map((name) => `${name}:${(input.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [
    input.method,
    path || "/",
    query,
    canonicalHeaders,
    input.signedHeaders.join(";"),
    await sha256Hex(input.body),
  ].join("\n");
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    input.amzDate,
    scope,
    await sha256Hex(canonicalRequest),
  ].join("\n");
  let key = await hmac(`AWS4${input.secretAccessKey}`, date);
  for (const part of [input.region, input.service, "aws4_request"]) key = await hmac(key, part);
  return hex(await hmac(key, stringToSign));
}

/**
 * Signs an awsQuery POST for plain-fetch tests: returns the headers to send with `body`
 * (content-type, x-amz-date, authorization). `url` is the full endpoint URL.
 */
export async function signAwsQuery(input: {
  url: string;
  body: string;
  region: string;
  service: "ses" | "sns";
  accessKeyId: string;
  secretAccessKey: string;
  now?: Date;
}): Promise<Record<string, string>> {
  const url = new URL(input.url);
  const amzDate = (input.now ?? new Date()).toISOString().replace(/[-:]/g, "").replace(
    /\.\d{3}/,
    "",
  );
  const headers = new Headers({
    "content-type": "application/x-www-form-urlencoded; charset=utf-8",
    host: url.host,
    "x-amz-date": amzDate,
  });
  const signedHeaders = ["content-type", "host", "x-amz-date"];
  const signature = await computeSignature({
    method: "POST",
    url,
    headers,
    signedHeaders,
    body: input.body,
    amzDate,
    region: input.region,
    service: input.service,
    secretAccessKey: input.secretAccessKey,
  });
  return {
    "content-type": headers.get("content-type")!,
    "x-amz-date": amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${input.accessKeyId}/${
      amzDate.slice(0, 8)
    }/${input.region}/${input.service}/aws4_request, SignedHeaders=${
      signedHeaders.join(";")
    }, Signature=${signature}`,
  };
}
