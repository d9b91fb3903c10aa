// Verifies the caller's JWT: HS256 with the project's secret (the local stack, legacy projects;
// during a rotation the previous secret too, until SUPABASE_JWT_SECRET_PREVIOUS_UNTIL) or the
// project's JWKS for asymmetric keys. Anything else is a 401.
import { createMiddleware } from "hono/factory";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import { type Config, config } from "./config.ts";
import { apiRoles, type Claims } from "./db.ts";
import { ProblemError } from "./errors.ts";
import type { AppEnv } from "./app.ts";
import { type AcceptedSecrets, acceptedSecrets, logSecretMatch } from "./secrets.ts";

const asymmetric = ["ES256", "RS256"];
let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

const unauthorized = (detail: string) =>
  new ProblemError(401, "Unauthorized", detail, {}, { "www-authenticate": "Bearer" });

async function verifySignature(token: string, cfg: Config): Promise<JWTPayload> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized("The bearer token is not a JWT.");
  }
  const { SUPABASE_JWKS_URL, SUPABASE_URL } = cfg;
  const secrets = acceptedSecrets(cfg, "SUPABASE_JWT_SECRET");
  try {
    if (alg === "HS256" && secrets.current) return await verifyHs256(token, secrets);
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

/** jose's code for a signature made with another key (as opposed to a bad claim). */
const wrongKey = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";

/**
 * An HS256 token verified with the JWT secret, or during a rotation with the previous one (until
 * SUPABASE_JWT_SECRET_PREVIOUS_UNTIL): both are always tried. Throws jose's error: for a token
 * one key signed but whose claims fail (expired...), that error rather than the other key's
 * "signature verification failed". Logs which key matched, never a key.
 */
async function verifyHs256(token: string, secrets: AcceptedSecrets): Promise<JWTPayload> {
  const attempt = (secret: string | undefined) =>
    secret === undefined
      ? Promise.reject(Object.assign(new Error("no key"), { code: wrongKey }))
      : jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ["HS256"] });
  const [current, previous] = await Promise.allSettled([
    attempt(secrets.current),
    attempt(secrets.previous),
  ]);
  if (current.status === "fulfilled") {
    logSecretMatch("auth", secrets.name, "current");
    return current.value.payload;
  }
  if (previous.status === "fulfilled") {
    logSecretMatch("auth", secrets.name, "previous");
    return previous.value.payload;
  }
  const code = (error: unknown) => (error as { code?: string }).code;
  throw code(current.reason) !== wrongKey || code(previous.reason) === wrongKey
    ? current.reason
    : previous.reason;
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
 * A token signed with the right key but minted for something else is refused. `getConfig`
 * replaces the process configuration (tests).
 */
export async function verifyToken(
  token: string,
  getConfig: () => Config = config,
): Promise<Claims> {
  const cfg = getConfig();
  const payload = await verifySignature(token, cfg);
  // jose has checked the types of exp and iat and that exp has not passed, but not that they exist.
  if (payload.exp === undefined) throw unauthorized("The token has no expiry (exp).");
  if (payload.iat === undefined) throw unauthorized("The token has no issue time (iat).");
  const role = payload.role as Claims["role"];
  if (!apiRoles.includes(role)) throw unauthorized("The token carries no usable role.");
  const { authIssuer, API_KEY_ISSUER } = cfg;
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
