// The interactive API reference at /api/docs, and the Scalar bundle it runs, both served by this
// function: nothing is loaded from a CDN, so the page works on a machine without internet.
//
// The bundle is the standalone build of the npm package @scalar/api-reference, pinned in
// package.json (dependencies) and installed into node_modules by `npm ci`. The function reads it
// through a path relative to this module, which holds in both places the function runs:
//  - locally (`npm start`, tests) straight from the checkout's node_modules;
//  - on Supabase, because supabase/config.toml lists the file in the function's `static_files`,
//    which `supabase functions deploy` uploads with the code at the same relative path
//    (tests/functions/docs_deploy.test.ts checks the upload).
import { Scalar } from "@scalar/hono-api-reference";
import { compress } from "hono/compress";
import { createRouter } from "../../_shared/app.ts";
import { ProblemError } from "../../_shared/errors.ts";
import packageJson from "../../../package.json" with { type: "json" };

/** The pinned version of @scalar/api-reference whose bundle the page runs. */
export const scalarVersion = packageJson.dependencies["@scalar/api-reference"];

/** The bundle in node_modules, relative to the project root (as listed in static_files). */
export const bundleFile = "node_modules/@scalar/api-reference/dist/browser/standalone.js";

/** The bundle's route under /api; versioned, so browsers may keep it for good. */
export const bundleRoute = `/docs/scalar-api-reference-${scalarVersion}.js`;

/**
 * What the page may load: only this function's own origin (the bundle, the OpenAPI document, and
 * the API itself for "Try it"). Scalar injects its styles and its start-up script inline.
 */
export const docsContentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

let bundle: Promise<Uint8Array> | undefined;

/** The bundle's bytes, read once per worker; a 503 problem saying what to run when missing. */
function readBundle(): Promise<Uint8Array> {
  bundle ??= Deno.readFile(new URL(`../../../${bundleFile}`, import.meta.url)).catch((error) => {
    bundle = undefined;
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new ProblemError(
      503,
      "Service Unavailable",
      `The API reference's script (${bundleFile}) is not installed: run \`npm ci\`, and deploy ` +
        "with supabase/config.toml's static_files.",
    );
  });
  return bundle;
}

const page = Scalar({
  url: "./openapi.json",
  // A page at /api/docs resolves this to /api/docs/scalar-api-reference-<version>.js.
  cdn: `.${bundleRoute}`,
  pageTitle: "Py360 Renewal API",
  // The default fonts come from Scalar's font host; the system's fonts do.
  withDefaultFonts: false,
  // Every operation listed at once: the API is small enough to read whole.
  defaultOpenAllTags: true,
  // Scalar's hosted extras (AI chat, MCP generation, sharing and deploying) need its servers.
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: "never",
});

export default createRouter()
  .get("/docs", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", docsContentSecurityPolicy);
  }, page)
  .get(bundleRoute, compress(), async (c) => {
    const body = await readBundle();
    return c.body(body.slice(), 200, {
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": "public, max-age=31536000, immutable",
    });
  });
