// The Hono app every edge function starts from: request ids, CORS, a JSON access log, the egress
// guard (no configured secret in any response body), and one place each for validation failures
// (422), thrown errors and unknown routes, all problem+json.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hook } from "@hono/zod-openapi";
import { cors } from "hono/cors";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { requestId } from "hono/request-id";
import type { Config } from "./config.ts";
import type { Claims } from "./db.ts";
import { egressGuard } from "./egress_guard.ts";
import { handleError, problemResponse, validationProblem } from "./errors.ts";
import { log } from "./log.ts";
import { withRequestId } from "./request_context.ts";

/** Hono's environment for every app: the request id, and the caller's claims once signed in. */
export interface AppEnv {
  Variables: {
    requestId: string;
    claims: Claims;
  };
}

/** zod-openapi's hook after request validation: a failure becomes the 422 problem. */
// deno-lint-ignore no-explicit-any
export const defaultHook: Hook<any, AppEnv, any, any> = (result, c) => {
  if (!result.success) return validationProblem(result.error, new URL(c.req.url).pathname);
};

/** A router for one resource, mounted into a function's app with `.route()`. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({ defaultHook });
}

/** The rest of the request runs with its id, which every database transaction it opens sets as
 * `request.id` (db.ts), so the audit log names the request (the X-Request-Id answered). */
const requestIdToDatabase = createMiddleware<AppEnv>((c, next) =>
  withRequestId(c.get("requestId"), next)
);

/** Path parameters that are bearer capabilities: a withdrawal link's or a document link's token,
 * a tracked link's code. Whoever reads them in a log could use them. */
const capabilityParams = /^(token|code)$/;

/**
 * The request's path as the access log writes it, once routed: each capability in it (a path
 * parameter named token or code) replaced by `:name`, e.g. `/consent/w/:token`; other parameters
 * (ids) and unrouted paths as they came.
 */
export function loggedPath(c: Context<AppEnv>): string {
  let path = new URL(c.req.url).pathname;
  for (const [name, value] of Object.entries(c.req.param() as Record<string, string>)) {
    if (!capabilityParams.test(name) || !value) continue;
    // The router decoded the value; the path may carry it encoded or as it is.
    const spelling = path.endsWith(value) ? value : encodeURIComponent(value);
    const at = path.lastIndexOf(spelling);
    if (at >= 0) path = path.slice(0, at) + `:${name}` + path.slice(at + spelling.length);
  }
  return path;
}

const accessLog = createMiddleware<AppEnv>(async (c, next) => {
  const started = performance.now();
  await next();
  log(c.res.status >= 500 ? "error" : "info", "request", {
    request_id: c.get("requestId"),
    method: c.req.method,
    path: loggedPath(c),
    status: c.res.status,
    ms: Math.round(performance.now() - started),
  });
});

/** Options of createApp. */
export interface AppOptions {
  /** The configuration whose secrets the egress guard keeps out of responses (default: the
   * process's); an app built on a configuration of its own passes it. */
  config?: () => Config;
}

/**
 * The app of the edge function `name`, serving under `/<name>` as Supabase routes it. Every
 * response passes the egress guard (egress_guard.ts): a body holding a configured secret becomes
 * a 500 problem.
 */
export function createApp(name: string, options: AppOptions = {}) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook }).basePath(`/${name}`);
  app.use(
    "*",
    requestId(),
    requestIdToDatabase,
    accessLog,
    egressGuard(options.config),
    cors({ origin: "*", exposeHeaders: ["x-request-id"] }),
  );
  app.onError(handleError);
  app.notFound((c) => {
    const instance = new URL(c.req.url).pathname;
    return problemResponse(404, { detail: `No route for ${c.req.method} ${instance}.`, instance });
  });
  return app;
}
