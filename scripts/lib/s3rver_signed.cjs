// s3rver with the SigV4 check it lacks: s3rver 3.7 checks a presigned URL's expiry but not its
// signature ("Signature version 4 calculation is unimplemented") and serves unsigned requests.
// Supabase Storage's S3 endpoint refuses both, so this wrapper, which scripts/lib/object_store.ts
// runs under Node, verifies every request's AWS Signature Version 4 (Authorization header or
// presigned query) against s3rver's one key pair before s3rver sees it, and refuses anonymous
// and SigV2 requests. It also checks an upload's x-amz-checksum-sha256 against its bytes (400
// BadDigest, nothing stored), which s3rver ignores; other checksums and x-amz-content-sha256
// payload hashes are not verified.
//
//   node scripts/lib/s3rver_signed.cjs <directory> <port, 0: any> <bucket>
// prints "S3rver listening on 127.0.0.1:<port>" once it listens.
"use strict";

const crypto = require("node:crypto");
const { Readable } = require("node:stream");
const S3rver = require("s3rver");
const S3Error = require("s3rver/lib/models/error");

const accessKeyId = "S3RVER";
const secretAccessKey = "S3RVER";

/** RFC 3986 percent-encoding, as SigV4 canonicalises names and values. */
function encode(text) {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error("InvalidArgument", "Malformed percent-encoding in the request URL");
  }
}

const sha256 = (text) => crypto.createHash("sha256").update(text, "utf8").digest("hex");
const hmac = (key, text) => crypto.createHmac("sha256", key).update(text, "utf8").digest();

/** The query's [name, value] pairs, decoded, in request order. */
function queryPairs(query) {
  if (!query) return [];
  return query.split("&").filter(Boolean).map((part) => {
    const at = part.indexOf("=");
    return at < 0 ? [decode(part), ""] : [decode(part.slice(0, at)), decode(part.slice(at + 1))];
  });
}

function refuse(code, message) {
  throw new S3Error(code, message);
}

/** Verifies the request's SigV4 signature; throws the S3 error a real endpoint would answer. */
function verify(ctx) {
  const raw = ctx.req.url;
  const mark = raw.indexOf("?");
  const path = mark < 0 ? raw : raw.slice(0, mark);
  const pairs = queryPairs(mark < 0 ? "" : raw.slice(mark + 1));
  const query = Object.fromEntries(pairs);
  const authorization = ctx.get("authorization");

  let credential, signedHeaders, signature, amzDate, payloadHash, canonicalPairs;
  if (authorization) {
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/
        .exec(authorization.trim());
    if (!match) refuse("AccessDenied", "Only AWS Signature Version 4 is accepted");
    [, credential, signedHeaders, signature] = match;
    amzDate = ctx.get("x-amz-date");
    payloadHash = ctx.get("x-amz-content-sha256") || "UNSIGNED-PAYLOAD";
    canonicalPairs = pairs;
  } else if ("X-Amz-Algorithm" in query) {
    if (query["X-Amz-Algorithm"] !== "AWS4-HMAC-SHA256") {
      refuse("AccessDenied", "Only AWS Signature Version 4 is accepted");
    }
    credential = query["X-Amz-Credential"];
    signedHeaders = query["X-Amz-SignedHeaders"];
    signature = query["X-Amz-Signature"];
    amzDate = query["X-Amz-Date"];
    payloadHash = query["X-Amz-Content-Sha256"] || "UNSIGNED-PAYLOAD";
    canonicalPairs = pairs.filter(([name]) => name !== "X-Amz-Signature");
  } else {
    refuse("AccessDenied", "Anonymous requests are refused: sign them (SigV4)");
  }
  if (!credential || !signedHeaders || !/^[0-9a-f]{64}$/.test(signature ?? "")) {
    refuse("AccessDenied", "The SigV4 credential, signed headers or signature is missing");
  }
  const [keyId, day, region, service, terminator] = credential.split("/");
  if (keyId !== accessKeyId) {
    refuse(
      "InvalidAccessKeyId",
      "The AWS Access Key Id you provided does not exist in our records.",
    );
  }
  if (!/^\d{8}T\d{6}Z$/.test(amzDate ?? "") || amzDate.slice(0, 8) !== day) {
    refuse("AccessDenied", "X-Amz-Date is missing or disagrees with the credential's date");
  }
  if (service !== "s3" || terminator !== "aws4_request" || !region) {
    refuse("AccessDenied", "The credential's scope is not <date>/<region>/s3/aws4_request");
  }
  const names = signedHeaders.split(";");
  if (!names.includes("host")) refuse("AccessDenied", "The host header must be signed");

  const uri = path.split("/").map((segment) => encode(decode(segment))).join("/");
  const canonicalQuery = canonicalPairs
    .map(([name, value]) => [encode(name), encode(value)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const canonicalHeaders = names
    .map((name) => `${name}:${String(ctx.req.headers[name] ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [
    ctx.method,
    uri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/${service}/${terminator}`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  const signingKey = ["aws4_request", service, region, day].reduceRight(
    (key, part) => hmac(key, part),
    `AWS4${secretAccessKey}`,
  );
  const expected = crypto.createHmac("sha256", signingKey).update(stringToSign).digest();
  const given = Buffer.from(signature, "hex");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    refuse(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided.",
    );
  }
}

/**
 * A PUT carrying x-amz-checksum-sha256 (unless streamed in aws-chunked signed chunks): its body is
 * read and hashed, refused with BadDigest when the hash differs, else handed on to s3rver, which
 * reads `ctx.req`. Bodies here are documents (10 MiB at most), so holding one is fine.
 */
async function checkSha256(ctx) {
  const expected = ctx.get("x-amz-checksum-sha256");
  if (ctx.method !== "PUT" || !expected) return;
  if (ctx.get("x-amz-content-sha256").startsWith("STREAMING-")) return;
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  if (crypto.createHash("sha256").update(body).digest("base64") !== expected) {
    refuse("BadDigest", "The SHA256 you specified did not match the calculated checksum.");
  }
  ctx.req = Readable.from([body]);
}

async function main() {
  const [directory, port, bucket] = process.argv.slice(2);
  if (!directory || port === undefined || !bucket) {
    console.error("usage: node s3rver_signed.cjs <directory> <port> <bucket>");
    process.exit(2);
  }
  const server = new S3rver({
    directory,
    address: "127.0.0.1",
    port: Number(port),
    silent: true,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  // Before s3rver's vhost and routes (its logger, XML rendering and mount interop come first),
  // so a refusal is rendered as S3's XML error like any other.
  // A CORS preflight carries no signature (browsers send none); s3rver answers it by the
  // bucket's CORS rules.
  server.middleware.splice(3, 0, async (ctx, next) => {
    if (ctx.method !== "OPTIONS") verify(ctx);
    await checkSha256(ctx);
    await next();
  });
  const { address, port: bound } = await server.run();
  console.log(`S3rver listening on ${address}:${bound}`);
  const stop = () => server.close().finally(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
