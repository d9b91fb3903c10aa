// A project-local Postgres 15 cluster with pg_cron, run by the `postgres` OS user when we are
// root. The dev cluster keeps its data between runs; tests make a throwaway one of their own.
import { createHash } from "node:crypto";
import { freePort, portIsTaken, stackPorts } from "./ports.ts";
import { isRoot, projectRoot, run, tryRun } from "./run.ts";

const bindir = Deno.env.get("PG_BINDIR") ?? "/usr/lib/postgresql/15/bin";
export const superuserPassword = "postgres";

export class Cluster {
  constructor(
    readonly dataDir: string,
    readonly port: number,
    /** Trade durability for speed: for throwaway test clusters only. */
    readonly ephemeral = false,
    /** More postgresql.conf lines (`shared_buffers = 1GB`), written by `init` after ours. */
    readonly settings: readonly string[] = [],
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
      ...this.settings,
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
    if (await portIsTaken(this.port)) {
      throw new Error(`Port ${this.port} is taken by another program; stop it and try again.`);
    }
    // A closing client connection can hold the port for up to a minute: wait it out.
    for (let attempt = 1;; attempt++) {
      const { code, stdout, stderr } = await tryRun(`${bindir}/pg_ctl`, [
        "start",
        "--wait",
        "--silent",
        "-D",
        this.dataDir,
        "-l",
        `${this.dataDir}/server.log`,
        // pg_cron's runner connects over TCP by default, where our clusters ask for a password
        // it does not have: every job failed. Through the socket, local trust lets it in.
        "-o",
        `-c cron.host=${this.dataDir}`,
      ], { asPostgres: true });
      if (code === 0) return;
      const log = await Deno.readTextFile(`${this.dataDir}/server.log`).catch(() => "");
      if (
        attempt > 30 ||
        !log.trimEnd().split("\n").slice(-5).join("\n").includes("Address already in use")
      ) {
        throw new Error(
          `Postgres did not start:\n${stdout}${stderr}${log.split("\n").slice(-10).join("\n")}`,
        );
      }
      if (attempt === 1) {
        console.log(`Port ${this.port} is still held by a closing connection; waiting ...`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
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
  return new Cluster(`${root}/db`, stackPorts.database);
}

/**
 * A fresh cluster in a temporary folder on a free port, for one test run; `settings` are more
 * postgresql.conf lines (a benchmark's memory).
 */
export async function throwawayCluster(settings: readonly string[] = []): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "py360-test-" });
  await Deno.chmod(dir, 0o755);
  return new Cluster(`${dir}/db`, freePort(), true, settings);
}
