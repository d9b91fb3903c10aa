// The api app itself: health, the OpenAPI document, the docs page, unknown routes.
import assert from "node:assert/strict";
import { api, dbTest, expectJson, expectProblem, localApiKeys, tokenFor } from "./_helpers.ts";

const detailKeys = ["database", "messaging", "status", "vendors", "versions"];

dbTest("health: anonymous callers learn only that it is up", async () => {
  const response = await api("/health");
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.deepEqual(JSON.parse(text), { status: "ok" });
  for (const secret of ["openai", "twilio", "OPENAI_API_KEY", "server_version", "15."]) {
    assert.ok(!text.includes(secret), `anonymous health must not mention ${secret}`);
  }
});

dbTest("health: the anon key and a non-admin user's token get no more", async () => {
  const { anon } = await localApiKeys();
  for (const token of [anon, await tokenFor("cp.manager@py360.test")]) {
    const response = await api("/health", { token });
    assert.deepEqual(await expectJson(response, 200), { status: "ok" });
  }
});

dbTest("health: the service_role key gets the database and vendor detail", async () => {
  const { serviceRole } = await localApiKeys();
  const health = await expectJson(await api("/health", { token: serviceRole }), 200);
  assert.deepEqual(Object.keys(health).sort(), detailKeys);
  assert.equal(health.status, "ok");
  assert.equal(health.database.reachable, true);
  assert.equal(typeof health.database.latency_ms, "number");
  assert.match(health.database.server_version, /^15\./);
  assert.equal(health.versions.deno, Deno.version.deno);
  assert.equal(health.vendors.openai, "disabled: set OPENAI_API_KEY");
});

dbTest("health: an admin's token gets the detail too", async () => {
  const response = await api("/health", { token: await tokenFor("admin@py360.test") });
  const health = await expectJson(response, 200);
  assert.deepEqual(Object.keys(health).sort(), detailKeys);
  assert.match(health.database.server_version, /^15\./);
});

Deno.test("health: a bad token is a 401, not a quiet anonymous answer", async () => {
  await expectProblem(await api("/health", { token: "not.a-jwt" }), 401);
});

Deno.test("health: an unreachable database is a 503 problem", async () => {
  // A separate process, so its configuration can point at a port where nothing listens.
  const probe = `
    import app from "${new URL("../../functions/api/app.ts", import.meta.url)}";
    const res = await app.request("/api/health");
    console.log(JSON.stringify({ status: res.status, type: res.headers.get("content-type") }));
    Deno.exit(0);`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", probe],
    env: { FUNCTIONS_DB_URL: "postgresql://postgres:x@127.0.0.1:9/postgres", LOG_LEVEL: "error" },
    stdout: "piped",
    stderr: "null",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  assert.deepEqual(JSON.parse(lines.at(-1)!), { status: 503, type: "application/problem+json" });
});

Deno.test("openapi: the document lists the routes with their problem responses", async () => {
  const response = await api("/openapi.json");
  assert.equal(response.status, 200);
  const document = await response.json();
  assert.equal(document.openapi, "3.1.0");
  const health = document.paths["/api/health"].get;
  assert.equal(health.operationId, "getHealth");
  assert.deepEqual(health.security, [{}, { bearerAuth: [] }], "anonymous, or a bearer token");
  const me = document.paths["/api/me"].get;
  assert.deepEqual(me.security, [{ bearerAuth: [] }]);
  assert.ok(me.responses["401"].content["application/problem+json"]);
  assert.ok(document.components.schemas.Problem);
});

Deno.test("docs: an interactive page that loads the OpenAPI document", async () => {
  const response = await api("/docs");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/html/);
  assert.match(await response.text(), /openapi\.json/);
});

Deno.test("unknown routes are a 404 problem", async () => {
  const response = await api("/no-such-thing");
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal((await response.json()).detail, "No route for GET /api/no-such-thing.");
});
