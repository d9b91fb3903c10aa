// The CPU time a local cluster has used, read from /proc: on a shared machine, waiting for a
// core inflates a statement's wall clock but not its CPU time.

/** Fields 14-17 of /proc/<pid>/stat (utime, stime, cutime, cstime) and field 4 (ppid), in ticks. */
async function procTimes(pid: number): Promise<{ ppid: number; own: number; children: number }> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    ppid: Number(fields[1]),
    own: Number(fields[11]) + Number(fields[12]),
    children: Number(fields[13]) + Number(fields[14]),
  };
}

/**
 * CPU seconds used so far by a local cluster as a whole: its postmaster, every live process it
 * started (backends, parallel workers, autovacuum, ...) and those that have exited (reaped by the
 * postmaster, so counted in its children's time). The difference over a statement includes its
 * parallel workers, which a backend's own time does not. NaN when /proc cannot be read.
 */
export async function clusterCpuSeconds(dataDir: string): Promise<number> {
  try {
    const postmaster = Number(
      (await Deno.readTextFile(`${dataDir}/postmaster.pid`)).split("\n")[0],
    );
    const root = await procTimes(postmaster);
    let ticks = root.own + root.children;
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const times = await procTimes(Number(entry.name)).catch(() => undefined);
      if (times?.ppid === postmaster) ticks += times.own;
    }
    return ticks / 100;
  } catch {
    return NaN;
  }
}
