// The `dispatch` edge function: only the service_role key may drain, a bad body is a 422, and a
// drain answers what it did (with nothing due here: the providers are not configured, so the
// test queues nothing).
import assert from "node:assert/strict";
import app from "../../functions/dispatch/app.ts";
import { dbTest, expectJson, expectProblem, localApiKeys, tokenFor } from "./_helpers.ts";

const post = (token: string | undefined, body?: string) =>
  app.request("/dispatch", {
    method: "POST",
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      "content-type": "application/json",
    },
    body,
  });

dbTest("dispatch function: the service_role key drains; nobody else may", async () => {
  const keys = await localApiKeys();
  await expectProblem(await post(undefined), 401);
  await expectProblem(await post("not-a-jwt"), 401);
  await expectProblem(await post(keys.anon), 403);
  await expectProblem(await post(await tokenFor("admin@py360.test")), 403);
  const stats = await expectJson(await post(keys.serviceRole, '{"budget_ms": 500}'), 200);
  assert.deepEqual(Object.keys(stats).sort(), [
    "batches",
    "claimed",
    "failed",
    "picked",
    "released",
    "sent",
  ]);
  assert.equal(typeof stats.claimed, "number");
});

dbTest("dispatch function: a bad body is refused before anything is claimed", async () => {
  const { serviceRole } = await localApiKeys();
  await expectProblem(await post(serviceRole, "{"), 400);
  await expectProblem(await post(serviceRole, '{"budget_ms": 60000}'), 422);
  await expectProblem(await post(serviceRole, '{"budget_ms": 500, "extra": 1}'), 422);
});
