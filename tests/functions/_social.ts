// Shared by the social OAuth tests: the sandbox with the functions' social variables pointed at
// it, the oauth app, and helpers that follow an authorization as a browser would.
import assert from "node:assert/strict";
import { closeDb } from "../../functions/_shared/db.ts";
import oauthApp from "../../functions/oauth/app.ts";
import { type IssuedToken, type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { adminSql, api, expectJson, tokenFor } from "./_helpers.ts";

/** The key the tests encrypt with (base64 of 32 bytes; a test value). */
export const testKey = btoa("social-test-key-0123456789abcdef");

/** Where the platforms send the admin back (never fetched: the tests call the oauth app; a
 * loopback address, which the sandbox's Telegram takes for a webhook as a --local server does). */
export const publicFunctionsUrl = "http://127.0.0.1:9/functions/v1";

const variables = (sandbox: Sandbox): Record<string, string> => ({
  PUBLIC_FUNCTIONS_URL: publicFunctionsUrl,
  SOCIAL_TOKEN_ENCRYPTION_KEY: testKey,
  FACEBOOK_APP_ID: sandbox.credentials.facebookAppId,
  FACEBOOK_APP_SECRET: sandbox.credentials.facebookAppSecret,
  FACEBOOK_DIALOG_BASE_URL: `${sandbox.url}/facebook/v21.0`,
  GRAPH_BASE_URL: `${sandbox.url}/graph/v21.0`,
  X_CLIENT_ID: sandbox.credentials.xClientId,
  X_CLIENT_SECRET: sandbox.credentials.xClientSecret,
  X_AUTHORIZE_URL: `${sandbox.url}/x/i/oauth2/authorize`,
  X_API_BASE_URL: `${sandbox.url}/x`,
  LINKEDIN_CLIENT_ID: sandbox.credentials.linkedinClientId,
  LINKEDIN_CLIENT_SECRET: sandbox.credentials.linkedinClientSecret,
  LINKEDIN_OAUTH_BASE_URL: `${sandbox.url}/linkedin/oauth/v2`,
  LINKEDIN_API_BASE_URL: `${sandbox.url}/linkedin`,
  TELEGRAM_BOT_TOKEN: sandbox.credentials.telegramBotToken,
  TELEGRAM_BASE_URL: `${sandbox.url}/telegram`,
});

/** The sandbox and helpers of one test file. */
export interface SocialDesk {
  sandbox: Sandbox;
  admin: string;
  /** POST /_control/social/{action}. */
  control(action: string, body?: unknown): Promise<unknown>;
  /** No OAuth connection, state or sandbox token left from an earlier test. */
  fresh(): Promise<void>;
  /** Every token the sandbox issued. */
  issued(): Promise<IssuedToken[]>;
  /** POST connect as `token`; the answer. */
  connect(platform: string, token?: string): Promise<Response>;
  /** Follows an authorization URL to the platform's 302; the callback's query. */
  authorize(url: string): Promise<URLSearchParams>;
  /** GET the oauth app's callback for `platform` with `query`. */
  callback(platform: string, query: URLSearchParams | string): Promise<Response>;
  /** connect → authorize → callback; the callback's JSON. */
  connectFully(platform: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Starts the sandbox and points the functions' social variables at it. */
export async function startSocialDesk(): Promise<SocialDesk> {
  const sandbox = await startSandbox();
  const vars = variables(sandbox);
  for (const [name, value] of Object.entries(vars)) Deno.env.set(name, value);
  await clearSocial();
  const admin = await tokenFor("admin@py360.test");
  const desk: SocialDesk = {
    sandbox,
    admin,
    async control(action, body = {}) {
      const response = await fetch(`${sandbox.url}/_control/social/${action}`, {
        method: "POST",
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200);
      return await response.json();
    },
    async fresh() {
      await clearSocial();
      await desk.control("reset");
    },
    async issued() {
      return await (await fetch(`${sandbox.url}/_inspect/social/tokens`)).json();
    },
    connect(platform, token = admin) {
      return api("/integrations/social-media/connect", {
        token,
        method: "POST",
        body: { platform },
      });
    },
    async authorize(url) {
      const response = await fetch(url, { redirect: "manual" });
      await response.body?.cancel();
      assert.equal(response.status, 302, `the platform redirects back (${response.status})`);
      const location = new URL(response.headers.get("location")!);
      assert.equal(
        location.origin + location.pathname.replace(/\/[a-z]+$/, ""),
        `${publicFunctionsUrl}/oauth/callback`,
      );
      return location.searchParams;
    },
    callback(platform, query) {
      return Promise.resolve(
        oauthApp.request(`/oauth/callback/${platform}?${query.toString()}`, {
          headers: { accept: "application/json" },
        }),
      );
    },
    async connectFully(platform) {
      const started = await expectJson(await desk.connect(platform), 200);
      const query = await desk.authorize(started.authorization_url);
      return await expectJson(await desk.callback(platform, query), 200);
    },
    async close() {
      await clearSocial();
      await sandbox.close();
      await closeDb();
      for (const name of Object.keys(vars)) Deno.env.delete(name);
    },
  };
  return desk;
}

/** Removes the OAuth platforms' connections, tokens and states (other files' rows stay). */
export async function clearSocial(): Promise<void> {
  await adminSql()`delete from public.social_connections where platform in ('facebook', 'x', 'linkedin')`;
  await adminSql()`delete from private.oauth_states`;
}

/** The stored ciphertexts of a platform (as the superuser reads the table). */
export async function storedRow(platform: string) {
  const [row] = await adminSql()<
    { access_token: Uint8Array | null; refresh_token: Uint8Array | null; key_id: string }[]
  >`select access_token, refresh_token, key_id from private.social_tokens where platform = ${platform}`;
  return row;
}

/** Counts of the platform's connection rows and token rows. */
export async function storedCounts(platform: string) {
  const [row] = await adminSql()<{ connections: number; tokens: number }[]>`
    select (select count(*)::int from public.social_connections where platform = ${platform}) as connections,
           (select count(*)::int from private.social_tokens where platform = ${platform}) as tokens`;
  return row;
}

/** Fails when any token the sandbox issued appears in `text`. */
export async function assertNoToken(desk: SocialDesk, text: string, what: string) {
  for (const t of await desk.issued()) {
    assert.ok(!text.includes(t.token), `${what} carries no ${t.platform} ${t.kind} token`);
  }
}
