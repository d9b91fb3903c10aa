// The functions gateway: Supabase's URL shape, verify_jwt, and supabase-js against it.
import assert from "node:assert/strict";
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";
import { gatewayHandler, gatewayTcpBacklog, serveGateway } from "../../scripts/gateway.ts";
import { dbTest, localApiKeys, tokenFor } from "./_helpers.ts";

dbTest("gateway: serves the api function under /functions/v1/api", async () => {
  const gateway = await serveGateway(0);
  try {
    assert.deepEqual(gateway.functions, [
      "api",
      "consent",
      "console",
      "dispatch",
      "go",
      "housekeeping",
      "oauth",
      "reconcile",
      "webhooks",
    ]);
    const base = `http://127.0.0.1:${gateway.port}/functions/v1`;
    const health = await fetch(`${base}/api/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" }, "anonymous: up, and nothing more");

    const unknown = await fetch(`${base}/nope/health`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get("content-type"), "application/problem+json");
    await unknown.body?.cancel();

    const preflight = await fetch(`${base}/api/me`, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:3000", "access-control-request-method": "GET" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    await preflight.body?.cancel();
  } finally {
    await gateway.shutdown();
  }
});

dbTest(
  "gateway: its socket queues 4096 connections (a vendor's burst of callbacks), not Deno's 511",
  async () => {
    // The kernel caps a listen queue at net.core.somaxconn; `ss` (iproute2) reads the queue's
    // size (Send-Q of a listening socket) from the kernel itself.
    const somaxconn = Number((await Deno.readTextFile("/proc/sys/net/core/somaxconn")).trim());
    const gateway = await serveGateway(0);
    try {
      const ss = await new Deno.Command("ss", { args: ["-ltnH", `sport = :${gateway.port}`] })
        .output();
      assert.equal(ss.code, 0, "ss (iproute2) lists the gateway's socket");
      const [state, , backlog] = new TextDecoder().decode(ss.stdout).trim().split(/\s+/);
      assert.equal(state, "LISTEN");
      assert.equal(gatewayTcpBacklog, 4096);
      assert.equal(Number(backlog), Math.min(4096, somaxconn));
      if (somaxconn > 511) assert.ok(Number(backlog) > 511, "more than Deno's default");
    } finally {
      await gateway.shutdown();
    }
  },
);

dbTest("gateway: supabase-js functions.invoke('api/me') works with a user's token", async () => {
  const gateway = await serveGateway(0);
  try {
    const { anon } = await localApiKeys();
    const supabase = createClient(`http://127.0.0.1:${gateway.port}`, anon, {
      auth: { persistSession: false, autoRefreshToken: false },
    });
    const token = await tokenFor("kavya.agent@py360.test");
    const { data, error } = await supabase.functions.invoke("api/me", {
      method: "GET",
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(error, null);
    assert.equal(data.email, "kavya.agent@py360.test");
    assert.equal(data.node.code, "BLR_KOR_ALL");

    const refused = await supabase.functions.invoke("api/me", { method: "GET" });
    assert.ok(refused.error instanceof FunctionsHttpError);
    assert.equal(refused.error.context.status, 401);
    await refused.error.context.body?.cancel();
  } finally {
    await gateway.shutdown();
  }
});

Deno.test("gateway: a function with verify_jwt is closed to requests without a valid JWT", async () => {
  const echo = {
    name: "echo",
    verifyJwt: true,
    fetch: (request: Request) => new Response(new URL(request.url).pathname),
  };
  const handle = gatewayHandler(new Map([["echo", echo]]));
  const url = "http://127.0.0.1/functions/v1/echo/hello?x=1";

  const missing = await handle(new Request(url));
  assert.equal(missing.status, 401);
  assert.equal((await missing.json()).detail, "Missing authorization header.");

  const forged = await handle(new Request(url, { headers: { authorization: "Bearer a.b.c" } }));
  assert.equal(forged.status, 401);
  await forged.body?.cancel();

  const { anon } = await localApiKeys();
  const allowed = await handle(new Request(url, { headers: { authorization: `Bearer ${anon}` } }));
  assert.equal(allowed.status, 200);
  assert.equal(await allowed.text(), "/echo/hello", "the function sees /<name>/... as on Supabase");
});
