// A dispatcher process for the benchmarks: the local worker of scripts/worker.ts (LISTEN plus a
// tick, drain() batch after batch) with one change, its provider: a no-op Twilio whose send
// resolves at once with a fake id, so what is measured is the queue (claim, permits, results),
// not a vendor. `deno run -A bench/lib/noop_worker.ts --name NAME [--tick-ms 1000] [--batch 100]
// [--concurrency 32]` with FUNCTIONS_DB_URL set; stops on SIGTERM after its batch in hand.
import { parseArgs } from "node:util";
import type { Provider } from "../../functions/_shared/providers/types.ts";
import { startWorker } from "../../scripts/worker.ts";

/** Twilio that accepts every SMS at once: `noop-<our id>` as the vendor's id, no cost. */
export const noopTwilio: Provider = {
  code: "twilio",
  channel: "sms",
  send: (message) => Promise.resolve({ ok: true, providerMessageId: `noop-${message.id}` }),
};

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      name: { type: "string" },
      "tick-ms": { type: "string", default: "1000" },
      batch: { type: "string", default: "100" },
      concurrency: { type: "string", default: "32" },
    },
  });
  const worker = startWorker({
    name: values.name,
    tickMs: Number(values["tick-ms"]),
    batchSize: Number(values.batch),
    concurrency: Number(values.concurrency),
    providers: { twilio: noopTwilio },
  });
  console.log(`noop worker ${values.name ?? Deno.pid} started`);
  const stop = async () => {
    await worker.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
