// Requests of one kind sent in several chunks (alternating with another kind, so a busy minute
// on a shared machine falls on both): their rate and latency percentiles taken together.
import { type LoadResult, runLoad } from "./load.ts";
import { percentile } from "./measure.ts";

/** Throws unless every request of a load run succeeded (a failure's message included). */
export function expectAll(result: LoadResult): void {
  if (result.failures > 0) {
    throw new Error(`${result.failures} of ${result.count} failed: ${result.firstFailure}`);
  }
}

/** One kind of request over several runLoad chunks. */
export class Series {
  /** Milliseconds of every request so far, send to answer. */
  latencies: number[] = [];
  /** Wall-clock seconds of the chunks, added up. */
  seconds = 0;

  /** `concurrency`: loops per chunk, each sending and waiting for the answer. */
  constructor(readonly concurrency: number) {}

  /** Sends `total` requests through `send` (true = success); throws unless all succeed. */
  async run(total: number, send: (index: number) => Promise<boolean>): Promise<void> {
    const result = await runLoad(total, this.concurrency, async (index) => {
      const sentAt = performance.now();
      const ok = await send(index);
      this.latencies.push(performance.now() - sentAt);
      return ok;
    });
    expectAll(result);
    this.seconds += result.seconds;
  }

  /** Requests per second over the chunks' own time. */
  get rate(): number {
    return this.latencies.length / this.seconds;
  }

  /** Median latency in ms. */
  get p50(): number {
    return percentile(this.latencies, 50);
  }

  /** 95th percentile latency in ms. */
  get p95(): number {
    return percentile(this.latencies, 95);
  }
}
