// `deno run -A scripts/openapi.ts [file]`: writes the OpenAPI document the `api` function serves
// at /api/openapi.json (to stdout without a file), e.g. for `redocly lint` or openapi-typescript.
// Building the document reads no database; a database URL is only set so the config parses.
if (!Deno.env.get("FUNCTIONS_DB_URL")) {
  Deno.env.set("FUNCTIONS_DB_URL", "postgresql://unused@127.0.0.1:9/unused");
}
Deno.env.set("LOG_LEVEL", Deno.env.get("LOG_LEVEL") ?? "error");

const { default: app } = await import("../functions/api/app.ts");
const response = await app.request("/api/openapi.json");
if (response.status !== 200) {
  console.error(`GET /api/openapi.json answered ${response.status}: ${await response.text()}`);
  Deno.exit(1);
}
const text = `${JSON.stringify(await response.json(), null, 2)}\n`;
if (Deno.args[0]) await Deno.writeTextFile(Deno.args[0], text);
else await Deno.stdout.write(new TextEncoder().encode(text));
