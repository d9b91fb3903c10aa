// The OpenAPI document as a client generator and a linter read it: every operation named and
// secured, a license, and a description that names only what exists.
import assert from "node:assert/strict";
import packageJson from "../../package.json" with { type: "json" };
import { api } from "./_helpers.ts";

const methods = ["get", "put", "post", "delete", "patch"] as const;

interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}

async function operations(): Promise<{ key: string; path: string; operation: Operation }[]> {
  const document = await (await api("/openapi.json")).json();
  return Object.entries(document.paths as Record<string, Record<string, Operation>>).flatMap((
    [path, item],
  ) =>
    methods.filter((method) => item[method]).map((method) => ({
      key: `${method.toUpperCase()} ${path}`,
      path,
      operation: item[method],
    }))
  );
}

Deno.test("openapi: every operation has a unique camelCase operationId", async () => {
  const named = await operations();
  assert.ok(named.length >= 17, `${named.length} operations`);
  const missing = named.filter(({ operation }) => !operation.operationId).map(({ key }) => key);
  assert.deepEqual(missing, []);
  const ids = named.map(({ operation }) => operation.operationId!);
  for (const id of ids) assert.match(id, /^[a-z][a-zA-Z0-9]*$/, id);
  assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
  const byKey = Object.fromEntries(named.map(({ key, operation }) => [key, operation.operationId]));
  assert.equal(byKey["GET /api/cases"], "listCases");
  assert.equal(byKey["GET /api/cases/{id}"], "getCase");
  assert.equal(byKey["PATCH /api/cases/{id}"], "patchCase");
  assert.equal(
    byKey["PUT /api/cases/{caseId}/outstanding-amounts/{id}"],
    "settleOutstandingAmount",
  );
  assert.equal(byKey["PATCH /api/customers/{id}"], "patchCustomer");
});

Deno.test("openapi: each operation declares its security; signed-in ones answer 401", async () => {
  for (const { key, path, operation } of await operations()) {
    assert.ok(Array.isArray(operation.security), `${key} declares security`);
    if (path === "/api/health") continue; // public: the health helper's route
    assert.deepEqual(operation.security, [{ bearerAuth: [] }], key);
    assert.ok(operation.responses["401"], `${key} documents its 401`);
  }
});

Deno.test("openapi: a license, and a description naming only what exists", async () => {
  const document = await (await api("/openapi.json")).json();
  assert.equal(document.info.license.name, packageJson.license);
  assert.equal(document.info.license.identifier, "Apache-2.0");
  const description: string = document.info.description;
  for (const absent of ["payments", "analytics"]) {
    assert.ok(!description.toLowerCase().includes(absent), `the description names ${absent}`);
  }
  const tags = new Set(
    (await operations()).flatMap(({ operation }) => (operation as { tags?: string[] }).tags ?? []),
  );
  const named = ["Cases", "Customers", "Hierarchy", "Channels", "Messages", "Communications"];
  for (const tag of named.concat("Vendors", "Templates", "Campaigns")) {
    assert.ok(tags.has(tag), tag);
    assert.ok(description.toLowerCase().includes(tag.toLowerCase().replace(/s$/, "")), tag);
  }
  assert.ok(document.components.securitySchemes.bearerAuth);
});

Deno.test("openapi: shared components stay non-null; nullable uses say so where used", async () => {
  const document = await (await api("/openapi.json")).json();
  const nullable = Object.entries(document.components.schemas as Record<string, { type?: unknown }>)
    .filter(([, schema]) => Array.isArray(schema.type) && schema.type.includes("null"))
    .map(([name]) => name);
  assert.deepEqual(nullable, []);
  const customer = document.components.schemas.Customer.properties;
  assert.deepEqual(customer.preferred_channel, {
    anyOf: [{ $ref: "#/components/schemas/ChannelType" }, { type: "null" }],
  });
});
