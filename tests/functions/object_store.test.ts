// The local object store (scripts/lib/object_store.ts): objects outlive a restart on the same
// folder (npm start keeps them in .local/objects), the bucket is made once, a port can be asked
// for, close() stops the server, and an upload whose bytes disagree with its SHA-256 is refused.
import assert from "node:assert/strict";
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { startObjectStore } from "../../scripts/lib/object_store.ts";
import { freePort } from "../../scripts/lib/ports.ts";

function client(endpoint: string) {
  return new S3Client({
    endpoint,
    region: "local",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

Deno.test("object store: objects outlive a restart on the same folder; close() stops it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "py360-objects-test-" });
  try {
    const port = freePort();
    const first = await startObjectStore({ dir, port, bucket: "kept" });
    assert.equal(first.endpoint, `http://127.0.0.1:${port}`);
    assert.deepEqual(first.env, {
      STORAGE_S3_ENDPOINT: first.endpoint,
      STORAGE_S3_REGION: "local",
      STORAGE_S3_ACCESS_KEY_ID: "S3RVER",
      STORAGE_S3_SECRET_ACCESS_KEY: "S3RVER",
      S3_BUCKET_NAME: "kept",
    });
    await client(first.endpoint).send(
      new PutObjectCommand({ Bucket: "kept", Key: "a/b.txt", Body: "kept bytes" }),
    );
    await first.close();
    await assert.rejects(fetch(`${first.endpoint}/kept/a/b.txt`), "stopped");

    const second = await startObjectStore({ dir, bucket: "kept" });
    try {
      const got = await client(second.endpoint).send(
        new GetObjectCommand({ Bucket: "kept", Key: "a/b.txt" }),
      );
      assert.equal(await got.Body?.transformToString(), "kept bytes");
    } finally {
      await second.close();
    }
    // A folder given by the caller is the caller's: close() leaves it.
    assert.ok((await Deno.stat(`${dir}/kept`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("object store: a temporary folder of its own is removed by close()", async () => {
  const store = await startObjectStore({ bucket: "scratch" });
  assert.ok((await Deno.stat(store.dir)).isDirectory);
  await store.close();
  await assert.rejects(Deno.stat(store.dir), Deno.errors.NotFound);
});

Deno.test("object store: an upload whose SHA-256 disagrees with its bytes is refused, not stored", async () => {
  const store = await startObjectStore({ bucket: "sums" });
  try {
    const s3 = client(store.endpoint);
    const bytes = new TextEncoder().encode("the bytes sent");
    const sha256 = async (data: Uint8Array<ArrayBuffer>) =>
      btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", data))));
    await s3.send(
      new PutObjectCommand({
        Bucket: "sums",
        Key: "good.txt",
        Body: bytes,
        ChecksumSHA256: await sha256(bytes),
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: "sums", Key: "good.txt" }));
    assert.equal(head.ContentLength, bytes.byteLength);
    await assert.rejects(
      s3.send(
        new PutObjectCommand({
          Bucket: "sums",
          Key: "bad.txt",
          Body: bytes,
          ChecksumSHA256: await sha256(new TextEncoder().encode("other bytes")),
        }),
      ),
      (error: Error & { $metadata?: { httpStatusCode?: number } }) =>
        error.name === "BadDigest" && error.$metadata?.httpStatusCode === 400,
    );
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: "sums", Key: "bad.txt" })),
      (error: Error) => error.name === "NotFound",
    );
  } finally {
    await store.close();
  }
});
