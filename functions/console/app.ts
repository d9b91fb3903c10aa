// The `console` edge function: the ops console, a small read-only page for admins and managers
// (today's funnel, delivery rate and latency per channel, vendor health and breakers, spend vs
// budget, queue depth, open alerts). The function serves only the page and its files; the page
// signs in with an access token kept in the tab's sessionStorage and reads everything from the
// `api` function with `Authorization: Bearer`, so the API's own rules decide what it shows
// (managers their subtree, admins everything, others a refusal). No JWT on the function itself
// (verify_jwt = false in supabase/config.toml): a browser opening the page sends none, and the
// page and its files hold no data.
import { compress } from "hono/compress";
import { createApp } from "../_shared/app.ts";
import { readAssets } from "./assets.ts";
import { consoleContentSecurityPolicy, consolePage } from "./page.ts";

/** Headers of the page: its policy, no Referer, no sniffing, revalidated on each visit. */
const pageHeaders = {
  "Content-Security-Policy": consoleContentSecurityPolicy,
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-cache",
};

const app = createApp("console")
  // The page's links are relative to /console: from /console/ they would miss, so send the
  // browser back (relative, since the function does not know the /functions/v1 before it).
  .use("*", async (c, next) => {
    if (new URL(c.req.url).pathname === "/console/") return c.redirect("../console", 308);
    await next();
  })
  .get("/", async (c) => c.html(consolePage(await readAssets()), 200, pageHeaders))
  // Each file at the route readAssets() gives it (a stale hash or version is a 404).
  .get("/assets/:name", compress(), async (c) => {
    const asset = (await readAssets()).find((one) =>
      one.route === `/assets/${c.req.param("name")}`
    );
    if (!asset) return c.notFound();
    return c.body(asset.body.slice(), 200, {
      "Content-Type": asset.spec.contentType,
      "Cache-Control": "public, max-age=31536000, immutable",
      "X-Content-Type-Options": "nosniff",
    });
  });

export default app;
