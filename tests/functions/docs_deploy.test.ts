// `supabase functions deploy api` takes the API reference's script along: the pinned CLI uploads
// it (static_files in supabase/config.toml) at the path functions/api/docs/ reads it from. The
// CLI talks to a stand-in of Supabase's Management API on this machine, which keeps the upload.
import assert from "node:assert/strict";
import { bundleFile } from "../../functions/api/docs/index.ts";
import { projectRoot, tryRun } from "../../scripts/lib/run.ts";

interface Upload {
  metadata: {
    entrypoint_path: string;
    import_map_path?: string;
    static_patterns?: string[];
  };
  /** Uploaded file name (path from the project root) -> size in bytes. */
  files: Map<string, number>;
}

Deno.test({
  name: "docs deploy: the bundle is uploaded with the function, where the page reads it",
  sanitizeResources: false,
  fn: async () => {
    let upload: Upload | undefined;
    const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      const url = new URL(req.url);
      if (req.method === "POST" && url.pathname.endsWith("/functions/deploy")) {
        const form = await req.formData();
        const files = new Map<string, number>();
        for (const value of form.getAll("file")) {
          if (value instanceof File) files.set(value.name, value.size);
        }
        upload = { metadata: JSON.parse(String(form.get("metadata"))), files };
        return Response.json({ id: "1", slug: "api", name: "api", version: 1, status: "ACTIVE" }, {
          status: 201,
        });
      }
      if (req.method === "GET" && url.pathname.endsWith("/functions")) return Response.json([]);
      return Response.json({ message: "not part of this stand-in" }, { status: 404 });
    });
    const home = await Deno.makeTempDir({ prefix: "py360-deploy-" });
    try {
      const profile = `${home}/profile.yaml`;
      await Deno.writeTextFile(
        profile,
        [
          "name: local-stand-in",
          `api_url: http://127.0.0.1:${api.addr.port}`,
          `dashboard_url: http://127.0.0.1:${api.addr.port}/dashboard`,
          "project_host: localhost",
          "",
        ].join("\n"),
      );
      const deploy = await tryRun(`${projectRoot}/node_modules/.bin/supabase`, [
        "functions",
        "deploy",
        "api",
        "--project-ref",
        "abcdefghijklmnopqrst",
        "--use-api",
      ], {
        env: {
          PATH: Deno.env.get("PATH") ?? "",
          HOME: home,
          SUPABASE_PROFILE: profile,
          SUPABASE_ACCESS_TOKEN: `sbp_${"0".repeat(40)}`,
          DO_NOT_TRACK: "1",
          SUPABASE_TELEMETRY_DISABLED: "1",
        },
      });
      assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
      assert.ok(upload, "the CLI uploaded the function");

      assert.equal(upload.metadata.entrypoint_path, "functions/api/index.ts");
      assert.deepEqual(upload.metadata.static_patterns, [bundleFile]);
      const local = await Deno.stat(`${projectRoot}/${bundleFile}`);
      assert.equal(upload.files.get(bundleFile), local.size, "the whole bundle, at its path");
      assert.ok(upload.files.has("functions/api/docs/index.ts"), "with the module serving it");

      // The module reads `../../../<bundleFile>` relative to itself: the uploaded tree has it.
      const root = "file:///deployed/";
      const read = new URL(`../../../${bundleFile}`, `${root}functions/api/docs/index.ts`);
      assert.equal(read.href, `${root}${bundleFile}`);
    } finally {
      await api.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});
