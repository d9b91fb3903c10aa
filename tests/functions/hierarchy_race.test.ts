// Two writers on the organisation tree at once: a manager adds a team under their branch while an
// admin renames the branch's region. Whichever commits first, the team ends under the region's
// new path, where its manager can see it. Each writer runs in its own connection, acting as a
// signed-in user exactly as the API does; the second writer must wait for the first.
import assert from "node:assert/strict";
import postgres from "postgres";
import { actAs, firstThenSecond, holdOpen, namedConnection, waitsForLock } from "./_concurrency.ts";
import { adminSql, api, dbTest, expectJson, tokenFor } from "./_helpers.ts";

interface Org {
  adminId: string;
  managerId: string;
  regionId: string;
  branchId: string;
}

/** A zone > region > branch of its own, with an admin and the branch's manager. */
async function createOrg(tag: string): Promise<Org> {
  const sql = adminSql();
  const [zone] = await sql`
    insert into public.hierarchy_nodes (parent_id, level, code, name)
    values (null, 'zone', ${`RZ_${tag}`}, 'Race zone') returning id`;
  const [region] = await sql`
    insert into public.hierarchy_nodes (parent_id, level, code, name)
    values (${zone.id}, 'region', ${`RR_${tag}`}, 'Race region') returning id`;
  const [branch] = await sql`
    insert into public.hierarchy_nodes (parent_id, level, code, name)
    values (${region.id}, 'branch', ${`RB_${tag}`}, 'Race branch') returning id`;
  const [admin] = await sql`
    insert into auth.users (id, email, raw_app_meta_data)
    values (gen_random_uuid(), ${`race.admin.${tag}@tests.py360.test`}, '{"role": "admin"}')
    returning id`;
  const [manager] = await sql`
    insert into auth.users (id, email, raw_app_meta_data)
    values (gen_random_uuid(), ${`race.manager.${tag}@tests.py360.test`},
            ${sql.json({ role: "manager", node: `RB_${tag}` })})
    returning id`;
  return { adminId: admin.id, managerId: manager.id, regionId: region.id, branchId: branch.id };
}

async function teamPathAsManager(org: Org, code: string): Promise<string | undefined> {
  return await adminSql().begin(async (tx) => {
    await actAs(tx, org.managerId);
    const [row] = await tx`select path::text from public.hierarchy_nodes where code = ${code}`;
    return row?.path;
  });
}

async function race(first: "admin" | "manager") {
  const tag = crypto.randomUUID().slice(0, 6).toUpperCase();
  const org = await createOrg(tag);
  const adminConn = namedConnection(`race-admin-${tag}`);
  const managerConn = namedConnection(`race-manager-${tag}`);
  const team = `RT_${tag}`;
  const admin = {
    sql: adminConn,
    name: `race-admin-${tag}`,
    userId: org.adminId,
    work: (tx: postgres.TransactionSql) =>
      tx`update public.hierarchy_nodes set code = ${`RN_${tag}`} where id = ${org.regionId}`,
  };
  const manager = {
    sql: managerConn,
    name: `race-manager-${tag}`,
    userId: org.managerId,
    work: (tx: postgres.TransactionSql) =>
      tx`insert into public.hierarchy_nodes (parent_id, level, code, name)
         values (${org.branchId}, 'team', ${team}, 'Race team')`,
  };
  try {
    if (first === "admin") await firstThenSecond(admin, manager);
    else await firstThenSecond(manager, admin);
    assert.equal(
      await teamPathAsManager(org, team),
      `RZ_${tag}.RN_${tag}.RB_${tag}.${team}`,
      "the team sits under the renamed region, and its manager sees it",
    );
  } finally {
    await adminConn.end({ timeout: 5 });
    await managerConn.end({ timeout: 5 });
  }
}

dbTest("hierarchy: a team added while its region is renamed follows the rename", async () => {
  await race("admin");
});

dbTest("hierarchy: a region renamed while a team is being added carries the team", async () => {
  await race("manager");
});

dbTest(
  "hierarchy: through the API, a team added while its region is renamed is a 201",
  async () => {
    const tag = crypto.randomUUID().slice(0, 6).toUpperCase();
    const org = await createOrg(tag);
    const adminConn = namedConnection(`race-api-admin-${tag}`);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      const held = holdOpen(
        adminConn,
        org.adminId,
        (tx) =>
          tx`update public.hierarchy_nodes set code = ${`RN_${tag}`} where id = ${org.regionId}`,
        gate,
      );
      await held.worked;
      const answer = api("/hierarchy/nodes", {
        method: "POST",
        token: await tokenFor(`race.manager.${tag}@tests.py360.test`),
        body: { parent_id: org.branchId, level: "team", code: `RT_${tag}`, name: "Race team" },
      });
      await waitsForLock("py360-functions");
      release();
      await held.committed;
      const created = await expectJson(await answer, 201);
      assert.equal(created.path, `RZ_${tag}.RN_${tag}.RB_${tag}.RT_${tag}`);
    } finally {
      release();
      await adminConn.end({ timeout: 5 });
    }
  },
);
