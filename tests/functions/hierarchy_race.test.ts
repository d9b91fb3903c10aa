// Two writers on the organisation tree at once: a manager adds a team under their branch while an
// admin renames the branch's region. Whichever commits first, the team ends under the region's
// new path, where its manager can see it. Each writer runs in its own connection, acting as a
// signed-in user exactly as the API does; the second writer must wait for the first.
import assert from "node:assert/strict";
import postgres from "postgres";
import { adminDbUrl, adminSql, dbTest } from "./_helpers.ts";

type Sql = postgres.Sql;

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

/** A connection of its own that acts as `userId` inside each transaction, as asCaller does. */
function userConnection(name: string): Sql {
  return postgres(adminDbUrl(), {
    max: 1,
    onnotice: () => {},
    connection: { application_name: name },
  });
}

function actAs(tx: postgres.TransactionSql, userId: string) {
  return tx`select set_config('role', 'authenticated', true),
                   set_config('request.jwt.claims', ${
    JSON.stringify({ sub: userId, role: "authenticated" })
  }, true)`;
}

/** Resolves once the connection named `name` is waiting for a lock; fails after 10 s. */
async function waitsForLock(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await adminSql()`
      select count(*)::int as n from pg_stat_activity
       where application_name = ${name} and wait_event_type = 'Lock'`;
    if (row.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} never waited for the other writer`);
}

/** Runs `work` in a transaction that stays open until `release` resolves. */
function holdOpen(
  sql: Sql,
  userId: string,
  work: (tx: postgres.TransactionSql) => Promise<unknown>,
  release: Promise<void>,
) {
  let done!: () => void;
  const worked = new Promise<void>((resolve) => done = resolve);
  const committed = sql.begin(async (tx) => {
    await actAs(tx, userId);
    await work(tx);
    done();
    await release;
  });
  return { worked, committed };
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
  const adminConn = userConnection(`race-admin-${tag}`);
  const managerConn = userConnection(`race-manager-${tag}`);
  const team = `RT_${tag}`;
  const rename = (tx: postgres.TransactionSql) =>
    tx`update public.hierarchy_nodes set code = ${`RN_${tag}`} where id = ${org.regionId}`;
  const addTeam = (tx: postgres.TransactionSql) =>
    tx`insert into public.hierarchy_nodes (parent_id, level, code, name)
       values (${org.branchId}, 'team', ${team}, 'Race team')`;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  try {
    if (first === "admin") {
      const held = holdOpen(adminConn, org.adminId, rename, gate);
      await held.worked;
      const second = managerConn.begin(async (tx) => {
        await actAs(tx, org.managerId);
        await addTeam(tx);
      });
      await waitsForLock(`race-manager-${tag}`);
      release();
      await held.committed;
      await second;
    } else {
      const held = holdOpen(managerConn, org.managerId, addTeam, gate);
      await held.worked;
      const second = adminConn.begin(async (tx) => {
        await actAs(tx, org.adminId);
        await rename(tx);
      });
      await waitsForLock(`race-admin-${tag}`);
      release();
      await held.committed;
      await second;
    }
    assert.equal(
      await teamPathAsManager(org, team),
      `RZ_${tag}.RN_${tag}.RB_${tag}.${team}`,
      "the team sits under the renamed region, and its manager sees it",
    );
  } finally {
    release(); // a failed wait must not leave the first writer's transaction open
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
