// Shared by the Deno tests: tokens for seeded users and calls into the api app in-process.
import postgres from "postgres";
import { SignJWT } from "jose";
import app from "../../functions/api/app.ts";
import { localJwtSecret, userToken } from "../../scripts/lib/keys.ts";

export { localApiKeys, localJwtSecret } from "../../scripts/lib/keys.ts";

/** Tests that use the shared database pool keep it open between tests on purpose. */
export function dbTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

let admin: postgres.Sql | undefined;

/** A superuser connection to the test database, for looking things up and checking state. */
export function adminSql(): postgres.Sql {
  admin ??= postgres(Deno.env.get("SUPABASE_DB_URL")!, { max: 2, onnotice: () => {} });
  return admin;
}

/** An access token for a seeded user, as GoTrue would issue it. */
export async function tokenFor(email: string): Promise<string> {
  const [user] = await adminSql()`select id, email from auth.users where email = ${email}`;
  if (!user) throw new Error(`no seeded user ${email}`);
  return userToken({ id: user.id, email: user.email });
}

/** A token signed with the local secret but any claims and header the test wants. */
export function signedToken(
  claims: Record<string, unknown>,
  { secret = localJwtSecret, expiresIn = "1h" } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

export interface Call {
  token?: string;
  method?: string;
  body?: unknown;
}

/** Calls the api app in-process, as the Supabase runtime would after routing. */
export function api(path: string, { token, method = "GET", body }: Call = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return Promise.resolve(app.request(`/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}
