// Timing for the benchmarks: variants run interleaved, round after round, so a slow minute on a
// shared machine falls on every variant alike; warm-up rounds are dropped; a variant that is very
// slow stops early with fewer samples (said in the output) rather than holding the run for hours.
// A run cancelled by the role's statement_timeout (8 s for `authenticated`, as on Supabase) is
// what the desk would get, an error: it is counted, timed as long as it ran, and said.

/** A named query to time: resolves to the rows it read (only their number matters here). */
export type Variant = () => Promise<readonly unknown[]>;

/** p50 and p95 of one variant in milliseconds, how many timed runs, how many timed out. */
export interface Stats {
  p50: number;
  p95: number;
  runs: number;
  timeouts: number;
}

/** How long and how often to run each variant. */
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

/** True for Postgres' "canceling statement due to statement timeout" (SQLSTATE 57014). */
function timedOut(error: unknown): boolean {
  return (error as { code?: string })?.code === "57014";
}

/** Runs `variant` once: its milliseconds, and whether the statement timeout cancelled it. */
async function runOnce(variant: Variant): Promise<{ elapsed: number; cancelled: boolean }> {
  const started = performance.now();
  try {
    await variant();
    return { elapsed: performance.now() - started, cancelled: false };
  } catch (error) {
    if (!timedOut(error)) throw error;
    return { elapsed: performance.now() - started, cancelled: true };
  }
}

/** Runs every variant round after round and returns its p50/p95 in milliseconds. */
export async function sample(
  variants: Record<string, Variant>,
  { iterations, warmup = 20, budgetMs = 60_000, minimum = 5 }: SampleOptions,
): Promise<Record<string, Stats>> {
  const names = Object.keys(variants);
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  const spent = Object.fromEntries(names.map((name) => [name, 0]));
  const timeouts = Object.fromEntries(names.map((name) => [name, 0]));
  for (let round = 0; round < warmup + iterations; round++) {
    for (const name of names) {
      const timed = round >= warmup;
      // A slow variant warms up once and then samples only until its budget is spent.
      if (!timed && round > 0 && spent[name] > budgetMs / 10) continue;
      if (timed && spent[name] > budgetMs && samples[name].length >= minimum) continue;
      const { elapsed, cancelled } = await runOnce(variants[name]);
      spent[name] += elapsed;
      if (timed) {
        samples[name].push(elapsed);
        if (cancelled) timeouts[name]++;
      }
    }
  }
  return Object.fromEntries(names.map((name) => [name, {
    p50: percentile(samples[name], 50),
    p95: percentile(samples[name], 95),
    runs: samples[name].length,
    timeouts: timeouts[name],
  }]));
}

const ms = (value: number) => value.toFixed(2).padStart(8);

/** Prints one line per variant: p50, p95, runs cut short by the budget, runs timed out. */
export function printStats(stats: Record<string, Stats>, iterations: number): void {
  const width = Math.max(...Object.keys(stats).map((name) => name.length)) + 2;
  for (const [name, { p50, p95, runs, timeouts }] of Object.entries(stats)) {
    const notes = [
      ...(runs < iterations ? [`${runs} runs: over the time budget`] : []),
      ...(timeouts > 0 ? [`${timeouts} of them cancelled by the statement timeout`] : []),
    ];
    const note = notes.length > 0 ? `   (${notes.join("; ")})` : "";
    console.log(`${name.padEnd(width)} p50 ${ms(p50)} ms   p95 ${ms(p95)} ms${note}`);
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

/** The goal for pages under RLS, as for case pages: RLS / service_role and p95 at most these. */
export const goal = { ratio: 1.5, p95Ms: 20 };

/**
 * Prints `RLS / service_role` ratios at p50 and p95; for goal rows, "meets" or "MISSES". A ratio
 * over runs that timed out is a floor (">").
 */
export function printRatios(stats: Record<string, Stats>, comparisons: Comparison[]): void {
  const width = Math.max(...comparisons.map((c) => c.label.length)) + 2;
  const ratio = (value: number, floor: boolean) =>
    `${floor ? ">" : " "}${value.toFixed(2).padStart(7)}x`;
  for (const { label, rls, service, goal: judged } of comparisons) {
    const p50 = stats[rls].p50 / stats[service].p50;
    const p95 = stats[rls].p95 / stats[service].p95;
    const floor = stats[rls].timeouts > 0;
    const meets = !floor && p50 <= goal.ratio && p95 <= goal.ratio &&
      stats[rls].p95 <= goal.p95Ms;
    const verdict = !judged ? "" : meets ? "   meets the goal" : "   MISSES the goal";
    console.log(
      `RLS / service_role, ${label.padEnd(width)} p50 ${ratio(p50, floor)}  ` +
        `p95 ${ratio(p95, floor)}${verdict}`,
    );
  }
}

/**
 * Throws unless variants `a` and `b` return the same non-empty list of row ids: an RLS page and
 * its service_role twin must read the same rows, or their ratio means nothing. When the
 * statement timeout cancels either, nothing can be compared: that is said, not thrown.
 */
export async function sameRows(variants: Record<string, Variant>, a: string, b: string) {
  const ids = async (name: string) =>
    (await variants[name]()).map((row) => (row as { id: string }).id).join();
  let left: string, right: string;
  try {
    [left, right] = [await ids(a), await ids(b)];
  } catch (error) {
    if (!timedOut(error)) throw error;
    console.log(`(rows of "${a}" not compared: the statement timeout cancelled it)`);
    return;
  }
  if (left === "" || left !== right) {
    throw new Error(
      `"${a}" and "${b}" ${
        left === "" ? "read no rows" : "read different rows"
      }: ${left} | ${right}`,
    );
  }
}
