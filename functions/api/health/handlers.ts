import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { config } from "../../_shared/config.ts";
import { db } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { log } from "../../_shared/log.ts";
import packageJson from "../../../package.json" with { type: "json" };
import type { getHealth } from "./routes.ts";

export const health: RouteHandler<typeof getHealth, AppEnv> = async (c) => {
  const started = performance.now();
  let serverVersion: string;
  try {
    const [row] = await db()`select current_setting('server_version') as version`;
    serverVersion = row.version;
  } catch (error) {
    log("error", "health: database unreachable", { request_id: c.get("requestId"), error });
    throw new ProblemError(503, "Service Unavailable", "The database cannot be reached.");
  }
  const vendors = Object.fromEntries(
    Object.entries(config().vendors).map(([name, status]) => [
      name,
      status.enabled ? "enabled" : status.reason,
    ]),
  );
  return c.json({
    status: "ok" as const,
    database: {
      reachable: true as const,
      latency_ms: Math.round((performance.now() - started) * 10) / 10,
      server_version: serverVersion,
    },
    versions: { api: packageJson.version, deno: Deno.version.deno },
    vendors,
  }, 200);
};
