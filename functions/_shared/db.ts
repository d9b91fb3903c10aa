// The database from the edge functions: postgres.js on SUPABASE_DB_URL, with every request's
// queries run the way PostgREST runs them, so row-level security decides what a caller sees.
import postgres from "postgres";
import { config } from "./config.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

/** The roles a JWT may carry; anything else is refused before it reaches the database. */
export const apiRoles = ["anon", "authenticated", "service_role"] as const;
export type ApiRole = typeof apiRoles[number];

export interface Claims {
  role: ApiRole;
  sub?: string;
  email?: string;
  [claim: string]: unknown;
}

let pool: Sql | undefined;

/** The shared pool. `prepare: false` so it also works behind a transaction-mode pooler. */
export function db(): Sql {
  pool ??= postgres(config().SUPABASE_DB_URL, {
    prepare: false,
    max: config().DB_POOL_SIZE,
    idle_timeout: 20,
    connect_timeout: 10,
    connection: { application_name: "py360-functions" },
    onnotice: () => {},
  });
  return pool;
}

export async function closeDb(): Promise<void> {
  await pool?.end({ timeout: 5 });
  pool = undefined;
}

/**
 * Runs `work` in one transaction as the caller: `role` switched to the JWT's role and the claims
 * in `request.jwt.claims`, exactly as PostgREST does, so auth.uid() and RLS apply.
 */
export async function asCaller<T>(claims: Claims, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (!apiRoles.includes(claims.role)) throw new Error(`refusing database role ${claims.role}`);
  return await db().begin(async (tx) => {
    await tx`select set_config('role', ${claims.role}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return await work(tx);
  }) as T;
}

/** Trusted paths (jobs, webhooks after their signature check): service_role, bypassing RLS. */
export function asService<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
  return asCaller({ role: "service_role" }, work);
}
