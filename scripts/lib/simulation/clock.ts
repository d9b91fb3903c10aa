// The simulated month's calendar: IST business dates (YYYY-MM-DD) and the moment of each
// simulated day at which pg_cron's jobs are played (its `as_of`).

/** IST is UTC+05:30 all year (no daylight saving). */
const istOffsetMs = 330 * 60 * 1000;

/** The IST calendar date of `at` (default now), as YYYY-MM-DD. */
export function istDate(at: Date = new Date()): string {
  return new Date(at.getTime() + istOffsetMs).toISOString().slice(0, 10);
}

/** `date` (YYYY-MM-DD) moved by `days` (negative: earlier). */
export function addDays(date: string, days: number): string {
  const moved = new Date(`${date}T00:00:00Z`);
  moved.setUTCDate(moved.getUTCDate() + days);
  return moved.toISOString().slice(0, 10);
}

/** Whole days from `from` to `to` (both YYYY-MM-DD): positive when `to` is later. */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/** The instant at IST wall-clock time `hhmm` (e.g. "11:00") on IST date `date`. */
export function istAt(date: string, hhmm: string): Date {
  return new Date(Date.parse(`${date}T${hhmm}:00Z`) - istOffsetMs);
}
