// Builds a database: the local platform shim, then our migrations through the real Supabase
// CLI, then seed data.
import { localAuthenticator } from "./keys.ts";
import { projectRoot, run } from "./run.ts";

const supabaseCli = `${projectRoot}/node_modules/.bin/supabase`;

/** Runs SQL files in order with psql, stopping at the first error. */
export async function applySqlFiles(url: string, files: string[]): Promise<void> {
  for (const file of files) {
    await run("psql", [url, "--quiet", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-f", file], {
      env: { PGOPTIONS: "--client-min-messages=warning" },
    });
  }
}

/** Files of a project folder ending in `suffix`, in name order, as paths from the project root. */
export async function projectFiles(folder: string, suffix: string): Promise<string[]> {
  const files = [];
  for await (const entry of Deno.readDir(`${projectRoot}/${folder}`)) {
    if (entry.isFile && entry.name.endsWith(suffix)) files.push(`${folder}/${entry.name}`);
  }
  return files.sort();
}

/** What Supabase provides and vanilla Postgres lacks (roles, auth, storage). Idempotent. */
export async function applyPlatform(url: string): Promise<void> {
  await applySqlFiles(url, await projectFiles("supabase/platform", ".sql"));
}

/** Applies pending migrations with `supabase db push`, exactly as against a hosted project. */
export async function pushMigrations(url: string): Promise<void> {
  await run(supabaseCli, ["db", "push", "--db-url", `${url}?sslmode=disable`, "--yes"]);
}

/**
 * Gives the functions' login role (migration 20261129006000, which holds no secret) its fixed
 * local password, so the local functions can log in as it. Local clusters only: on a hosted
 * project the operator sets a real one. Run after pushMigrations; idempotent.
 */
export async function setLocalAuthenticatorPassword(url: string): Promise<void> {
  const { role, password } = localAuthenticator;
  await run("psql", [
    url,
    "--quiet",
    "-v",
    "ON_ERROR_STOP=1",
    "--no-psqlrc",
    "-c",
    `alter role ${role} with password '${password}'`,
  ]);
}

/**
 * Points every pg_cron job's connection at `port`. pg_cron 1.4 runs a job through a libpq
 * connection to its nodename:nodeport, so a closed port idles the scheduler while the jobs stay
 * registered and active, as the migrations left them; the cluster's own port restores it.
 * Throwaway test clusters only: pgTAP calls each job's function itself with `as_of`, and a
 * scheduled run in the middle of the files (the due reports at :05, the cadence at 00:45) would
 * commit outbox rows that files counting the outbox then see.
 */
export async function pointScheduler(url: string, port: number): Promise<void> {
  await run("psql", [
    url,
    "--quiet",
    "-v",
    "ON_ERROR_STOP=1",
    "--no-psqlrc",
    "-c",
    `update cron.job set nodeport = ${port}`,
  ]);
}

/** The demo data: seed/*.sql in order (the same files `supabase db reset` would load). */
export async function applySeed(url: string): Promise<void> {
  await applySqlFiles(url, await projectFiles("seed", ".sql"));
}

/** The pgTAP extension and our `tests.*` helpers; only ever in throwaway test databases. */
export async function applyTestHelpers(url: string): Promise<void> {
  await applySqlFiles(url, await projectFiles("tests/database/helpers", ".sql"));
}

/** `supabase db lint` (plpgsql_check) at error level; returns its report. */
export async function lintDatabase(url: string): Promise<string> {
  return await run(supabaseCli, [
    "db",
    "lint",
    "--db-url",
    `${url}?sslmode=disable`,
    "--level",
    "error",
    "--fail-on",
    "error",
  ]);
}
