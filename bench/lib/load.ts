// Throughput for the benchmarks: a fixed number of requests sent by a fixed number of loops
// (each waits for its answer before the next), timed as a whole and one by one; and the time a
// queue takes to empty, watched from the database. Rates are per second of wall clock.
import type postgres from "postgres";
import { percentile } from "./measure.ts";

/** What a load run did: how many, how long (seconds), the rate, per-request latency in ms. */
export interface LoadResult {
  count: number;
  seconds: number;
  /** count / seconds. */
  rate: number;
  p50: number;
  p95: number;
  /** Requests `send` reported as failed (returned false or threw). */
  failures: number;
  /** The first failure's message, if any. */
  firstFailure?: string;
}

/**
 * Sends requests 0..count-1 through `send` from `concurrency` loops at once and times them.
 * `send` resolves true for a success; false or a throw counts as a failure (kept going).
 */
export async function runLoad(
  count: number,
  concurrency: number,
  send: (index: number) => Promise<boolean>,
): Promise<LoadResult> {
  const latencies: number[] = new Array(count);
  let next = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  const loops = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++;
      const sentAt = performance.now();
      let ok: boolean;
      try {
        ok = await send(index);
        if (!ok) firstFailure ??= `request ${index} failed`;
      } catch (error) {
        ok = false;
        firstFailure ??= (error as Error).message;
      }
      latencies[index] = performance.now() - sentAt;
      if (!ok) failures++;
    }
  });
  await Promise.all(loops);
  const seconds = (performance.now() - started) / 1000;
  return {
    count,
    seconds,
    rate: count / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    failures,
    firstFailure,
  };
}

/**
 * Runs `start` (which puts work in a queue and resolves once it is committed), then polls
 * `pending` every `pollMs` until it reports nothing left. Returns the seconds from `start`
 * resolving to the first poll that found the queue empty (so up to `pollMs` late) and what
 * `start` resolved to. Throws after `timeoutMs` with the last count.
 */
export async function timeDrain<T>(
  sql: postgres.Sql,
  start: () => Promise<T>,
  pending: (sql: postgres.Sql) => Promise<number>,
  { pollMs = 20, timeoutMs = 600_000 } = {},
): Promise<{ seconds: number; started: T }> {
  const started = await start();
  const from = performance.now();
  for (;;) {
    const left = await pending(sql);
    if (left === 0) return { seconds: (performance.now() - from) / 1000, started };
    if (performance.now() - from > timeoutMs) {
      throw new Error(`the queue still held ${left} after ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** A rate for a table: thousands separated, no decimals (`12,345/s`). */
export function perSecond(rate: number): string {
  return `${Math.round(rate).toLocaleString("en-US")}/s`;
}

/** A ratio for a table: two decimals and an `x` (`0.87x`). */
export function times(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}
