// Local keys: the fixed JWT secret of the local stack, the tokens minted from it (shaped like the
// ones GoTrue issues), the functions' local database login, and the environment those make for
// the functions. Never used against a real project.
import { SignJWT } from "jose";
import { stackPorts } from "./ports.ts";

export const localJwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";

/**
 * The `iss` of the local anon and service_role keys, as in the Supabase CLI's demo keys. Locally
 * the functions accept API keys only with this issuer (`API_KEY_ISSUER`); a hosted project's
 * anon and service_role keys carry `supabase`.
 */
export const localApiKeyIssuer = "supabase-demo";

/** The `iss` GoTrue writes into user tokens: the project's URL + `/auth/v1`. */
export const localAuthIssuer = `http://127.0.0.1:${stackPorts.functions}/auth/v1`;

const farFuture = 1983812996; // 2032-11-12, as the Supabase CLI's demo keys

function sign(
  claims: Record<string, unknown>,
  issuer: string,
  expiresAt: number,
  issuedAt: number,
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(issuer)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(localJwtSecret));
}

/** The anon and service_role API keys; the same on every machine. */
export async function localApiKeys(): Promise<{ anon: string; serviceRole: string }> {
  const issuedAt = 1641769200;
  return {
    anon: await sign({ role: "anon" }, localApiKeyIssuer, farFuture, issuedAt),
    serviceRole: await sign({ role: "service_role" }, localApiKeyIssuer, farFuture, issuedAt),
  };
}

export interface UserClaims {
  id: string;
  email: string;
  appMetadata?: Record<string, unknown>;
}

/**
 * A signed-in user's access token, valid for `ttlSeconds` (an hour by default), with the claims
 * GoTrue puts in one after a password sign-in: issuer `<SUPABASE_URL>/auth/v1`, audience
 * `authenticated`, a session id and the sign-in method.
 */
export function userToken(user: UserClaims, ttlSeconds = 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    {
      sub: user.id,
      aud: "authenticated",
      role: "authenticated",
      email: user.email,
      phone: "",
      app_metadata: { provider: "email", providers: ["email"], ...user.appMetadata },
      user_metadata: {},
      aal: "aal1",
      amr: [{ method: "password", timestamp: now }],
      session_id: crypto.randomUUID(),
      is_anonymous: false,
    },
    localAuthIssuer,
    now + ttlSeconds,
    now,
  );
}

/** The functions' database login locally (migration 20261129006000); its password is local only. */
export const localAuthenticator = {
  role: "api_authenticator",
  password: "api-authenticator-local-password",
};

/** The URL of a local cluster (as its superuser) rewritten to log in as the functions' role. */
export function localAuthenticatorUrl(superuserUrl: string): string {
  const url = new URL(superuserUrl);
  url.username = localAuthenticator.role;
  url.password = localAuthenticator.password;
  return url.href;
}

/**
 * What the functions need to run on a local database with the local keys: the project's URL (the
 * gateway on `gatewayPort`), the superuser URL as SUPABASE_DB_URL (there, as on Supabase, though
 * the functions never read it), the api_authenticator URL they log in with (no rights of its
 * own), the JWT secret, the API keys' issuer and the anon and service_role keys.
 */
export async function localFunctionsEnv(
  databaseUrl: string,
  gatewayPort: number,
): Promise<Record<string, string>> {
  const keys = await localApiKeys();
  return {
    SUPABASE_URL: `http://127.0.0.1:${gatewayPort}`,
    SUPABASE_DB_URL: databaseUrl,
    FUNCTIONS_DB_URL: localAuthenticatorUrl(databaseUrl),
    SUPABASE_JWT_SECRET: localJwtSecret,
    API_KEY_ISSUER: localApiKeyIssuer,
    SUPABASE_ANON_KEY: keys.anon,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRole,
  };
}
