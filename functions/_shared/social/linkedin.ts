// LinkedIn (Sign In with LinkedIn using OpenID Connect, plus w_member_social) by OAuth 2.0
// authorization code (VENDORS.md §8): the authorization URL, the accessToken call (POST form
// with the client id and secret), the revoke, and the member (/v2/userinfo). LinkedIn issues
// refresh tokens only to approved partners, so a connection expires after 60 days and must be
// made again; and it offers no way to find whether a given person is a member we can reach.
import { config } from "../config.ts";
import {
  callPlatform,
  expectOk,
  type PlatformAccount,
  PlatformError,
  seconds,
  type TokenSet,
} from "./http.ts";

/** What we ask for. */
export const linkedinScopes = ["openid", "profile", "email", "w_member_social"];

function client() {
  const { LINKEDIN_CLIENT_ID, LINKEDIN_CLIENT_SECRET } = config();
  return { id: LINKEDIN_CLIENT_ID ?? "", secret: LINKEDIN_CLIENT_SECRET ?? "" };
}

/** The authorization URL (LINKEDIN_OAUTH_BASE_URL/authorization) for `state`. */
export function linkedinAuthorizeUrl(state: string, redirectUri: string): string {
  const fields: Record<string, string> = {
    response_type: "code",
    client_id: client().id,
    redirect_uri: redirectUri,
    state,
    scope: linkedinScopes.join(" "),
  };
  return `${config().LINKEDIN_OAUTH_BASE_URL}/authorization?${
    Object.entries(fields).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")
  }`;
}

/** Exchanges a code (POST accessToken); throws PlatformError (400 refused, 502 failed). */
export async function linkedinExchange(code: string, redirectUri: string): Promise<TokenSet> {
  const { id, secret } = client();
  const what = "the code exchange";
  const answer = await callPlatform(
    "linkedin",
    what,
    `${config().LINKEDIN_OAUTH_BASE_URL}/accessToken`,
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri,
        client_id: id,
        client_secret: secret,
      }),
    },
  );
  const body = expectOk("linkedin", what, answer);
  if (typeof body.access_token !== "string") {
    throw new PlatformError("linkedin", 502, `linkedin ${what} gave no access_token.`);
  }
  return {
    accessToken: body.access_token,
    refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : undefined,
    expiresIn: seconds(body.expires_in),
    refreshExpiresIn: seconds(body.refresh_token_expires_in),
    // LinkedIn lists the granted scopes comma-separated.
    scopes: typeof body.scope === "string" ? body.scope.split(/[\s,]+/).filter(Boolean) : undefined,
  };
}

/** Revokes a token (POST revoke with the client's credentials); throws PlatformError. */
export async function linkedinRevoke(token: string): Promise<void> {
  const { id, secret } = client();
  expectOk(
    "linkedin",
    "the revoke",
    await callPlatform("linkedin", "the revoke", `${config().LINKEDIN_OAUTH_BASE_URL}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: id, client_secret: secret, token }),
    }),
  );
}

/** The member of a token (GET /v2/userinfo: sub, name). */
export async function linkedinAccount(accessToken: string): Promise<PlatformAccount> {
  const body = expectOk(
    "linkedin",
    "the account lookup",
    await callPlatform(
      "linkedin",
      "the account lookup",
      `${config().LINKEDIN_API_BASE_URL}/v2/userinfo`,
      {
        headers: { authorization: `Bearer ${accessToken}` },
      },
    ),
  );
  return { id: String(body.sub ?? ""), name: String(body.name ?? "") };
}

/** Why LinkedIn cannot say whether a customer is reachable (the verify endpoint's answer). */
export const linkedinCannotAnswer =
  "LinkedIn's API offers no lookup of members by name, email or handle to an app like ours " +
  "(member data is available only for the member who signed in), so whether a customer is on " +
  "LinkedIn cannot be checked.";
