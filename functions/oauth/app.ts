// The `oauth` edge function: where Facebook, X and LinkedIn send the admin back after consent.
// GET /oauth/callback/{platform}?code&state (no JWT: verify_jwt = false in supabase/config.toml;
// the state is the credential): the state is consumed once (unknown, reused, expired or another
// platform's → 400, nothing stored), the code exchanged (X with its PKCE verifier and Basic
// client auth; Facebook GET then the long-lived swap; LinkedIn POST form), the account looked up
// and the tokens stored encrypted. A platform's `error` (the admin said no) consumes the state
// and answers 400. The answer names the account, never a token; a browser gets a short page.
// POST /oauth/refresh (service_role key only): refreshes the tokens that expire soon (see
// functions/_shared/social/connections.ts) and re-encrypts under the current key what a key
// rotation left under the previous one (rekey.ts); pg_cron + pg_net call it every 10 minutes on
// Supabase, the local worker runs the same code.
import { z } from "@hono/zod-openapi";
import { createApp } from "../_shared/app.ts";
import { requireServiceRole } from "../_shared/auth.ts";
import { ProblemError, validationProblem } from "../_shared/errors.ts";
import { readJobBody } from "../_shared/job_body.ts";
import { completeConnect, refreshDueConnections } from "../_shared/social/connections.ts";
import { consumeState } from "../_shared/social/oauth.ts";
import { rekeyStaleTokens } from "../_shared/social/rekey.ts";

const Platform = z.enum(["facebook", "x", "linkedin"]);

const CallbackQuery = z.union([
  z.object({
    code: z.string().min(1).max(4096),
    state: z.string().min(16).max(256),
  }),
  z.object({
    error: z.string().min(1).max(200),
    error_description: z.string().max(1000).optional(),
    state: z.string().min(16).max(256),
  }),
]);

const RefreshRequest = z.object({
  platform: Platform.optional(),
  /** Refresh what expires within this many seconds instead of each platform's window. */
  within_seconds: z.number().int().min(0).max(90 * 86_400).optional(),
}).strict();

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const app = createApp("oauth");

app.get("/callback/:platform", async (c) => {
  const instance = new URL(c.req.url).pathname;
  const platform = Platform.safeParse(c.req.param("platform"));
  if (!platform.success) {
    throw new ProblemError(404, "Not Found", "No OAuth callback for that platform.");
  }
  const query = CallbackQuery.safeParse(c.req.query());
  if (!query.success) return validationProblem(query.error, instance);
  if ("error" in query.data) {
    // The admin declined (or the platform refused): spend the state so it cannot be replayed.
    await consumeState(platform.data, query.data.state).catch(() => undefined);
    throw new ProblemError(
      400,
      "Authorization Refused",
      `${platform.data} did not authorize the connection: ${query.data.error}.`,
      { platform: platform.data, code: query.data.error },
    );
  }
  const connection = await completeConnect(platform.data, query.data.code, query.data.state);
  const answer = {
    platform: connection.platform,
    status: connection.status,
    account_id: connection.account_id,
    account_name: connection.account_name,
    scopes: connection.scopes,
    expires_at: connection.expires_at,
  };
  if ((c.req.header("accept") ?? "").includes("text/html")) {
    return c.html(
      `<!doctype html><meta charset="utf-8"><title>Connected</title>` +
        `<p>${escapeHtml(platform.data)} is connected as ` +
        `${escapeHtml(connection.account_name ?? "")}. You can close this window.</p>`,
      200,
      { "cache-control": "no-store" },
    );
  }
  return c.json(answer, 200, { "cache-control": "no-store" });
});

app.post("/refresh", requireServiceRole("refresh social tokens"), async (c) => {
  const parsed = await readJobBody(c, RefreshRequest);
  if (!parsed.ok) return parsed.response;
  const results = await refreshDueConnections({
    platform: parsed.data.platform,
    withinSeconds: parsed.data.within_seconds,
  });
  // After a key rotation, what is still under the previous key is encrypted again.
  const rekeyed = await rekeyStaleTokens();
  return c.json({ results, rekeyed }, 200);
});

export default app;
