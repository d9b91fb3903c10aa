// The OpenAPI lint gate (scripts/lib/openapi_lint.ts with redocly.yaml): the served document
// passes with only the justified warnings, and the defects the gate exists for fail it.
import assert from "node:assert/strict";
import {
  lintOpenApiDocument,
  lintOpenApiFile,
  writeOpenApiDocument,
} from "../../scripts/lib/openapi_lint.ts";

/** The rules named on `warning` and `error` lines of a stylish report. */
function rules(output: string, severity: "warning" | "error"): string[] {
  return [...output.matchAll(new RegExp(`^\\s+\\d+:\\d+\\s+${severity}\\s+(\\S+)`, "gm"))]
    .map((match) => match[1]);
}

Deno.test("openapi lint: the served document has no errors, only the justified warnings", async () => {
  const { code, output } = await lintOpenApiDocument();
  assert.equal(code, 0, output);
  assert.deepEqual(rules(output, "error"), []);
  assert.deepEqual(rules(output, "warning"), ["no-ambiguous-paths", "no-ambiguous-paths"], output);
  assert.match(output, /\/api\/hierarchy\/nodes\/\{id\}.*\/api\/hierarchy\/\{nodeId\}\/members/);
  assert.match(
    output,
    /\/api\/hierarchy\/nodes\/\{id\}.*\/api\/hierarchy\/\{nodeId\}\/performance/,
  );
});

Deno.test("openapi lint: no operationId, no security, no license fail the gate", async () => {
  const folder = await Deno.makeTempDir({ prefix: "py360-openapi-test-" });
  try {
    const file = `${folder}/openapi.json`;
    const written = await writeOpenApiDocument(file);
    assert.equal(written.code, 0, written.output);
    const document = JSON.parse(await Deno.readTextFile(file));
    const operations = Object.values(document.paths as Record<string, Record<string, unknown>>)
      .flatMap((methods) => Object.values(methods) as Record<string, unknown>[]);
    assert.ok(operations.length > 0);
    // As the document was when the issue was filed: none of the three anywhere.
    for (const operation of operations) {
      delete operation.operationId;
      delete operation.security;
    }
    delete document.info.license;
    await Deno.writeTextFile(file, JSON.stringify(document));

    const { code, output } = await lintOpenApiFile(file);
    assert.notEqual(code, 0, "the gate fails");
    const errors = new Set(rules(output, "error"));
    for (const rule of ["operation-operationId", "security-defined", "info-license"]) {
      assert.ok(errors.has(rule), `${rule} is an error:\n${output}`);
    }
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
