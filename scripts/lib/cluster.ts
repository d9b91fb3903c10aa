// A project-local Postgres 15 cluster with pg_cron, run by the `postgres` OS user when we are
// root. The dev cluster keeps its data between runs; tests make a throwaway one of their own.
import { createHash } from "node:crypto";
import { isRoot, projectRoot, run, tryRun } from "./run.ts";

const bindir = Deno.env.get("PG_BINDIR") ?? "/usr/lib/postgresql/15/bin";
export const superuserPassword = "postgres";

export class Cluster {
  constructor(
    readonly dataDir: string,
    readonly port: number,
    /** Trade durability for speed: for throwaway test clusters only. */
    readonly ephemeral = false,
  ) {}

  url(database = "postgres"): string {
    return `postgresql://postgres:${superuserPassword}@127.0.0.1:${this.port}/${database}`;
  }

  async exists(): Promise<boolean> {
    try {
      await Deno.stat(`${this.dataDir}/PG_VERSION`);
      return true;
    } catch {
      return false;
    }
  }

  async init(): Promise<void> {
    await Deno.mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await Deno.chmod(this.dataDir, 0o700);
    const pwfile = `${this.dataDir}.pw`;
    await Deno.writeTextFile(pwfile, superuserPassword);
    if (isRoot) await run("chown", ["postgres:postgres", this.dataDir, pwfile]);
    try {
      await run(`${bindir}/initdb`, [
        "--pgdata",
        this.dataDir,
        "--username=postgres",
        `--pwfile=${pwfile}`,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
      ], { asPostgres: true });
    } finally {
      await Deno.remove(pwfile);
    }
    const settings = [
      `port = ${this.port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${this.dataDir}'`,
      `shared_preload_libraries = 'pg_cron'`,
      `cron.database_name = 'postgres'`,
      `timezone = 'UTC'`,
      `log_min_messages = warning`,
      ...(this.ephemeral
        ? ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        : []),
    ];
    await Deno.writeTextFile(
      `${this.dataDir}/postgresql.conf`,
      `\n# py360-renewal\n${settings.join("\n")}\n`,
      { append: true },
    );
  }

  async isRunning(): Promise<boolean> {
    const { code } = await tryRun(`${bindir}/pg_ctl`, ["status", "-D", this.dataDir], {
      asPostgres: true,
    });
    return code === 0;
  }

  async start(): Promise<void> {
    if (await this.isRunning()) return;
    if (!portIsFree(this.port)) {
      throw new Error(`Port ${this.port} is taken by another program; stop it and try again.`);
    }
    await run(`${bindir}/pg_ctl`, [
      "start",
      "--wait",
      "--silent",
      "-D",
      this.dataDir,
      "-l",
      `${this.dataDir}/server.log`,
    ], { asPostgres: true });
  }

  async stop(): Promise<void> {
    if (!(await this.isRunning())) return;
    await run(
      `${bindir}/pg_ctl`,
      ["stop", "--wait", "--silent", "-m", "fast", "-D", this.dataDir],
      {
        asPostgres: true,
      },
    );
  }

  /** Stops the cluster and deletes its folder (a throwaway cluster's whole temporary folder). */
  async remove(): Promise<void> {
    await this.stop();
    const folder = this.ephemeral ? this.dataDir.replace(/\/[^/]+$/, "") : this.dataDir;
    await Deno.remove(folder, { recursive: true }).catch(() => {});
  }
}

export function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Where the `postgres` OS user can keep data: inside the checkout when it can reach it, else a
 * folder under /var/tmp named after the checkout (a CI clone may sit where only root can enter).
 */
async function dataRoot(): Promise<string> {
  const local = `${projectRoot}/.local`;
  if (!isRoot) return local;
  const probe = await tryRun("test", ["-r", `${projectRoot}/package.json`], { asPostgres: true });
  if (probe.code === 0) return local;
  const digest = createHash("sha256").update(projectRoot).digest("hex").slice(0, 12);
  return `/var/tmp/py360-renewal-${digest}`;
}

/** The dev stack's cluster, the one `npm start` serves on port 54322. */
export async function devCluster(): Promise<Cluster> {
  const root = await dataRoot();
  await Deno.mkdir(root, { recursive: true });
  return new Cluster(`${root}/db`, 54322);
}

/** A fresh cluster in a temporary folder on a free port, for one test run. */
export async function throwawayCluster(): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "py360-test-" });
  await Deno.chmod(dir, 0o755);
  return new Cluster(`${dir}/db`, freePort(), true);
}
