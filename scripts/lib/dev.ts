// The dev stack's database and the environment its functions run with.
import { parseEnv } from "node:util";
import { type Cluster, devCluster } from "./cluster.ts";
import { localApiKeyIssuer, localApiKeys, localAuthenticatorUrl, localJwtSecret } from "./keys.ts";
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
  try {
    await applyPlatform(cluster.url());
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

/** The environment the functions get locally: .env first, then the local stack's values. */
export async function functionsEnv(cluster: Cluster): Promise<Record<string, string>> {
  const keys = await localApiKeys();
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseEnv(await Deno.readTextFile(`${projectRoot}/.env`)) as Record<string, string>;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return {
    SUPABASE_URL: `http://127.0.0.1:${functionsPort}`,
    // As on Supabase: the platform's superuser URL is there, and the functions never read it;
    // they log in as api_authenticator, which has no rights of its own.
    SUPABASE_DB_URL: cluster.url(),
    FUNCTIONS_DB_URL: localAuthenticatorUrl(cluster.url()),
    SUPABASE_JWT_SECRET: localJwtSecret,
    API_KEY_ISSUER: localApiKeyIssuer,
    SUPABASE_ANON_KEY: keys.anon,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRole,
    ...fromFile,
  };
}
