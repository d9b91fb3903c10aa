// Child processes of the local stack and the benchmarks (the functions gateway, the outbox's
// workers, dispatchers, graphile-worker): each its own Deno process, so none shares the caller's
// event loop. Their output is read line by line as it comes (a pipe left unread would stall the
// child) and kept, the last lines shown when one fails; every child still running is killed when
// the run ends.
import { projectRoot } from "./run.ts";

/** A running child. */
export interface Child {
  /** What it is, for messages (`dispatcher 3`, `sandbox`). */
  name: string;
  process: Deno.ChildProcess;
  /** Resolves to the first output line (stdout or stderr) matching `pattern`, seen or to come;
   * rejects if the child exits first or `timeoutMs` passes. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The last lines it printed (at most 40), for an error message. */
  tail(): string;
  /** Calls `listener` with each line it prints from now on (stdout and stderr alike). */
  onLine(listener: (line: string) => void): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Child>();

/**
 * Starts `deno run -A <script> ...args` from the project root with the caller's environment plus
 * `env`. `script` is a path from the project root (`scripts/worker.ts`).
 */
export function spawnDeno(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${projectRoot}/${script}`, ...args],
    cwd: projectRoot,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const listeners: ((line: string) => void)[] = [];
  const take = (line: string) => {
    for (const listener of listeners) listener(line);
    lines.push(line);
    if (lines.length > 40) lines.shift();
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  const seen: string[] = [];
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        seen.push(line);
        if (seen.length > 200) seen.shift();
        take(line);
      }
    }
    if (rest) take(rest);
  };
  const reading = Promise.all([read(process.stdout), read(process.stderr)]);
  const exited = process.status.then(async (status) => {
    await reading.catch(() => {});
    running.delete(child);
    return status;
  });

  const child: Child = {
    name,
    process,
    waitFor(pattern, timeoutMs = 30_000) {
      const already = seen.find((line) => pattern.test(line));
      if (already !== undefined) return Promise.resolve(already);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name} printed no line matching ${pattern}:\n${child.tail()}`));
        }, timeoutMs);
        const done = (line: string) => {
          clearTimeout(timer);
          resolve(line);
        };
        waiters.push({ pattern, resolve: done });
        exited.then((status) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${status.code}) before ${pattern}:\n${child.tail()}`));
        });
      });
    },
    tail: () => lines.join("\n"),
    onLine: (listener) => void listeners.push(listener),
    async stop(graceMs = 5_000) {
      try {
        process.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          process.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(child);
  return child;
}

/** Stops every child still running (the end of a run, or a failure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

/** Kills every child still running at once, without waiting (a signal handler's last act). */
export function killAll(): void {
  for (const child of running) {
    try {
      child.process.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}
