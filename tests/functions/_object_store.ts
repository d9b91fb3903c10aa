// A local S3 endpoint (s3rver, scripts/lib/object_store.ts) for one test file: started on a free
// port in a temporary folder, its STORAGE_S3_* variables set in this process before the functions
// first read their configuration, and a superuser's view of its objects for the assertions.
import { type ObjectStore, startObjectStore } from "../../scripts/lib/object_store.ts";

export type { ObjectStore };

/**
 * Starts an object store and points the functions at it (STORAGE_S3_ENDPOINT and friends,
 * S3_BUCKET_NAME). Call it at the top of a test file, before anything reads config(), and close()
 * it in the file's last test: that stops the server, removes its folder and takes the variables
 * away again (each test module runs in an isolate of its own, but the environment is the
 * process's).
 */
export async function useObjectStore(bucket = "documents"): Promise<ObjectStore> {
  const store = await startObjectStore({ bucket });
  for (const [name, value] of Object.entries(store.env)) Deno.env.set(name, value);
  const stop = store.close;
  return {
    ...store,
    async close() {
      for (const name of Object.keys(store.env)) Deno.env.delete(name);
      await stop();
    },
  };
}

/**
 * Whether the store holds an object at `key`, read from its folder, past the S3 API (s3rver keeps
 * an object at `<dir>/<bucket>/<key>._S3rver_object`), so a test sees what the store holds
 * whatever the functions' client would say.
 */
export async function objectExists(store: ObjectStore, key: string): Promise<boolean> {
  try {
    await Deno.stat(`${store.dir}/${store.bucket}/${key}._S3rver_object`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Every object key in the store's bucket, sorted (an empty list when there is none). */
export async function objectKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  const root = `${store.dir}/${store.bucket}`;
  async function walk(dir: string) {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith("._S3rver_object")) {
        keys.push(path.slice(root.length + 1, -"._S3rver_object".length));
      }
    }
  }
  try {
    await walk(root);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return keys.sort();
}
