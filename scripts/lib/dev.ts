// The dev stack's database and the environment its functions run with.
import { parseEnv } from "node:util";
import postgres from "postgres";
import { type Cluster, devCluster } from "./cluster.ts";
import { localFunctionsEnv } from "./keys.ts";
import { refuseChangedMigrations } from "./migrations.ts";
import { ensureDebianPackages } from "./packages.ts";
import { reserveStackPorts, stackPorts } from "./ports.ts";
import { projectRoot } from "./run.ts";
import {
  applyPlatform,
  applySeed,
  pushMigrations,
  setLocalAuthenticatorPassword,
} from "./schema.ts";

export const functionsPort = stackPorts.functions;

export interface DevDatabase {
  cluster: Cluster;
  /** Whether the cluster was already running before we looked. */
  wasRunning: boolean;
  /** Whether it was created (and seeded) just now. */
  created: boolean;
}

/**
 * Starts the dev database, creating and seeding it on first use; on later runs applies only the
 * migrations added since, keeping the data.
 */
export async function prepareDevDatabase(): Promise<DevDatabase> {
  await ensureDebianPackages();
  await reserveStackPorts();
  const cluster = await devCluster();
  const created = !(await cluster.exists());
  if (created) await cluster.init();
  const wasRunning = await cluster.isRunning();
  await cluster.start();
  // A kept database never re-runs an applied migration: refuse when one has changed since.
  if (!created) await refuseChangedMigrations(cluster, !wasRunning);
  // The platform shim grants every API role everything in public, as a new Supabase project
  // does; the migrations then take back what the desk may not write. Applied again to a kept
  // database it would give it all back, so it runs once, when the database is created.
  if (!created) await refuseWidenedDatabase(cluster.url());
  try {
    if (created) await applyPlatform(cluster.url());
    await pushMigrations(cluster.url());
    await setLocalAuthenticatorPassword(cluster.url());
    if (created) await applySeed(cluster.url());
  } catch (error) {
    // A half-built database would be kept forever; start from scratch next time instead.
    if (created) await cluster.remove();
    throw error;
  }
  return { cluster, wasRunning, created };
}

/**
 * Refuses a kept dev database whose API roles hold the write rights the migrations revoke: older
 * versions of `npm start` re-applied the platform shim on every start, which granted them back.
 */
async function refuseWidenedDatabase(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`
      select to_regclass('public.audit_log') is not null
             and has_table_privilege('anon', 'public.audit_log', 'TRUNCATE') as widened`;
    if (row.widened) {
      throw new Error(
        "The dev database's API roles hold write rights the migrations revoke (an older " +
          "`npm start` re-applied the platform shim). Rebuild it: npm run db -- reset",
      );
    }
  } finally {
    await sql.end();
  }
}

/** The environment the functions get locally: .env first, then the local stack's values. */
export async function functionsEnv(cluster: Cluster): Promise<Record<string, string>> {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseEnv(await Deno.readTextFile(`${projectRoot}/.env`)) as Record<string, string>;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return { ...await localFunctionsEnv(cluster.url(), functionsPort), ...fromFile };
}
