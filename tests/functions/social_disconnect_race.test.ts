// A disconnection or a reconnection while a token refresh waits on X (issue 12 review): the
// refresh never brings a disconnected connection back, never overwrites a newer connection's
// tokens, and leaves no live token at X that nothing holds. A proxy in front of the sandbox's X
// holds the refresh's answer until the test lets it go, so the order is the test's, not timing's.
import assert from "node:assert/strict";
import { asService } from "../../functions/_shared/db.ts";
import { config } from "../../functions/_shared/config.ts";
import { refreshDueConnections, storedTokens } from "../../functions/_shared/social/connections.ts";
import type { IssuedToken } from "../../sandbox/mod.ts";
import { adminSql, api, dbTest, expectJson } from "./_helpers.ts";
import { startSocialDesk, storedCounts } from "./_social.ts";

const desk = await startSocialDesk();
const upstream = Deno.env.get("X_API_BASE_URL")!;

/** The refresh's request to X: `reached` when X has answered it, held until `release()`. */
let gate = newGate();
function newGate() {
  let reached!: () => void;
  let release!: () => void;
  return {
    reached: new Promise<void>((resolve) => (reached = resolve)),
    onReach: () => reached(),
    released: new Promise<void>((resolve) => (release = resolve)),
    release: () => release(),
  };
}

const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const url = new URL(req.url);
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
  const text = body ? new TextDecoder().decode(body) : "";
  const answer = await fetch(upstream + url.pathname + url.search, {
    method: req.method,
    headers: req.headers,
    body,
  });
  const out = new Uint8Array(await answer.arrayBuffer());
  if (url.pathname.endsWith("/2/oauth2/token") && text.includes("grant_type=refresh_token")) {
    gate.onReach();
    await gate.released;
  }
  return new Response(out, { status: answer.status, headers: answer.headers });
});
Deno.env.set("X_API_BASE_URL", `http://127.0.0.1:${proxy.addr.port}`);

const xTokens = async () => (await desk.issued()).filter((t) => t.platform === "x");
const minus = (all: IssuedToken[], seen: IssuedToken[]) =>
  all.filter((t) => !seen.some((s) => s.token === t.token));
const refreshX = () => refreshDueConnections({ platform: "x", withinSeconds: 90 * 86_400 });

/** Resolves once `work` settles or a session waits on an advisory lock, whichever is first. */
async function settledOrWaiting(work: Promise<unknown>): Promise<"settled" | "waiting"> {
  let settled = false;
  work.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 400; i++) {
    if (settled) return "settled";
    const [{ waiting }] = await adminSql()<{ waiting: boolean }[]>`
      select exists (select 1 from pg_locks where locktype = 'advisory' and not granted) as waiting`;
    if (waiting) return "waiting";
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("neither settled nor waiting");
}

dbTest(
  "a disconnection during a refresh waits for it, then revokes and deletes what it stored",
  async () => {
    assert.equal(config().X_API_BASE_URL, `http://127.0.0.1:${proxy.addr.port}`);
    await desk.fresh();
    await desk.connectFully("x");
    const first = await xTokens();
    gate = newGate();
    const refreshing = refreshX();
    await gate.reached;
    const refreshed = minus(await xTokens(), first);
    assert.equal(refreshed.length, 2, "X issued the refresh's access and refresh tokens");
    const deleting = api("/integrations/social-media/x", { token: desk.admin, method: "DELETE" });
    // The disconnection waits for the refresh's lock rather than finishing under it.
    assert.equal(await settledOrWaiting(deleting), "waiting");
    gate.release();
    const [results, deleted] = await Promise.all([refreshing, deleting]);
    assert.deepEqual(results.map((r) => r.outcome), ["refreshed"]);
    const answer = await expectJson(deleted, 200);
    assert.equal(answer.connection.status, "disconnected");
    assert.equal(answer.revoked, true);
    const [row] =
      await adminSql()`select status from public.social_connections where platform = 'x'`;
    assert.equal(row.status, "disconnected");
    assert.deepEqual(await storedCounts("x"), { connections: 1, tokens: 0 });
    const now = await xTokens();
    for (const t of refreshed) {
      assert.equal(now.find((n) => n.token === t.token)?.revoked, true, `new ${t.kind} revoked`);
    }
    // The first refresh token was spent by the rotation (the first access token lives to its
    // expiry, as after any refresh).
    const firstRefresh = first.find((t) => t.kind === "refresh")!;
    assert.equal(now.find((n) => n.token === firstRefresh.token)?.rotated, true);
    const status = await expectJson(
      await api("/integrations/social-media/status", { token: desk.admin }),
      200,
    );
    const x = status.data.find((r: { platform: string }) => r.platform === "x");
    assert.equal(x.status, "disconnected");
  },
);

