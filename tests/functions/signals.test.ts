// `npm test` and `npm run bench` remove their throwaway clusters when stopped by SIGTERM or SIGINT,
// not only at a normal end: the server is stopped and its temporary folder deleted. Also through
// npm itself, which passes a SIGTERM to its script's shell only (package.json's scripts `exec`
// deno so that the signal reaches it).
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { projectRoot, tryRun } from "../../scripts/lib/run.ts";

/** Whether a process with this id is alive (a zombie, dead but not yet reaped, is not). */
async function alive(pid: number): Promise<boolean> {
  const { code, stdout } = await tryRun("ps", ["-o", "stat=", "-p", String(pid)]);
  return code === 0 && !stdout.trim().startsWith("Z");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `script`, waits until its throwaway Postgres is up (the folder it prints, then the
 * server's pid file), sends `signal`, and returns the exit code, the folder and the server's pid.
 */
async function interrupt(script: string[], printed: RegExp, signal: "SIGTERM" | "SIGINT") {
  // `npm ...` runs through npm (whose shell must exec deno, or the signal stops at the shell);
  // anything else is a deno script.
  const [program, args] = script[0] === "npm"
    ? ["npm", script.slice(1)]
    : [Deno.execPath(), ["run", "-A", ...script]];
  const child = new Deno.Command(program, {
    args,
    cwd: projectRoot,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) output += text;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const deadline = Date.now() + 120_000;
  let dataDir: string | undefined;
  let serverPid = 0;
  try {
    while (Date.now() < deadline) {
      dataDir ??= output.match(printed)?.[1];
      if (dataDir) {
        const pidFile = await Deno.readTextFile(`${dataDir}/postmaster.pid`).catch(() => "");
        serverPid = Number(pidFile.split("\n")[0]);
        if (serverPid > 0 && pidFile.split("\n").length > 7) break; // written once it is up
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(dataDir && serverPid > 0, `no running cluster within two minutes:\n${output}`);
    assert.ok(await alive(serverPid), "the server is running before the signal");
    child.kill(signal);
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await drained;
    throw error;
  }
  const { code } = await child.status;
  await drained;
  return { code, dataDir: dataDir!, serverPid, output };
}

for (
  const [name, script, printed, signal, expected] of [
    [
      "npm test",
      ["scripts/test.ts", "tests/database/00_platform.test.sql"],
      /throwaway database on port \d+ in (\S+)/,
      "SIGTERM",
      143,
    ],
    [
      "npm test",
      ["scripts/test.ts", "tests/database/00_platform.test.sql"],
      /throwaway database on port \d+ in (\S+)/,
      "SIGINT",
      130,
    ],
    [
      "npm test, through npm itself",
      // A long file: a run that ignored the signal would still be going when npm has exited.
      ["npm", "test", "--", "tests/database/20_domain_rls.test.sql"],
      /throwaway database on port \d+ in (\S+)/,
      "SIGTERM",
      143,
    ],
    [
      "npm run bench",
      ["bench/renewals.ts", "--policies", "2000", "--iterations", "5"],
      /throwaway cluster in (\S+)/,
      "SIGTERM",
      143,
    ],
  ] as const
) {
  Deno.test(`signals: ${name} removes its throwaway cluster on ${signal}`, async () => {
    const { code, dataDir, serverPid, output } = await interrupt([...script], printed, signal);
    assert.equal(code, expected, output);
    assert.equal(await alive(serverPid), false, "the server is stopped");
    assert.equal(await exists(dirname(dataDir)), false, `${dirname(dataDir)} is deleted`);
    // Stopped, not finished: a run the signal never reached would end with its tally.
    assert.doesNotMatch(output, /^\d+ passed, \d+ failed$/m, "the run stopped at the signal");
  });
}
