// /api/hierarchy: the tree as far as the caller sees it, nodes added and changed under RLS.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";
import { buildTree } from "../../functions/api/hierarchy/handlers.ts";

const delCp = "10000000-0000-4000-8000-000000000021";
const blrKor = "10000000-0000-4000-8000-000000000023";

type Tree = { code: string; children: Tree[] };
const codes = (nodes: Tree[]): string[] => nodes.flatMap((n) => [n.code, ...codes(n.children)]);

Deno.test("hierarchy: buildTree nests by parent and lifts orphans to the top", () => {
  const node = (id: string, parent_id: string | null) => ({
    id,
    parent_id,
    level: "team" as const,
    code: id.toUpperCase(),
    name: id,
    path: id,
    active: true,
  });
  const tree = buildTree([node("a", null), node("b", "a"), node("c", "b"), node("d", "hidden")]);
  assert.deepEqual(tree.map((n) => n.id), ["a", "d"]);
  assert.equal(tree[0].children[0].children[0].id, "c");
});

dbTest(
  "hierarchy: an agent sees the path down to their team; an admin sees everything",
  async () => {
    const agent = await expectJson(
      await api("/hierarchy", { token: await tokenFor("arjun.agent@py360.test") }),
      200,
    );
    assert.deepEqual(codes(agent.data), ["NORTH", "DELHI", "DEL_CP", "DEL_CP_MOTOR"]);

    const admin = await expectJson(
      await api("/hierarchy", { token: await tokenFor("admin@py360.test") }),
      200,
    );
    const tops = admin.data.map((n: Tree) => n.code);
    assert.ok(tops.includes("NORTH") && tops.includes("SOUTH"), "both demo zones at the top");
    assert.ok(codes(admin.data).includes("CHN_TNAGAR_ALL"));

    const analyst = await expectJson(
      await api("/hierarchy", { token: await tokenFor("analyst@py360.test") }),
      200,
    );
    assert.deepEqual(analyst.data, []);
    await expectProblem(await api("/hierarchy"), 401);
  },
);

dbTest("hierarchy: a branch manager adds a team under their branch", async () => {
  const token = await tokenFor("cp.manager@py360.test");
  const code = `DEL_CP_T${Date.now() % 100000}`;
  const created = await expectJson(
    await api("/hierarchy/nodes", {
      token,
      method: "POST",
      body: { parent_id: delCp, level: "team", code, name: "CP Evening Desk" },
    }),
    201,
  );
  assert.equal(created.path, `NORTH.DELHI.DEL_CP.${code}`);
  const again = await expectProblem(
    await api("/hierarchy/nodes", {
      token,
      method: "POST",
      body: { parent_id: delCp, level: "team", code, name: "Twice" },
    }),
    409,
  );
  assert.equal(again.code, "23505");
});

dbTest("hierarchy: refused node creations create nothing", async () => {
  const count = async () =>
    Number((await adminSql()`select count(*) from public.hierarchy_nodes`)[0].count);
  const before = await count();
  const attempt = (email: string, body: unknown) =>
    tokenFor(email).then((token) => api("/hierarchy/nodes", { token, method: "POST", body }));

  await expectProblem(
    await attempt("cp.manager@py360.test", {
      parent_id: blrKor,
      level: "team",
      code: "BLR_X",
      name: "X",
    }),
    403,
  );
  await expectProblem(
    await attempt("arjun.agent@py360.test", {
      parent_id: delCp,
      level: "team",
      code: "DEL_X",
      name: "X",
    }),
    403,
  );
  const misplaced = await expectProblem(
    await attempt("admin@py360.test", {
      parent_id: delCp,
      level: "region",
      code: "DEL_X",
      name: "X",
    }),
    422,
  );
  assert.equal(misplaced.detail, "a region cannot sit under a branch");
  await expectProblem(
    await attempt("admin@py360.test", { parent_id: null, level: "zone", code: "lower", name: "X" }),
    422,
  );
  await expectProblem(
    await attempt("admin@py360.test", {
      parent_id: crypto.randomUUID(),
      level: "team",
      code: "ORPHAN",
      name: "X",
    }),
    422,
  );
  assert.equal(await count(), before);
});

dbTest("hierarchy: PUT renames within the manager's subtree; 403 and 404 otherwise", async () => {
  const manager = await tokenFor("cp.manager@py360.test");
  const [team] = await adminSql()`
    insert into public.hierarchy_nodes (parent_id, level, code, name)
    values (${delCp}, 'team', ${"DEL_CP_R" + (Date.now() % 100000)}, 'CP Renewals') returning id`;
  const renamed = await expectJson(
    await api(`/hierarchy/nodes/${team.id}`, {
      token: manager,
      method: "PUT",
      body: { name: "CP Renewals & Claims" },
    }),
    200,
  );
  assert.equal(renamed.name, "CP Renewals & Claims");

  const before = await snapshot("hierarchy_nodes", delCp);
  await expectProblem(
    await api(`/hierarchy/nodes/${delCp}`, {
      token: manager,
      method: "PUT",
      body: { name: "Mine now" },
    }),
    403,
  );
  await expectProblem(
    await api(`/hierarchy/nodes/${blrKor}`, {
      token: manager,
      method: "PUT",
      body: { name: "Mine now" },
    }),
    404,
  );
  await expectProblem(
    await api(`/hierarchy/nodes/${team.id}`, {
      token: manager,
      method: "PUT",
      body: { parent_id: blrKor },
    }),
    403,
  );
  await expectProblem(
    await api(`/hierarchy/nodes/${team.id}`, { token: manager, method: "PUT", body: {} }),
    422,
  );
  assert.deepEqual(await snapshot("hierarchy_nodes", delCp), before);
});

dbTest("hierarchy: members of a node's subtree, for those who see the node", async () => {
  const manager = await tokenFor("delhi.manager@py360.test");
  const members = await expectJson(
    await api(`/hierarchy/${delCp}/members`, { token: manager }),
    200,
  );
  const names = members.data.map((m: { full_name: string }) => m.full_name);
  assert.deepEqual(
    [...names].sort(),
    ["Arjun Mehta", "Bhavna Kapoor", "Chitra CP", "Farah Khan", "Lalit Former"],
  );
  assert.equal(
    members.data.find((m: { full_name: string }) => m.full_name === "Lalit Former").active,
    false,
  );
  await expectProblem(
    await api(`/hierarchy/${blrKor}/members`, { token: await tokenFor("arjun.agent@py360.test") }),
    404,
  );
});
