// GET /api/me reads the caller's profile under their own row-level security.
import assert from "node:assert/strict";
import { api, dbTest, tokenFor } from "./_helpers.ts";

dbTest("me: an agent gets their profile and their team", async () => {
  const response = await api("/me", { token: await tokenFor("arjun.agent@py360.test") });
  assert.equal(response.status, 200);
  assert.ok(response.headers.get("x-request-id"), "every answer carries a request id");
  assert.deepEqual(await response.json(), {
    id: "20000000-0000-4000-8000-000000000011",
    email: "arjun.agent@py360.test",
    full_name: "Arjun Mehta",
    role: "agent",
    active: true,
    node: {
      id: "10000000-0000-4000-8000-000000000031",
      code: "DEL_CP_MOTOR",
      name: "CP Motor Desk",
      level: "team",
      path: "NORTH.DELHI.DEL_CP.DEL_CP_MOTOR",
    },
  });
});

dbTest("me: a manager's node is their branch", async () => {
  const response = await api("/me", { token: await tokenFor("cp.manager@py360.test") });
  const profile = await response.json();
  assert.equal(profile.role, "manager");
  assert.equal(profile.node.path, "NORTH.DELHI.DEL_CP");
});

dbTest("me: an admin sits nowhere in the tree", async () => {
  const profile = await (await api("/me", { token: await tokenFor("admin@py360.test") })).json();
  assert.equal(profile.role, "admin");
  assert.equal(profile.node, null);
});

dbTest("me: someone who left sees their inactive profile but no longer their team", async () => {
  const profile = await (await api("/me", { token: await tokenFor("left.agent@py360.test") }))
    .json();
  assert.equal(profile.active, false);
  assert.equal(profile.node, null, "RLS hides the node from an inactive user");
});
