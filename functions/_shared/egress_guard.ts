// The egress guard: no response body leaves a function with a configured secret in it. Every
// textual body (JSON, problem+json, text, HTML, CSV, XML) is searched for the values of the
// configuration's secret variables (config.ts isSecretVariable, and the password inside
// FUNCTIONS_DB_URL); a body holding one is replaced by a 500 problem that says nothing of it,
// and an error is logged naming the variable, never the value. A bug that echoes a secret (an
// upstream error message quoted whole, a config object serialised) is stopped at the door.
// Event streams are passed through unread (reading them would hold the stream back).
import { createMiddleware } from "hono/factory";
import {
  type Config,
  config as processConfig,
  minScannedSecretLength,
  secretVariables,
} from "./config.ts";
import { problemResponse } from "./errors.ts";
import { log } from "./log.ts";

/** One configured secret: its variable and value. */
export interface ConfiguredSecret {
  name: string;
  value: string;
}

const byConfig = new WeakMap<Config, ConfiguredSecret[]>();

/**
 * The secret values `cfg` holds, each with its variable: every secret variable set to a value of
 * at least minScannedSecretLength characters, and FUNCTIONS_DB_URL's password (as
 * `FUNCTIONS_DB_URL (password)`). Cached per configuration object.
 */
export function configuredSecrets(cfg: Config): ConfiguredSecret[] {
  let secrets = byConfig.get(cfg);
  if (secrets) return secrets;
  secrets = [];
  const values = cfg as unknown as Record<string, unknown>;
  for (const name of secretVariables) {
    const value = values[name];
    if (typeof value === "string" && value.length >= minScannedSecretLength) {
      secrets.push({ name, value });
    }
  }
  try {
    const password = decodeURIComponent(new URL(cfg.FUNCTIONS_DB_URL).password);
    if (password.length >= minScannedSecretLength) {
      secrets.push({ name: "FUNCTIONS_DB_URL (password)", value: password });
    }
  } catch {
    // Not a URL we can read: nothing to look for.
  }
  byConfig.set(cfg, secrets);
  return secrets;
}

/** The variable whose secret value `text` contains, or null. */
export function secretIn(text: string, secrets: ConfiguredSecret[]): string | null {
  for (const { name, value } of secrets) {
    if (text.includes(value)) return name;
  }
  return null;
}

/** Bodies read and searched; anything else (PDFs, images, event streams) passes unread. */
const textual = /json|^text\/(?!event-stream)|xml|javascript|csv/i;

/** The headers of a withheld response that described its body, dropped with it. */
const bodyHeaders = [
  "content-type",
  "content-length",
  "content-disposition",
  "content-encoding",
  "etag",
];

/**
 * The guard as Hono middleware. `getConfig` gives the configuration whose secrets are looked
 * for (default: the process's; an app built on a configuration of its own passes it); a
 * configuration that cannot be read (no FUNCTIONS_DB_URL) means nothing to look for.
 */
export function egressGuard(getConfig: () => Config = processConfig) {
  return createMiddleware(async (c, next) => {
    await next();
    const response = c.res;
    const type = response.headers.get("content-type") ?? "";
    if (!response.body || !textual.test(type)) return;
    let secrets: ConfiguredSecret[];
    try {
      secrets = configuredSecrets(getConfig());
    } catch {
      return;
    }
    if (secrets.length === 0) return;
    const leaked = secretIn(await response.clone().text(), secrets);
    if (!leaked) return;
    const instance = new URL(c.req.url).pathname;
    log("error", "response withheld: it contained a configured secret", {
      config_key: leaked,
      method: c.req.method,
      path: instance,
      status: response.status,
      request_id: c.get("requestId"),
    });
    const withheld = problemResponse(500, {
      detail: "The response was withheld: it would have disclosed a server secret.",
      instance,
    });
    // The old headers that do not describe the body (request id, CORS, ...) are kept.
    for (const [name, value] of response.headers) {
      if (!bodyHeaders.includes(name)) withheld.headers.set(name, value);
    }
    // Cleared first: Hono copies the old response's headers onto a replacement.
    c.res = undefined;
    c.res = withheld;
  });
}
