import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { bearerToken, verifyToken } from "../../_shared/auth.ts";
import { config } from "../../_shared/config.ts";
import { asCaller, type Claims } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { log } from "../../_shared/log.ts";
import packageJson from "../../../package.json" with { type: "json" };
import type { getHealth } from "./routes.ts";

/** Whether the caller may read the detail: the service_role key, or an active admin's token. */
async function mayReadDetail(claims: Claims | undefined): Promise<boolean> {
  if (claims?.role === "service_role") return true;
  if (claims?.role !== "authenticated") return false;
  const [profile] = await asCaller(claims, (tx) =>
    tx`select p.role = 'admin' and p.active as admin
         from public.profiles p where p.id = (select auth.uid())`);
  return profile?.admin === true;
}

/**
 * GET /api/health: `{status: "ok"}` when the database answers a query run as `anon`, else a 503
 * problem. A token, when sent, must be valid (401 otherwise); an admin's token or the
 * service_role key also gets the database latency (ms) and version, the API's versions and each
 * vendor's status. Anonymous callers learn nothing about versions or credentials.
 */
export const health: RouteHandler<typeof getHealth, AppEnv> = async (c) => {
  const token = bearerToken(c.req.header("authorization"));
  const claims = token ? await verifyToken(token) : undefined;
  const started = performance.now();
  let serverVersion: string;
  try {
    const [row] = await asCaller(
      { role: "anon" },
      (tx) => tx`select current_setting('server_version') as version`,
    );
    serverVersion = row.version;
  } catch (error) {
    log("error", "health: database not available", { request_id: c.get("requestId"), error });
    throw new ProblemError(503, "Service Unavailable", "The database is not available.");
  }
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  if (!(await mayReadDetail(claims))) return c.json({ status: "ok" as const }, 200);

  const vendors = Object.fromEntries(
    Object.entries(config().vendors).map(([name, status]) => [
      name,
      status.enabled ? "enabled" : status.reason,
    ]),
  );
  return c.json({
    status: "ok" as const,
    database: { reachable: true as const, latency_ms: latencyMs, server_version: serverVersion },
    versions: { api: packageJson.version, deno: Deno.version.deno },
    vendors,
  }, 200);
};
