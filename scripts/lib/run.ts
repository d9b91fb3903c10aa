// Runs external programs (apt-get, initdb, pg_ctl, psql, the Supabase CLI) and fails loudly.

export const projectRoot = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export const isRoot = Deno.uid() === 0;

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Print the program's output as it runs instead of capturing it. */
  inherit?: boolean;
  /** Run as the `postgres` OS user when we are root (initdb and postgres refuse root). */
  asPostgres?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program and returns its exit code and output, whatever the code. */
export async function tryRun(
  program: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const [cmd, argv] = options.asPostgres && isRoot
    ? ["runuser", ["-u", "postgres", "--", program, ...args]]
    : [program, args];
  const io = options.inherit ? "inherit" : "piped";
  const output = await new Deno.Command(cmd, {
    args: argv,
    cwd: options.cwd ?? projectRoot,
    env: options.env,
    stdin: "null",
    stdout: io,
    stderr: io,
  }).output();
  const decode = (bytes: Uint8Array) => options.inherit ? "" : new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** Runs a program and throws, with its output, when it exits non-zero. */
export async function run(
  program: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await tryRun(program, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")} exited with ${result.code}\n${result.stdout}${result.stderr}`,
    );
  }
  return result.stdout;
}
