// JWT refusals: every way a token can be wrong is a 401 problem+json, before any query runs.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import {
  api,
  dbTest,
  localApiKeyIssuer,
  localApiKeys,
  localAuthIssuer,
  localJwtSecret,
  signedToken,
  tokenFor,
} from "./_helpers.ts";

const agentId = "20000000-0000-4000-8000-000000000011";
/** What GoTrue puts in an agent's token that matters here; each test spoils one part. */
const agentClaims = {
  sub: agentId,
  role: "authenticated",
  aud: "authenticated",
  iss: localAuthIssuer,
};

/** A token signed with the local secret, with an expiry and issue time only where given. */
function tokenWith(claims: Record<string, unknown>, times: { exp?: number; iat?: number }) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" });
  if (times.exp !== undefined) jwt.setExpirationTime(times.exp);
  if (times.iat !== undefined) jwt.setIssuedAt(times.iat);
  return jwt.sign(new TextEncoder().encode(localJwtSecret));
}

const now = () => Math.floor(Date.now() / 1000);

async function assertUnauthorized(response: Response, detail: RegExp) {
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal(response.headers.get("www-authenticate"), "Bearer");
  const problem = await response.json();
  assert.equal(problem.status, 401);
  assert.equal(problem.title, "Unauthorized");
  assert.equal(problem.instance, "/api/me");
  assert.match(problem.detail, detail);
}

Deno.test("auth: no token is a 401", async () => {
  await assertUnauthorized(await api("/me"), /Sign in/);
});

Deno.test("auth: a token that is not a JWT is a 401", async () => {
  await assertUnauthorized(await api("/me", { token: "not.a-jwt" }), /not a JWT/);
});

Deno.test("auth: an expired token is a 401 that says so", async () => {
  const token = await signedToken(agentClaims, { expiresIn: "-1m" });
  await assertUnauthorized(await api("/me", { token }), /expired/);
});

dbTest("auth: a token that never expires (no exp) is a 401, a user's or a key", async () => {
  // GoTrue and the project's API keys always set exp; without one a leaked token works forever.
  const user = await tokenWith(agentClaims, { iat: now() });
  await assertUnauthorized(await api("/me", { token: user }), /no expiry/);
  const key = await tokenWith({ role: "service_role", iss: localApiKeyIssuer }, { iat: now() });
  await assertUnauthorized(await api("/me", { token: key }), /no expiry/);
  const health = await api("/health", { token: key });
  assert.equal(health.status, 401);
  assert.match((await health.json()).detail, /no expiry/);
});

dbTest("auth: a token with no issue time (iat) is a 401", async () => {
  const token = await tokenWith(agentClaims, { exp: now() + 3600 });
  await assertUnauthorized(await api("/me", { token }), /no issue time/);
  // The same claims with both times pass: iat is what was missing.
  const whole = await tokenWith(agentClaims, { exp: now() + 3600, iat: now() });
  assert.equal((await api("/me", { token: whole })).status, 200);
});

Deno.test("auth: a token signed with another secret is a 401", async () => {
  const token = await signedToken(agentClaims, {
    secret: "another-secret-that-is-at-least-32-characters",
  });
  await assertUnauthorized(await api("/me", { token }), /could not be verified/);
});

Deno.test("auth: an unsigned token (alg none) is a 401", async () => {
  const encode = (part: unknown) => btoa(JSON.stringify(part)).replace(/=+$/, "");
  const token = `${encode({ alg: "none", typ: "JWT" })}.${
    encode({ ...agentClaims, exp: Math.floor(Date.now() / 1000) + 3600 })
  }.`;
  await assertUnauthorized(await api("/me", { token }), /none are not accepted/);
});

Deno.test("auth: a token with a role Postgres must never assume is a 401", async () => {
  const token = await signedToken({ sub: agentId, role: "postgres" });
  await assertUnauthorized(await api("/me", { token }), /no usable role/);
});

Deno.test("auth: a user's token for another audience is a 401", async () => {
  const token = await signedToken({ ...agentClaims, aud: "some-other-api" });
  await assertUnauthorized(await api("/me", { token }), /audience must be authenticated/);
});

Deno.test("auth: a user's token with no audience is a 401", async () => {
  const { aud: _, ...claims } = agentClaims;
  const token = await signedToken(claims);
  await assertUnauthorized(await api("/me", { token }), /audience must be authenticated/);
});

Deno.test("auth: a user's token from another project's auth server is a 401", async () => {
  const token = await signedToken({ ...agentClaims, iss: "https://other.supabase.co/auth/v1" });
  await assertUnauthorized(await api("/me", { token }), /not issued by this project/);
});

Deno.test("auth: a user's token with no issuer is a 401", async () => {
  const { iss: _, ...claims } = agentClaims;
  const token = await signedToken(claims);
  await assertUnauthorized(await api("/me", { token }), /not issued by this project/);
});

Deno.test("auth: an API key with another issuer is a 401, even for service_role", async () => {
  const token = await signedToken({ role: "service_role", iss: "someone-else" });
  await assertUnauthorized(await api("/me", { token }), /API key was not issued/);
  // The key is refused by verifyToken itself, so routes that take API keys refuse it too.
  const health = await api("/health", { token });
  assert.equal(health.status, 401);
  assert.match((await health.json()).detail, /API key was not issued/);
});

Deno.test("auth: an API key minted with the local issuer is accepted as a key", async () => {
  // Same claims as above but the right issuer: refused by /me only for not being a user.
  const token = await signedToken({ role: "anon", iss: localApiKeyIssuer });
  await assertUnauthorized(await api("/me", { token }), /signed-in user/);
});

Deno.test("auth: the anon API key is not a user's token", async () => {
  const { anon } = await localApiKeys();
  await assertUnauthorized(await api("/me", { token: anon }), /signed-in user/);
});

dbTest(
  "auth: a user's token whose subject is not a user id is a 401 before any query",
  async () => {
    for (
      const sub of ["not-a-uuid", "", `${agentId}x`, `{${agentId}}`, agentId.replaceAll("-", "")]
    ) {
      const token = await signedToken({ ...agentClaims, sub });
      await assertUnauthorized(await api("/me", { token }), /subject is not a user id/);
    }
    const token = await signedToken({ ...agentClaims, sub: 42 });
    await assertUnauthorized(await api("/me", { token }), /no subject/);
  },
);

dbTest("auth: a user id in capitals is still that user", async () => {
  const token = await signedToken({ ...agentClaims, sub: agentId.toUpperCase() });
  const response = await api("/me", { token });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).id, agentId);
});

dbTest("auth: a valid token for a user with no profile is a 404", async () => {
  const token = await signedToken({ ...agentClaims, sub: crypto.randomUUID() });
  const response = await api("/me", { token });
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
});

dbTest("auth: an audience list that includes authenticated passes", async () => {
  const token = await signedToken({ ...agentClaims, aud: ["authenticated", "another"] });
  const response = await api("/me", { token });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).id, agentId);
});

dbTest("auth: a valid token passes", async () => {
  const response = await api("/me", { token: await tokenFor("arjun.agent@py360.test") });
  assert.equal(response.status, 200);
});
