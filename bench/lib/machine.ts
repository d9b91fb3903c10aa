// The machine a benchmark ran on, so its figures can be read against it: cores, CPU, memory,
// Postgres and Deno versions, and the load average (on a shared machine, the figure that says
// how much of it was ours).
import type postgres from "postgres";

/** The 1, 5 and 15 minute load averages, two decimals each (`1.23 0.98 0.75`). */
export function loadAverage(): string {
  return Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
}

/** Prints one line describing the machine and the throwaway cluster, with the load average. */
export async function printMachine(sql: postgres.Sql): Promise<void> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.+)/)?.[1];
  const [{ version, buffers }] = await sql`
    select current_setting('server_version') as version, current_setting('shared_buffers') as buffers`;
  const memory = (Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0);
  console.log(
    `Machine: ${navigator.hardwareConcurrency} cores (${cpu ?? "unknown CPU"}), ${memory} GiB; ` +
      `Postgres ${version} (throwaway cluster, fsync off, shared_buffers ${buffers}); ` +
      `Deno ${Deno.version.deno}; load average at start ${loadAverage()}`,
  );
}
