import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { bearerToken, verifyToken } from "../../_shared/auth.ts";
import { config, type VendorName } from "../../_shared/config.ts";
import { asCaller, type Claims } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { log } from "../../_shared/log.ts";
import packageJson from "../../../package.json" with { type: "json" };
import type { getHealth, MessagingHealthSchema } from "./routes.ts";
import type { z } from "@hono/zod-openapi";

type MessagingHealth = z.infer<typeof MessagingHealthSchema>;

/** Which of the configuration's vendors carries each messaging provider's credentials. */
const providerVendor: Record<string, VendorName> = {
  twilio: "twilio",
  aws_sns: "sns",
  aws_ses: "ses",
  sendgrid: "sendgrid",
  whatsapp_cloud: "whatsapp",
  telegram: "telegram",
};

/** An instant as the API answers them: ISO 8601 in UTC (`...Z`); null stays null. */
const utc = (value: string | null) => value === null ? null : new Date(value).toISOString();

/**
 * The vendor section (private.vendor_health, which admits admins and service_role only), as
 * the caller: per provider its breaker, error rate and p95 send latency over 15 minutes, quota
 * used, month's spend against its budget and queue, plus whether this host has its credentials.
 */
async function messagingHealth(claims: Claims): Promise<MessagingHealth> {
  const [row] = await asCaller(
    claims,
    (tx) => tx<{ health: MessagingHealth }[]>`select private.vendor_health() as health`,
  );
  const { health } = row;
  const vendors = config().vendors;
  return {
    ...health,
    as_of: utc(health.as_of) as string,
    spend_as_of: utc(health.spend_as_of),
    providers: health.providers.map((provider) => {
      const vendor = providerVendor[provider.provider];
      return {
        ...provider,
        configured: vendor !== undefined && vendors[vendor].enabled,
        breaker_since: utc(provider.breaker_since) as string,
        last_callback_at: utc(provider.last_callback_at),
      };
    }),
  };
}

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
 * service_role key also gets the database latency (ms) and version, the API's versions, each
 * vendor's status and the messaging providers' health (`messaging`). Anonymous callers learn
 * nothing about versions, credentials or vendors.
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
    messaging: await messagingHealth(claims as Claims),
  }, 200);
};
