// The access log never holds a bearer capability: a withdrawal link's or a document link's token
// and a tracked link's code are path parameters, and whoever reads the log could use them. The
// line keeps the route's shape (`:token`) and every other part of the path. (The access log of
// createApp writes loggedPath after the response; LOG_LEVEL in tests hides its info lines, so the
// probe app records the same value itself.)
import assert from "node:assert/strict";
import { createApp, loggedPath } from "../../functions/_shared/app.ts";

const logged: string[] = [];
const app = createApp("probe");
app.use("*", async (c, next) => {
  await next();
  logged.push(loggedPath(c));
});
app.get("/w/:token", (c) => c.text("page"));
app.get("/d/:token", (c) => c.text("document"));
app.get("/items/:id", (c) => c.text("item"));
app.get("/:code", (c) => c.text("redirect"));

/** The paths the log would hold for these requests, each answered as expected. */
async function pathsLogged(requests: [string, number][]): Promise<string[]> {
  logged.length = 0;
  for (const [path, status] of requests) assert.equal((await app.request(path)).status, status);
  return [...logged];
}

Deno.test("access log: tokens and codes in the path are logged as their parameter's name", async () => {
  const token = "AQABxJ3k-9mZ_Qw2Lr8sT1uV4yN6pE0oGhCiDfKaWbXc";
  const paths = await pathsLogged([
    [`/probe/w/${token}`, 200],
    [`/probe/d/${token}`, 200],
    ["/probe/probe", 200],
    ["/probe/items/4f1c", 200],
    ["/probe/w/a%20b", 200],
  ]);
  assert.deepEqual(paths, [
    "/probe/w/:token",
    "/probe/d/:token",
    "/probe/:code", // the code is the last segment, never the base path that spells the same
    "/probe/items/4f1c", // ids are not capabilities
    "/probe/w/:token", // as it came, encoded
  ]);
  assert.ok(!paths.join().includes(token), "the token is in no line");
});

Deno.test("access log: a path no route matched is logged as it came", async () => {
  assert.deepEqual(await pathsLogged([["/probe/w/x/y", 404]]), ["/probe/w/x/y"]);
});
