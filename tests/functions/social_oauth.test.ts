// Social OAuth end to end through the sandbox (issue 12): connect → the platform's consent →
// the oauth function's callback → status, for Facebook, X and LinkedIn; what is refused (a wrong,
// reused or expired state, a missing PKCE verifier, an expired code) stores nothing; tokens at
// rest are ciphertexts only; refresh, disconnect (revoked at the platform, tokens deleted).
import assert from "node:assert/strict";
import { decryptToken, importTokenKey } from "../../functions/_shared/social/crypto.ts";
import { rekeyStaleTokens } from "../../functions/_shared/social/rekey.ts";
import oauthApp from "../../functions/oauth/app.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, localApiKeys } from "./_helpers.ts";
import {
  assertNoToken,
  publicFunctionsUrl,
  startSocialDesk,
  storedCounts,
  storedRow,
  testKey,
} from "./_social.ts";

const desk = await startSocialDesk();

function statusOf(body: { data: Record<string, unknown>[] }, platform: string) {
  const row = body.data.find((r) => r.platform === platform);
  assert.ok(row, `status lists ${platform}`);
  return row;
}

async function tokenCalls(platform: string): Promise<number> {
  const calls = await (await fetch(`${desk.sandbox.url}/_inspect/social/calls`)).json() as {
    platform: string;
    endpoint: string;
  }[];
  return calls.filter((c) =>
    c.platform === platform && /oauth2\/token|accessToken|oauth\/access_token/.test(c.endpoint)
  ).length;
}

for (
  const [platform, account, scopes, lifetime] of [
    [
      "facebook",
      "Py360 Renewals",
      ["public_profile", "pages_show_list", "pages_messaging"],
      5_183_944,
    ],
    ["x", "@py360_renewals", ["tweet.read", "tweet.write", "users.read", "offline.access"], 7200],
    ["linkedin", "Py360 Renewals", ["openid", "profile", "email", "w_member_social"], 5_184_000],
  ] as const
) {
  dbTest(
    `social ${platform}: connect, consent, callback → connected with account, scopes and expiry; no token in any answer`,
    async () => {
      await desk.fresh();
      const connectResponse = await desk.connect(platform);
      const connectText = await connectResponse.clone().text();
      const started = await expectJson(connectResponse, 200);
      const url = new URL(started.authorization_url);
      assert.equal(
        url.searchParams.get("redirect_uri"),
        `${publicFunctionsUrl}/oauth/callback/${platform}`,
      );
      assert.ok((url.searchParams.get("state") ?? "").length >= 43, "state of 256 bits");
      assert.equal(url.searchParams.has("code_challenge"), platform === "x", "PKCE for X only");
      assert.ok(
        Date.parse(started.expires_at) > Date.now() + 9 * 60_000,
        "about 10 minutes to finish",
      );

      const query = await desk.authorize(started.authorization_url);
      const callback = await desk.callback(platform, query);
      const callbackText = await callback.clone().text();
      const connected = await expectJson(callback, 200);
      assert.equal(connected.status, "connected");
      assert.equal(connected.account_name, account);

      const statusResponse = await api("/integrations/social-media/status", { token: desk.admin });
      const statusText = await statusResponse.clone().text();
      const row = statusOf(await expectJson(statusResponse, 200), platform);
      assert.equal(row.status, "connected");
      assert.equal(row.account_name, account);
      assert.deepEqual([...(row.scopes as string[])].sort(), [...scopes].sort());
      const expiresIn = (Date.parse(row.expires_at as string) - Date.now()) / 1000;
      assert.ok(
        Math.abs(expiresIn - lifetime) < 120,
        `expiry about ${lifetime}s ahead (${expiresIn})`,
      );
      assert.equal(row.last_error, null);

      const [stored] = await adminSql()`
      select connected_by from public.social_connections where platform = ${platform}`;
      const [adminUser] =
        await adminSql()`select id from auth.users where email = 'admin@py360.test'`;
      assert.equal(stored.connected_by, adminUser.id, "the admin who started it");
      const issued = (await desk.issued()).filter((t) => t.platform === platform);
      assert.ok(issued.length >= 1, "the sandbox issued tokens");
      for (
        const [what, text] of [["connect", connectText], ["callback", callbackText], [
          "status",
          statusText,
        ]]
      ) {
        await assertNoToken(desk, text, what);
      }
    },
  );
}