dbTest(
  "a reconnection during a refresh keeps the new connection's tokens; the refresh's are revoked",
  async () => {
    await desk.fresh();
    await desk.connectFully("x");
    const first = await xTokens();
    gate = newGate();
    const refreshing = refreshX();
    await gate.reached;
    const refreshed = minus(await xTokens(), first);
    assert.equal(refreshed.length, 2, "X issued the refresh's access and refresh tokens");
    const [before] =
      await adminSql()`select connected_at from public.social_connections where platform = 'x'`;
    // The admin connects X again (the callback does not wait for the refresh).
    await desk.connectFully("x");
    const second = minus(await xTokens(), [...first, ...refreshed]);
    assert.equal(second.length, 2);
    gate.release();
    const [result] = await refreshing;
    assert.equal(result.outcome, "superseded");
    assert.equal(result.revoked, true);
    const stored = await asService((tx) => storedTokens(tx, "x"));
    const secondAccess = second.find((t) => t.kind === "access")!;
    const secondRefresh = second.find((t) => t.kind === "refresh")!;
    assert.equal(stored?.accessToken, secondAccess.token, "the reconnection's access token stays");
    assert.equal(stored?.refreshToken, secondRefresh.token);
    const now = await xTokens();
    for (const t of refreshed) {
      assert.equal(
        now.find((n) => n.token === t.token)?.revoked,
        true,
        `refreshed ${t.kind} revoked`,
      );
    }
    for (const t of second) {
      assert.equal(now.find((n) => n.token === t.token)?.revoked, false, `new ${t.kind} live`);
    }
    const [after] = await adminSql()`
    select status, connected_at from public.social_connections where platform = 'x'`;
    assert.equal(after.status, "connected");
    assert.ok(after.connected_at > before.connected_at, "the reconnection's connection");
  },
);

dbTest("refreshed tokens are never saved on a disconnected connection", async () => {
  await desk.fresh();
  await desk.connectFully("x");
  const [row] =
    await adminSql()`select connected_at::text from public.social_connections where platform = 'x'`;
  await adminSql()`select private.disconnect_social('x')`;
  const saved = await adminSql()`
    select * from private.save_refreshed_social_tokens('x', ${row.connected_at}::text::timestamptz, null, now() + interval '2 hours',
             null, '{"access_token": "AAAA"}'::jsonb, 'k1')`;
  assert.equal(saved.length, 0, "refused: no row");
  assert.deepEqual(await storedCounts("x"), { connections: 1, tokens: 0 });
  const [after] =
    await adminSql()`select status from public.social_connections where platform = 'x'`;
  assert.equal(after.status, "disconnected");
});

dbTest(
  "refreshed tokens are saved on the connection they were refreshed for, connected again",
  async () => {
    await desk.fresh();
    await desk.connectFully("x");
    await adminSql()`select private.record_social_error('x', 'a refresh failed')`;
    const [row] =
      await adminSql()`select connected_at::text from public.social_connections where platform = 'x'`;
    const other = await adminSql()`
    select * from private.save_refreshed_social_tokens('x', ${row.connected_at}::text::timestamptz - interval '1 second',
             null, null, null, '{"access_token": "AAAA"}'::jsonb, 'k1')`;
    assert.equal(other.length, 0, "another connected_at: refused");
    const saved = await adminSql()`
    select status, last_error from private.save_refreshed_social_tokens('x', ${row.connected_at}::text::timestamptz, null,
             now() + interval '2 hours', null, '{"access_token": "AAAA"}'::jsonb, 'k1')`;
    assert.deepEqual(saved.map((r) => ({ ...r })), [{ status: "connected", last_error: null }]);
    const [tokens] =
      await adminSql()`select encode(access_token, 'base64') as a, key_id from private.social_tokens where platform = 'x'`;
    assert.deepEqual({ ...tokens }, { a: "AAAA", key_id: "k1" });
  },
);

dbTest("cleanup", async () => {
  await proxy.shutdown();
  await desk.close();
});
