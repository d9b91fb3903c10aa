// The sandbox's OAuth servers (sandbox/social.ts) keep the contracts of VENDORS.md §8: codes
// single use, 60 s, bound to the client and the redirect_uri; X's PKCE S256 and Basic client
// auth, refresh rotation and revoke; Facebook's long-lived exchange and permission revoke;
// LinkedIn's client credentials in the form; the control routes' failures.
import assert from "node:assert/strict";
import { startSandbox } from "../../sandbox/mod.ts";

const sandbox = await startSandbox();
const c = sandbox.credentials;
const redirect = "http://127.0.0.1:9/functions/v1/oauth/callback";

async function authorize(url: string): Promise<URL> {
  const response = await fetch(url, { redirect: "manual" });
  await response.body?.cancel();
  assert.equal(response.status, 302);
  return new URL(response.headers.get("location")!);
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields);
const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`;

async function s256(verifier: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  return btoa(String.fromCharCode(...digest)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

async function xCode(verifier: string): Promise<string> {
  const url = `${sandbox.url}/x/i/oauth2/authorize?response_type=code&client_id=${c.xClientId}` +
    `&redirect_uri=${encodeURIComponent(`${redirect}/x`)}` +
    `&scope=${encodeURIComponent("users.read offline.access")}&state=s1` +
    `&code_challenge=${await s256(verifier)}&code_challenge_method=S256`;
  const back = await authorize(url);
  assert.equal(back.searchParams.get("state"), "s1");
  return back.searchParams.get("code")!;
}

function xToken(fields: Record<string, string>, auth = basic(c.xClientId, c.xClientSecret)) {
  return fetch(`${sandbox.url}/x/2/oauth2/token`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
    body: form(fields),
  });
}

Deno.test("sandbox x: PKCE S256 checked, Basic client auth required, codes single use", async () => {
  const verifier = "v".repeat(43);
  const code = await xCode(verifier);
  const fields = {
    grant_type: "authorization_code",
    code,
    redirect_uri: `${redirect}/x`,
    code_verifier: verifier,
  };
  assert.equal((await (await xToken(fields, "")).json()).error, "unauthorized_client");
  const wrongRedirect = await xToken({ ...fields, redirect_uri: `${redirect}/other` });
  assert.equal(wrongRedirect.status, 400);
  await wrongRedirect.body?.cancel();
  const ok = await xToken(fields);
  assert.equal(ok.status, 200);
  const tokens = await ok.json();
  assert.deepEqual([tokens.token_type, tokens.expires_in, tokens.scope], [
    "bearer",
    7200,
    "users.read offline.access",
  ]);
  assert.ok(tokens.refresh_token);
  const reused = await xToken(fields);
  assert.equal(reused.status, 400, "a code is single use");
  await reused.body?.cancel();

  const other = await xCode(verifier);
  const mismatch = await xToken({ ...fields, code: other, code_verifier: "w".repeat(43) });
  assert.equal(mismatch.status, 400);
  assert.match((await mismatch.json()).error_description, /code verifier/);
  const spent = await xToken({ ...fields, code: other });
  assert.equal(spent.status, 400, "a failed PKCE check spends the code");
  await spent.body?.cancel();

  const noChallenge = await authorize(
    `${sandbox.url}/x/i/oauth2/authorize?response_type=code&client_id=${c.xClientId}` +
      `&redirect_uri=${encodeURIComponent(`${redirect}/x`)}&state=s2`,
  );
  assert.equal(noChallenge.searchParams.get("error"), "invalid_request");
  assert.equal(noChallenge.searchParams.get("code"), null);
});

Deno.test("sandbox x: refresh rotates the refresh token; a revoked token no longer reads", async () => {
  const verifier = "r".repeat(50);
  const first = await (await xToken({
    grant_type: "authorization_code",
    code: await xCode(verifier),
    redirect_uri: `${redirect}/x`,
    code_verifier: verifier,
  })).json();
  const me = await fetch(`${sandbox.url}/x/2/users/me`, {
    headers: { authorization: `Bearer ${first.access_token}` },
  });
  assert.equal((await me.json()).data.username, "py360_renewals");
  const second =
    await (await xToken({ grant_type: "refresh_token", refresh_token: first.refresh_token }))
      .json();
  assert.ok(second.access_token && second.refresh_token !== first.refresh_token);
  const again = await xToken({ grant_type: "refresh_token", refresh_token: first.refresh_token });
  assert.equal(again.status, 400, "the old refresh token is spent");
  await again.body?.cancel();
  const revoke = await fetch(`${sandbox.url}/x/2/oauth2/revoke`, {
    method: "POST",
    headers: {
      authorization: basic(c.xClientId, c.xClientSecret),
      "content-type": "application/x-www-form-urlencoded",
    },
    body: form({ token: second.access_token, token_type_hint: "access_token" }),
  });
  assert.deepEqual(await revoke.json(), { revoked: true });
  const after = await fetch(`${sandbox.url}/x/2/users/me`, {
    headers: { authorization: `Bearer ${second.access_token}` },
  });
  assert.equal(after.status, 401);
  await after.body?.cancel();
});

Deno.test("sandbox facebook: GET code exchange, the long-lived swap, /me, revoke; codes expire after 60 s", async () => {
  const dialog = (state: string) =>
    `${sandbox.url}/facebook/v21.0/dialog/oauth?client_id=${c.facebookAppId}` +
    `&redirect_uri=${encodeURIComponent(`${redirect}/facebook`)}&state=${state}` +
    `&scope=public_profile,pages_show_list&response_type=code`;
  const code = (await authorize(dialog("f1"))).searchParams.get("code")!;
  const graph = `${sandbox.url}/graph/v21.0`;
  const exchange = (fields: Record<string, string>) =>
    fetch(`${graph}/oauth/access_token?${form(fields)}`);
  const wrongSecret = await exchange({
    client_id: c.facebookAppId,
    redirect_uri: `${redirect}/facebook`,
    client_secret: "nope",
    code,
  });
  assert.equal(wrongSecret.status, 400);
  await wrongSecret.body?.cancel();
  const short = await (await exchange({
    client_id: c.facebookAppId,
    redirect_uri: `${redirect}/facebook`,
    client_secret: c.facebookAppSecret,
    code,
  })).json();
  assert.equal(short.token_type, "bearer");
  const long = await (await exchange({
    grant_type: "fb_exchange_token",
    client_id: c.facebookAppId,
    client_secret: c.facebookAppSecret,
    fb_exchange_token: short.access_token,
  })).json();
  assert.equal(long.expires_in, 5_183_944);
  const headers = { authorization: `Bearer ${long.access_token}` };
  assert.equal((await (await fetch(`${graph}/me`, { headers })).json()).name, "Py360 Renewals");
  const permissions = await (await fetch(`${graph}/me/permissions`, { headers })).json();
  assert.deepEqual(permissions.data.map((p: { permission: string }) => p.permission), [
    "public_profile",
    "pages_show_list",
  ]);
  assert.deepEqual(
    await (await fetch(`${graph}/me/permissions`, { method: "DELETE", headers })).json(),
    {
      success: true,
    },
  );
  const revoked = await (await fetch(`${graph}/me`, { headers })).json();
  assert.equal(revoked.error.code, 190);

  const late = (await authorize(dialog("f2"))).searchParams.get("code")!;
  await fetch(`${sandbox.url}/_control/social/advance`, {
    method: "POST",
    body: JSON.stringify({ seconds: 61 }),
  }).then((r) => r.body?.cancel());
  const expired = await (await exchange({
    client_id: c.facebookAppId,
    redirect_uri: `${redirect}/facebook`,
    client_secret: c.facebookAppSecret,
    code: late,
  })).json();
  assert.equal(expired.error.error_subcode, 36007);
});

Deno.test("sandbox linkedin: client credentials in the form; fail-next answers once", async () => {
  await fetch(`${sandbox.url}/_control/social/reset`, { method: "POST" }).then((r) =>
    r.body?.cancel()
  );
  const code = async () =>
    (await authorize(
      `${sandbox.url}/linkedin/oauth/v2/authorization?response_type=code&client_id=${c.linkedinClientId}` +
        `&redirect_uri=${
          encodeURIComponent(`${redirect}/linkedin`)
        }&state=l1&scope=openid%20profile`,
    )).searchParams.get("code")!;
  const token = (fields: Record<string, string>) =>
    fetch(`${sandbox.url}/linkedin/oauth/v2/accessToken`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form(fields),
    });
  const fields = async () => ({
    grant_type: "authorization_code",
    code: await code(),
    redirect_uri: `${redirect}/linkedin`,
    client_id: c.linkedinClientId,
    client_secret: c.linkedinClientSecret,
  });
  const badClient = await token({ ...await fields(), client_secret: "nope" });
  assert.equal(badClient.status, 401);
  await badClient.body?.cancel();
  const fail = await fetch(`${sandbox.url}/_control/social/fail-next`, {
    method: "POST",
    body: JSON.stringify({ platform: "linkedin", status: 500 }),
  });
  assert.equal(fail.status, 200);
  await fail.body?.cancel();
  const failed = await token(await fields());
  assert.equal(failed.status, 500);
  assert.equal((await failed.json()).error, "server_error");
  const ok = await (await token(await fields())).json();
  assert.deepEqual([ok.expires_in, ok.scope], [5_184_000, "openid,profile"]);
  const me = await (await fetch(`${sandbox.url}/linkedin/v2/userinfo`, {
    headers: { authorization: `Bearer ${ok.access_token}` },
  })).json();
  assert.equal(me.sub, "782bbtaQ");
});

Deno.test("sandbox social: close", async () => {
  await sandbox.close();
});
