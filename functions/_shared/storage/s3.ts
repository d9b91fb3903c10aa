// Documents' bytes in Supabase Storage through its S3-compatible endpoint (locally s3rver), with
// @aws-sdk/client-s3: path-style URLs (Storage has no virtual-host buckets), and checksums only
// where an operation requires one (WHEN_REQUIRED: the SDK's default CRC32 trailers on every
// upload are not accepted by every S3-compatible server); uploads carry their own SHA-256.
//
// Each function takes the bucket last (a document row's own `bucket`), S3_BUCKET_NAME by default.
// The S3 access keys bypass Storage's row-level security: they stay in this process, and the
// API decides who may read or write before it calls anything here.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { config } from "../config.ts";
import { ProblemError } from "../errors.ts";

/** What putObject stored: the size in bytes and the SHA-256 the server checked. */
export interface StoredObject {
  key: string;
  bucket: string;
  sizeBytes: number;
  /** SHA-256 of the bytes, lowercase hex (documents.checksum_sha256). */
  checksumSha256: string;
}

/** An object's metadata as headObject reads it. */
export interface ObjectHead {
  sizeBytes: number;
  contentType: string | undefined;
  etag: string | undefined;
}

let cached: { client: S3Client; signature: string } | undefined;

/**
 * The bucket the documents' bytes go to: S3_BUCKET_NAME (on Supabase, the storage bucket's id,
 * which the storage.objects policies name).
 */
export function storageBucket(): string {
  return config().S3_BUCKET_NAME;
}

/**
 * The S3 client for the configured endpoint, made once per configuration. Throws a 503 problem
 * naming the missing STORAGE_S3_* variables while storage is not configured.
 */
export function s3Client(): S3Client {
  const cfg = config();
  if (
    !cfg.vendors.s3.enabled || !cfg.STORAGE_S3_ENDPOINT || !cfg.STORAGE_S3_ACCESS_KEY_ID ||
    !cfg.STORAGE_S3_SECRET_ACCESS_KEY
  ) {
    const reason = cfg.vendors.s3.enabled ? "" : cfg.vendors.s3.reason;
    throw new ProblemError(
      503,
      "Service Unavailable",
      `Document storage is not configured (${reason || "set STORAGE_S3_ENDPOINT"}).`,
    );
  }
  const signature = [cfg.STORAGE_S3_ENDPOINT, cfg.STORAGE_S3_REGION, cfg.STORAGE_S3_ACCESS_KEY_ID]
    .join("|");
  if (cached?.signature !== signature) {
    cached = {
      signature,
      client: new S3Client({
        endpoint: cfg.STORAGE_S3_ENDPOINT,
        region: cfg.STORAGE_S3_REGION,
        credentials: {
          accessKeyId: cfg.STORAGE_S3_ACCESS_KEY_ID,
          secretAccessKey: cfg.STORAGE_S3_SECRET_ACCESS_KEY,
        },
        forcePathStyle: true,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 2,
      }),
    };
  }
  return cached.client;
}

/** SHA-256 of `bytes` as lowercase hex and as base64 (S3's x-amz-checksum-sha256). */
export async function sha256(bytes: Uint8Array): Promise<{ hex: string; base64: string }> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return { hex, base64: btoa(String.fromCharCode(...digest)) };
}

/**
 * Stores `bytes` at `key` with their content type and SHA-256 checksum (a server that checks
 * checksums refuses bytes that arrived altered). Overwrites an object already there (S3 has no
 * conditional put on every server). Throws the SDK's error when the store refuses or is down.
 */
export async function putObject(
  key: string,
  bytes: Uint8Array,
  contentType: string,
  bucket: string = storageBucket(),
): Promise<StoredObject> {
  const checksum = await sha256(bytes);
  await s3Client().send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: bytes,
      ContentType: contentType,
      ContentLength: bytes.byteLength,
      ChecksumSHA256: checksum.base64,
    }),
  );
  return { key, bucket, sizeBytes: bytes.byteLength, checksumSha256: checksum.hex };
}

/** Deletes the object at `key`; deleting one that is not there succeeds (S3's rule). */
export async function deleteObject(key: string, bucket: string = storageBucket()): Promise<void> {
  await s3Client().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** The object's size, type and ETag, or null when there is no object at `key`. */
export async function headObject(
  key: string,
  bucket: string = storageBucket(),
): Promise<ObjectHead | null> {
  try {
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return {
      sizeBytes: head.ContentLength ?? 0,
      contentType: head.ContentType,
      etag: head.ETag,
    };
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata
      ?.httpStatusCode;
    if (status === 404) return null;
    throw error;
  }
}

/**
 * A presigned GET URL (SigV4 query signature) for the object at `key`, valid `seconds` (1 s to
 * 7 days) from now; with `filename`, the download is named so (Content-Disposition attachment,
 * RFC 6266 with an ASCII fallback). Signing is local: nothing is sent, and the object's
 * existence is not checked.
 */
export async function presignGet(
  key: string,
  seconds: number,
  filename?: string,
  bucket: string = storageBucket(),
): Promise<string> {
  return await getSignedUrl(
    s3Client(),
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(filename ? { ResponseContentDisposition: contentDisposition(filename) } : {}),
    }),
    { expiresIn: seconds },
  );
}

/** `attachment; filename="<ascii>"; filename*=UTF-8''<utf-8>` for a download's file name. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${
    encodeURIComponent(filename).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16)}`)
  }`;
}