dbTest("social: tokens at rest are ciphertexts that only the key opens", async () => {
  await desk.fresh();
  await desk.connectFully("x");
  const live = (await desk.issued()).filter((t) => t.platform === "x" && !t.rotated);
  const access = live.find((t) => t.kind === "access")!;
  const refresh = live.find((t) => t.kind === "refresh")!;
  const row = await storedRow("x");
  const bytes = (b: Uint8Array | null) => new TextDecoder("latin1").decode(b ?? new Uint8Array());
  assert.ok(!bytes(row.access_token).includes(access.token), "no access token in the bytes");
  assert.ok(!bytes(row.refresh_token).includes(refresh.token), "no refresh token in the bytes");
  const b64 = (b: Uint8Array | null) => btoa(String.fromCharCode(...(b ?? [])));
  assert.ok(!b64(row.access_token).includes(access.token));
  const right = { current: await importTokenKey(testKey) };
  assert.equal(right.current.id, row.key_id, "stored with the current key's id");
  assert.equal(
    await decryptToken("x", "access_token", b64(row.access_token), row.key_id, right),
    access.token,
  );
  const wrong = {
    current: { id: row.key_id, key: (await importTokenKey(btoa("w".repeat(32)))).key },
  };
  await assert.rejects(decryptToken("x", "access_token", b64(row.access_token), row.key_id, wrong));
  await assert.rejects(
    decryptToken("x", "refresh_token", b64(row.access_token), row.key_id, right),
    "an access token does not pass for a refresh token",
  );
});

dbTest(
  "social: after a key rotation, the refresh job re-encrypts what is under the previous key",
  async () => {
    await desk.fresh();
    await desk.connectFully("x");
    const access = (await desk.issued()).find((t) => t.platform === "x" && t.kind === "access")!;
    const old = await importTokenKey(testKey);
    const rotated = {
      current: await importTokenKey(btoa("rotated-key-0123456789abcdefghij")),
      previous: old,
    };
    // A key the rotation does not hold: reported, nothing changed.
    const stranger = { current: await importTokenKey(btoa("z".repeat(32))) };
    assert.deepEqual(await rekeyStaleTokens(stranger), [{ platform: "x", outcome: "unknown_key" }]);
    assert.equal((await storedRow("x")).key_id, old.id);

    assert.deepEqual(await rekeyStaleTokens(rotated), [{ platform: "x", outcome: "rekeyed" }]);
    const row = await storedRow("x");
    assert.equal(row.key_id, rotated.current.id);
    const b64 = btoa(String.fromCharCode(...row.access_token!));
    assert.equal(await decryptToken("x", "access_token", b64, row.key_id, rotated), access.token);
    await assert.rejects(decryptToken("x", "access_token", b64, old.id, { current: old }));
    assert.deepEqual(await rekeyStaleTokens(rotated), [], "nothing left under the previous key");
    const [conn] =
      await adminSql()`select status, last_error from public.social_connections where platform = 'x'`;
    assert.deepEqual(
      { ...conn },
      { status: "connected", last_error: null },
      "the connection untouched",
    );
  },
);

dbTest("social: a wrong state is refused and nothing is exchanged or stored", async () => {
  await desk.fresh();
  const started = await expectJson(await desk.connect("linkedin"), 200);
  const query = await desk.authorize(started.authorization_url);
  const calls = await tokenCalls("linkedin");
  const forged = new URLSearchParams(query);
  forged.set("state", "A".repeat(43));
  const problem = await expectProblem(await desk.callback("linkedin", forged), 400);
  assert.equal(problem.code, "invalid_state");
  assert.equal(await tokenCalls("linkedin"), calls, "the code was not exchanged");
  assert.deepEqual(await storedCounts("linkedin"), { connections: 0, tokens: 0 });
  // The state of one platform does not complete another's.
  await expectProblem(await desk.callback("facebook", query), 400);
  assert.deepEqual(await storedCounts("facebook"), { connections: 0, tokens: 0 });
  // And the genuine one still works once; a browser gets a short page naming the account.
  const page = await oauthApp.request(`/oauth/callback/linkedin?${query}`, {
    headers: { accept: "text/html,application/xhtml+xml" },
  });
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  const html = await page.text();
  assert.match(html, /linkedin is connected as Py360 Renewals/);
  await assertNoToken(desk, html, "the callback page");
});

