// The OpenAPI gate of `npm test`: the document the `api` function really serves (written by
// scripts/openapi.ts, which imports functions/api/app.ts), linted by the pinned Redocly CLI with
// the rules in redocly.yaml. Errors fail; warnings pass only for rules redocly.yaml justifies.
import { configVariables } from "../../functions/_shared/config.ts";
import { projectRoot, tryRun } from "./run.ts";

/** The gate's verdict: exit code 0 when the document has no errors, and the report. */
export interface LintResult {
  code: number;
  output: string;
}

/** The served OpenAPI document, as scripts/openapi.ts writes it to `file`. */
export async function writeOpenApiDocument(file: string): Promise<LintResult> {
  const written = await tryRun(Deno.execPath(), ["run", "-A", "scripts/openapi.ts", file], {
    env: { ...ownEnv(), NO_COLOR: "1", LOG_LEVEL: "error" },
  });
  return { code: written.code, output: written.stdout + written.stderr };
}

/** `redocly lint --config redocly.yaml` over an OpenAPI file, offline (telemetry off). */
export async function lintOpenApiFile(file: string): Promise<LintResult> {
  const lint = await tryRun(`${projectRoot}/node_modules/.bin/redocly`, [
    "lint",
    file,
    "--config",
    `${projectRoot}/redocly.yaml`,
    "--format",
    "stylish",
  ], {
    env: {
      ...ownEnv(),
      NO_COLOR: "1",
      REDOCLY_TELEMETRY: "off",
      REDOCLY_SUPPRESS_UPDATE_NOTICE: "true",
    },
  });
  return { code: lint.code, output: lint.stdout + lint.stderr };
}

/** The gate: writes the served document to a temporary file and lints it. */
export async function lintOpenApiDocument(): Promise<LintResult> {
  const folder = await Deno.makeTempDir({ prefix: "py360-openapi-" });
  try {
    const document = `${folder}/openapi.json`;
    const written = await writeOpenApiDocument(document);
    if (written.code !== 0) {
      return {
        code: written.code,
        output: `scripts/openapi.ts could not write the document:\n${written.output}`,
      };
    }
    return await lintOpenApiFile(document);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

/** The machine's environment, less anything the functions would read from it. */
function ownEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !configVariables.includes(name)),
  );
}
