// Verifies the caller's JWT: HS256 with the project's secret (the local stack, legacy projects)
// or the project's JWKS for asymmetric keys. Anything else is a 401.
import { createMiddleware } from "hono/factory";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import { config } from "./config.ts";
import { apiRoles, type Claims } from "./db.ts";
import { ProblemError } from "./errors.ts";
import type { AppEnv } from "./app.ts";

const asymmetric = ["ES256", "RS256"];
let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

const unauthorized = (detail: string) =>
  new ProblemError(401, "Unauthorized", detail, {}, { "www-authenticate": "Bearer" });

async function verifySignature(token: string): Promise<JWTPayload> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized("The bearer token is not a JWT.");
  }
  const { SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL, SUPABASE_URL } = config();
  try {
    if (alg === "HS256" && SUPABASE_JWT_SECRET) {
      const key = new TextEncoder().encode(SUPABASE_JWT_SECRET);
      return (await jwtVerify(token, key, { algorithms: ["HS256"] })).payload;
    }
    if (alg && asymmetric.includes(alg)) {
      jwks ??= createRemoteJWKSet(
        new URL(SUPABASE_JWKS_URL ?? `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`),
      );
      return (await jwtVerify(token, jwks, { algorithms: asymmetric })).payload;
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw unauthorized(
      code === "ERR_JWT_EXPIRED" ? "The token has expired." : "The token could not be verified.",
    );
  }
  throw unauthorized(`Tokens signed with ${alg ?? "no algorithm"} are not accepted.`);
}

/** The audience GoTrue writes into every signed-in user's access token. */
export const userAudience = "authenticated";

/** A user id as GoTrue writes it into `sub`: a UUID in its hyphenated form, any letter case. */
const userIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The verified claims of a bearer token, or a 401 ProblemError. Beyond the signature:
 * - every token must say when it expires (`exp`, not passed) and when it was issued (`iat`), as
 *   GoTrue's tokens and the project's API keys all do: a token with no `exp` would never expire;
 * - a user's token (role `authenticated`) must be for audience `authenticated` and issued by the
 *   project's auth server (`iss` = JWT_ISSUER, by default `${SUPABASE_URL}/auth/v1`, as GoTrue
 *   writes it), and name its user (`sub`) by a UUID, which `auth.uid()` casts to `uuid`: anything
 *   else is refused here rather than by Postgres mid-request;
 * - an API key (role `anon` or `service_role`) must carry the issuer of the project's keys
 *   (API_KEY_ISSUER: `supabase` on a hosted project, `supabase-demo` locally).
 * A token signed with the right key but minted for something else is refused.
 */
export async function verifyToken(token: string): Promise<Claims> {
  const payload = await verifySignature(token);
  // jose has checked the types of exp and iat and that exp has not passed, but not that they exist.
  if (payload.exp === undefined) throw unauthorized("The token has no expiry (exp).");
  if (payload.iat === undefined) throw unauthorized("The token has no issue time (iat).");
  const role = payload.role as Claims["role"];
  if (!apiRoles.includes(role)) throw unauthorized("The token carries no usable role.");
  const { authIssuer, API_KEY_ISSUER } = config();
  if (role === "authenticated") {
    const audiences = typeof payload.aud === "string" ? [payload.aud] : payload.aud ?? [];
    if (!audiences.includes(userAudience)) {
      throw unauthorized(`The token is not meant for this API (audience must be ${userAudience}).`);
    }
    if (payload.iss !== authIssuer) {
      throw unauthorized("The token was not issued by this project's auth server.");
    }
    if (typeof payload.sub !== "string") throw unauthorized("The token has no subject.");
    if (!userIdPattern.test(payload.sub)) {
      throw unauthorized("The token's subject is not a user id (a UUID).");
    }
  } else if (payload.iss !== API_KEY_ISSUER) {
    throw unauthorized("The API key was not issued for this project.");
  }
  return { ...payload, role } as Claims;
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1];
}

/** Requires a signed-in user's token and puts its claims on the context as `claims`. */
export const requireUser = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) throw unauthorized("Sign in: send the access token as `Authorization: Bearer`.");
  const claims = await verifyToken(token);
  if (claims.role !== "authenticated") {
    throw unauthorized("This endpoint needs a signed-in user's token, not an API key.");
  }
  c.set("claims", claims);
  await next();
});

/**
 * Requires the service_role key (the jobs' door: pg_cron through pg_net): 401 without a valid
 * token, 403 for any other role. `what` names the job in the refusal, e.g. "drain the outbox".
 */
export function requireServiceRole(what: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new ProblemError(401, "Unauthorized", "Missing authorization header.");
    const claims = await verifyToken(token);
    if (claims.role !== "service_role") {
      throw new ProblemError(403, "Forbidden", `Only the service_role key may ${what}.`);
    }
    c.set("claims", claims);
    await next();
  });
}
