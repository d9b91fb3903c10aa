// The local object store: s3rver (an S3-compatible server on Node, pinned in package.json's
// devDependencies) in a child process, standing in for Supabase Storage's S3 endpoint for
// `npm start` and the Deno tests. s3rver refuses a presigned URL after its X-Amz-Expires; the
// wrapper it runs under (s3rver_signed.cjs) verifies SigV4 signatures, header and presigned
// (query) ones, refuses unsigned requests, which s3rver alone would serve, and checks an
// upload's x-amz-checksum-sha256. It has no row-level security, no storage.objects rows and no
// bucket limits (size, MIME types): the API checks what it stores itself.
import { projectRoot } from "./run.ts";

/** What a started object store is reached with, and how to stop it. */
export interface ObjectStore {
  /** Base URL of the S3 endpoint (path-style: `${endpoint}/${bucket}/${key}`). */
  endpoint: string;
  /** The bucket created on start. */
  bucket: string;
  /** s3rver's fixed credentials (S3RVER / S3RVER); any other key is refused. */
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder the objects are kept in. */
  dir: string;
  /** The STORAGE_S3_* and S3_BUCKET_NAME variables the functions need to use this store. */
  env: Record<string, string>;
  /** Stops the server (the folder is kept unless it was a temporary one made here). */
  close(): Promise<void>;
}

/** Options of startObjectStore(). */
export interface ObjectStoreOptions {
  /** TCP port on 127.0.0.1; 0 or unset: any free port. */
  port?: number;
  /** Folder for the objects; unset: a fresh temporary folder, removed by close(). */
  dir?: string;
  /** Bucket to create; unset: S3_BUCKET_NAME from the environment, else the functions' default. */
  bucket?: string;
}

/** s3rver with SigV4 verification added (s3rver itself verifies no V4 signature). */
const s3rverSigned = `${projectRoot}/scripts/lib/s3rver_signed.cjs`;

/**
 * Starts s3rver (with SigV4 verification) under Node on 127.0.0.1 with one bucket and resolves
 * once it listens (within 20 s, else throws with what it printed). Requires `npm ci` to have
 * installed s3rver.
 */
export async function startObjectStore(options: ObjectStoreOptions = {}): Promise<ObjectStore> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "py360-objects-" });
  await Deno.mkdir(dir, { recursive: true });
  const bucket = options.bucket ?? Deno.env.get("S3_BUCKET_NAME") ?? "documents";
  const child = new Deno.Command("node", {
    args: [s3rverSigned, dir, String(options.port ?? 0), bucket],
    cwd: projectRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let output = "";
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  const stderr = (async () => {
    for await (const chunk of child.stderr) output += decoder.decode(chunk);
  })();
  const timeout = setTimeout(() => child.kill("SIGTERM"), 20_000);
  let port: number | undefined;
  try {
    while (port === undefined) {
      const { value, done } = await reader.read();
      if (done) break;
      output += decoder.decode(value);
      const match = output.match(/S3rver listening on [^:\s]+:(\d+)/);
      if (match) port = Number(match[1]);
    }
  } finally {
    clearTimeout(timeout);
  }
  if (port === undefined) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await stderr;
    throw new Error(`s3rver did not start:\n${output}`);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();

  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = "S3RVER";
  const secretAccessKey = "S3RVER";
  let closed = false;
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    dir,
    env: {
      STORAGE_S3_ENDPOINT: endpoint,
      STORAGE_S3_REGION: "local",
      STORAGE_S3_ACCESS_KEY_ID: accessKeyId,
      STORAGE_S3_SECRET_ACCESS_KEY: secretAccessKey,
      S3_BUCKET_NAME: bucket,
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await Promise.all([drain, stderr]);
      if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
