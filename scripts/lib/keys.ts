// Local keys: the fixed JWT secret of the local stack and the tokens minted from it, shaped like
// the ones GoTrue issues. Never used against a real project.
import { SignJWT } from "jose";

export const localJwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";
const issuer = "supabase-demo";
const farFuture = 1983812996; // 2032-11-12, as the Supabase CLI's demo keys

function sign(claims: Record<string, unknown>, expiresAt: number, issuedAt: number) {
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
    anon: await sign({ role: "anon" }, farFuture, issuedAt),
    serviceRole: await sign({ role: "service_role" }, farFuture, issuedAt),
  };
}

export interface UserClaims {
  id: string;
  email: string;
  appMetadata?: Record<string, unknown>;
}

/** A signed-in user's access token, valid for `ttlSeconds` (an hour by default). */
export function userToken(user: UserClaims, ttlSeconds = 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    {
      sub: user.id,
      aud: "authenticated",
      role: "authenticated",
      email: user.email,
      app_metadata: { provider: "email", ...user.appMetadata },
      user_metadata: {},
      aal: "aal1",
      is_anonymous: false,
    },
    now + ttlSeconds,
    now,
  );
}
