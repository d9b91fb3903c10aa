// Throwaway clusters go away however a run ends: at its end, on Ctrl-C (SIGINT) or on SIGTERM
// (a CI runner's timeout, `kill`, a process manager stopping it).
import { type Cluster } from "./cluster.ts";

/** The signals that end a run, with the exit code a shell reports for each (128 + number). */
export const exitSignals = [["SIGINT", 130], ["SIGTERM", 143]] as const;

/**
 * Makes `cluster` (or anything removed the same way) removed exactly once: by the returned function, which the run calls when it
 * ends, or on SIGINT / SIGTERM, which first call `beforeRemoval` (to stop children that hold the
 * database), then remove the cluster and exit with 130 / 143. The returned function resolves
 * when the cluster (its whole temporary folder) is gone, however often it is called; after a
 * signal it never resolves, so that a run failing because its database went away waits for the
 * removal and the signal's exit code instead of ending first (call it in a `finally`).
 */
export function removeOnExitSignals(
  cluster: Pick<Cluster, "remove">,
  beforeRemoval: () => void = () => {},
): () => Promise<void> {
  let removal: Promise<void> | undefined;
  let signalled = false;
  const remove = () => removal ??= cluster.remove();
  for (const [signal, code] of exitSignals) {
    Deno.addSignalListener(signal, async () => {
      if (signalled) return;
      signalled = true;
      beforeRemoval();
      await remove();
      Deno.exit(code);
    });
  }
  return () => signalled ? new Promise<void>(() => {}) : remove();
}
