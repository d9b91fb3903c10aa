// Facebook Login for the organisation's page (VENDORS.md §8): the login dialog, the code
// exchanged by GET for a short-lived token and that one swapped (fb_exchange_token) for a
// long-lived one (about 60 days), the account (/me) and its granted permissions, the revoke
// (DELETE /me/permissions), and a page-scoped id looked up when one is given. Tokens travel in
// the Authorization header, never in a URL we build, except where the contract puts the code
// and the client secret in the token call's query.
import { config } from "../config.ts";
import {
  callPlatform,
  expectOk,
  type PlatformAccount,
  PlatformError,
  seconds,
  type TokenSet,
} from "./http.ts";

/** What we ask for: the profile, the pages the admin manages and page messaging. */
export const facebookScopes = ["public_profile", "pages_show_list", "pages_messaging"];

/** `key=value&…` with every value percent-encoded (spaces as %20, as the dialog documents). */
function query(fields: Record<string, string>): string {
  return Object.entries(fields).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
}

function app() {
  const { FACEBOOK_APP_ID, FACEBOOK_APP_SECRET } = config();
  return { id: FACEBOOK_APP_ID ?? "", secret: FACEBOOK_APP_SECRET ?? "" };
}

/** The login dialog URL (FACEBOOK_DIALOG_BASE_URL/dialog/oauth) for `state` and `redirectUri`. */
export function facebookAuthorizeUrl(state: string, redirectUri: string): string {
  return `${config().FACEBOOK_DIALOG_BASE_URL}/dialog/oauth?${
    query({
      client_id: app().id,
      redirect_uri: redirectUri,
      state,
      scope: facebookScopes.join(","),
      response_type: "code",
    })
  }`;
}

async function tokenCall(what: string, fields: Record<string, string>): Promise<TokenSet> {
  const answer = await callPlatform(
    "facebook",
    what,
    `${config().GRAPH_BASE_URL}/oauth/access_token?${query(fields)}`,
  );
  const body = expectOk("facebook", what, answer);
  if (typeof body.access_token !== "string") {
    throw new PlatformError("facebook", 502, `facebook ${what} gave no access_token.`);
  }
  return { accessToken: body.access_token, expiresIn: seconds(body.expires_in) };
}

/**
 * Exchanges the dialog's code for a long-lived user token: GET oauth/access_token with the
 * client secret and the code, then the fb_exchange_token swap. Throws PlatformError (400 for a
 * refused code, 502 for a failure).
 */
export async function facebookExchange(code: string, redirectUri: string): Promise<TokenSet> {
  const { id, secret } = app();
  const short = await tokenCall("the code exchange", {
    client_id: id,
    redirect_uri: redirectUri,
    client_secret: secret,
    code,
  });
  return await facebookExtend(short.accessToken);
}

/**
 * Swaps a token (short- or long-lived) for a fresh long-lived one (fb_exchange_token): the
 * refresh Facebook offers. Throws PlatformError.
 */
export async function facebookExtend(accessToken: string): Promise<TokenSet> {
  const { id, secret } = app();
  return await tokenCall("the long-lived token exchange", {
    grant_type: "fb_exchange_token",
    client_id: id,
    client_secret: secret,
    fb_exchange_token: accessToken,
  });
}

function graph(path: string, accessToken: string, method = "GET") {
  return callPlatform(
    "facebook",
    `${method} ${path.split("?")[0]}`,
    `${config().GRAPH_BASE_URL}${path}`,
    {
      method,
      headers: { authorization: `Bearer ${accessToken}` },
    },
  );
}

/** The account of a token (/me: id, name) and its granted permissions (/me/permissions). */
export async function facebookAccount(
  accessToken: string,
): Promise<PlatformAccount & { scopes: string[] }> {
  const me = expectOk(
    "facebook",
    "the account lookup",
    await graph("/me?fields=id,name", accessToken),
  );
  const permissions = expectOk(
    "facebook",
    "the permissions lookup",
    await graph("/me/permissions", accessToken),
  );
  const granted = Array.isArray(permissions.data)
    ? (permissions.data as { permission?: unknown; status?: unknown }[])
      .filter((p) => p.status === "granted" && typeof p.permission === "string")
      .map((p) => p.permission as string)
    : [];
  return { id: String(me.id ?? ""), name: String(me.name ?? ""), scopes: granted };
}

/** Revokes the app's permissions for the user (DELETE /me/permissions); throws PlatformError. */
export async function facebookRevoke(accessToken: string): Promise<void> {
  expectOk("facebook", "the revoke", await graph("/me/permissions", accessToken, "DELETE"));
}

/**
 * Looks up a page-scoped id (GET /{id}?fields=id,name): the person when Graph knows them to our
 * token, null when Graph answers that the object does not exist or cannot be loaded (code 100).
 * Throws PlatformError for anything else (e.g. an expired token).
 */
export async function facebookLookup(
  accessToken: string,
  pageScopedId: string,
): Promise<PlatformAccount | null> {
  const answer = await graph(`/${encodeURIComponent(pageScopedId)}?fields=id,name`, accessToken);
  const error = answer.body?.error as { code?: unknown } | undefined;
  if (answer.status === 400 && error?.code === 100) return null;
  const body = expectOk("facebook", "the page-scoped id lookup", answer);
  return { id: String(body.id ?? pageScopedId), name: String(body.name ?? "") };
}
