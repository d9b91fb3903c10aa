// X (API v2) OAuth 2.0 authorization code with PKCE (VENDORS.md §8): the authorize URL with an
// S256 challenge, the token call (form, code_verifier, confidential client by Basic auth), the
// refresh (grant_type=refresh_token; X rotates the refresh token), the revoke, the account
// (/2/users/me) and the handle lookup (/2/users/by/username/{username}).
import { config } from "../config.ts";
import {
  callPlatform,
  expectOk,
  type PlatformAccount,
  PlatformError,
  seconds,
  type TokenSet,
} from "./http.ts";

/** What we ask for; offline.access gives the refresh token. */
export const xScopes = ["tweet.read", "tweet.write", "users.read", "offline.access"];

function client() {
  const { X_CLIENT_ID, X_CLIENT_SECRET } = config();
  return { id: X_CLIENT_ID ?? "", secret: X_CLIENT_SECRET ?? "" };
}

function basic(): string {
  const { id, secret } = client();
  return `Basic ${btoa(`${id}:${secret}`)}`;
}

/** The authorize URL (X_AUTHORIZE_URL) with `state` and the S256 `codeChallenge`. */
export function xAuthorizeUrl(state: string, redirectUri: string, codeChallenge: string): string {
  const fields: Record<string, string> = {
    response_type: "code",
    client_id: client().id,
    redirect_uri: redirectUri,
    scope: xScopes.join(" "),
    state,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
  };
  return `${config().X_AUTHORIZE_URL}?${
    Object.entries(fields).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")
  }`;
}

async function tokenCall(what: string, fields: Record<string, string>): Promise<TokenSet> {
  const answer = await callPlatform("x", what, `${config().X_API_BASE_URL}/2/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic() },
    body: new URLSearchParams(fields),
  });
  const body = expectOk("x", what, answer);
  if (typeof body.access_token !== "string") {
    throw new PlatformError("x", 502, `x ${what} gave no access_token.`);
  }
  return {
    accessToken: body.access_token,
    refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : undefined,
    expiresIn: seconds(body.expires_in),
    scopes: typeof body.scope === "string" ? body.scope.split(" ").filter(Boolean) : undefined,
  };
}

/** Exchanges a code with its PKCE verifier; throws PlatformError (400 refused, 502 failed). */
export function xExchange(code: string, redirectUri: string, codeVerifier: string) {
  return tokenCall("the code exchange", {
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    code_verifier: codeVerifier,
    client_id: client().id,
  });
}

/** A new access token (and rotated refresh token) for a refresh token; throws PlatformError. */
export function xRefresh(refreshToken: string) {
  return tokenCall("the refresh", {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: client().id,
  });
}

/** Revokes a token at X (POST /2/oauth2/revoke); throws PlatformError. */
export async function xRevoke(token: string, hint: "access_token" | "refresh_token") {
  expectOk(
    "x",
    "the revoke",
    await callPlatform("x", "the revoke", `${config().X_API_BASE_URL}/2/oauth2/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic() },
      body: new URLSearchParams({ token, token_type_hint: hint, client_id: client().id }),
    }),
  );
}

function api(path: string, accessToken: string, what: string) {
  return callPlatform("x", what, `${config().X_API_BASE_URL}${path}`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
}

/** The connected account (GET /2/users/me). */
export async function xAccount(accessToken: string): Promise<PlatformAccount> {
  const body = expectOk(
    "x",
    "the account lookup",
    await api("/2/users/me", accessToken, "the account lookup"),
  );
  const data = (body.data ?? {}) as Record<string, unknown>;
  return { id: String(data.id ?? ""), name: `@${data.username ?? ""}` };
}

/**
 * Looks a handle up (GET /2/users/by/username/{handle}; a leading @ is dropped): the user, or
 * null when X answers that none has it. Throws PlatformError for a failure.
 */
export async function xLookup(
  accessToken: string,
  handle: string,
): Promise<(PlatformAccount & { username: string }) | null> {
  const username = handle.replace(/^@/, "");
  const body = expectOk(
    "x",
    "the handle lookup",
    await api(
      `/2/users/by/username/${encodeURIComponent(username)}`,
      accessToken,
      "the handle lookup",
    ),
  );
  const data = body.data as Record<string, unknown> | undefined;
  if (!data || typeof data.id !== "string") return null;
  return {
    id: data.id,
    name: String(data.name ?? ""),
    username: String(data.username ?? username),
  };
}
