// The one SQLSTATE table and the one problem+json factory: every PY code a migration raises is
// mapped (and described in errors.ts's comment with the same status), and every error answer of
// the app and the gateway is shaped by problemResponse().
import assert from "node:assert/strict";
import {
  problemContentType,
  ProblemError,
  problemResponse,
  sqlStates,
} from "../../functions/_shared/errors.ts";
import { createApp } from "../../functions/_shared/app.ts";
import { api } from "./_helpers.ts";
import { gatewayHandler } from "../../scripts/gateway.ts";

const root = new URL("../../", import.meta.url);

/** Every `errcode = 'PYnnn'` in migrations/*.sql, with the files raising it. */
async function raisedCodes(): Promise<Map<string, string[]>> {
  const codes = new Map<string, string[]>();
  for await (const entry of Deno.readDir(new URL("migrations/", root))) {
    if (!entry.name.endsWith(".sql")) continue;
    const text = await Deno.readTextFile(new URL(`migrations/${entry.name}`, root));
    for (const match of text.matchAll(/errcode\s*=\s*'(PY\d{3})'/gi)) {
      codes.set(match[1], [...(codes.get(match[1]) ?? []), entry.name]);
    }
  }
  return codes;
}

Deno.test("errors: every PY SQLSTATE raised in migrations/ is mapped to a status", async () => {
  const raised = await raisedCodes();
  assert.ok(raised.size >= 4, "the migrations raise domain errors");
  const unmapped = [...raised.keys()].filter((code) => !(code in sqlStates));
  assert.deepEqual(unmapped, [], "add these to sqlStates in functions/_shared/errors.ts");
});

Deno.test("errors: the contracts' statuses, and the comment table says the same", async () => {
  const contract: Record<string, number> = {
    PY001: 422,
    PY002: 409,
    PY003: 403,
    PY004: 409,
    PY005: 409,
    PY006: 409,
    PY007: 409,
    PY008: 422,
    PY009: 422,
    PY010: 409,
    PY011: 422,
    PY012: 409,
    PY013: 409,
    PY014: 409,
  };
  const mapped = Object.fromEntries(
    Object.entries(sqlStates).filter(([code]) => code.startsWith("PY"))
      .map(([code, { status }]) => [code, status]),
  );
  assert.deepEqual(mapped, contract);
  const source = await Deno.readTextFile(new URL("functions/_shared/errors.ts", root));
  const comment = source.slice(
    source.indexOf("SQLSTATE → HTTP status"),
    source.indexOf("*/", source.indexOf("SQLSTATE → HTTP status")),
  );
  const described = Object.fromEntries(
    [...comment.matchAll(/(PY\d{3})[^→]*→\s*(\d{3})/g)].map((m) => [m[1], Number(m[2])]),
  );
  assert.deepEqual(described, contract, "the comment in errors.ts matches the table");
});

Deno.test("errors: problemResponse is RFC 9457 with the status's reason phrase", async () => {
  const response = problemResponse(409, {
    detail: "taken",
    instance: "/x",
    extensions: { code: "23505" },
  });
  assert.equal(response.status, 409);
  assert.equal(response.headers.get("content-type"), problemContentType);
  assert.deepEqual(await response.json(), {
    type: "about:blank",
    title: "Conflict",
    status: 409,
    detail: "taken",
    instance: "/x",
    code: "23505",
  });
  const thrown = new ProblemError(401, "Unauthorized", "Sign in.", {}, {
    "www-authenticate": "Bearer",
  })
    .toResponse("/y");
  assert.equal(thrown.headers.get("www-authenticate"), "Bearer");
  assert.deepEqual(await thrown.json(), {
    type: "about:blank",
    title: "Unauthorized",
    status: 401,
    detail: "Sign in.",
    instance: "/y",
  });
});

Deno.test("errors: the app's and the gateway's unknown routes are the same kind of problem", async () => {
  const app = await api("/no-such-route");
  const gateway = await gatewayHandler(new Map())(
    new Request("http://127.0.0.1/functions/v1/nothing/here"),
  );
  for (
    const [response, detail, instance] of [
      [app, "No route for GET /api/no-such-route.", "/api/no-such-route"],
      [gateway, "No function serves /functions/v1/nothing/here.", "/functions/v1/nothing/here"],
    ] as const
  ) {
    assert.equal(response.status, 404);
    assert.equal(response.headers.get("content-type"), problemContentType);
    assert.deepEqual(await response.json(), {
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail,
      instance,
    });
  }
});

Deno.test("errors: an unreachable database is a 503 with Retry-After, a bug a 500", async () => {
  const app = createApp("errors-test");
  const failing: Record<string, Error> = {
    refused: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
    }),
    closed: Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" }),
    shutdown: Object.assign(new Error("terminating connection due to administrator command"), {
      name: "PostgresError",
      code: "57P01",
    }),
    bug: Object.assign(new Error("column x does not exist"), {
      name: "PostgresError",
      code: "42703",
    }),
  };
  app.get("/fail/:kind", (c) => {
    throw failing[c.req.param("kind")];
  });
  const statuses: Record<string, [number, string | null]> = {};
  for (const kind of Object.keys(failing)) {
    const response = await app.request(`/errors-test/fail/${kind}`);
    assert.equal(response.headers.get("content-type"), problemContentType);
    const problem = await response.json();
    assert.equal(problem.status, response.status);
    assert.ok(!JSON.stringify(problem).includes("127.0.0.1"), "no connection details leak");
    statuses[kind] = [response.status, response.headers.get("retry-after")];
  }
  assert.deepEqual(statuses, {
    refused: [503, "5"],
    closed: [503, "5"],
    shutdown: [503, "5"],
    bug: [500, null],
  });
});