dbTest("social: a reused state is refused (the first use stored the connection once)", async () => {
  await desk.fresh();
  const started = await expectJson(await desk.connect("facebook"), 200);
  const query = await desk.authorize(started.authorization_url);
  await expectJson(await desk.callback("facebook", query), 200);
  const before = await storedRow("facebook");
  const calls = await tokenCalls("facebook");
  const again = await expectProblem(await desk.callback("facebook", query), 400);
  assert.equal(again.code, "invalid_state");
  assert.equal(await tokenCalls("facebook"), calls);
  assert.deepEqual(await storedRow("facebook"), before, "the stored tokens unchanged");
});

dbTest("social: an expired state is refused, nothing stored", async () => {
  await desk.fresh();
  const started = await expectJson(await desk.connect("x"), 200);
  const query = await desk.authorize(started.authorization_url);
  await adminSql()`update private.oauth_states set expires_at = now() - interval '1 second'`;
  const problem = await expectProblem(await desk.callback("x", query), 400);
  assert.equal(problem.code, "invalid_state");
  assert.deepEqual(await storedCounts("x"), { connections: 0, tokens: 0 });
});

dbTest("social x: a missing or wrong PKCE verifier is refused, nothing stored", async () => {
  await desk.fresh();
  // The verifier gone from the state: refused before any exchange.
  let started = await expectJson(await desk.connect("x"), 200);
  let query = await desk.authorize(started.authorization_url);
  await adminSql()`update private.oauth_states set code_verifier = null where used_at is null`;
  const calls = await tokenCalls("x");
  await expectProblem(await desk.callback("x", query), 400);
  assert.equal(await tokenCalls("x"), calls, "no token call without a verifier");
  assert.deepEqual(await storedCounts("x"), { connections: 0, tokens: 0 });

  // X itself refuses a token call without code_verifier ...
  const basic = `Basic ${
    btoa(`${desk.sandbox.credentials.xClientId}:${desk.sandbox.credentials.xClientSecret}`)
  }`;
  started = await expectJson(await desk.connect("x"), 200);
  query = await desk.authorize(started.authorization_url);
  const bare = await fetch(`${desk.sandbox.url}/x/2/oauth2/token`, {
    method: "POST",
    headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: query.get("code")!,
      redirect_uri: `${publicFunctionsUrl}/oauth/callback/x`,
      client_id: desk.sandbox.credentials.xClientId,
    }),
  });
  assert.equal(bare.status, 400);
  assert.match((await bare.json()).error_description, /code_verifier/);
  // ... and one whose verifier does not match the challenge (another state's verifier swapped in).
  const other = await expectJson(await desk.connect("x"), 200);
  await adminSql()`
    update private.oauth_states s set code_verifier = o.code_verifier
      from private.oauth_states o
     where s.used_at is null and o.used_at is null and s.state_hash <> o.state_hash
       and s.created_at < o.created_at`;
  assert.ok(other.authorization_url);
  const refused = await expectProblem(await desk.callback("x", query), 400);
  assert.equal(refused.platform, "x");
  assert.deepEqual(await storedCounts("x"), { connections: 0, tokens: 0 });
});

dbTest("social: an expired code is refused by the platform, nothing stored", async () => {
  await desk.fresh();
  const started = await expectJson(await desk.connect("linkedin"), 200);
  const query = await desk.authorize(started.authorization_url);
  await desk.control("advance", { seconds: 61 });
  const problem = await expectProblem(await desk.callback("linkedin", query), 400);
  assert.equal(problem.code, "invalid_request");
  assert.deepEqual(await storedCounts("linkedin"), { connections: 0, tokens: 0 });
  // Facebook says so in its own words.
  const fb = await expectJson(await desk.connect("facebook"), 200);
  const fbQuery = await desk.authorize(fb.authorization_url);
  await desk.control("advance", { seconds: 61 });
  const fbProblem = await expectProblem(await desk.callback("facebook", fbQuery), 400);
  assert.match(fbProblem.detail, /OAuthException 100\/36007/);
  assert.deepEqual(await storedCounts("facebook"), { connections: 0, tokens: 0 });
});

