// Timing for the benchmarks: variants run interleaved, round after round, so a slow minute on a
// shared machine falls on every variant alike; warm-up rounds are dropped; a variant that is very
// slow stops early with fewer samples (said in the output) rather than holding the run for hours.

/** A named query to time: resolves to the rows it read (only their number matters here). */
export type Variant = () => Promise<readonly unknown[]>;

/** p50 and p95 of one variant in milliseconds, and how many timed runs they come from. */
export interface Stats {
  p50: number;
  p95: number;
  runs: number;
}

export interface SampleOptions {
  /** Timed runs per variant (after the warm-up). */
  iterations: number;
  /** Untimed rounds first, so caches and plans are warm. */
  warmup?: number;
  /** Milliseconds a variant may spend in all; past it, it stops once it has `minimum` runs. */
  budgetMs?: number;
  minimum?: number;
}

/** The value at percentile `p` (0-100) of `values`, nearest rank; NaN for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs every variant round after round and returns its p50/p95 in milliseconds. */
export async function sample(
  variants: Record<string, Variant>,
  { iterations, warmup = 20, budgetMs = 60_000, minimum = 5 }: SampleOptions,
): Promise<Record<string, Stats>> {
  const names = Object.keys(variants);
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  const spent = Object.fromEntries(names.map((name) => [name, 0]));
  for (let round = 0; round < warmup + iterations; round++) {
    for (const name of names) {
      const timed = round >= warmup;
      // A slow variant warms up once and then samples only until its budget is spent.
      if (!timed && round > 0 && spent[name] > budgetMs / 10) continue;
      if (timed && spent[name] > budgetMs && samples[name].length >= minimum) continue;
      const started = performance.now();
      await variants[name]();
      const elapsed = performance.now() - started;
      spent[name] += elapsed;
      if (timed) samples[name].push(elapsed);
    }
  }
  return Object.fromEntries(names.map((name) => [name, {
    p50: percentile(samples[name], 50),
    p95: percentile(samples[name], 95),
    runs: samples[name].length,
  }]));
}

const ms = (value: number) => value.toFixed(2).padStart(8);

/** Prints one line per variant: p50, p95, and the number of runs when the budget cut it short. */
export function printStats(stats: Record<string, Stats>, iterations: number): void {
  const width = Math.max(...Object.keys(stats).map((name) => name.length)) + 2;
  for (const [name, { p50, p95, runs }] of Object.entries(stats)) {
    const cut = runs < iterations ? `   (${runs} runs: over the time budget)` : "";
    console.log(`${name.padEnd(width)} p50 ${ms(p50)} ms   p95 ${ms(p95)} ms${cut}`);
  }
}

/** One comparison: a variant under RLS against its service_role twin, with the goal if any. */
export interface Comparison {
  label: string;
  rls: string;
  service: string;
  /** Judge against the goal (ratio <= 1.5 at p50 and p95, p95 <= 20 ms) and say so. */
  goal?: boolean;
}

export const goal = { ratio: 1.5, p95Ms: 20 };

/** Prints `RLS / service_role` ratios at p50 and p95; for goal rows, "meets" or "misses". */
export function printRatios(stats: Record<string, Stats>, comparisons: Comparison[]): void {
  const width = Math.max(...comparisons.map((c) => c.label.length)) + 2;
  for (const { label, rls, service, goal: judged } of comparisons) {
    const p50 = stats[rls].p50 / stats[service].p50;
    const p95 = stats[rls].p95 / stats[service].p95;
    const verdict = !judged ? "" : p50 <= goal.ratio && p95 <= goal.ratio &&
        stats[rls].p95 <= goal.p95Ms
      ? "   meets the goal"
      : "   MISSES the goal";
    console.log(
      `RLS / service_role, ${label.padEnd(width)} p50 ${p50.toFixed(2).padStart(7)}x  ` +
        `p95 ${p95.toFixed(2).padStart(7)}x${verdict}`,
    );
  }
}

/**
 * Throws unless variants `a` and `b` return the same non-empty list of row ids: an RLS page and
 * its service_role twin must read the same rows, or their ratio means nothing.
 */
export async function sameRows(variants: Record<string, Variant>, a: string, b: string) {
  const ids = async (name: string) =>
    (await variants[name]()).map((row) => (row as { id: string }).id).join();
  const [left, right] = [await ids(a), await ids(b)];
  if (left === "" || left !== right) {
    throw new Error(
      `"${a}" and "${b}" ${
        left === "" ? "read no rows" : "read different rows"
      }: ${left} | ${right}`,
    );
  }
}
