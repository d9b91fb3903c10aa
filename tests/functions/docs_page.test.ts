// The API reference page in a real browser (Debian's Chromium, headless, driven by
// playwright-core) with no network but this machine: the page loads Scalar from the function
// itself and lists every operation of the OpenAPI document. A screenshot is kept for a person to
// look at; its path is printed.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { chromiumFlags, chromiumPath, isLocal } from "./_chromium.ts";
import { serveGateway } from "../../scripts/gateway.ts";
import { docsContentSecurityPolicy } from "../../functions/api/docs/index.ts";

Deno.test({
  name: "docs page: lists every operation offline, loading nothing from elsewhere",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const gateway = await serveGateway(0);
    const profile = await Deno.makeTempDir({ prefix: "py360-chromium-" });
    const shots = await Deno.makeTempDir({ prefix: "py360-docs-page-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1400, height: 900 },
    });
    try {
      const base = `http://127.0.0.1:${gateway.port}/functions/v1/api`;
      const document = await (await fetch(`${base}/openapi.json`)).json();
      const operations = Object.values(document.paths as Record<string, Record<string, unknown>>)
        .flatMap((methods) => Object.values(methods) as { summary?: string }[]);
      const summaries = operations.map((operation) => operation.summary ?? "");
      assert.ok(summaries.length >= 10, `the document has the API's operations (${summaries})`);
      assert.ok(summaries.every((summary) => summary.length > 0), "each has a summary to show");

      // Every request the page makes is seen here; anything not on this machine is refused.
      const elsewhere: string[] = [];
      const loaded: string[] = [];
      await context.route("**/*", (route) => {
        const url = new URL(route.request().url());
        if (isLocal(url)) {
          loaded.push(url.pathname);
          return route.continue();
        }
        elsewhere.push(url.href);
        return route.abort("internetdisconnected");
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(String(error)));

      const response = await page.goto(`${base}/docs`, { waitUntil: "load" });
      assert.equal(response?.status(), 200);
      assert.equal(response?.headers()["content-security-policy"], docsContentSecurityPolicy);
      await page.waitForFunction(
        (names: string[]) => names.every((name) => document.body.innerText.includes(name)),
        summaries,
        { timeout: 60_000 },
      ).catch(async (error) => {
        const text = await page.evaluate(() => document.body.innerText);
        const missing = summaries.filter((summary) => !text.includes(summary));
        await page.screenshot({ path: `${shots}/docs-failed.png` });
        throw new Error(`operations not listed: ${missing.join(", ")} (${shots})\n${error}`);
      });
      await page.screenshot({ path: `${shots}/docs.png` });
      console.log(`docs page screenshot: ${shots}/docs.png`);

      assert.deepEqual(elsewhere, [], "the page asked for nothing beyond this machine");
      assert.ok(
        loaded.some((path) => /\/api\/docs\/scalar-api-reference-[\d.]+\.js$/.test(path)),
        `Scalar came from the function itself: ${loaded.join(", ")}`,
      );
      assert.ok(loaded.includes("/functions/v1/api/openapi.json"), "and the document too");
      assert.deepEqual(errors, [], "no script errors or refused loads");
      const stat = await Deno.stat(`${shots}/docs.png`);
      assert.ok(stat.size > 10_000, "a screenshot with something on it");
    } finally {
      await context.close();
      await gateway.shutdown();
      await Deno.remove(profile, { recursive: true });
    }
  },
});

Deno.test("docs page: the bundle route serves the pinned package's standalone build", async () => {
  const gateway = await serveGateway(0);
  try {
    const base = `http://127.0.0.1:${gateway.port}/functions/v1/api`;
    const html = await (await fetch(`${base}/docs`)).text();
    const src = html.match(/<script src="\.(\/docs\/[^"]+\.js)"/)?.[1];
    assert.ok(src, `the page loads a local script: ${html}`);
    assert.ok(!/https?:\/\//.test(html.replace(/"url": "[^"]*"/, "")), "no absolute URLs in it");
    const response = await fetch(`${base}${src}`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(response.headers.get("cache-control") ?? "", /immutable/);
    const served = new Uint8Array(await response.arrayBuffer()); // fetch undoes the gzip
    const file = await Deno.readFile(
      new URL(
        "../../node_modules/@scalar/api-reference/dist/browser/standalone.js",
        import.meta.url,
      ),
    );
    assert.equal(served.length, file.length);
    assert.deepEqual(served.subarray(0, 4096), file.subarray(0, 4096));
  } finally {
    await gateway.shutdown();
  }
});