dbTest("social: a declined consent is refused and spends the state", async () => {
  await desk.fresh();
  await desk.control("deny", { platform: "facebook" });
  const started = await expectJson(await desk.connect("facebook"), 200);
  const query = await desk.authorize(started.authorization_url);
  assert.equal(query.get("error"), "access_denied");
  const problem = await expectProblem(await desk.callback("facebook", query), 400);
  assert.equal(problem.code, "access_denied");
  const [{ used }] =
    await adminSql()`select count(*)::int as used from private.oauth_states where used_at is not null`;
  assert.equal(used, 1);
  assert.deepEqual(await storedCounts("facebook"), { connections: 0, tokens: 0 });
});

dbTest(
  "social x: refreshed before expiry (service_role only); the refresh token rotates",
  async () => {
    await desk.fresh();
    await desk.connectFully("x");
    const [before] =
      await adminSql()`select expires_at from public.social_connections where platform = 'x'`;
    const oldAccess = (await desk.issued()).find((t) => t.platform === "x" && t.kind === "access")!;
    const keys = await localApiKeys();
    const refresh = (token: string, body: unknown) =>
      oauthApp.request("/oauth/refresh", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await expectProblem(await refresh(desk.admin, {}), 403);
    // Not due: a 2-hour token is refreshed in its last 30 minutes.
    const idle = await expectJson(await refresh(keys.serviceRole, { platform: "x" }), 200);
    assert.deepEqual(idle.results.map((r: { outcome: string }) => r.outcome), ["not_due"]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const done = await expectJson(
      await refresh(keys.serviceRole, { platform: "x", within_seconds: 7200 }),
      200,
    );
    assert.equal(done.results[0].outcome, "refreshed");
    await assertNoToken(desk, JSON.stringify(done), "the refresh answer");
    const tokens = (await desk.issued()).filter((t) => t.platform === "x");
    assert.equal(
      tokens.filter((t) => t.kind === "refresh" && t.rotated).length,
      1,
      "old refresh token spent",
    );
    const newAccess = tokens.filter((t) => t.kind === "access").at(-1)!;
    assert.notEqual(newAccess.token, oldAccess.token);
    const row = await storedRow("x");
    const b64 = btoa(String.fromCharCode(...row.access_token!));
    const key = { current: await importTokenKey(testKey) };
    assert.equal(
      await decryptToken("x", "access_token", b64, row.key_id, key),
      newAccess.token,
      "the new token stored",
    );
    const [after] =
      await adminSql()`select expires_at, last_refreshed_at from public.social_connections where platform = 'x'`;
    assert.ok(after.expires_at >= before.expires_at);
  },
);

dbTest(
  "social: a refused refresh marks the connection error; LinkedIn asks for a reconnect",
  async () => {
    await desk.fresh();
    await desk.connectFully("x");
    await desk.connectFully("linkedin");
    await desk.control("fail-next", { platform: "x", status: 400, error: "invalid_grant" });
    const keys = await localApiKeys();
    const answer = await expectJson(
      await oauthApp.request("/oauth/refresh", {
        method: "POST",
        headers: { authorization: `Bearer ${keys.serviceRole}` },
        body: JSON.stringify({ within_seconds: 90 * 86_400 }),
      }),
      200,
    );
    const outcome = Object.fromEntries(
      answer.results.map((r: { platform: string; outcome: string }) => [r.platform, r.outcome]),
    );
    assert.deepEqual(outcome, { facebook: "not_due", x: "failed", linkedin: "reconnect_needed" });
    const status = await expectJson(
      await api("/integrations/social-media/status", { token: desk.admin }),
      200,
    );
    const x = statusOf(status, "x");
    assert.equal(x.status, "error");
    assert.match(x.last_error as string, /invalid_grant/);
    assert.ok(x.last_error_at);
    assert.match(statusOf(status, "linkedin").last_error as string, /reconnect/);
  },
);

for (const platform of ["x", "facebook", "linkedin"] as const) {
  dbTest(
    `social ${platform}: disconnect revokes at the platform and deletes the tokens`,
    async () => {
      await desk.fresh();
      await desk.connectFully(platform);
      const response = await api(`/integrations/social-media/${platform}`, {
        token: desk.admin,
        method: "DELETE",
      });
      const text = await response.clone().text();
      const body = await expectJson(response, 200);
      assert.equal(body.revoked, true);
      assert.equal(body.connection.status, "disconnected");
      assert.equal(body.connection.expires_at, null);
      await assertNoToken(desk, text, "the disconnect answer");
      const live = (await desk.issued()).filter((t) =>
        t.platform === platform && t.kind !== "short_lived" && !t.rotated
      );
      assert.ok(live.length > 0);
      assert.ok(live.every((t) => t.revoked), "every live token revoked at the platform");
      assert.deepEqual(await storedCounts(platform), { connections: 1, tokens: 0 });
    },
  );
}

dbTest(
  "social: a revoke the platform refuses is reported; the tokens are deleted anyway",
  async () => {
    await desk.fresh();
    await desk.connectFully("facebook");
    // The admin removed the app at Facebook meanwhile: the stored token is dead there.
    const long = (await desk.issued()).find((t) =>
      t.platform === "facebook" && t.kind === "access"
    )!;
    const removed = await fetch(`${desk.sandbox.url}/graph/v21.0/me/permissions`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${long.token}` },
    });
    assert.equal(removed.status, 200);
    await removed.body?.cancel();
    const body = await expectJson(
      await api("/integrations/social-media/facebook", { token: desk.admin, method: "DELETE" }),
      200,
    );
    assert.equal(body.revoked, false);
    assert.match(body.revoke_error, /facebook refused the revoke \(HTTP 400, OAuthException 190\)/);
    assert.equal(body.connection.status, "disconnected");
    assert.deepEqual(await storedCounts("facebook"), { connections: 1, tokens: 0 });
  },
);

dbTest("social: connect and disconnect are for admins; status for desk members", async () => {
  await desk.fresh();
  const agent = await (await import("./_helpers.ts")).tokenFor("arjun.agent@py360.test");
  const manager = await (await import("./_helpers.ts")).tokenFor("north.manager@py360.test");
  const analyst = await (await import("./_helpers.ts")).tokenFor("analyst@py360.test");
  for (const token of [agent, manager]) {
    await expectProblem(await desk.connect("x", token), 403);
    await expectProblem(
      await api("/integrations/social-media/x", { token, method: "DELETE" }),
      403,
    );
  }
  const [{ states }] = await adminSql()`select count(*)::int as states from private.oauth_states`;
  assert.equal(states, 0, "a refused connect makes no state");
  await expectProblem(await api("/integrations/social-media/status", {}), 401);
  await expectProblem(await api("/integrations/social-media/status", { token: analyst }), 403);
  const seen = await expectJson(
    await api("/integrations/social-media/status", { token: agent }),
    200,
  );
  assert.deepEqual(seen.data.map((r: { platform: string }) => r.platform), [
    "facebook",
    "x",
    "linkedin",
    "telegram",
    "wechat",
  ]);
  assert.equal(statusOf(seen, "x").status, "not_connected");
  assert.equal(statusOf(seen, "wechat").status, "not_implemented");
  await expectProblem(await desk.connect("myspace"), 422);
});

dbTest(
  "social wechat: every endpoint answers 501 naming what a regional implementation needs",
  async () => {
    const connect = await expectProblem(await desk.connect("wechat"), 501);
    assert.match(connect.detail, /regional implementation/);
    assert.match(connect.detail, /Official Account/);
    await expectProblem(
      await api("/integrations/social-media/wechat", { token: desk.admin, method: "DELETE" }),
      501,
    );
  },
);

dbTest("social: disconnecting a platform never connected is a 404", async () => {
  await desk.fresh();
  await expectProblem(
    await api("/integrations/social-media/linkedin", { token: desk.admin, method: "DELETE" }),
    404,
  );
});

dbTest("social: close the sandbox", async () => {
  await desk.close();
});
